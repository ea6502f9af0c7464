#!/usr/bin/env bash
# tests/bench/pgbench-gen.sh INBOXD OUTDIR [LEAVES]: writes the pgbench
# scripts of the benchmark, one per operation, from the SQL inboxd itself
# runs: every statement's text comes from `INBOXD sql NAME`, so the scripts
# cannot drift from the code. What this file knows is only which statements
# an operation runs, in which order, and what goes into each $n (read from
# src/db/conversations.c, feed.c, messages.c, actions.c and
# audit.c); a statement that is renamed or whose parameter count changes
# stops the generation with an error naming it.
#
# $n becomes a pgbench :variable (pgbench -M prepared sends it as a
# parameter again) or, where inboxd passes SQL NULL, the literal NULL
# (pgbench cannot pass a NULL parameter). BEGIN and COMMIT are simple
# queries, as db_tx sends them. The variables come from run.sh (-D ...) and
# from \gset of the statements inboxd also reads results from.
#
# Where inboxd makes ids in C (uuid7_new) a pgbench script makes them with
# one extra SELECT per transaction (inboxd_uuid7(), the schema's own
# time-ordered ids, so index inserts land where inboxd's do); that SELECT
# also picks the conversation or draft from a numbered table, since pgbench
# variables are only numbers. The single-row read has no such extra round
# trip: it picks its id from LEAVES (default 256) ids passed with -D, through
# a binary tree of \if (log2(LEAVES) comparisons, no query).
#
# Operations (file: statements):
#   read.sql       conv_get                                    GET /v1/conversations/{id}
#   feed.sql       feed_page, no cursor                        GET /v1/feed
#   feed_deep.sql  feed_page from :deep_ts, :deep_id           GET /v1/feed?cursor=...
#   search.sql     search_messages for :q                       GET /v1/search/messages?q=
#   message.sql    BEGIN tx_defer_notify msg_conv_lock msg_insert msg_draft_request
#                  msg_conv_touch audit_insert msg_render COMMIT tx_committed
#                                                              POST /v1/conversations/{id}/messages
#   approve.sql    BEGIN tx_defer_notify actions_claim actions_user actions_message
#                  actions_insert actions_sample actions_conversation audit_insert COMMIT
#                  tx_committed
#                                                              POST /v1/drafts/{id}/actions (approve)
#   webhook.sql    BEGIN tx_defer_notify wh_store audit_insert COMMIT tx_committed, then
#                  BEGIN tx_defer_notify wh_lock channels_insert
#                  channels_existing conv_channel conv_insert conv_by_external msg_conv_lock
#                  msg_insert msg_draft_request msg_conv_touch audit_insert wh_done audit_insert
#                  COMMIT tx_committed                         POST /v1/webhooks/{source}: a new
#                  message on an existing conversation of an existing channel (db_webhooks.c)
#   assist.sql     BEGIN tx_defer_notify draft_requests_claim (SELECT the claimed one)
#                  audit_insert COMMIT tx_committed, then BEGIN tx_defer_notify
#                  drafts_conv_lock drafts_trigger drafts_trigger_taken drafts_request_lock
#                  drafts_request_done audit_insert drafts_supersede drafts_insert drafts_render
#                  drafts_conv_point drafts_notify_ready audit_insert COMMIT tx_committed
#                                                              an assistant: claim one request,
#                  post its draft (draft_requests.c, lease.c, drafts.c)
#   deliver.sql    BEGIN tx_defer_notify outbox_claim (SELECT the claimed one) audit_insert
#                  COMMIT tx_committed, then BEGIN tx_defer_notify outbox_delivered
#                  audit_insert COMMIT tx_committed            the sync service: claim one
#                  outbound message, report it delivered (outbox.c, lease.c)
set -euo pipefail

INBOXD="${1:?usage: pgbench-gen.sh INBOXD OUTDIR [LEAVES]}"
OUTDIR="${2:?usage: pgbench-gen.sh INBOXD OUTDIR [LEAVES]}"
LEAVES="${3:-256}"
mkdir -p "$OUTDIR"

die() {
  echo "pgbench-gen.sh: $*" >&2
  exit 1
}

# stmt NAME ARG... [\\gset]: one statement with $k replaced by ARG k
# (":var", or NULL). The last ARG may be '\gset' (ends the command instead
# of ';', pgbench stores the row's columns in variables of their names).
stmt() {
  local name="$1" sql end=";"
  shift
  if [ "${!#}" = '\gset' ]; then
    end=' \gset'
    set -- "${@:1:$#-1}"
  fi
  sql="$("$INBOXD" sql "$name")" || die "inboxd has no statement $name (inboxd sql lists them)"
  [ -n "$sql" ] || die "statement $name is empty"
  # The highest $n must be exactly the number of arguments given here.
  local maxn
  maxn="$(printf '%s' "$sql" | { grep -o '\$[0-9]\+' || true; } | tr -d '$' | sort -n | tail -1)"
  [ "${maxn:-0}" = "$#" ] || die "$name takes $maxn parameters, this script gives $#: update it"
  printf '%s' "$sql" | tr '\n' ' ' | ARGS="$*" perl -pe '
    BEGIN { @a = split / /, $ENV{ARGS}; }
    s/\$(\d+)/$a[$1 - 1]/g;' || die "substitution failed for $name"
  printf '%s\n' "$end"
}

# --- the single-row read ------------------------------------------------------

# tree LO HI: \if :r < MID ... \else ... \endif down to one leaf per id.
tree() {
  local lo="$1" hi="$2"
  if [ "$((hi - lo))" -eq 1 ]; then
    stmt conv_get :acct ":c$lo"
    return
  fi
  local mid=$(((lo + hi) / 2))
  echo "\\if :r < $mid"
  tree "$lo" "$mid"
  echo "\\else"
  tree "$mid" "$hi"
  echo "\\endif"
}

{
  echo "-- generated by tests/bench/pgbench-gen.sh: GET /v1/conversations/{id}"
  echo "\\set r random(0, $((LEAVES - 1)))"
  tree 0 "$LEAVES"
} >"$OUTDIR/read.sql"

# --- the feed -----------------------------------------------------------------

{
  echo "-- generated by tests/bench/pgbench-gen.sh: GET /v1/feed (first page)"
  stmt feed_page :acct NULL NULL :fetch NULL false
} >"$OUTDIR/feed.sql"

{
  echo "-- generated by tests/bench/pgbench-gen.sh: GET /v1/feed?cursor= (deep page)"
  stmt feed_page :acct :deep_ts :deep_id :fetch NULL false
} >"$OUTDIR/feed_deep.sql"

# --- search --------------------------------------------------------------------

{
  echo "-- generated by tests/bench/pgbench-gen.sh: GET /v1/search/messages?q= (first page)"
  # acct, query text, conversation, cursor rank key and id, fetch
  stmt search_messages :acct :q NULL NULL NULL :fetch
} >"$OUTDIR/search.sql"

# --- an inbound message -------------------------------------------------------

{
  echo "-- generated by tests/bench/pgbench-gen.sh: POST /v1/conversations/{id}/messages (inbound)"
  echo "\\set r random(1, :nopen)"
  echo "\\set ext random(1, 1000000000000000)"
  echo "SELECT id AS conv, inboxd_uuid7() AS mid, inboxd_uuid7() AS rid, inboxd_uuid7() AS aid,"
  echo "       inboxd_uuid7() AS reqid FROM bench_pgb_convs WHERE n = :r \\gset"
  echo "BEGIN;"
  stmt tx_defer_notify
  stmt msg_conv_lock :acct :conv
  # acct, id, conversation, externalId, direction, subject, bodyText, bodyHtml, sentAt, metadata
  stmt msg_insert :acct :mid :conv :ext :inbound :subject :body NULL NULL NULL '\gset'
  stmt msg_draft_request :acct :rid :conv :mid
  stmt msg_conv_touch :acct :conv :sent_at :is_inbound
  # acct, id, key, user, action, resource type, resource id, request id, body hash, ip, user agent
  stmt audit_insert :acct :aid :key_id NULL :msg_action :msg_type :mid :reqid :hash :ip NULL
  stmt msg_render :acct :mid
  echo "COMMIT;"
  stmt tx_committed
} >"$OUTDIR/message.sql"

# --- an approval --------------------------------------------------------------

{
  echo "-- generated by tests/bench/pgbench-gen.sh: POST /v1/drafts/{id}/actions (approve)"
  echo "SELECT id AS draft, inboxd_uuid7() AS aid, inboxd_uuid7() AS mid, inboxd_uuid7() AS sid,"
  echo "       inboxd_uuid7() AS audid, inboxd_uuid7() AS reqid"
  echo "FROM bench_pgb_drafts WHERE n = (SELECT nextval('bench_pgb_seq')) \\gset"
  echo "BEGIN;"
  stmt tx_defer_notify
  # acct, draft, new status, If-Match tag -> conversation_id, suggested_text, suggested_html, json
  stmt actions_claim :acct :draft :sent NULL '\gset'
  stmt actions_user :acct :user
  stmt actions_message :acct :mid :conversation_id :suggested_text :suggested_html
  # acct, id, draft, user, type, finalText, finalHtml, notes, diff, message
  stmt actions_insert :acct :aid :draft :user :approve :suggested_text :suggested_html NULL \
    :empty_diff :mid
  stmt actions_sample :acct :sid :aid
  stmt actions_conversation :acct :conversation_id :draft :sends
  stmt audit_insert :acct :audid :key_id :user :approve_action :draft_type :draft :reqid :hash \
    :ip NULL
  echo "COMMIT;"
  stmt tx_committed
} >"$OUTDIR/approve.sql"

# --- a webhook delivery --------------------------------------------------------

{
  echo "-- generated by tests/bench/pgbench-gen.sh: POST /v1/webhooks/{source} (signed delivery)"
  echo "\\set r random(1, :nopen)"
  echo "\\set dlv random(1, 1000000000000000)"
  echo "SELECT b.id AS conv, c.channel_id AS chan, c.external_id AS conv_ext, ch.external_id AS chan_ext,"
  echo "       ch.type AS chan_type, ch.name AS chan_name, inboxd_uuid7() AS ev, inboxd_uuid7() AS chnew,"
  echo "       inboxd_uuid7() AS convnew, inboxd_uuid7() AS mid, inboxd_uuid7() AS rid,"
  echo "       inboxd_uuid7() AS aid1, inboxd_uuid7() AS aid2, inboxd_uuid7() AS aid3, inboxd_uuid7() AS reqid"
  echo "FROM bench_pgb_convs b JOIN conversations c ON c.account_id = :acct AND c.id = b.id"
  echo "JOIN channels ch ON ch.account_id = c.account_id AND ch.id = c.channel_id WHERE b.n = :r \\gset"
  echo "BEGIN;"
  stmt tx_defer_notify
  # acct, id, source, deliveryId, topic, payload, raw body
  stmt wh_store :acct :ev :source :dlv :topic :payload :payload
  stmt audit_insert :acct :aid1 NULL NULL :wh_receive :wh_type :ev :reqid :hash :ip NULL
  echo "COMMIT;"
  stmt tx_committed
  echo "BEGIN;"
  stmt tx_defer_notify
  stmt wh_lock :acct :ev
  stmt channels_insert :acct :chnew :chan_type :chan_ext :chan_name NULL
  stmt channels_existing :acct :chan_ext :chan_type :chan_name
  stmt conv_channel :acct :chan
  stmt conv_insert :acct :convnew :chan :conv_ext :subject NULL NULL
  stmt conv_by_external :acct :chan :conv_ext
  stmt msg_conv_lock :acct :conv
  stmt msg_insert :acct :mid :conv :dlv :inbound :subject :body NULL NULL NULL '\gset'
  stmt msg_draft_request :acct :rid :conv :mid
  stmt msg_conv_touch :acct :conv :sent_at :is_inbound
  stmt audit_insert :acct :aid2 NULL NULL :msg_action :msg_type :mid :reqid :hash :ip NULL
  stmt wh_done :acct :ev :succeeded :dlv :topic :conv :mid :rid
  stmt audit_insert :acct :aid3 NULL NULL :wh_process :wh_type :ev :reqid :hash :ip NULL
  echo "COMMIT;"
  stmt tx_committed
} >"$OUTDIR/webhook.sql"

# --- an assistant's turn: claim a draft request, post its draft ----------------

# The claim's answer (a JSON text) is not read; the claimed request is
# found again in the same transaction by its lease end, now() + :lease,
# which is the client's own (60 + client_id seconds): pgbench cannot take
# an id out of JSON. One request per claim (mixday claims up to 5). The
# draft's transaction is the common path of db_drafts_insert with a
# draftRequestId: no attachments, and no audit row for a superseded
# draft (pgbench cannot branch on a row count).
{
  echo "-- generated by tests/bench/pgbench-gen.sh: POST /v1/draft-requests/claim (1), then"
  echo "-- POST /v1/conversations/{id}/drafts for it"
  echo "\\set lease 60 + :client_id"
  echo "SELECT inboxd_uuid7() AS aid1, inboxd_uuid7() AS reqid1 \\gset"
  echo "BEGIN;"
  stmt tx_defer_notify
  # acct, limit, lease seconds, worker
  stmt draft_requests_claim :acct 1 :lease :client_id
  echo "SELECT id AS rq, message_id AS trig, conversation_id AS conv FROM draft_requests"
  echo "WHERE account_id = :acct AND status = 'leased'"
  echo "  AND lease_expires_at = now() + make_interval(secs => :lease) \\gset"
  stmt audit_insert :acct :aid1 :key_id NULL :dr_claim :dr_type :rq :reqid1 :hash :ip NULL
  echo "COMMIT;"
  stmt tx_committed
  echo "SELECT inboxd_uuid7() AS did, inboxd_uuid7() AS nid, inboxd_uuid7() AS aid2,"
  echo "       inboxd_uuid7() AS aid3, inboxd_uuid7() AS reqid2 \\gset"
  echo "BEGIN;"
  stmt tx_defer_notify
  stmt drafts_conv_lock :acct :conv
  stmt drafts_trigger :acct :trig :conv
  stmt drafts_trigger_taken :acct :trig
  stmt drafts_request_lock :acct :rq
  stmt drafts_request_done :acct :rq
  stmt audit_insert :acct :aid2 :key_id NULL :dr_done :dr_type :rq :reqid2 :hash :ip NULL
  stmt drafts_supersede :acct :conv
  # acct, id, conversation, trigger, modelKey, promptVersion, text, html, topSources
  stmt drafts_insert :acct :did :conv :trig :model :prompt :body NULL NULL
  stmt drafts_render :acct :did
  stmt drafts_conv_point :acct :conv :did
  stmt drafts_notify_ready :acct :nid :did :conv :trig :rq
  stmt audit_insert :acct :aid3 :key_id NULL :draft_create :draft_type :did :reqid2 :hash :ip NULL
  echo "COMMIT;"
  stmt tx_committed
} >"$OUTDIR/assist.sql"

# --- the sync service's turn: claim an outbound message, report it delivered ---

{
  echo "-- generated by tests/bench/pgbench-gen.sh: POST /v1/outbox/claim (1), then"
  echo "-- POST /v1/outbox/{id}/delivered"
  echo "\\set lease 60 + :client_id"
  echo "\\set ext random(1, 1000000000000000)"
  echo "SELECT inboxd_uuid7() AS aid1, inboxd_uuid7() AS reqid1, inboxd_uuid7() AS aid2,"
  echo "       inboxd_uuid7() AS reqid2 \\gset"
  echo "BEGIN;"
  stmt tx_defer_notify
  # acct, limit, lease seconds, channel type
  stmt outbox_claim :acct 1 :lease NULL
  echo "SELECT id AS om FROM messages WHERE account_id = :acct AND delivery_status = 'leased'"
  echo "  AND lease_expires_at = now() + make_interval(secs => :lease) \\gset"
  stmt audit_insert :acct :aid1 :key_id NULL :om_claim :msg_type :om :reqid1 :hash :ip NULL
  echo "COMMIT;"
  stmt tx_committed
  echo "BEGIN;"
  stmt tx_defer_notify
  stmt outbox_delivered :acct :om :ext
  stmt audit_insert :acct :aid2 :key_id NULL :om_deliver :msg_type :om :reqid2 :hash :ip NULL
  echo "COMMIT;"
  stmt tx_committed
} >"$OUTDIR/deliver.sql"

echo "pgbench scripts in $OUTDIR: read.sql ($LEAVES ids) feed.sql feed_deep.sql search.sql message.sql approve.sql webhook.sql assist.sql deliver.sql" >&2

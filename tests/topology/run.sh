#!/usr/bin/env bash
# tests/topology/run.sh INBOXD LOAD — the deployment of README "Deploying",
# on this machine, in a temporary folder, and the drills run against it:
#
#   PostgreSQL 15 primary (durable: fsync and synchronous_commit on)
#     ├─ streaming hot-standby replica (pg_basebackup -R; durable too),
#     │  asynchronous but during syncrep's sync rounds and the failover
#     └─ PgBouncer 1.18, transaction pooling
#   inboxd "a": through PgBouncer, prepare = false   ┐ both with
#   inboxd "b": straight to the primary, or the      ┘ DATABASE_URL_RO on the replica
#               replica once promoted (multi-host, target_session_attrs)
#   HAProxy: balances a and b, health check GET /readyz, L7 retries
#
# PostgreSQL and PgBouncer run as the postgres user, inboxd and HAProxy as
# nobody (when started as root). Everything listens on unix sockets in the
# folder, but inboxd, which takes a loopback port the system picks: no
# port can collide with another test's. LOAD is topology_load
# (tests/topology/load.c), the sender of the drills' write load.
#
# Steps, each a function below (a new drill is one more step_ function
# and one more word in the list at the end):
#   story     the callers' whole workflow through HAProxy
#   timeouts  a write held by a lock is cancelled through PgBouncer, by
#             lock_timeout, then (after a reload) by statement_timeout
#   crash     the primary killed with -9 and restarted, under write load
#   bouncer   PgBouncer restarted under write load
#   instance  inboxd "a" killed with -9 under write load, then back
#   replica   the replica stopped under read and write load, then back
#   rotate    a webhook secret rotated on both instances by SIGHUP
#   upgrade   a rolling upgrade: b stopped, the schema migrated one step
#             (the "next release" migration), b and then a started as the
#             next release's binary
#   syncrep   write throughput, asynchronous against synchronous
#             replication (2 rounds each, alternating)
#   failover  synchronous replication on, the primary killed with -9, the
#             replica promoted: writes go on, none acknowledged is lost.
#             Last: the old primary stays gone.
#
# Every drill prints its figures ("drill: NAME VALUE") and asserts them:
# an acknowledged write lost, or stored twice, fails the test.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../drills/lib.sh
source "$here/../drills/lib.sh"
# shellcheck source=pgbouncer.sh
source "$here/pgbouncer.sh"
drill_init "${1:?usage: run.sh INBOXD LOAD}"
LOAD="$(realpath "${2:?usage: run.sh INBOXD LOAD}")"
for p in haproxy pgbouncer openssl jq; do
  command -v "$p" >/dev/null || { echo "drill: $p is not installed (./dev.sh deps)" >&2; exit 1; }
done

SOURCE=topo
ACCOUNT="Drill Shop"
LB="$DRILL/lb/api.sock"         # HAProxy's frontend
LB_STATS="$DRILL/lb/stats.sock" # its stats page, CSV
declare -A PID=() PORT=()       # inboxd instances
LOAD_PID=""
HAPROXY_PID=""
WRITER=primary                  # the cluster that takes writes (failover: replica)
declare -A NEXT_RELEASE=()      # instances serving as the next release's binary

# As root, the daemons that allow it run as an unprivileged user. A
# command prefix, not a function: `"${AS_NOBODY[@]}" cmd &` leaves $! the
# daemon's own pid (setpriv execs it), which the drills kill.
AS_NOBODY=()
if [ "$(id -u)" -eq 0 ]; then
  AS_NOBODY=(setpriv --reuid nobody --regid nogroup --clear-groups --)
  # A checkout nobody may not enter (under /root, say) must not matter.
  mkdir -p "$DRILL/bin"
  install -m 755 "$INBOXD" "$DRILL/bin/inboxd"
  SERVE_BIN="$DRILL/bin/inboxd"
else
  SERVE_BIN="$INBOXD"
fi
own_nobody() {
  [ "$(id -u)" -eq 0 ] && chown nobody:nogroup "$@"
  return 0
}

topo_cleanup() {
  local rc=$? n
  # Not set -e here: a stopped process's status, or handing rc on to
  # drill_cleanup through $?, must not end the cleanup half-way.
  set +e
  [ -n "$LOAD_PID" ] && { kill "$LOAD_PID" 2>/dev/null || true; }
  for n in "${!PID[@]}"; do
    kill -TERM "${PID[$n]}" 2>/dev/null && { wait "${PID[$n]}" 2>/dev/null || true; }
  done
  [ -n "$HAPROXY_PID" ] && { kill -TERM "$HAPROXY_PID" 2>/dev/null || true; }
  [ -n "$HAPROXY_PID" ] && { wait "$HAPROXY_PID" 2>/dev/null || true; }
  pgb_stop "$DRILL/pgb" TERM || true
  if [ "$rc" -ne 0 ]; then
    for n in "$DRILL"/inboxd-*.log "$DRILL"/pgb/pgbouncer.log "$DRILL"/lb/haproxy.log; do
      [ -f "$n" ] && { echo "---- $n (last lines)"; tail -n 30 "$n"; }
    done
  fi
  (exit "$rc")
  drill_cleanup
}
trap topo_cleanup EXIT

now_ms() { date +%s%3N; }

# ---- the topology ------------------------------------------------------------

start_primary() {
  PG_DURABLE=1 PG_EXTRA_CONF="wal_level = replica
max_wal_senders = 5
wal_keep_size = 256MB" drill_cluster primary
  set_up_db primary
  open_socket primary
}

# pg.sh makes a cluster's folder 700; inboxd, as nobody, needs to reach the
# socket in it (the data folder inside stays 700).
open_socket() {
  [ "$(id -u)" -eq 0 ] && chmod 711 "$DRILL/$1"
  return 0
}

start_replica() {
  local dir="$DRILL/replica"
  mkdir -p "$dir"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$dir" && chmod 700 "$dir"
  _pg_run "$(pg_bindir)/pg_basebackup" -D "$dir/data" -h "$DRILL/primary" -p "$PG_PORT" \
    -U postgres -R -X stream -c fast
  replica_cluster drill_cluster
  open_socket replica
  wait_for "the replica to stream" 60 replica_streams
  [ "$(sql replica 'SELECT pg_is_in_recovery()')" = t ]
}

# replica_cluster drill_cluster|pg_start: the replica (re)started, durable
# like the primary (a synchronous commit waits for its flush to disk).
replica_cluster() {
  if [ "$1" = drill_cluster ]; then
    PG_DURABLE=1 drill_cluster replica
  else
    PG_DURABLE=1 pg_start "$DRILL/replica"
  fi
}

replica_streams() {
  [ "$(sql primary "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")" = 1 ]
}

# write_conf NAME SECRET [PREVIOUS]: inboxd NAME's configuration file; the
# webhook source and $TIMEOUTS live in the file so that a SIGHUP can
# change them. The lock timeout is small so that the timeouts step waits
# one second, not five.
TIMEOUTS="lock_timeout_ms = 1000"
write_conf() {
  local f="$DRILL/inboxd-$1.conf"
  {
    echo "webhook.$SOURCE.secret = $2"
    echo "webhook.$SOURCE.account = $ACCOUNT"
    [ -n "${3:-}" ] && echo "webhook.$SOURCE.secret_previous = $3"
    printf '%s\n' "$TIMEOUTS"
  } >"$f.new"
  chmod 600 "$f.new"
  own_nobody "$f.new"
  mv "$f.new" "$f"
}

# start_instance NAME PORT URL [FLAGS...]: inboxd serving on 127.0.0.1:PORT
# (0: the system picks; PORT[NAME] says which); once NEXT_RELEASE[NAME]
# names the folder of the next release's migrations, as that release's
# binary (README "Rolling upgrades": a debug build with one migration
# more).
start_instance() {
  local name="$1" port="$2" url="$3" log="$DRILL/inboxd-$1.log" n
  shift 3
  n="$(grep -c '"event":"server.start"' "$log" 2>/dev/null || true)"
  INBOXD_TEST_MIGRATIONS_DIR="${NEXT_RELEASE[$name]:-}" \
    "${AS_NOBODY[@]}" "$SERVE_BIN" --config "$DRILL/inboxd-$name.conf" --database-url "$url" \
    --database-url-ro "$(db_url replica inboxd_runtime)" --listen "127.0.0.1:$port" \
    --log-level info "$@" serve 2>>"$log" &
  PID[$name]=$!
  wait_for "inboxd $name to serve" 60 started "$log" "$((${n:-0} + 1))"
  PORT[$name]="$(grep '"event":"server.start"' "$log" | tail -n 1 | jq -r .port)"
}

started() {
  [ "$(grep -c '"event":"server.start"' "$1")" -ge "$2" ]
}

# a goes through PgBouncer; its LISTEN session for the live events cannot
# (README "Live events"): that one goes straight to whichever cluster
# takes writes.
start_a() {
  start_instance a "${PORT[a]:-0}" "$(pgb_url "$DRILL/pgb") dbname=inboxd user=inboxd_runtime" \
    --prepare false --database-listen-url "host=$DRILL/primary,$DRILL/replica port=$PG_PORT \
dbname=inboxd user=inboxd_runtime target_session_attrs=read-write"
}

# b's DATABASE_URL names both clusters (README "Failover"): libpq keeps
# the one that takes writes, the replica once it is promoted.
start_b() {
  start_instance b "${PORT[b]:-0}" "host=$DRILL/primary,$DRILL/replica port=$PG_PORT \
dbname=inboxd user=inboxd_runtime target_session_attrs=read-write"
}

# deploy/haproxy.cfg, its frontend on a unix socket here and its servers
# the two instances; and a stats page to read the health checks from.
start_haproxy() {
  mkdir -p "$DRILL/lb"
  own_nobody "$DRILL/lb"
  sed -e "s|^  bind .*|  bind unix@$LB mode 666|" \
    -e "s|^  server inboxd-a .*|  server inboxd-a 127.0.0.1:${PORT[a]} check|" \
    -e "s|^  server inboxd-b .*|  server inboxd-b 127.0.0.1:${PORT[b]} check|" \
    "$here/../../deploy/haproxy.cfg" >"$DRILL/lb/haproxy.cfg"
  cat >>"$DRILL/lb/haproxy.cfg" <<CFG

listen stats
  bind unix@$LB_STATS mode 666
  stats enable
  stats uri /stats
CFG
  [ "$(grep -c '127.0.0.1' "$DRILL/lb/haproxy.cfg")" = 2 ] || { echo "drill: deploy/haproxy.cfg has other servers" >&2; return 1; }
  # Its own session: HAProxy stopping signals its whole process group,
  # which would otherwise be this script's.
  setsid "${AS_NOBODY[@]}" haproxy -db -f "$DRILL/lb/haproxy.cfg" 2>"$DRILL/lb/haproxy.log" &
  HAPROXY_PID=$!
  wait_for "HAProxy to see a up" 60 server_is a UP
  wait_for "HAProxy to see b up" 60 server_is b UP
}

# server_is NAME STATE: HAProxy's check says so (UP, DOWN).
server_is() {
  curl -sS --unix-socket "$LB_STATS" 'http://lb/stats;csv' |
    awk -F, -v s="inboxd-$1" -v want="$2" '$1 == "inboxd" && $2 == s { found = ($18 == want) } END { exit !found }'
}

# lb METHOD PATH [BODY]: the API through HAProxy; prints the body, fails
# unless 2xx.
lb() {
  local method="$1" path="$2" body="${3:-}" args=()
  [ -n "$body" ] && args=(-H 'Content-Type: application/json' --data-binary "$body")
  curl -sS --fail-with-body --unix-socket "$LB" -X "$method" -H "Authorization: Bearer $KEY" \
    "${args[@]}" "http://inboxd$path"
}

# deliver SECRET BODY: a signed webhook delivery through HAProxy.
deliver() {
  local ts sig
  ts="$(date +%s)"
  sig="$(printf '%s.%s' "$ts" "$2" | openssl dgst -sha256 -hmac "$1" | awk '{print $NF}')"
  curl -sS --fail-with-body --unix-socket "$LB" -X POST "http://inboxd/v1/webhooks/$SOURCE" \
    -H 'Content-Type: application/json' -H "X-Inboxd-Timestamp: $ts" \
    -H "X-Inboxd-Signature: sha256=$sig" --data-binary "$2"
}

# ---- write load ----------------------------------------------------------------

# lb_retries: HAProxy's retries and redispatches so far (the backend's
# wretr + wredis).
lb_retries() {
  curl -sS --unix-socket "$LB_STATS" 'http://lb/stats;csv' |
    awk -F, '$1 == "inboxd" && $2 == "BACKEND" { print $16 + $17 }'
}

# load_start PHASE [WRITERS [READERS [PACE_MS]]]
load_start() {
  LOAD_PHASE="$1"
  LB_RETRIES_BEFORE="$(lb_retries)"
  "$LOAD" --base http://inboxd --unix "$LB" --source "$SOURCE" --secret-file "$DRILL/secret" \
    --key-file "$DRILL/key" --prefix "$1" --stop-file "$DRILL/stop-$1" \
    --writers "${2:-2}" --readers "${3:-0}" --pace-ms "${4:-20}" --max-seconds 200 \
    --log "$DRILL/load-$1.log" 2>>"$DRILL/load.out" &
  LOAD_PID=$!
}

# acks_after MS: writes of this phase acknowledged after MS.
acks_after() {
  awk -v t="$1" '$1 == "ack" && $2 > t { n++ } END { print n + 0 }' "$DRILL/load-$LOAD_PHASE.log" 2>/dev/null
}
reads_after() {
  awk -v t="$1" '$1 == "rok" && $2 > t { n++ } END { print n + 0 }' "$DRILL/load-$LOAD_PHASE.log" 2>/dev/null
}
acked_since() { [ "$(acks_after "$1")" -ge "$2" ]; }
# each_acked_since MS N: every sender has had N writes acknowledged after
# MS (so none still has one under way from before).
each_acked_since() {
  awk -v t="$1" -v n="$2" -v w="$3" '$1 == "ack" && $2 > t { split($3, p, "-w"); split(p[2], q, "-"); c[q[1]]++ }
    END { for (i = 0; i < w; i++) if (c[i] < n) exit 1 }' "$DRILL/load-$LOAD_PHASE.log" 2>/dev/null
}
read_since() { [ "$(reads_after "$1")" -ge "$2" ]; }

# first_ack_after MS: when the first write after MS was acknowledged.
first_ack_after() {
  awk -v t="$1" '$1 == "ack" && $2 > t && (m == "" || $2 < m) { m = $2 } END { print m }' \
    "$DRILL/load-$LOAD_PHASE.log"
}

# load_stop: the sender finishes the writes under way and exits; then
# every acknowledged write must be in the database exactly once. With
# LOAD_QUIET set it prints no figures (it still asserts them).
load_stop() {
  local log="$DRILL/load-$LOAD_PHASE.log" lost dupes
  touch "$DRILL/stop-$LOAD_PHASE"
  wait "$LOAD_PID"
  LOAD_PID=""
  awk '$1 == "ack" { print $3 }' "$log" >"$DRILL/acked-$LOAD_PHASE"
  lost="$(psql -X -A -t -q -v ON_ERROR_STOP=1 -d "$(db_url "$WRITER")" <<SQL
CREATE TEMP TABLE acked (id text PRIMARY KEY);
\\copy acked FROM '$DRILL/acked-$LOAD_PHASE'
SELECT count(*) FROM acked a WHERE NOT EXISTS (SELECT FROM messages m WHERE m.external_id = a.id);
SQL
)"
  dupes="$(sql "$WRITER" "SELECT count(*) FROM (SELECT external_id FROM messages
    WHERE external_id LIKE '$LOAD_PHASE-%' GROUP BY external_id HAVING count(*) > 1) d")"
  W_ACKED="$(grep -c '^ack ' "$log" || true)"
  W_FAILED="$(grep -c '^fail ' "$log" || true)"
  W_GAVEUP="$(grep -c '^gaveup ' "$log" || true)"
  R_FAILED="$(grep -c '^rfail ' "$log" || true)"
  R_OK="$(grep -c '^rok ' "$log" || true)"
  load_figure "$LOAD_PHASE: writes acknowledged" "$W_ACKED"
  load_figure "$LOAD_PHASE: acknowledged writes lost" "$lost"
  load_figure "$LOAD_PHASE: writes stored twice" "$dupes"
  load_figure "$LOAD_PHASE: failed attempts (sent again)" "$W_FAILED"
  load_figure "$LOAD_PHASE: writes given up" "$W_GAVEUP"
  load_figure "$LOAD_PHASE: HAProxy retries+redispatches" "$(($(lb_retries) - LB_RETRIES_BEFORE))"
  [ "$R_OK" -gt 0 ] || [ "$R_FAILED" -gt 0 ] && {
    load_figure "$LOAD_PHASE: reads answered" "$R_OK"
    load_figure "$LOAD_PHASE: reads failed" "$R_FAILED"
  }
  [ "$lost" -eq 0 ] || { echo "drill: $LOAD_PHASE lost $lost acknowledged writes" >&2; return 1; }
  [ "$dupes" -eq 0 ] || { echo "drill: $LOAD_PHASE stored $dupes writes twice" >&2; return 1; }
  [ "$W_GAVEUP" -eq 0 ] || { echo "drill: $LOAD_PHASE gave up $W_GAVEUP writes" >&2; return 1; }
  [ "$W_ACKED" -gt 0 ]
}

load_figure() {
  [ -n "${LOAD_QUIET:-}" ] || figure "$@"
}

# ---- steps ------------------------------------------------------------------------

# The callers' whole workflow, each call through HAProxy: the sync
# service's signed delivery, the assistants service's claim and draft, the
# dashboard's feed and edit, the sync service's outbox claim and delivery
# report, the corrections export. Reads may come from the replica, which
# may not have replayed the write before them yet: they wait for it.
# listening NAME: the instance's LISTEN session for live events is up.
listening() {
  curl -sS "http://127.0.0.1:${PORT[$1]}/metrics" | grep -qx 'inboxd_events_listening 1'
}

step_story() {
  local user body ids conv msg req draft out
  # Both instances LISTEN for live events, a's beside PgBouncer, not
  # through it (a notification there reaches a pooled connection that
  # never asked for it).
  wait_for "a to listen for events" 60 listening a
  wait_for "b to listen for events" 60 listening b
  user="$(lb POST /v1/users '{"email":"reviewer@topology.example","displayName":"Reviewer"}' | jq -r .id)"
  body='{"deliveryId":"story-1","topic":"message.created",
 "channel":{"type":"email","externalId":"story","name":"Support inbox"},
 "conversation":{"externalId":"ST-1042","subject":"Order 1042","customerEmail":"anna@example.com"},
 "message":{"externalId":"story-msg-1","bodyText":"Where is my order 1042?"}}'
  ids="$(deliver "$(cat "$DRILL/secret")" "$body")"
  conv="$(jq -r .conversationId <<<"$ids")"
  msg="$(jq -r .messageId <<<"$ids")"
  req="$(jq -r .draftRequestId <<<"$ids")"
  [ "$(deliver "$(cat "$DRILL/secret")" "$body" | jq -r .duplicate)" = true ]

  [ "$(lb POST /v1/draft-requests/claim '{"limit":5,"leaseSeconds":60,"workerId":"w-1"}' |
    jq -r '.items[0].id')" = "$req" ]
  draft="$(lb POST "/v1/conversations/$conv/drafts" "{\"triggerMessageId\":\"$msg\",
    \"draftRequestId\":\"$req\",\"modelKey\":\"m\",\"promptVersion\":\"v1\",
    \"suggestedText\":\"It ships today.\"}" | jq -r .id)"
  wait_for "the draft in the feed" 30 feed_has "$draft"
  out="$(lb POST "/v1/drafts/$draft/actions" "{\"type\":\"edit\",\"userId\":\"$user\",
    \"finalText\":\"It ships today, with tracking.\"}" | jq -r .message.id)"
  [ "$(lb POST /v1/outbox/claim '{"limit":10,"leaseSeconds":60}' |
    jq -r --arg id "$out" '[.items[] | select(.id == $id)] | length')" = 1 ]
  lb POST "/v1/outbox/$out/delivered" '{"externalId":"story-reply-1"}' >/dev/null
  wait_for "the correction in the export" 30 exported "$draft"
  [ "$(sql primary "SELECT delivery_status FROM messages WHERE id = '$out'")" = delivered ]
  [ "$(sql primary "SELECT status FROM draft_requests WHERE id = '$req'")" = done ]
  STORY_CONV="$conv"
  figure "story: steps through HAProxy" "ok"
}

feed_has() {
  lb GET /v1/feed | jq -e --arg d "$1" '[.items[] | select(.draft.id == $d)] | length == 1'
}

exported() {
  lb GET '/v1/learning-samples' |
    jq -e --arg d "$1" '[.items[] | select(.draftId == $d and .finalText == "It ships today, with tracking.")] | length == 1'
}

# held_write N: with the story's conversation locked by another session,
# a write to it straight to inboxd a (through PgBouncer); prints the HTTP
# status (the answer in $DRILL/held.out), the lock released after.
held_write() {
  local holder status
  psql -X -q -d "$(db_url primary)" -c "BEGIN" \
    -c "SELECT 1 FROM conversations WHERE id = '$STORY_CONV' FOR UPDATE" \
    -c "SELECT pg_sleep(120)" >/dev/null 2>&1 &
  holder=$!
  wait_for "the lock to be held" 30 lock_held
  status="$(curl -sS -o "$DRILL/held.out" -w '%{http_code}' -X POST \
    -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
    --data-binary "{\"externalId\":\"held-$1\",\"direction\":\"inbound\",\"bodyText\":\"Hello?\"}" \
    "http://127.0.0.1:${PORT[a]}/v1/conversations/$STORY_CONV/messages")"
  sql primary "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
    WHERE query LIKE 'SELECT pg_sleep(120)%' AND pid <> pg_backend_pid()" >/dev/null
  wait "$holder" 2>/dev/null || true
  echo "$status"
}

# cancelled STATUS SQLSTATE BEFORE: the held write was answered 503
# database-busy, and inboxd a logged SQLSTATE once more than BEFORE times.
cancelled() {
  [ "$1" = 503 ] || { echo "drill: expected 503, got $1: $(cat "$DRILL/held.out")" >&2; return 1; }
  grep -q 'database-busy' "$DRILL/held.out"
  [ "$(sqlstates "$2")" -gt "$3" ] || { echo "drill: inboxd a did not log $2" >&2; return 1; }
}
sqlstates() { grep -c "\"sqlstate\":\"$1\"" "$DRILL/inboxd-a.log" || true; }

# A write held by a lock is cancelled at lock_timeout_ms (1 s here) through
# PgBouncer: inboxd a's transactions carry their timeouts (SET LOCAL).
# PgBouncer first closes its server connections (RECONNECT), so none of
# them carries a setting from a session SET of earlier. Then a reload
# turns lock_timeout off and statement_timeout down to 1 s: the next held
# write is cancelled by the statement timeout (57014), not the lock's.
step_timeouts() {
  local status before
  psql -X -q -h "$DRILL/pgb" -p "$PGB_PORT" -U postgres -d pgbouncer -c 'RECONNECT inboxd' >/dev/null
  before="$(sqlstates 55P03)"
  status="$(held_write 1)"
  figure "timeouts: held write, lock_timeout" "$status"
  cancelled "$status" 55P03 "$before"

  before="$(sqlstates 57014)"
  TIMEOUTS=$'lock_timeout_ms = 0\nstatement_timeout_ms = 1000' reload a "$(cat "$DRILL/secret")"
  status="$(held_write 2)"
  figure "timeouts: held write, reloaded statement_timeout" "$status"
  cancelled "$status" 57014 "$before"
  reload a "$(cat "$DRILL/secret")"
}

lock_held() {
  [ "$(sql primary "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(120)%'")" = 1 ]
}

step_crash() {
  local back first
  load_start crash
  wait_for "writes before the crash" 60 acked_since 0 20
  "$DRILL/primary/crash.sh"
  back="$(now_ms)"
  wait_for "writes after the restart" 120 acked_since "$back" 20
  first="$(first_ack_after "$back")"
  load_stop
  figure "crash: s until writes succeed after restart" "$(awk -v a="$first" -v b="$back" 'BEGIN { printf "%.2f", (a - b) / 1000 }')"
  wait_for "the replica to stream again" 60 replica_streams
}

step_bouncer() {
  local down back
  load_start bouncer
  wait_for "writes before the restart" 60 acked_since 0 20
  down="$(now_ms)"
  pgb_stop "$DRILL/pgb" INT
  pgb_start "$DRILL/pgb" "$DRILL/primary"
  back="$(now_ms)"
  wait_for "writes after the restart" 60 acked_since "$back" 20
  wait_for "HAProxy to see a up" 60 server_is a UP
  load_stop
  figure "bouncer: s PgBouncer was down" "$(awk -v a="$back" -v b="$down" 'BEGIN { printf "%.2f", (a - b) / 1000 }')"
}

step_instance() {
  local killed
  load_start instance
  wait_for "writes before the kill" 60 acked_since 0 20
  kill -KILL "${PID[a]}"
  wait "${PID[a]}" 2>/dev/null || true
  killed="$(now_ms)"
  wait_for "HAProxy to drop a" 60 server_is a DOWN
  wait_for "writes with a down" 60 acked_since "$(now_ms)" 20
  start_a
  wait_for "HAProxy to take a back" 60 server_is a UP
  wait_for "writes with a back" 60 acked_since "$(now_ms)" 20
  load_stop
  figure "instance: requests failed (client saw)" "$W_FAILED"
  [ "$W_FAILED" -eq 0 ] || { echo "drill: $W_FAILED requests failed with one instance killed" >&2; return 1; }
}

step_replica() {
  local stopped fallbacks
  load_start replica 2 2
  wait_for "reads and writes before the stop" 60 read_since 0 20
  pg_stop "$DRILL/replica"
  stopped="$(now_ms)"
  wait_for "reads with the replica down" 60 read_since "$stopped" 40
  wait_for "writes with the replica down" 60 acked_since "$stopped" 20
  replica_cluster pg_start
  open_socket replica
  wait_for "the replica to stream again" 60 replica_streams
  wait_for "reads with the replica back" 60 read_since "$(now_ms)" 20
  load_stop
  fallbacks=0
  for i in a b; do
    fallbacks=$((fallbacks + $(curl -sS "http://127.0.0.1:${PORT[$i]}/metrics" |
      awk '/^inboxd_db_replica_reads_total\{to="primary",reason="down"\}/ { n += $2 } END { print n + 0 }')))
  done
  figure "replica: reads sent to the primary instead" "$fallbacks"
  [ "$fallbacks" -gt 0 ] || { echo "drill: no read found the replica down" >&2; return 1; }
  [ "$R_FAILED" -eq 0 ] || { echo "drill: $R_FAILED reads failed with the replica down" >&2; return 1; }
  [ "$W_FAILED" -eq 0 ] || { echo "drill: $W_FAILED writes failed with the replica down" >&2; return 1; }
}

# README "Signing webhook deliveries": the new secret in, the old one kept
# as the previous; every instance reloaded; the sender switched; the
# previous removed and every instance reloaded again. Not one delivery
# may fail on the way.
step_rotate() {
  local old new t
  old="$(cat "$DRILL/secret")"
  new="rotated-$(openssl rand -hex 16)"
  load_start rotate
  wait_for "deliveries before the rotation" 60 acked_since 0 10
  reload_all "$new" "$old"
  printf '%s\n' "$new" >"$DRILL/secret.new" && mv "$DRILL/secret.new" "$DRILL/secret"
  t="$(now_ms)"
  wait_for "deliveries signed with the new secret" 60 each_acked_since "$t" 5 2
  reload_all "$new"
  wait_for "deliveries after the rotation" 60 acked_since "$(now_ms)" 10
  load_stop
  [ "$W_FAILED" -eq 0 ] || { echo "drill: $W_FAILED deliveries failed during the rotation" >&2; return 1; }
  # The old secret is refused now.
  ! deliver "$old" '{"deliveryId":"rotate-old","topic":"message.created"}' >/dev/null 2>&1
}

# reload NAME SECRET [PREVIOUS]: inboxd NAME's file rewritten, SIGHUP, and
# it has logged that it reloaded.
reload() {
  local n="$1" c
  shift
  c="$(grep -c '"event":"config.reloaded"' "$DRILL/inboxd-$n.log" || true)"
  write_conf "$n" "$@"
  kill -HUP "${PID[$n]}"
  wait_for "inboxd $n to reload" 30 reloaded "$n" "$((c + 1))"
}

reload_all() {
  reload a "$@"
  reload b "$@"
}

reloaded() {
  [ "$(grep -c '"event":"config.reloaded"' "$DRILL/inboxd-$1.log")" -ge "$2" ]
}

# ---- rolling upgrade, replication modes, failover ---------------------------------

# readyz NAME: inboxd NAME's /readyz document (whatever its status).
readyz() {
  curl -sS "http://127.0.0.1:${PORT[$1]}/readyz"
}

# ready_on NAME SCHEMA EXPECTED: NAME is ready on schema SCHEMA, as a
# binary built for EXPECTED.
ready_on() {
  local doc
  doc="$(readyz "$1")"
  jq -e --argjson s "$2" --argjson e "$3" \
    '.status == "ready" and .schemaVersion == $s and .expectedSchemaVersion == $e' \
    <<<"$doc" >/dev/null || { echo "drill: inboxd $1 /readyz: $doc" >&2; return 1; }
}

# check_fails NAME: HAProxy's failed health checks of NAME so far (chkfail).
check_fails() {
  curl -sS --unix-socket "$LB_STATS" 'http://lb/stats;csv' |
    awk -F, -v s="inboxd-$1" '$1 == "inboxd" && $2 == s { print $22 + 0 }'
}

# stop_instance NAME: SIGTERM, and it exits cleanly.
stop_instance() {
  local rc=0
  kill -TERM "${PID[$1]}"
  wait "${PID[$1]}" || rc=$?
  [ "$rc" -eq 0 ] || { echo "drill: inboxd $1 exited $rc on SIGTERM" >&2; return 1; }
}

# README "Rolling upgrades" under write load through HAProxy: b stopped
# (HAProxy's check takes it out), the schema migrated one step by the
# next release's `migrate` (tests/migrations: a CONCURRENTLY index build
# under the writes), b started as the next release, then a the same way.
# a, the old binary until its restart, stays ready on the newer schema:
# HAProxy's checks of it never fail meanwhile. No request may fail.
step_upgrade() {
  local old new fails_a
  mkdir -p "$DRILL/next"
  cp "$here"/../migrations/[0-9][0-9][0-9][0-9]_*.sql "$DRILL/next/"
  chmod -R a+rX "$DRILL/next"
  old="$(readyz a | jq -r .expectedSchemaVersion)"
  new="$(find "$DRILL/next" -name '[0-9][0-9][0-9][0-9]_*.sql' -printf '%f\n' | sort | tail -n 1)"
  new="$((10#${new:0:4}))"
  load_start upgrade
  wait_for "writes before the upgrade" 60 acked_since 0 20
  stop_instance b
  wait_for "HAProxy to drop b" 60 server_is b DOWN
  fails_a="$(check_fails a)"
  INBOXD_TEST_MIGRATIONS_DIR="$DRILL/next" "$INBOXD" --config /dev/null \
    --database-owner-url "$(db_url primary inboxd_owner)" migrate >"$DRILL/migrate-next.log" 2>&1 ||
    { cat "$DRILL/migrate-next.log" >&2; return 1; }
  [ "$(sql primary 'SELECT max(version) FROM schema_migrations')" = "$new" ]
  ready_on a "$new" "$old"
  NEXT_RELEASE[b]="$DRILL/next"
  start_b
  wait_for "HAProxy to see the new b up" 60 server_is b UP
  wait_for "writes with the new b" 60 acked_since "$(now_ms)" 20
  ready_on a "$new" "$old"
  fails_a="$(($(check_fails a) - fails_a))"
  stop_instance a
  wait_for "HAProxy to drop a" 60 server_is a DOWN
  NEXT_RELEASE[a]="$DRILL/next"
  start_a
  wait_for "HAProxy to see the new a up" 60 server_is a UP
  wait_for "writes with both new" 60 acked_since "$(now_ms)" 20
  load_stop
  ready_on a "$new" "$new"
  ready_on b "$new" "$new"
  figure "upgrade: schema version before, after" "$old, $new"
  figure "upgrade: old a's failed checks on new schema" "$fails_a"
  figure "upgrade: requests failed (client saw)" "$W_FAILED"
  [ "$fails_a" -eq 0 ] || { echo "drill: a failed $fails_a health checks on the newer schema" >&2; return 1; }
  [ "$W_FAILED" -eq 0 ] || { echo "drill: $W_FAILED requests failed during the upgrade" >&2; return 1; }
}

# replication sync|async: the primary's synchronous_standby_names set to
# the replica's application_name (synchronous_commit on: a commit waits
# for the replica's flush), or reset (asynchronous, as every other step
# runs: a sole synchronous standby that stops blocks every commit);
# reloaded, and pg_stat_replication says so.
replication() {
  local names=""
  if [ "$1" = sync ]; then
    names="$(sql primary "SELECT application_name FROM pg_stat_replication")"
    sql primary "ALTER SYSTEM SET synchronous_commit = on" >/dev/null
    sql primary "ALTER SYSTEM SET synchronous_standby_names = '\"$names\"'" >/dev/null
  else
    sql primary "ALTER SYSTEM RESET synchronous_standby_names" >/dev/null
  fi
  sql primary "SELECT pg_reload_conf()" >/dev/null
  wait_for "the replica to be $1" 60 sync_state_is "$1"
}

sync_state_is() {
  [ "$(sql primary "SELECT sync_state FROM pg_stat_replication")" = "$1" ]
}

# write_rate PHASE: topology_load's writes through HAProxy, 4 senders
# without a pause, for SYNCREP_S seconds once the first are acknowledged;
# RATE is the acknowledged writes per second of that window. The sleep is
# the measuring window itself: nothing waits on it to have happened.
SYNCREP_S=4
write_rate() {
  local t0 t1
  load_start "$1" 4 0 0
  wait_for "writes of $1" 60 acked_since 0 10
  t0="$(now_ms)"
  sleep "$SYNCREP_S"
  t1="$(now_ms)"
  LOAD_QUIET=1 load_stop
  RATE="$(awk -v a="$t0" -v b="$t1" '$1 == "ack" && $2 > a && $2 <= b { n++ }
    END { printf "%.1f", n * 1000 / (b - a) }' "$DRILL/load-$1.log")"
}

# commit_rate: the primary's commits per second alone, without inboxd
# and HAProxy taking the CPU: pgbench, 4 clients each inserting one row
# per transaction into a table of the postgres database, for SYNCREP_S
# seconds; RATE.
commit_rate() {
  local out
  out="$("$(pg_bindir)/pgbench" -n -T "$SYNCREP_S" -c 4 -j 2 -f "$DRILL/commit.sql" \
    -h "$DRILL/primary" -p "$PG_PORT" -U postgres postgres 2>&1)" || { echo "$out" >&2; return 1; }
  RATE="$(awk '/^tps = / { printf "%.1f", $3 }' <<<"$out")"
  [ -n "$RATE" ]
}

# What synchronous replication costs in write throughput, measured both
# ways (webhook deliveries through the whole deployment; bare commits):
# asynchronous and synchronous rounds alternating, 2 each; left
# asynchronous.
step_syncrep() {
  local round mode what
  declare -A sum=()
  psql -X -q -v ON_ERROR_STOP=1 -d "$(pg_url "$DRILL/primary")" \
    -c "CREATE TABLE IF NOT EXISTS syncrep_commits (id bigserial PRIMARY KEY, note text)"
  echo "INSERT INTO syncrep_commits (note) VALUES ('commit');" >"$DRILL/commit.sql"
  for round in 1 2; do
    for mode in async sync; do
      replication "$mode"
      write_rate "syncrep-$mode-$round"
      figure "syncrep: $mode round $round, writes/s" "$RATE"
      sum[writes-$mode]="$(awk -v s="${sum[writes-$mode]:-0}" -v r="$RATE" 'BEGIN { print s + r }')"
      commit_rate
      figure "syncrep: $mode round $round, commits/s" "$RATE"
      sum[commits-$mode]="$(awk -v s="${sum[commits-$mode]:-0}" -v r="$RATE" 'BEGIN { print s + r }')"
    done
  done
  replication async
  for what in writes commits; do
    figure "syncrep: sync costs % of async $what/s" \
      "$(awk -v a="${sum[$what-async]}" -v s="${sum[$what-sync]}" 'BEGIN { printf "%.0f", (a - s) * 100 / a }')"
  done
}

# README "Failover" under write load through HAProxy, with synchronous
# replication on: the primary killed with -9, the replica promoted and
# its synchronous_standby_names cleared right after (a promoted standby
# that inherited the setting, and has no standby of its own, would hold
# every commit), PgBouncer pointed at it (pgb_retarget). b finds it
# through its multi-host DATABASE_URL; neither instance is restarted.
# Every acknowledged write must be on the promoted replica, once. The old
# primary stays gone: this step runs last.
step_failover() {
  local pids killed promoted first both
  replication sync
  load_start failover
  wait_for "writes before the failover" 60 acked_since 0 20
  pids="${PID[a]} ${PID[b]}"
  killed="$(now_ms)"
  kill_primary
  promoted="$(now_ms)"
  _pg_run "$(pg_bindir)/pg_ctl" -D "$DRILL/replica/data" -w -t 60 promote >/dev/null
  sql replica "ALTER SYSTEM RESET synchronous_standby_names" >/dev/null
  sql replica "SELECT pg_reload_conf()" >/dev/null
  WRITER=replica
  pgb_retarget "$DRILL/pgb" "inboxd = host=$DRILL/replica port=$PG_PORT dbname=inboxd"
  wait_for "writes on the promoted replica" 120 acked_since "$promoted" 20
  first="$(first_ack_after "$promoted")"
  wait_for "HAProxy to see a up" 60 server_is a UP
  wait_for "HAProxy to see b up" 60 server_is b UP
  both="$(now_ms)"
  wait_for "writes with both up" 60 acked_since "$(now_ms)" 20
  load_stop
  if [ "${PID[a]} ${PID[b]}" != "$pids" ] || ! kill -0 "${PID[a]}" || ! kill -0 "${PID[b]}"; then
    echo "drill: an instance was restarted or is gone" >&2
    return 1
  fi
  figure "failover: s from promote until writes succeed" "$(awk -v a="$first" -v b="$promoted" 'BEGIN { printf "%.2f", (a - b) / 1000 }')"
  figure "failover: s from kill until writes succeed" "$(awk -v a="$first" -v b="$killed" 'BEGIN { printf "%.2f", (a - b) / 1000 }')"
  figure "failover: s from promote until both are up" "$(awk -v a="$both" -v b="$promoted" 'BEGIN { printf "%.2f", (a - b) / 1000 }')"
  figure "failover: instance restarts" 0
}

# kill_primary: the primary's postmaster killed with -9, as crash.sh does,
# and not started again.
kill_primary() {
  local pid
  pid="$(head -n 1 "$DRILL/primary/data/postmaster.pid")"
  kill -KILL "$pid"
  wait_for "the primary's postmaster to be gone" 60 gone "$pid"
}

gone() {
  ! kill -0 "$1" 2>/dev/null
}

# ---- the run ------------------------------------------------------------------------

start=$SECONDS
start_primary
start_replica
pgb_start "$DRILL/pgb" "$DRILL/primary" "inboxd = host=$DRILL/primary port=$PG_PORT dbname=inboxd"
secret="topology-$(openssl rand -hex 16)"
printf '%s\n' "$secret" >"$DRILL/secret"
printf '%s\n' "$KEY" >"$DRILL/key"
for n in a b; do write_conf "$n" "$secret"; done
start_a
start_b
start_haproxy
figure "topology: up in s" "$((SECONDS - start))"

# TOPOLOGY_STEPS picks some (story first: the others use what it made;
# failover last: the old primary stays gone).
for step in ${TOPOLOGY_STEPS:-story timeouts crash bouncer instance replica rotate upgrade syncrep failover}; do
  t=$SECONDS
  "step_$step"
  figure "$step: step took s" "$((SECONDS - t))"
done
# No notification ever reached a pooled connection (a LISTEN through
# PgBouncer would bring them: "got packet 'A' from server when not linked").
if grep -q "got packet 'A'" "$DRILL/pgb/pgbouncer.log"; then
  echo "drill: PgBouncer carried NOTIFY messages: a LISTEN went through it" >&2
  exit 1
fi
figure "topology: total s" "$((SECONDS - start))"

-- events: the writers of the live event log, as they are now.
--
-- Current SQL (README, "Schema"): `inboxd migrate` applies this file after
-- the numbered migrations, every time, in one transaction under the
-- migrate lock (no BEGIN/COMMIT here). It holds only CREATE OR REPLACE
-- FUNCTION and VIEW, so applying it again changes nothing, and what is
-- written here is what the database runs, on a fresh database and on an
-- old one alike.
--
-- The rule: a change that a binary one release older would notice (other
-- columns, keys, rows, order, arguments or errors) is a NEW function under
-- a new name (inboxd_feed_page_v2), added here beside the old one, which
-- the older binary keeps calling during a rolling upgrade; the old one goes
-- (a migration drops it and this file stops defining it) once no deployed
-- binary calls it. Only a change that keeps the behaviour edits a
-- definition here in place. sql/migrations/ is never edited.


-- The triggers that call them are migration 0011's.

-- Wakes every instance's listener (channel inboxd_events) with payload p.
-- A transaction that NOTIFYs holds a lock on the notification queue from
-- its commit until its commit record is flushed, so notifying writes
-- commit one at a time, never in a group: inboxd's own transactions say
-- inboxd.notify = 'defer', and the payload waits in the session's
-- inboxd.notify_pending (a session setting, so it survives COMMIT and goes
-- with a rollback) for inboxd_notify_flush(), which inboxd sends right
-- after COMMIT in the same round trip. Any other writer (psql, an older
-- binary) notifies at once, as before.
CREATE OR REPLACE FUNCTION inboxd_notify(p text) RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    pending text;
BEGIN
    IF current_setting('inboxd.notify', true) IS DISTINCT FROM 'defer' THEN
        PERFORM pg_notify('inboxd_events', p);
        RETURN;
    END IF;
    pending := coalesce(current_setting('inboxd.notify_pending', true), '');
    IF position('|' || p || '|' IN '|' || pending) = 0 THEN
        PERFORM set_config('inboxd.notify_pending', pending || p || '|', false);
    END IF;
END
$$;

-- The notifications a committed transaction deferred, sent in a
-- transaction of their own that does not wait for its commit record to be
-- flushed (a lost wake-up costs a listener only the wait for its next
-- sweep; the rows are committed already). Nothing pending, nothing done.
CREATE OR REPLACE FUNCTION inboxd_notify_flush() RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    pending text := current_setting('inboxd.notify_pending', true);
BEGIN
    IF pending IS NULL OR pending = '' THEN
        RETURN;
    END IF;
    PERFORM set_config('inboxd.notify_pending', '', false);
    PERFORM set_config('synchronous_commit', 'off', true);
    PERFORM pg_notify('inboxd_events', p) FROM unnest(string_to_array(pending, '|')) AS p
    WHERE p <> '';
END
$$;

-- Writes one event of the live stream (README "Live events") in the
-- calling transaction, and wakes every instance's listener once per
-- account and transaction (equal payloads of one transaction fold into
-- one; they go out only after COMMIT). The row is the truth: the
-- notification only says "read the table".
CREATE OR REPLACE FUNCTION inboxd_event(p_account uuid, p_type text, p_channel uuid, p_data jsonb)
RETURNS void
LANGUAGE sql VOLATILE
AS $$
    INSERT INTO events (account_id, type, channel_id, data)
    VALUES (p_account, p_type, p_channel, p_data);
    SELECT inboxd_notify('e ' || p_account::text);
$$;

-- The channel of a conversation, for an event's channel_id.
CREATE OR REPLACE FUNCTION inboxd_event_channel(p_account uuid, p_conversation uuid) RETURNS uuid
LANGUAGE sql STABLE
AS $$
    SELECT channel_id FROM conversations WHERE account_id = p_account AND id = p_conversation
$$;

-- drafts: a new draft is draft.ready.
CREATE OR REPLACE FUNCTION inboxd_events_draft() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM inboxd_event(NEW.account_id, 'draft.ready',
                         inboxd_event_channel(NEW.account_id, NEW.conversation_id),
                         jsonb_build_object('draftId', NEW.id, 'conversationId', NEW.conversation_id,
                                            'status', NEW.status));
    RETURN NULL;
END
$$;

-- draft_actions: an approve, edit or reject is draft.acted, with the
-- draft's status after it (the action's transaction updates the draft
-- first).
CREATE OR REPLACE FUNCTION inboxd_events_action() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    d drafts;
BEGIN
    SELECT * INTO d FROM drafts WHERE account_id = NEW.account_id AND id = NEW.draft_id;
    PERFORM inboxd_event(NEW.account_id, 'draft.acted',
                         inboxd_event_channel(NEW.account_id, d.conversation_id),
                         jsonb_build_object('draftId', NEW.draft_id, 'conversationId', d.conversation_id,
                                            'actionId', NEW.id, 'action', NEW.type,
                                            'status', d.status));
    RETURN NULL;
END
$$;

-- conversations: entering, leaving or moving in the review queue (feed_at
-- set, cleared or changed) is feed.changed, with the position key.
CREATE OR REPLACE FUNCTION inboxd_events_feed() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    was timestamptz;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        was := OLD.feed_at;
    END IF;
    PERFORM inboxd_event(NEW.account_id, 'feed.changed', NEW.channel_id,
                         jsonb_build_object('conversationId', NEW.id,
                                            'change', CASE WHEN was IS NULL THEN 'entered'
                                                           WHEN NEW.feed_at IS NULL THEN 'left'
                                                           ELSE 'moved' END,
                                            'feedAt', to_char(coalesce(NEW.feed_at, was) AT TIME ZONE 'UTC',
                                                              'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                                            'pendingDraftId', NEW.pending_draft_id));
    RETURN NULL;
END
$$;

-- notifications: notification.created.
CREATE OR REPLACE FUNCTION inboxd_events_notification() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM inboxd_event(NEW.account_id, 'notification.created', NULL,
                         jsonb_build_object('notificationId', NEW.id, 'type', NEW.type,
                                            'userId', NEW.user_id));
    RETURN NULL;
END
$$;

-- messages: an outbound message delivered or failed for good.
CREATE OR REPLACE FUNCTION inboxd_events_delivery() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM inboxd_event(NEW.account_id,
                         CASE NEW.delivery_status WHEN 'delivered' THEN 'message.delivered'
                                                  ELSE 'delivery.failed' END,
                         inboxd_event_channel(NEW.account_id, NEW.conversation_id),
                         jsonb_build_object('messageId', NEW.id, 'conversationId', NEW.conversation_id,
                                            'status', NEW.delivery_status));
    RETURN NULL;
END
$$;

-- job_runs: a run created or its status changed.
CREATE OR REPLACE FUNCTION inboxd_events_job() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM inboxd_event(NEW.account_id, 'job.updated', NULL,
                         jsonb_build_object('jobId', NEW.id, 'type', NEW.type, 'status', NEW.status));
    RETURN NULL;
END
$$;

-- draft_requests and the outbox: work that a waiting claim may take
-- (POST …/claim with waitSeconds). Only a wake-up, no event row.
CREATE OR REPLACE FUNCTION inboxd_events_work() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM inboxd_notify(TG_ARGV[0] || ' ' || NEW.account_id::text);
    RETURN NULL;
END
$$;

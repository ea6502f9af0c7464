-- 0011_events: the live event stream (GET /v1/events) and the wake-ups
-- of waiting claims (README "Live events").
--
-- Runs inside the one transaction the migrator opens: no BEGIN/COMMIT here.

-- ---------------------------------------------------------------- the event log

-- events: one row per thing the dashboard is told, written by the
-- triggers below in the writing transaction. Ordered like the
-- corrections export, by commit position (write_xid, id), and handed out
-- only below inboxd_watermark() (sql/current/positions.sql): an id once
-- sent is never passed by an event that commits later. id orders the
-- events of one transaction in the order they were written.
CREATE TABLE events (
    account_id  uuid        NOT NULL REFERENCES accounts (id),
    write_xid   xid8        NOT NULL DEFAULT pg_current_xact_id(),
    id          bigint      GENERATED ALWAYS AS IDENTITY,
    type        text        NOT NULL CHECK (type <> ''),
    channel_id  uuid,
    data        jsonb       NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, write_xid, id)
);
CREATE INDEX events_created_idx ON events (account_id, created_at);  -- retention

-- event_horizons: per account, the furthest position retention deleted.
-- A Last-Event-ID before it may have missed events: the stream answers
-- `reset` instead of resuming.
CREATE TABLE event_horizons (
    account_id  uuid    NOT NULL PRIMARY KEY REFERENCES accounts (id),
    write_xid   xid8    NOT NULL,
    id          bigint  NOT NULL
);

-- ---------------------------------------------------------------- the writers

-- The functions, as sql/current/events.sql defines them again (the
-- triggers need them now; the current file keeps them as they are).
-- Writes one event of the live stream (README "Live events") in the
-- calling transaction, and wakes every instance's listener once per
-- account and transaction (NOTIFY folds equal payloads of one
-- transaction into one; it is sent only at COMMIT). The row is the truth:
-- the notification only says "read the table".
CREATE OR REPLACE FUNCTION inboxd_event(p_account uuid, p_type text, p_channel uuid, p_data jsonb)
RETURNS void
LANGUAGE sql VOLATILE
AS $$
    INSERT INTO events (account_id, type, channel_id, data)
    VALUES (p_account, p_type, p_channel, p_data);
    SELECT pg_notify('inboxd_events', 'e ' || p_account::text);
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
    PERFORM pg_notify('inboxd_events', TG_ARGV[0] || ' ' || NEW.account_id::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER drafts_events AFTER INSERT ON drafts
    FOR EACH ROW EXECUTE FUNCTION inboxd_events_draft();
CREATE TRIGGER draft_actions_events AFTER INSERT ON draft_actions
    FOR EACH ROW EXECUTE FUNCTION inboxd_events_action();
CREATE TRIGGER conversations_feed_insert_events AFTER INSERT ON conversations
    FOR EACH ROW WHEN (NEW.feed_at IS NOT NULL) EXECUTE FUNCTION inboxd_events_feed();
CREATE TRIGGER conversations_feed_update_events AFTER UPDATE ON conversations
    FOR EACH ROW WHEN (OLD.feed_at IS DISTINCT FROM NEW.feed_at) EXECUTE FUNCTION inboxd_events_feed();
CREATE TRIGGER notifications_events AFTER INSERT ON notifications
    FOR EACH ROW EXECUTE FUNCTION inboxd_events_notification();
CREATE TRIGGER messages_delivery_events AFTER UPDATE ON messages
    FOR EACH ROW WHEN (OLD.delivery_status IS DISTINCT FROM NEW.delivery_status
                       AND NEW.delivery_status IN ('delivered', 'failed'))
    EXECUTE FUNCTION inboxd_events_delivery();
CREATE TRIGGER job_runs_insert_events AFTER INSERT ON job_runs
    FOR EACH ROW EXECUTE FUNCTION inboxd_events_job();
CREATE TRIGGER job_runs_update_events AFTER UPDATE ON job_runs
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION inboxd_events_job();

-- Wake-ups of waiting claims: a draft request queued (new, or back after
-- a failed attempt), an outbound message pending.
CREATE TRIGGER draft_requests_work AFTER INSERT OR UPDATE ON draft_requests
    FOR EACH ROW WHEN (NEW.status = 'queued') EXECUTE FUNCTION inboxd_events_work('d');
CREATE TRIGGER messages_outbox_work AFTER INSERT OR UPDATE ON messages
    FOR EACH ROW WHEN (NEW.delivery_status = 'pending') EXECUTE FUNCTION inboxd_events_work('o');

-- 0001_init: the whole data model of API.md.
--
-- Runs inside the one transaction the migrator opens: no BEGIN/COMMIT here.
-- Plain PostgreSQL 15, no extensions.
--
-- Tenancy (DESIGN.md, Schema): every table but accounts starts with
-- account_id, its primary key is (account_id, id), every unique key includes
-- account_id, every foreign key is composite (account_id, x_id). The one
-- global unique key is api_keys.key_hash (authentication finds the account
-- from it). ids are UUIDv7 made by inboxd: no DEFAULT on ids.
--
-- updated_at is set by the writing statement (no triggers).
-- Queue tables carry a stored generated column claimable_at (when the row can
-- be claimed next, NULL when it is not in the queue), so a claim is one range
-- scan of a small partial index:
--   ... WHERE account_id = $1 AND claimable_at <= now()
--       ORDER BY claimable_at, id LIMIT $n FOR UPDATE SKIP LOCKED

-- ---------------------------------------------------------------- enums

CREATE TYPE channel_type AS ENUM ('email', 'chat', 'shopify', 'slack');
CREATE TYPE message_direction AS ENUM ('inbound', 'outbound', 'system');
CREATE TYPE draft_status AS ENUM ('pending', 'sent', 'superseded', 'archived');
CREATE TYPE action_type AS ENUM ('approve', 'edit', 'reject');
CREATE TYPE job_type AS ENUM ('crawl', 'ingest_goldens', 'corrections_sync');
CREATE TYPE job_status AS ENUM ('queued', 'running', 'succeeded', 'failed');
CREATE TYPE conversation_status AS ENUM ('open', 'pending', 'closed');
CREATE TYPE delivery_status AS ENUM ('pending', 'leased', 'delivered', 'failed');
CREATE TYPE draft_request_status AS ENUM ('queued', 'leased', 'done', 'failed');
CREATE TYPE webhook_event_status AS ENUM ('received', 'succeeded', 'failed', 'skipped');
CREATE TYPE user_role AS ENUM ('agent', 'admin');

-- ---------------------------------------------------------------- functions

-- A UUIDv7 (48-bit Unix ms timestamp, version 7, variant 10, random rest) for
-- the seed and ad-hoc use, inboxd makes its own ids.
CREATE FUNCTION inboxd_uuid7() RETURNS uuid
LANGUAGE sql VOLATILE PARALLEL SAFE
AS $$
    SELECT encode(
        set_bit(set_bit(
            overlay(uuid_send(gen_random_uuid())
                    PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
                    FROM 1 FOR 6),
            52, 1), 53, 1),
        'hex')::uuid
$$;

-- ---------------------------------------------------------------- tenants and people

-- accounts: one tenant (a business) whose rows every other table partitions by.
CREATE TABLE accounts (
    id          uuid        NOT NULL PRIMARY KEY,
    name        text        NOT NULL UNIQUE CHECK (name <> ''),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- users: the people of an account who review drafts (agents) or administer it.
CREATE TABLE users (
    account_id     uuid        NOT NULL REFERENCES accounts (id),
    id             uuid        NOT NULL,
    email          text        NOT NULL CHECK (email <> ''),
    display_name   text,
    role           user_role   NOT NULL DEFAULT 'agent',
    auth_provider  text,
    auth_subject   text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, id),
    UNIQUE (account_id, email)
);

-- channels: where customer messages come from and replies go to (a mailbox, a chat, a shop).
CREATE TABLE channels (
    account_id   uuid         NOT NULL REFERENCES accounts (id),
    id           uuid         NOT NULL,
    type         channel_type NOT NULL,
    external_id  text         NOT NULL CHECK (external_id <> ''),
    name         text         NOT NULL,
    metadata     jsonb        NOT NULL DEFAULT '{}',
    created_at   timestamptz  NOT NULL DEFAULT now(),
    updated_at   timestamptz  NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, id),
    UNIQUE (account_id, external_id)
);

-- ---------------------------------------------------------------- conversations and messages

-- conversations: one customer thread of a channel, carries the review-feed position.
CREATE TABLE conversations (
    account_id        uuid                NOT NULL REFERENCES accounts (id),
    id                uuid                NOT NULL,
    channel_id        uuid                NOT NULL,
    external_id       text                NOT NULL CHECK (external_id <> ''),
    subject           text,
    status            conversation_status NOT NULL DEFAULT 'open',
    customer_email    text,
    customer_name     text,
    last_message_at   timestamptz,
    last_inbound_at   timestamptz,          -- time of the latest inbound message
    pending_draft_id  uuid,                 -- the current pending draft, if any
    feed_at           timestamptz,          -- = last_inbound_at while open, not deleted, with a pending draft, else NULL
    closed_at         timestamptz,          -- when status became 'closed' (retention), NULL otherwise
    deleted_at        timestamptz,          -- soft delete
    created_at        timestamptz         NOT NULL DEFAULT now(),
    updated_at        timestamptz         NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, id),
    UNIQUE (account_id, channel_id, external_id),
    FOREIGN KEY (account_id, channel_id) REFERENCES channels (account_id, id),
    CONSTRAINT conversations_feed_at_check CHECK (
        feed_at IS NULL
        OR (status = 'open' AND deleted_at IS NULL AND pending_draft_id IS NOT NULL)),
    CONSTRAINT conversations_closed_at_check CHECK (closed_at IS NULL OR status = 'closed')
);
-- (account_id, channel_id) is served by the unique key above.
CREATE INDEX conversations_feed_idx
    ON conversations (account_id, feed_at, id) WHERE feed_at IS NOT NULL;
CREATE INDEX conversations_channel_feed_idx
    ON conversations (account_id, channel_id, feed_at, id) WHERE feed_at IS NOT NULL;
CREATE INDEX conversations_created_idx
    ON conversations (account_id, created_at, id);
CREATE INDEX conversations_status_idx
    ON conversations (account_id, status, created_at, id);
CREATE INDEX conversations_customer_email_idx
    ON conversations (account_id, customer_email, created_at, id) WHERE customer_email IS NOT NULL;
CREATE INDEX conversations_updated_idx
    ON conversations (account_id, updated_at, id);
CREATE INDEX conversations_closed_idx          -- retention: blank bodies of long-closed conversations
    ON conversations (account_id, closed_at) WHERE status = 'closed';
CREATE INDEX conversations_deleted_idx         -- retention: remove soft-deleted after 30 days
    ON conversations (account_id, deleted_at) WHERE deleted_at IS NOT NULL;

-- messages: every inbound, outbound and system message, outbound ones are the outbox.
CREATE TABLE messages (
    account_id           uuid              NOT NULL REFERENCES accounts (id),
    id                   uuid              NOT NULL,
    conversation_id      uuid              NOT NULL,
    external_id          text,
    direction            message_direction NOT NULL,
    subject              text,
    body_text            text              NOT NULL,
    body_html            text,
    sent_at              timestamptz,
    metadata             jsonb             NOT NULL DEFAULT '{}',
    -- outbound delivery (NULL status for inbound and system messages)
    delivery_status      delivery_status,
    delivery_attempts    integer           NOT NULL DEFAULT 0 CHECK (delivery_attempts >= 0),
    delivery_last_error  text,
    delivered_at         timestamptz,
    lease_expires_at     timestamptz,
    next_attempt_at      timestamptz,      -- backoff: not claimable before, NULL = at once
    claimable_at         timestamptz GENERATED ALWAYS AS (
        CASE delivery_status
            WHEN 'pending' THEN coalesce(next_attempt_at, created_at)
            WHEN 'leased'  THEN lease_expires_at
        END) STORED,
    -- Full-text search over the first 10k characters of the subject and 100k
    -- of the body: a tsvector is limited to 1 MB, which a long body of short
    -- distinct words would exceed (and fail the INSERT).
    search_vector        tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english'::regconfig, left(coalesce(subject, ''), 10000)), 'A')
        || setweight(to_tsvector('english'::regconfig, left(body_text, 100000)), 'B')) STORED,
    created_at           timestamptz       NOT NULL DEFAULT now(),
    updated_at           timestamptz       NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, conversation_id)
        REFERENCES conversations (account_id, id) ON DELETE CASCADE,
    CONSTRAINT messages_delivery_outbound_check
        CHECK (delivery_status IS NULL OR direction = 'outbound'),
    CONSTRAINT messages_leased_check
        CHECK (delivery_status IS DISTINCT FROM 'leased' OR lease_expires_at IS NOT NULL),
    CONSTRAINT messages_delivered_check
        CHECK (delivery_status IS DISTINCT FROM 'delivered' OR delivered_at IS NOT NULL)
);
CREATE UNIQUE INDEX messages_external_id_key
    ON messages (account_id, conversation_id, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX messages_conversation_idx
    ON messages (account_id, conversation_id, created_at, id);
CREATE INDEX messages_search_idx
    ON messages USING gin (search_vector);
CREATE INDEX messages_outbox_claim_idx         -- oldest claimable (pending, or lease expired) first
    ON messages (account_id, claimable_at, id) WHERE claimable_at IS NOT NULL;
CREATE INDEX messages_outbox_status_idx        -- GET /v1/outbox?status=
    ON messages (account_id, delivery_status, created_at, id) WHERE delivery_status IS NOT NULL;

-- attachments: files of a message, the file lives in object storage, only its URL here.
CREATE TABLE attachments (
    account_id  uuid        NOT NULL REFERENCES accounts (id),
    id          uuid        NOT NULL,
    message_id  uuid        NOT NULL,
    file_name   text        NOT NULL,
    mime_type   text,
    size_bytes  bigint      CHECK (size_bytes >= 0),
    file_url    text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, message_id) REFERENCES messages (account_id, id) ON DELETE CASCADE
);
CREATE INDEX attachments_message_idx ON attachments (account_id, message_id, created_at, id);

-- ---------------------------------------------------------------- drafting and review

-- drafts: the AI-written reply to one inbound (trigger) message.
CREATE TABLE drafts (
    account_id          uuid         NOT NULL REFERENCES accounts (id),
    id                  uuid         NOT NULL,
    conversation_id     uuid         NOT NULL,
    trigger_message_id  uuid         NOT NULL,
    author_user_id      uuid,
    model_key           text         NOT NULL,
    prompt_version      text         NOT NULL,
    status              draft_status NOT NULL DEFAULT 'pending',
    suggested_text      text         NOT NULL,
    suggested_html      text,
    top_sources         jsonb        NOT NULL DEFAULT '[]',
    created_at          timestamptz  NOT NULL DEFAULT now(),
    updated_at          timestamptz  NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, id),
    UNIQUE (account_id, trigger_message_id),
    FOREIGN KEY (account_id, conversation_id)
        REFERENCES conversations (account_id, id) ON DELETE CASCADE,
    FOREIGN KEY (account_id, trigger_message_id)
        REFERENCES messages (account_id, id) ON DELETE CASCADE,
    FOREIGN KEY (account_id, author_user_id) REFERENCES users (account_id, id)
);
CREATE INDEX drafts_conversation_idx ON drafts (account_id, conversation_id, created_at, id);
CREATE INDEX drafts_status_idx ON drafts (account_id, status, created_at, id);  -- lists, retention (archived/superseded > 90 d)
CREATE INDEX drafts_author_idx ON drafts (account_id, author_user_id) WHERE author_user_id IS NOT NULL;
-- At most one pending draft per conversation: a new draft supersedes the
-- old pending one (UPDATE it first, then INSERT, in one transaction).
CREATE UNIQUE INDEX drafts_one_pending_key
    ON drafts (account_id, conversation_id) WHERE status = 'pending';

-- conversations.pending_draft_id -> drafts (declared here: the two tables refer to each other).
ALTER TABLE conversations
    ADD CONSTRAINT conversations_pending_draft_fkey
    FOREIGN KEY (account_id, pending_draft_id) REFERENCES drafts (account_id, id)
    ON DELETE SET NULL (pending_draft_id);
CREATE UNIQUE INDEX conversations_pending_draft_key
    ON conversations (account_id, pending_draft_id) WHERE pending_draft_id IS NOT NULL;

-- draft_actions: a person's approve/edit/reject of a draft (at most one per draft).
CREATE TABLE draft_actions (
    account_id  uuid        NOT NULL REFERENCES accounts (id),
    id          uuid        NOT NULL,
    draft_id    uuid        NOT NULL,
    user_id     uuid        NOT NULL,
    type        action_type NOT NULL,
    final_text  text,
    final_html  text,
    notes       text,
    diff_json   jsonb,
    message_id  uuid,                      -- the outbound message it produced (approve, edit)
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, id),
    UNIQUE (account_id, draft_id),
    FOREIGN KEY (account_id, draft_id) REFERENCES drafts (account_id, id) ON DELETE CASCADE,
    FOREIGN KEY (account_id, user_id) REFERENCES users (account_id, id),
    FOREIGN KEY (account_id, message_id) REFERENCES messages (account_id, id)
        ON DELETE SET NULL (message_id),
    CONSTRAINT draft_actions_edit_check CHECK (type <> 'edit' OR final_text IS NOT NULL),
    CONSTRAINT draft_actions_reject_check CHECK (type <> 'reject' OR message_id IS NULL)
);
CREATE INDEX draft_actions_created_idx ON draft_actions (account_id, created_at, id);
CREATE INDEX draft_actions_user_idx ON draft_actions (account_id, user_id, created_at, id);
CREATE UNIQUE INDEX draft_actions_message_key
    ON draft_actions (account_id, message_id) WHERE message_id IS NOT NULL;

-- learning_samples: suggested vs. sent text of an approve/edit, the corrections export.
CREATE TABLE learning_samples (
    account_id       uuid        NOT NULL REFERENCES accounts (id),
    id               uuid        NOT NULL,
    draft_id         uuid        NOT NULL,
    action_id        uuid        NOT NULL,
    original_text    text        NOT NULL,
    final_text       text        NOT NULL,
    diff_json        jsonb       NOT NULL DEFAULT '[]',
    embeddings_json  jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, id),
    UNIQUE (account_id, action_id),
    FOREIGN KEY (account_id, draft_id) REFERENCES drafts (account_id, id) ON DELETE CASCADE,
    FOREIGN KEY (account_id, action_id) REFERENCES draft_actions (account_id, id) ON DELETE CASCADE
);
CREATE INDEX learning_samples_created_idx ON learning_samples (account_id, created_at, id);
CREATE INDEX learning_samples_draft_idx ON learning_samples (account_id, draft_id);

-- draft_requests: the drafting queue, one request per inbound message, leased by workers.
CREATE TABLE draft_requests (
    account_id        uuid                 NOT NULL REFERENCES accounts (id),
    id                uuid                 NOT NULL,
    conversation_id   uuid                 NOT NULL,
    message_id        uuid                 NOT NULL,
    status            draft_request_status NOT NULL DEFAULT 'queued',
    attempts          integer              NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error        text,
    lease_expires_at  timestamptz,
    next_attempt_at   timestamptz,         -- backoff: not claimable before, NULL = at once
    worker_id         text,
    claimable_at      timestamptz GENERATED ALWAYS AS (
        CASE status
            WHEN 'queued' THEN coalesce(next_attempt_at, created_at)
            WHEN 'leased' THEN lease_expires_at
        END) STORED,
    created_at        timestamptz          NOT NULL DEFAULT now(),
    updated_at        timestamptz          NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, id),
    UNIQUE (account_id, message_id),
    FOREIGN KEY (account_id, conversation_id)
        REFERENCES conversations (account_id, id) ON DELETE CASCADE,
    FOREIGN KEY (account_id, message_id) REFERENCES messages (account_id, id) ON DELETE CASCADE,
    CONSTRAINT draft_requests_leased_check
        CHECK (status <> 'leased' OR lease_expires_at IS NOT NULL)
);
CREATE INDEX draft_requests_claim_idx           -- oldest queued (or lease expired) first
    ON draft_requests (account_id, claimable_at, id) WHERE claimable_at IS NOT NULL;
CREATE INDEX draft_requests_conversation_idx ON draft_requests (account_id, conversation_id);
CREATE INDEX draft_requests_status_idx ON draft_requests (account_id, status, created_at, id);

-- ---------------------------------------------------------------- jobs, knowledge base, notifications

-- job_runs: one run of a background job of the assistants service (crawl, ingest, sync).
CREATE TABLE job_runs (
    account_id   uuid        NOT NULL REFERENCES accounts (id),
    id           uuid        NOT NULL,
    type         job_type    NOT NULL,
    status       job_status  NOT NULL DEFAULT 'queued',
    started_at   timestamptz,
    finished_at  timestamptz,
    error        text,
    metrics      jsonb       NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, id),
    CONSTRAINT job_runs_started_check CHECK (status = 'queued' OR started_at IS NOT NULL),
    CONSTRAINT job_runs_finished_check
        CHECK ((status IN ('succeeded', 'failed')) = (finished_at IS NOT NULL))
);
CREATE INDEX job_runs_created_idx ON job_runs (account_id, created_at, id);
CREATE INDEX job_runs_type_status_idx ON job_runs (account_id, type, status, created_at, id);

-- source_documents: knowledge-base pages the drafts cite, with their refresh schedule.
CREATE TABLE source_documents (
    account_id       uuid        NOT NULL REFERENCES accounts (id),
    id               uuid        NOT NULL,
    source_url       text        NOT NULL CHECK (source_url <> ''),
    title            text,
    hash             text,
    indexed_at       timestamptz,
    next_refresh_at  timestamptz,
    metadata         jsonb       NOT NULL DEFAULT '{}',
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, id),
    UNIQUE (account_id, source_url)
);
CREATE INDEX source_documents_refresh_idx ON source_documents (account_id, next_refresh_at);
CREATE INDEX source_documents_created_idx ON source_documents (account_id, created_at, id);

-- notifications: events for the dashboard (draft.ready, draft.failed, ingest.failed, ...).
CREATE TABLE notifications (
    account_id  uuid        NOT NULL REFERENCES accounts (id),
    id          uuid        NOT NULL,
    user_id     uuid,                      -- NULL: for everyone in the account
    type        text        NOT NULL CHECK (type <> ''),
    payload     jsonb       NOT NULL DEFAULT '{}',
    read_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, user_id) REFERENCES users (account_id, id)
);
CREATE INDEX notifications_user_idx ON notifications (account_id, user_id, created_at, id);
CREATE INDEX notifications_created_idx ON notifications (account_id, created_at, id);
CREATE INDEX notifications_unread_idx
    ON notifications (account_id, user_id, created_at, id) WHERE read_at IS NULL;

-- ---------------------------------------------------------------- webhooks

-- webhook_events: every signed delivery as received, stored before it is processed.
CREATE TABLE webhook_events (
    account_id    uuid                 NOT NULL REFERENCES accounts (id),
    id            uuid                 NOT NULL,
    source        text                 NOT NULL,
    delivery_id   text,                -- NULL only when the body had none (stored as failed)
    topic         text,
    status        webhook_event_status NOT NULL DEFAULT 'received',
    error         text,
    payload       jsonb,               -- the delivery parsed, NULL when it was not JSON
    raw_body      text,
    received_at   timestamptz          NOT NULL DEFAULT now(),
    processed_at  timestamptz,
    result        jsonb,
    created_at    timestamptz          NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, id),
    UNIQUE (account_id, source, delivery_id)
);
CREATE INDEX webhook_events_received_idx ON webhook_events (account_id, received_at, id);
CREATE INDEX webhook_events_status_idx           -- ?status=, retention (succeeded/skipped > 14 d)
    ON webhook_events (account_id, status, received_at, id);
CREATE INDEX webhook_events_source_idx           -- ?source=, diagnostics per source/topic
    ON webhook_events (account_id, source, received_at, id);

-- webhook_subscriptions: the registry of provider subscriptions, one per (source, topic_key).
CREATE TABLE webhook_subscriptions (
    account_id             uuid        NOT NULL REFERENCES accounts (id),
    id                     uuid        NOT NULL,
    source                 text        NOT NULL CHECK (source <> ''),
    topic_key              text        NOT NULL CHECK (topic_key <> ''),
    delivery_method        text,
    callback_url           text,
    last_handshake_at      timestamptz,
    last_handshake_result  text,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, id),
    UNIQUE (account_id, source, topic_key)
);

-- ---------------------------------------------------------------- access, audit, idempotency

-- api_keys: bearer keys of an account, only the SHA-256 of a key is kept.
CREATE TABLE api_keys (
    account_id    uuid        NOT NULL REFERENCES accounts (id),
    id            uuid        NOT NULL,
    name          text        NOT NULL,
    scopes        text[]      NOT NULL,
    prefix        text        NOT NULL,    -- short visible start of the key
    key_hash      text        NOT NULL CHECK (key_hash ~ '^[0-9a-f]{64}$'),
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz,
    PRIMARY KEY (account_id, id),
    CONSTRAINT api_keys_key_hash_key UNIQUE (key_hash)  -- global on purpose: auth finds the account from it
);
CREATE INDEX api_keys_created_idx ON api_keys (account_id, created_at, id);

-- audit_log: every write made through the API: who, what, when, from where.
CREATE TABLE audit_log (
    account_id     uuid        NOT NULL REFERENCES accounts (id),
    id             uuid        NOT NULL,
    actor_key_id   uuid,
    actor_user_id  uuid,
    action         text        NOT NULL,
    resource_type  text        NOT NULL,
    resource_id    text,
    request_id     text,
    request_hash   text,                   -- hex SHA-256 of the raw request body
    ip             text,
    user_agent     text,
    at             timestamptz NOT NULL DEFAULT now(),
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, actor_key_id) REFERENCES api_keys (account_id, id),
    FOREIGN KEY (account_id, actor_user_id) REFERENCES users (account_id, id)
);
CREATE INDEX audit_log_at_idx ON audit_log (account_id, at, id);
CREATE INDEX audit_log_resource_idx ON audit_log (account_id, resource_type, resource_id, at, id);
CREATE INDEX audit_log_actor_key_idx ON audit_log (account_id, actor_key_id) WHERE actor_key_id IS NOT NULL;
CREATE INDEX audit_log_actor_user_idx ON audit_log (account_id, actor_user_id) WHERE actor_user_id IS NOT NULL;

-- idempotency_keys: first response to a POST with an Idempotency-Key, replayed for 24 h.
CREATE TABLE idempotency_keys (
    account_id       uuid        NOT NULL REFERENCES accounts (id),
    key              text        NOT NULL,
    method           text        NOT NULL,
    path             text        NOT NULL,
    request_hash     text        NOT NULL,
    state            text        NOT NULL DEFAULT 'in_flight' CHECK (state IN ('in_flight', 'done')),
    response_status  integer     CHECK (response_status BETWEEN 100 AND 599),
    response_body    text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz NOT NULL DEFAULT now() + interval '24 hours',
    PRIMARY KEY (account_id, key),
    CONSTRAINT idempotency_keys_done_check CHECK (state <> 'done' OR response_status IS NOT NULL)
);
CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires_at);

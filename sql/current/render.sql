-- render: the JSON shape of every resource of API.md, as it is now.
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
--
-- inboxd renders resource JSON inside PostgreSQL and passes the text through:
-- every query that answers with a resource (get, list, INSERT ... RETURNING,
-- feed, timeline, claims) calls the resource's inboxd_json_<resource>(row).
-- Each is a LANGUAGE sql STABLE function whose body is one json_build_object
-- expression, so the planner inlines it into the calling query (no function
-- call per row, and a field of the row becomes a plain column reference).
-- Keep them inlinable: one SELECT of one expression, no SET clause, no
-- SECURITY DEFINER, no STRICT, each non-row parameter used once.
--
-- json, not jsonb: json_build_object keeps the keys in the order written,
-- which is id first, then the fields in API.md's order, then createdAt and
-- updatedAt. jsonb columns go in as JSON values, text[] as a JSON array,
-- enums as strings, timestamps through inboxd_ts. Internal columns
-- (account_id where API.md does not show accountId, pending_draft_id,
-- feed_at, claimable_at, lease and backoff times, worker_id, raw_body,
-- search_vector, key_hash, ...) are never emitted.

-- ---------------------------------------------------------------- timestamps

-- A timestamp as RFC 3339 in UTC with milliseconds (2026-11-22T10:04:05.123Z), NULL stays NULL.
CREATE OR REPLACE FUNCTION inboxd_ts(t timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

-- ---------------------------------------------------------------- tenants and people

-- Account {id, name, createdAt, updatedAt}.
CREATE OR REPLACE FUNCTION inboxd_json_account(r accounts) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT json_build_object(
        'id', r.id,
        'name', r.name,
        'createdAt', inboxd_ts(r.created_at),
        'updatedAt', inboxd_ts(r.updated_at))
$$;

-- User {id, accountId, email, displayName, role, authProvider, authSubject, createdAt, updatedAt}.
CREATE OR REPLACE FUNCTION inboxd_json_user(r users) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT json_build_object(
        'id', r.id,
        'accountId', r.account_id,
        'email', r.email,
        'displayName', r.display_name,
        'role', r.role,
        'authProvider', r.auth_provider,
        'authSubject', r.auth_subject,
        'createdAt', inboxd_ts(r.created_at),
        'updatedAt', inboxd_ts(r.updated_at))
$$;

-- User {id, accountId, email, displayName, role, authProvider, authSubject, active, createdAt, updatedAt}: the User of v1.1 (active, migration 0012); inboxd_json_user stays for the binary one release older.
CREATE OR REPLACE FUNCTION inboxd_json_user_v2(r users) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT json_build_object(
        'id', r.id,
        'accountId', r.account_id,
        'email', r.email,
        'displayName', r.display_name,
        'role', r.role,
        'authProvider', r.auth_provider,
        'authSubject', r.auth_subject,
        'active', r.active,
        'createdAt', inboxd_ts(r.created_at),
        'updatedAt', inboxd_ts(r.updated_at))
$$;

-- Channel {id, accountId, type, externalId, name, metadata, createdAt, updatedAt}.
CREATE OR REPLACE FUNCTION inboxd_json_channel(r channels) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT json_build_object(
        'id', r.id,
        'accountId', r.account_id,
        'type', r.type,
        'externalId', r.external_id,
        'name', r.name,
        'metadata', r.metadata,
        'createdAt', inboxd_ts(r.created_at),
        'updatedAt', inboxd_ts(r.updated_at))
$$;

-- ---------------------------------------------------------------- conversations and messages

-- Conversation {id, accountId, channelId, externalId, subject, status, customerEmail, customerName, lastMessageAt, createdAt, updatedAt}.
CREATE OR REPLACE FUNCTION inboxd_json_conversation(r conversations) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT json_build_object(
        'id', r.id,
        'accountId', r.account_id,
        'channelId', r.channel_id,
        'externalId', r.external_id,
        'subject', r.subject,
        'status', r.status,
        'customerEmail', r.customer_email,
        'customerName', r.customer_name,
        'lastMessageAt', inboxd_ts(r.last_message_at),
        'createdAt', inboxd_ts(r.created_at),
        'updatedAt', inboxd_ts(r.updated_at))
$$;

-- Attachment {id, messageId, fileName, mimeType, sizeBytes, fileUrl, createdAt} (immutable, no updatedAt).
CREATE OR REPLACE FUNCTION inboxd_json_attachment(r attachments) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT json_build_object(
        'id', r.id,
        'messageId', r.message_id,
        'fileName', r.file_name,
        'mimeType', r.mime_type,
        'sizeBytes', r.size_bytes,
        'fileUrl', r.file_url,
        'createdAt', inboxd_ts(r.created_at))
$$;

-- A message's attachments as a JSON array, oldest first, [] when it has none.
CREATE OR REPLACE FUNCTION inboxd_message_attachments(account uuid, message uuid) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT coalesce(
        (SELECT json_agg(inboxd_json_attachment(a) ORDER BY a.created_at, a.id)
         FROM attachments a
         WHERE a.account_id = $1 AND a.message_id = $2),
        '[]'::json)
$$;

-- Message {id, conversationId, externalId, direction, subject, bodyText, bodyHtml, sentAt, metadata, attachments, delivery, createdAt, updatedAt}, attachments rendered by the caller, delivery null unless outbound.
CREATE OR REPLACE FUNCTION inboxd_json_message(m messages, attachments json) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT json_build_object(
        'id', m.id,
        'conversationId', m.conversation_id,
        'externalId', m.external_id,
        'direction', m.direction,
        'subject', m.subject,
        'bodyText', m.body_text,
        'bodyHtml', m.body_html,
        'sentAt', inboxd_ts(m.sent_at),
        'metadata', m.metadata,
        'attachments', attachments,
        'delivery', CASE WHEN m.direction = 'outbound' THEN json_build_object(
            'status', m.delivery_status,
            'attempts', m.delivery_attempts,
            'lastError', m.delivery_last_error,
            'deliveredAt', inboxd_ts(m.delivered_at)) END,
        'createdAt', inboxd_ts(m.created_at),
        'updatedAt', inboxd_ts(m.updated_at))
$$;

-- An outbox item's message: the Message with leaseExpiresAt (when its
-- lease ends while leased, else null) after its last key, as text for the
-- claim to splice its conversation and channel into (src/db/outbox.c).
CREATE OR REPLACE FUNCTION inboxd_json_outbox_message(m messages, attachments json) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT left(inboxd_json_message(m, attachments)::text, -1)
           || ', "leaseExpiresAt" : ' || coalesce(to_json(inboxd_ts(m.lease_expires_at))::text, 'null')
           || '}'
$$;

-- ---------------------------------------------------------------- drafting and review

-- Draft {id, conversationId, triggerMessageId, authorUserId, modelKey, promptVersion, status, suggestedText, suggestedHtml, topSources, createdAt, updatedAt}.
CREATE OR REPLACE FUNCTION inboxd_json_draft(r drafts) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT json_build_object(
        'id', r.id,
        'conversationId', r.conversation_id,
        'triggerMessageId', r.trigger_message_id,
        'authorUserId', r.author_user_id,
        'modelKey', r.model_key,
        'promptVersion', r.prompt_version,
        'status', r.status,
        'suggestedText', r.suggested_text,
        'suggestedHtml', r.suggested_html,
        'topSources', r.top_sources,
        'createdAt', inboxd_ts(r.created_at),
        'updatedAt', inboxd_ts(r.updated_at))
$$;

-- A draft's attachments (0013) as a JSON array, in the order given, [] when
-- it has none; each an Attachment, its messageId null.
CREATE OR REPLACE FUNCTION inboxd_draft_attachments(account uuid, draft uuid) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT coalesce(
        (SELECT json_agg(inboxd_json_attachment(a) ORDER BY a.created_at, a.id)
         FROM attachments a
         WHERE a.account_id = $1 AND a.draft_id = $2),
        '[]'::json)
$$;

-- Draft v2: inboxd_json_draft's keys, then attachments (0013), spliced in
-- before the closing brace so that the keys are listed once.
CREATE OR REPLACE FUNCTION inboxd_json_draft_v2(r drafts) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT (left(inboxd_json_draft(r)::text, -1)
            || ', "attachments" : ' || inboxd_draft_attachments(r.account_id, r.id)::text
            || '}')::json
$$;

-- DraftAction {id, draftId, userId, type, finalText, finalHtml, notes, diffJson, messageId, createdAt} (immutable, no updatedAt).
CREATE OR REPLACE FUNCTION inboxd_json_draft_action(r draft_actions) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT json_build_object(
        'id', r.id,
        'draftId', r.draft_id,
        'userId', r.user_id,
        'type', r.type,
        'finalText', r.final_text,
        'finalHtml', r.final_html,
        'notes', r.notes,
        'diffJson', r.diff_json,
        'messageId', r.message_id,
        'createdAt', inboxd_ts(r.created_at))
$$;

-- LearningSample {id, draftId, actionId, originalText, finalText, diffJson, embeddingsJson, createdAt} (immutable, no updatedAt).
CREATE OR REPLACE FUNCTION inboxd_json_learning_sample(r learning_samples) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT json_build_object(
        'id', r.id,
        'draftId', r.draft_id,
        'actionId', r.action_id,
        'originalText', r.original_text,
        'finalText', r.final_text,
        'diffJson', r.diff_json,
        'embeddingsJson', r.embeddings_json,
        'createdAt', inboxd_ts(r.created_at))
$$;

-- DraftRequest {id, conversationId, messageId, status, attempts, lastError, leaseExpiresAt, createdAt, updatedAt}.
CREATE OR REPLACE FUNCTION inboxd_json_draft_request(r draft_requests) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT json_build_object(
        'id', r.id,
        'conversationId', r.conversation_id,
        'messageId', r.message_id,
        'status', r.status,
        'attempts', r.attempts,
        'lastError', r.last_error,
        'leaseExpiresAt', inboxd_ts(r.lease_expires_at),
        'createdAt', inboxd_ts(r.created_at),
        'updatedAt', inboxd_ts(r.updated_at))
$$;

-- ---------------------------------------------------------------- jobs, knowledge base, notifications

-- JobRun {id, accountId, type, status, startedAt, finishedAt, error, metrics, createdAt, updatedAt}.
CREATE OR REPLACE FUNCTION inboxd_json_job_run(r job_runs) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT json_build_object(
        'id', r.id,
        'accountId', r.account_id,
        'type', r.type,
        'status', r.status,
        'startedAt', inboxd_ts(r.started_at),
        'finishedAt', inboxd_ts(r.finished_at),
        'error', r.error,
        'metrics', r.metrics,
        'createdAt', inboxd_ts(r.created_at),
        'updatedAt', inboxd_ts(r.updated_at))
$$;

-- SourceDocument {id, accountId, sourceUrl, title, hash, indexedAt, nextRefreshAt, metadata, createdAt, updatedAt}.
CREATE OR REPLACE FUNCTION inboxd_json_source_document(r source_documents) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT json_build_object(
        'id', r.id,
        'accountId', r.account_id,
        'sourceUrl', r.source_url,
        'title', r.title,
        'hash', r.hash,
        'indexedAt', inboxd_ts(r.indexed_at),
        'nextRefreshAt', inboxd_ts(r.next_refresh_at),
        'metadata', r.metadata,
        'createdAt', inboxd_ts(r.created_at),
        'updatedAt', inboxd_ts(r.updated_at))
$$;

-- Notification {id, accountId, userId, type, payload, readAt, createdAt, updatedAt}, the table has no updated_at and marking read is its only change, so updatedAt is readAt, else createdAt.
CREATE OR REPLACE FUNCTION inboxd_json_notification(r notifications) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT json_build_object(
        'id', r.id,
        'accountId', r.account_id,
        'userId', r.user_id,
        'type', r.type,
        'payload', r.payload,
        'readAt', inboxd_ts(r.read_at),
        'createdAt', inboxd_ts(r.created_at),
        'updatedAt', inboxd_ts(greatest(r.created_at, r.read_at)))
$$;

-- ---------------------------------------------------------------- webhooks

-- WebhookEvent {id, source, deliveryId, topic, status, error, payload, receivedAt, processedAt, result, createdAt, updatedAt}, the table has no updated_at and processing (or a replay) is its only change, so updatedAt is processedAt, else createdAt.
CREATE OR REPLACE FUNCTION inboxd_json_webhook_event(r webhook_events) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT json_build_object(
        'id', r.id,
        'source', r.source,
        'deliveryId', r.delivery_id,
        'topic', r.topic,
        'status', r.status,
        'error', r.error,
        'payload', r.payload,
        'receivedAt', inboxd_ts(r.received_at),
        'processedAt', inboxd_ts(r.processed_at),
        'result', r.result,
        'createdAt', inboxd_ts(r.created_at),
        'updatedAt', inboxd_ts(greatest(r.created_at, r.processed_at)))
$$;

-- WebhookEvent v2: inboxd_json_webhook_event's keys and, from a replay with
-- a corrected payload (0013), correctedPayload (the payload processed in
-- place of the stored one, which stays as delivered) and correctedAt; both
-- null for an event never corrected. updatedAt is unchanged: the
-- correction is made by the replay that processed it.
CREATE OR REPLACE FUNCTION inboxd_json_webhook_event_v2(r webhook_events) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT json_build_object(
        'id', r.id,
        'source', r.source,
        'deliveryId', r.delivery_id,
        'topic', r.topic,
        'status', r.status,
        'error', r.error,
        'payload', r.payload,
        'correctedPayload', r.corrected_payload,
        'correctedAt', inboxd_ts(r.corrected_at),
        'receivedAt', inboxd_ts(r.received_at),
        'processedAt', inboxd_ts(r.processed_at),
        'result', r.result,
        'createdAt', inboxd_ts(r.created_at),
        'updatedAt', inboxd_ts(greatest(r.created_at, r.processed_at)))
$$;

-- WebhookSubscription {id, source, topicKey, deliveryMethod, callbackUrl, lastHandshakeAt, lastHandshakeResult, createdAt, updatedAt}.
CREATE OR REPLACE FUNCTION inboxd_json_webhook_subscription(r webhook_subscriptions) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT json_build_object(
        'id', r.id,
        'source', r.source,
        'topicKey', r.topic_key,
        'deliveryMethod', r.delivery_method,
        'callbackUrl', r.callback_url,
        'lastHandshakeAt', inboxd_ts(r.last_handshake_at),
        'lastHandshakeResult', r.last_handshake_result,
        'createdAt', inboxd_ts(r.created_at),
        'updatedAt', inboxd_ts(r.updated_at))
$$;

-- ---------------------------------------------------------------- access, audit

-- ApiKey {id, name, scopes, prefix, createdAt, lastUsedAt, revokedAt}, never key_hash (changes show in lastUsedAt and revokedAt, no updatedAt).
CREATE OR REPLACE FUNCTION inboxd_json_api_key(r api_keys) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT json_build_object(
        'id', r.id,
        'name', r.name,
        'scopes', r.scopes,
        'prefix', r.prefix,
        'createdAt', inboxd_ts(r.created_at),
        'lastUsedAt', inboxd_ts(r.last_used_at),
        'revokedAt', inboxd_ts(r.revoked_at))
$$;

-- AuditEntry {id, actorKeyId, actorUserId, action, resourceType, resourceId, requestId, requestHash, ip, userAgent, at, createdAt} (immutable, no updatedAt).
CREATE OR REPLACE FUNCTION inboxd_json_audit_entry(r audit_log) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT json_build_object(
        'id', r.id,
        'actorKeyId', r.actor_key_id,
        'actorUserId', r.actor_user_id,
        'action', r.action,
        'resourceType', r.resource_type,
        'resourceId', r.resource_id,
        'requestId', r.request_id,
        'requestHash', r.request_hash,
        'ip', r.ip,
        'userAgent', r.user_agent,
        'at', inboxd_ts(r.at),
        'createdAt', inboxd_ts(r.created_at))
$$;

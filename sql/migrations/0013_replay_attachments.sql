-- 0013_replay_attachments: a replayed webhook event's corrected payload, and
-- attachments on drafts.
--
-- Runs inside the one transaction the migrator opens: no BEGIN/COMMIT here.
-- Every change here is one a binary one release older does not notice: it
-- never names the new columns, and every attachment it writes or reads has
-- a message (its statements all name message_id).

-- ---------------------------------------------------------------- replay with a corrected payload

-- POST /v1/webhooks/events/{id}/replay {"payload": {...}}: the payload the
-- event was processed with instead of the one delivered, which stays in
-- `payload` and `raw_body` untouched; corrected_at is when. Who corrected
-- it is the audit row "webhook_event.correct" of the same transaction (the
-- key, the acting request, the SHA-256 of the request body). NULL: never
-- corrected. Retention blanks and deletes it with the event's payload.
ALTER TABLE webhook_events ADD COLUMN corrected_payload jsonb,
                           ADD COLUMN corrected_at timestamptz;

-- ---------------------------------------------------------------- attachments of drafts

-- The seed's attachments are "file references associated to messages or
-- drafts": an attachment belongs to exactly one of a message or a draft.
-- A draft's are copied (as new rows of the outbound message) when an
-- approve or edit sends it; they go with the draft (ON DELETE CASCADE,
-- as a message's go with the message).
ALTER TABLE attachments ALTER COLUMN message_id DROP NOT NULL,
                        ADD COLUMN draft_id uuid;
ALTER TABLE attachments ADD CONSTRAINT attachments_owner_check
    CHECK (num_nonnulls(message_id, draft_id) = 1);
ALTER TABLE attachments ADD CONSTRAINT attachments_draft_fk
    FOREIGN KEY (account_id, draft_id) REFERENCES drafts (account_id, id) ON DELETE CASCADE;
-- A draft's attachments in order, as a message's are found by
-- attachments_message_idx. (Plain CREATE INDEX: migrations run in a
-- transaction; see 0010.)
CREATE INDEX attachments_draft_idx
    ON attachments (account_id, draft_id, created_at, id) WHERE draft_id IS NOT NULL;

-- 0010_lifecycle: retention of every table, and the commit watermark of
-- the corrections export.
--
-- Runs inside the one transaction the migrator opens: no BEGIN/COMMIT here.
-- (migrate.c runs each file in one transaction, so the CREATE INDEX
-- statements below cannot be CONCURRENTLY yet; each is a plain CREATE
-- INDEX that becomes CONCURRENTLY, unchanged otherwise, once migrations may
-- run outside a transaction.)

-- ---------------------------------------------------------------- the watermark

-- learning_samples.write_xid: the id of the transaction that wrote the
-- row (xid8: 64 bits with the epoch, never wraps). The export hands out
-- rows in (write_xid, id) order, and only those below inboxd_watermark()
-- (sql/current/positions.sql): every transaction below it has ended, so
-- no row can later appear behind a position already handed out, however
-- long a writer's transaction stays open (README, "Architecture").
--
-- Rows written before this migration hold 0, ordered among themselves by
-- id: all of them were committed before the ALTER TABLE (it waits for
-- their writers), so any order is final. The constant default is stored
-- once in the catalog (no table rewrite); the default for new rows is
-- then the writer's own transaction id, which also covers a binary one
-- release older that inserts without naming the column.
ALTER TABLE learning_samples ADD COLUMN write_xid xid8 NOT NULL DEFAULT '0';
ALTER TABLE learning_samples ALTER COLUMN write_xid SET DEFAULT pg_current_xact_id();

CREATE INDEX learning_samples_xid_idx ON learning_samples (account_id, write_xid, id);

-- ---------------------------------------------------------------- retention

-- Idempotency keys go once past their window, per account (every sweep
-- statement is per account); the global index on expires_at served no
-- query.
CREATE INDEX idempotency_keys_account_expires_idx ON idempotency_keys (account_id, expires_at);
DROP INDEX idempotency_keys_expires_idx;

-- The webhook events that made a conversation's messages, found from the
-- conversation when its copied text is blanked (webhook_events.result
-- holds the conversationId of a processed delivery).
CREATE INDEX webhook_events_conversation_idx
    ON webhook_events (account_id, (result ->> 'conversationId'))
    WHERE result ->> 'conversationId' IS NOT NULL;

-- Blanking now covers drafts, actions, subjects and webhook payloads too:
-- the conversations marked done under the old rule (messages only) are
-- due once more, and the next sweeps finish them in batches.
UPDATE conversations SET bodies_blanked_at = NULL WHERE bodies_blanked_at IS NOT NULL;

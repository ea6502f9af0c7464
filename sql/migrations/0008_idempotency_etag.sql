-- 0008_idempotency_etag: an idempotent repeat gets the first answer's ETag.
--
-- Runs inside the one transaction the migrator opens: no BEGIN/COMMIT here.
--
-- API.md: a repeat "returns the first response". A POST that creates a
-- job run or a draft answers with an ETag, which the caller needs for
-- If-Match later; the record kept the status and body only, so a replay
-- lost it.
ALTER TABLE idempotency_keys ADD COLUMN response_etag text;

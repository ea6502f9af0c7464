-- 0009_list_indexes: indexes behind two lists that scanned at scale.
--
-- Runs inside the one transaction the migrator opens: no BEGIN/COMMIT here.
--
-- On the benchmark's data (100,000 conversations, 57,000 drafts):
-- - GET /v1/drafts without a filter sorted every draft of the account
--   (parallel seq scan, hash join, top-N sort): 819 ms for the first page.
--   drafts_created_idx lets it walk (created_at, id) from the cursor.
-- - GET /v1/conversations?customerEmail= compares lower(customer_email) and
--   pages by id; the index on customer_email itself could serve neither,
--   so the primary key was walked and 99,997 rows filtered away: 57 ms.
--   No query uses the old index.
CREATE INDEX drafts_created_idx ON drafts (account_id, created_at, id);

DROP INDEX conversations_customer_email_idx;
CREATE INDEX conversations_customer_email_idx
    ON conversations (account_id, lower(customer_email), id) WHERE customer_email IS NOT NULL;

-- inboxd: no-transaction
-- The "next release" migration of the tests (INBOXD_TEST_MIGRATIONS_DIR,
-- debug builds only): an index on a large table, built concurrently, the
-- way a real one must be (README "Rolling upgrades").
CREATE INDEX CONCURRENTLY IF NOT EXISTS messages_test_upgrade_idx
    ON messages (account_id, created_at);

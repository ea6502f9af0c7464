-- 0012_callers: what the callers' everyday gaps need from the schema
-- (issue 17): reviewers found by their identity provider and deactivated,
-- and the review queue's counts kept as rows.
--
-- Runs inside the one transaction the migrator opens: no BEGIN/COMMIT here.

-- ---------------------------------------------------------------- users

-- A user may be deactivated (PATCH {"active": false}): a deactivated
-- reviewer's actions are refused. Rows before this migration are active.
-- A constant default is stored in the catalog: no table rewrite.
ALTER TABLE users ADD COLUMN active boolean NOT NULL DEFAULT true;

-- A user is found by the subject their identity provider gives them
-- (GET /v1/users?authProvider=&authSubject=), which names one user of an
-- account. Users without an identity (either column NULL) never collide:
-- NULLs are distinct in a unique index. This fails, naming the pair, on
-- a database where two users of one account already share a pair; give
-- one of them another subject (or none) and migrate again.
CREATE UNIQUE INDEX users_auth_subject_key ON users (account_id, auth_provider, auth_subject);

-- ---------------------------------------------------------------- the review queue's counts

-- feed_counts: how many conversations of a channel are in the review
-- queue (conversations.feed_at IS NOT NULL), for GET /v1/feed/summary,
-- which must not count the queue row by row. One row per (account,
-- channel), so writers of different channels never wait for each other.
-- The rows are kept by triggers on conversations (inboxd_feed_count() in
-- sql/current/feed.sql), in the transaction that moves a conversation in
-- or out of the queue, whichever statement does it (a draft, an action,
-- a status change, a delete, retention): the count is exact at every
-- snapshot. A row at 0 stays, so a busy channel does not insert and
-- delete its row over and over.
CREATE TABLE feed_counts (
    account_id  uuid    NOT NULL,
    channel_id  uuid    NOT NULL,
    n           bigint  NOT NULL CHECK (n >= 0),
    PRIMARY KEY (account_id, channel_id),
    FOREIGN KEY (account_id, channel_id) REFERENCES channels (account_id, id) ON DELETE CASCADE
);

-- The function the triggers run; sql/current/feed.sql defines it again
-- (the same text), as it does every function.
CREATE FUNCTION inboxd_feed_count() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_OP <> 'INSERT' AND OLD.feed_at IS NOT NULL THEN
        UPDATE feed_counts SET n = n - 1
        WHERE account_id = OLD.account_id AND channel_id = OLD.channel_id;
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.feed_at IS NOT NULL THEN
        INSERT INTO feed_counts AS f (account_id, channel_id, n)
        VALUES (NEW.account_id, NEW.channel_id, 1)
        ON CONFLICT (account_id, channel_id) DO UPDATE SET n = f.n + 1;
    END IF;
    RETURN NULL;
END
$$;

-- Only a row that enters or leaves the queue (or moves to another
-- channel while in it) runs the function: a new inbound message that only
-- moves feed_at, and every update that does not name feed_at or
-- channel_id, costs nothing.
CREATE TRIGGER conversations_feed_count_insert
    AFTER INSERT ON conversations
    FOR EACH ROW WHEN (NEW.feed_at IS NOT NULL)
    EXECUTE FUNCTION inboxd_feed_count();
CREATE TRIGGER conversations_feed_count_update
    AFTER UPDATE OF feed_at, channel_id ON conversations
    FOR EACH ROW WHEN ((OLD.feed_at IS NULL) <> (NEW.feed_at IS NULL)
                       OR (OLD.feed_at IS NOT NULL AND OLD.channel_id <> NEW.channel_id))
    EXECUTE FUNCTION inboxd_feed_count();
CREATE TRIGGER conversations_feed_count_delete
    AFTER DELETE ON conversations
    FOR EACH ROW WHEN (OLD.feed_at IS NOT NULL)
    EXECUTE FUNCTION inboxd_feed_count();

-- The queue as it is. CREATE TRIGGER above took a lock on conversations
-- that keeps every writer out until this transaction commits, so nothing
-- enters or leaves the queue between this count and the triggers.
INSERT INTO feed_counts (account_id, channel_id, n)
SELECT account_id, channel_id, count(*)
FROM conversations
WHERE feed_at IS NOT NULL
GROUP BY account_id, channel_id;

-- 0012_callers: what the callers' everyday gaps need from the schema
-- (issue 17): reviewers found by their identity provider and deactivated.
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

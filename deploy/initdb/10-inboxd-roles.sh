#!/bin/sh
# The postgres image runs this once, as the superuser, when the volume is
# first initialised: inboxd's login roles with their passwords (from the
# compose secrets), and the runtime role's timeouts. They are set on the
# role because behind PgBouncer's transaction pooling inboxd's own
# per-connection SET does not follow it from one server connection to the
# next (pgbouncer.ini). `inboxd roles` then grants; it keeps roles that
# exist as they are.
set -eu
psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname "$POSTGRES_DB" \
  -v owner_pw="$(cat /run/secrets/owner_password)" \
  -v runtime_pw="$(cat /run/secrets/runtime_password)" <<'SQL'
CREATE ROLE inboxd_owner LOGIN PASSWORD :'owner_pw';
CREATE ROLE inboxd_runtime LOGIN PASSWORD :'runtime_pw';
-- statement_timeout_ms and lock_timeout_ms (README, "Configuration").
ALTER ROLE inboxd_runtime SET statement_timeout = '10s';
ALTER ROLE inboxd_runtime SET lock_timeout = '5s';
SQL

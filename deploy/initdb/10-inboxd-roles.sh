#!/bin/sh
# The postgres image runs this once, as the superuser, when the volume is
# first initialised: inboxd's login roles with their passwords (from the
# compose secrets), and the runtime role's timeouts. `inboxd serve` sends
# its own with each transaction (pgbouncer.ini); the role's are the floor
# for what connects as inboxd_runtime without them (the command line
# through PgBouncer). `inboxd roles` then grants; it keeps roles that
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

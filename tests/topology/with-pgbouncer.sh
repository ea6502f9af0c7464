#!/usr/bin/env bash
# tests/topology/with-pgbouncer.sh SUITE [ARGS...] — runs an integration
# suite with inboxd behind PgBouncer in transaction mode (prepare = false):
# a PgBouncer in a temporary folder in front of the cluster of
# INBOXD_TEST_DATABASE_URL, whose host and port the harness appends to
# inboxd's conninfo (INBOXD_TEST_POOLER). The suite's own SQL goes
# straight to PostgreSQL. Stopped on every exit.
set -euo pipefail
here="$(dirname "${BASH_SOURCE[0]}")"
# shellcheck source=../pg.sh
source "$here/../pg.sh"
# shellcheck source=pgbouncer.sh
source "$here/pgbouncer.sh"

: "${INBOXD_TEST_DATABASE_URL:?run it through ./dev.sh test}"
pghost="$(sed -n 's/.*host=\([^ ]*\).*/\1/p' <<<"$INBOXD_TEST_DATABASE_URL")"
[ -n "$pghost" ] || { echo "no host= in INBOXD_TEST_DATABASE_URL" >&2; exit 1; }
dir="$(mktemp -d /tmp/inboxd-pgb.XXXXXX)"
chmod 755 "$dir"
cleanup() {
  local rc=$?
  pgb_stop "$dir" || true
  [ "$rc" -ne 0 ] && tail -n 30 "$dir/pgbouncer.log" 2>/dev/null
  rm -rf "$dir"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
pgb_start "$dir" "$pghost"
INBOXD_TEST_POOLER="$(pgb_url "$dir")" "$@"
# The suite passing proves nothing unless inboxd went through PgBouncer
# (which logs each client's login; SHOW STATS is refreshed only now and
# then).
logins="$(grep -c 'login attempt: db=inboxd_t_.* user=inboxd_runtime' "$dir/pgbouncer.log" || true)"
echo "with-pgbouncer: inboxd logged in to PgBouncer $logins times"
[ "$logins" -gt 0 ]

#!/usr/bin/env bash
# tests/stories/with_replica.sh SUITE [ARGS...] — runs a criterion suite
# beside a streaming hot standby of the test cluster (tests/pg.sh
# pg_replica): INBOXD_TEST_REPLICA_URL is its conninfo (superuser,
# database postgres), INBOXD_TEST_REPLICA_STOP / _START stop and start it.
# The standby lives in a temporary folder and is removed on every exit.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../pg.sh"

: "${INBOXD_TEST_PG_RESTART:?run the tests with ./dev.sh test}"
primary="$(dirname "$INBOXD_TEST_PG_RESTART")"
dir="$(mktemp -d /tmp/inboxd-replica.XXXXXX)"
chmod 755 "$dir"
cleanup() {
  local rc=$?
  pg_stop "$dir/standby" >/dev/null 2>&1 || true
  # The standby's own story, without the tests' polls for a database it
  # does not have yet.
  [ "$rc" -ne 0 ] && [ -f "$dir/standby/log" ] && grep -v 'database ".*" does not exist' \
    "$dir/standby/log" | tail -n 60
  rm -rf "$dir"
  exit "$rc"
}
trap cleanup EXIT
pg_replica "$primary" "$dir/standby"
INBOXD_TEST_REPLICA_URL="$(pg_url "$dir/standby")"
export INBOXD_TEST_REPLICA_URL
export INBOXD_TEST_REPLICA_STOP="$dir/standby/stop.sh"
export INBOXD_TEST_REPLICA_START="$dir/standby/start.sh"
"$@"

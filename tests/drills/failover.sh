#!/usr/bin/env bash
# tests/drills/failover.sh INBOXD — failover without a restart (README
# "Failover"): inboxd serves a multi-host DATABASE_URL (the primary, then
# its streaming standby, target_session_attrs=read-write); the primary is
# stopped and the standby promoted (pg_ctl promote), and the same inboxd
# process writes to the new primary. Nothing acknowledged before the
# stop is lost (the fast shutdown sends the standby all WAL first).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
drill_init "${1:?usage: failover.sh INBOXD}"

drill_cluster primary
set_up_db primary
DRILL_CLUSTERS+=("$DRILL/standby")
pg_replica "$DRILL/primary" "$DRILL/standby"

url="host=$DRILL/primary,$DRILL/standby port=$PG_PORT dbname=inboxd user=inboxd_runtime"
url="$url target_session_attrs=read-write connect_timeout=5"
serve primary "$url"
pid="$SERVE_PID"
add_users before 1 20

# The standby has replayed them all (it answers reads as any standby).
standby_users() {
  [ "$(psql -X -A -t -q -d "$(pg_url "$DRILL/standby") dbname=inboxd" \
    -c "SELECT count(*) FROM users WHERE email LIKE 'before-%'")" = "$1" ]
}
wait_for "the standby to replay the writes" 60 standby_users 20

pg_stop "$DRILL/primary"
stopped=$SECONDS
# Until a primary is back every write is a 503 with Retry-After, never a
# hang or a 500 (checked once; wait_for below retries through them).
code="$(curl -sS -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $KEY" \
  -H 'Content-Type: application/json' --data-binary '{"type":"crawl"}' "$BASE/v1/jobs")"
[ "$code" = 503 ] || { echo "drill: a write with no primary answered $code, not 503" >&2; exit 1; }

_pg_run "$(pg_bindir)/pg_ctl" -D "$DRILL/standby/data" -w -t 60 promote >/dev/null
promoted=$SECONDS
write_job() { api POST /v1/jobs '{"type":"crawl"}'; }
wait_for "a write on the promoted standby" 60 write_job
figure "seconds from promote to a write that succeeds" "$((SECONDS - promoted))"
figure "seconds from the primary's stop to a write" "$((SECONDS - stopped))"
add_users after 1 20

kill -0 "$pid" || { echo "drill: inboxd is gone" >&2; exit 1; }
[ "$SERVE_PID" = "$pid" ] || { echo "drill: inboxd was restarted" >&2; exit 1; }
n="$(psql -X -A -t -q -d "$(pg_url "$DRILL/standby") dbname=inboxd" -c 'SELECT count(*) FROM users')"
[ "$n" -ge 40 ] || { echo "drill: $n users on the new primary, expected 40" >&2; exit 1; }
figure "users on the new primary (20 before, 20 after)" "$n"
figure "inboxd restarts" 0

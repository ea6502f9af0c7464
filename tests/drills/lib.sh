# shellcheck shell=bash
# tests/drills/lib.sh — what the drills share: a temporary folder cleaned up
# on every exit, throwaway clusters in it (tests/pg.sh), inboxd served from
# the built binary, and the API through curl.
#
#   drill_init INBOXD    the binary; makes $DRILL (mode 755, for postgres)
#   drill_cluster NAME   starts a cluster in $DRILL/NAME (its own socket
#                        folder), remembered for the cleanup
#   db_url NAME [ROLE]   conninfo of database "inboxd" there, as ROLE
#   sql NAME QUERY       one value, as the superuser
#   serve NAME URL       inboxd serve on a free port; sets $BASE
#   unserve              stops it (SIGTERM, waits)
#   api METHOD PATH [BODY]   prints the body; fails unless 2xx
#   wait_for DESC SECONDS CMD...  polls CMD until it succeeds
#   figure NAME VALUE    prints "drill: NAME = VALUE" for the report
set -euo pipefail

# shellcheck source=../pg.sh
source "$(dirname "${BASH_SOURCE[0]}")/../pg.sh"

DRILL=""
DRILL_CLUSTERS=()
SERVE_PID=""
BASE=""
KEY=""

drill_cleanup() {
  local rc=$? c
  trap - EXIT
  unserve || true
  for c in "${DRILL_CLUSTERS[@]}"; do
    pg_stop "$c" || true
  done
  if [ "$rc" -ne 0 ] && [ -n "$DRILL" ]; then
    for c in "$DRILL"/*/log "$DRILL"/serve.log "$DRILL"/pgbackrest-log/*; do
      [ -f "$c" ] && { echo "---- $c (last lines)"; tail -n 30 "$c"; }
    done
  fi
  [ -n "$DRILL" ] && rm -rf "$DRILL"
  exit "$rc"
}

drill_init() {
  INBOXD="$(realpath "${1:?usage: drill_init INBOXD}")"
  [ -x "$INBOXD" ] || { echo "no inboxd binary at $INBOXD" >&2; exit 1; }
  DRILL="$(mktemp -d /tmp/inboxd-drill.XXXXXX)"
  chmod 755 "$DRILL"
  trap drill_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

drill_cluster() {
  DRILL_CLUSTERS+=("$DRILL/$1")
  pg_start "$DRILL/$1"
}

db_url() {
  printf '%s dbname=inboxd%s\n' "$(pg_url "$DRILL/$1")" "${2:+ user=$2}"
}

sql() {
  psql -X -A -t -q -v ON_ERROR_STOP=1 -d "$(db_url "$1")" -c "$2"
}

# wait_for DESC SECONDS CMD...: a condition, never a sleep of a guessed length.
wait_for() {
  local desc="$1" secs="$2" start=$SECONDS
  shift 2
  until "$@" >/dev/null 2>&1; do
    if [ $((SECONDS - start)) -ge "$secs" ]; then
      echo "drill: gave up after ${secs}s waiting for $desc" >&2
      return 1
    fi
    sleep 0.2
  done
}

# Served: the start line is whole (its port reads) and /healthz answers
# there. The line alone was once not enough: a request sent right after
# it never showed in the log, and the drill stopped without a word.
_served() {
  local port
  port="$(grep '"event":"server.start"' "$DRILL/serve.log" | jq -r .port 2>/dev/null)" || return 1
  [ -n "$port" ] && [ "$port" != null ] || return 1
  curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz"
}

serve() {
  local url="$2" port
  "$INBOXD" --config /dev/null --database-url "$url" --listen 127.0.0.1:0 \
    --log-level info serve 2>"$DRILL/serve.log" &
  SERVE_PID=$!
  if ! wait_for "inboxd to serve" 60 _served; then
    # Why: inboxd's own words (it may have exited, or still wait).
    kill -0 "$SERVE_PID" 2>/dev/null || echo "drill: inboxd serve exited" >&2
    tail -n 20 "$DRILL/serve.log" >&2
    return 1
  fi
  port="$(grep '"event":"server.start"' "$DRILL/serve.log" | jq -r .port)"
  BASE="http://127.0.0.1:$port"
}

unserve() {
  if [ -n "$SERVE_PID" ]; then
    kill -TERM "$SERVE_PID" 2>/dev/null || true
    wait "$SERVE_PID" 2>/dev/null || true
  fi
  SERVE_PID=""
}

api() {
  local method="$1" path="$2" body="${3:-}" args=()
  [ -n "$body" ] && args=(-H 'Content-Type: application/json' --data-binary "$body")
  curl -sS --fail-with-body -X "$method" -H "Authorization: Bearer $KEY" "${args[@]}" \
    "$BASE$path" || { echo "drill: $method $path failed (curl exit $?)" >&2; return 1; }
}

figure() {
  printf 'drill: %-40s %s\n' "$1" "$2"
}

# set_up_db NAME: database inboxd with the roles, migrated as the owner, an
# account and a key ($KEY) with every scope; inboxd can then serve it as
# the runtime role.
set_up_db() {
  local su owner
  psql -X -q -v ON_ERROR_STOP=1 -d "$(pg_url "$DRILL/$1")" -c 'CREATE DATABASE inboxd'
  su="$(db_url "$1")"
  owner="$(db_url "$1" inboxd_owner)"
  "$INBOXD" --config /dev/null --database-url "$su" roles >/dev/null
  "$INBOXD" --config /dev/null --database-owner-url "$owner" migrate >/dev/null
  "$INBOXD" --config /dev/null --database-url "$(db_url "$1" inboxd_runtime)" \
    accounts create "Drill Shop" >/dev/null
  KEY="$("$INBOXD" --config /dev/null --database-url "$(db_url "$1" inboxd_runtime)" \
    keys create --account "Drill Shop" --name drill \
    --scopes "read messages:write drafts:write actions:write outbox:write jobs:write admin" |
    tail -n 1)"
}

# add_users PREFIX FROM TO: users PREFIX-FROM .. PREFIX-TO through the API.
add_users() {
  local i
  for i in $(seq "$2" "$3"); do
    api POST /v1/users "{\"email\":\"$1-$i@drill.example\",\"displayName\":\"$1 $i\"}" >/dev/null
  done
}

# shellcheck shell=bash
# tests/topology/pgbouncer.sh — a throwaway PgBouncer 1.18 in transaction
# mode, as deploy/pgbouncer.ini runs it, for the tests. Source it from bash
# (after tests/pg.sh), then:
#   pgb_start DIR PGDIR [DBLINE]   PgBouncer on a unix socket in DIR (port
#                                  6432) in front of the cluster whose socket
#                                  is in PGDIR; DBLINE is its [databases]
#                                  line (default: every database, "* = ...")
#   pgb_url DIR                    conninfo pieces that reach it: host and port
#   pgb_retarget DIR DBLINE        the [databases] line of DBLINE's database
#                                  replaced by DBLINE, then RELOAD (how a
#                                  failover points PgBouncer at a promoted
#                                  standby: 1.18's host lists are round
#                                  robin over hosts that must all be up)
#   pgb_stop DIR [SIGNAL]          SIGINT (safe shutdown: waits for the
#                                  transactions under way) unless told; waits
#                                  until it is gone
# PgBouncer refuses to run as root: as root it runs as the postgres user,
# like the clusters of tests/pg.sh (its _pg_run). Unix socket only, so no port can
# collide with another test's; trust, as the test clusters use.

PGB_PORT=6432

pgb_url() {
  printf 'host=%s port=%s\n' "${1:?usage: pgb_url DIR}" "$PGB_PORT"
}

pgb_start() {
  local dir="${1:?usage: pgb_start DIR PGDIR [DBLINE]}" pgdir="${2:?}" dbline="${3:-}" _
  command -v pgbouncer >/dev/null || { echo "pgbouncer is not installed (./dev.sh deps)" >&2; return 1; }
  [ -n "$dbline" ] || dbline="* = host=$pgdir port=$PG_PORT"
  mkdir -p "$dir"
  if [ ! -f "$dir/pgbouncer.ini" ]; then
    # The settings of deploy/pgbouncer.ini that matter to inboxd; trust
    # and a unix socket instead of SCRAM over TCP.
    cat >"$dir/pgbouncer.ini" <<INI
[databases]
$dbline

[pgbouncer]
listen_addr =
listen_port = $PGB_PORT
unix_socket_dir = $dir
auth_type = trust
auth_file = $dir/userlist.txt
pool_mode = transaction
default_pool_size = 20
max_client_conn = 500
server_reset_query =
ignore_startup_parameters = extra_float_digits,options
server_login_retry = 1
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
admin_users = postgres
INI
    printf '"postgres" ""\n"inboxd_runtime" ""\n"inboxd_owner" ""\n' >"$dir/userlist.txt"
  fi
  [ "$(id -u)" -eq 0 ] && chown -R postgres: "$dir"
  _pg_run pgbouncer -d -q "$dir/pgbouncer.ini" || { tail -n 20 "$dir/pgbouncer.log" >&2; return 1; }
  for _ in $(seq 300); do
    pg_isready -q -h "$dir" -p "$PGB_PORT" -d pgbouncer -U postgres && return 0
    sleep 0.1
  done
  echo "pgbouncer in $dir does not answer" >&2
  tail -n 20 "$dir/pgbouncer.log" >&2
  return 1
}

pgb_pid() {
  [ -s "$1/pgbouncer.pid" ] && cat "$1/pgbouncer.pid"
}

pgb_stop() {
  local dir="${1:?usage: pgb_stop DIR [SIGNAL]}" sig="${2:-INT}" pid _
  pid="$(pgb_pid "$dir" 2>/dev/null)" || return 0
  kill -"$sig" "$pid" 2>/dev/null || return 0
  for _ in $(seq 600); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$dir/pgbouncer.pid"; return 0; }
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$dir/pgbouncer.pid"
}

pgb_retarget() {
  local dir="${1:?usage: pgb_retarget DIR DBLINE}" dbline="${2:?}" name ini
  ini="$dir/pgbouncer.ini"
  name="${dbline%% *}"
  grep -q "^$name = " "$ini" || { echo "pgb_retarget: no [databases] line for $name" >&2; return 1; }
  awk -v name="$name" -v line="$dbline" 'index($0, name " = ") == 1 { print line; next } { print }' \
    "$ini" >"$ini.new"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$ini.new"
  mv "$ini.new" "$ini"
  psql -X -q -h "$dir" -p "$PGB_PORT" -U postgres -d pgbouncer -c RELOAD >/dev/null
}

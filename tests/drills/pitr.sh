#!/usr/bin/env bash
# tests/drills/pitr.sh INBOXD — the point-in-time recovery drill with
# pgBackRest (README, "Backups"): inboxd writes through its API, a full
# backup is taken, inboxd writes more, a named restore point marks the
# target, inboxd writes more still; then the backup and the archived WAL
# are restored to the target into a fresh data folder, and exactly the
# writes acknowledged before the target are there, none after it.
#
# A named restore point, not a time: every write acknowledged before
# pg_create_restore_point() returned committed before its WAL record, and
# every write after it commits after, whatever the clocks' resolution.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
drill_init "${1:?usage: pitr.sh INBOXD}"
command -v pgbackrest >/dev/null || { echo "drill: pgbackrest is not installed (./dev.sh deps)" >&2; exit 1; }

BEFORE_BACKUP=20 # users written before the backup
BEFORE_TARGET=20 # after the backup, before the target
AFTER_TARGET=20  # after the target: must not come back

# pgBackRest runs as the postgres user, as PostgreSQL's archive_command does.
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then (cd / && runuser -u postgres -- "$@"); else (cd / && "$@"); fi
}
mkdir -p "$DRILL/repo" "$DRILL/pgbackrest-log" "$DRILL/pgbackrest-lock"
cat >"$DRILL/pgbackrest.conf" <<CONF
[global]
repo1-path=$DRILL/repo
repo1-retention-full=2
log-path=$DRILL/pgbackrest-log
lock-path=$DRILL/pgbackrest-lock
log-level-console=warn
log-level-file=detail
start-fast=y
compress-type=none
archive-timeout=300

[drill]
pg1-path=$DRILL/source/data
pg1-socket-path=$DRILL/source
pg1-port=$PG_PORT
pg1-user=postgres
CONF
[ "$(id -u)" -eq 0 ] && chown -R postgres: "$DRILL/repo" "$DRILL/pgbackrest-log" \
  "$DRILL/pgbackrest-lock" "$DRILL/pgbackrest.conf"
BR=(pgbackrest --config="$DRILL/pgbackrest.conf" --stanza=drill)

# The source archives every WAL segment into the repository.
PG_EXTRA_CONF="archive_mode = on
wal_level = replica
archive_command = '${BR[*]} archive-push %p'" drill_cluster source
as_pg "${BR[@]}" stanza-create
as_pg "${BR[@]}" check
set_up_db source
serve source "$(db_url source inboxd_runtime)"

add_users base 1 "$BEFORE_BACKUP"
as_pg "${BR[@]}" --type=full backup
add_users kept 1 "$BEFORE_TARGET"
target_lsn="$(sql source "SELECT pg_create_restore_point('drill_target')")"
add_users lost 1 "$AFTER_TARGET"
unserve
# check switches to a new WAL segment and waits until the one holding the
# last write is archived (archive-timeout above).
as_pg "${BR[@]}" check
figure "rows written before the target" "$((BEFORE_BACKUP + BEFORE_TARGET))"
figure "rows written after the target" "$AFTER_TARGET"
figure "restore point drill_target at LSN" "$target_lsn"
pg_stop "$DRILL/source"

# A fresh data folder: the repository is all the restore reads.
mkdir -p "$DRILL/restored/data"
if [ "$(id -u)" -eq 0 ]; then chown -R postgres: "$DRILL/restored"; fi
chmod 700 "$DRILL/restored" "$DRILL/restored/data"
as_pg "${BR[@]}" --pg1-path="$DRILL/restored/data" --type=name --target=drill_target \
  --target-action=promote restore
drill_cluster restored

promoted() {
  [ "$(sql restored 'SELECT pg_is_in_recovery()')" = f ]
}
wait_for "the restored cluster to reach drill_target and promote" 300 promoted

restored="$(sql restored 'SELECT count(*) FROM users')"
base="$(sql restored "SELECT count(*) FROM users WHERE email LIKE 'base-%'")"
kept="$(sql restored "SELECT count(*) FROM users WHERE email LIKE 'kept-%'")"
lost="$(sql restored "SELECT count(*) FROM users WHERE email LIKE 'lost-%'")"
figure "rows restored" "$restored (before the backup $base, after it $kept)"
figure "rows after the target present (must be 0)" "$lost"

# inboxd serves the recovered database and lists what was recovered.
serve restored "$(db_url restored inboxd_runtime)"
listed="$(api GET '/v1/users?limit=200' | jq '.items | length')"
figure "users the API lists after the restore" "$listed"

fail=0
[ "$base" -eq "$BEFORE_BACKUP" ] || { echo "drill: $base of $BEFORE_BACKUP users from before the backup" >&2; fail=1; }
[ "$kept" -eq "$BEFORE_TARGET" ] || { echo "drill: $kept of $BEFORE_TARGET users from before the target" >&2; fail=1; }
[ "$lost" -eq 0 ] || { echo "drill: $lost users written after the target came back" >&2; fail=1; }
[ "$restored" -eq "$((BEFORE_BACKUP + BEFORE_TARGET))" ] || { echo "drill: $restored users in all" >&2; fail=1; }
[ "$listed" -eq "$restored" ] || { echo "drill: the API lists $listed users" >&2; fail=1; }
[ "$fail" -eq 0 ]
echo "drill: point-in-time recovery to drill_target restored exactly the writes before it"

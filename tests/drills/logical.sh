#!/usr/bin/env bash
# tests/drills/logical.sh INBOXD — the logical backup drill (README,
# "Backups"): pg_dump -Fc of a database inboxd wrote through its API,
# restored into a fresh cluster (its own initdb, its own socket folder),
# where `inboxd migrate --status` finds nothing to do and inboxd, serving
# the restored database as the runtime role, answers exactly as before.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
drill_init "${1:?usage: logical.sh INBOXD}"

# Every list and resource the drill wrote, as the API answers them.
answers() {
  local p
  # Not the api keys: a key's lastUsedAt moves when it is used after a minute.
  for p in /v1/account /v1/users?limit=200 /v1/channels?limit=200 \
    /v1/conversations?limit=200; do
    printf '%s ' "$p"
    api GET "$p"
    echo
  done
}

drill_cluster source
set_up_db source
serve source "$(db_url source inboxd_runtime)"
add_users dumped 1 25
api POST /v1/channels '{"type":"email","externalId":"drill-mail","name":"Drill inbox"}' >/dev/null
answers >"$DRILL/before.txt"
unserve

# The backup: the roles are the cluster's, not the database's, so the
# dump holds the data, the schema and its grants, and `inboxd roles`
# makes the roles on the other side.
pg_dump --format=custom --file "$DRILL/inboxd.dump" "$(db_url source)"
figure "dump size (bytes)" "$(stat -c %s "$DRILL/inboxd.dump")"

drill_cluster restored
psql -X -q -v ON_ERROR_STOP=1 -d "$(pg_url "$DRILL/restored")" -c 'CREATE DATABASE inboxd'
"$INBOXD" --config /dev/null --database-url "$(db_url restored)" roles >/dev/null
pg_restore --clean --if-exists --exit-on-error --dbname "$(db_url restored)" "$DRILL/inboxd.dump"
"$INBOXD" --config /dev/null --database-url "$(db_url restored)" roles >/dev/null

status="$("$INBOXD" --config /dev/null --database-owner-url "$(db_url restored inboxd_owner)" \
  migrate --status)"
if grep -q pending <<<"$status"; then
  echo "drill: the restored database has pending migrations:" >&2
  echo "$status" >&2
  exit 1
fi
figure "migrations applied in the restored db" "$(grep -c '^applied  [0-9]' <<<"$status")"

serve restored "$(db_url restored inboxd_runtime)"
answers >"$DRILL/after.txt"
if ! diff -u "$DRILL/before.txt" "$DRILL/after.txt"; then
  echo "drill: the restored database answers differently" >&2
  exit 1
fi
figure "users before / after" \
  "$(sql source 'SELECT count(*) FROM users') / $(sql restored 'SELECT count(*) FROM users')"
figure "API answers compared (identical)" "$(wc -l <"$DRILL/before.txt")"
# The restored database serves writes too, as the runtime role.
add_users restored 1 1
figure "users after one more write" "$(sql restored 'SELECT count(*) FROM users')"
echo "drill: logical backup restored and served the same answers"

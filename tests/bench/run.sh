#!/usr/bin/env bash
# tests/bench/run.sh — the inboxd benchmark (issue 6). README "Benchmark".
#
#   tests/bench/run.sh                 every operation: wrk against inboxd, pgbench on
#                                      the same SQL, 1,000 idle connections; appends the
#                                      table to tests/bench/RESULTS.md and prints it
#   tests/bench/run.sh --rate R        fixed offered rate R req/s (ratebench, no
#                                      coordinated omission): read and feed latency
#                                      (the feed at --feed-rate F, default R / 10)
# Options (for comparisons): --ops read,read_tls,feed,feed_deep,feed_plain,feed_nopages,search_common,search_rare,export,idle,events_idle,slow,message,message_ways,node_message,approve,webhook,migrate,retention
#   (feed and feed_deep ask for gzip as a browser does; feed_plain is the first
#   page without Accept-Encoding; read_tls is read over HTTPS, from a second
#   inboxd serving TLS on the next port with tests/tls/make-certs.sh's certificate;
#   slow is read beside 2,500 slow clients from 127.0.0.2-9, one header byte
#   every 5 s each, reconnecting when shut: its p99 is the figure;
#   feed_nopages is feed and feed_deep again with inboxd restarted with
#   --feed-pages 0, every page from the database as after any write;
#   migrate is the next release's migration, tests/migrations/9000, a
#   CREATE INDEX CONCURRENTLY on messages, applied by build-test/inboxd (the
#   debug build ./dev.sh test makes: only it reads INBOXD_TEST_MIGRATIONS_DIR)
#   while 8 connections post inbound messages, then undone; retention is
#   three sweeps: what is due as loaded, 1,000 × scale closed conversations
#   back-dated past retention_closed_days, and nothing due)
#   --duration S (15) --warmup S (3) --pool N (5; pgbench clients too)
#   --inboxd-args "--http-threading pool --http-threads 16 --prepare false"
#   --label TEXT  --no-pgbench  --no-append  --perf (profile a read run)  --fresh (reload data)
#   --dbstats  the database's work per request of every wrk and pgbench run: buffers
#              read (from the OS) and hit, WAL records, full-page images and bytes,
#              buffers written, and what the disk read (/proc/diskstats)
#   --scale N  the data set times N (1: 100,000 conversations, 400,000 messages;
#              10: 1 M and 4 M; 25: 2.5 M and 10 M). Above 1 the data is loaded
#              in place into database bench_xN and measured there (a template
#              copy would double the disk); runs add to it, and approvals top
#              up pending drafts as at 1. README "Benchmark: the scale series".
#   --mix R1,R2,...  the mixed day (tests/bench/mixday.c): webhooks at each offered
#              rate in turn with assistants, 20 reviewers and the outbox running,
#              --duration S each (60 is sensible); feed p50/p99 and webhook → draft
#              → approval → delivery times. Best with --scale 10. MIX_WAIT=S: the
#              workers' claims wait up to S s for work (waitSeconds) instead of
#              asking again 200 ms after an empty answer.
#   --compare "ARGS1;ARGS2;..."  read / feed / feed_deep under each inboxd flag set in
#                                turn (inboxd restarted, same database), ROUNDS=2 times
#                                alternating, one table of medians
#
# Builds a release inboxd in build-bench/, starts a private durable
# PostgreSQL (tests/pg.sh, PG_DURABLE=1) in tests/bench/out/pg, loads the data
# once (gen.sql; kept as template database bench_base and reused while
# gen.sql and the migrations are unchanged), copies it to a fresh database
# "bench" for every run, starts inboxd (log level warn) and stops everything
# it started on exit.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BENCH="$ROOT/tests/bench"
OUT="$BENCH/out"
PGDIR="$OUT/pg"
BUILD="$ROOT/build-bench"
# BENCH_INBOXD: a prebuilt inboxd to measure instead of building one (an
# older commit's, for before/after rounds on the same data).
INBOXD="${BENCH_INBOXD:-$BUILD/inboxd}"
PGBIN=/usr/lib/postgresql/15/bin
PORT="${BENCH_PORT:-18631}"
URL="http://127.0.0.1:$PORT"

# shellcheck source=tests/pg.sh
source "$ROOT/tests/pg.sh"

OPS="read,read_tls,feed,feed_deep,feed_plain,feed_nopages,search_common,search_rare,export,idle,events_idle,slow,message,node_message,approve,webhook,migrate,retention"
DUR=15
WARM=3
POOL=5
RATE=""
MIX=""
FEED_RATE=""
COMPARE=""
INBOXD_ARGS=""
LABEL=""
SCALE=1
PGBENCH=1
APPEND=1
PERF=0
DBSTATS=0
FRESH=0
CONNS=32
THREADS=2
IDLE_CONNS=1000
SLOW_CONNS=2500

die() {
  echo "run.sh: $*" >&2
  exit 1
}
log() { printf '==> %s\n' "$*" >&2; }

while [ "$#" -gt 0 ]; do
  case "$1" in
    --rate) RATE="${2:?}"; shift 2 ;;
    --mix) MIX="${2:?}"; shift 2 ;;
    --feed-rate) FEED_RATE="${2:?}"; shift 2 ;;
    --compare) COMPARE="${2:?}"; shift 2 ;;
    --ops) OPS="${2:?}"; shift 2 ;;
    --duration) DUR="${2:?}"; shift 2 ;;
    --warmup) WARM="${2:?}"; shift 2 ;;
    --pool) POOL="${2:?}"; shift 2 ;;
    --inboxd-args) INBOXD_ARGS="${2?}"; shift 2 ;;
    --label) LABEL="${2:?}"; shift 2 ;;
    --scale) SCALE="${2:?}"; shift 2 ;;
    --no-pgbench) PGBENCH=0; shift ;;
    --no-append) APPEND=0; shift ;;
    --perf) PERF=1; shift ;;
    --dbstats) DBSTATS=1; shift ;;
    --fresh) FRESH=1; shift ;;
    -h | --help) sed -n '2,22p' "$0"; exit 0 ;;
    *) die "unknown option $1 (--help)" ;;
  esac
done
has_op() { case ",$OPS," in *",$1,"*) return 0 ;; *) return 1 ;; esac }
[[ "$SCALE" =~ ^[0-9]+(\.[0-9]+)?$ ]] && awk -v s="$SCALE" 'BEGIN { exit !(s * 100000 >= 1000) }' ||
  die "--scale wants a number, at least 0.01"
NCONV="$(awk -v s="$SCALE" 'BEGIN { printf "%d", s * 100000 }')"
SCALE_NOTE=""
[ "$SCALE" = 1 ] || SCALE_NOTE=" — scale $SCALE ($NCONV conversations)"

# ---- tools --------------------------------------------------------------------

need_pkgs=()
command -v wrk >/dev/null || need_pkgs+=(wrk)
[ -x "$PGBIN/pgbench" ] || need_pkgs+=(postgresql-15)
command -v psql >/dev/null || need_pkgs+=(postgresql-client-15)
command -v cc >/dev/null || need_pkgs+=(build-essential)
command -v meson >/dev/null || need_pkgs+=(meson ninja-build)
command -v curl >/dev/null || need_pkgs+=(curl)
command -v perl >/dev/null || need_pkgs+=(perl)
command -v openssl >/dev/null || need_pkgs+=(openssl)
command -v certtool >/dev/null || need_pkgs+=(gnutls-bin)
if [ "$PERF" = 1 ] && ! command -v perf >/dev/null; then need_pkgs+=(linux-perf); fi
if [ "${#need_pkgs[@]}" -gt 0 ]; then
  log "installing ${need_pkgs[*]}"
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update </dev/null >/dev/null
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    "${need_pkgs[@]}" </dev/null >/dev/null
fi

mkdir -p "$OUT/logs" "$OUT/pgbench"
chmod 755 "$OUT" # the postgres user must reach $PGDIR below it
# Thread per connection and 1,000 idle connections need file descriptors.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# ---- clean-up -----------------------------------------------------------------

INBOXD_PID=""
BG_PIDS=()
PG_STARTED=0
cleanup() {
  trap - EXIT INT TERM
  local p
  for p in "${BG_PIDS[@]}"; do
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  if [ -n "$INBOXD_PID" ] && kill -0 "$INBOXD_PID" 2>/dev/null; then
    kill -TERM "$INBOXD_PID" 2>/dev/null || true
    wait "$INBOXD_PID" 2>/dev/null || true
  fi
  [ "$PG_STARTED" = 1 ] && pg_stop "$PGDIR" || true
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

# ---- build --------------------------------------------------------------------

if [ -n "${BENCH_INBOXD:-}" ]; then
  [ -x "$INBOXD" ] || die "BENCH_INBOXD=$INBOXD is not an executable"
  log "measuring $INBOXD (BENCH_INBOXD)"
else
  log "building a release inboxd in build-bench/"
  if [ ! -f "$BUILD/meson-private/coredata.dat" ]; then
    rm -rf "$BUILD"
    meson setup "$BUILD" --buildtype=release >"$OUT/logs/meson-setup.log" 2>&1 ||
      { cat "$OUT/logs/meson-setup.log" >&2; die "meson setup failed"; }
  fi
  for attempt in 1 2 3; do
    if ninja -C "$BUILD" inboxd >"$OUT/logs/build.log" 2>&1; then break; fi
    [ "$attempt" = 3 ] && { tail -30 "$OUT/logs/build.log" >&2; die "build failed"; }
    log "build failed (attempt $attempt), retrying in 20 s"
    sleep 20
  done
fi
cc -std=c17 -O2 -Wall -Wextra -o "$OUT/ratebench" "$BENCH/ratebench.c"

# ---- PostgreSQL ---------------------------------------------------------------

log "starting a private durable PostgreSQL in tests/bench/out/pg"
export PG_DURABLE=1
pg_start "$PGDIR"
PG_STARTED=1
ADMIN_URL="$(pg_url "$PGDIR")"
# At scale 1 the loaded data is kept as template bench_base and copied to
# bench for every run; above it, loaded and measured in place (bench_xN).
if [ "$SCALE" = 1 ]; then
  BASE_DB=bench_base
  DB=bench
else
  BASE_DB="bench_x${SCALE//./_}"
  DB="$BASE_DB"
fi
BASE_URL="${ADMIN_URL/dbname=postgres/dbname=$BASE_DB}"
DB_URL="${ADMIN_URL/dbname=postgres/dbname=$DB}"
psqla() { psql "$ADMIN_URL" -v ON_ERROR_STOP=1 -qAt "$@"; }
psqlb() { psql "$DB_URL" -v ON_ERROR_STOP=1 -qAt "$@"; }

# 24 GiB of RAM: the whole data set (1 GB) fits in shared_buffers; WAL and
# checkpoints sized so that no checkpoint lands in a measured run. In
# postgresql.auto.conf, which wins over pg.sh's file.
if [ "$(psqla -c 'SHOW shared_buffers')" != "2GB" ]; then
  psqla -c "ALTER SYSTEM SET shared_buffers = '2GB'" \
    -c "ALTER SYSTEM SET effective_cache_size = '8GB'" \
    -c "ALTER SYSTEM SET max_wal_size = '8GB'" \
    -c "ALTER SYSTEM SET checkpoint_timeout = '30min'" \
    -c "ALTER SYSTEM SET wal_buffers = '16MB'"
  "$PGDIR/restart.sh" >/dev/null
fi

# ---- data ---------------------------------------------------------------------

KEYFILE="$OUT/$BASE_DB.key"
want_key="$(cat "$BENCH/gen.sql" "$ROOT"/sql/migrations/*.sql | sha256sum | cut -c1-16)"
have_base="$(psqla -c "SELECT count(*) FROM pg_database WHERE datname = '$BASE_DB'")"
if [ "$FRESH" = 1 ] || [ "$have_base" != 1 ] || [ "$(cat "$KEYFILE" 2>/dev/null)" != "$want_key" ]; then
  log "loading the data set at scale $SCALE ($NCONV conversations; once, kept as $BASE_DB)"
  t0=$SECONDS
  rm -f "$KEYFILE" "$OUT/$BASE_DB.load"
  [ "$DB" = "$BASE_DB" ] || psqla -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
  psqla -c "DROP DATABASE IF EXISTS $BASE_DB WITH (FORCE)" -c "CREATE DATABASE $BASE_DB"
  DATABASE_URL="$BASE_URL" "$INBOXD" migrate >"$OUT/logs/migrate.log"
  gen() { psql "$BASE_URL" -v ON_ERROR_STOP=1 -q "$@" -f "$BENCH/gen.sql"; }
  psqlbase() { psql "$BASE_URL" -v ON_ERROR_STOP=1 -qAt "$@"; }
  # Secondary indexes are built after the load, each in one pass (sorted,
  # parallel) instead of row by row: every index that backs no constraint
  # is dropped here and made again from its saved definition below.
  psqlbase -c "CREATE TABLE bench_gen_indexes AS
                 SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def,
                        pg_relation_size(i.indrelid) AS rel_size
                 FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
                 JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = 'public'
                 WHERE NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)"
  psqlbase -c "SELECT format('DROP INDEX %s;', name) FROM bench_gen_indexes" | psqlbase >/dev/null
  gen -v step=1 -v nconv="$NCONV" >"$OUT/logs/gen1.log"
  t1=$SECONDS
  gen -v step=2 -v part=0 >"$OUT/logs/gen2a.log" &
  gen_pid=$!
  BG_PIDS+=("$gen_pid")
  gen -v step=2 -v part=1 >"$OUT/logs/gen2b.log"
  wait "$gen_pid" || die "gen.sql step 2 (part 0) failed: $OUT/logs/gen2a.log"
  gen -v step=3 | tee "$OUT/logs/gen3.log" >&2
  t2=$SECONDS
  # Two sessions, each building every other index (two workers each).
  for half in 0 1; do
    psqlbase -c "SELECT def || ';' FROM (SELECT def, row_number() OVER (ORDER BY name) AS k
                                        FROM bench_gen_indexes) d WHERE k % 2 = $half" |
      psql "$BASE_URL" -v ON_ERROR_STOP=1 -q -c "SET maintenance_work_mem = '1GB'" \
        -c "SET max_parallel_maintenance_workers = 2" -f - >"$OUT/logs/indexes-$half.log" 2>&1 &
    BG_PIDS+=("$!")
    idx_pids[half]=$!
  done
  wait "${idx_pids[0]}" && wait "${idx_pids[1]}" || die "index builds failed: $OUT/logs/indexes-*.log"
  psqlbase -c "DROP TABLE bench_gen_indexes"
  t3=$SECONDS
  "$PGBIN/vacuumdb" -d "$BASE_URL" --analyze --jobs 2 -q
  psqla -c "CHECKPOINT"
  echo "$want_key" >"$KEYFILE"
  echo "load $((SECONDS - t0)) s: rows $((t2 - t1)) s, indexes $((t3 - t2)) s, vacuum analyze $((SECONDS - t3)) s" \
    >"$OUT/$BASE_DB.load"
  log "data loaded: $(cat "$OUT/$BASE_DB.load")"
fi
if [ "$DB" = "$BASE_DB" ]; then
  log "measuring in $DB itself (scale $SCALE: no template copy)"
else
  log "copying $BASE_DB to a fresh database $DB"
  psqla -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" \
    -c "CREATE DATABASE $DB TEMPLATE $BASE_DB STRATEGY FILE_COPY"
fi
export DATABASE_URL="$DB_URL"
# The template keeps the data; the current SQL (sql/current/) is this
# build's, applied on the copy (it changes nothing when it is the same).
"$INBOXD" migrate >"$OUT/logs/migrate-bench.log"

KEY="$("$INBOXD" keys create --account "Bench Co" --name "bench-$(date +%s)" \
  --scopes "read messages:write drafts:write actions:write outbox:write" | tail -n 1)"
[ -n "$KEY" ] || die "inboxd keys create printed no key"
ACCT="$(psqlb -c "SELECT id FROM accounts WHERE name = 'Bench Co'")"
KEY_ID="$(psqlb -c "SELECT id FROM api_keys WHERE account_id = '$ACCT' ORDER BY created_at DESC LIMIT 1")"
USER_ID="$(psqlb -c "SELECT id FROM users WHERE account_id = '$ACCT' ORDER BY id LIMIT 1 OFFSET 1")"

# Id lists for wrk (Lua) and ratebench (text).
lua_list() { # FILE QUERY
  { echo "return {"; psqlb -c "$2" | sed 's/.*/"&",/'; echo "}"; } >"$OUT/$1"
}
# At most 100,000 ids (all of them at scale 1), drawn at random above it:
# wrk's Lua keeps the list in every thread, and the reads then spread over
# as many conversations at every scale.
lua_list ids_conv.lua "SELECT id FROM conversations WHERE account_id = '$ACCT' AND deleted_at IS NULL
                       ORDER BY random() LIMIT 100000"
lua_list ids_open.lua "SELECT id FROM conversations WHERE account_id = '$ACCT' AND status = 'open' AND deleted_at IS NULL"
psqlb -c "SELECT id FROM conversations WHERE account_id = '$ACCT' AND deleted_at IS NULL" >"$OUT/ids_conv.txt"

# ---- inboxd -------------------------------------------------------------------

export INBOXD_WEBHOOK_BENCH_SECRET="bench-secret-$(date +%s)-$$"
export INBOXD_WEBHOOK_BENCH_ACCOUNT="Bench Co"
start_inboxd() {
  # shellcheck disable=SC2086 # INBOXD_ARGS is a list of flags
  INBOXD_LISTEN="127.0.0.1:$PORT" "$INBOXD" serve --log-level warn --pool-size "$POOL" \
    $INBOXD_ARGS 2>"$OUT/logs/inboxd.log" &
  INBOXD_PID=$!
  for _ in $(seq 1 100); do
    curl -fsS "$URL/healthz" >/dev/null 2>&1 && return 0
    kill -0 "$INBOXD_PID" 2>/dev/null || { cat "$OUT/logs/inboxd.log" >&2; die "inboxd exited"; }
    sleep 0.1
  done
  die "inboxd did not answer /healthz"
}
# restart_inboxd ARGS: inboxd again, with these flags instead of INBOXD_ARGS.
restart_inboxd() {
  kill -TERM "$INBOXD_PID" 2>/dev/null || true
  wait "$INBOXD_PID" 2>/dev/null || true
  INBOXD_ARGS="$1" start_inboxd
}
log "starting inboxd (pool $POOL${INBOXD_ARGS:+, $INBOXD_ARGS})"
start_inboxd
# CPU_PID: another inboxd than the main one (read_tls).
cpu_ticks() { awk '{print $14 + $15}' "/proc/${CPU_PID:-$INBOXD_PID}/stat"; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$INBOXD_PID/status"; }
CLK_TCK="$(getconf CLK_TCK)"

export BENCH_DIR="$BENCH" BENCH_OUT="$OUT" BENCH_KEY="$KEY" BENCH_THREADS="$THREADS"
export BENCH_SUBJECT="Re: order status"
export BENCH_BODY="Hi, I ordered the AN-6 fuel line kit for my 32 Ford last week and the tracking still says label created. Could you check whether it shipped, and if the fittings in the kit fit a Holley Sniper EFI regulator? I also need two extra AN-6 to 3/8 hose ends and a bracket for the filter. Thanks, Dale"
BODY_HASH="$(printf '%s' "$BENCH_BODY" | sha256sum | cut -c1-64)"

# ---- measuring ----------------------------------------------------------------

declare -A R_RPS R_P50 R_P99 R_BAD R_CPU R_PGB R_NOTE R_RSS_DELTA
ORDER=()

# wrk_run NAME SCRIPT: warm-up, then the measured run with inboxd's CPU around it.
# feed_lookups: "hits misses" of inboxd's feed cache so far (/metrics).
feed_lookups() {
  curl -fsS "$URL/metrics" 2>/dev/null | awk '
    /^inboxd_feed_cache_lookups_total\{result="hit"\}/ { h = $2 }
    /^inboxd_feed_cache_lookups_total\{result="miss"\}/ { m = $2 }
    END { printf "%d %d\n", h, m }'
}

# dbstat: the database's counters (--dbstats): blocks read and hit, WAL
# records, full-page images, WAL bytes, buffers written (checkpointer,
# background writer, backends), checkpoints; then the sectors the disk
# under PostgreSQL has read. dbstat_delta NAME BEFORE AFTER N: per request.
PG_DISK="$(lsblk -no PKNAME "$(df --output=source "$PGDIR" | tail -1)" 2>/dev/null | head -1)"
[ -n "$PG_DISK" ] || PG_DISK="$(basename "$(df --output=source "$PGDIR" | tail -1)")"
dbstat() {
  [ "$DBSTATS" = 1 ] || return 0
  printf '%s %s\n' "$(psqlb -F ' ' -c "SELECT d.blks_read, d.blks_hit, w.wal_records, w.wal_fpi, w.wal_bytes,
           b.buffers_checkpoint + b.buffers_clean + b.buffers_backend, b.checkpoints_timed + b.checkpoints_req
         FROM pg_stat_database d, pg_stat_wal w, pg_stat_bgwriter b WHERE d.datname = current_database()")" \
    "$(awk -v d="$PG_DISK" '$3 == d { print $6 }' /proc/diskstats)"
}
declare -A R_DBSTAT
dbstat_delta() {
  [ "$DBSTATS" = 1 ] || return 0
  R_DBSTAT[$1]="$(awk -v a="$2" -v b="$3" -v n="$4" 'BEGIN {
    split(a, x, " "); split(b, y, " "); if (n <= 0) n = 1
    printf "%.1f | %.1f | %.1f | %.2f | %.1f | %.2f | %d | %.1f", (y[1] - x[1]) / n, (y[2] - x[2]) / n,
      (y[3] - x[3]) / n, (y[4] - x[4]) / n, (y[5] - x[5]) / n / 1024, (y[6] - x[6]) / n, y[7] - x[7],
      (y[8] - x[8]) * 512 / 1048576 }')"
}

# Scripts that consume a list (approve: pending drafts; webhook: signed
# deliveries) run with WRK_THREADS=1: each wrk thread takes its own slice,
# and a thread whose connections happened to be served faster ran out of
# its slice and started over (4,383 repeated approvals answered 409 in one
# run, while the other thread's slice was two thirds unused).
wrk_run() {
  local name="$1" script="$2" c0 c1 line f0 f1
  local threads="${WRK_THREADS:-$THREADS}"
  export BENCH_THREADS="$threads"
  local url="${BENCH_URL:-$URL}"
  local conns="${WRK_CONNS:-$CONNS}"
  wrk -t"$threads" -c"$conns" -d"${WARM}s" --timeout 10s -s "$BENCH/$script" "$url" \
    >"$OUT/logs/$name.warm.wrk" 2>&1 || true
  [ -n "${BENCH_AFTER_WARM:-}" ] && eval "$BENCH_AFTER_WARM"
  f0="$(feed_lookups)"
  c0="$(cpu_ticks)"
  s0="$(dbstat)"
  wrk -t"$threads" -c"$conns" -d"${DUR}s" --timeout 10s --latency -s "$BENCH/$script" "$url" \
    >"$OUT/logs/$name.wrk" 2>&1 || die "wrk failed for $name: $OUT/logs/$name.wrk"
  s1="$(dbstat)"
  c1="$(cpu_ticks)"
  f1="$(feed_lookups)"
  if [ "$script" = feed.lua ]; then
    R_NOTE[${name%%#*}]="feed cache: $(awk -v a="$f0" -v b="$f1" 'BEGIN {
      split(a, x, " "); split(b, y, " "); h = y[1] - x[1]; m = y[2] - x[2]
      printf "%d item lookups, %.1f %% hits", h + m, (h + m > 0 ? 100 * h / (h + m) : 0) }')"
  fi
  line="$(grep '^BENCHRESULT' "$OUT/logs/$name.wrk")" || die "no result from wrk for $name"
  local req rps p50 p99 bad err
  req="$(sed -n 's/.* requests=\([0-9]*\).*/\1/p' <<<"$line")"
  rps="$(sed -n 's/.* rps=\([0-9.]*\).*/\1/p' <<<"$line")"
  p50="$(sed -n 's/.* p50_us=\([0-9]*\).*/\1/p' <<<"$line")"
  p99="$(sed -n 's/.* p99_us=\([0-9]*\).*/\1/p' <<<"$line")"
  bad="$(sed -n 's/.* non2xx=\([0-9]*\).*/\1/p' <<<"$line")"
  err="$(sed -n 's/.* errors=\([0-9]*\).*/\1/p' <<<"$line")"
  R_RPS[$name]="$rps"
  R_P50[$name]="$(awk -v u="$p50" 'BEGIN { printf "%.2f", u / 1000 }')"
  R_P99[$name]="$(awk -v u="$p99" 'BEGIN { printf "%.2f", u / 1000 }')"
  R_BAD[$name]="$((bad + err))"
  dbstat_delta "$name" "$s0" "$s1" "$req"
  R_CPU[$name]="$(awk -v d="$((c1 - c0))" -v t="$CLK_TCK" -v n="$req" \
    'BEGIN { printf "%.0f", (n > 0 ? d * 1e6 / t / n : 0) }')"
  [ -n "${R_PGB[$name]:-}" ] || R_PGB[$name]="-"
  ORDER+=("$name")
  log "$name: $rps req/s, p50 ${R_P50[$name]} ms, p99 ${R_P99[$name]} ms, non-2xx/errors ${R_BAD[$name]}, ${R_CPU[$name]} µs CPU/req"
}

PGB_OK=0
if [ "$PGBENCH" = 1 ]; then
  if "$BENCH/pgbench-gen.sh" "$INBOXD" "$OUT/pgbench" 256 2>"$OUT/logs/pgbench-gen.log"; then
    PGB_OK=1
  else
    PGB_NOTE="pgbench scripts not generated: $(tail -1 "$OUT/logs/pgbench-gen.log")"
    log "$PGB_NOTE"
  fi
fi
PGB_VARS=(-D "acct=$ACCT" -D "key_id=$KEY_ID" -D "user=$USER_ID" -D fetch=51
  -D inbound=inbound -D "subject=$BENCH_SUBJECT" -D "body=$BENCH_BODY" -D is_inbound=true
  -D msg_action=message.create -D msg_type=message -D "hash=$BODY_HASH" -D ip=127.0.0.1
  -D sent=sent -D approve=approve -D 'empty_diff=[]' -D sends=t
  -D approve_action=draft.action.approve -D draft_type=draft
  -D dr_claim=draft_request.claim -D dr_done=draft_request.done -D dr_type=draft_request
  -D draft_create=draft.create -D om_claim=message.claim -D om_deliver=message.deliver
  -D model=bench -D prompt=v1 -D source=bench -D topic=message.created
  -D wh_receive=webhook_event.receive -D wh_process=webhook_event.process -D wh_type=webhook_event
  -D succeeded=succeeded)

# pgb_convs: bench_pgb_convs, the open conversations numbered for pgbench's
# scripts to pick from (message, webhook, the mixed day); sets NOPEN.
pgb_convs() {
  psqlb -c "DROP TABLE IF EXISTS bench_pgb_convs" -c "CREATE TABLE bench_pgb_convs AS SELECT row_number() OVER (ORDER BY id)::int AS n, id
            FROM conversations WHERE account_id = '$ACCT' AND status = 'open' AND deleted_at IS NULL" \
    -c "ALTER TABLE bench_pgb_convs ADD PRIMARY KEY (n)" -c "ANALYZE bench_pgb_convs"
  NOPEN="$(psqlb -c "SELECT count(*) FROM bench_pgb_convs")"
}

# topup_drafts NEED: at least NEED pending drafts (up to 50,000 more a call)
# for approvals to take, made by gen.sql step 4 as the drafting worker would.
topup_drafts() {
  local need="$1" have topup
  have="$(psqlb -c "SELECT count(*) FROM drafts WHERE account_id = '$ACCT' AND status = 'pending'")"
  if [ "$need" -gt "$have" ]; then
    topup=$((need - have > 50000 ? 50000 : need - have))
    log "adding $topup pending drafts for the approvals ($have pending, $need wanted)"
    psql "$DB_URL" -v ON_ERROR_STOP=1 -q -v step=4 -v topup="$topup" -f "$BENCH/gen.sql" \
      >"$OUT/logs/gen4.log"
  fi
}

# webhook_bodies RUN: a delivery's JSON body for each line of channel type,
# channel external id, channel name, conversation external id (tab
# separated) on stdin: a new message on that conversation.
webhook_bodies() {
  awk -F '\t' -v run="$1" -v body="$BENCH_BODY" '{
    printf "{\"deliveryId\":\"wh-%s-%d\",\"topic\":\"message.created\",", run, NR
    printf "\"channel\":{\"type\":\"%s\",\"externalId\":\"%s\",\"name\":\"%s\"},", $1, $2, $3
    printf "\"conversation\":{\"externalId\":\"%s\",\"subject\":\"Re: order status\"},", $4
    printf "\"message\":{\"externalId\":\"whm-%s-%d\",\"bodyText\":\"%s\"}}\n", run, NR, body
  }'
}

# pgbench_run NAME SCRIPT [-D ...]: the same SQL at inboxd's pool size,
# prepared; PGB_MODE=extended for a statement inboxd plans on every run
# (db_exec_unprepared in src/db/exec.c: search).
pgbench_run() {
  local name="$1" script="$2" tps
  shift 2
  [ "$PGB_OK" = 1 ] || return 0
  s0="$(dbstat)"
  # With inboxd's session settings (src/db/pool.c: no parallel plans).
  PGOPTIONS="-c max_parallel_workers_per_gather=0" \
    "$PGBIN/pgbench" -n -M "${PGB_MODE:-prepared}" -c "$POOL" -j "$THREADS" -T "$DUR" -f "$OUT/pgbench/$script" \
    "${PGB_VARS[@]}" "$@" "$DB_URL" >"$OUT/logs/$name.pgbench" 2>&1 ||
    { R_PGB[$name]="failed"; log "pgbench failed for $name: $OUT/logs/$name.pgbench"; return 0; }
  tps="$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' "$OUT/logs/$name.pgbench")"
  if grep -q "aborted" "$OUT/logs/$name.pgbench"; then
    R_PGB[$name]="aborted"
    log "pgbench clients aborted for $name: $OUT/logs/$name.pgbench"
    return 0
  fi
  R_PGB[$name]="$(printf '%.1f' "$tps")"
  dbstat_delta "pgbench $name" "$s0" "$(dbstat)" \
    "$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$OUT/logs/$name.pgbench")"
  log "$name: pgbench $tps TPS"
}

# ---- mixed day ----------------------------------------------------------------

if [ -n "$MIX" ]; then
  cc -std=c17 -O2 -Wall -Wextra -I"$ROOT/include" -o "$OUT/mixday" "$BENCH/mixday.c" \
    "$ROOT/src/lib/sig.c" -lcurl -ljansson -lgnutls -lnettle -lpthread ||
    die "mixday did not build"
  psqlb -F $'\t' -c "SELECT ch.type, ch.external_id, ch.name, c.external_id
      FROM conversations c JOIN channels ch ON ch.account_id = c.account_id AND ch.id = c.channel_id
      WHERE c.account_id = '$ACCT' AND c.status = 'open' AND c.deleted_at IS NULL
      ORDER BY random() LIMIT 20000" >"$OUT/mix_convs.tsv"
  mix_rows=()
  best="none"
  best_line=""
  for r in ${MIX//,/ }; do
    tag="m$(date +%s)r${r//./_}"
    # Each rate starts with empty queues: the other operations (and the
    # rate before) leave draft requests and outbound messages that the
    # workers would otherwise work through first.
    psqlb -c "UPDATE draft_requests SET status = 'failed', last_error = 'bench: drained before the mixed day',
                     lease_expires_at = NULL, updated_at = now()
              WHERE account_id = '$ACCT' AND status IN ('queued', 'leased')" \
      -c "UPDATE messages SET delivery_status = 'delivered', delivered_at = now(), lease_expires_at = NULL,
                 updated_at = now()
          WHERE account_id = '$ACCT' AND delivery_status IN ('pending', 'leased')" >/dev/null
    "$OUT/mixday" -u "$URL" -k "$KEY" -s "$INBOXD_WEBHOOK_BENCH_SECRET" -S bench -U "$USER_ID" \
      -c "$OUT/mix_convs.tsv" -r "$r" -d "$DUR" -t "$tag" ${MIX_WAIT:+-W "$MIX_WAIT"} \
      -E "$OUT/mix-events-$r.txt" \
      >"$OUT/logs/mix-$r.txt" 2>&1 ||
      die "mixday failed at rate $r: $OUT/logs/mix-$r.txt"
    line="$(grep '^MIXRESULT' "$OUT/logs/mix-$r.txt")"
    g() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p" <<<"$line"; }
    # From the rows' own timestamps: each webhook's message to its draft,
    # to the action on that draft, to the delivery of the action's message.
    times="$(psqlb -F ' ' -c "
      WITH m AS (SELECT account_id, id, created_at FROM messages
                 WHERE account_id = '$ACCT' AND external_id LIKE 'mixm-$tag-%'),
      t AS (SELECT extract(epoch FROM d.created_at - m.created_at) * 1000 AS to_draft,
                   extract(epoch FROM a.created_at - m.created_at) * 1000 AS to_action,
                   extract(epoch FROM o.delivered_at - m.created_at) * 1000 AS to_delivery
            FROM m
            LEFT JOIN drafts d ON d.account_id = m.account_id AND d.trigger_message_id = m.id
            LEFT JOIN draft_actions a ON a.account_id = d.account_id AND a.draft_id = d.id
            LEFT JOIN messages o ON o.account_id = a.account_id AND o.id = a.message_id)
      SELECT count(*), count(to_draft), count(to_action), count(to_delivery),
             coalesce(round(percentile_cont(0.5) WITHIN GROUP (ORDER BY to_draft)), -1),
             coalesce(round(percentile_cont(0.99) WITHIN GROUP (ORDER BY to_draft)), -1),
             coalesce(round(percentile_cont(0.5) WITHIN GROUP (ORDER BY to_action)), -1),
             coalesce(round(percentile_cont(0.99) WITHIN GROUP (ORDER BY to_action)), -1),
             coalesce(round(percentile_cont(0.5) WITHIN GROUP (ORDER BY to_delivery)), -1),
             coalesce(round(percentile_cont(0.99) WITHIN GROUP (ORDER BY to_delivery)), -1)
      FROM t")"
    read -r n n_d n_a n_o d50 d99 a50 a99 o50 o99 <<<"$times"
    # The dashboard's draft.ready events: arrival against the draft's row.
    ev="$(psqlb -F ' ' -c "CREATE TEMP TABLE ev (at_us bigint, draft uuid)" \
      -c "\\copy ev FROM '$OUT/mix-events-$r.txt' (FORMAT text, DELIMITER ' ')" \
      -c "SELECT count(*),
                 coalesce(round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)), -1),
                 coalesce(round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)), -1)
          FROM (SELECT (ev.at_us / 1000.0) - extract(epoch FROM d.created_at) * 1000 AS ms
                FROM ev JOIN drafts d ON d.account_id = '$ACCT' AND d.id = ev.draft) x" | tail -1)"
    read -r ev_n ev50 ev99 <<<"$ev"
    bad=$(($(g webhook_bad) + $(g feed_bad) + $(g bad)))
    mix_rows+=("| $r | $(g achieved) | $(g feed_p50_ms) | $(g feed_p99_ms) | $(g request_claim_p50_ms) / $(g request_claim_p99_ms) | $n_d / $n: $d50 / $d99 | $ev_n: $ev50 / $ev99 | $n_a: $a50 / $a99 | $(g outbox_claim_p50_ms) / $(g outbox_claim_p99_ms) | $n_o: $o50 / $o99 | $(g actions) ($(g action_conflicts) superseded) | $bad |")
    log "mixed day at $r webhooks/s: $line; times (ms, p50/p99): draft $d50/$d99, action $a50/$a99, delivery $o50/$o99"
    if [ "$bad" = 0 ] && awk -v p="$(g feed_p99_ms)" 'BEGIN { exit !(p <= 50) }'; then
      best="$r"
      best_line="$line"
    fi
  done
  RSS_KB="$(awk '/VmHWM/ {print $2}' "/proc/$INBOXD_PID/status")"
  # The same day in PostgreSQL alone: pgbench runs the statements of each
  # caller's turn, weighted as the best rate's day (the highest with the
  # feed's p99 within 50 ms and nothing failed; else the last) did them per
  # second (webhooks, drafts, approvals, deliveries, feed pages: the 20
  # reviewers approve about 25 a second whatever the rate), as fast as it
  # can, with inboxd's pool size in clients. Its webhook script's rate is the database's limit
  # for the day. The queues are primed so that no claim comes back empty
  # (pgbench cannot branch on that): 30,000 new inbound messages with their
  # draft requests, 30,000 delivered outbound messages back to pending, and
  # the approvals take pending drafts of conversations no queued request is
  # on (an assistant's draft would supersede them).
  MIX_PGB_LINE=""
  if [ "$PGB_OK" = 1 ]; then
    # Weights: what the best rate's day (else the last's) did per second.
    [ -n "${best_line:-}" ] && line="$best_line"
    wt() { awk -v n="$1" -v d="$DUR" 'BEGIN { w = n / d; printf "%d", (w < 1 ? 1 : w + 0.5) }'; }
    w_wh="$(wt "$(g sent)")"
    w_as="$(wt "$(g drafts)")"
    w_ap="$(wt "$(g actions)")"
    w_de="$(wt "$(g delivered)")"
    w_fe="$(wt "$(g feed_reads)")"
    topup_drafts $((DUR * 400))
    for _ in 1 2 3; do
      psqlb -c "WITH c AS (SELECT id FROM conversations WHERE account_id = '$ACCT' AND status = 'open'
                             AND deleted_at IS NULL ORDER BY random() LIMIT 10000),
                m AS (INSERT INTO messages (account_id, id, conversation_id, direction, body_text)
                      SELECT '$ACCT', inboxd_uuid7(), c.id, 'inbound', '$BENCH_BODY' FROM c
                      RETURNING id, conversation_id)
                INSERT INTO draft_requests (account_id, id, conversation_id, message_id)
                SELECT '$ACCT', inboxd_uuid7(), conversation_id, id FROM m" >/dev/null
    done
    psqlb -c "UPDATE messages SET delivery_status = 'pending', delivered_at = NULL, lease_expires_at = NULL,
                 updated_at = now()
          WHERE account_id = '$ACCT' AND id IN (SELECT id FROM messages WHERE account_id = '$ACCT'
            AND direction = 'outbound' AND delivery_status = 'delivered' AND external_id IS NULL LIMIT 30000)" \
      -c "DROP TABLE IF EXISTS bench_pgb_drafts" -c "DROP SEQUENCE IF EXISTS bench_pgb_seq" \
      -c "CREATE TABLE bench_pgb_drafts AS SELECT row_number() OVER (ORDER BY random())::int AS n, d.id
            FROM drafts d WHERE d.account_id = '$ACCT' AND d.status = 'pending'
              AND d.conversation_id NOT IN (SELECT q.conversation_id FROM draft_requests q
                                            WHERE q.account_id = '$ACCT' AND q.status = 'queued')
            LIMIT 60000" \
      -c "ALTER TABLE bench_pgb_drafts ADD PRIMARY KEY (n)" -c "CREATE SEQUENCE bench_pgb_seq" \
      -c "ANALYZE bench_pgb_drafts" >/dev/null
    pgb_convs
    queued="$(psqlb -c "SELECT count(*) FROM draft_requests WHERE account_id = '$ACCT' AND status = 'queued'")"
    pending="$(psqlb -c "SELECT count(*) FROM messages WHERE account_id = '$ACCT' AND delivery_status = 'pending'")"
    PGOPTIONS="-c max_parallel_workers_per_gather=0" \
      "$PGBIN/pgbench" -n -M prepared -c "$POOL" -j "$THREADS" -T "$DUR" \
      -f "$OUT/pgbench/webhook.sql@$w_wh" -f "$OUT/pgbench/assist.sql@$w_as" -f "$OUT/pgbench/approve.sql@$w_ap" \
      -f "$OUT/pgbench/deliver.sql@$w_de" -f "$OUT/pgbench/feed.sql@$w_fe" \
      "${PGB_VARS[@]}" -D "nopen=$NOPEN" \
      -D "payload=$(head -1 "$OUT/mix_convs.tsv" | webhook_bodies "pgb-$(date +%s)")" \
      "$DB_URL" >"$OUT/logs/mix.pgbench" 2>&1 || log "pgbench mix failed: $OUT/logs/mix.pgbench"
    # Per script: "SQL script N: <file>" then " - weight: W (...)" and
    # " - NNN transactions (x% of total, tps = T)".
    MIX_PGB_LINE="$(awk -v q="$queued" -v p="$pending" -v w="$w_wh:$w_as:$w_ap:$w_de:$w_fe" '
      /^SQL script [0-9]+:/ { f = $4; sub(/.*\//, "", f) }
      /^ - [0-9]+ transactions/ { t = $0; sub(/.*tps = /, "", t); sub(/\).*/, "", t); tps[f] = t }
      /^tps = / && /without initial/ { total = $3 }
      /aborted/ { ab = $0 }
      END {
        printf "PostgreSQL alone, the same day (pgbench, weights %s for webhook, assist, approve, deliver, feed: what that rate did per second): %.1f scripts/s in all; webhooks %.1f/s, assistants %.1f/s, approvals %.1f/s, deliveries %.1f/s, feed pages %.1f/s (queues primed: %d requests, %d outbound messages)%s.",
          w, total, tps["webhook.sql"], tps["assist.sql"], tps["approve.sql"], tps["deliver.sql"], tps["feed.sql"], q, p,
          (ab != "" ? "; " ab : "") }' "$OUT/logs/mix.pgbench")"
    MIX_PGB_RATE="$(awk '/^SQL script [0-9]+:/ { f = $4 } /^ - [0-9]+ transactions/ && f ~ /webhook.sql$/ { t = $0; sub(/.*tps = /, "", t); sub(/\).*/, "", t); print t; exit }' "$OUT/logs/mix.pgbench")"
    log "$MIX_PGB_LINE"
  fi
  {
    echo
    echo "### $(date -u '+%Y-%m-%d %H:%M UTC') — mixed day${LABEL:+ — $LABEL}${SCALE_NOTE}"
    echo
    echo "Machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1); load before: $(cut -d' ' -f1-3 /proc/loadavg); commit $(git -C "$ROOT" rev-parse --short HEAD). inboxd: pool $POOL${INBOXD_ARGS:+, $INBOXD_ARGS}. mixday: ${DUR} s per rate; 4 assistants, 2 deliverers (claims of 5, 200 ms after an empty one), 20 reviewers reading the feed's newest first page every 2 s and approving (3 in 4) or editing what is theirs."
    echo
    echo "| offered webhooks/s | achieved | feed p50 ms | feed p99 ms | request queued → claimed p50 / p99 | webhook → draft: n / sent, p50 / p99 | draft → draft.ready event: n, p50 / p99 | webhook → action: n, p50 / p99 | outbox queued → claimed p50 / p99 | webhook → delivery: n, p50 / p99 | actions | failed |"
    echo "| ---: | ---: | ---: | ---: | --- | --- | --- | --- | --- | --- | --- | ---: |"
    printf '%s\n' "${mix_rows[@]}"
    echo
    echo "Highest rate with the feed's p99 ≤ 50 ms and nothing failed: $best. inboxd peak RSS: $((RSS_KB / 1024)) MiB."
    if [ -n "$MIX_PGB_LINE" ]; then
      echo
      echo "$MIX_PGB_LINE"
      [ "$best" != none ] && [ -n "${MIX_PGB_RATE:-}" ] &&
        echo "inboxd's highest rate ÷ PostgreSQL's webhook rate in that mix: $best ÷ $MIX_PGB_RATE = $(awk -v a="$best" -v b="$MIX_PGB_RATE" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }') (the offered rates are a series, so this is a lower bound)."
    fi
  } >"$OUT/last.md"
  cat "$OUT/last.md"
  [ "$APPEND" = 1 ] && cat "$OUT/last.md" >>"$BENCH/RESULTS.md"
  exit 0
fi

# ---- rate mode ----------------------------------------------------------------

if [ -n "$RATE" ]; then
  rate_rows=()
  for op in read feed; do
    r="$RATE"
    if [ "$op" = read ]; then src=(-i "$OUT/ids_conv.txt" -u /v1/conversations/); else src=(-u /v1/feed); r="${FEED_RATE:-$((RATE / 10))}"; fi
    "$OUT/ratebench" -p "$PORT" -c "$CONNS" -r "$r" -d "$DUR" -w "$WARM" \
      -H "Authorization: Bearer $KEY" "${src[@]}" >"$OUT/logs/rate-$op.txt" ||
      die "ratebench failed for $op: $OUT/logs/rate-$op.txt"
    line="$(grep '^RATERESULT' "$OUT/logs/rate-$op.txt")"
    g() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p" <<<"$line"; }
    rate_rows+=("| $op | $r | $(g achieved) | $(g p50_ms) | $(g p90_ms) | $(g p99_ms) | $(g p999_ms) | $(g max_ms) | $(($(g non2xx) + $(g errors) + $(g lost))) |")
    log "$op at $r req/s: $line"
  done
  RSS_KB="$(awk '/VmHWM/ {print $2}' "/proc/$INBOXD_PID/status")"
  {
    echo
    echo "### $(date -u '+%Y-%m-%d %H:%M UTC') — fixed rate${LABEL:+ — $LABEL}"
    echo
    echo "Machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo); load before: $(cut -d' ' -f1-3 /proc/loadavg); commit $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- src routes include sql 2>/dev/null || echo '+dirty'); inboxd: pool $POOL${INBOXD_ARGS:+, $INBOXD_ARGS}; ratebench: $CONNS connections, ${DUR} s after ${WARM} s warm-up, latency from the scheduled send time."
    echo
    echo "| operation | offered req/s | achieved | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | non-2xx + errors + lost |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    printf '%s\n' "${rate_rows[@]}"
    echo
    echo "inboxd peak RSS (VmHWM): $((RSS_KB / 1024)) MiB"
  } >"$OUT/last.md"
  cat "$OUT/last.md"
  [ "$APPEND" = 1 ] && cat "$OUT/last.md" >>"$BENCH/RESULTS.md"
  exit 0
fi

# ---- compare mode -------------------------------------------------------------

stop_inboxd() {
  kill -TERM "$INBOXD_PID" 2>/dev/null || true
  wait "$INBOXD_PID" 2>/dev/null || true
  INBOXD_PID=""
}

feed_cursor() { # sets cursor, DEEP_TS, DEEP_ID: the feed walked 200 at a time to item 20,000
  cursor=""
  for _ in $(seq 1 100); do
    page="$(curl -fsS -H "Authorization: Bearer $KEY" "$URL/v1/feed?limit=200${cursor:+&cursor=$cursor}")"
    cursor="$(grep -o '"nextCursor":"[^"]*"' <<<"$page" | sed 's/.*:"\(.*\)"/\1/')"
    [ -n "$cursor" ] || die "the feed ended before position 20,000"
  done
  DEEP_TS="$(psqlb -F ' ' -c "SELECT feed_at, id FROM conversations WHERE account_id = '$ACCT' AND feed_at IS NOT NULL ORDER BY feed_at, id OFFSET 19999 LIMIT 1")"
  DEEP_ID="${DEEP_TS##* }"
  DEEP_TS="${DEEP_TS% *}"
}

if [ -n "$COMPARE" ]; then
  IFS=';' read -r -a cfgs <<<"$COMPARE"
  rounds="${ROUNDS:-2}"
  feed_cursor
  LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
  declare -A CMP_RSS
  for round in $(seq 1 "$rounds"); do
    for i in "${!cfgs[@]}"; do
      # Alternate the order between rounds so that drift in the machine's load
      # does not favour one configuration.
      [ $((round % 2)) = 0 ] && i=$((${#cfgs[@]} - 1 - i))
      stop_inboxd
      INBOXD_ARGS="${cfgs[$i]}"
      log "round $round: inboxd ${INBOXD_ARGS:-(defaults)}"
      start_inboxd
      for op in ${OPS//,/ }; do
        case "$op" in
          read) wrk_run "read#$i#$round" read.lua ;;
          feed) BENCH_FEED_PATH=/v1/feed wrk_run "feed#$i#$round" feed.lua ;;
          feed_deep) BENCH_FEED_PATH="/v1/feed?cursor=$cursor" wrk_run "feed_deep#$i#$round" feed.lua ;;
          message) BENCH_RUN_ID="$(date +%s)$i" wrk_run "message#$i#$round" message.lua ;;
        esac
      done
      CMP_RSS[$i]="$(awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$INBOXD_PID/status")"
    done
  done
  median() { sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.1f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
  {
    echo
    echo "### $(date -u '+%Y-%m-%d %H:%M UTC') — comparison${LABEL:+ — $LABEL}"
    echo
    echo "Machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo); load before: $LOAD_BEFORE; commit $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- src routes include sql 2>/dev/null || echo '+dirty'). pool $POOL unless the flags say otherwise; wrk $THREADS threads, $CONNS connections, ${DUR} s after ${WARM} s warm-up; median of $rounds rounds run in alternating order."
    echo
    echo "| inboxd flags | operation | req/s | p50 ms | p99 ms | CPU µs/req | non-2xx | peak RSS MiB |"
    echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    for i in "${!cfgs[@]}"; do
      for op in ${OPS//,/ }; do
        keys=()
        for round in $(seq 1 "$rounds"); do keys+=("$op#$i#$round"); done
        [ -n "${R_RPS[${keys[0]}]:-}" ] || continue
        m() { local -n arr="$1"; for k in "${keys[@]}"; do echo "${arr[$k]}"; done | median; }
        bad=0
        for k in "${keys[@]}"; do bad=$((bad + R_BAD[$k])); done
        echo "| ${cfgs[$i]:-(defaults)} | $op | $(m R_RPS) | $(m R_P50) | $(m R_P99) | $(m R_CPU) | $bad | ${CMP_RSS[$i]} |"
      done
    done
  } >"$OUT/last.md"
  cat "$OUT/last.md"
  [ "$APPEND" = 1 ] && cat "$OUT/last.md" >>"$BENCH/RESULTS.md"
  exit 0
fi

# ---- the operations -----------------------------------------------------------

LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"

if has_op read; then
  wrk_run read read.lua
  cvars=()
  i=0
  while read -r id; do
    cvars+=(-D "c$i=$id")
    i=$((i + 1))
  done < <(shuf -n 256 "$OUT/ids_conv.txt")
  pgbench_run read read.sql "${cvars[@]}"
fi

# The same read over HTTPS (keep-alive, so mostly the cost of TLS records):
# a second inboxd, serving TLS with a certificate made here, on the next
# port; the first one idles meanwhile.
if has_op read_tls; then
  sh "$ROOT/tests/tls/make-certs.sh" "$OUT/tls" || die "cannot make the TLS certificates"
  TLS_PORT=$((PORT + 1))
  # shellcheck disable=SC2086 # INBOXD_ARGS is a list of flags
  INBOXD_LISTEN="127.0.0.1:$TLS_PORT" "$INBOXD" serve --log-level warn --pool-size "$POOL" \
    --tls-cert "$OUT/tls/server.pem" --tls-key "$OUT/tls/server.key" $INBOXD_ARGS \
    2>"$OUT/logs/inboxd-tls.log" &
  tls_pid=$!
  BG_PIDS+=("$tls_pid")
  for _ in $(seq 1 100); do
    curl -fsS --cacert "$OUT/tls/ca.pem" "https://127.0.0.1:$TLS_PORT/healthz" >/dev/null 2>&1 && break
    kill -0 "$tls_pid" 2>/dev/null || die "inboxd (TLS) exited: $(cat "$OUT/logs/inboxd-tls.log")"
    sleep 0.1
  done
  BENCH_URL="https://127.0.0.1:$TLS_PORT" CPU_PID="$tls_pid" wrk_run read_tls read.lua
  kill -TERM "$tls_pid" 2>/dev/null || true
  wait "$tls_pid" 2>/dev/null || true
  if [ -n "${R_RPS[read]:-}" ]; then
    R_NOTE[read_tls]="HTTPS (TLS 1.3, ECDSA P-256, keep-alive) reads at $(awk -v a="${R_RPS[read_tls]}" -v b="${R_RPS[read]}" 'BEGIN { printf "%.2f", a / b }') × the plain rate"
  fi
fi

if has_op feed || has_op feed_deep || has_op feed_plain; then
  feed_cursor
fi
if has_op feed; then
  BENCH_FEED_PATH=/v1/feed wrk_run feed feed.lua
  pgbench_run feed feed.sql
fi
if has_op feed_deep; then
  BENCH_FEED_PATH="/v1/feed?cursor=$cursor" wrk_run feed_deep feed.lua
  pgbench_run feed_deep feed_deep.sql -D "deep_ts=$DEEP_TS" -D "deep_id=$DEEP_ID"
fi
if has_op feed_plain; then
  BENCH_FEED_GZIP=0 BENCH_FEED_PATH=/v1/feed wrk_run feed_plain feed.lua
fi
# feed_nopages: the first and the deep page with no whole pages kept
# (--feed-pages 0), so every request reads the database, as the first one
# after any write does; pgbench's figures are the feed ops' own SQL.
if has_op feed_nopages; then
  [ -n "${cursor:-}" ] || feed_cursor
  restart_inboxd "$INBOXD_ARGS --feed-pages 0"
  BENCH_FEED_PATH=/v1/feed wrk_run feed_nopages feed.lua
  BENCH_FEED_PATH="/v1/feed?cursor=$cursor" wrk_run feed_deep_nopages feed.lua
  R_PGB[feed_nopages]="${R_PGB[feed]:--}"
  R_PGB[feed_deep_nopages]="${R_PGB[feed_deep]:--}"
  restart_inboxd "$INBOXD_ARGS"
fi

# search_common / search_rare: the first page (20) of a full-text search
# for a word in nearly every message ("pump": gen.sql's bodies draw from 48
# words) and for one only in the messages the benchmark posts ("holley",
# BENCH_BODY), 4 connections (a search is a dashboard user's, not a
# stream's); pgbench runs search_messages with the same words.
for s_op in search_common search_rare; do
  has_op "$s_op" || continue
  word=pump
  [ "$s_op" = search_rare ] && word=holley
  WRK_CONNS=4 BENCH_FEED_PATH="/v1/search/messages?q=$word&limit=20" wrk_run "$s_op" feed.lua
  R_NOTE[$s_op]="\"$word\": $(psqlb -c "SELECT count(*) FROM messages WHERE account_id = '$ACCT' AND search_vector @@ websearch_to_tsquery('english', '$word')") matching messages"
  POOL_SAVE="$POOL"
  POOL=4
  PGB_MODE=extended pgbench_run "$s_op" search.sql -D "q=$word" -D fetch=21
  POOL="$POOL_SAVE"
done

# export: the corrections export, whole (GET /v1/learning-samples with
# Accept: application/x-ndjson, one stream), its rows per second and how
# much inboxd's RSS grew while it ran (sampled every 50 ms); beside it
# psql copying the same rows (inboxd_json_learning_sample, the stream's
# order) to /dev/null.
EXPORT_LINE=""
if has_op export; then
  rss_sampler() {
    while kill -0 "$INBOXD_PID" 2>/dev/null; do
      awk '/^VmRSS/ {print $2}' "/proc/$INBOXD_PID/status"
      sleep 0.05
    done
  }
  rss0="$(rss_kb)"
  rss_sampler >"$OUT/logs/export-rss.txt" &
  sampler=$!
  BG_PIDS+=("$sampler")
  t0="$(date +%s%N)"
  curl -fsS -H "Authorization: Bearer $KEY" -H 'Accept: application/x-ndjson' \
    "$URL/v1/learning-samples" -o "$OUT/export.ndjson" || die "the export failed"
  t1="$(date +%s%N)"
  kill "$sampler" 2>/dev/null || true
  wait "$sampler" 2>/dev/null || true
  rows="$(wc -l <"$OUT/export.ndjson")"
  peak="$(sort -n "$OUT/logs/export-rss.txt" | tail -1)"
  t2="$(date +%s%N)"
  psqlb -c "\\copy (SELECT inboxd_json_learning_sample(s) FROM learning_samples s WHERE s.account_id = '$ACCT' ORDER BY s.write_xid, s.id) TO '/dev/null'"
  t3="$(date +%s%N)"
  EXPORT_LINE="$(awk -v n="$rows" -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" -v r0="$rss0" -v pk="$peak" 'BEGIN {
    s = (b - a) / 1e9; p = (d - c) / 1e9
    printf "Export: %d samples in %.2f s, %.0f rows/s (psql copying the same rows: %.0f rows/s, %.2f ×); inboxd RSS %.1f MiB before, at most %.1f MiB while it ran (+%.1f).",
      n, s, n / s, n / p, (n / s) / (n / p), r0 / 1024, pk / 1024, (pk - r0) / 1024 }')"
  log "$EXPORT_LINE"
fi

# read_beside NAME MARK ARGS...: a read run while `ratebench ARGS` holds its
# connections open (ratebench prints MARK once they are up); its output is
# in $OUT/logs/NAME.txt.
read_beside() {
  local name="$1" mark="$2" pid rss0
  shift 2
  rss0="$(rss_kb)"
  "$OUT/ratebench" -p "$PORT" "$@" --hold $((DUR + WARM + 30)) >"$OUT/logs/$name.txt" 2>&1 &
  pid=$!
  BG_PIDS+=("$pid")
  for _ in $(seq 1 300); do
    grep -q "^$mark" "$OUT/logs/$name.txt" && break
    kill -0 "$pid" 2>/dev/null || die "ratebench $*: $(cat "$OUT/logs/$name.txt")"
    sleep 0.1
  done
  grep -q "^$mark" "$OUT/logs/$name.txt" || die "ratebench $*: not up in 30 s"
  R_RSS_DELTA[$name]=$(($(rss_kb) - rss0))
  wrk_run "read_$name" read.lua
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

IDLE_RPS=""
if has_op idle; then
  read_beside idle 'IDLE connected' --idle "$IDLE_CONNS"
  IDLE_OPEN="$(sed -n 's/^IDLE still_open=//p' "$OUT/logs/idle.txt")"
  IDLE_RPS="${R_RPS[read_idle]}"
fi
if has_op slow; then
  read_beside slow 'SLOW connected' --slow "$SLOW_CONNS"
fi
# events_idle: as idle, each connection an open event stream of the
# account (GET /v1/events), which the hub holds suspended.
if has_op events_idle; then
  read_beside events 'IDLE connected' --idle "$IDLE_CONNS" -u /v1/events \
    -H "Authorization: Bearer $KEY"
  EVENTS_OPEN="$(sed -n 's/^IDLE still_open=//p' "$OUT/logs/events.txt")"
fi

if has_op message; then
  pgb_convs
  BENCH_RUN_ID="$(date +%s)" wrk_run message message.lua
  pgbench_run message message.sql -D "nopen=$NOPEN"
fi

# message_ways: the inbound message's statements three ways, in PostgreSQL
# alone (issue 18): one per round trip (message.sql, as for the message
# op), all in one pipeline (pgbench \startpipeline: PostgreSQL 15's pgbench
# sends one Sync per pipeline, so one round trip, fewer than inboxd's
# three), and one call of a server-side function (message_fn.sql). ROUNDS
# (default 3) rounds in alternating order; medians.
WAYS_ROWS=()
if has_op message_ways; then
  [ -n "${NOPEN:-}" ] || die "message_ways needs the message op before it (--ops message,message_ways)"
  [ "$PGB_OK" = 1 ] || die "message_ways needs pgbench"
  psqlb -f "$BENCH/message_fn.sql" >/dev/null
  # In the pipeline: BEGIN ... COMMIT and the statement after COMMIT
  # (tx_committed), the sent time read in SQL instead of \gset.
  sed -e 's/ RETURNING m.sent_at \\gset$/ RETURNING m.sent_at;/' -e 's/:sent_at::timestamptz/now()/g' \
    -e 's/^BEGIN;$/\\startpipeline\nBEGIN;/' -e '$a\\\\endpipeline' \
    "$OUT/pgbench/message.sql" >"$OUT/pgbench/message_pipeline.sql"
  {
    sed '/^BEGIN;$/,$d' "$OUT/pgbench/message.sql"
    echo '\startpipeline'
    sed -n '/^BEGIN;$/,/^SELECT set_config/p' "$OUT/pgbench/message.sql"
    echo "SELECT bench_message(:acct, :conv, :mid, :rid, :aid, :reqid, :ext, :subject, :body, :key_id, :hash, :ip);"
    sed -n '/^COMMIT;$/,$p' "$OUT/pgbench/message.sql"
    echo '\endpipeline'
  } >"$OUT/pgbench/message_function.sql"
  ways=(one_per_trip pipeline function)
  declare -A WAY_SCRIPT=([one_per_trip]=message.sql [pipeline]=message_pipeline.sql [function]=message_function.sql)
  for round in $(seq 1 "${ROUNDS:-3}"); do
    order=("${ways[@]}")
    [ $((round % 2)) = 0 ] && order=(function pipeline one_per_trip)
    for w in "${order[@]}"; do
      pgbench_run "ways_$w#$round" "${WAY_SCRIPT[$w]}" -D "nopen=$NOPEN"
    done
  done
  for w in "${ways[@]}"; do
    vals=()
    for round in $(seq 1 "${ROUNDS:-3}"); do vals+=("${R_PGB[ways_$w#$round]}"); done
    med="$(printf '%s\n' "${vals[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')"
    WAYS_ROWS+=("| $w | $med | ${vals[*]} |")
  done
fi

# node_message: the same inbound messages to the plain Node service
# (tests/bench/node: fastify + pg, pool $POOL, touch the conversation and
# insert the message, nothing else), the yardstick of issue 18; pgbench runs
# its two statements one per round trip as inboxd's are above.
if has_op node_message; then
  if [ ! -f "$BENCH/node/node_modules/.package-lock.json" ] ||
    [ "$BENCH/node/package-lock.json" -nt "$BENCH/node/node_modules/.package-lock.json" ]; then
    (cd "$BENCH/node" && npm ci --no-audit --no-fund --loglevel=error </dev/null) >"$OUT/logs/npm.log" 2>&1 ||
      die "npm ci in tests/bench/node failed: $OUT/logs/npm.log"
  fi
  NODE_PORT=$((PORT + 9))
  DATABASE_URL="$DB_URL" NODE_KEY="$KEY" NODE_ACCOUNT="$ACCT" NODE_POOL="$POOL" NODE_PORT="$NODE_PORT" \
    node "$BENCH/node/server.js" >"$OUT/logs/node.log" 2>&1 &
  NODE_PID=$!
  BG_PIDS+=("$NODE_PID")
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$NODE_PORT/healthz" >/dev/null 2>&1 && break
    kill -0 "$NODE_PID" 2>/dev/null || die "the Node service exited: $OUT/logs/node.log"
    sleep 0.1
  done
  CPU_PID="$NODE_PID" BENCH_URL="http://127.0.0.1:$NODE_PORT" BENCH_RUN_ID="node-$(date +%s)" \
    wrk_run node_message message.lua
  cp "$BENCH/node/message.sql" "$OUT/pgbench/node_message.sql"
  [ -n "${NOPEN:-}" ] || die "node_message needs the message op before it (--ops message,node_message)"
  pgbench_run node_message node_message.sql -D "nopen=$NOPEN"
  kill "$NODE_PID" 2>/dev/null || true
  wait "$NODE_PID" 2>/dev/null || true
fi

if has_op approve; then
  # Every approval needs its own pending draft: give the open conversations
  # without one a draft for their latest inbound message (as the drafting
  # worker would), then split the pending drafts between warm-up, wrk and pgbench.
  # How many: 1.5 x the faster of the message runs (a similar transaction), at least 400/s.
  est="$(awk -v a="${R_RPS[message]:-0}" -v b="${R_PGB[message]:-0}" \
    'BEGIN { m = a + 0 > b + 0 ? a + 0 : b + 0; if (m < 400) m = 400; printf "%d", m * 1.5 }')"
  topup_drafts $((est * (2 * DUR + WARM)))
  psqlb -c "DROP TABLE IF EXISTS bench_drafts" -c "CREATE TABLE bench_drafts AS SELECT row_number() OVER (ORDER BY random())::int AS n, id
            FROM drafts WHERE account_id = '$ACCT' AND status = 'pending'"
  NPEND="$(psqlb -c "SELECT count(*) FROM bench_drafts")"
  NWARM=$((NPEND / 10))
  NHALF=$(((NPEND - NWARM) / 2))
  lua_list drafts_warm.lua "SELECT id FROM bench_drafts WHERE n <= $NWARM ORDER BY n"
  lua_list drafts_run.lua "SELECT id FROM bench_drafts WHERE n > $NWARM AND n <= $((NWARM + NHALF)) ORDER BY n"
  # Above scale 1 the database is the last run's: its tables go first.
  psqlb -c "DROP TABLE IF EXISTS bench_pgb_drafts" -c "DROP SEQUENCE IF EXISTS bench_pgb_seq" \
    -c "CREATE TABLE bench_pgb_drafts AS SELECT (n - $((NWARM + NHALF)))::int AS n, id
            FROM bench_drafts WHERE n > $((NWARM + NHALF))" \
    -c "ALTER TABLE bench_pgb_drafts ADD PRIMARY KEY (n)" -c "CREATE SEQUENCE bench_pgb_seq" \
    -c "ANALYZE bench_pgb_drafts"
  BENCH_USER="$USER_ID" BENCH_DRAFTS=drafts_warm.lua \
    BENCH_AFTER_WARM='export BENCH_DRAFTS=drafts_run.lua' WRK_THREADS=1 wrk_run approve approve.lua
  pgbench_run approve approve.sql
  R_NOTE[approve]="$NHALF drafts each for wrk (one thread, 32 connections) and pgbench"
fi

if has_op webhook; then
  code="$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' -d '{}' "$URL/v1/webhooks/bench")"
  if [ "$code" = 404 ] || [ "$code" = 405 ]; then
    R_NOTE[webhook]="skipped: POST /v1/webhooks/{source} answers $code (routes/webhooks.c not implemented)"
    log "${R_NOTE[webhook]}"
  elif ! cc -std=c17 -O2 -I"$ROOT/include" -o "$OUT/sign" "$BENCH/sign.c" "$ROOT/src/lib/sig.c" \
    -lgnutls -lnettle 2>"$OUT/logs/sign-build.log"; then
    R_NOTE[webhook]="skipped: the signer did not build ($OUT/logs/sign-build.log)"
    log "${R_NOTE[webhook]}"
  else
    # New inbound messages on existing conversations of existing channels,
    # each delivery with its own id; signed now (timestamps must be fresh).
    nwh=40000
    run_id="$(date +%s)"
    psqlb -F $'\t' -c "SELECT ch.type, ch.external_id, ch.name, c.external_id
        FROM conversations c JOIN channels ch ON ch.account_id = c.account_id AND ch.id = c.channel_id
        WHERE c.account_id = '$ACCT' AND c.status = 'open' ORDER BY random() LIMIT $nwh" |
      webhook_bodies "$run_id" >"$OUT/webhook-bodies.txt"
    head -n $((nwh / 10)) "$OUT/webhook-bodies.txt" |
      "$OUT/sign" "$INBOXD_WEBHOOK_BENCH_SECRET" >"$OUT/wh_warm.lua" 2>/dev/null
    tail -n +$((nwh / 10 + 1)) "$OUT/webhook-bodies.txt" |
      "$OUT/sign" "$INBOXD_WEBHOOK_BENCH_SECRET" >"$OUT/wh_run.lua" 2>/dev/null
    BENCH_DELIVERIES=wh_warm.lua BENCH_AFTER_WARM='export BENCH_DELIVERIES=wh_run.lua' \
      WRK_THREADS=1 wrk_run webhook webhook.lua
    [ -n "${NOPEN:-}" ] || pgb_convs
    pgbench_run webhook webhook.sql -D "nopen=$NOPEN" -D "payload=$(head -1 "$OUT/webhook-bodies.txt")"
    R_NOTE[webhook]="wrk: one thread, 32 connections; pgbench runs both transactions (store, then process) of one delivery as one script"
  fi
fi

# migrate: the next release's migration on the loaded database while 8
# connections post inbound messages (wrk until SIGINT, which prints its
# summary): how long it takes, and whether the writes waited for it (their
# longest answer beside the migration's time). Then `inboxd migrate` with
# nothing pending (sql/current only). The index and its row in
# schema_migrations are dropped again, so the next run finds the same.
MIGRATE_LINE=""
if has_op migrate; then
  MIG_BIN="$ROOT/build-test/inboxd"
  if [ ! -x "$MIG_BIN" ] || ! ninja -C "$ROOT/build-test" inboxd >"$OUT/logs/build-test.log" 2>&1; then
    MIGRATE_LINE="Migrate: skipped, it needs the debug build build-test/inboxd (./dev.sh test makes it)."
  else
    mig_undo() {
      psqlb -c "DROP INDEX CONCURRENTLY IF EXISTS messages_test_upgrade_idx" \
        -c "DELETE FROM schema_migrations WHERE version >= 9000"
    }
    mig_undo
    nmsg="$(psqlb -c "SELECT reltuples::int8 FROM pg_class WHERE relname = 'messages'")"
    BENCH_RUN_ID="mig-$(date +%s)" BENCH_THREADS=1 wrk -t1 -c8 -d3600s --timeout 60s --latency \
      -s "$BENCH/message.lua" "$URL" >"$OUT/logs/migrate.wrk" 2>&1 &
    mig_wrk=$!
    BG_PIDS+=("$mig_wrk")
    sleep "$WARM"
    t0="$(date +%s%N)"
    INBOXD_TEST_MIGRATIONS_DIR="$ROOT/tests/migrations" "$MIG_BIN" migrate \
      >"$OUT/logs/migrate-next.log" 2>&1 || die "inboxd migrate (next release) failed: $OUT/logs/migrate-next.log"
    t1="$(date +%s%N)"
    "$MIG_BIN" migrate >"$OUT/logs/migrate-none.log" 2>&1 ||
      die "inboxd migrate (nothing pending) failed: $OUT/logs/migrate-none.log"
    t2="$(date +%s%N)"
    sleep "$WARM"
    kill -INT "$mig_wrk"
    wait "$mig_wrk" || true
    [ "$(psqlb -c "SELECT count(*) FROM schema_migrations WHERE version = 9000")" = 1 ] ||
      die "the next release's migration was not recorded: $OUT/logs/migrate-next.log"
    mig_undo
    line="$(grep '^BENCHRESULT' "$OUT/logs/migrate.wrk")" || die "no result from wrk for migrate"
    MIGRATE_LINE="$(awk -v l="$line" -v a="$t0" -v b="$t1" -v c="$t2" -v n="$nmsg" 'BEGIN {
      split(l, f, " "); for (i in f) { split(f[i], kv, "="); v[kv[1]] = kv[2] }
      printf "Migrate: the next release'"'"'s migration (tests/migrations/9000, CREATE INDEX CONCURRENTLY on messages, %.0f rows) took %.1f s, with nothing pending %.2f s. Beside it, 8 connections posting inbound messages: %d requests, %.0f req/s, p50 %.1f ms, p99 %.1f ms, longest %.1f ms, non-2xx and errors %d.",
        n, (b - a) / 1e9, (c - b) / 1e9, v["requests"], v["rps"], v["p50_us"] / 1000, v["p99_us"] / 1000, v["max_us"] / 1000, v["non2xx"] + v["errors"] }')"
  fi
  log "$MIGRATE_LINE"
fi

# retention: `inboxd retention` (one sweep of every table, in batches)
# three times: what is due as loaded (the benchmark's inboxd never sweeps:
# its first timer tick is an hour away), then with 1,000 × scale closed
# conversations back-dated past retention_closed_days (their text blanked
# in messages, drafts, actions and webhook payloads), then with nothing due.
RETENTION_LINES=()
if has_op retention; then
  sweep() { # LABEL
    local t0 t1 rows
    t0="$(date +%s%N)"
    "$INBOXD" retention >"$OUT/logs/retention-$1.log" 2>&1 || die "inboxd retention failed: $OUT/logs/retention-$1.log"
    t1="$(date +%s%N)"
    rows="$(awk '$2 > 0 { printf "%s%s %s", sep, $1, $2; sep = ", " }' "$OUT/logs/retention-$1.log")"
    RETENTION_LINES+=("$(awk -v a="$t0" -v b="$t1" -v l="$1" -v r="${rows:-nothing}" \
      'BEGIN { printf "| %s | %.2f | %s |", l, (b - a) / 1e9, r }')")
  }
  sweep "as loaded"
  nold="$(awk -v s="$SCALE" 'BEGIN { printf "%d", s * 1000 }')"
  psqlb -c "UPDATE conversations SET closed_at = now() - interval '400 days'
            WHERE account_id = '$ACCT' AND id IN (SELECT id FROM conversations
              WHERE account_id = '$ACCT' AND status = 'closed' AND bodies_blanked_at IS NULL
                AND closed_at > now() - interval '300 days' LIMIT $nold)" >/dev/null
  sweep "$nold closed conversations past 365 days"
  sweep "nothing due"
fi

if [ "$PERF" = 1 ]; then
  # Self time by symbol (no call graphs: a release build has no frame
  # pointers), inboxd only, while wrk drives one operation.
  for op in read feed; do
    log "profiling inboxd during a $op run (perf record)"
    perf record -F 999 -p "$INBOXD_PID" -o "$OUT/perf-$op.data" -- sleep "$DUR" >/dev/null 2>&1 &
    perf_pid=$!
    if [ "$op" = read ]; then
      wrk -t"$THREADS" -c"$CONNS" -d"${DUR}s" -s "$BENCH/read.lua" "$URL" >/dev/null 2>&1 || true
    else
      BENCH_FEED_PATH=/v1/feed wrk -t"$THREADS" -c"$CONNS" -d"${DUR}s" -s "$BENCH/feed.lua" "$URL" \
        >/dev/null 2>&1 || true
    fi
    wait "$perf_pid" || true
    perf report -i "$OUT/perf-$op.data" --no-children --sort dso,symbol --percent-limit 0.8 \
      --stdio 2>/dev/null | grep '%' | grep -v '^#' | head -30 >"$OUT/perf-$op.txt" || true
    perf report -i "$OUT/perf-$op.data" --no-children --sort dso --stdio 2>/dev/null |
      grep '%' | grep -v '^#' | head -12 >"$OUT/perf-$op-dso.txt" || true
  done
fi

RSS_KB="$(awk '/VmHWM/ {print $2}' "/proc/$INBOXD_PID/status")"

# ---- report -------------------------------------------------------------------

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0 && a + 0 > 0) printf "%.2f", a / b; else printf "-" }'; }
verdict() { [ "$1" = 1 ] && echo "holds" || echo "MISSED"; }
label_of() {
  case "$1" in
    read) echo "GET /v1/conversations/{id}" ;;
    read_tls) echo "GET /v1/conversations/{id} over HTTPS" ;;
    feed) echo "GET /v1/feed (first page, 50)" ;;
    feed_deep) echo "GET /v1/feed?cursor= (item 20,000)" ;;
    feed_plain) echo "GET /v1/feed (first page, 50, no gzip)" ;;
    feed_nopages) echo "GET /v1/feed (first page), no kept pages" ;;
    feed_deep_nopages) echo "GET /v1/feed?cursor= (item 20,000), no kept pages" ;;
    search_common) echo "GET /v1/search/messages?q=pump (a word in nearly every message)" ;;
    search_rare) echo "GET /v1/search/messages?q=holley (a word in few)" ;;
    read_idle) echo "GET /v1/conversations/{id} + $IDLE_CONNS idle conns" ;;
    read_slow) echo "GET /v1/conversations/{id} + $SLOW_CONNS slow clients" ;;
    read_events) echo "GET /v1/conversations/{id} + $IDLE_CONNS open event streams" ;;
    message) echo "POST …/messages (inbound)" ;;
    node_message) echo "the same, plain Node service (fastify + pg)" ;;
    approve) echo "POST /v1/drafts/{id}/actions (approve)" ;;
    webhook) echo "POST /v1/webhooks/{source} (signed)" ;;
    *) echo "$1" ;;
  esac
}
{
  echo
  echo "### $(date -u '+%Y-%m-%d %H:%M UTC')${LABEL:+ — $LABEL}${SCALE_NOTE}"
  echo
  echo "Machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo); load before: $LOAD_BEFORE; commit $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- src routes include sql 2>/dev/null || echo '+dirty'). inboxd: release, pool $POOL${INBOXD_ARGS:+, $INBOXD_ARGS}, log warn. wrk: $THREADS threads, $CONNS connections, ${DUR} s after ${WARM} s warm-up. pgbench: -M prepared, $POOL clients, ${DUR} s. PostgreSQL 15, fsync on."
  echo
  echo "| operation | req/s | p50 ms | p99 ms | non-2xx | inboxd CPU µs/req | pgbench TPS | inboxd ÷ pgbench |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  for n in "${ORDER[@]}"; do
    echo "| $(label_of "$n") | ${R_RPS[$n]} | ${R_P50[$n]} | ${R_P99[$n]} | ${R_BAD[$n]} | ${R_CPU[$n]} | ${R_PGB[$n]} | $(ratio "${R_RPS[$n]}" "${R_PGB[$n]}") |"
  done
  echo
  echo "inboxd peak RSS (VmHWM): $((RSS_KB / 1024)) MiB."
  if [ "${#R_DBSTAT[@]}" -gt 0 ]; then
    echo
    echo "The database's work per request (--dbstats; buffers of 8 KiB, read = from the OS, not shared_buffers; disk MB: what $PG_DISK read in the whole run):"
    echo
    echo "| run | buffers read | buffers hit | WAL records | full-page images | WAL KiB | buffers written | checkpoints | disk MB read |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    for n in "${ORDER[@]}"; do
      for k in "$n" "pgbench $n"; do
        [ -n "${R_DBSTAT[$k]:-}" ] && echo "| $k | ${R_DBSTAT[$k]} |"
      done
    done
  fi
  if [ "${#WAYS_ROWS[@]}" -gt 0 ]; then
    echo
    echo "The inbound message's statements three ways, PostgreSQL alone (pgbench, $POOL clients, ${DUR} s each, ${ROUNDS:-3} alternating rounds; TPS, median first):"
    echo
    echo "| way | TPS (median) | rounds |"
    echo "| --- | ---: | --- |"
    printf '%s\n' "${WAYS_ROWS[@]}"
  fi
  if [ "$SCALE" != 1 ]; then
    echo
    echo "Database $DB at scale $SCALE ($(cat "$OUT/$BASE_DB.load" 2>/dev/null || echo "load time unknown")): $(psqlb -c "SELECT pg_size_pretty(pg_database_size(current_database()))"); the largest tables:"
    echo
    echo "| table | rows (estimate) | heap | indexes | largest index |"
    echo "| --- | ---: | ---: | ---: | --- |"
    psqlb -F ' | ' -c "SELECT '| ' || c.relname, to_char(c.reltuples, 'FM999,999,999,999'),
                              pg_size_pretty(pg_table_size(c.oid)), pg_size_pretty(pg_indexes_size(c.oid)),
                              (SELECT i.relname || ' ' || pg_size_pretty(pg_relation_size(i.oid)) || ' |'
                               FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
                               WHERE x.indrelid = c.oid ORDER BY pg_relation_size(i.oid) DESC LIMIT 1)
                       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                       WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname NOT LIKE 'bench%'
                       ORDER BY pg_total_relation_size(c.oid) DESC LIMIT 10"
  fi
  for n in "${!R_NOTE[@]}"; do echo "$n: ${R_NOTE[$n]}."; done
  [ -n "$EXPORT_LINE" ] && echo "$EXPORT_LINE"
  [ -n "$MIGRATE_LINE" ] && echo "$MIGRATE_LINE"
  if [ "${#RETENTION_LINES[@]}" -gt 0 ]; then
    echo
    echo "Retention sweeps (\`inboxd retention\`, defaults, batches of 1,000):"
    echo
    echo "| due | seconds | rows swept |"
    echo "| --- | ---: | --- |"
    printf '%s\n' "${RETENTION_LINES[@]}"
    echo
  fi
  [ -n "${PGB_NOTE:-}" ] && echo "$PGB_NOTE."
  echo
  echo "Targets:"
  if [ -n "${R_RPS[read]:-}" ] && [[ "${R_PGB[read]}" =~ ^[0-9] ]]; then
    r="$(ratio "${R_RPS[read]}" "${R_PGB[read]}")"
    echo "- read ≥ 0.7 × pgbench: $r — $(verdict "$(awk -v r="$r" 'BEGIN { print (r >= 0.7) }')")"
  fi
  for f in feed feed_deep feed_plain; do
    if [ -n "${R_RPS[$f]:-}" ] && [ -n "${R_RPS[read]:-}" ]; then
      r="$(ratio "${R_RPS[$f]}" "${R_RPS[read]}")"
      echo "- $f ≥ 0.5 × read and p99 ≤ 20 ms: $r, p99 ${R_P99[$f]} ms — $(verdict "$(awk -v r="$r" -v p="${R_P99[$f]}" 'BEGIN { print (r >= 0.5 && p <= 20) }')")"
    fi
  done
  for w in message approve webhook; do
    if [ -n "${R_RPS[$w]:-}" ] && ! [[ "${R_PGB[$w]}" =~ ^[0-9] ]]; then
      echo "- $w: 0 non-2xx: ${R_BAD[$w]} (no pgbench figure) — $(verdict "$((R_BAD[$w] == 0))")"
    elif [ -n "${R_RPS[$w]:-}" ]; then
      r="$(ratio "${R_RPS[$w]}" "${R_PGB[$w]}")"
      echo "- $w ≥ 0.8 × pgbench, 0 non-2xx: $r, ${R_BAD[$w]} — $(verdict "$(awk -v r="$r" -v b="${R_BAD[$w]}" 'BEGIN { print (r >= 0.8 && b == 0) }')")"
    fi
  done
  if [ -n "${R_RPS[message]:-}" ] && [ -n "${R_RPS[node_message]:-}" ]; then
    r="$(ratio "${R_RPS[message]}" "${R_RPS[node_message]}")"
    echo "- message ≥ 1.0 × the plain Node service: $r — $(verdict "$(awk -v r="$r" 'BEGIN { print (r >= 1.0) }')")"
  fi
  echo "- peak RSS ≤ 64 MiB: $((RSS_KB / 1024)) MiB — $(verdict "$((RSS_KB <= 65536))")"
  if [ -n "${R_RPS[read_events]:-}" ] && [ -n "${R_RPS[read]:-}" ]; then
    r="$(ratio "${R_RPS[read_events]}" "${R_RPS[read]}")"
    mib="$(awk -v k="${R_RSS_DELTA[events]}" 'BEGIN { printf "%.1f", k / 1024 }')"
    echo "- $IDLE_CONNS open event streams cost ≤ 10 % read throughput and ≤ 32 MiB: ${R_RPS[read_events]} vs ${R_RPS[read]} req/s = $r, inboxd RSS +$mib MiB (still open at the end: ${EVENTS_OPEN:-?}) — $(verdict "$(awk -v r="$r" -v m="$mib" 'BEGIN { print (r >= 0.9 && m <= 32) }')")"
  fi
  if [ -n "$IDLE_RPS" ] && [ -n "${R_RPS[read]:-}" ]; then
    r="$(ratio "$IDLE_RPS" "${R_RPS[read]}")"
    echo "- $IDLE_CONNS idle connections cost ≤ 10 %: $IDLE_RPS vs ${R_RPS[read]} req/s = $r (still open at the end: ${IDLE_OPEN:-?}) — $(verdict "$(awk -v r="$r" 'BEGIN { print (r >= 0.9) }')")"
  fi
  for op in read feed; do
    [ "$PERF" = 1 ] && [ -s "$OUT/perf-$op.txt" ] || continue
    echo
    echo "perf, inboxd during a $op run (self time by library, then by symbol):"
    echo
    echo '```'
    cat "$OUT/perf-$op-dso.txt"
    echo
    head -25 "$OUT/perf-$op.txt"
    echo '```'
  done
} >"$OUT/last.md"
cat "$OUT/last.md"
if [ "$APPEND" = 1 ]; then
  [ -f "$BENCH/RESULTS.md" ] || printf '# inboxd benchmark results\n\nAppended by tests/bench/run.sh (README "Benchmark"); newest last.\n' >"$BENCH/RESULTS.md"
  cat "$OUT/last.md" >>"$BENCH/RESULTS.md"
fi

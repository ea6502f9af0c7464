#!/usr/bin/env bash
# dev.sh — build, run and test inboxd on Debian 12. See ./dev.sh help.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"
# shellcheck source=tests/pg.sh
source "$ROOT/tests/pg.sh"

DEB_PACKAGES=(
  build-essential pkg-config meson ninja-build
  libmicrohttpd-dev libpq-dev libjansson-dev uuid-dev libgnutls28-dev nettle-dev zlib1g-dev
  libcriterion-dev libcurl4-gnutls-dev
  postgresql-15 postgresql-client-15
  wrk pgbouncer
  pgbackrest jq curl
  nodejs
  gnutls-bin
  docker-compose systemd
  clang-14 libclang-rt-14-dev
  haproxy openssl
)
# npm ci installs these tools of the test suite (tests/openapi/package.json).
NODE_TOOLS_DIR="tests/openapi"
# The fuzz build (tests/fuzz): clang 14 with libFuzzer, from the packages above.
FUZZ_CC=clang-14
ALL_SCOPES="read messages:write drafts:write actions:write outbox:write jobs:write admin"
DEV_ACCOUNT="Hot Rod AN"
# The webhook source `./dev.sh run` configures, so that the README's signing
# example works as printed. A development secret only: never use it elsewhere.
DEV_WEBHOOK_SOURCE="ZOHO"
DEV_WEBHOOK_SECRET="s3cret"

log() { printf '==> %s\n' "$*" >&2; }
die() {
  printf 'dev.sh: %s\n' "$*" >&2
  exit 1
}

usage() {
  cat <<'EOF'
Usage: ./dev.sh COMMAND

Commands:
  deps              install missing Debian packages (apt-get; sudo when not root)
  run               deps, build ./build, start a private PostgreSQL (in
                    /var/tmp/inboxd-dev-UID-HASH, linked as .dev/pg) unless DATABASE_URL
                    is set, migrate, seed, print a dev API key, configure the webhook
                    source "zoho" (secret s3cret), then run inboxd serve in the
                    foreground (Ctrl-C stops it and the database)
  test [--no-asan]  deps, build ./build-test and run every test against a throwaway
                    PostgreSQL, then the check that every route was called; then the
                    fuzz harnesses (./build-fuzz, clang: replay the checked-in corpus
                    and a fixed number of runs each); then all again in ./build-asan
                    under ASan+UBSan (--no-asan skips that pass; TESTS="name ..."
                    picks meson tests, fuzz_* ones included, and skips the route check)
  fuzz [SECONDS]    deps, build ./build-fuzz and run every fuzz harness for SECONDS
                    (default 60) each, one after the other, keeping the corpora they
                    grow in build-fuzz/fuzz-corpus/ and failing inputs in
                    build-fuzz/fuzz-artifacts/; FUZZ_RUNS=N runs each N executions
                    instead (at most SECONDS, when given too); FUZZ_HARNESSES="fuzz_body
                    ..." picks harnesses
  help              show this text

Environment: DATABASE_URL (run), INBOXD_LISTEN (default 127.0.0.1:8080), TESTS (test),
FUZZ_RUNS and FUZZ_HARNESSES (fuzz).
EOF
}

# ---- deps -------------------------------------------------------------------

is_installed() {
  dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed$'
}

cmd_deps() {
  local missing=() p
  for p in "${DEB_PACKAGES[@]}"; do
    is_installed "$p" || missing+=("$p")
  done
  # Debian's npm is a package of its own; NodeSource's nodejs carries npm
  # and conflicts with it, so it is asked for only when there is no npm.
  if ! command -v npm >/dev/null 2>&1; then
    missing+=(npm)
  fi
  if [ "${#missing[@]}" -eq 0 ]; then
    return 0
  fi
  log "installing missing packages: ${missing[*]}"
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "not root and no sudo: install these packages yourself: ${missing[*]}"
    sudo=(sudo)
  fi
  # stdin from /dev/null: CI has none, and apt must never wait for an answer.
  "${sudo[@]}" apt-get update </dev/null
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" </dev/null
}

# node_tools: npm ci in $NODE_TOOLS_DIR when its lock file changed since the
# last install (npm writes node_modules/.package-lock.json on every install).
node_tools() {
  local dir="$ROOT/$NODE_TOOLS_DIR"
  if [ -f "$dir/node_modules/.package-lock.json" ] &&
    [ "$dir/node_modules/.package-lock.json" -nt "$dir/package-lock.json" ]; then
    return 0
  fi
  log "installing the OpenAPI tools (npm ci in $NODE_TOOLS_DIR)"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error </dev/null)
}

# ---- build ------------------------------------------------------------------

# meson_setup DIR OPTS...: configure DIR, reconfiguring when it already is a build dir
# (plain `meson setup` refuses an existing one, and --reconfigure applies changed OPTS).
meson_setup() {
  local dir="$1"
  shift
  if [ -f "$dir/meson-private/coredata.dat" ]; then
    meson setup --reconfigure "$dir" "$@"
  else
    rm -rf "$dir" # a half-made dir from an interrupted setup would make meson refuse
    meson setup "$dir" "$@"
  fi
}

# ---- run --------------------------------------------------------------------

RUN_PG_DIR=""
SERVE_PID=""

run_cleanup() {
  # A second Ctrl-C or TERM must not cut the cleanup short and leave a server running.
  trap "" INT TERM
  trap - EXIT
  if [ -n "$SERVE_PID" ] && kill -0 "$SERVE_PID" 2>/dev/null; then
    log "stopping inboxd"
    kill -TERM "$SERVE_PID" 2>/dev/null || true
    wait "$SERVE_PID" 2>/dev/null || true
  fi
  if [ -n "$RUN_PG_DIR" ]; then
    log "stopping the private PostgreSQL in $RUN_PG_DIR"
    pg_stop "$RUN_PG_DIR" || true
  fi
}

# run_pg_dir: where `run` keeps its private cluster. PostgreSQL runs as the
# postgres user when we are root, and that user must reach the data directory
# and the socket: a checkout under /root (mode 700) is out of its reach, and a
# deep checkout path makes the socket path too long. So the cluster lives in
# /var/tmp, named after the uid and the checkout (two checkouts never share
# one), and .dev/pg links to it. A real .dev/pg directory holding a cluster
# (made before this rule) that PostgreSQL can reach stays in use.
run_pg_dir() {
  local dev="$1" hash
  if [ -f "$dev/pg/data/PG_VERSION" ] && [ ! -L "$dev/pg" ] &&
    { [ "$(id -u)" -ne 0 ] || (cd / && runuser -u postgres -- test -x "$dev/pg/data"); }; then
    printf '%s\n' "$dev/pg"
    return 0
  fi
  hash="$(printf '%s' "$ROOT" | sha256sum | cut -c 1-12)"
  printf '/var/tmp/inboxd-dev-%s-%s\n' "$(id -u)" "$hash"
}

cmd_run() {
  cmd_deps
  # Set up once; later runs keep whatever options the developer gave build/.
  if [ ! -f build/meson-private/coredata.dat ]; then
    meson_setup build --buildtype=debugoptimized
  fi
  meson compile -C build

  # Stop whatever we started on every exit path; INT/TERM exit with the usual codes.
  trap run_cleanup EXIT
  trap 'run_cleanup; exit 130' INT
  trap 'run_cleanup; exit 143' TERM

  local dev="$ROOT/.dev"
  mkdir -p "$dev"
  if [ -z "${DATABASE_URL:-}" ]; then
    RUN_PG_DIR="$(run_pg_dir "$dev")"
    if [ "$RUN_PG_DIR" != "$dev/pg" ] && { [ -L "$dev/pg" ] || [ ! -e "$dev/pg" ]; }; then
      ln -sfn "$RUN_PG_DIR" "$dev/pg"
    fi
    log "starting a private PostgreSQL in $RUN_PG_DIR"
    pg_start "$RUN_PG_DIR"
    if [ "$PG_INITIALISED" = 1 ]; then
      rm -f "$dev/dev-key" "$dev/dev-key.db" # a new cluster knows no old key
    fi
    DATABASE_URL="$(pg_url "$RUN_PG_DIR")"
    export DATABASE_URL
  fi

  log "migrating"
  build/inboxd migrate
  log "seeding"
  build/inboxd seed

  # Keep one dev key per database: re-use it while DATABASE_URL is the same one.
  local key=""
  if [ -s "$dev/dev-key" ] && [ "$(cat "$dev/dev-key.db" 2>/dev/null || true)" = "$DATABASE_URL" ]; then
    key="$(cat "$dev/dev-key")"
  else
    log "creating a dev key with every scope"
    key="$(build/inboxd keys create --account "$DEV_ACCOUNT" --name "dev-$(date +%Y%m%d%H%M%S)" --scopes "$ALL_SCOPES" | tail -n 1)"
    [ -n "$key" ] || die "inboxd keys create printed no key"
    (
      umask 077
      printf '%s\n' "$key" >"$dev/dev-key"
      printf '%s\n' "$DATABASE_URL" >"$dev/dev-key.db"
    )
    chmod 600 "$dev/dev-key" "$dev/dev-key.db"
  fi

  # A webhook source for the README's signing example, unless the developer
  # configured that source already.
  local src_secret="INBOXD_WEBHOOK_${DEV_WEBHOOK_SOURCE}_SECRET" src_account="INBOXD_WEBHOOK_${DEV_WEBHOOK_SOURCE}_ACCOUNT"
  if [ -z "${!src_secret:-}" ] && [ -z "${!src_account:-}" ]; then
    export "$src_secret=$DEV_WEBHOOK_SECRET" "$src_account=$DEV_ACCOUNT"
  fi
  local source_lc
  source_lc="$(printf '%s' "$DEV_WEBHOOK_SOURCE" | tr '[:upper:]' '[:lower:]')"

  local listen="${INBOXD_LISTEN:-127.0.0.1:8080}"
  cat <<EOF

  inboxd dev key (all scopes, saved in .dev/dev-key):

    $key

  Try it:
    curl -H "Authorization: Bearer $key" http://$listen/v1/account

  Webhook source "$source_lc" (account "${!src_account}"): POST http://$listen/v1/webhooks/$source_lc
  signed with \$$src_secret (README, "Signing webhook deliveries").

  DATABASE_URL=$DATABASE_URL
  Ctrl-C stops inboxd$([ -n "$RUN_PG_DIR" ] && echo " and the private database").

EOF

  # In the background plus wait, so a SIGTERM to this script runs the trap at once
  # instead of after inboxd exits on its own.
  build/inboxd serve &
  SERVE_PID=$!
  local rc=0
  wait "$SERVE_PID" || rc=$?
  SERVE_PID=""
  return "$rc"
}

# ---- test -------------------------------------------------------------------

TEST_TMP=""
TEST_PG_DIR=""

test_cleanup() {
  # A second Ctrl-C or TERM must not cut the cleanup short and leave a server running.
  trap "" INT TERM
  trap - EXIT
  if [ -n "$TEST_PG_DIR" ]; then
    pg_stop "$TEST_PG_DIR" || true
  fi
  if [ -n "$TEST_TMP" ]; then
    rm -rf "$TEST_TMP"
  fi
}

# Totals over all passes, for the closing line.
TOTAL_PASSED=0
TOTAL_FAILED=0
FAILED_STEPS=()

# tally NAME LOG RC: add the Criterion "Synthesis" lines of LOG to the totals;
# meson-level failures without one (a crash before Criterion
# reports, a timeout) count as at least one failure, so the closing line agrees with
# the exit code.
tally() {
  local name="$1" logf="$2" rc="$3"
  local passing failing crashing
  read -r passing failing crashing < <(
    sed 's/\x1b\[[0-9;]*m//g' "$logf" | awk '
      /Synthesis: Tested:/ {
        for (i = 1; i <= NF; i++) {
          if ($i == "Passing:") p += $(i + 1)
          if ($i == "Failing:") f += $(i + 1)
          if ($i == "Crashing:") c += $(i + 1)
        }
      }
      END { print p + 0, f + 0, c + 0 }'
  )
  local failed=$((failing + crashing))
  # Criterion runs each test in a forked worker and records its result before the
  # worker exits, so a leak LeakSanitizer reports at exit does not fail the test:
  # count sanitizer reports from the log (also those of inboxd child processes).
  local leaks other
  leaks="$(grep -cE '==[0-9]+==ERROR: LeakSanitizer' "$logf" || true)"
  other="$(grep -cE '==[0-9]+==ERROR: AddressSanitizer|: runtime error: ' "$logf" || true)"
  if [ "$((leaks + other))" -gt 0 ]; then
    log "$name: sanitizer reports in the log: $leaks leak, $other other"
    [ "$rc" -ne 0 ] || FAILED_STEPS+=("$name sanitizers")
    # ASan/UBSan errors normally crash a test, which Criterion counted already.
    failed=$((failed + leaks + (failed == 0 ? other : 0)))
    passing=$((passing > leaks ? passing - leaks : 0)) # a leaking test did not pass
  fi
  if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
    local meson_fail
    meson_fail="$(sed 's/\x1b\[[0-9;]*m//g' "$logf" | awk '/^(Fail|Timeout|Unexpected Pass):/ { n += $2 } END { print n + 0 }')"
    failed=$((meson_fail > 0 ? meson_fail : 1))
  fi
  log "$name: $passing passed, $failed failed (criterion: $failing failing, $crashing crashing)"
  TOTAL_PASSED=$((TOTAL_PASSED + passing))
  TOTAL_FAILED=$((TOTAL_FAILED + failed))
}

# test_pass NAME BUILDDIR MESON_TEST_EXTRA... -- SETUP_OPTS...: build and test one
# configuration; failures are recorded, not fatal, so every pass reports.
test_pass() {
  local name="$1" dir="$2"
  shift 2
  local extra=()
  while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do
    extra+=("$1")
    shift
  done
  shift # --
  log "$name: configuring $dir ($*)"
  if ! meson_setup "$dir" "$@" || ! meson compile -C "$dir"; then
    log "$name: build failed (counted as 1 failure)"
    FAILED_STEPS+=("$name build")
    TOTAL_FAILED=$((TOTAL_FAILED + 1))
    return 0
  fi
  # Tests may stop the database and leave it down on failure: make sure it is up.
  pg_start "$TEST_PG_DIR"
  local tests=() picked=() t check=()
  if [ -n "${TESTS:-}" ]; then
    read -r -a picked <<<"$TESTS"
    # meson runs named tests in the order named: a subset starts from an
    # empty route coverage folder too, so that what it leaves there is its
    # own, and a route_coverage it names goes last (tests/meson.build).
    tests=(route_coverage_reset)
    for t in "${picked[@]}"; do
      case "$t" in
        route_coverage_reset) ;;
        route_coverage) check=(route_coverage) ;;
        fuzz_*) ;; # the fuzz pass runs these (build-fuzz)
        *) tests+=("$t") ;;
      esac
    done
    tests+=("${check[@]}")
  fi
  log "$name: running tests"
  local logf="$TEST_TMP/$name.log" rc=0
  meson test -C "$dir" --print-errorlogs --verbose "${extra[@]}" "${tests[@]}" 2>&1 | tee "$logf" || rc=$?
  if [ "$rc" -ne 0 ]; then
    FAILED_STEPS+=("$name tests")
  fi
  tally "$name" "$logf" "$rc"
  coverage_verdict "$name" "$logf"
}

# coverage_verdict NAME LOG: the route coverage gate (STYLE.md section 11).
# A full pass must have run tests/route_coverage.c and seen it pass; a
# skipped or missing check counts as a failure, never as a pass. A subset
# calls only some routes, so it is not checked unless TESTS names
# route_coverage, and the log says which.
coverage_verdict() {
  local name="$1" logf="$2" result summary
  # meson names a test "NAME" or, once there are several suites, "inboxd / NAME".
  result="$(sed 's/\x1b\[[0-9;]*m//g' "$logf" | awk '/^ *[0-9]+\/[0-9]+ / { for (i = 2; i < NF; i++) if ($i == "route_coverage") r = $(i + 1) } END { print r }')"
  summary="$(grep -m 1 -E '^[0-9]+ of [0-9]+ routes called|^INBOXD_TEST_COVERAGE_DIR is not set' "$logf" || true)"
  if [ -n "${TESTS:-}" ] && [ -z "$result" ]; then
    log "$name: route coverage not checked: TESTS=\"$TESTS\" runs a subset (a full ./dev.sh test checks that every route was called)"
    return 0
  fi
  case "$result" in
    OK) log "$name: route coverage: $summary" ;;
    FAIL) log "$name: route coverage failed: $summary" ;; # meson's exit status counted it
    *)
      log "$name: route coverage did not run (${result:-missing}): counted as 1 failure"
      FAILED_STEPS+=("$name route coverage")
      TOTAL_FAILED=$((TOTAL_FAILED + 1))
      ;;
  esac
}

# ---- fuzz -------------------------------------------------------------------

# fuzz_build: configure and build ./build-fuzz (clang, libFuzzer, ASan+UBSan:
# meson_options.txt "fuzz"). Returns non-zero when it fails.
fuzz_build() {
  CC="$FUZZ_CC" meson_setup build-fuzz -Dfuzz=true -Dwerror=true --buildtype=debugoptimized &&
    meson compile -C build-fuzz
}

# fuzz_pass: the fuzz harnesses as a pass of ./dev.sh test: each replays its
# checked-in corpus, then fuzzes a fixed number of runs (tests/fuzz/meson.build).
# With TESTS, only the fuzz_* tests it names run.
fuzz_pass() {
  local tests=() t logf="$TEST_TMP/fuzz.log" rc=0 ok failed
  if [ -n "${TESTS:-}" ]; then
    for t in $TESTS; do
      case "$t" in fuzz_*) tests+=("$t") ;; esac
    done
    if [ "${#tests[@]}" -eq 0 ]; then
      log "fuzz: skipped (TESTS names no fuzz_* test)"
      return 0
    fi
  fi
  log "fuzz: configuring build-fuzz ($FUZZ_CC, -Dfuzz=true)"
  if ! fuzz_build; then
    log "fuzz: build failed (counted as 1 failure)"
    FAILED_STEPS+=("fuzz build")
    TOTAL_FAILED=$((TOTAL_FAILED + 1))
    return 0
  fi
  log "fuzz: running the harnesses"
  meson test -C build-fuzz --suite drill --print-errorlogs "${tests[@]}" 2>&1 | tee "$logf" || rc=$?
  # Not criterion suites: meson's own summary counts them.
  ok="$(sed 's/\x1b\[[0-9;]*m//g' "$logf" | awk '$1 == "Ok:" { print $2 }')"
  failed="$(sed 's/\x1b\[[0-9;]*m//g' "$logf" | awk '/^(Fail|Timeout|Unexpected Pass|Skipped):/ { n += $NF } END { print n + 0 }')"
  if [ "$rc" -ne 0 ]; then
    FAILED_STEPS+=("fuzz tests")
    [ "$failed" -gt 0 ] || failed=1
  fi
  log "fuzz: ${ok:-0} passed, $failed failed"
  TOTAL_PASSED=$((TOTAL_PASSED + ${ok:-0}))
  TOTAL_FAILED=$((TOTAL_FAILED + failed))
}

cmd_fuzz() {
  local seconds="${1:-}" tests=() rc=0
  # FUZZ_RUNS alone is a count with no time limit; SECONDS alone, or both,
  # limit the time (default 60 s).
  if [ -z "$seconds" ] && [ -z "${FUZZ_RUNS:-}" ]; then
    seconds=60
  fi
  if [ -n "$seconds" ] && ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
    die "fuzz: SECONDS must be a positive number"
  fi
  cmd_deps
  fuzz_build || die "fuzz: the build failed"
  if [ -n "${FUZZ_HARNESSES:-}" ]; then
    read -r -a tests <<<"$FUZZ_HARNESSES"
  fi
  log "fuzz: each harness for ${FUZZ_RUNS:+$FUZZ_RUNS runs}${FUZZ_RUNS:+${seconds:+, at most }}${seconds:+${seconds}s}, one at a time"
  # No meson timeout (--timeout-multiplier 0): the runs are as long as asked.
  FUZZ_SECONDS="$seconds" FUZZ_WORK="$ROOT/build-fuzz/fuzz-corpus" \
    FUZZ_ARTIFACTS="$ROOT/build-fuzz/fuzz-artifacts" \
    meson test -C build-fuzz --suite drill --timeout-multiplier 0 --verbose "${tests[@]}" || rc=$?
  grep -h '^== .*executions' build-fuzz/meson-logs/testlog.txt >&2 || true
  [ "$rc" -eq 0 ] || log "fuzz: failing inputs are in build-fuzz/fuzz-artifacts/"
  return "$rc"
}

cmd_test() {
  local asan=1 arg
  for arg in "$@"; do
    case "$arg" in
      --no-asan) asan=0 ;;
      *) die "unknown option for test: $arg" ;;
    esac
  done
  local start=$SECONDS
  cmd_deps
  node_tools

  trap test_cleanup EXIT
  trap 'test_cleanup; exit 130' INT
  trap 'test_cleanup; exit 143' TERM
  TEST_TMP="$(mktemp -d)"
  chmod 755 "$TEST_TMP" # the postgres user must enter it to reach the cluster below
  TEST_PG_DIR="$TEST_TMP/pg"
  log "starting a throwaway PostgreSQL in $TEST_PG_DIR"
  pg_start "$TEST_PG_DIR"

  INBOXD_TEST_DATABASE_URL="$(pg_url "$TEST_PG_DIR")"
  export INBOXD_TEST_DATABASE_URL
  export INBOXD_TEST_PG_RESTART="$TEST_PG_DIR/restart.sh"
  export INBOXD_TEST_PG_STOP="$TEST_PG_DIR/stop.sh"
  export INBOXD_TEST_PG_START="$TEST_PG_DIR/start.sh"
  export INBOXD_TEST_PG_CRASH="$TEST_PG_DIR/crash.sh"

  test_pass test build-test -- -Dwerror=true --buildtype=debug
  # The fuzz harnesses are drills too: plain pass only. They need no
  # database.
  fuzz_pass

  if [ "$asan" = 1 ]; then
    export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1"
    export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
    # Known leaks in system libraries, if any, go in tests/lsan.supp.
    if [ -f "$ROOT/tests/lsan.supp" ]; then
      export LSAN_OPTIONS="suppressions=$ROOT/tests/lsan.supp:print_suppressions=0"
    fi
    # Sanitized code is slower: give meson's per-test timeouts room.
    # Drills (meson suite "drill": topology, restore, slow clients, fuzzing)
    # and the suites run again as the runtime role (suite "runtime_role":
    # grants, not memory) run once, in the plain pass; under the sanitizers
    # they would only be slower, not find more.
    test_pass asan build-asan --timeout-multiplier 3 --no-suite drill --no-suite runtime_role -- \
      -Db_sanitize=address,undefined -Db_lundef=false -Dwerror=true --buildtype=debug
  fi

  test_cleanup
  log "elapsed: $((SECONDS - start))s"
  if [ "${#FAILED_STEPS[@]}" -gt 0 ]; then
    log "failed: ${FAILED_STEPS[*]}"
  fi
  echo "$TOTAL_PASSED passed, $TOTAL_FAILED failed"
  [ "${#FAILED_STEPS[@]}" -eq 0 ]
}

# ---- main -------------------------------------------------------------------

main() {
  local cmd="${1:-help}"
  [ "$#" -gt 0 ] && shift
  case "$cmd" in
    deps) cmd_deps ;;
    run) cmd_run "$@" ;;
    test) cmd_test "$@" ;;
    fuzz) cmd_fuzz "$@" ;;
    help | -h | --help) usage ;;
    *)
      usage >&2
      exit 2
      ;;
  esac
}

main "$@"

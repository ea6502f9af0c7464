#!/usr/bin/env bash
# run.sh EXE SRCDIR NAME RUNS [DICT]: one harness of tests/fuzz, as the
# meson test fuzz_NAME (suite 'drill').
#
# First every input of the checked-in corpus (SRCDIR/corpus/NAME) runs
# once, each on its own. Then the harness fuzzes from that corpus, with
# SRCDIR/dict/DICT when DICT is not empty and a fixed seed, for RUNS
# executions. ./dev.sh fuzz changes the second step through the
# environment:
#   FUZZ_RUNS      executions instead of RUNS
#   FUZZ_SECONDS   fuzz for this long instead (with FUZZ_RUNS: at most this long)
#   FUZZ_WORK      folder of work corpora, FUZZ_WORK/NAME kept between runs
#                  (default: a temporary folder, removed at the end)
#   FUZZ_ARTIFACTS where a failing input goes, as NAME-crash-<sha1>
#                  (default: the current folder)
# New inputs go to the work corpus, never into the checked-in one. A
# crash, leak, sanitizer report, broken check or hang fails the test. The
# last line says how many executions the fuzzing step made.
set -euo pipefail

exe="$1" src="$2" name="$3" runs="${FUZZ_RUNS:-$4}" dict="${5:-}"
corpus="$src/corpus/$name"
artifacts="${FUZZ_ARTIFACTS:-$PWD}"
mkdir -p "$artifacts"

# libFuzzer's own exit status for a finding is 77, which meson takes for
# a skipped test: make it a failure.
opts=(-seed=1 -timeout=60 -error_exitcode=1 -timeout_exitcode=1 -print_final_stats=1
  "-artifact_prefix=$artifacts/$name-")
if [ -n "$dict" ]; then
  opts+=("-dict=$src/dict/$dict")
fi
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=1:abort_on_error=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-}:print_stacktrace=1:halt_on_error=1"

mapfile -t seeds < <(find "$corpus" -type f | sort)
if [ "${#seeds[@]}" -eq 0 ]; then
  echo "run.sh: no corpus in $corpus" >&2
  exit 1
fi
echo "== $name: replaying ${#seeds[@]} corpus inputs"
"$exe" "${opts[@]}" "${seeds[@]}"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
work="$tmp/corpus"
if [ -n "${FUZZ_WORK:-}" ]; then
  work="$FUZZ_WORK/$name"
fi
mkdir -p "$work"
# Both limits may be given: whichever comes first ends the run.
limit=()
if [ -n "${FUZZ_SECONDS:-}" ]; then
  limit+=(-max_total_time="$FUZZ_SECONDS")
fi
if [ -n "${FUZZ_RUNS:-}" ] || [ "${#limit[@]}" -eq 0 ]; then
  limit+=(-runs="$runs")
fi
echo "== $name: fuzzing (${limit[*]})"
set +e
"$exe" "${opts[@]}" "${limit[@]}" "$work" "$corpus" 2>&1 | tee "$tmp/log"
rc="${PIPESTATUS[0]}"
set -e
execs="$(awk '/stat::number_of_executed_units:/ { n = $2 } END { print n + 0 }' "$tmp/log")"
if [ "$rc" -eq 0 ]; then
  echo "== $name: $execs executions, no crash"
else
  echo "== $name: $execs executions, FAILED (exit status $rc)"
fi
exit "$rc"

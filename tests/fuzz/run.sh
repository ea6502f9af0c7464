#!/usr/bin/env bash
# run.sh EXE SRCDIR NAME RUNS [DICT [SECONDS]]: one harness of tests/fuzz.
#
# First every input of the checked-in corpus (SRCDIR/corpus/NAME) runs
# once; then the harness fuzzes from that corpus, with SRCDIR/dict/DICT
# when DICT is not empty, for RUNS executions (or for SECONDS when RUNS is
# 0), with a fixed seed, writing what
# it finds into a work corpus (FUZZ_WORK, else a temporary folder), never
# into the checked-in one. A crash, leak, sanitizer report or broken check
# fails the run; the input is kept as FUZZ_ARTIFACTS/NAME-crash-<sha1>
# (default: the current folder).
set -euo pipefail

exe="$1" src="$2" name="$3" runs="$4" dict="${5:-}" seconds="${6:-0}"
corpus="$src/corpus/$name"
artifacts="${FUZZ_ARTIFACTS:-$PWD}"
mkdir -p "$artifacts"

# libFuzzer's own exit status for a finding is 77, which meson takes for
# a skipped test: make it a failure.
opts=(-seed=1 -timeout=60 -error_exitcode=1 -timeout_exitcode=1 -print_final_stats=1 "-artifact_prefix=$artifacts/$name-")
if [ -n "$dict" ]; then
  opts+=("-dict=$src/dict/$dict")
fi
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=1:abort_on_error=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-}:print_stacktrace=1:halt_on_error=1"

# Replay: each checked-in input on its own, so a regression names its file.
mapfile -t seeds < <(find "$corpus" -type f | sort)
if [ "${#seeds[@]}" -eq 0 ]; then
  echo "run.sh: no corpus in $corpus" >&2
  exit 1
fi
echo "== $name: replaying ${#seeds[@]} corpus inputs"
"$exe" "${opts[@]}" "${seeds[@]}"

work="${FUZZ_WORK:-}"
if [ -z "$work" ]; then
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work"
if [ "$runs" -gt 0 ]; then
  echo "== $name: fuzzing for $runs runs"
  "$exe" "${opts[@]}" -runs="$runs" "$work" "$corpus"
else
  echo "== $name: fuzzing for $seconds s"
  "$exe" "${opts[@]}" -max_total_time="$seconds" "$work" "$corpus"
fi

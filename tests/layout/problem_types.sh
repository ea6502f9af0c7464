#!/usr/bin/env bash
# tests/layout/problem_types.sh ROOT: every problem type slug the code
# passes to problem_set() (or names as a queue's not_leased type) has a row
# in src/lib/problem_types.c, so that its type URI /problems/<slug>
# resolves (RFC 9457). The harness checks the types tests provoke at run
# time; this catches one no test reaches.
set -euo pipefail
root="${1:?usage: problem_types.sh ROOT}"
cd "$root"

table="src/lib/problem_types.c"
missing=0
while read -r slug; do
  if ! grep -q "{\"$slug\", [0-9]" "$table"; then
    echo "problem type \"$slug\" has no row in $table"
    missing=$((missing + 1))
  fi
done < <(
  {
    grep -rhoE 'problem_set\([^;]*?, *[0-9]{3}, *"[a-z0-9-]+"' src routes | grep -oE '"[a-z0-9-]+"$'
    grep -rhoE '\.not_leased = "[a-z0-9-]+"' src | grep -oE '"[a-z0-9-]+"$'
  } | tr -d '"' | sort -u
)
n="$(grep -rhoE 'problem_set\(' src routes | wc -l)"
if [ "$missing" -gt 0 ]; then
  exit 1
fi
echo "every literal problem type has a page ($n problem_set calls)"

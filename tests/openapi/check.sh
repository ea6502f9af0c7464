#!/usr/bin/env bash
# tests/openapi/check.sh DOC: the OpenAPI document through the tools callers
# use. Redocly CLI lints it with the recommended rules (any error or warning
# fails), and openapi-typescript generates TypeScript types from it. The
# tools are pinned in package-lock.json and installed by ./dev.sh test
# (npm ci) into tests/openapi/node_modules.
set -euo pipefail

doc="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="$here/node_modules/.bin"
for tool in redocly openapi-typescript; do
  if [ ! -x "$bin/$tool" ]; then
    echo "check.sh: $bin/$tool is missing: run 'npm ci' in tests/openapi (./dev.sh test does)" >&2
    exit 1
  fi
done
# No usage telemetry and no update checks from a test.
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_UPDATE_NOTIFIER=1
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cd "$here"

rc=0
"$bin/redocly" lint --config "$here/redocly.yaml" --format=json "$doc" >"$tmp/lint.json" 2>"$tmp/lint.err" || rc=$?
problems="$(node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  for (const p of r.problems)
    console.log(`${p.severity} ${p.ruleId} ${p.location[0].pointer}: ${p.message}`);
' "$tmp/lint.json" 2>&1)" || {
  echo "check.sh: redocly lint gave no report (exit $rc):" >&2
  cat "$tmp/lint.err" >&2
  exit 1
}
if [ -n "$problems" ] || [ "$rc" -ne 0 ]; then
  echo "redocly lint: $(printf '%s\n' "$problems" | grep -c .) problem(s) in $doc:"
  printf '%s\n' "$problems"
  exit 1
fi
echo "redocly lint: 0 errors, 0 warnings"

"$bin/openapi-typescript" "$doc" -o "$tmp/api.d.ts" >"$tmp/ts.log" 2>&1 || {
  echo "openapi-typescript failed:" >&2
  cat "$tmp/ts.log" >&2
  exit 1
}
grep -q '^export interface paths' "$tmp/api.d.ts" || {
  echo "openapi-typescript wrote no paths interface" >&2
  exit 1
}
echo "openapi-typescript: $(wc -l <"$tmp/api.d.ts") lines of types"

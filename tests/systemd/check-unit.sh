#!/usr/bin/env bash
# check-unit.sh UNIT INBOXD SOURCE_ROOT: the systemd unit as meson install
# makes it (UNIT, configured from systemd/inboxd.service.in) is valid, with
# the example network drop-in in place, carries the directives README
# promises, and `systemd-analyze security` rates it in the "OK" band or
# better (exposure 4.9 or less; systemd 252's bands: 1.0-4.9 OK, below
# SAFE). Offline: nothing is started.
set -euo pipefail

unit="${1:?usage: check-unit.sh UNIT INBOXD SOURCE_ROOT}"
bin="${2:?}"
root="${3:?}"
# systemd-analyze's threshold is in tenths: 49 is the top of "OK".
threshold=49
fails=0
fail() {
  printf 'FAIL: %s\n' "$*" >&2
  fails=$((fails + 1))
}
ok() { printf 'ok: %s\n' "$*"; }

command -v systemd-analyze >/dev/null || {
  echo "systemd-analyze is not installed (./dev.sh deps installs systemd)" >&2
  exit 1
}
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# verify checks that ExecStart= names an executable: point it at the
# binary just built. The drop-in beside the unit is loaded with it.
mkdir "$tmp/inboxd.service.d"
sed -E "s#^(ExecStart(Pre)?=)[^ ]*/inboxd #\\1$bin #" "$unit" >"$tmp/inboxd.service"
cp "$root/systemd/inboxd.service.d/network.conf.example" "$tmp/inboxd.service.d/network.conf"

# verify exits 0 on unknown keys and bad values, which it only reports:
# any output at all is a failure.
out="$(systemd-analyze verify "$tmp/inboxd.service" 2>&1)" || fail "systemd-analyze verify exited non-zero"
if [ -z "$out" ]; then ok "systemd-analyze verify: unit and drop-in are clean"; else fail "systemd-analyze verify: $out"; fi

for d in Type=notify WatchdogSec= 'ExecReload=/bin/kill -HUP $MAINPID' ProtectProc=invisible \
  ProcSubset=pid RemoveIPC=yes IPAddressDeny=any IPAddressAllow=localhost User=inboxd; do
  if grep -qF -- "$d" "$tmp/inboxd.service"; then ok "unit has $d"; else fail "unit lacks $d"; fi
done
grep -qE '^IPAddressAllow=' "$tmp/inboxd.service.d/network.conf" && ok "the network drop-in allows networks" ||
  fail "the network drop-in allows no network"

report="$(systemd-analyze security --offline=true --threshold="$threshold" "$tmp/inboxd.service" 2>&1)" && rc=0 || rc=$?
level="$(printf '%s\n' "$report" | sed -n 's/.*Overall exposure level for inboxd.service: \([0-9.]*\) \([A-Z]*\).*/\1 \2/p')"
if [ "$rc" -eq 0 ] && [ -n "$level" ]; then
  ok "systemd-analyze security: exposure $level (at most $((threshold / 10)).$((threshold % 10)))"
else
  fail "systemd-analyze security: exposure ${level:-unknown} above $((threshold / 10)).$((threshold % 10)) (exit $rc)"
  printf '%s\n' "$report" | grep -v '^✓' >&2 || true
fi

if [ "$fails" -gt 0 ]; then
  echo "$fails check(s) failed" >&2
  exit 1
fi
echo "all unit checks passed"

#!/usr/bin/env bash
# check-deploy.sh SOURCE_ROOT: the deployment files hold what README says.
#
# No container engine runs here, so nothing is built or started. What can
# be checked offline is checked:
#  - deploy/compose.yaml passes `docker-compose config` (Debian's
#    docker-compose validates the file against the Compose schema), with
#    the env file and secrets made from the examples, and the resolved
#    file describes the topology: PostgreSQL with the roles' init script,
#    PgBouncer with pgbouncer.ini and its user list, the one-shots roles
#    (superuser) and migrate (owner) straight to PostgreSQL, which inboxd
#    waits for, inboxd as the runtime role behind PgBouncer with prepare
#    off, listening on every address of its container, with a real health
#    check;
#  - the Dockerfiles: base images pinned to a point release, a numeric
#    non-root USER, a HEALTHCHECK that runs a command of the image;
#  - .dockerignore keeps .dev/, build dirs, .git and the compose secrets
#    out of the build context;
#  - pgbouncer.ini pools by transaction and names the user list.
set -euo pipefail

root="${1:?usage: check-deploy.sh SOURCE_ROOT}"
fails=0
fail() {
  printf 'FAIL: %s\n' "$*" >&2
  fails=$((fails + 1))
}
ok() { printf 'ok: %s\n' "$*"; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# --- compose.yaml --------------------------------------------------------------
command -v docker-compose >/dev/null || {
  echo "docker-compose is not installed (./dev.sh deps installs it)" >&2
  exit 1
}
mkdir "$tmp/deploy"
cp -r "$root/deploy/." "$tmp/deploy/"
cp "$root/deploy/inboxd.env.example" "$tmp/deploy/inboxd.env"
cp -r "$root/deploy/secrets.example" "$tmp/deploy/secrets"
if docker-compose -f "$tmp/deploy/compose.yaml" config -q; then
  ok "compose.yaml is valid"
else
  fail "docker-compose config rejects compose.yaml"
fi
docker-compose -f "$tmp/deploy/compose.yaml" config >"$tmp/resolved.yaml" 2>/dev/null || true
python3 - "$tmp/resolved.yaml" <<'PY' || fails=$((fails + 1))
import sys
import yaml

with open(sys.argv[1]) as f:
    doc = yaml.safe_load(f) or {}
svc = doc.get("services", {})
bad = []

def need(cond, what):
    print(("ok: " if cond else "FAIL: ") + what, file=sys.stdout if cond else sys.stderr)
    if not cond:
        bad.append(what)

need(set(svc) >= {"postgres", "pgbouncer", "roles", "migrate", "inboxd"},
     "services postgres, pgbouncer, roles, migrate and inboxd")
pg, pgb, rol, mig, ibx = (svc.get(n, {}) for n in ("postgres", "pgbouncer", "roles", "migrate", "inboxd"))
dep = lambda s, n: (s.get("depends_on") or {}).get(n, {}).get("condition")
secrets = doc.get("secrets", {})

def secret_names(s):
    return {x.get("source") if isinstance(x, dict) else x for x in s.get("secrets", [])}

def gets_password(name, s):
    """The one-shot's entrypoint reads the secret DB_PASSWORD_SECRET names
    into PGPASSWORD, and the service is given that secret."""
    want = s.get("environment", {}).get("DB_PASSWORD_SECRET")
    # config prints a literal $ as $$ (its own escape), as in the source.
    entry = " ".join(s.get("entrypoint") or []).replace("$$", "$")
    need(bool(want) and want in secret_names(s) and want in secrets
         and "PGPASSWORD=" in entry and "/run/secrets/$DB_PASSWORD_SECRET" in entry,
         f"{name} reads its role's password from its own secret ({want})")

need(":" in pg.get("image", "") and pg["image"].split(":")[1][:1].isdigit(),
     "postgres image pinned to a version tag")
need(bool(pg.get("healthcheck", {}).get("test")), "postgres has a health check")
pgvols = " ".join(str(v.get("target", v)) if isinstance(v, dict) else str(v)
                  for v in pg.get("volumes", []))
need("/docker-entrypoint-initdb.d" in pgvols, "postgres runs the roles' init script on a new volume")
need({"owner_password", "runtime_password"} <= secret_names(pg),
     "postgres has the owner's and the runtime role's passwords")
vols = " ".join(str(v.get("target", v)) if isinstance(v, dict) else str(v)
                for v in pgb.get("volumes", []))
need("/etc/pgbouncer/pgbouncer.ini" in vols and "/etc/pgbouncer/userlist.txt" in vols,
     "pgbouncer mounts pgbouncer.ini and userlist.txt where its command reads them")
need(dep(pgb, "postgres") == "service_healthy", "pgbouncer waits for a healthy postgres")
need(rol.get("command") == ["roles"], "roles runs `inboxd roles`")
need("postgres@postgres:5432/" in rol.get("environment", {}).get("DATABASE_URL", ""),
     "roles connects as the superuser, straight to PostgreSQL")
gets_password("roles", rol)
need(dep(rol, "postgres") == "service_healthy", "roles waits for a healthy postgres")
need(mig.get("command") == ["migrate"], "migrate runs `inboxd migrate`")
need("inboxd_owner@postgres:5432/" in mig.get("environment", {}).get("DATABASE_OWNER_URL", ""),
     "migrate connects as the owner, straight to PostgreSQL (advisory lock: no transaction pooling)")
gets_password("migrate", mig)
need(dep(mig, "roles") == "service_completed_successfully", "migrate waits for the roles")
env = ibx.get("environment", {})
need("inboxd_runtime@pgbouncer:6432/" in env.get("DATABASE_URL", ""),
     "inboxd serves as the runtime role, through PgBouncer by service name")
gets_password("inboxd", ibx)
need(env.get("INBOXD_LISTEN", "").startswith("0.0.0.0:"), "inboxd listens on its container's addresses")
need(str(env.get("INBOXD_PREPARE", "")).lower() == "false", "inboxd does not prepare behind PgBouncer")
need(dep(ibx, "migrate") == "service_completed_successfully", "inboxd waits for the migration to succeed")
need(dep(ibx, "pgbouncer") == "service_healthy", "inboxd waits for a healthy pgbouncer")
hc = ibx.get("healthcheck", {}).get("test", [])
need(hc[:1] == ["CMD"] and "health" in hc, "inboxd's health check runs `inboxd health` (no shell)")
for name, s in svc.items():
    for p in s.get("ports", []):
        host = p.get("host_ip", "") if isinstance(p, dict) else str(p).split(":")[0]
        need(host == "127.0.0.1", f"{name} publishes its port on the host's loopback only")
sys.exit(1 if bad else 0)
PY

# --- Dockerfiles ---------------------------------------------------------------
# joined FILE: the Dockerfile with its continuation lines joined.
joined() { sed -e ':a' -e '/\\$/N; s/\\\n[[:space:]]*/ /; ta' "$1"; }

check_dockerfile() {
  local f="$1" name
  name="$(basename "$f")"
  # Every FROM names an image with a point-release tag (digits.digits).
  local froms bad_from
  froms="$(grep -E '^FROM[[:space:]]' "$f" | awk '{print $2}')"
  [ -n "$froms" ] || fail "$name: no FROM"
  bad_from="$(printf '%s\n' "$froms" | grep -vE '^[a-z0-9./-]+:[0-9]+\.[0-9]+[A-Za-z0-9._-]*$' || true)"
  if [ -z "$bad_from" ]; then ok "$name: base images pinned ($(echo $froms))"; else fail "$name: base image not pinned to a point release: $bad_from"; fi
  # The last stage (what runs) sets a numeric non-root user and a health check.
  local last
  last="$(joined "$f" | awk '/^FROM[[:space:]]/ { buf = "" } { buf = buf $0 "\n" } END { printf "%s", buf }')"
  local user
  user="$(printf '%s' "$last" | awk '/^USER[[:space:]]/ { u = $2 } END { print u }')"
  if [[ "$user" =~ ^[0-9]+(:[0-9]+)?$ ]] && [ "${user%%:*}" -ne 0 ]; then
    ok "$name: runs as numeric non-root user $user"
  else
    fail "$name: USER must be a numeric non-root uid, got '${user:-none}'"
  fi
  if printf '%s' "$last" | grep -qE '^HEALTHCHECK[[:space:]].*CMD \['; then
    ok "$name: has a HEALTHCHECK in exec form"
  else
    fail "$name: no HEALTHCHECK (exec form) in the final stage"
  fi
}
check_dockerfile "$root/deploy/Dockerfile"
check_dockerfile "$root/deploy/pgbouncer.Dockerfile"
joined "$root/deploy/Dockerfile" | grep -qE '^HEALTHCHECK .*CMD \["/usr/local/bin/inboxd", "health"\]' ||
  fail "Dockerfile: the health check is not \`inboxd health\`"

# --- .dockerignore -----------------------------------------------------------------
di="$root/.dockerignore"
for p in .dev .git 'build*' deploy/inboxd.env deploy/secrets; do
  if [ -f "$di" ] && grep -qxF -- "$p" "$di"; then ok ".dockerignore excludes $p"; else fail ".dockerignore does not exclude $p"; fi
done

# --- pgbouncer.ini -----------------------------------------------------------------
ini="$root/deploy/pgbouncer.ini"
grep -qE '^pool_mode[[:space:]]*=[[:space:]]*transaction$' "$ini" && ok "pgbouncer.ini: pool_mode = transaction" ||
  fail "pgbouncer.ini: pool_mode is not transaction"
grep -qE '^auth_file[[:space:]]*=[[:space:]]*/etc/pgbouncer/userlist.txt$' "$ini" && ok "pgbouncer.ini: auth_file is the mounted user list" ||
  fail "pgbouncer.ini: auth_file is not /etc/pgbouncer/userlist.txt"

# The roles' init script is at least valid sh.
sh -n "$root/deploy/initdb/10-inboxd-roles.sh" && ok "initdb/10-inboxd-roles.sh parses" ||
  fail "initdb/10-inboxd-roles.sh does not parse"

# The user list names the role inboxd serves as.
grep -qE '^"inboxd_runtime" ' "$root/deploy/secrets.example/userlist.txt" && ok "the example user list names inboxd_runtime" ||
  fail "the example user list does not name inboxd_runtime"

if [ "$fails" -gt 0 ]; then
  echo "$fails check(s) failed" >&2
  exit 1
fi
echo "all deployment checks passed"

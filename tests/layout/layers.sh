#!/usr/bin/env bash
# tests/layout/layers.sh: the folders are layers and includes only go down.
#
#   lib (src/lib, include/inboxd/lib)  pure helpers: no database, no HTTP
#   db  (src/db,  include/inboxd/db)   the database layer
#   http (src/http, include/inboxd/http) the HTTP layer
#   routes (routes/, include/inboxd/routes) one file per resource
#   app (src/*.c, include/inboxd/app.h) start-up and the command line
#
# A file may include headers of its own layer and of the layers below it;
# an include that runs upward is printed and fails the test, and so does a
# database file that names a request, a reply or the configuration object. Run from the
# repository root or with it as $1.
set -u
cd "${1:-$(dirname "${BASH_SOURCE[0]}")/../..}" || exit 2

rank_of_path() {
  case "$1" in
    src/lib/* | include/inboxd/lib/*) echo 0 ;;
    src/db/* | include/inboxd/db/*) echo 1 ;;
    src/http/* | include/inboxd/http/*) echo 2 ;;
    routes/* | include/inboxd/routes/*) echo 3 ;;
    src/* | include/inboxd/*) echo 4 ;;
    *) echo -1 ;;
  esac
}

bad=0
files=0
while IFS= read -r f; do
  mine=$(rank_of_path "$f")
  [ "$mine" -ge 0 ] || continue
  files=$((files + 1))
  while IFS= read -r inc; do
    theirs=$(rank_of_path "include/$inc")
    if [ "$theirs" -gt "$mine" ]; then
      echo "upward include: $f includes $inc"
      bad=$((bad + 1))
    fi
  done < <(sed -n 's/^#include "\(inboxd\/[^"]*\)".*/\1/p' "$f")
done < <(find src routes include -name '*.[ch]' | sort)

# The database layer knows neither a request, a reply nor the
# configuration object: it is handed its settings (db/db.h).
while IFS= read -r hit; do
  echo "db layer knows the HTTP side or the configuration: $hit"
  bad=$((bad + 1))
done < <(grep -nE 'inboxd/lib/config\.h|struct (req|reply|config)\b' -r src/db include/inboxd/db)

if [ "$files" -eq 0 ]; then
  echo "layers: no source files found"
  exit 1
fi
echo "layers: $files files, $bad upward includes or db files that know too much"
[ "$bad" -eq 0 ]

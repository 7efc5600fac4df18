#!/bin/sh
# Start Elo's service: create the database on the very first start, then become `elo serve`.
#
# deploy/install.sh installs this script as PREFIX/bin/elo-start; the Dockerfile and
# deploy/elo.service run it. Its arguments go to `elo serve` (e.g. --port 8081). Settings come
# from the environment (ELO_*, see .env.example). `exec` makes `elo serve` the process a
# supervisor signals: SIGTERM lets calls finish (ELO_SERVER__DRAIN_SECS), then it exits 0.
# Migrations need no step here: opening the database brings its schema up to this Elo's.
set -eu

here=$(dirname "$0")
if [ -x "$here/elo" ]; then
    elo=$here/elo
else
    elo=elo # run from a source checkout: the elo on PATH (e.g. an activated .venv)
fi

database=${ELO_DATABASE__PATH:-data/elo.db}
if [ ! -e "$database" ]; then
    echo "elo-start: no database at $database yet; creating it"
    "$elo" db init >/dev/null
fi
exec "$elo" serve "$@"

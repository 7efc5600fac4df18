#!/bin/sh
# Install Elo into a virtualenv, from its source tree, non-editably:
#
#     deploy/install.sh PREFIX [SOURCE]
#
# PREFIX is the virtualenv (e.g. /opt/elo): created when missing, upgraded in place when it is
# already one (the way to install a new version). SOURCE is Elo's source tree (default: the tree
# this script is in). Afterwards PREFIX/bin/elo is the command and PREFIX/bin/elo-start (a copy
# of deploy/start.sh) starts the service. The Dockerfile and bare machines (docs/deploy.md) both
# use it; tests/deploy/test_install.py runs it in a fresh virtualenv.
#
# PYTHON=/path/to/python3 chooses the interpreter for a new virtualenv (default: the first
# Python 3.11-3.13 that devtools/find-python finds). pip's own settings apply (PIP_INDEX_URL,
# PIP_NO_CACHE_DIR, ...). Nothing is written outside PREFIX but a temporary folder.
set -eu

if [ $# -lt 1 ] || [ $# -gt 2 ] || [ -z "$1" ]; then
    echo "usage: $0 PREFIX [SOURCE]   (e.g. $0 /opt/elo)" >&2
    exit 2
fi
prefix=$1
src=${2:-$(dirname "$0")/..}
if [ ! -f "$src/pyproject.toml" ] || [ ! -f "$src/deploy/start.sh" ]; then
    echo "install: $src is not Elo's source tree (no pyproject.toml or deploy/start.sh)" >&2
    exit 2
fi
src=$(cd "$src" && pwd)
# The virtualenv's scripts name their interpreter by absolute path.
case $prefix in
    /*) ;;
    *) prefix=$(pwd)/$prefix ;;
esac

if [ -x "$prefix/bin/python" ]; then
    echo "install: upgrading the virtualenv $prefix"
else
    if [ -e "$prefix" ] && [ -n "$(ls -A "$prefix" 2>/dev/null)" ]; then
        echo "install: $prefix exists and is not a virtualenv; choose an empty or new folder" >&2
        exit 2
    fi
    python=$(sh "$src/devtools/find-python") || exit 1
    echo "install: creating the virtualenv $prefix with $python"
    "$python" -m venv "$prefix"
fi

# Build from a copy: building writes into the tree it builds (build/, *.egg-info), and the
# copy leaves out what is not Elo's to ship (secrets in .env, databases, logs, virtualenvs).
stage=$(mktemp -d "${TMPDIR:-/tmp}/elo-install.XXXXXX")
trap 'rm -rf "$stage"' EXIT
trap 'exit 130' INT TERM
tar -C "$src" \
    --exclude=./.git --exclude='./.venv*' --exclude=./.env --exclude=./build \
    --exclude=./data --exclude=./logs --exclude=./demo-output --exclude=./tests \
    --exclude='*.egg-info' --exclude=__pycache__ --exclude=.pytest_cache \
    --exclude=.ruff_cache --exclude=.hypothesis \
    --exclude='*.db' --exclude='*.db-wal' --exclude='*.db-shm' --exclude='*.privacy-key' \
    -cf - . | tar -C "$stage" -xf -

"$prefix/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade "$stage"
install -m 0755 "$src/deploy/start.sh" "$prefix/bin/elo-start"
# The command and the service must load: a missing library shows here, not at the first start.
"$prefix/bin/elo" --help >/dev/null
"$prefix/bin/python" -I -c 'import cli.serve, service.http'  # -I: not the tree in the cwd
version=$("$prefix/bin/python" -I -c 'from importlib.metadata import version; print(version("elo"))')
echo "install: Elo $version is in $prefix (command: $prefix/bin/elo, service: $prefix/bin/elo-start)"

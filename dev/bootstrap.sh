#!/usr/bin/env bash
# Create or update the project's virtualenv (.venv) with the package installed editable
# plus its dev extras. Idempotent and fast when nothing changed: the install is skipped
# while pyproject.toml is unchanged and .venv's python works.
#
#   dev/bootstrap.sh            # what `make bootstrap` runs
#   FORCE=1 dev/bootstrap.sh    # reinstall even if nothing changed
#   PYTHON=python3.12 dev/bootstrap.sh
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"
STAMP="$VENV/.bootstrap-stamp"
export UV_LINK_MODE="${UV_LINK_MODE:-copy}"

log() { printf 'bootstrap: %s\n' "$*" >&2; }

wanted_stamp() {
    # Everything that changes what gets installed.
    cat pyproject.toml
    echo "python=${PYTHON}"
}

if [[ -z "${FORCE:-}" && -x "$VENV/bin/python" && -f "$STAMP" ]] \
    && "$VENV/bin/python" -c 'import airflow_provider_i2v' >/dev/null 2>&1 \
    && diff -q <(wanted_stamp) "$STAMP" >/dev/null 2>&1; then
    log "$VENV is up to date"
    exit 0
fi

# --- uv: on PATH, importable, or installed now with pip
if command -v uv >/dev/null 2>&1; then
    UV=(uv)
elif "$PYTHON" -m uv --version >/dev/null 2>&1; then
    UV=("$PYTHON" -m uv)
else
    log "installing uv with pip"
    "$PYTHON" -m pip install --quiet uv \
        || "$PYTHON" -m pip install --quiet --user uv \
        || "$PYTHON" -m pip install --quiet --user --break-system-packages uv
    UV=("$PYTHON" -m uv)
fi
log "using $("${UV[@]}" --version)"

# --- the virtualenv (Python 3.11 preferred, as in CI; any >= 3.11 otherwise)
if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    rm -rf "$VENV"
    if ! "${UV[@]}" venv "$VENV" -p 3.11 --quiet 2>/dev/null; then
        log "no Python 3.11 found by uv; using $PYTHON"
        "${UV[@]}" venv "$VENV" -p "$PYTHON" --quiet
    fi
fi

log "installing the package (editable) with its dev extras into $VENV"
start=$(date +%s)
"${UV[@]}" pip install --python "$VENV/bin/python" --quiet -e ".[dev]"
wanted_stamp >"$STAMP"
log "done in $(($(date +%s) - start)) s ($("$VENV/bin/python" --version))"

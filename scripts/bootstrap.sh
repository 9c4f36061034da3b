#!/usr/bin/env bash
# Set up latentedit from nothing and run it: `demo` (the main job on the embedded demo world)
# or `test` (the import-layering contracts, then the whole test suite, slow end-to-end tests included).
#
# The virtual environment is keyed by a hash of pyproject.toml and the Python version and kept in
# ${LATENTEDIT_VENV_HOME:-~/.cache/latentedit/venvs}, so a machine that already built it for the
# same dependency spec reuses it; ./.venv points at it.
set -euo pipefail
mode="${1:-demo}"
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null || PY=python3

key="$( (cat pyproject.toml; "$PY" --version) | sha256sum | cut -c1-16)"
venv="${LATENTEDIT_VENV_HOME:-$HOME/.cache/latentedit/venvs}/$key"
if [ ! -f "$venv/.complete" ]; then
    echo "== creating $venv"
    rm -rf "$venv"
    "$PY" -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade pip
    # torch/torchvision are pinned in pyproject.toml; pip takes them from this machine's disk.
    "$venv/bin/pip" install --quiet -e ".[test]"
    touch "$venv/.complete"
else
    echo "== reusing $venv"
    "$venv/bin/pip" install --quiet --no-deps -e .
fi
ln -sfn "$venv" .venv
export PATH="$PWD/.venv/bin:$PATH"

case "$mode" in
demo)
    latentedit sample --out runs/demo
    latentedit tag runs/demo
    latentedit fit-directions runs/demo --method svd
    latentedit edit runs/demo --add long_hair --sub short_hair --out runs/demo/edits/long_hair
    latentedit report runs/demo --out runs/demo/report
    echo "== open runs/demo/report/index.html"
    ;;
test)
    if ! command -v chromium >/dev/null; then
        echo "== installing Debian's chromium for the browser tests (report rendering, the studio via Playwright)"
        (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "!! could not install chromium"
    fi
    echo "== lint-imports: the import layering of pyproject.toml [tool.importlinter]"
    lint-imports --no-cache || { echo "!! import layering broken (see above)"; exit 1; }
    set +e
    python -m pytest -q "${@:2}"
    rc=$?
    set -e
    [ "$rc" -eq 5 ] && { echo "no tests collected"; exit 1; }
    exit "$rc"
    ;;
*)
    echo "usage: bash scripts/bootstrap.sh demo|test" >&2
    exit 64
    ;;
esac

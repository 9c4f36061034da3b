#!/usr/bin/env bash
# Set up latentedit from nothing and run it: `demo` (the main job on the embedded demo world)
# or `test` (the import-layering contracts, then the whole test suite, slow end-to-end tests included).
#
# The dependencies live in a virtual environment keyed by a hash of pyproject.toml's dependency lists and
# the Python version, kept in ${LATENTEDIT_VENV_HOME:-~/.cache/latentedit/venvs}, so a machine that already
# built it for the same dependency spec reuses it. Each clone gets its own small ./.venv layered on it (a .pth
# file adds the shared site-packages) with the clone itself installed editable: two clones never run each
# other's code, and nothing is ever installed into the shared environment after it is built.
set -euo pipefail
mode="${1:-demo}"
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null || PY=python3

spec='import sys, tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]
print("\n".join(p["dependencies"] + p["optional-dependencies"]["test"]))'
key="$( ("$PY" -c "$spec"; "$PY" --version) | sha256sum | cut -c1-16)"
venv="${LATENTEDIT_VENV_HOME:-$HOME/.cache/latentedit/venvs}/$key"
if [ ! -f "$venv/.complete" ]; then
    echo "== creating $venv (the dependencies)"
    rm -rf "$venv"
    "$PY" -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade pip
    # torch/torchvision are pinned in pyproject.toml; pip takes them from this machine's disk.
    "$PY" -c "$spec" > "$venv/requirements.txt"
    "$venv/bin/pip" install --quiet -r "$venv/requirements.txt"
    touch "$venv/.complete"
else
    echo "== reusing $venv (the dependencies)"
fi
site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
if [ "$(cat .venv/deps 2>/dev/null)" != "$site" ] || [ ! -x .venv/bin/latentedit ]; then
    echo "== creating ./.venv (this clone, editable, on $venv)"
    rm -rf .venv
    "$PY" -m venv --without-pip .venv
    echo "$site" > "$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/_deps.pth"
    "$venv/bin/pip" --python .venv/bin/python install --quiet --no-deps --no-build-isolation -e .
    for script in "$venv"/bin/*; do  # the dependencies' commands (pytest, lint-imports) run this clone's Python
        name="${script##*/}"
        if [ ! -e ".venv/bin/$name" ] && head -1 "$script" | grep -q "^#!.*/bin/python[0-9.]*$"; then
            sed "1s|.*|#!$PWD/.venv/bin/python|" "$script" > ".venv/bin/$name" && chmod +x ".venv/bin/$name"
        fi
    done
    echo "$site" > .venv/deps
fi
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
    # every core, one test file per worker (module fixtures stay shared); the 15 slowest tests listed
    python -m pytest -q -n "${LATENTEDIT_TEST_WORKERS:-$(nproc)}" --dist loadfile --durations=15 "${@:2}"
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

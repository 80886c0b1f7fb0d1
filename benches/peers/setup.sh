#!/usr/bin/env bash
# Creates (or reuses) the Python virtual environment that runs the KServe peer of the benchmarks:
#   $INFERGATE_HOME/bench-venv  (INFERGATE_HOME defaults as in scripts/setup.sh:
#                                $XDG_DATA_HOME/infergate, else ~/.local/share/infergate)
# with pinned kserve, onnxruntime and numpy from PyPI. Idempotent: a venv that already has exactly
# these pins is left alone (a stamp file records them), so running it again costs about a second.
#
# Usage: benches/peers/setup.sh        (prints the venv's python path on the last line)
set -euo pipefail

# The pins. kserve 0.21.0 is the release the benchmark compares against; onnxruntime matches the
# libonnxruntime.so that infergate loads (scripts install 1.32.0), so both sides run the same kernels.
KSERVE_VERSION="0.21.0"
ONNXRUNTIME_VERSION="1.32.0"
NUMPY_VERSION="2.4.6"

home="${INFERGATE_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/infergate}"
venv="$home/bench-venv"
stamp="$venv/.infergate-pins"
pins="kserve==$KSERVE_VERSION onnxruntime==$ONNXRUNTIME_VERSION numpy==$NUMPY_VERSION"

python="${PYTHON:-python3}"
if ! command -v "$python" >/dev/null 2>&1; then
    echo "setup.sh: $python not found; install Python >= 3.10 (e.g. apt-get install python3 python3-venv)" >&2
    exit 1
fi

if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$pins" ]]; then
    echo "setup.sh: $venv is up to date ($pins)" >&2
    echo "$venv/bin/python"
    exit 0
fi

echo "setup.sh: creating $venv with $pins" >&2
mkdir -p "$home"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
# shellcheck disable=SC2086 # $pins is a list of requirement specifiers.
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check $pins
# A quick import check, so a broken install fails here and not in the middle of a benchmark.
"$venv/bin/python" -c 'import importlib.metadata as m; print(*(f"{p} {m.version(p)}" for p in ("kserve", "onnxruntime", "numpy")))' >&2
echo "$pins" >"$stamp"
echo "$venv/bin/python"

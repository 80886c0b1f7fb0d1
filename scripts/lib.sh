# shellcheck shell=bash
# Helpers for scripts/setup.sh (sourced, not run). Everything here writes atomically: a file or
# folder is built under a temporary name on the same file system and renamed into place, so an
# interrupted run never leaves something half-written that a later run takes as installed.

# --- output -------------------------------------------------------------------------------------

# step COMPONENT MESSAGE: one progress line, e.g. "==> ONNX Runtime 1.32.0: already installed at ...".
step() {
    printf '==> %s: %s\n' "$1" "$2"
}

die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# --- temporary paths, removed on exit whatever happens ------------------------------------------

_TMP_PATHS=()

_cleanup_tmp() {
    local p
    for p in "${_TMP_PATHS[@]}"; do
        rm -rf -- "$p"
    done
}
trap _cleanup_tmp EXIT

# make_tmp_dir PARENT: sets TMP_DIR to a new empty folder inside PARENT (hidden name), removed on
# exit unless it was renamed away first. (A global, not $(...): a subshell would lose the list.)
make_tmp_dir() {
    mkdir -p -- "$1"
    TMP_DIR=$(mktemp -d "$1/.tmp.XXXXXX")
    _TMP_PATHS+=("$TMP_DIR")
}

# --- python and pip -----------------------------------------------------------------------------

# require_pip: fails with a hint when "$PYTHON -m pip" is missing (only called when a download is
# needed, so the fast path starts no interpreter).
require_pip() {
    command -v "$PYTHON" >/dev/null 2>&1 ||
        die "$PYTHON not found: install Python 3 (Debian: apt-get install python3 python3-pip)"
    "$PYTHON" -m pip --version >/dev/null 2>&1 ||
        die "$PYTHON -m pip not found (Debian: apt-get install python3-pip)"
}

# first_match GLOB: sets MATCH to the first path matching GLOB, or to "" when none does.
first_match() {
    local paths
    paths=(); MATCH=""
    mapfile -t paths < <(compgen -G "$1" || true)
    if ((${#paths[@]} > 0)); then MATCH=${paths[0]}; fi
}

# pip_download_wheel COMPONENT REQUIREMENT GLOB CACHE_DIR: sets WHEEL to the cached wheel for
# REQUIREMENT (e.g. onnxruntime==1.32.0) whose file name matches GLOB, downloading it from the
# package index when it is not cached yet. pip checks the hash the index publishes for the file.
pip_download_wheel() {
    local name=$1 req=$2 glob=$3 cache=$4 quiet=()
    first_match "$cache/$glob"
    if [[ -n $MATCH ]]; then
        step "$name" "using the cached wheel $MATCH"
        WHEEL=$MATCH
        return
    fi
    step "$name" "downloading $req from PyPI into $cache"
    require_pip
    [[ -t 2 ]] || quiet=(--quiet)
    make_tmp_dir "$cache"
    "$PYTHON" -m pip download "${quiet[@]}" --no-deps --only-binary=:all: --dest "$TMP_DIR" "$req" ||
        die "pip download $req failed (is PyPI reachable? is there a wheel for this platform?)"
    first_match "$TMP_DIR/$glob"
    [[ -n $MATCH ]] || die "pip download $req gave no file matching $glob"
    mv -f -- "$MATCH" "$cache/"
    # shellcheck disable=SC2034 # WHEEL is this function's result, read by the caller.
    WHEEL="$cache/${MATCH##*/}"
}

# check_sha256 FILE SHA256: fails when FILE's digest differs (then removes it from the cache).
check_sha256() {
    local got
    got=$(sha256sum -- "$1" | cut -d ' ' -f 1)
    if [[ $got != "$2" ]]; then
        rm -f -- "$1"
        die "sha256 of ${1##*/} is $got, expected $2 (removed it from the cache; run again)"
    fi
}

# unzip_members ZIP MEMBER DEST: extracts from ZIP (python3's zipfile, since `unzip` is not on a
# fresh Debian; it checks each member's CRC). MEMBER ending in "/" is a folder: its files go under
# the folder DEST with MEMBER stripped from their names. Otherwise MEMBER is one file, written to
# the file DEST.
unzip_members() {
    "$PYTHON" - "$1" "$2" "$3" <<'PY'
import os, shutil, sys, zipfile

wheel, member, dest = sys.argv[1:]


def extract(zf, info, target):
    os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
    with zf.open(info) as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    mode = (info.external_attr >> 16) & 0o777
    os.chmod(target, mode or 0o644)


with zipfile.ZipFile(wheel) as zf:
    if not member.endswith("/"):
        try:
            info = zf.getinfo(member)
        except KeyError:
            sys.exit(f"no member {member!r} in {wheel}")
        extract(zf, info, dest)
        sys.exit(0)
    count = 0
    for info in zf.infolist():
        if info.is_dir() or not info.filename.startswith(member):
            continue
        rel = info.filename[len(member):]
        if rel.startswith("/") or ".." in rel.split("/"):
            sys.exit(f"refusing unsafe member name {info.filename!r} in {wheel}")
        extract(zf, info, os.path.join(dest, rel))
        count += 1
    if count == 0:
        sys.exit(f"no member under {member!r} in {wheel}")
PY
}

# --- links --------------------------------------------------------------------------------------

# atomic_symlink TARGET LINK: makes LINK point at TARGET, replacing an older link in one rename.
atomic_symlink() {
    local tmp="$2.tmp.$$"
    _TMP_PATHS+=("$tmp")
    ln -sfn -- "$1" "$tmp"
    mv -Tf -- "$tmp" "$2"
}

# apt_install SCRIPT PACKAGE: installs a Debian package with apt-get (through sudo when not root),
# or dies saying what to do where there is no apt-get or no way to become root.
apt_install() {
    local script=$1 package=$2
    local -a sudo=()
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "$script: $package is not installed and there is no apt-get here; install $package" \
            "with your package manager (or put its binaries on PATH)" >&2
        exit 1
    fi
    if [[ "$(id -u)" -ne 0 ]]; then
        command -v sudo >/dev/null 2>&1 || {
            echo "$script: installing $package needs root; run this script as root or install sudo" >&2
            exit 1
        }
        sudo=(sudo)
    fi
    echo "$script: installing the Debian package $package with apt-get" >&2
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$package" >&2
}

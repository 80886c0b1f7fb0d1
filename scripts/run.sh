#!/usr/bin/env bash
# The main job from a fresh clone: installs what infergate needs (scripts/setup.sh), builds the
# release binary and serves the iris example on http://127.0.0.1:8080 (Ctrl-C stops it).
# Extra arguments go to `infergate predictor` (e.g. scripts/run.sh --http-port 9000).
set -euo pipefail
cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.."

scripts/setup.sh
echo "==> cargo build --release -p infergate-gateway"
cargo build --release -p infergate-gateway
echo "==> infergate predictor: iris on http://127.0.0.1:8080 (try: curl -s localhost:8080/v2/models/iris/infer -d @examples/requests/iris-v2.json)"
exec target/release/infergate predictor \
    --model-name iris --storage-uri examples/models/iris.onnx --http-port 8080 "$@"

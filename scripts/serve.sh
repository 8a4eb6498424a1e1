#!/usr/bin/env bash
# The README's run command: fetches ONNX Runtime's library once (scripts/onnxruntime.sh; without
# it `vision serve` falls back to tract, several times slower), builds the dashboard and GraphiQL
# (frontend/ -> frontend/dist) when their sources changed, then runs the whole platform in one
# process on the embedded default (`vision serve`: SQLite, local objects, in-process bus), on
# VISION_ADDR (127.0.0.1:8080). Extra arguments go to `vision serve`.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${ORT_DYLIB_PATH:-}" ]; then
    if ORT_DYLIB_PATH=$(scripts/onnxruntime.sh); then
        export ORT_DYLIB_PATH
    else
        echo "serve.sh: could not fetch ONNX Runtime; vision serve will use tract" >&2
        unset ORT_DYLIB_PATH
    fi
fi
scripts/frontend-build.sh
exec cargo run --release --locked -p vision-api --bin vision -- serve "$@"

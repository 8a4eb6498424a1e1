#!/usr/bin/env bash
# The project's test command (README): installs what the tests need and the machine lacks
# (scripts/install-test-deps.sh), then formatting, lints, every Rust test (against SQLite and the
# local PostgreSQL), the Python model-pipeline tests, the dashboard (lint, type check, build,
# end-to-end tests in headless Chromium against a real `vision serve`) and real GraphQL clients
# with the GraphQL-over-HTTP audits against the same binary (api/tests/clients).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/vision/target}

scripts/install-test-deps.sh
scripts/services.sh
scripts/python-env.sh
ORT_DYLIB_PATH=$(realpath "$(ls .venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so* | head -n 1)")
export ORT_DYLIB_PATH

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
.venv/bin/python -m pytest -q models/build bench/python_ref
# deploy/: compose, Kubernetes, Prometheus and Grafana files agree with each other and the code.
.venv/bin/python deploy/check_consistency.py >/dev/null

# The dashboard's browser tests drive the debug `vision` binary cargo test just built.
scripts/frontend-build.sh
(cd frontend && npm run codegen:check)
(cd frontend && npm run typecheck)
(cd frontend && npm run lint)
VISION_BIN="$CARGO_TARGET_DIR/debug/vision" CHROMIUM_PATH=${CHROMIUM_PATH:-$(command -v chromium)} \
    npm --prefix frontend test
# Real GraphQL clients (Apollo Client with uploads, urql, subscriptions-transport-ws) and the
# GraphQL-over-HTTP audits of graphql-http, against the same binary.
clients=api/tests/clients
if [ ! -d $clients/node_modules ] || [ $clients/package-lock.json -nt $clients/node_modules/.package-lock.json ]; then
    npm ci --prefix $clients --no-audit --no-fund
fi
VISION_BIN="$CARGO_TARGET_DIR/debug/vision" npm --prefix api/tests/clients test

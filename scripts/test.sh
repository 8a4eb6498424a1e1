#!/usr/bin/env bash
# The project's test command (README): formatting, lints, every Rust test (against SQLite and the
# local PostgreSQL), and the Python model-pipeline tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/vision/target}

scripts/services.sh
scripts/python-env.sh
ORT_DYLIB_PATH=$(realpath "$(ls .venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so* | head -n 1)")
export ORT_DYLIB_PATH

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
.venv/bin/python -m pytest -q models/build

#!/usr/bin/env bash
# Creates (or refreshes) the project's Python environment in .venv from the pinned
# models/build/requirements.txt. Python is used only to build the models and as the reference
# runtime (onnxruntime) in parity tests; serving is Rust.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
stamp=.venv/.requirements.sha256
want=$(sha256sum models/build/requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    .venv/bin/pip install --quiet --disable-pip-version-check -r models/build/requirements.txt
    echo "$want" > "$stamp"
fi

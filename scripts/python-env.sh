#!/usr/bin/env bash
# Creates (or refreshes) the project's Python environment in .venv from the pinned
# models/build/requirements.txt, bench/python_ref/requirements.txt and
# bench/slo/requirements.txt. Python is used only to build the models, as the reference runtime
# (onnxruntime) in parity tests, as the reference Python stack the benchmark compares against,
# and for the Locust load test (bench/slo); serving is Rust.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
stamp=.venv/.requirements.sha256
requirements=(models/build/requirements.txt bench/python_ref/requirements.txt bench/slo/requirements.txt)
want=$(cat "${requirements[@]}" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    .venv/bin/pip install --quiet --disable-pip-version-check -r "${requirements[0]}" -r "${requirements[1]}" -r "${requirements[2]}"
    echo "$want" > "$stamp"
fi

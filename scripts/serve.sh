#!/usr/bin/env bash
# The README's run command: builds the dashboard (frontend/ -> frontend/dist) when its sources
# changed, then runs the whole platform in one process on the embedded default
# (`vision serve`: SQLite, local objects, in-process bus), on VISION_ADDR (127.0.0.1:8080).
# Extra arguments go to `vision serve`.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/frontend-build.sh
exec cargo run --release --locked -p vision-api --bin vision -- serve "$@"

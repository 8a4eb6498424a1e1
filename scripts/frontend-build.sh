#!/usr/bin/env bash
# Builds the dashboard into frontend/dist, unless dist is newer than every source file.
# Needs Node.js >= 20 and npm (packages from the npm registry, pinned by package-lock.json).
set -euo pipefail
cd "$(dirname "$0")/../frontend"

if ! command -v npm >/dev/null; then
    echo "npm not found: install Node.js >= 20 and npm to build the dashboard (frontend/)" >&2
    exit 1
fi
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund
fi
newest_source=$(find src index.html graphiql.html package.json package-lock.json tsconfig*.json vite.config.* \
    -type f -newer dist/index.html 2>/dev/null | head -n 1 || true)
if [ ! -f dist/index.html ] || [ ! -f dist/graphiql.html ] || [ -n "$newest_source" ]; then
    npm run build
fi

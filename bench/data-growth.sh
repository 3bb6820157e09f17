#!/usr/bin/env bash
# Cost as the data grows: see bench/data-growth.ts for what it measures and how.
#   bench/data-growth.sh --out /tmp/growth [--shapes 10000x100,1000000x100] [--duration 10]
#       [--base-port 30000] [--node-flags "--storage-cache-mb 64"] [--key-cache-mb 0]
# Uses dist/ (build it first: npx tsc -p tsconfig.build.json). df -h the --out disk first:
# shapes that do not fit are skipped and said so.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f dist/cli/raftkv.js ] || { echo "data-growth: build first: npx tsc -p tsconfig.build.json" >&2; exit 2; }
exec node --import tsx bench/data-growth.ts "$@"

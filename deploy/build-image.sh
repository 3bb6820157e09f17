#!/usr/bin/env bash
# Builds the raftkv node image: compiles, stages the compiled code with production
# dependencies, and runs `docker build` with the given base image.
#
#   deploy/build-image.sh [IMAGE] [BASE_IMAGE]
#   (defaults: raftkv:local, and the official node:20-bookworm-slim)
set -euo pipefail
image="${1:-raftkv:local}"
base="${2:-node:20-bookworm-slim}"
root_dir="$(cd "$(dirname "$0")/.." && pwd)"
build_dir="$(mktemp -d)"
trap 'rm -rf "$build_dir"' EXIT

(cd "$root_dir" && npm run build --silent)
mkdir -p "$build_dir/context" "$build_dir/data"
cp -r "$root_dir/dist" "$root_dir/proto" "$root_dir/web" "$root_dir/package.json" "$root_dir/package-lock.json" "$build_dir/context/"
# Production dependencies only; classic-level ships prebuilt binaries, so no install scripts run.
(cd "$build_dir/context" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --silent)
cp "$root_dir/deploy/Dockerfile" "$build_dir/Dockerfile"
docker build --quiet --build-arg "BASE_IMAGE=$base" -t "$image" "$build_dir" >/dev/null
echo "$image"

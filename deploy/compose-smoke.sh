#!/usr/bin/env bash
# Brings deploy/compose.yaml up with Debian's docker-compose (v1; installed if missing), waits
# until every service is healthy, writes and reads through the CLI from the host, restarts one
# service, reads again from it, and takes everything down with its volumes, pass or fail.
# Needs a running Docker engine and the image raftkv:local (deploy/build-image.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
project="raftkv-smoke-$$"
compose() { docker-compose -p "$project" -f deploy/compose.yaml "$@"; }
endpoints=127.0.0.1:8001,127.0.0.1:8002,127.0.0.1:8003
raftkv() { node dist/cli/raftkv.js "$@"; }

if ! command -v docker-compose >/dev/null; then
  echo "compose-smoke: installing Debian's docker-compose" >&2
  apt-get install -y docker-compose >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y docker-compose >/dev/null; }
fi
[ -f dist/cli/raftkv.js ] || npm run --silent build
trap 'compose down -v --timeout 30 >/dev/null 2>&1 || true' EXIT

wait_healthy() {
  local deadline=$((SECONDS + 90))
  until [ "$(compose ps | grep -c '(healthy)')" = 3 ]; do
    if [ "$SECONDS" -ge "$deadline" ]; then compose ps; compose logs --tail 20; echo "compose-smoke: not every service became healthy within 90 s" >&2; exit 1; fi
    sleep 1
  done
}

echo "== compose up"
compose up -d
wait_healthy
raftkv health --endpoints "$endpoints"
raftkv put smoke/key hello --endpoints "$endpoints"
[ "$(raftkv get smoke/key --endpoints 127.0.0.1:8003)" = hello ]
echo "== restart n2"
compose restart n2
wait_healthy
[ "$(raftkv get smoke/key --endpoints 127.0.0.1:8002 --timeout 20000)" = hello ]
raftkv put smoke/after-restart ok --endpoints "$endpoints" --timeout 20000
echo "== compose smoke passed"

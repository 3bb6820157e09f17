#!/usr/bin/env bash
# Side-by-side benchmark of raftkv against etcd 3.4 on this machine (see `bench/vs-etcd.sh --help`).
# Checks the options first, installs Debian's etcd-server if `etcd` is missing, builds dist/ if
# it is missing, then runs the generator (bench/vs-etcd/main.ts under the repo's tsx).
set -euo pipefail
cd "$(dirname "$0")/.."

case " $* " in *" --help "*) exec node --import tsx bench/vs-etcd/main.ts --help ;; esac
RAFTKV_BENCH_CHECK_OPTIONS=1 node --import tsx bench/vs-etcd/main.ts "$@"
RAFTKV_BENCH_COMMAND="bench/vs-etcd.sh"
if [ "$#" -gt 0 ]; then RAFTKV_BENCH_COMMAND+="$(printf ' %q' "$@")"; fi
export RAFTKV_BENCH_COMMAND

if ! command -v etcd >/dev/null 2>&1; then
  echo "vs-etcd: etcd is missing; installing Debian's etcd-server" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y etcd-server >&2 || { apt-get update >&2 && apt-get install -y etcd-server >&2; }
fi

if [ ! -f dist/cli/raftkv.js ]; then
  echo "vs-etcd: dist/ is missing; building it" >&2
  npx tsc -p tsconfig.build.json
elif [ -n "$(find src cli -name '*.ts' -newer dist/cli/raftkv.js -print -quit)" ]; then
  echo "vs-etcd: warning: src/ or cli/ changed since dist/ was built; run npx tsc -p tsconfig.build.json to measure the current code" >&2
fi

exec node --import tsx bench/vs-etcd/main.ts "$@"

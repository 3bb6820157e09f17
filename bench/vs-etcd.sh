#!/usr/bin/env bash
# Side-by-side benchmark of raftkv against etcd 3.4 on this machine (see `bench/vs-etcd.sh --help`).
# Checks the options first, installs Debian's etcd-server if `etcd` is missing, builds dist/ if
# it is missing, then runs the generator (bench/vs-etcd/main.ts under the repo's tsx).
set -euo pipefail
cd "$(dirname "$0")/.."

case " $* " in *" --help "*) exec node --import tsx bench/vs-etcd/main.ts --help ;; esac
RAFTKV_BENCH_CHECK_OPTIONS=1 node --import tsx bench/vs-etcd/main.ts "$@"
# The command line as the table shows it: words quoted only when the shell needs it.
RAFTKV_BENCH_COMMAND="bench/vs-etcd.sh"
for word in "$@"; do
  if [[ "$word" =~ ^[A-Za-z0-9_@%+=:,./-]+$ ]]; then RAFTKV_BENCH_COMMAND+=" $word"
  else RAFTKV_BENCH_COMMAND+=" '${word//\'/\'\\\'\'}'"; fi
done
export RAFTKV_BENCH_COMMAND

if ! command -v etcd >/dev/null 2>&1; then
  echo "vs-etcd: etcd is missing; installing Debian's etcd-server" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y etcd-server >&2 || { apt-get update >&2 && apt-get install -y etcd-server >&2; }
fi
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet etcd 2>/dev/null; then
  echo "vs-etcd: warning: the etcd service is running (Debian starts it on install); it takes CPU from the run: systemctl stop etcd" >&2
fi

if [ ! -f dist/cli/raftkv.js ]; then
  echo "vs-etcd: dist/ is missing; building it" >&2
  npx tsc -p tsconfig.build.json
elif [ -n "$(find src cli -name '*.ts' -newer dist/cli/raftkv.js -print -quit)" ]; then
  echo "vs-etcd: warning: src/ or cli/ changed since dist/ was built; run npx tsc -p tsconfig.build.json to measure the current code" >&2
fi

exec node --import tsx bench/vs-etcd/main.ts "$@"

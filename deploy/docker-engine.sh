#!/usr/bin/env bash
# Starts a Docker engine for the chaos suite when none answers, and stops only the one it
# started.
#
#   deploy/docker-engine.sh start    an engine answers `docker info` afterwards, or exit 1
#   deploy/docker-engine.sh stop     stops the engine `start` started (by its PID), if any
#   deploy/docker-engine.sh status   says whether an engine answers and whether we own it
#
# start: if `docker info` already answers, nothing is done and stop will leave that engine
# alone. Otherwise Debian's engine is installed when dockerd is missing (apt-get, as root),
# dockerd is started in its own session (setsid) with its output in the state directory, its
# PID is written to dockerd.pid there, and start waits (with a deadline) until `docker info`
# answers. stop signals that PID only (SIGTERM, then SIGKILL at a deadline) and waits for the
# process to exit; it never looks processes up by name.
#
# State directory: $RAFTKV_DOCKER_STATE_DIR, default /tmp/raftkv-dockerd.
set -euo pipefail

state_dir="${RAFTKV_DOCKER_STATE_DIR:-/tmp/raftkv-dockerd}"
pid_file="$state_dir/dockerd.pid"
log_file="$state_dir/dockerd.log"
start_deadline_s="${RAFTKV_DOCKER_START_DEADLINE_S:-90}"
stop_deadline_s=30

say() { echo "docker-engine: $*" >&2; }

engine_answers() { docker info >/dev/null 2>&1; }

# Whether a process runs: it exists and is not a zombie (a dockerd that died while this script,
# its parent, waits for it stays a zombie until the script exits).
alive() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  [ "${stat:0:1}" != Z ]
}

# The PID in the pid file, if that process still runs and is a dockerd (a stale file whose PID
# was reused by something else must not be signalled).
owned_pid() {
  [ -f "$pid_file" ] || return 1
  local pid
  pid="$(cat "$pid_file")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [ -e "/proc/$pid" ] || return 1
  local exe
  exe="$(readlink "/proc/$pid/exe" 2>/dev/null || true)"
  [ "$(basename "${exe% (deleted)}")" = dockerd ] || return 1
  echo "$pid"
}

install_engine() {
  say "dockerd is missing: installing Debian's docker.io"
  if [ "$(id -u)" != 0 ]; then
    say "installing needs root (apt-get); run as root or install docker.io yourself"
    exit 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends docker.io >/dev/null
}

dockerd_path() {
  # Debian's engine lives in /usr/sbin, which may not be on a non-root PATH.
  command -v dockerd 2>/dev/null || { [ -x /usr/sbin/dockerd ] && echo /usr/sbin/dockerd; } || true
}

start() {
  if engine_answers; then
    if pid="$(owned_pid)"; then
      say "the engine started earlier by this script answers (pid $pid)"
    else
      rm -f "$pid_file"
      say "an engine already answers; using it and leaving it alone"
    fi
    return 0
  fi
  if pid="$(owned_pid)"; then
    say "dockerd $pid (ours) runs but does not answer; stopping it first"
    stop
  fi
  local dockerd
  dockerd="$(dockerd_path)"
  if [ -z "$dockerd" ]; then
    install_engine
    dockerd="$(dockerd_path)"
    [ -n "$dockerd" ] || { say "dockerd still missing after installing docker.io"; exit 1; }
  fi
  if [ "$(id -u)" != 0 ]; then
    say "no engine answers and starting dockerd needs root"
    exit 1
  fi
  mkdir -p "$state_dir"
  # Its own session and process group: a Ctrl-C or the end of this shell does not reach it.
  # In a non-interactive shell the background job is not a group leader, so setsid execs
  # dockerd in place and $! is dockerd's own PID (checked through /proc below).
  setsid "$dockerd" >"$log_file" 2>&1 < /dev/null &
  local pid=$!
  echo "$pid" > "$pid_file"
  say "started $dockerd as pid $pid (log $log_file); waiting up to ${start_deadline_s}s for it to answer"
  local deadline=$((SECONDS + start_deadline_s))
  until engine_answers; do
    if ! alive "$pid"; then
      say "dockerd $pid exited while starting; its log ends with:"
      tail -n 30 "$log_file" >&2 || true
      rm -f "$pid_file"
      exit 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      say "dockerd $pid did not answer within ${start_deadline_s}s; its log ends with:"
      tail -n 30 "$log_file" >&2 || true
      stop
      exit 1
    fi
    sleep 0.5
  done
  if ! owned_pid >/dev/null; then
    say "pid $pid is not a dockerd process: refusing to record it"
    rm -f "$pid_file"
    exit 1
  fi
  say "engine answers: $(docker version --format 'server {{.Server.Version}}, API {{.Server.APIVersion}}' 2>/dev/null || echo '?')"
}

stop() {
  local pid
  if ! pid="$(owned_pid)"; then
    rm -f "$pid_file"
    say "no engine started by this script is running; nothing to stop"
    return 0
  fi
  say "stopping dockerd $pid (SIGTERM)"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + stop_deadline_s))
  while alive "$pid" && owned_pid >/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      say "dockerd $pid still runs ${stop_deadline_s}s after SIGTERM: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      deadline=$((SECONDS + 10))
      while alive "$pid" && owned_pid >/dev/null; do
        [ "$SECONDS" -lt "$deadline" ] || { say "dockerd $pid survived SIGKILL"; exit 1; }
        sleep 0.2
      done
      break
    fi
    sleep 0.2
  done
  rm -f "$pid_file"
  say "dockerd $pid stopped"
}

status() {
  if engine_answers; then echo "engine answers"; else echo "no engine answers"; fi
  if pid="$(owned_pid)"; then echo "started by this script: pid $pid"; else echo "not started by this script"; fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac

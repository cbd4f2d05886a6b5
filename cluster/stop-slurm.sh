#!/usr/bin/env bash
# stop-slurm.sh - stop exactly the daemons that start-slurm.sh started, by the PIDs it wrote
# to $POOLPIPE_SLURM_STATE (default /run/poolpipe-slurm). Never kills by name. Run as root.
set -uo pipefail
STATE_DIR="${POOLPIPE_SLURM_STATE:-/run/poolpipe-slurm}"

own_pidfile() {   # the daemon's own PID file, which slurmctld/slurmdbd (user slurm) cannot remove
  case "$1" in
    slurmd) echo /run/slurmd.pid ;;     slurmctld) echo /run/slurmctld.pid ;;
    slurmdbd) echo /run/slurmdbd.pid ;; mariadbd) echo /run/mysqld/mysqld.pid ;;
    munged) echo /run/munge/munged.pid ;;
  esac
}

status=0
for name in slurmd slurmctld slurmdbd mariadbd munged; do
  f="$STATE_DIR/$name.pid"
  [ -s "$f" ] || continue
  pid="$(cat "$f")"
  # a recycled PID is left alone: the process must still be the daemon it was
  if kill -0 "$pid" 2>/dev/null && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ]; then
    echo "[stop-slurm] stopping $name (pid $pid)"
    kill -TERM "$pid"
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "[stop-slurm] $name (pid $pid) still runs after 30 s: SIGKILL"
      kill -KILL "$pid"
      sleep 1
    fi
    kill -0 "$pid" 2>/dev/null && { echo "[stop-slurm] $name (pid $pid) did not stop" >&2; status=1; }
  else
    echo "[stop-slurm] $name (pid $pid) is not running"
  fi
  own="$(own_pidfile "$name")"
  [ -n "$own" ] && [ "$(cat "$own" 2>/dev/null)" = "$pid" ] && rm -f "$own"
  rm -f "$f"
done
exit "$status"

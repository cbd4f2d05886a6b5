#!/usr/bin/env bash
# stop-slurm.sh - stop the cluster start-slurm.sh brought up and leave nothing behind: every
# process in the nodes' network namespaces (slurmd, its job steps, their children), the
# namespaces, the bridge, slurmctld, slurmdbd, MariaDB and munged (by the PIDs they wrote
# under $POOLPIPE_SLURM_STATE, never by name), then the state directory itself.
# Idempotent: what is already gone is skipped. Run as root.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=cluster/common.sh
. "$HERE/common.sh"

status=0
say() { echo "[stop-slurm] $*"; }

stop_pid() {   # stop_pid NAME PID: TERM, up to 30 s, then KILL
  local name=$1 pid=$2
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
  say "$name (pid $pid) still runs after 30 s: SIGKILL"
  kill -KILL "$pid" 2>/dev/null
  sleep 1
  if kill -0 "$pid" 2>/dev/null; then say "$name (pid $pid) did not stop" >&2; status=1; fi
}

# The nodes first: every process of a node's namespace is one this cluster started.
for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^pp-node[0-9]+$'); do
  pids="$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')"
  if [ -n "${pids// /}" ]; then
    say "stopping node $ns (pids $pids)"
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null
    for _ in $(seq 20); do [ -z "$(ip netns pids "$ns" 2>/dev/null)" ] && break; sleep 0.5; done
    left="$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')"
    # shellcheck disable=SC2086
    [ -n "${left// /}" ] && kill -KILL $left 2>/dev/null && sleep 0.5
  fi
  ip netns del "$ns" || status=1
done
# the nodes' cgroups (task/cgroup makes slurm_<node>/uid_*/job_*/step_* in each controller),
# deepest first; a cgroup without processes is removed with rmdir
for ctl in /sys/fs/cgroup/*/; do
  for top in "$ctl"slurm_pp-node*; do
    [ -d "$top" ] || continue
    find "$top" -depth -type d -exec rmdir {} + 2>/dev/null || { say "could not remove cgroup $top"; status=1; }
  done
done
if ip link show "$BRIDGE" >/dev/null 2>&1; then
  say "removing bridge $BRIDGE"
  ip link del "$BRIDGE" || status=1
fi

for name in slurmctld slurmdbd mariadbd munged; do
  if alive "$name"; then
    pid="$(cat "$(pidfile "$name")")"
    say "stopping $name (pid $pid)"
    stop_pid "$name" "$pid"
  fi
done

if [ -d "$STATE" ] && [ -f "$STATE/etc/slurm.conf" ]; then
  rm -rf "$STATE"
fi
exit "$status"

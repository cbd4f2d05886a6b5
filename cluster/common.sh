# common.sh - names, addresses and PID files of the test cluster, shared by start-slurm.sh
# and stop-slurm.sh (sourced, not run).
# shellcheck shell=bash disable=SC2034
STATE="${POOLPIPE_SLURM_STATE:-/run/poolpipe-slurm}"
STATE="${STATE%/}"
NODES="${POOLPIPE_SLURM_NODES:-3}"
export SLURM_CONF="$STATE/etc/slurm.conf"
BRIDGE=ppslurm0
SUBNET=10.77.0
BRIDGE_ADDR="$SUBNET.1"
CTLD_NAME="$(hostname -s)"
CTLD_PORT=6917
SLURMD_PORT=6918
DBD_PORT=6919
DB_PORT=6920
DB_PASS=poolpipe-slurmdbd      # MariaDB listens on 127.0.0.1 only
NODE_CPUS="$(nproc --all)"

node_mem_mb() {   # each node offers an equal share of 80 % of the machine's memory, at most 4 GB
  local mem_mb=$(( $(awk '/^MemTotal:/{print $2}' /proc/meminfo) / 1024 * 80 / 100 / NODES ))
  echo $(( mem_mb < 4096 ? mem_mb : 4096 ))
}

node_name() { echo "pp-node$1"; }
node_addr() { echo "$SUBNET.$((10 + $1))"; }

pidfile() {   # pidfile DAEMON: where the daemon writes its PID (the user it runs as can write there)
  case "$1" in
    munged) echo "$STATE/munge/munged.pid" ;;
    mariadbd) echo "$STATE/mysql/mysqld.pid" ;;
    *) echo "$STATE/run/$1.pid" ;;
  esac
}

alive() {   # alive DAEMON: its PID file names a live process of that program
  local f pid
  f="$(pidfile "$1")"
  [ -s "$f" ] || return 1
  pid="$(cat "$f")"
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "${1%%-*}" ]
}

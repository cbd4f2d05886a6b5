#!/usr/bin/env bash
# start-slurm.sh - install (Debian bookworm packages) and start a real single-node SLURM
# cluster on this host without systemd: munged, MariaDB, slurmdbd, slurmctld, slurmd.
# Run as root. A daemon that already runs is reused, not restarted.
#
# The PID of every daemon THIS run started is written to $POOLPIPE_SLURM_STATE/<name>.pid
# (default /run/poolpipe-slurm); stop-slurm.sh with the same directory stops exactly those.
#
#   POOLPIPE_SLURM_STATE=DIR   where the PID files of the started daemons go
#   WITH_DBD=0                 no MariaDB/slurmdbd: sacct fails, so snakemake then needs
#                              --slurm-status-command squeue
set -euo pipefail

WITH_DBD="${WITH_DBD:-1}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STATE_DIR="${POOLPIPE_SLURM_STATE:-/run/poolpipe-slurm}"
DB_PASS=poolpipe-slurmdbd      # MariaDB listens on 127.0.0.1 only

log() { echo "[start-slurm] $*"; }
die() { echo "[start-slurm] error: $*" >&2; exit 1; }
alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
wait_for() {   # wait_for SECONDS DESCRIPTION CMD...: poll CMD once a second
  local t=$1 d=$2; shift 2
  for _ in $(seq "$t"); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
  die "timed out after ${t}s waiting for $d"
}
record() { cp "$2" "$STATE_DIR/$1.pid"; log "started $1 (pid $(cat "$2"))"; }

[ "$(id -u)" = 0 ] || die "run as root (it installs packages and starts system daemons)"

# ---------------------------------------------------------------- packages
PKGS="munge slurm-client slurmctld slurmd"
[ "$WITH_DBD" = 1 ] && PKGS="$PKGS slurmdbd mariadb-server"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
  command -v apt-get >/dev/null || die "missing packages:$missing, and no apt-get to install them"
  log "apt-get install:$missing"
  export DEBIAN_FRONTEND=noninteractive
  # keep the packages' maintainer scripts from starting daemons this script would not track
  policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; policy=1
  fi
  trap 'if [ "$policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi' EXIT
  apt-get -o DPkg::Lock::Timeout=300 update -qq
  # shellcheck disable=SC2086
  apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends $missing >/dev/null
fi

# ---------------------------------------------------------------- host and config
install -d -m 0755 "$STATE_DIR"
NODE="$(hostname -s)"
getent hosts "$NODE" >/dev/null || { echo "127.0.0.1 $NODE" >> /etc/hosts; log "added $NODE to /etc/hosts"; }
CPUS="$(slurmd -C | sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' | head -n1)"
MEM_MB=$(( $(awk '/^MemTotal:/{print $2}' /proc/meminfo) / 1024 ))
REALMEM=$(( MEM_MB * 90 / 100 ))     # must not exceed what slurmd detects
if [ "$WITH_DBD" = 1 ]; then ACCT=accounting_storage/slurmdbd; else ACCT=accounting_storage/none; fi

install -d -m 0755 /etc/slurm
conf="$(sed -e "s/@NODE@/$NODE/g" -e "s/@CPUS@/$CPUS/g" -e "s/@REALMEM@/$REALMEM/g" \
            -e "s#@ACCOUNTING@#$ACCT#g" "$HERE/slurm.conf.in")"
if [ ! -f /etc/slurm/slurm.conf ] || [ "$conf" != "$(cat /etc/slurm/slurm.conf)" ]; then
  if alive /run/slurmctld.pid || alive /run/slurmd.pid; then
    die "/etc/slurm/slurm.conf differs from cluster/slurm.conf.in while slurmctld/slurmd run; stop them first"
  fi
  printf '%s\n' "$conf" > /etc/slurm/slurm.conf
  log "wrote /etc/slurm/slurm.conf (node $NODE, $CPUS CPUs, ${REALMEM} MB, $ACCT)"
fi
install -d -o slurm -g slurm -m 0755 /var/spool/slurmctld /var/log/slurm
install -d -o root -g root -m 0755 /var/spool/slurmd

# ---------------------------------------------------------------- munge
install -d -o munge -g munge -m 0755 /run/munge
if [ ! -s /etc/munge/munge.key ]; then
  mungekey --create --keyfile=/etc/munge/munge.key
  chown munge:munge /etc/munge/munge.key; chmod 0400 /etc/munge/munge.key
fi
if ! alive /run/munge/munged.pid; then
  runuser -u munge -- /usr/sbin/munged --force     # --force: ignore a stale socket
  wait_for 20 munged bash -c 'munge -n | unmunge'
  record munged /run/munge/munged.pid
fi

# ---------------------------------------------------------------- MariaDB and slurmdbd
if [ "$WITH_DBD" = 1 ]; then
  install -d -o mysql -g mysql -m 0755 /run/mysqld /var/log/mysql
  [ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
  if ! alive /run/mysqld/mysqld.pid; then
    setsid /usr/sbin/mariadbd --user=mysql --datadir=/var/lib/mysql \
      --socket=/run/mysqld/mysqld.sock --pid-file=/run/mysqld/mysqld.pid \
      --bind-address=127.0.0.1 --log-error=/var/log/mysql/error.log \
      --innodb-buffer-pool-size=128M --innodb-lock-wait-timeout=900 \
      </dev/null >/dev/null 2>&1 &
    wait_for 60 mariadbd mariadb-admin --socket=/run/mysqld/mysqld.sock ping
    wait_for 10 "mariadbd's pid file" test -s /run/mysqld/mysqld.pid
    record mariadbd /run/mysqld/mysqld.pid
  fi
  mariadb --socket=/run/mysqld/mysqld.sock -e "
    CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
    ALTER USER 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"
  sed -e "s/@DB_PASS@/$DB_PASS/" "$HERE/slurmdbd.conf.in" > /etc/slurm/slurmdbd.conf.new
  install -o slurm -g slurm -m 0600 /etc/slurm/slurmdbd.conf.new /etc/slurm/slurmdbd.conf
  rm -f /etc/slurm/slurmdbd.conf.new
  if ! alive /run/slurmdbd.pid; then
    /usr/sbin/slurmdbd
    wait_for 60 slurmdbd bash -c 'exec 3<>/dev/tcp/127.0.0.1/6819'
    wait_for 10 "slurmdbd's pid file" test -s /run/slurmdbd.pid
    record slurmdbd /run/slurmdbd.pid
  fi
fi

# ---------------------------------------------------------------- slurmctld and slurmd
if ! alive /run/slurmctld.pid; then
  /usr/sbin/slurmctld
  wait_for 60 slurmctld scontrol ping
  wait_for 10 "slurmctld's pid file" test -s /run/slurmctld.pid
  record slurmctld /run/slurmctld.pid
fi
if ! alive /run/slurmd.pid; then
  /usr/sbin/slurmd
  wait_for 10 "slurmd's pid file" test -s /run/slurmd.pid
  record slurmd /run/slurmd.pid
fi
node_ready() { sinfo -h -n "$NODE" -o %t | grep -Eq '^(idle|mix|alloc)'; }
for _ in $(seq 60); do
  node_ready && break
  if sinfo -h -n "$NODE" -o %t | grep -Eq '^(down|drain|drng|fail)'; then
    scontrol update NodeName="$NODE" State=RESUME || true
  fi
  sleep 1
done
node_ready || die "node $NODE is not ready: $(sinfo -h -n "$NODE" -o '%t %E')"

# ---------------------------------------------------------------- smoke test
timeout -k 5 60 srun -t 1 -n 1 --mem 64 true || die "srun smoke test failed"
[ "$WITH_DBD" = 1 ] && wait_for 30 "sacct (the cluster registers with slurmdbd)" sacct -X -n
sinfo
log "SLURM is up. Stop what this run started with: POOLPIPE_SLURM_STATE=$STATE_DIR $HERE/stop-slurm.sh"

#!/usr/bin/env bash
# start-slurm.sh - a real multi-node SLURM cluster on this one machine, without systemd:
# its own munged and MariaDB, slurmdbd and slurmctld on the host, and POOLPIPE_SLURM_NODES
# compute nodes, each a slurmd in its own network and UTS namespace (hostname pp-nodeN,
# address 10.77.0.(10+N) on the bridge ppslurm0, whose host side is 10.77.0.1). The host's
# file system is every node's. Installs Debian's packages when missing. Run as root.
#
# Idempotent: what already runs is kept, what is missing (a node killed by a test, say) is
# started again. Everything lives under $POOLPIPE_SLURM_STATE (default /run/poolpipe-slurm):
# configuration, PID files, logs, spool, database. stop-slurm.sh removes all of it.
#
#   POOLPIPE_SLURM_STATE=DIR   where the cluster lives (a path without spaces)
#   POOLPIPE_SLURM_NODES=N     compute nodes, 1 to 8 (default 3)
#
# Commands and Snakemake then need:  export SLURM_CONF=$POOLPIPE_SLURM_STATE/etc/slurm.conf
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=cluster/common.sh
. "$HERE/common.sh"

log() { echo "[start-slurm] $*"; }
die() { echo "[start-slurm] error: $*" >&2; exit 1; }
wait_for() {   # wait_for SECONDS DESCRIPTION CMD...: poll CMD twice a second
  local t=$1 d=$2; shift 2
  for _ in $(seq $((t * 2))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  die "timed out after ${t}s waiting for $d"
}

[ "$(id -u)" = 0 ] || die "run as root (it installs packages, creates namespaces and starts daemons)"
case "$NODES" in [1-8]) ;; *) die "POOLPIPE_SLURM_NODES must be 1 to 8, not '$NODES'" ;; esac
case "$STATE" in /*) ;; *) die "POOLPIPE_SLURM_STATE must be an absolute path, not '$STATE'" ;; esac
case "$STATE" in *[[:space:]]*) die "POOLPIPE_SLURM_STATE must not contain spaces" ;; esac
NODE_MEM_MB="$(node_mem_mb)"

# ---------------------------------------------------------------- packages
PKGS="munge slurm-client slurmctld slurmd slurmdbd mariadb-server iproute2"
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

# ---------------------------------------------------------------- directories and config
install -d -m 0755 "$STATE" "$STATE/etc" /etc/slurm
install -d -o slurm -g slurm -m 0755 "$STATE/run" "$STATE/log" "$STATE/ctld"
install -d -o munge -g munge -m 0755 "$STATE/munge"
install -d -o mysql -g mysql -m 0750 "$STATE/mysql"

node_lines=""
for n in $(seq "$NODES"); do
  install -d -m 0755 "$STATE/spool/$(node_name "$n")"
  node_lines+="NodeName=$(node_name "$n") NodeAddr=$(node_addr "$n") CPUs=$NODE_CPUS"
  node_lines+=" RealMemory=$NODE_MEM_MB State=UNKNOWN"$'\n'
done
conf="$(sed -e "s#@STATE@#$STATE#g" -e "s/@CTLD_NAME@/$CTLD_NAME/" -e "s/@CTLD_ADDR@/$BRIDGE_ADDR/" \
            -e "s/@CTLD_PORT@/$CTLD_PORT/" -e "s/@SLURMD_PORT@/$SLURMD_PORT/" \
            -e "s/@DBD_PORT@/$DBD_PORT/" "$HERE/slurm.conf.in")"
conf="${conf/@NODES@/${node_lines%$'\n'}}"
if [ ! -f "$SLURM_CONF" ] || [ "$conf" != "$(cat "$SLURM_CONF")" ]; then
  alive slurmctld && die "$SLURM_CONF differs from cluster/slurm.conf.in while slurmctld runs; stop the cluster first"
  printf '%s\n' "$conf" > "$SLURM_CONF"
  log "wrote $SLURM_CONF ($NODES nodes of $NODE_CPUS CPUs and $NODE_MEM_MB MB)"
fi
install -m 0644 "$HERE/cgroup.conf" "$STATE/etc/cgroup.conf"
sed -e "s#@STATE@#$STATE#g" -e "s/@DBD_PORT@/$DBD_PORT/" -e "s/@DB_PORT@/$DB_PORT/" \
    -e "s/@DB_PASS@/$DB_PASS/" "$HERE/slurmdbd.conf.in" > "$STATE/etc/slurmdbd.conf.new"
install -o slurm -g slurm -m 0600 "$STATE/etc/slurmdbd.conf.new" "$STATE/etc/slurmdbd.conf"
rm -f "$STATE/etc/slurmdbd.conf.new"

# ---------------------------------------------------------------- munge
if ! alive munged; then
  if [ ! -s "$STATE/munge/munge.key" ]; then
    mungekey --create --keyfile="$STATE/munge/munge.key"
    chown munge:munge "$STATE/munge/munge.key"; chmod 0400 "$STATE/munge/munge.key"
  fi
  runuser -u munge -- /usr/sbin/munged --force --socket="$STATE/munge/munge.socket" \
    --key-file="$STATE/munge/munge.key" --pid-file="$(pidfile munged)" \
    --log-file="$STATE/munge/munged.log" --seed-file="$STATE/munge/munged.seed"
  wait_for 20 munged bash -c "munge -n -S '$STATE/munge/munge.socket' | unmunge -S '$STATE/munge/munge.socket'"
  log "started munged (pid $(cat "$(pidfile munged)"))"
fi

# ---------------------------------------------------------------- MariaDB and slurmdbd
if ! alive mariadbd; then
  if [ ! -d "$STATE/mysql/mysql" ]; then
    mariadb-install-db --user=mysql --datadir="$STATE/mysql" --skip-test-db \
      --auth-root-authentication-method=socket >/dev/null
  fi
  setsid /usr/sbin/mariadbd --no-defaults --user=mysql --datadir="$STATE/mysql" \
    --socket="$STATE/mysql/mysqld.sock" --pid-file="$(pidfile mariadbd)" \
    --bind-address=127.0.0.1 --port="$DB_PORT" --log-error="$STATE/log/mariadb.log" \
    --innodb-buffer-pool-size=64M --innodb-lock-wait-timeout=900 --skip-name-resolve \
    </dev/null >/dev/null 2>&1 &
  wait_for 60 mariadbd mariadb-admin --socket="$STATE/mysql/mysqld.sock" ping
  wait_for 10 "mariadbd's pid file" test -s "$(pidfile mariadbd)"
  log "started mariadbd (pid $(cat "$(pidfile mariadbd)"))"
fi
mariadb --socket="$STATE/mysql/mysqld.sock" -e "
  CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
  GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1'; FLUSH PRIVILEGES;"
if ! alive slurmdbd; then
  /usr/sbin/slurmdbd
  wait_for 60 slurmdbd bash -c "exec 3<>/dev/tcp/127.0.0.1/$DBD_PORT"
  wait_for 10 "slurmdbd's pid file" test -s "$(pidfile slurmdbd)"
  log "started slurmdbd (pid $(cat "$(pidfile slurmdbd)"))"
fi

# ---------------------------------------------------------------- the bridge and the nodes
if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
  ip link add "$BRIDGE" type bridge
  ip addr add "$BRIDGE_ADDR/24" dev "$BRIDGE"
  log "created bridge $BRIDGE ($BRIDGE_ADDR/24)"
fi
ip link set "$BRIDGE" up
for n in $(seq "$NODES"); do
  name="$(node_name "$n")"
  if ! ip netns pids "$name" >/dev/null 2>&1; then
    ip netns add "$name"
  fi
  if ! ip link show "vpp$n" >/dev/null 2>&1; then
    ip link add "vpp$n" type veth peer name eth0 netns "$name"
    ip link set "vpp$n" master "$BRIDGE" up
    ip -n "$name" addr add "$(node_addr "$n")/24" dev eth0
  fi
  ip -n "$name" link set lo up
  ip -n "$name" link set eth0 up
  if ! alive "slurmd-$name"; then
    rm -f "$(pidfile "slurmd-$name")"
    # The node's network namespace (nsenter, not `ip netns exec`, which would mount a /sys
    # without the cgroup file systems slurmd needs), its own UTS namespace (the hostname is
    # what slurmd takes for its node name) and mount namespace, in which /etc/slurm is the
    # cluster's configuration: commands in its jobs (srun) find it as on a real node.
    nsenter --net="/run/netns/$name" unshare --uts --mount --propagation private -- \
      sh -c "hostname $name && mount --bind '$STATE/etc' /etc/slurm && exec /usr/sbin/slurmd"
    wait_for 20 "slurmd on $name" test -s "$(pidfile "slurmd-$name")"
    log "started slurmd on $name ($(node_addr "$n"), pid $(cat "$(pidfile "slurmd-$name")"))"
  fi
done

# ---------------------------------------------------------------- slurmctld
if ! alive slurmctld; then
  /usr/sbin/slurmctld
  wait_for 60 slurmctld scontrol ping
  wait_for 10 "slurmctld's pid file" test -s "$(pidfile slurmctld)"
  log "started slurmctld (pid $(cat "$(pidfile slurmctld)"))"
fi
ready() { [ "$(sinfo -h -N -t idle,mix,alloc -o %N | sort -u | wc -l)" = "$NODES" ]; }
for _ in $(seq 60); do
  ready && break
  for name in $(sinfo -h -N -t down,drain,fail -o %N | sort -u); do
    scontrol update NodeName="$name" State=RESUME 2>/dev/null || true
  done
  sleep 1
done
ready || die "not every node is ready: $(sinfo -h -N -o '%N %t %E' | tr '\n' ';')"

# ---------------------------------------------------------------- smoke test
# one job step on every node, and accounting
timeout -k 5 60 srun -N "$NODES" -n "$NODES" -t 1 --mem 64 hostname >/dev/null \
  || die "srun smoke test on $NODES nodes failed"
wait_for 30 "sacct (the cluster registers with slurmdbd)" sacct -X -n
sinfo -N
log "SLURM is up: export SLURM_CONF=$SLURM_CONF; stop it with POOLPIPE_SLURM_STATE=$STATE $HERE/stop-slurm.sh"

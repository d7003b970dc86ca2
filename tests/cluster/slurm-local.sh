#!/usr/bin/env bash
# A copy of ../shared/tools/slurm-local.sh, kept here because CI clones this repository alone.
# Single-node SLURM (Debian 12 slurm-wlm 22.05) for CI: install, configure, start, check, stop.
# Usage (as root):  slurm-local.sh all            # install+start+check+stop
#                   slurm-local.sh install|start|check|stop
# Env: SLURM_LOCAL_DIR  state/log dir (default /tmp/slurm-local)
#      WITH_DBD=1       also run MariaDB + slurmdbd so `sacct` works (default 0: squeue only)
#      SLURM_PARTITION  partition name (default debug)
# Notes: config goes to /etc/slurm/slurm.conf on purpose: snakemake-executor-plugin-slurm-jobstep
#        strips SLURM_CONF from the job environment, so a custom SLURM_CONF path breaks inner srun.
#        If `snakemake` (with snakemake-executor-plugin-slurm) is on PATH, `check` also runs a
#        5-job workflow through `--executor slurm`.
set -euo pipefail
D=${SLURM_LOCAL_DIR:-/tmp/slurm-local}
P=${SLURM_PARTITION:-debug}
WITH_DBD=${WITH_DBD:-0}
log() { echo "[slurm-local $(date +%T)] $*"; }

do_install() {
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  local pk="slurm-wlm munge"; [ "$WITH_DBD" = 1 ] && pk="$pk slurmdbd mariadb-server"
  apt-get install -y -qq $pk >/dev/null
}

configure() {
  mkdir -p "$D"/{spool/ctld,spool/d,log,run}
  local host mem
  host=$(hostname -s)                       # slurmd/slurmctld match on the short hostname
  mem=$(awk '/MemAvailable/{printf "%d", $2/1024*0.8}' /proc/meminfo)
  [ -f /etc/slurm/slurm.conf ] && cp /etc/slurm/slurm.conf "$D/slurm.conf.bak"
  local acct="AccountingStorageType=accounting_storage/none"
  [ "$WITH_DBD" = 1 ] && acct=$'AccountingStorageType=accounting_storage/slurmdbd\nAccountingStorageHost=127.0.0.1'
  cat > /etc/slurm/slurm.conf <<EOF
# slurm-local.sh: removed by its stop step
ClusterName=local
SlurmctldHost=${host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
ReturnToService=2
MinJobAge=300
StateSaveLocation=$D/spool/ctld
SlurmdSpoolDir=$D/spool/d
SlurmctldPidFile=$D/run/slurmctld.pid
SlurmdPidFile=$D/run/slurmd.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
$acct
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
NodeName=${host} NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=${mem} State=UNKNOWN
PartitionName=${P} Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
}

wait_for() { # wait_for <seconds> <cmd...>
  local t=$1; shift
  for _ in $(seq $((t * 4))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.25; done
  log "timeout waiting for: $*"; return 1
}

start_dbd() {
  mkdir -p "$D/mysql"; chown mysql:mysql "$D/mysql" "$D/run"
  mariadb-install-db --user=mysql --datadir="$D/mysql" --auth-root-authentication-method=socket >"$D/log/installdb.log" 2>&1
  setsid /usr/sbin/mariadbd --user=mysql --datadir="$D/mysql" --socket="$D/run/mysql.sock" \
    --pid-file="$D/run/mariadb.pid" --bind-address=127.0.0.1 --port=3306 \
    --log-error="$D/log/mariadb.log" </dev/null >/dev/null 2>&1 &
  wait_for 30 mariadb -S "$D/run/mysql.sock" -e 'select 1'
  mariadb -S "$D/run/mysql.sock" -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
    CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurmpw';
    CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurmpw';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1'; GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"
  cat > /etc/slurm/slurmdbd.conf <<EOF
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=3306
StorageUser=slurm
StoragePass=slurmpw
StorageLoc=slurm_acct_db
PidFile=$D/run/slurmdbd.pid
LogFile=$D/log/slurmdbd.log
EOF
  chmod 600 /etc/slurm/slurmdbd.conf        # slurmdbd refuses a world-readable config
  /usr/sbin/slurmdbd
  wait_for 30 sacctmgr -n show cluster
  sacctmgr -i add cluster local >/dev/null 2>&1 || true
}

do_start() {
  configure
  # munge: key is created by the Debian postinst; create one if missing. No systemd => make /run/munge.
  if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 2>/dev/null
  fi
  chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
  command install -d -o munge -g munge -m 0755 /run/munge
  runuser -u munge -- /usr/sbin/munged
  wait_for 10 sh -c 'munge -n | unmunge'
  [ "$WITH_DBD" = 1 ] && start_dbd
  /usr/sbin/slurmctld -i                     # -i: ignore missing state files on first start
  wait_for 30 scontrol ping
  /usr/sbin/slurmd
  wait_for 60 sh -c "sinfo -h -N -o %t | grep -qx idle"
  log "SLURM ready"; sinfo
}

do_check() {
  log "srun: $(srun -N1 -t 1 hostname)"
  local out; out=$(mktemp -d -p "$D")
  local jid; jid=$(sbatch --parsable -o "$out/o.txt" -t 1 --wrap 'echo batch-ok')
  wait_for 30 sh -c "scontrol show job $jid | grep -q JobState=COMPLETED"   # sbatch --wait polls slowly
  log "sbatch: $(cat "$out/o.txt")"
  if command -v snakemake >/dev/null && python3 -c 'import snakemake_executor_plugin_slurm' 2>/dev/null; then
    cat > "$out/Snakefile" <<'EOF'
rule all:
    input: expand("out/{i}.txt", i=range(5))
rule one:
    output: "out/{i}.txt"
    resources: runtime=5, mem_mb=100
    shell: "echo {wildcards.i} $SLURM_JOB_ID > {output}"
EOF
    local sc=(--slurm-status-command squeue --slurm-no-account); [ "$WITH_DBD" = 1 ] && sc=()
    (cd "$out" && snakemake --executor slurm --jobs 5 --default-resources slurm_partition="$P" \
        --slurm-init-seconds-before-status-checks 1 "${sc[@]}" -q progress)
    log "snakemake: $(cat "$out"/out/*.txt | wc -l) of 5 outputs"
  fi
  if [ "$WITH_DBD" = 1 ]; then sleep 2; log "sacct:"; sacct -X -n -o JobID,JobName%40,State; fi
  rm -rf "$out"
}

do_stop() {
  local f pid
  for f in slurmd slurmctld slurmdbd mariadb; do
    [ -f "$D/run/$f.pid" ] || continue
    pid=$(cat "$D/run/$f.pid"); kill "$pid" 2>/dev/null || true
    for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  done
  if [ -f /run/munge/munged.pid ]; then
    pid=$(cat /run/munge/munged.pid); kill "$pid" 2>/dev/null || true
    for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  fi
  # A configured SLURM that is not running costs every `scontrol` ~9 s of retries, and
  # snakemake-executor-plugin-slurm calls it whenever Snakemake starts: take the config away.
  if grep -q '^# slurm-local.sh' /etc/slurm/slurm.conf 2>/dev/null; then
    if [ -f "$D/slurm.conf.bak" ] && ! grep -q '^# slurm-local.sh' "$D/slurm.conf.bak"; then
      mv "$D/slurm.conf.bak" /etc/slurm/slurm.conf
    else
      rm -f /etc/slurm/slurm.conf
    fi
  fi
  log "stopped"
}

case "${1:-all}" in
  install|start|check|stop) "do_$1" ;;
  all) t0=$(date +%s); do_install; t1=$(date +%s); trap do_stop EXIT; do_start; t2=$(date +%s)
       log "install $((t1-t0))s, start $((t2-t1))s"; do_check ;;
  *) echo "usage: $0 [install|start|check|stop|all]"; exit 2 ;;
esac

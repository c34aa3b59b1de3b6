#!/usr/bin/env bash
# A single-node Slurm on this machine (opt-in, as root): installs Debian's slurm-wlm and
# munge, writes a slurm.conf with this host as controller and only node, and starts
# munged, slurmctld and slurmd. Idempotent: a second run only restarts what is down.
#   sudo scripts/slurm-local.sh          # then: sinfo, sbatch, the workflow's slurm profile
#   scripts/slurm-local.sh stop
set -euo pipefail
if [ "$(id -u)" != 0 ]; then echo "slurm-local: run as root" >&2; exit 1; fi
if [ "${1:-}" = stop ]; then
  pkill -x slurmd || true; pkill -x slurmctld || true; pkill -x munged || true
  exit 0
fi
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge >/dev/null
fi
host="$(hostname -s)"
cpus="$(nproc)"
mem_mb="$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))"
conf=/etc/slurm/slurm.conf
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge
want="# srrd single-node slurm: $host $cpus cpus $mem_mb MB"
if ! grep -qxF "$want" "$conf" 2>/dev/null; then
  cat > "$conf" <<CONF
$want
ClusterName=srrd-local
SlurmctldHost=$host
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
# Without DefMemPerCPU every job asks for the whole node's memory and jobs run one by one.
DefMemPerCPU=2000
# Finished jobs stay visible to scontrol for 30 minutes (the profile's status command
# needs no accounting database).
MinJobAge=1800
ReturnToService=2
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
NodeName=$host CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=main Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
  echo "slurm-local: wrote $conf" >&2
fi
chown -R munge:munge /run/munge 2>/dev/null || true
if [ ! -s /etc/munge/munge.key ]; then
  mkdir -p /etc/munge
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  chown munge:munge /etc/munge/munge.key 2>/dev/null || true
  chmod 400 /etc/munge/munge.key
fi
pgrep -x munged >/dev/null || su -s /bin/sh munge -c munged 2>/dev/null || munged --force
pgrep -x slurmctld >/dev/null || slurmctld
pgrep -x slurmd >/dev/null || slurmd
for _ in $(seq 30); do
  if sinfo -h -o %t 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
    sinfo
    exit 0
  fi
  sleep 1
done
echo "slurm-local: the node did not come up; see /var/log/slurm/" >&2
sinfo >&2 || true
exit 1

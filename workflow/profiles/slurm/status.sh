#!/usr/bin/env bash
# Snakemake's status command for a Slurm job id: prints running, success or failed.
# Works without Slurm accounting: `scontrol show job` while Slurm remembers the job
# (MinJobAge), `squeue` as a second look; a job Slurm has forgotten has ended, and
# Snakemake then checks its outputs (a missing report fails the job after latency-wait).
id="$1"
state=$(scontrol show job "$id" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | head -1 | cut -d= -f2)
if [ -z "$state" ]; then
  if squeue -h -j "$id" 2>/dev/null | grep -q .; then echo running; else echo success; fi
  exit 0
fi
case "$state" in
  COMPLETED) echo success ;;
  PENDING|RUNNING|CONFIGURING|COMPLETING|SUSPENDED|REQUEUED|RESIZING|SIGNALING|STAGE_OUT) echo running ;;
  *) echo failed ;;
esac

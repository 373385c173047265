#!/usr/bin/env bash
# Stop the single-node SLURM cluster that tests/slurm/start.sh started.
#
# Cancels the test cluster's jobs, then stops slurmd, slurmctld and (if start.sh started it)
# munged by the PIDs in their PID files: TERM, then KILL after 10 s. Touches no other
# process, and does nothing when nothing is running. Leaves the packages, /etc/slurm and
# the logs under $GB_SLURM_STATE in place (start.sh reuses them).
set -uo pipefail

RUN="${GB_SLURM_RUN:-/run/grammarbench-slurm}"

log() { echo "slurm/stop.sh: $*" >&2; }

pid_of() {  # pid_of FILE NAME: print the PID in FILE if it runs a process called NAME
    local pid
    [ -s "$1" ] || return 1
    pid="$(cat "$1")"
    [ -d "/proc/$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] && echo "$pid"
}

stop_one() {  # stop_one FILE NAME
    local pid
    pid="$(pid_of "$1" "$2")" || { rm -f "$1"; return 0; }
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 100); do
        [ -d "/proc/$pid" ] || break
        sleep 0.1
    done
    if [ -d "/proc/$pid" ]; then
        log "$2 ($pid) ignored TERM; killing"
        kill -KILL "$pid" 2>/dev/null
    fi
    rm -f "$1"
    log "stopped $2 ($pid)"
}

# Cancel whatever the test cluster still runs, so that no job step outlives slurmd.
if pid_of "$RUN/slurmctld.pid" slurmctld >/dev/null &&
    [ "$(scontrol show config 2>/dev/null | awk '$1 == "ClusterName" {print $3}')" = grammarbench ]; then
    jobs="$(squeue -h -o %i 2>/dev/null | tr '\n' ' ')"
    if [ -n "${jobs// /}" ]; then
        log "cancelling jobs: $jobs"
        # shellcheck disable=SC2086
        scancel $jobs 2>/dev/null
    fi
    for _ in $(seq 50); do
        [ -z "$(squeue -h -t PENDING,RUNNING,COMPLETING,SUSPENDED 2>/dev/null)" ] && break
        sleep 0.2
    done
fi

stop_one "$RUN/slurmd.pid" slurmd
stop_one "$RUN/slurmctld.pid" slurmctld
if [ -z "${GB_SLURM_KEEP_MUNGE:-}" ]; then
    stop_one "$RUN/munged.pid" munged
fi
exit 0

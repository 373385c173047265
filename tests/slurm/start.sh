#!/usr/bin/env bash
# Start a real single-node SLURM cluster (munged + slurmctld + slurmd) for tests/test_slurm.py.
#
#   sudo bash tests/slurm/start.sh     # install (first time), configure, start, wait for idle
#   sudo bash tests/slurm/stop.sh      # stop the daemons this script started, by PID
#
# Needs root and apt (Debian/Ubuntu). Idempotent: when the cluster is already up with the
# same configuration it returns at once. Installs Debian's slurm-wlm and munge only when
# they are missing (apt-get update first).
#
# Writes /etc/slurm/slurm.conf and /etc/slurm/gres.conf (the path is fixed: the Snakemake
# SLURM plugin drops SLURM_CONF from the job environment, so the default path must hold the
# config), but refuses to overwrite a slurm.conf that it did not write. State, spool and logs
# live under $GB_SLURM_STATE (default /var/lib/grammarbench-slurm), PID files under
# $GB_SLURM_RUN (default /run/grammarbench-slurm).
#
# Environment (all optional):
#   GB_SLURM_CPUS    CPUs the node advertises (default: max(nproc, 16))
#   GB_SLURM_MEM_MB  memory the node advertises in MB (default: max(physical - 1 GiB, 64000))
#   GB_SLURM_STATE   state directory (default /var/lib/grammarbench-slurm)
#   GB_SLURM_RUN     PID-file directory (default /run/grammarbench-slurm)
#   GB_SLURM_TIMEOUT seconds to wait for the node to become idle (default 90)
#
# Exit status: 0 when the node is idle (or already in use by jobs), non-zero with a message
# on stderr otherwise (2: not root / no apt-get, so no SLURM can be started here).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STATE="${GB_SLURM_STATE:-/var/lib/grammarbench-slurm}"
RUN="${GB_SLURM_RUN:-/run/grammarbench-slurm}"
TIMEOUT="${GB_SLURM_TIMEOUT:-90}"
CONF=/etc/slurm/slurm.conf
GRES=/etc/slurm/gres.conf
FAKE_GPU=/dev/grammarbench-fakegpu0
MARK="# grammarbench test cluster"

log() { echo "slurm/start.sh: $*" >&2; }
die() { log "error: $*"; exit "${2:-1}"; }

[ "$(id -u)" = 0 ] || die "needs root (installs packages, writes /etc/slurm, starts daemons)" 2

t0=$(date +%s)

# ---------------------------------------------------------------------------- packages
missing=()
for cmd in munged slurmctld slurmd sinfo sbatch; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
done
if [ ${#missing[@]} -gt 0 ]; then
    command -v apt-get >/dev/null 2>&1 || die "missing ${missing[*]} and no apt-get to install them" 2
    log "installing slurm-wlm and munge (missing: ${missing[*]})"
    # Keep the packages' maintainer scripts from starting daemons (we start them below).
    own_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        own_policy=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends slurm-wlm munge >/dev/null
    [ "$own_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
    log "installed in $(($(date +%s) - t0)) s: $(slurmctld -V)"
fi

# ---------------------------------------------------------------------------- config
host="$(hostname -s)"
addr=127.0.0.1
ncpu="$(nproc)"
cpus="${GB_SLURM_CPUS:-$((ncpu > 16 ? ncpu : 16))}"
phys_mb=$(($(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024 - 1024))
mem="${GB_SLURM_MEM_MB:-$((phys_mb > 64000 ? phys_mb : 64000))}"

mkdir -p /etc/slurm "$STATE"/{ctld,spool,log} "$RUN"
chmod 755 "$STATE" "$RUN"

new_conf="$(sed -e "s|@HOST@|$host|g" -e "s|@ADDR@|$addr|g" -e "s|@CPUS@|$cpus|g" \
    -e "s|@MEM@|$mem|g" -e "s|@STATE@|$STATE|g" -e "s|@RUN@|$RUN|g" \
    "$here/slurm.conf.template")"
new_gres="$MARK -- written by tests/slurm/start.sh
AutoDetect=off
NodeName=$host Name=gpu File=$FAKE_GPU"

for f in "$CONF" "$GRES"; do
    if [ -s "$f" ] && [ "$(head -c ${#MARK} "$f")" != "$MARK" ]; then
        die "$f exists and was not written by this script; not touching a real SLURM set-up"
    fi
done

# The Prolog (slurm.conf) logs what each job was allocated; slurmd runs it as root.
cat >"$STATE/prolog.sh" <<EOF
#!/bin/sh
$MARK: log each job's allocation (slurm.conf Prolog=)
echo "job=\$SLURM_JOB_ID partition=\$SLURM_JOB_PARTITION gpus=\${SLURM_JOB_GPUS:-} cuda=\${CUDA_VISIBLE_DEVICES:-}" >>"$STATE/log/allocations.log"
exit 0
EOF
chmod 755 "$STATE/prolog.sh"

pid_alive() {  # pid_alive FILE NAME: the PID in FILE runs a process called NAME
    local pid
    [ -s "$1" ] || return 1
    pid="$(cat "$1")"
    [ -d "/proc/$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ]
}

node_state() { sinfo -h -N -n "$host" -o %T 2>/dev/null | head -n1; }

# Already up with this very configuration: nothing to do.
if [ "$(cat "$CONF" 2>/dev/null)" = "$new_conf" ] && [ "$(cat "$GRES" 2>/dev/null)" = "$new_gres" ] \
    && pid_alive "$RUN/slurmctld.pid" slurmctld && pid_alive "$RUN/slurmd.pid" slurmd; then
    case "$(node_state)" in
        idle | mixed | allocated | completing)
            log "already running (node $host: $(node_state))"
            exit 0
            ;;
    esac
fi

# A different configuration (or a half-started cluster): stop what we started, start afresh.
if pid_alive "$RUN/slurmctld.pid" slurmctld || pid_alive "$RUN/slurmd.pid" slurmd; then
    log "restarting with the current configuration"
    GB_SLURM_KEEP_MUNGE=1 bash "$here/stop.sh"
fi

printf '%s\n' "$new_conf" >"$CONF"
printf '%s\n' "$new_gres" >"$GRES"
chmod 644 "$CONF" "$GRES"

# The GPU: a character device node (a copy of /dev/null's numbers) that slurmd can stat.
if [ ! -e "$FAKE_GPU" ]; then
    mknod -m 666 "$FAKE_GPU" c 1 3 2>/dev/null || {
        log "warning: mknod failed; using a plain file as the fake GPU device"
        touch "$FAKE_GPU"
    }
fi

# ---------------------------------------------------------------------------- munge
if ! munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
    install -d -o munge -g munge -m 700 /etc/munge /var/lib/munge /var/log/munge
    install -d -o munge -g munge -m 755 /run/munge
    if [ ! -s /etc/munge/munge.key ]; then
        if command -v mungekey >/dev/null 2>&1; then
            mungekey --create --keyfile=/etc/munge/munge.key
        else
            dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
        fi
    fi
    chown munge:munge /etc/munge/munge.key
    chmod 400 /etc/munge/munge.key
    # The Debian service scripts do not start daemons here; start munged directly, as munge.
    runuser -u munge -- /usr/sbin/munged --pid-file="/run/munge/munged.pid"
    cp /run/munge/munged.pid "$RUN/munged.pid" # ours to stop
    for _ in $(seq 50); do
        munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && break
        sleep 0.1
    done
    munge -n </dev/null | unmunge >/dev/null || die "munged does not answer"
fi

# ---------------------------------------------------------------------------- slurm
# A fresh cluster: forget earlier jobs (-c; -i: ignore unreadable state) and start the job
# logs afresh, so a job id that SLURM hands out again cannot match an old line.
: >"$STATE/log/jobcomp.log"
: >"$STATE/log/allocations.log"
slurmctld -c -i
for _ in $(seq 100); do
    scontrol ping 2>/dev/null | grep -q 'is UP' && break
    pid_alive "$RUN/slurmctld.pid" slurmctld || sleep 0.5
    pid_alive "$RUN/slurmctld.pid" slurmctld || break # died: its log says why
    sleep 0.1
done
scontrol ping | grep -q 'is UP' || die "slurmctld did not come up; see $STATE/log/slurmctld.log"
slurmd -N "$host"

deadline=$(($(date +%s) + TIMEOUT))
while :; do
    st="$(node_state)"
    case "$st" in
        idle) break ;;
        down* | drain* | fail*)
            # A node that was up before slurmctld restarted can come back as down.
            scontrol update nodename="$host" state=resume 2>/dev/null || true
            ;;
    esac
    [ "$(date +%s)" -lt "$deadline" ] || die "node $host is '$st', not idle, after ${TIMEOUT}s; see $STATE/log/"
    sleep 0.5
done
log "up in $(($(date +%s) - t0)) s: cluster grammarbench, node $host idle" \
    "($cpus CPUs, $mem MB, gpu:1), partitions cpu (default) and gpu"

#!/usr/bin/env bash
# Start a single-node SLURM (munged + slurmctld + slurmd) on this machine, for
# the `slurm` tests and for trying profiles/slurm locally.  Idempotent: running
# it again leaves the running daemons alone (restarting slurmctld/slurmd only
# if the rendered slurm.conf changed).  Stop with scripts/slurm/stop.sh.
#
# Needs root.  No systemd: the daemons are started directly.  Installs
# munge/slurmctld/slurmd/slurm-client with apt-get if missing.
#
# Exit status: 0 node up and idle; 1 start failed; 3 SLURM cannot be started
# here at all (not root, packages missing and not installable) -- tests skip.
#
# Environment knobs:
#   SLURM_TEST_PARTITION   partition name                     [debug]
#   SLURM_TEST_MEM_PERCENT share of MemTotal given to the node [95]
#   SLURM_TEST_GPUS        GPUs to declare as gres; "auto" counts `nvidia-smi -L`
#                          (File=/dev/nvidiaN), a number N declares N fake
#                          GPUs (/dev/null clones; scheduling only)  [auto]
#   SLURM_TEST_CPUS        CPUs the node declares [nproc]; more than the machine has lets
#                          SLURM place jobs that ask for more (e.g. 4 packed 1-CPU runs on a
#                          2-core machine: scheduling only, the cores are shared)
#   SLURM_START_TIMEOUT    seconds to wait for the node to become idle [120]
#   SLURM_TEST_FORCE=1     overwrite a slurm.conf not written by this script
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=common.sh
source "$HERE/common.sh"

PARTITION=${SLURM_TEST_PARTITION:-debug}
MEM_PERCENT=${SLURM_TEST_MEM_PERCENT:-95}
GPUS=${SLURM_TEST_GPUS:-auto}
TIMEOUT=${SLURM_START_TIMEOUT:-120}

cannot() { log "CANNOT START SLURM: $*"; exit 3; }
die() { log "ERROR: $*"; exit 1; }

[[ $(id -u) -eq 0 ]] || cannot "must run as root (daemons, /etc/slurm, /run)"

# serialise concurrent start/stop calls (e.g. parallel pytest sessions)
install -d -m 0755 "$SLURM_RUNDIR"
exec 9>"$SLURM_RUNDIR/.lock"
flock -w 300 9 || die "another start.sh/stop.sh holds $SLURM_RUNDIR/.lock for >300s"

# ---------------------------------------------------------------- packages
need_install=0
for b in munged mungekey slurmctld slurmd sinfo squeue sbatch srun scontrol; do
    command -v "$b" >/dev/null 2>&1 || [[ -x /usr/sbin/$b ]] || need_install=1
done
if ((need_install)); then
    command -v apt-get >/dev/null 2>&1 || cannot "SLURM binaries missing and apt-get unavailable"
    log "installing munge slurmctld slurmd slurm-client with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 || cannot "apt-get update failed"
    apt-get install -y -qq -o Dpkg::Options::=--force-confold \
        munge slurmctld slurmd slurm-client >&2 || cannot "apt-get install failed"
fi
export PATH="$PATH:/usr/sbin:/sbin"

# ---------------------------------------------------------------- munge
install -d -m 0755 -o munge -g munge "$MUNGE_RUNDIR"
install -d -m 0700 -o munge -g munge /etc/munge /var/log/munge
install -d -m 0711 -o munge -g munge /var/lib/munge
if [[ ! -s /etc/munge/munge.key ]]; then
    log "creating /etc/munge/munge.key"
    mungekey --create --keyfile=/etc/munge/munge.key 2>/dev/null ||
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    chown munge:munge /etc/munge/munge.key
    chmod 0600 /etc/munge/munge.key
fi
install -d -m 0755 "$SLURM_RUNDIR" "$OWNED_DIR"

if pid=$(running_pid munged); then
    log "munged already running (PID $pid)"
else
    log "starting munged as user munge"
    runuser -u munge -- /usr/sbin/munged --force 9>&- # no lock fd in daemons
    for ((i = 0; i < 50; i++)); do pid=$(running_pid munged) && break; sleep 0.1; done
    pid=$(running_pid munged) || die "munged did not start; see /var/log/munge/munged.log"
    echo "$pid" >"$OWNED_DIR/munged.pid"
fi
munge -n | unmunge >/dev/null || die "munge round trip failed (munge -n | unmunge)"

# ---------------------------------------------------------------- slurm.conf
NODE=$(hostname -s)
ADDR=127.0.0.1
CPUS=${SLURM_TEST_CPUS:-$(nproc)}
[[ $CPUS =~ ^[1-9][0-9]*$ ]] || die "SLURM_TEST_CPUS must be a positive whole number, got '$CPUS'"
MEM_TOTAL_MB=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)
MEM_MB=$((MEM_TOTAL_MB * MEM_PERCENT / 100))
DEFMEM=$((MEM_MB / CPUS))

gres_types="" gres="" gres_conf=""
if [[ $GPUS == auto ]]; then
    GPUS=0
    if command -v nvidia-smi >/dev/null 2>&1; then
        GPUS=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ' || true)
    fi
    if ((GPUS > 0)); then
        gres_conf="NodeName=$NODE Name=gpu File=/dev/nvidia[0-$((GPUS - 1))]"
    fi
elif ((GPUS > 0)); then
    # gres/gpu needs one device file per GPU; fake ones are /dev/null clones
    # (task/none: nothing is bound, the job only gets SLURM_GPUS/CUDA_VISIBLE_DEVICES)
    install -d -m 0755 "$SLURM_RUNDIR/fake-gpu"
    for ((g = 0; g < GPUS; g++)); do
        f="$SLURM_RUNDIR/fake-gpu/nvidia$g"
        [[ -e $f ]] || mknod -m 0666 "$f" c 1 3 2>/dev/null || touch "$f"
    done
    gres_conf="NodeName=$NODE Name=gpu File=$SLURM_RUNDIR/fake-gpu/nvidia[0-$((GPUS - 1))]"
fi
if ((GPUS > 0)); then
    gres_types="GresTypes=gpu"
    gres="Gres=gpu:$GPUS"
fi

rendered=$(sed \
    -e "s|@MARKER@|$CONF_MARKER|" \
    -e "s|@CLUSTER@|sampleimp|" \
    -e "s|@NODE@|$NODE|g" \
    -e "s|@ADDR@|$ADDR|g" \
    -e "s|@CPUS@|$CPUS|" \
    -e "s|@MEM_MB@|$MEM_MB|" \
    -e "s|@DEFMEM@|$DEFMEM|" \
    -e "s|@GRESTYPES@|$gres_types|" \
    -e "s|@GRES@|$gres|" \
    -e "s|@PARTITION@|$PARTITION|" \
    -e "s|@RUNDIR@|$SLURM_RUNDIR|g" \
    -e "s|@LOGDIR@|$SLURM_LOGDIR|g" \
    -e "s|@STATEDIR@|$SLURM_STATEDIR|g" \
    "$HERE/slurm.conf.in")

if [[ -e $SLURM_CONF ]] && ! grep -qF "$CONF_MARKER" "$SLURM_CONF"; then
    [[ ${SLURM_TEST_FORCE:-0} == 1 ]] ||
        die "$SLURM_CONF exists and was not written by this script (a real cluster?); set SLURM_TEST_FORCE=1 to overwrite it"
    cp -a "$SLURM_CONF" "$SLURM_CONF.bak.$(date +%s)"
fi
conf_changed=0
if [[ ! -e $SLURM_CONF ]] || [[ "$(cat "$SLURM_CONF")" != "$rendered" ]]; then
    conf_changed=1
    install -d -m 0755 "$(dirname "$SLURM_CONF")"
    printf '%s\n' "$rendered" >"$SLURM_CONF.tmp"
    mv "$SLURM_CONF.tmp" "$SLURM_CONF"
    log "wrote $SLURM_CONF"
fi
gres_file="$(dirname "$SLURM_CONF")/gres.conf"
if [[ -n $gres_conf ]]; then
    printf '# %s\n%s\n' "$CONF_MARKER" "$gres_conf" >"$gres_file"
elif [[ -e $gres_file ]] && grep -qF "$CONF_MARKER" "$gres_file"; then
    rm -f "$gres_file"
fi
install -d -m 0755 "$SLURM_LOGDIR" "$SLURM_STATEDIR/slurmctld" "$SLURM_STATEDIR/slurmd"

if ((conf_changed)); then
    for d in slurmd slurmctld; do
        if running_pid "$d" >/dev/null; then
            owned_pid "$d" >/dev/null ||
                die "$d is running but was not started by this script; stop it first"
            log "slurm.conf changed: restarting $d"
            stop_owned "$d"
        fi
    done
fi

# ---------------------------------------------------------------- daemons
start_daemon() { # NAME CMD...
    local name=$1 pid i
    shift
    if pid=$(running_pid "$name"); then
        log "$name already running (PID $pid)"
        return 0
    fi
    log "starting $name"
    "$@" 9>&- || die "$name failed to start; see $SLURM_LOGDIR/$name.log"
    for ((i = 0; i < 100; i++)); do pid=$(running_pid "$name") && break; sleep 0.1; done
    pid=$(running_pid "$name") || {
        tail -n 20 "$SLURM_LOGDIR/$name.log" >&2 || true
        die "$name did not stay up; see $SLURM_LOGDIR/$name.log"
    }
    echo "$pid" >"$OWNED_DIR/$name.pid"
}
start_daemon slurmctld /usr/sbin/slurmctld -f "$SLURM_CONF"
start_daemon slurmd /usr/sbin/slurmd -f "$SLURM_CONF" -N "$NODE"

# ---------------------------------------------------------------- wait for idle
log "waiting up to ${TIMEOUT}s for node $NODE to be idle"
deadline=$((SECONDS + TIMEOUT))
resumed=0
state=""
while ((SECONDS < deadline)); do
    state=$(sinfo -h -N -n "$NODE" -o '%40T' 2>/dev/null | head -n 1 | tr -d ' ' || true)
    case "$state" in
        idle | mixed | allocated | completing) break ;;
        drain* | down | down~ | fail* | inval*)
            # ReturnToService=2 normally handles this; nudge once (e.g. stale state
            # after a crash or a memory/CPU change), then give up early.
            if ((!resumed)); then
                log "node state '$state': scontrol update NodeName=$NODE State=RESUME"
                scontrol update NodeName="$NODE" State=RESUME >&2 || true
                resumed=$SECONDS
            elif ((SECONDS - resumed > 15)); then
                break
            fi
            ;;
    esac
    sleep 1
done
case "$state" in
    idle | mixed | allocated | completing) ;;
    *)
        sinfo -N -l >&2 || true
        scontrol show node "$NODE" >&2 || true
        tail -n 20 "$SLURM_LOGDIR/slurmctld.log" "$SLURM_LOGDIR/slurmd.log" >&2 || true
        reason=$(scontrol show node "$NODE" 2>/dev/null | sed -n 's/^ *Reason=//p' || true)
        die "node $NODE not idle (state: '${state:-no answer from slurmctld}'${reason:+, reason: $reason})"
        ;;
esac

log "SLURM is up: node $NODE ($CPUS CPUs, ${MEM_MB} MB, gpus=$GPUS), partition $PARTITION, state $state"
cat >&2 <<EOF
  config : $SLURM_CONF (template $HERE/slurm.conf.in)
  logs   : $SLURM_LOGDIR/slurmctld.log $SLURM_LOGDIR/slurmd.log
  check  : sinfo ; squeue ; scontrol show node $NODE
  use    : snakemake --profile profiles/slurm   (status via squeue, no sacct/slurmdbd)
  stop   : $HERE/stop.sh
EOF

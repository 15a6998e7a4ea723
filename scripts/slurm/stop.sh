#!/usr/bin/env bash
# Stop the single-node SLURM started by scripts/slurm/start.sh.  Only daemons
# whose PIDs start.sh recorded (under /run/slurm/started-by-start.sh/) and that
# are still running under that PID with the expected name are signalled;
# anything else (e.g. a munged somebody else started) is left alone.
# Running jobs are cancelled first (scancel) so no job steps are orphaned.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=common.sh
source "$HERE/common.sh"
export PATH="$PATH:/usr/sbin:/sbin"

[[ -d $OWNED_DIR ]] || { log "nothing to stop (no $OWNED_DIR)"; exit 0; }
exec 9>"$SLURM_RUNDIR/.lock"
flock -w 120 9 || log "WARNING: $SLURM_RUNDIR/.lock busy for 120s; stopping anyway"

if owned_pid slurmctld >/dev/null && owned_pid slurmd >/dev/null; then
    # this is our throw-away cluster: cancel whatever is queued/running so that
    # slurmd can clean up its slurmstepd children before it goes away
    mapfile -t jobs < <(squeue -h -o '%A' 2>/dev/null || true)
    if ((${#jobs[@]})); then
        log "cancelling ${#jobs[@]} job(s): ${jobs[*]}"
        scancel "${jobs[@]}" 2>/dev/null || true
        for ((i = 0; i < 60; i++)); do
            [[ -z "$(squeue -h -t RUNNING,COMPLETING,PENDING -o '%A' 2>/dev/null)" ]] && break
            sleep 0.5
        done
    fi
fi
for d in slurmd slurmctld munged; do
    stop_owned "$d"
done
rmdir "$OWNED_DIR" 2>/dev/null || true
log "stopped (config left in $SLURM_CONF; state in $SLURM_STATEDIR)"

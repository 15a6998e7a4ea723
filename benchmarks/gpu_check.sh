#!/usr/bin/env bash
# One command for a CUDA machine: every GPU figure the project needs, each step bounded in time,
# the whole under 10 minutes, one report file.
#
#     benchmarks/gpu_check.sh [--archive PATH] [--report FILE]      # on a CUDA machine
#     benchmarks/gpu_check.sh --dry                                  # the same steps, tiny, on a CPU (CI)
#
# Steps (a failed or timed-out step is reported and the next one runs):
#   env          python, torch, CUDA device (nvidia-smi -L)
#   deps         the package's dependencies with the torch found here: if any is missing, a venv that
#                sees the system's torch (.gpu-venv, --system-site-packages) gets them from the wheels in
#                .whl/ without a network (pip --no-index; fill .whl/ beforehand: benchmarks/fetch_wheels.sh)
#   cuda_tests   tests/test_fast_paths.py (its CUDA-only tests: no host sync in a step, bf16 +
#                channels_last learns; skipped on a CPU)
#   gpu_epoch    ResNet-18 CIFAR-10 epoch at batch 128: the engine vs a DataLoader, TFLOP/s (166 TFLOP/epoch)
#   loop         loop efficiency of Trainer.run vs a bare step (ResNet-18, batch 128)
#   concurrent   runs/hour with 1, 2, 4, 8 runs sharing the GPU
#   estimate     `estimate config/paper.yaml` on this device (the grid's GPU-hours)
#   slice        a real slice end to end with Snakemake: CIFAR-10 from the archive (copied into data/,
#                ignored), ResNet-18, uniform vs biased, a shortened schedule, 4 runs at once, up to the
#                summary table of final accuracies (figures and claims are not the point here)
# The report (default results/gpu-check/report.md, ignored) holds every step's command, status,
# seconds and the end of its output; full logs sit beside it.
# --dry: the same steps on tiny sizes on the CPU (small CNN, digits or a 500-image archive subset),
# for CI: tests the script, not the GPU.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

DRY=0
ARCHIVE=""
REPORT=""
TOTAL_S=${GPU_CHECK_TOTAL_S:-570}     # the whole run, seconds (each step also has its own bound)
while (($#)); do
    case "$1" in
        --dry) DRY=1 ;;
        --archive) ARCHIVE=$2; shift ;;
        --report) REPORT=$2; shift ;;
        -h | --help) sed -n '2,26p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
WORK=results/gpu-check$( ((DRY)) && echo -dry)
REPORT=${REPORT:-$WORK/report.md}
mkdir -p "$WORK/logs" "$(dirname "$REPORT")"
for candidate in "$ARCHIVE" ../shared/data/cifar10-jpeg.tar.gz shared/data/cifar10-jpeg.tar.gz data/cifar10-jpeg.tar.gz; do
    if [[ -n $candidate && -f $candidate ]]; then ARCHIVE=$candidate; break; fi
done
[[ -f $ARCHIVE ]] || ARCHIVE=""

# the interpreter: this checkout's venv if it has torch, else the system's python3 (a GPU machine's)
PY=python3
if [[ -x .venv/bin/python ]] && .venv/bin/python -c "import torch" 2>/dev/null; then PY=.venv/bin/python; fi
export PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
START=$SECONDS

{
    echo "# GPU check ($( ((DRY)) && echo "dry run on CPU: tiny sizes, no GPU figure" || echo "CUDA"))"
    echo
    echo "$(date -u +%FT%TZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), host $(hostname)"
    echo
} >"$REPORT"

# step NAME BOUND_S CMD...: run CMD bounded by min(BOUND_S, time left), log it, report status and tail
step() {
    local name=$1 bound=$2 left rc t0 log
    shift 2
    left=$((TOTAL_S - (SECONDS - START)))
    ((bound > left)) && bound=$left
    log="$WORK/logs/$name.log"
    if ((bound < 5)); then
        printf '## %s: SKIPPED (no time left of %s s)\n\n' "$name" "$TOTAL_S" >>"$REPORT"
        return 0
    fi
    echo "[gpu_check] $name (at most ${bound}s): $*" >&2
    t0=$SECONDS
    timeout -k 10 "$bound" "$@" >"$log" 2>&1
    rc=$?
    local status=ok
    ((rc == 124 || rc == 137)) && status="TIMED OUT after ${bound}s"
    ((rc != 0 && rc != 124 && rc != 137)) && status="FAILED (exit $rc)"
    {
        printf '## %s: %s (%d s)\n\n' "$name" "$status" "$((SECONDS - t0))"
        printf '    $ %s\n\n```\n' "$*"
        tail -n 40 "$log"
        printf '```\n\n'
    } >>"$REPORT"
    echo "[gpu_check] $name: $status ($((SECONDS - t0)) s)" >&2
    return 0
}

# ---------------------------------------------------------------- env, deps
step env 30 bash -c "$PY -c 'import sys, torch; print(sys.version); print(\"torch\", torch.__version__, \"cuda\", torch.version.cuda, \"available\", torch.cuda.is_available()); print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else \"no CUDA device\")'; nvidia-smi -L 2>/dev/null || true; nproc"

MODULES="snakemake, pandas, scipy, statsmodels, matplotlib, seaborn, sklearn, yaml, tqdm, jinja2, tabulate, pytest, torchvision"
if ! $PY -c "import $MODULES" 2>/dev/null; then
    # a venv that sees the system's torch; the rest from the wheels brought along (no network)
    step deps 120 bash -c "set -e; python3 -m venv --system-site-packages .gpu-venv
        grep -v -E '^(#|torch|torchvision|snakefmt)' requirements.txt > $WORK/requirements-no-torch.txt
        .gpu-venv/bin/pip install -q --no-index --find-links .whl -r $WORK/requirements-no-torch.txt
        .gpu-venv/bin/python -c 'import $MODULES; print(\"all imports ok\")'"
    PY=.gpu-venv/bin/python
else
    step deps 60 $PY -c "import $MODULES, snakemake; print('already installed; snakemake', snakemake.__version__)"
fi

# ---------------------------------------------------------------- measurements
if ((DRY)); then
    step cuda_tests 120 $PY -m pytest -q -rs -p no:cacheprovider tests/test_fast_paths.py
    step gpu_epoch 60 $PY benchmarks/gpu_epoch.py --device cpu --model cnn --width 8 --batch-size 64 --n-train 256 --steps 2 --repeats 1 --workers 0
    step loop 60 $PY benchmarks/loop_efficiency.py --device cpu --widths 8 --steps 2 --repeats 1
    step concurrent 90 $PY benchmarks/concurrent_runs.py --device cpu --concurrency 1 2 --runs 2 --epochs 1 --dataset digits
    step estimate 60 $PY -m sample_importance -q estimate config.yaml --device cpu --concurrency 2 --calibration-seconds 0.05 --out "$WORK/estimate.csv"
else
    step cuda_tests 60 $PY -m pytest -q -rs -p no:cacheprovider tests/test_fast_paths.py
    step gpu_epoch 90 $PY benchmarks/gpu_epoch.py --device cuda --model resnet18 --batch-size 128 --repeats 2
    step loop 60 $PY benchmarks/loop_efficiency.py --device cuda --model resnet18 --batch-size 128 --steps 60 --repeats 3
    step concurrent 110 $PY benchmarks/concurrent_runs.py --device cuda --concurrency 1 2 4 8 --runs 8 --epochs 1 --n-train 10000
    step estimate 90 $PY -m sample_importance -q estimate config/paper.yaml --device cuda --concurrency 4 --calibration-seconds 0.3 --out "$WORK/paper-cost.csv"
fi

# ---------------------------------------------------------------- the slice, end to end
SLICE=$WORK/slice
rm -rf "$SLICE"
mkdir -p "$SLICE" data
if [[ -n $ARCHIVE ]]; then
    [[ -f data/cifar10-jpeg.tar.gz ]] || cp "$ARCHIVE" data/cifar10-jpeg.tar.gz
    if ((DRY)); then subset=500; else subset=20000; fi
    dataset="cifar10: {source: imagefolder, root: $ROOT/data/cifar10-jpeg.tar.gz, train_subset: $subset, data_seed: 0}"
else
    dataset="digits: {source: digits}" # no archive here (CI): the same rules on digits
fi
if ((DRY)); then
    model=cnn epochs=2 device=cpu batch=64 width=8 cores=2
else
    model=resnet18 epochs=4 device=cuda batch=128 width=32 cores=8
fi
cat >"$SLICE/config.yaml" <<EOF
# written by benchmarks/gpu_check.sh: uniform vs biased, a shortened schedule, 4 runs sharing the device
output: {results: results, figures: figures}
datasets:
  $dataset
models: [$model]
methods:
  uniform: {method: uniform}
  biased: {method: biased, warmup_epochs: 1}
augmentations: [standard]
budgets: [1.0]
seeds: [0, 1]
train: {epochs: $epochs, batch_size: $batch, lr: 0.1, width: $width, eval_every: 100, device: $device}
resources: {gpu: true, cpus_per_task: 2}
EOF
[[ $dataset == digits* ]] && sed -i 's/augmentations: \[standard\]/augmentations: [crop]/' "$SLICE/config.yaml"
step slice 240 bash -c "$PY -m snakemake results/summary/final.csv --cores $cores --resources gpu=4 -s '$ROOT/Snakefile' --directory '$SLICE' \
    --configfile '$SLICE/config.yaml' --quiet rules && $PY - <<'PYEOF'
import pandas as pd
final = pd.read_csv('$SLICE/results/summary/final.csv')
cols = [c for c in ('method', 'dataset', 'model', 'budget', 'seed', 'final_test_accuracy', 'wall_seconds') if c in final.columns]
print(final[cols].to_string(index=False))
PYEOF"

{
    echo "## summary"
    echo
    echo "whole check: $((SECONDS - START)) s (bound ${TOTAL_S} s)"
    echo
    echo '```'
    grep -h -E "ratio|TFLOP|runs/hour|machine:|wall at|serial|critical_path|passed|failed|skipped" "$WORK"/logs/*.log 2>/dev/null | head -60
    echo '```'
} >>"$REPORT"
echo "[gpu_check] report: $REPORT ($((SECONDS - START)) s)" >&2
grep -q -E "^## .*: (FAILED|TIMED OUT)" "$REPORT" && exit 1
exit 0

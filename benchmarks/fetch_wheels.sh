#!/usr/bin/env bash
# Fill .whl/ (ignored) with the wheels benchmarks/gpu_check.sh installs on a GPU machine without a
# network: every dependency of the package except torch and torchvision (the GPU machine's own are
# used), for CPython 3.12 on x86-64 Linux, plus pytest. Run it on a machine with a network, then
# bring .whl/ along with the checkout.
#
#     benchmarks/fetch_wheels.sh [--python-version 3.12] [--platform manylinux_2_28_x86_64]
#
# Binary wheels must match the target interpreter, so they are downloaded for it (pip download
# --only-binary, --python-version/--platform/--abi), not for this machine. Packages published only
# as an sdist (connection_pool, a Snakemake dependency) are built into wheels here with `pip wheel`
# first: they are pure Python, so the wheel built here installs there.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PYVER=3.12
PLATFORMS=(manylinux_2_28_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 linux_x86_64)
while (($#)); do
    case "$1" in
        --python-version) PYVER=$2; shift ;;
        --platform) PLATFORMS=("$2"); shift ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done
PIP=${PIP:-.venv/bin/pip}
[[ -x $PIP ]] || PIP="python3 -m pip"
DEST=.whl
mkdir -p "$DEST"
REQS=$(mktemp)
trap 'rm -f "$REQS"' EXIT
grep -v -E '^(#|torch|torchvision|snakefmt)' requirements.txt >"$REQS"
echo "pytest" >>"$REQS"

# 1. sdist-only packages: build their (pure-Python) wheels here
SDIST_ONLY=(connection_pool)
$PIP wheel --no-deps --wheel-dir "$DEST" "${SDIST_ONLY[@]}"

# 2. everything else as wheels for the target interpreter; step 1's wheels satisfy the resolver
platform_args=()
for p in "${PLATFORMS[@]}"; do platform_args+=(--platform "$p"); done
$PIP download --dest "$DEST" --find-links "$DEST" --only-binary=:all: \
    --python-version "$PYVER" --implementation cp --abi "cp${PYVER/./}" --abi abi3 --abi none \
    "${platform_args[@]}" -r "$REQS"

echo "$(ls "$DEST" | wc -l) wheels in $DEST ($(du -sh "$DEST" | cut -f1)); on the GPU machine:"
echo "  benchmarks/gpu_check.sh    (installs from $DEST with pip --no-index when something is missing)"

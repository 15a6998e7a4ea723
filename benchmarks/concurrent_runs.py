"""Grid throughput (runs/hour) with 1, 2, 4 ... training processes sharing the device.

A grid of `--runs` real runs (the first uniform run of config.yaml, digits and
the small CNN, with seeds 0, 1, 2, ...; on CUDA by default a 10,000-image
CIFAR-shaped synthetic set and ResNet-18) is trained by separate
`python -m sample_importance train` processes, at most N at a time, for each N
of `--concurrency`; each process pays its own start-up, as a Snakemake job
does. Reported: wall time of the whole grid, runs/hour, and the speed-up over
one process at a time (the ratio). Each process uses `--threads` CPU threads
(default 1, what a pipeline job gets with resources.cpus_per_task 1).

How the pipeline shares one GPU between N runs (documented in
profiles/local/profile.yaml): with `resources: {gpu: true}` in the config each
training job asks for one unit of the `gpu` resource, and

    snakemake --profile profiles/local --resources gpu=N --cores C --configfile ...

lets N of them run at once on the one GPU (each job still gets
resources.cpus_per_task cores out of C).

    .venv/bin/python benchmarks/concurrent_runs.py                      # CPU: 1 vs 2 processes, 4 runs
    .venv/bin/python benchmarks/concurrent_runs.py --concurrency 1 2 4  # on a GPU machine
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from common import ROOT, config_run_spec, machine_line, median, synthetic_cifar

PYTHON = sys.executable


def prepare(args, scratch: Path) -> tuple[dict, Path]:
    """The base run spec and its cached dataset file."""
    from sample_importance.data import datasets as data

    config, spec = config_run_spec(ROOT / "config.yaml")
    path = scratch / "data.pt"
    if args.dataset == "digits":
        data.save(data.build(spec["dataset"], config["datasets"][spec["dataset"]]), path)
    else:
        data.save(synthetic_cifar(args.n_train, n_test=1000), path)
        spec = {**spec, "dataset": "synthetic", "model": args.model or "resnet18", "augmentation": "standard"}
    if args.model:
        spec["model"] = args.model
    train = {**spec["train"], "device": args.device, "epochs": args.epochs, "eval_every": args.eval_every}
    if args.batch_size:
        train["batch_size"] = args.batch_size
    return {**spec, "budget": 1.0, "train": train}, path


def run_grid(specs: list[dict], data_path: Path, concurrency: int, threads: int, scratch: Path) -> list[float]:
    """Train every spec in its own process, at most `concurrency` at a time; the wall seconds of each run."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    pending = list(enumerate(specs))
    running: dict[int, tuple[subprocess.Popen, float, Path]] = {}
    seconds = [0.0] * len(specs)
    while pending or running:
        while pending and len(running) < concurrency:
            i, spec = pending.pop(0)
            out = scratch / f"c{concurrency}-run{i}"
            spec_file = scratch / f"c{concurrency}-spec{i}.json"
            spec_file.write_text(json.dumps(spec))
            log = scratch / f"c{concurrency}-run{i}.log"
            with open(log, "w") as sink:  # the child keeps its own copy of the descriptor
                proc = subprocess.Popen([PYTHON, "-m", "sample_importance", "train", "--spec", f"@{spec_file}", "--data",
                                         str(data_path), "--out", str(out), "--no-progress", "--threads", str(threads)],
                                        env=env, stdout=sink, stderr=subprocess.STDOUT)
            running[i] = (proc, time.perf_counter(), log)
        time.sleep(0.02)
        for i, (proc, start, log) in list(running.items()):
            if proc.poll() is not None:
                if proc.returncode != 0:
                    raise RuntimeError(f"run {i} failed:\n{log.read_text()[-3000:]}")
                seconds[i] = time.perf_counter() - start
                del running[i]
    return seconds


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cuda = torch.cuda.is_available()
    p.add_argument("--device", default="cuda" if cuda else "cpu")
    p.add_argument("--concurrency", type=int, nargs="+", default=[1, 2], help="processes at a time to compare")
    p.add_argument("--runs", type=int, default=4, help="runs in the grid (seeds 0..runs-1)")
    p.add_argument("--dataset", choices=("digits", "synthetic"), default="synthetic" if cuda else "digits")
    p.add_argument("--n-train", type=int, default=10000, help="images of the synthetic CIFAR-shaped set")
    p.add_argument("--model", default=None, help="cnn or resnet18 (default: config.yaml's on digits, resnet18 on synthetic)")
    p.add_argument("--epochs", type=int, default=None, help="epochs per run (default 10 on digits, 2 on synthetic)")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--eval-every", type=int, default=100, help="iterations between evaluations")
    p.add_argument("--threads", type=int, default=1, help="CPU threads per process")
    p.add_argument("--repeats", type=int, default=1, help="grids per concurrency level (alternating; median)")
    args = p.parse_args(argv)
    args.epochs = args.epochs or (10 if args.dataset == "digits" else 2)

    with tempfile.TemporaryDirectory(prefix="concurrent-bench-") as tmp:
        scratch = Path(tmp)
        base, data_path = prepare(args, scratch)
        specs = [{**base, "seed": seed} for seed in range(args.runs)]
        walls: dict[int, list[float]] = {c: [] for c in args.concurrency}
        per_run: dict[int, list[float]] = {c: [] for c in args.concurrency}
        for r in range(args.repeats):
            for c in (args.concurrency if r % 2 == 0 else args.concurrency[::-1]):
                start = time.perf_counter()
                per_run[c] += run_grid(specs, data_path, c, args.threads, scratch)
                walls[c].append(time.perf_counter() - start)
        steps = json.loads((scratch / f"c{args.concurrency[0]}-run0" / "run.json").read_text())["iterations"]

    print(f"grid: {args.runs} runs of {base['dataset']} / {base['model']}, {args.epochs} epochs ({steps} steps) each, "
          f"{args.device}, {args.threads} thread(s) per process, median of {args.repeats}")
    first = median(walls[args.concurrency[0]])
    for c in args.concurrency:
        wall = median(walls[c])
        print(f"{c} at a time: grid {wall:7.1f} s  {args.runs / wall * 3600:7.0f} runs/hour  "
              f"(a run takes {median(per_run[c]):5.1f} s)  speed-up over {args.concurrency[0]} at a time "
              f"{first / wall:.2f}x")
    print(machine_line(args.device))


if __name__ == "__main__":
    main()

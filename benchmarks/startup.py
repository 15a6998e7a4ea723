"""Workflow overhead: a training job's start-up cost, and the time `snakemake -n` takes to plan a grid.

Per-job start-up = wall time of `python -m sample_importance train` on a run of
the embedded default (config.yaml: digits, small CNN) whose budget is cut to
ONE optimizer step, minus the seconds that step took (run.json's
train_seconds). What remains is everything a job pays besides training:
interpreter start, imports, loading the cached dataset, building the trainer,
the first and last evaluation, writing the run's tables. Target: < 3 s on a CPU.
Beside it, in separate processes: a bare interpreter (`python -c pass`), the
train path's imports (`import sample_importance.steps`), and in this process
the load of the cached file.

Then `snakemake -n` (dry run: parse, validate the config, build the DAG) on
config.yaml and, if present, config/paper.yaml, in a scratch --directory so
nothing under results/ is read or locked. Medians of `--repeats`.

    .venv/bin/python benchmarks/startup.py                # about a minute on 2 laptop cores
    .venv/bin/python benchmarks/startup.py --importtime   # also: the slowest imports of the train path
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, config_run_spec, machine_line, median

PYTHON = sys.executable
TARGET_S = 3.0


def env() -> dict:
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), e.get("PYTHONPATH")) if p)
    return e


def wall(cmd: list[str], cwd: Path | None = None) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (user + system of the child) and output of a command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env(), capture_output=True, text=True)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:6])} ... failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu, done.stdout + done.stderr


# Imports of the train path, one after another in a fresh interpreter, in the order a job meets them;
# pandas comes with writing the run's tables. torch._dynamo (1.3 s) is not among them: the engine's own SGD
# (sgd.py) replaced torch.optim, whose step imports it. The process ends as a job does, with os._exit.
IMPORT_STEPS = """
import json, os, sys, time
rows, wall, cpu = [], time.perf_counter(), time.process_time()
def mark(name):
    global wall, cpu
    rows.append((name, time.perf_counter() - wall, time.process_time() - cpu))
    wall, cpu = time.perf_counter(), time.process_time()
import torch; mark("torch")
import sample_importance.steps; mark("sample_importance.steps (torch excluded)")
import pandas; mark("pandas (writing the run's tables)")
print(json.dumps(rows)); sys.stdout.flush()
os._exit(0)
"""


def one_step_run(config_path: Path, scratch: Path) -> tuple[dict, Path]:
    """The first uniform run of a config, with its budget cut to one optimizer step; its cached dataset prepared."""
    from sample_importance.training.schedule import budget_steps

    config, spec = config_run_spec(config_path)
    data_path = scratch / f"{spec['dataset']}.pt"
    wall([PYTHON, "-m", "sample_importance", "prepare-data", "--name", spec["dataset"],
          "--spec", json.dumps(config["datasets"][spec["dataset"]]), "--out", str(data_path)])
    from sample_importance.data.datasets import load

    n_train = len(load(data_path).train.y)
    _, full = budget_steps(1.0, int(spec["train"]["epochs"]), n_train, int(spec["train"]["batch_size"]))
    spec = {**spec, "budget": 1.0 / full}
    assert budget_steps(spec["budget"], int(spec["train"]["epochs"]), n_train, int(spec["train"]["batch_size"]))[0] == 1
    return spec, data_path


def job_startup(spec: dict, data_path: Path, scratch: Path, repeat: int) -> dict:
    out = scratch / f"run{repeat}"
    spec_file = scratch / "spec.json"
    spec_file.write_text(json.dumps(spec))
    seconds, cpu, _ = wall([PYTHON, "-m", "sample_importance", "train", "--spec", f"@{spec_file}", "--data",
                            str(data_path), "--out", str(out), "--no-progress", "--threads", "1"])
    run = json.loads((out / "run.json").read_text())
    assert run["iterations"] == 1
    return {"job": seconds, "job_cpu": cpu, "train": run["train_seconds"], "startup": seconds - run["train_seconds"],
            "startup_cpu": cpu - run["train_seconds"]}


def dry_run(config: Path, scratch: Path) -> tuple[float, float, int]:
    seconds, cpu, text = wall([PYTHON, "-m", "snakemake", "-n", "--nolock", "-s", str(ROOT / "Snakefile"),
                               "--directory", str(scratch), "--configfile", str(config)])
    jobs = re.search(r"^total\s+(\d+)", text, re.MULTILINE)
    return seconds, cpu, int(jobs.group(1)) if jobs else -1


def importtime() -> None:
    done = subprocess.run([PYTHON, "-X", "importtime", "-c", "import sample_importance.steps"], env=env(),
                          capture_output=True, text=True)
    rows = []
    for line in done.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            rows.append((int(parts[1]), parts[2].rstrip()))
    top = [r for r in rows if r[1].count("  ") <= 1]  # top-level imports (indent <= one level)
    print("slowest top-level imports of the train path (cumulative ms, python -X importtime):")
    for us, name in sorted(top, reverse=True)[:10]:
        print(f"  {us / 1000:8.1f}  {name.strip()}")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=str(ROOT / "config.yaml"), help="config whose first uniform run is timed")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--importtime", action="store_true", help="print the slowest imports of the train path")
    p.add_argument("--no-snakemake", action="store_true", help="skip the `snakemake -n` timings")
    args = p.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="startup-bench-") as tmp:
        scratch = Path(tmp)
        spec, data_path = one_step_run(Path(args.config), scratch)
        python, imports, loads, jobs = [], [], [], []
        for r in range(args.repeats):
            python.append(wall([PYTHON, "-c", "pass"])[:2])
            seconds, cpu, text = wall([PYTHON, "-c", IMPORT_STEPS])
            rows = json.loads(text.strip().splitlines()[-1])
            # what the process spent outside the timed imports: interpreter start and exit
            rows.append(["interpreter start + exit (os._exit, as a job)", seconds - sum(r[1] for r in rows),
                         cpu - sum(r[2] for r in rows)])
            imports.append(rows)
            from sample_importance.data.datasets import load

            start = time.perf_counter()
            load(data_path)
            loads.append(time.perf_counter() - start)
            jobs.append(job_startup(spec, data_path, scratch, r))
        job = {k: median([j[k] for j in jobs]) for k in jobs[0]}
        print(f"per-job start-up ({spec['dataset']}, {spec['model']}, `python -m sample_importance train` with a "
              f"1-step budget, --threads 1, median of {args.repeats}):")
        print(f"  start-up {job['startup']:.2f} s wall ({job['startup_cpu']:.2f} s CPU) = job {job['job']:.2f} s wall "
              f"({job['job_cpu']:.2f} s CPU) - training step {job['train']:.3f} s;  ratio to the {TARGET_S:g} s target: "
              f"{job['startup'] / TARGET_S:.2f} wall, {job['startup_cpu'] / TARGET_S:.2f} CPU (target <= 1)")
        print(f"  interpreter start {median([w for w, _ in python]):.2f} s wall; cached data load "
              f"{median(loads) * 1000:.1f} ms; then (wall / CPU s):")
        for i, (name, _, _) in enumerate(imports[0]):
            print(f"    {median([row[i][1] for row in imports]):6.2f} / {median([row[i][2] for row in imports]):5.2f}  {name}")
        accounted = sum(median([row[i][2] for row in imports]) for i in range(len(imports[0])))
        print(f"  the rest (trainer, first and last evaluation, tables, run.json, git): "
              f"{job['startup_cpu'] - accounted:.2f} s CPU")

        if not args.no_snakemake:
            configs = [Path(args.config)] + [c for c in [ROOT / "config" / "paper.yaml"] if c.exists()]
            for config in configs:
                runs = [dry_run(config, scratch / f"dag-{config.stem}") for _ in range(args.repeats)]
                seconds, cpu, n_jobs = median([r[0] for r in runs]), median([r[1] for r in runs]), runs[0][2]
                name = config.relative_to(ROOT) if config.is_relative_to(ROOT) else config
                print(f"snakemake -n {name}: {seconds:.2f} s wall ({cpu:.2f} s CPU) for {n_jobs} jobs "
                      f"({seconds / max(n_jobs, 1) * 1000:.1f} ms per job)")
    if args.importtime:
        importtime()
    print(machine_line())


if __name__ == "__main__":
    main()

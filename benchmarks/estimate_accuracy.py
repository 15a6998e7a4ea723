"""Is `estimate` right? Its projection of a config beside the measured `snakemake --cores N` from clean.

Runs `sample-importance estimate CONFIG --concurrency N` (timed: target under a minute), then the
same config end to end with `snakemake --cores N` in a scratch `--directory` (as end_to_end.py),
one after the other on the same machine, and prints projected / measured (target within 0.65 to
1.35) with the load average before and after each. `--measured S` compares with a wall time taken
elsewhere (e.g. a clean clone's run) instead of running Snakemake.

On a CPU the estimate times CPU seconds, so it projects the wall time of the machine to itself
whatever else runs during the calibration; the Snakemake run it is compared with must then have
the machine to itself too (a load average above the core count before or after says it did not).

    .venv/bin/python benchmarks/estimate_accuracy.py                      # config.yaml, --cores 2: ~3 min
    .venv/bin/python benchmarks/estimate_accuracy.py --measured 113       # estimate only, vs a known wall time
    .venv/bin/python benchmarks/estimate_accuracy.py --config config.yaml config/noise-digits.yaml
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, load_average, machine_line
from end_to_end import rule_seconds

TOLERANCE = 0.35
ESTIMATE_TARGET_S = 60.0


def run_estimate(configs: list[str], cores: int, out: Path) -> tuple[float, float, dict]:
    """(projected wall seconds, seconds the estimate took, {rule: projected hours}) from the CLI's CSV."""
    cmd = [sys.executable, "-m", "sample_importance", "estimate", *configs, "--concurrency", str(cores),
           "--out", str(out)]
    print("running:", " ".join(cmd), flush=True)
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=_env())
    took = time.perf_counter() - start
    rows = list(csv.DictReader(out.open()))
    wall = next(float(r["hours"]) for r in rows if r["level"] == "total" and r["name"].startswith("wall at"))
    rules = {r["name"]: (int(r["jobs"]), float(r["hours"]) * 3600) for r in rows if r["level"] == "rule"}
    return wall * 3600, took, rules


def run_snakemake(configs: list[str], cores: int) -> tuple[float, dict]:
    scratch = Path(tempfile.mkdtemp(prefix="estimate-accuracy-"))
    cmd = [sys.executable, "-m", "snakemake", "--cores", str(cores), "-s", str(ROOT / "Snakefile"), "--directory",
           str(scratch), "--configfile", *[str(Path(c).resolve()) for c in configs]]
    print("running:", " ".join(cmd), flush=True)
    start = time.perf_counter()
    done = subprocess.run(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"snakemake failed (exit {done.returncode}); scratch kept: {scratch}\n{done.stderr[-3000:]}")
    per_rule = rule_seconds(scratch / "results")
    shutil.rmtree(scratch, ignore_errors=True)
    return seconds, per_rule


def _env() -> dict:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), env.get("PYTHONPATH")) if p)
    return env


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", nargs="+", default=[str(ROOT / "config.yaml")])
    p.add_argument("--cores", type=int, default=2)
    p.add_argument("--measured", type=float, default=None, help="a measured wall time (s) instead of running snakemake")
    args = p.parse_args(argv)

    out = Path(tempfile.mkdtemp(prefix="estimate-")) / "estimate.csv"
    load0 = load_average()
    projected, took, rules = run_estimate(args.config, args.cores, out)
    load1 = load_average()
    if args.measured is None:
        measured, per_rule = run_snakemake(args.config, args.cores)
        where = f"measured here just after (load average {load1} before, {load_average()} after)"
    else:
        measured, per_rule = args.measured, {}
        where = "given with --measured"
    ratio = projected / measured
    print(f"estimate took {took:.1f} s (target < {ESTIMATE_TARGET_S:.0f} s; load average {load0} before)")
    if per_rule:
        print(f"  {'rule':20s} {'jobs':>5s} {'projected s/job':>16s} {'measured s/job':>15s}  (benchmark: files)")
        for rule, (n, s) in sorted(per_rule.items(), key=lambda kv: -kv[1][1]):
            pn, ps = rules.get(rule, (0, 0.0))
            print(f"  {rule:20s} {n:5d} {ps / max(pn, 1):16.2f} {s / n:15.2f}")
    print(f"projected wall {projected:.1f} s; measured {measured:.1f} s ({where}); "
          f"ratio projected / measured {ratio:.2f} (target {1 - TOLERANCE:.2f} to {1 + TOLERANCE:.2f}: "
          f"{'met' if abs(ratio - 1) <= TOLERANCE else 'missed'})")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if args.measured is None and max(os.getloadavg()) > cores:
        print(f"note: load average above {cores} cores: other jobs shared the machine during the Snakemake run, "
              "which the projection (an idle machine) does not include; rerun on an idle machine")
    print(machine_line())


if __name__ == "__main__":
    main()

"""The embedded default end to end: `snakemake --cores 2` from clean, timed. Target: under 5 minutes on 2 cores.

Runs the checkout's Snakefile on config.yaml in a fresh scratch directory
(`--directory`), so results/ and figures/ of the checkout are neither read nor
touched, and nothing is reused from an earlier run. The venv's bin directory
goes first on PATH, so the rules' `python -m sample_importance` is this
install's. Prints the wall time, its ratio to the 5-minute target, and from
the rules' benchmark files (results/benchmarks/) the jobs and seconds per rule.

    .venv/bin/python benchmarks/end_to_end.py                 # the real thing: a few minutes
    .venv/bin/python benchmarks/end_to_end.py --keep          # keep the scratch directory and print its path
    .venv/bin/python benchmarks/end_to_end.py -- -n           # extra snakemake arguments after --
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
from collections import defaultdict
from pathlib import Path

from common import ROOT, machine_line

TARGET_S = 300.0


def rule_seconds(results: Path) -> dict[str, tuple[int, float]]:
    """Per rule: (jobs, summed wall seconds) from Snakemake's `benchmark:` files."""
    totals: dict[str, list] = defaultdict(lambda: [0, 0.0])
    for path in (results / "benchmarks").rglob("*.tsv"):
        rule = path.relative_to(results / "benchmarks").parts[0]
        with open(path) as f:
            for row in csv.DictReader(f, delimiter="\t"):
                totals[rule][0] += 1
                totals[rule][1] += float(row["s"])
    return {rule: (n, s) for rule, (n, s) in totals.items()}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cores", type=int, default=2)
    p.add_argument("--configfile", default=str(ROOT / "config.yaml"))
    p.add_argument("--keep", action="store_true", help="keep the scratch directory")
    p.add_argument("extra", nargs="*", help="further snakemake arguments (after --)")
    args = p.parse_args(argv)

    scratch = Path(tempfile.mkdtemp(prefix="end-to-end-"))
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    # extra arguments (targets included) first: --configfile takes every word after it
    cmd = [sys.executable, "-m", "snakemake", *args.extra, "--cores", str(args.cores), "-s", str(ROOT / "Snakefile"),
           "--directory", str(scratch), "--configfile", str(Path(args.configfile).resolve())]
    print("running:", " ".join(cmd), flush=True)
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env)
    seconds = time.perf_counter() - start
    try:
        if done.returncode != 0:
            sys.exit(f"snakemake failed (exit {done.returncode}) after {seconds:.1f} s; scratch: {scratch}")
        extra = f", extra arguments: {' '.join(args.extra)}" if args.extra else ""
        print(f"end to end ({Path(args.configfile).name}, --cores {args.cores}, from clean{extra}): {seconds:.1f} s = "
              f"{seconds / 60:.2f} min;  ratio to the 5 min target {seconds / TARGET_S:.2f} (target <= 1)")
        per_rule = rule_seconds(scratch / "results")
        for rule, (n, s) in sorted(per_rule.items(), key=lambda kv: -kv[1][1]):
            print(f"  {rule:20s} {n:4d} jobs  {s:8.1f} s summed  {s / n:6.2f} s per job")
        print(machine_line())
    finally:
        if args.keep or done.returncode != 0:
            print(f"scratch directory kept: {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()

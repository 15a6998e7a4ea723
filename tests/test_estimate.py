"""`estimate` (cost/estimate.py): the jobs it projects are Snakemake's, and its numbers add up.

No timing is asserted here (benchmarks/estimate_accuracy.py compares the projection with a real run);
the projection is checked with a fixed calibration, and the command once on a tiny config.
"""

from __future__ import annotations

import copy
import csv
import inspect
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from sample_importance.config import check_config
from sample_importance.cost import estimate as est
from sample_importance.methods import method_class, names

REPO = Path(__file__).resolve().parents[1]
DEFAULT = REPO / "config.yaml"
METHODS = REPO / "config" / "methods-digits.yaml"


def fixed_calibration(plain=0.01, family=0.02, steps_per_charge=0.5) -> est.Calibration:
    """Every kind at a fixed rate: the projection becomes arithmetic."""
    cal = est.Calibration(device="cpu", threads=1, startup_s=1.0, analysis_startup_s=2.0)
    cal.plain = defaultdict(lambda: est.Rate(plain, 1.0, first_s=0.1, build_s=0.05))
    cal.eval_s = defaultdict(lambda: 1e-5)
    cal.ratio = defaultdict(lambda: (est.Rate(family, steps_per_charge), est.Rate(plain)))
    return cal


def dry_run_counts(tmp_path: Path, *configs: Path) -> dict[str, int]:
    """{rule: jobs} of Snakemake's dry run ('Job stats' table)."""
    cmd = [sys.executable, "-m", "snakemake", "-n", "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path),
           "--configfile", *map(str, configs)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    text = out.stdout + out.stderr
    table = text[text.index("Job stats:"):]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M) if m.group(1) != "total"}


def counts(jobs) -> dict[str, int]:
    found: dict[str, int] = defaultdict(int)
    for job in jobs:
        found[job.rule] += 1
    return dict(found)


def test_jobs_are_those_of_snakemakes_dry_run(tmp_path):
    """Every rule (staged, selecting, static pruning, the analysis jobs, all) and its count, as `snakemake -n`."""
    jobs, _ = est.jobs_of(check_config([DEFAULT, METHODS]))
    assert counts(jobs) == dry_run_counts(tmp_path, DEFAULT, METHODS)
    keys = {j.key for j in jobs}
    assert all(d in keys for j in jobs for d in j.deps)  # the DAG is closed


def test_every_method_has_a_family():
    for name in names():
        source = inspect.getsource(sys.modules[method_class(name).__module__])
        fam = est.family(name)
        assert fam in ("plain", "selecting", "staged", "scoring")
        if "extra_forward=" in source:  # forwards made only to choose a batch: the selecting family
            assert fam == "selecting", name


def test_dataset_shapes_follow_the_config():
    assert est.dataset_shape("digits", {"source": "digits"}) == est.Shape(1, 8, 10, 1437, 360)
    lt = {"source": "digits", "imbalance": {"kind": "long_tailed", "ratio": 10}}
    assert est.dataset_shape("digits_lt10", lt).n_train == 588  # as config.yaml's comment says
    lt100 = {"source": "cifar10", "imbalance": {"kind": "long_tailed", "ratio": 100}}
    assert est.dataset_shape("c", lt100) == est.Shape(3, 32, 10, 12406, 10000)


@pytest.mark.parametrize("files, rules", [
    ((DEFAULT,), ("warmup", "train", "score", "continue")),
    # el2n_prune's scoring warm-ups are one per score seed, shared by every seed of the grid: they do not scale
    ((DEFAULT, METHODS), ("train", "score", "continue", "score_checkpoints", "train_pruned")),
])
def test_projection_scales_linearly_with_seeds(files, rules):
    config = check_config(list(files))
    one, three = copy.deepcopy(config), copy.deepcopy(config)
    one["seeds"], three["seeds"] = [0], [0, 1, 2]
    a, b = (est.project(c, fixed_calibration()) for c in (one, three))
    table = lambda e: {r["name"]: r for r in e.rows() if r["level"] == "rule"}  # noqa: E731
    seconds = lambda e, rule: sum(j.seconds for j in e.jobs if j.rule == rule)  # noqa: E731
    for rule in rules:
        assert table(b)[rule]["jobs"] == 3 * table(a)[rule]["jobs"], rule
        assert seconds(b, rule) == pytest.approx(3 * seconds(a, rule), rel=1e-9), rule


def test_a_run_costs_start_up_steps_and_evaluations():
    """One uniform run by hand: start-up + overheads + charged iterations x rate + evaluations x test images."""
    config = check_config([DEFAULT])
    cal = fixed_calibration()
    jobs, info = est.jobs_of(config)
    est.durations(jobs, info, cal)
    run = next(j for j in jobs if j.rule == "train" and j.dataset == "digits" and "/b1-" in j.name)
    steps = 30 * 45  # 30 epochs of ceil(1437 / 32) steps at budget 1
    evals = 1 + steps // 15
    expected = 1.0 + est.JOB_OVERHEAD_S + 0.05 + 0.1 + steps * 0.01 + evals * 360 * 1e-5 + est.OUTPUT_S
    assert run.seconds == pytest.approx(expected)
    # a selecting method's budget buys fewer steps: 0.5 steps per charged iteration at 0.02 s each
    cont = next(j for j in jobs if j.rule == "continue" and j.dataset == "digits" and "/b1-" in j.name)
    assert cont.seconds == pytest.approx(1.0 + est.JOB_OVERHEAD_S + 0.05 + 0.1 + (steps - 3 * 45) * 0.02
                                         + (1 + (steps - 135) * 0.5 // 15 + 1) * 360 * 1e-5 + est.OUTPUT_S)


def test_schedule_lies_between_the_critical_path_and_the_serial_sum():
    config = check_config([DEFAULT])
    one = est.project(config, fixed_calibration(), concurrency=1)
    serial = sum(j.seconds for j in one.jobs)
    start = est.SNAKEMAKE_START_S + est.SNAKEMAKE_PER_JOB_S * len(one.jobs)
    assert one.wall_s == pytest.approx(serial + start)
    four = est.project(config, fixed_calibration(), concurrency=4, throughput=4)
    assert four.critical_s <= four.wall_s - start + 1e-9 < one.wall_s
    assert four.critical_path[0] == "prepare_data" and four.critical_path[-1] == "all"
    assert "continue" in four.critical_path  # the staged chain is the longest
    # sharing the device without more throughput: each run is N times slower
    shared = est.project(config, fixed_calibration(), concurrency=4, throughput=1)
    assert shared.wall_s > four.wall_s


def test_estimate_command_prints_and_writes_the_table(tmp_path, tiny_config):
    config = tiny_config()  # uniform, biased: + one method of each other family, timed for real
    config["methods"].update(sb={"method": "selective_backprop"},
                             prune={"method": "el2n_prune", "warmup_epochs": 1, "score_seeds": [0, 1]})
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    out = tmp_path / "cost.csv"
    done = subprocess.run([sys.executable, "-m", "sample_importance", "-q", "estimate", str(path), "--concurrency",
                           "2", "--calibration-seconds", "0.05", "--out", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = list(csv.DictReader(out.open()))
    assert {r["level"] for r in rows} == {"rule", "dataset", "total", "critical_path"}
    by = {(r["level"], r["name"]): r for r in rows}
    assert by[("rule", "continue")]["jobs"] == "1" and by[("rule", "train")]["jobs"] == "2"
    assert by[("rule", "warmup")]["jobs"] == "2"  # biased's (seed 0) is also el2n_prune's score seed 0
    assert by[("rule", "score_checkpoints")]["jobs"] == "1" and by[("rule", "train_pruned")]["jobs"] == "1"
    assert by[("dataset", "digits")]["jobs"] == "9"
    serial = float(by[("total", "serial (1 at a time)")]["hours"])
    assert serial > 0 and float(by[("total", "wall at 2 concurrent")]["hours"]) > 0
    assert "wall at 2 concurrent" in done.stdout and "critical_path" in done.stdout

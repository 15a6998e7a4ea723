"""The real workflow through profiles/slurm on a single-node SLURM: same tables as a local run.

Skipped only where SLURM cannot start (not root, no apt); CI runs it (.ci/run runs all tests).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from slurm_helpers import run_snakemake_slurm, slurm_cluster  # noqa: F401

pytestmark = pytest.mark.slurm
REPO = Path(__file__).resolve().parents[1]
CONFIG = {
    "datasets": {"digits_lt": {"source": "digits", "imbalance": {"kind": "long_tailed", "ratio": 5}}},
    "models": ["cnn"],
    "methods": {"uniform": {"method": "uniform"}, "biased": {"method": "biased", "warmup_epochs": 1}},
    "augmentations": ["crop"],
    "budgets": [1.0],
    "seeds": [0],
    "train": {"epochs": 3, "batch_size": 32, "lr": 0.05, "eval_every": 10, "width": 8, "device": "cpu"},
}
# wall-clock columns differ between any two runs; the commit differs only if the code changed
# between the two runs (a developer committing while the test runs)
NOT_COMPARED = ("wall_seconds", "seconds_to_target", "reference_seconds", "speedup_seconds", "commit", "commits")


def _tables(workdir: Path) -> dict[str, pd.DataFrame]:
    out = {}
    for name in ("curves", "final", "per_class", "class_balance", "draws"):
        frame = pd.read_csv(workdir / "results" / "summary" / f"{name}.csv")
        out[name] = frame.drop(columns=[c for c in NOT_COMPARED if c in frame.columns])
    return out


def test_tiny_workflow_on_slurm_equals_local_run(slurm_cluster, tmp_path):  # noqa: F811
    local, cluster = tmp_path / "local", tmp_path / "slurm"
    for d in (local, cluster):
        d.mkdir()
        (d / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    done = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(local),
                           "--cores", "2"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]

    run = run_snakemake_slurm(cluster, ["-s", str(REPO / "Snakefile")], timeout=900)
    assert run.returncode == 0, run.tail()
    # every training step ran as a SLURM job with a numeric id; aggregation and plots ran locally
    assert run.job_ids and all(j.isdigit() for j in run.job_ids)
    rules = {s.slurm_log.parent.parent.name for s in run.submissions}
    assert {"rule_prepare_data", "rule_train", "rule_warmup", "rule_score", "rule_continue"} <= rules
    assert not rules & {"rule_aggregate", "rule_plots"}
    for sub in run.submissions:
        assert (cluster / sub.slurm_log).exists() or sub.slurm_log.exists()

    ours, theirs = _tables(local), _tables(cluster)
    for name in ours:
        pd.testing.assert_frame_equal(ours[name], theirs[name], check_exact=True, obj=name)

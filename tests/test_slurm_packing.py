"""Packing on the real single-node SLURM: with the job grouping profiles/slurm documents, a grid of 8 runs
arrives as 2 allocations of 4 runs each, and the results equal those of unpacked jobs.

The test cluster declares more CPUs than a CI machine has (tests/slurm_helpers.TEST_CPUS): a group of
four 1-CPU runs asks for 4. It has no accounting database, so the allocations are read from squeue's
records (finished jobs stay listed for MinJobAge = 600 s), not sacct. Skipped only where SLURM cannot
start (not root, no apt). About 2 minutes.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest
import yaml
from slurm_helpers import PACKED_PROFILE, run_snakemake_slurm, slurm_cluster, squeue_records  # noqa: F401

pytestmark = pytest.mark.slurm
REPO = Path(__file__).resolve().parents[1]
# 8 runs: uniform on digits, 2 budgets x 4 seeds, 1 CPU each
CONFIG = {
    "datasets": {"digits": {"source": "digits"}},
    "models": ["cnn"],
    "methods": {"uniform": {"method": "uniform"}},
    "augmentations": ["crop"],
    "budgets": [0.5, 1.0],
    "seeds": [0, 1, 2, 3],
    "train": {"epochs": 2, "batch_size": 64, "lr": 0.05, "eval_every": 10, "width": 8, "device": "cpu"},
    "resources": {"cpus_per_task": 1, "mem_mb": 500},
}


def test_eight_runs_arrive_as_two_allocations_of_four(slurm_cluster, tmp_path):  # noqa: F811
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    # up to the runs: the summary and figures run on the submit host, whatever the packing
    run = run_snakemake_slurm(tmp_path, ["-s", str(REPO / "Snakefile"), "--omit-from", "aggregate"], timeout=900,
                              profile=PACKED_PROFILE)
    assert run.returncode == 0, run.tail()

    # logs/slurm/rule_<rule>/<wildcards>/<id>.log for a job, logs/slurm/group_<group>_<rules>/<id>.log for a group
    folder = lambda s: s.slurm_log.relative_to(tmp_path / "logs" / "slurm").parts[0]  # noqa: E731
    kinds = Counter("group_runs" if folder(s).startswith("group_runs") else folder(s) for s in run.submissions)
    assert kinds == {"rule_prepare_data": 1, "group_runs": 2}, run.tail()
    groups = [s for s in run.submissions if folder(s).startswith("group_runs")]
    records = squeue_records(s.slurm_jobid for s in groups)
    print("squeue records:", json.dumps(records, indent=1))
    assert set(records) == {s.slurm_jobid for s in groups}
    allocations = []
    for sub in groups:
        record = records[sub.slurm_jobid]
        assert record["state"] == "COMPLETED", record
        assert record["cpus"] == 4, record  # one allocation holds the 4 runs' CPUs
        log = sub.slurm_log.read_text()
        # the group job's own Snakemake ran 4 train jobs, 4 different runs, in this allocation
        ran = set(re.findall(r"^\s*wildcards: method=uniform, run=(\S+)", log, re.M))
        assert len(ran) == 4, log[-3000:]
        allocations.append(ran)
    assert not allocations[0] & allocations[1]  # 8 runs in all
    runs = sorted((tmp_path / "results" / "runs").rglob("run.json"))
    assert len(runs) == 8
    for path in runs:
        assert json.loads(path.read_text())["final_test_accuracy"] > 0.2  # learned: 10 classes, chance 0.1

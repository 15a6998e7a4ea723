"""Generic fixtures shared by the test files: a tiny valid config and a command-line runner.

Keep this file small: fixtures used by one test file belong in that file.
"""

from __future__ import annotations

import copy
import os

os.environ.setdefault("SAMPLE_IMPORTANCE_CACHE", "")  # tests never write archive summaries to ~/.cache
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# digits, small CNN, 2 epochs of batch 64 (23 steps per epoch): a run takes about a second on one CPU core
TINY = {
    "datasets": {"digits": {"source": "digits"}},
    "models": ["cnn"],
    "methods": {"uniform": {"method": "uniform"}, "biased": {"method": "biased", "warmup_epochs": 1}},
    "augmentations": ["crop"],
    "budgets": [1.0],
    "seeds": [0],
    "train": {"epochs": 2, "batch_size": 64, "lr": 0.05, "eval_every": 10, "width": 8, "device": "cpu", "threads": 1},
}


@pytest.fixture
def tiny_config(tmp_path):
    """Factory of fresh, minimal, valid config dicts (digits, 2 epochs) writing under tmp_path.

    Call it once per config you need; each call returns an independent deep copy to mutate.
    """

    def make() -> dict:
        config = copy.deepcopy(TINY)
        config["output"] = {"results": str(tmp_path / "results"), "figures": str(tmp_path / "figures")}
        return config

    return make


def cli_env() -> dict:
    """Environment of a subprocess that imports this checkout's package, single-threaded."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO / "src"), env.get("PYTHONPATH")) if p)
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


@pytest.fixture
def run_cli():
    """Run `python -m sample_importance ARGS...` in a subprocess; returns the CompletedProcess (text output)."""

    def run(*args, cwd=None, timeout: float = 120, check: bool = False) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "sample_importance", *map(str, args)], cwd=cwd or REPO, env=cli_env(),
            capture_output=True, text=True, timeout=timeout, check=check,
        )

    return run


@pytest.fixture(scope="session")
def tiny_workflow(tmp_path_factory):
    """One finished `snakemake --cores 2` of tiny.WORKFLOW, shared by the workflow and report tests."""
    from tiny import WORKFLOW, run_snakemake

    work = tmp_path_factory.mktemp("workflow")
    result = run_snakemake(work, WORKFLOW)
    assert result.returncode == 0, result.stderr[-3000:]
    return work

"""The whole workflow on a tiny config, in a temporary folder: every table and figure, and curves that learn."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]

TINY = {
    "datasets": {"digits_lt": {"source": "digits", "imbalance": {"kind": "long_tailed", "ratio": 5}}},
    "models": ["cnn"],
    "methods": {"uniform": {"method": "uniform"}, "biased": {"method": "biased", "warmup_epochs": 2}},
    "augmentations": ["crop"],
    "budgets": [0.5, 1.0],
    "seeds": [0, 1],
    "train": {"epochs": 6, "batch_size": 32, "lr": 0.05, "eval_every": 10, "width": 16, "device": "cpu"},
}


def run_snakemake(workdir: Path, config: dict, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    cmd = [*SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(workdir), "--cores", "2", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("workflow")
    result = run_snakemake(work, TINY)
    assert result.returncode == 0, result.stderr[-3000:]
    return work


@pytest.mark.slow
def test_tables_and_figures_exist(tiny_run):
    from sample_importance.outputs import figure_names, summary_files

    for path in summary_files("results"):
        assert (tiny_run / path).stat().st_size > 0, path
    for stem in figure_names(TINY["datasets"]):
        for ext in ("png", "pdf"):
            assert (tiny_run / "figures" / f"{stem}.{ext}").stat().st_size > 1000, stem


@pytest.mark.slow
def test_curves_learn_and_tables_are_complete(tiny_run):
    final = pd.read_csv(tiny_run / "results/summary/final.csv")
    assert len(final) == 1 * 2 * 2 * 2  # datasets x methods x budgets x seeds
    assert (final["final_test_accuracy"] > 0.6).all(), final  # chance is 0.1
    curves = pd.read_csv(tiny_run / "results/summary/curves.csv")
    assert set(curves.columns) >= {"dataset", "model", "method", "budget", "seed", "iteration", "epoch",
                                   "test_accuracy", "test_loss", "wall_seconds"}
    first = curves[curves["iteration"] == 0]["test_accuracy"]
    assert first.max() < 0.35  # an untrained model is near chance: the curves really go up
    balance = pd.read_csv(tiny_run / "results/summary/class_balance.csv")
    lt = balance[balance["dataset"] == "digits_lt"].groupby("class_index")[["train_share", "sampling_share"]].mean()
    # importance moves sampling mass towards the rare (last) classes
    assert lt["sampling_share"].iloc[-1] > lt["train_share"].iloc[-1]
    speed = pd.read_csv(tiny_run / "results/summary/speedup.csv")
    assert set(speed["method"]) == {"uniform", "biased"} and "reached" in speed


@pytest.mark.slow
def test_runs_record_provenance_and_rerun_is_a_no_op(tiny_run):
    run_json = next((tiny_run / "results/runs/biased").rglob("run.json"))
    info = json.loads(run_json.read_text())
    assert {"spec", "seed", "versions", "git", "device", "started", "finished", "config_hash"} <= set(info)
    again = run_snakemake(tiny_run, TINY, "-n")
    assert "Nothing to be done" in again.stdout + again.stderr

"""The whole workflow on a tiny config, in a temporary folder: every table and figure, and curves that learn."""

import json

import pandas as pd
import pytest

from tiny import WORKFLOW as TINY
from tiny import run_snakemake


@pytest.fixture(scope="module")
def tiny_run(tiny_workflow):
    return tiny_workflow


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
    again = run_snakemake(tiny_run, None, "-n")
    assert "Nothing to be done" in again.stdout + again.stderr


@pytest.mark.slow
def test_execution_settings_and_number_spelling_do_not_rerun_finished_work(tiny_run, tmp_path):
    """Run ids hash what defines an experiment: where it runs, and 1 vs 1.0, must not redo it."""
    import copy

    import yaml

    moved = copy.deepcopy(TINY)
    moved["train"].update({"device": "auto", "threads": 2, "checkpoint_every": 1, "eval_batch_size": 256})
    moved["budgets"] = [int(b) if float(b).is_integer() else b for b in moved["budgets"]]
    moved["train"]["lr"] = str(moved["train"]["lr"])  # as YAML 1.1 reads 5e-2
    config = tmp_path / "moved.yaml"
    config.write_text(yaml.safe_dump(moved))
    again = run_snakemake(tiny_run, None, "-n", "--configfile", str(config))
    assert again.returncode == 0, again.stderr[-2000:]
    assert "Nothing to be done" in again.stdout + again.stderr, again.stdout[-2000:]
    changed = copy.deepcopy(TINY)
    changed["train"]["lr"] = 0.04  # defines the experiment: every run is new
    config.write_text(yaml.safe_dump(changed))
    dry = run_snakemake(tiny_run, None, "-n", "--configfile", str(config))
    assert "Nothing to be done" not in dry.stdout + dry.stderr and "train" in dry.stdout


@pytest.mark.slow
def test_a_run_is_redone_by_hand_from_its_run_json(tiny_run, tmp_path, run_cli):
    """The step commands take a finished run's run.json as --spec: the same numbers, outside Snakemake."""
    run_json = next((tiny_run / "results/runs/uniform").rglob("run.json"))
    spec = json.loads(run_json.read_text())["spec"]
    data = next((tiny_run / "results/data").glob(f"{spec['dataset']}-*.pt"))
    done = run_cli("train", "--spec", f"@{run_json}", "--data", data, "--out", tmp_path / "again", "--no-progress",
                   "--threads", "1", timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    clock = ["wall_seconds"]
    again = pd.read_csv(tmp_path / "again" / "metrics.csv").drop(columns=clock)
    pd.testing.assert_frame_equal(again, pd.read_csv(run_json.parent / "metrics.csv").drop(columns=clock))

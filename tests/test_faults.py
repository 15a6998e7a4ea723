"""Faults: a diverging run stops at once and writes nothing; a killed run resumes and ends as a clean one.

The kill tests start real processes (`python -m sample_importance train`, and
snakemake), SIGKILL them after their first checkpoint and rerun the same
command; the final tables must equal an uninterrupted run's, wall-clock columns
aside.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from sample_importance import steps
from sample_importance.config import validate
from sample_importance.training.engine import DivergenceError
from sample_importance.grid import expand

from conftest import REPO, cli_env

RUN_FILES = ("metrics.csv", "per_class.csv", "class_draws.csv", "run.json")


def run_specs(config: dict) -> dict:
    """label -> run spec of a validated config (one dataset, model, augmentation, budget and seed)."""
    return {spec["label"]: spec for spec in expand(validate(config)).runs.values()}


@pytest.fixture(scope="module")
def digits_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "digits.pt"
    steps.prepare_data("digits", {"source": "digits"}, str(path))
    return path


def without_wall_clock(path: Path) -> str:
    frame = pd.read_csv(path)
    return frame.drop(columns=[c for c in frame.columns if "wall_seconds" in c]).to_csv(index=False)


def wait_for(path: Path, process: subprocess.Popen, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, f"the process ended (rc {process.returncode}) before {path} appeared"
        assert time.monotonic() < end, f"{path} did not appear within {timeout} s"
        time.sleep(0.02)


def kill_group(process: subprocess.Popen) -> None:
    """SIGKILL the process and its children (it was started in its own session), as a crashed node would."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL


@pytest.mark.parametrize("label", ["uniform", "biased"])
def test_divergence_stops_at_once_without_outputs(tiny_config, digits_file, tmp_path, label):
    config = tiny_config()
    config["train"].update(lr=1e6, checkpoint_every=1)
    spec = run_specs(config)[label]
    out = tmp_path / "run"
    with pytest.raises(DivergenceError) as info:
        steps.train(spec, str(digits_file), str(out), progress=False)
    message = str(info.value)
    match = re.search(r"at iteration (\d+) \(epoch 0\) of method '(\w+)' .* with learning rate ([0-9.e+]+) \(peak 1e\+06\)", message)
    assert match, message
    assert int(match.group(1)) <= 23, "it must stop within the first epoch, not run on with NaN weights"
    assert match.group(2) == spec["method"] and float(match.group(3)) > 1e5
    assert "Fix: lower train.lr" in message
    assert not any((out / name).exists() for name in RUN_FILES)  # nothing Snakemake could take as complete


def test_nan_weights_after_the_last_step_are_caught_by_evaluation(tiny_config, digits_file):
    import torch

    from sample_importance.data import datasets as data
    from sample_importance.training.engine import Trainer

    trainer = Trainer(run_specs(tiny_config())["uniform"], data.load(digits_file), progress=False)
    with torch.no_grad():
        next(trainer.model.parameters()).fill_(float("nan"))
    with pytest.raises(DivergenceError, match="test loss is nan at iteration 0"):
        trainer.evaluate_and_log()


def kill_config(tiny_config) -> dict:
    """4 epochs with a checkpoint after each: a few seconds, long enough to be killed in the middle."""
    config = tiny_config()
    config["methods"] = {"uniform": {"method": "uniform"}}
    config["train"].update(epochs=4, checkpoint_every=1)
    return config


def test_killed_training_process_resumes_and_matches_a_clean_run(tiny_config, digits_file, tmp_path, run_cli):
    spec = run_specs(kill_config(tiny_config))["uniform"]
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    out = tmp_path / "killed"
    args = ["train", "--spec", f"@{tmp_path / 'spec.json'}", "--data", digits_file, "--out", out, "--no-progress"]

    process = subprocess.Popen([sys.executable, "-m", "sample_importance", *map(str, args)], cwd=REPO, env=cli_env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    wait_for(out / steps.RESUME_FILE, process)
    kill_group(process)
    assert not any((out / name).exists() for name in RUN_FILES)

    rerun = run_cli(*args)
    assert rerun.returncode == 0, rerun.stderr
    assert re.search(r"resumed from .*resume\.pt at epoch [1-3] ", rerun.stderr), rerun.stderr
    assert not (out / steps.RESUME_FILE).exists()

    clean = tmp_path / "clean"
    steps.train(spec, str(digits_file), str(clean), progress=False)
    for name in ("metrics.csv", "per_class.csv", "class_draws.csv"):
        assert without_wall_clock(out / name) == without_wall_clock(clean / name), name
    assert len(pd.read_csv(out / "metrics.csv")) > 5


def test_unreadable_checkpoint_is_ignored(tiny_config, digits_file, tmp_path, caplog):
    spec = run_specs(tiny_config())["uniform"]
    out = tmp_path / "run"
    out.mkdir()
    (out / steps.RESUME_FILE).write_bytes(b"truncated")
    steps.train(spec, str(digits_file), str(out), progress=False)
    assert "ignoring unreadable checkpoint" in caplog.text
    assert (out / "run.json").exists() and not (out / steps.RESUME_FILE).exists()


@pytest.mark.slow
def test_killed_snakemake_reruns_the_job_and_matches_a_clean_run(tiny_config, digits_file, tmp_path):
    """SIGKILL snakemake and its job mid-training; `--unlock`, then rerun with --rerun-incomplete.

    What Snakemake does: the killed job left no declared output (every file is
    written under a temporary name and renamed), only `resume.pt`; the lock stays,
    so the next run needs `--unlock` first; the rerun then schedules the job again
    ("Missing output files") and the job resumes from its checkpoint. With
    partial outputs (a kill between two renames) `--rerun-incomplete` (set in
    profiles/) makes Snakemake delete and redo them instead of stopping.
    """
    config = kill_config(tiny_config)
    config["output"] = {"results": "results", "figures": "figures"}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    work = tmp_path / "work"
    targets = ["results/summary/final.csv", "results/summary/curves.csv"]
    base = [str(Path(sys.executable).with_name("snakemake")), "-s", str(REPO / "Snakefile"), "--directory", str(work),
            "--configfile", str(tmp_path / "config.yaml"), "--cores", "1"]

    env = cli_env()  # as in an activated venv: the jobs' `python` is this interpreter
    env["PATH"] = os.pathsep.join((str(Path(sys.executable).parent), env["PATH"]))
    process = subprocess.Popen(base + targets, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    spec = run_specs(config)["uniform"]
    run_dir = work / expand(validate(config)).run_dir(spec["run_id"])
    wait_for(run_dir / steps.RESUME_FILE, process, timeout=120)
    kill_group(process)
    assert not any((run_dir / name).exists() for name in RUN_FILES)

    locked = subprocess.run(base + targets, env=env, capture_output=True, text=True, timeout=120)
    assert locked.returncode != 0 and "--unlock" in locked.stdout + locked.stderr
    subprocess.run(base + ["--unlock"], env=env, check=True, capture_output=True, timeout=120)
    rerun = subprocess.run(base + ["--rerun-incomplete"] + targets, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stdout[-3000:]
    log = next((work / "results" / "logs" / "train").rglob("*.log")).read_text()
    assert "resumed from" in log

    clean = tmp_path / "clean"
    steps.train(spec, str(digits_file), str(clean), progress=False)
    from sample_importance.analysis.aggregate import aggregate

    aggregate([str(clean)], str(tmp_path / "clean_summary"))
    for name in ("final.csv", "curves.csv"):
        assert without_wall_clock(work / "results" / "summary" / name) == without_wall_clock(tmp_path / "clean_summary" / name)


@pytest.mark.slow
def test_a_failed_job_in_a_grid_prints_its_log_on_the_console(tiny_config, tmp_path):
    """profiles/default (show-failed-logs: true): the console shows why a job failed, not only where its log is.

    The one diverging run of a tiny grid fails its job; the DivergenceError line that the job wrote to its
    log (cli.main prints it as "error: ...") must appear in snakemake's own output, and the run leaves
    no run.json behind.
    """
    from tiny import run_snakemake

    config = tiny_config()
    config["methods"] = {"uniform": {"method": "uniform"}}
    config["train"].update(lr=1e6)
    config["output"] = {"results": "results", "figures": "figures"}
    work = tmp_path / "work"
    work.mkdir()
    result = run_snakemake(work, config, "results/summary/final.csv", timeout=300)
    console = result.stdout + result.stderr
    assert result.returncode != 0
    log = next((work / "results" / "logs" / "train").rglob("*.log")).read_text()
    line = next(line for line in log.splitlines() if line.startswith("error: training diverged"))
    assert "Fix: lower train.lr" in line
    assert line in console, console[-3000:]
    assert not list((work / "results" / "runs").rglob("run.json"))

"""Progress a user can follow in a job's log, and `train.device: cuda` refused before any job where there is none."""

from __future__ import annotations

import logging
import re

import pytest
import torch
import yaml

from sample_importance.config import ConfigError, check_device_here
from sample_importance.training.engine import Trainer, _clock

from tiny import WORKFLOW as TINY
from tiny import blobs, run_snakemake, spec

LINE = re.compile(r"iteration (\d+)/(\d+) \((\d+) % of the budget\) epoch [0-9.]+ test accuracy [0-9.]+ loss [0-9.]+; "
                  r"elapsed (\d+:\d\d:\d\d), remaining ~(\d+:\d\d:\d\d|\?)$")


def test_every_evaluation_line_gives_iteration_of_total_elapsed_and_remaining(caplog):
    t = Trainer(spec(budget=0.5, eval_every=2), blobs(), progress=False)
    with caplog.at_level(logging.INFO, logger="sample_importance.training.engine"):
        t.run()
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("iteration ")]
    assert len(lines) >= 3
    parsed = [LINE.search(line) for line in lines]
    assert all(parsed), lines
    assert parsed[0][5] == "?"  # nothing is known before the first step
    assert all(int(m[2]) == t.total_steps for m in parsed) and int(parsed[-1][1]) == t.total_steps
    assert parsed[-1][3] == "100" and parsed[-1][5] == "0:00:00"


def test_clock():
    assert _clock(3725.4) == "1:02:05" and _clock(float("nan")) == "?"


def test_cuda_is_refused_only_when_the_jobs_run_here_and_there_is_none():
    config = {"train": {"device": "cuda"}}
    if torch.cuda.is_available():
        check_device_here(config, jobs_run_here=True)
        with pytest.raises(ConfigError, match="CUDA device"):
            check_device_here({"train": {"device": f"cuda:{torch.cuda.device_count()}"}}, jobs_run_here=True)
    else:
        with pytest.raises(ConfigError, match=r"`train.device` = 'cuda': the jobs run on this machine, which has no CUDA"):
            check_device_here(config, jobs_run_here=True)
    check_device_here(config, jobs_run_here=False)  # a cluster's head node submits GPU jobs
    check_device_here({"train": {"device": "auto"}}, jobs_run_here=True)
    check_device_here({"train": {"device": "cpu"}}, jobs_run_here=True)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_a_local_run_with_cuda_stops_before_any_job_and_a_dry_run_does_not(tmp_path):
    config = {**TINY, "train": {**TINY["train"], "device": "cuda"}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    done = run_snakemake(tmp_path, None)
    out = done.stdout + done.stderr
    assert done.returncode != 0 and "which has no CUDA" in out
    assert "Traceback" not in out and not (tmp_path / "results" / "data").exists()  # no job ran
    assert run_snakemake(tmp_path, None, "-n").returncode == 0  # planning (e.g. for a cluster) is not refused

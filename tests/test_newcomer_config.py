"""Snakemake's usual overrides on this workflow (dry runs of the tiny config): `--config key=value` adjusts
config.yaml, `--configfile` replaces it (profiles/default sets replace-workflow-config)."""

from __future__ import annotations

import re

import pytest
import yaml

from tiny import WORKFLOW as TINY
from tiny import run_snakemake


def jobs(out: str) -> dict[str, int]:
    """The dry run's job counts per rule (its "Job stats" table)."""
    table = out.split("Job stats:", 1)[1]
    return {m[0]: int(m[1]) for m in re.findall(r"^(\w+)\s+(\d+)$", table, flags=re.M)}


@pytest.fixture
def workdir(tmp_path):
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(TINY))
    return tmp_path


def test_config_on_the_command_line_adjusts_config_yaml(workdir):
    base = run_snakemake(workdir, None, "-n")
    assert base.returncode == 0, base.stderr[-2000:]
    more = run_snakemake(workdir, None, "-n", "--config", "seeds=[0,1,2]")
    assert more.returncode == 0, more.stderr[-2000:]  # before: "config has no `datasets`"
    # uniform's runs go through `train`: 2 budgets x 2 seeds, then x 3 seeds; everything else from config.yaml
    assert jobs(base.stdout)["train"] == 4 and jobs(more.stdout)["train"] == 6


def test_a_nested_config_value_is_merged_key_by_key(workdir):
    done = run_snakemake(workdir, None, "-n", "--config", "train={epochs: 8}")
    assert done.returncode == 0, done.stderr[-2000:]  # the other train keys of config.yaml are kept (checked)


def test_configfile_still_replaces_config_yaml(workdir):
    other = {**TINY, "datasets": {"digits_plain": {"source": "digits"}}, "methods": {"uniform": {"method": "uniform"}},
             "seeds": [0]}
    (workdir / "other.yaml").write_text(yaml.safe_dump(other))
    done = run_snakemake(workdir, None, "-n", "--configfile", str(workdir / "other.yaml"))
    assert done.returncode == 0, done.stderr[-2000:]
    counts = jobs(done.stdout)
    assert counts["train"] == 2 and "warmup" not in counts  # config.yaml's biased method and seeds are gone
    assert "digits_lt" not in done.stdout and "digits_plain" in done.stdout


def test_configfile_alone_must_be_a_whole_config(workdir):
    (workdir / "part.yaml").write_text(yaml.safe_dump({"seeds": [0]}))
    done = run_snakemake(workdir, None, "-n", "--configfile", str(workdir / "part.yaml"))
    assert done.returncode != 0 and "datasets" in done.stdout + done.stderr


def test_configfile_and_config_together(workdir):
    (workdir / "other.yaml").write_text(yaml.safe_dump(TINY))
    done = run_snakemake(workdir, None, "-n", "--configfile", str(workdir / "other.yaml"), "--config", "seeds=[0]")
    assert done.returncode == 0, done.stderr[-2000:]
    assert jobs(done.stdout)["train"] == 2

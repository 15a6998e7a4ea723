"""Determinism and provenance: same config and seed on CPU give byte-identical tables; every output says what made it.

Two runs of each method (uniform, and biased: warm-up, scoring and continuation
in one process) are trained once per module and shared by the tests below.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from sample_importance import steps
from sample_importance.config import validate
from sample_importance.grid import expand
from sample_importance.provenance import run_hash

TABLES = ("metrics.csv", "per_class.csv", "class_draws.csv")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """label -> (spec, [first run folder, second run folder]); plus a seed-1 uniform run."""
    from conftest import TINY

    root = tmp_path_factory.mktemp("determinism")
    data_path = root / "digits.pt"
    steps.prepare_data("digits", {"source": "digits"}, str(data_path))
    config = validate(json.loads(json.dumps({**TINY, "seeds": [0, 1], "output": {"results": str(root)}})))
    out = {}
    for spec in expand(config).runs.values():
        if spec["seed"] == 1 and spec["label"] != "uniform":
            continue
        key = spec["label"] if spec["seed"] == 0 else "uniform_seed1"
        folders = [root / key / str(i) for i in range(2 if spec["seed"] == 0 else 1)]
        for folder in folders:
            steps.train(spec, str(data_path), str(folder), progress=False)
        out[key] = (spec, folders)
    return out


def without_wall_clock(path: Path) -> bytes:
    """The file's bytes with the wall-clock column cut out (the CSV as written, not re-formatted)."""
    lines = path.read_bytes().splitlines(keepends=True)
    header = lines[0].decode().rstrip("\n").split(",")
    drop = [i for i, name in enumerate(header) if name == "wall_seconds"]
    return b"".join(b",".join(f for i, f in enumerate(line.rstrip(b"\n").split(b",")) if i not in drop) + b"\n"
                    for line in lines)


@pytest.mark.parametrize("label", ["uniform", "biased"])
def test_same_seed_gives_byte_identical_tables(runs, label):
    _, (first, second) = runs[label]
    for name in TABLES:
        assert without_wall_clock(first / name) == without_wall_clock(second / name), name
    metrics = pd.read_csv(first / "metrics.csv")
    assert "wall_seconds" in metrics.columns and len(metrics) >= 4
    assert metrics["test_accuracy"].iloc[-1] > 0.5  # it learned something: equal tables are not two empty ones


def test_another_seed_gives_other_numbers(runs):
    _, (seed0, _) = runs["uniform"]
    _, (seed1,) = runs["uniform_seed1"]
    assert without_wall_clock(seed0 / "metrics.csv") != without_wall_clock(seed1 / "metrics.csv")


def test_run_json_records_spec_seed_versions_device_commit_and_times(runs):
    spec, (folder, _) = runs["biased"]
    info = json.loads((folder / "run.json").read_text())
    assert info["spec"] == json.loads(json.dumps(spec))  # the full resolved run spec
    assert info["spec"]["method_params"] == {"warmup_epochs": 1, "metric": "one_minus_p", "smoothing": 0.001,
                                             "rescore_every": 0}
    assert info["seed"] == 0 and info["config_hash"] == run_hash(spec)
    import torch

    assert info["versions"]["torch"].split("+")[0] == torch.__version__.split("+")[0]
    assert {"python", "numpy", "pandas", "snakemake"} <= set(info["versions"])
    assert info["device"]["device"] == "cpu" and info["device"]["torch_threads"] >= 1
    assert re.fullmatch(r"[0-9a-f]{40}|unknown", info["git"]["commit"]) and "dirty" in info["git"]
    assert info["started"] <= info["finished"] and info["finished"].endswith("+00:00")


@pytest.fixture(scope="module")
def summary(runs, tmp_path_factory):
    from sample_importance.analysis.aggregate import aggregate

    out = tmp_path_factory.mktemp("summary")
    aggregate([str(runs[label][1][0]) for label in ("uniform", "biased", "uniform_seed1")], str(out))
    return out


def test_summaries_carry_commit_and_config_hash(runs, summary):
    final = pd.read_csv(summary / "final.csv", dtype={"config_hash": str, "commit": str})
    hashes = {runs[label][0]["label"] + str(runs[label][0]["seed"]): run_hash(runs[label][0]) for label in runs}
    assert {m + str(s): h for m, s, h in zip(final["method"], final["seed"], final["config_hash"])} == hashes
    commit = json.loads((runs["uniform"][1][0] / "run.json").read_text())["git"]["commit"]
    assert set(final["commit"]) == {commit}
    curves = pd.read_csv(summary / "curves.csv", dtype={"config_hash": str, "commit": str})
    assert {"commit", "config_hash"} <= set(curves.columns)


def test_figures_record_commit_and_config_hash_in_metadata(summary, tmp_path):
    from PIL import Image

    from sample_importance.figures.plots import plot_all

    written = plot_all(str(summary), str(tmp_path))
    commit = pd.read_csv(summary / "final.csv", dtype={"commit": str})["commit"].iloc[0]
    assert written
    for stem in written:
        with Image.open(tmp_path / f"{stem}.png") as png:
            text = png.text.get("Description", "")
        assert f"commit {commit}" in text and "config " in text, (stem, text)
        pdf = (tmp_path / f"{stem}.pdf").read_bytes()
        assert f"commit {commit}".encode() in pdf, stem  # the PDF's /Subject (an uncompressed info string)

"""Aggregation trusts only the runs the config asks for, as they were written (issue 21, items 2, 3 and 7).

A run folder of another config copied to this config's path, an edited run.json timing field, and class
folders whose names pandas would retype (`null`, `NA`, `01` beside `1`) each once gave a wrong table with exit 0.
"""

from __future__ import annotations

import copy
import csv
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from sample_importance import steps
from sample_importance.analysis.aggregate import RunCheckError, aggregate
from sample_importance.atomic import read_csv
from sample_importance.config import validate
from sample_importance.grid import expand
from sample_importance.provenance import dataset_hash, seal, seal_problem

from conftest import TINY


def _grid(results: Path, **train):
    config = copy.deepcopy(TINY)
    config["methods"] = {"uniform": {"method": "uniform"}}
    config["train"].update(train)
    config["output"] = {"results": str(results), "figures": str(results.parent / "figures")}
    return expand(validate(config))


def _train(grid, results: Path) -> Path:
    """The grid's one run, trained where the workflow puts it."""
    (run_id, spec), = grid.runs.items()
    data = results / "data" / f"digits-{dataset_hash(spec['dataset_spec'])}.pt"
    if not data.exists():
        steps.prepare_data("digits", spec["dataset_spec"], str(data))
    folder = Path(grid.run_dir(run_id))
    steps.train(spec, str(data), str(folder), progress=False)
    return folder


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    results = tmp_path_factory.mktemp("results")
    return results, _train(_grid(results, lr=0.05), results)


@pytest.fixture
def copy_of(finished, tmp_path):
    results, run = finished
    shutil.copytree(results, tmp_path / "results")
    return tmp_path / "results", tmp_path / "results" / run.relative_to(results)


def refused(run: Path, out: Path) -> str:
    with pytest.raises(RunCheckError) as info:
        aggregate([str(run)], str(out))
    assert not out.exists() or not any(out.iterdir()), "nothing partial is written"
    return str(info.value)


# ---- item 2: a foreign run folder


def test_a_run_folder_of_another_config_is_refused_naming_both_hashes(copy_of, tmp_path):
    results, run = copy_of
    other = _grid(results, lr=0.1)  # this config's run of the same coordinates lives in another folder
    (run_id, _), = other.runs.items()
    target = Path(other.run_dir(run_id))
    shutil.copytree(run, target)
    message = refused(target, tmp_path / "summary")
    first = message.splitlines()[0]
    assert first == "refusing to aggregate: 1 of 1 run folders hold the run of another config"
    theirs = json.loads((run / "run.json").read_text())["config_hash"]
    ours = run_id.rsplit("-", 1)[1]
    assert theirs != ours and f"hash {ours}" in message and f"config hash {theirs}" in message
    assert f"`rm -r <folder>`" in message and str(target) in message


def test_the_run_in_its_own_folder_is_aggregated(finished, tmp_path):
    _, run = finished
    final = aggregate([str(run)], str(tmp_path / "summary"))["final"]
    assert final["config_hash"].iloc[0] == run.name.rsplit("-", 1)[1]


# ---- item 7: run.json's own fields are sealed


def _edit(run: Path, **fields) -> None:
    info = json.loads((run / "run.json").read_text())
    info.update(fields)
    (run / "run.json").write_text(json.dumps(info, indent=2))


@pytest.mark.parametrize("field, value", [("train_seconds", float("nan")), ("train_seconds", 0.001),
                                          ("finished", "2099-01-01T00:00:00+00:00")])
def test_an_edited_timing_field_is_refused(copy_of, tmp_path, field, value):
    _, run = copy_of
    _edit(run, **{field: value})
    message = refused(run, tmp_path / "summary")
    assert message.splitlines()[0].startswith("refusing to aggregate: 1 of 1 run folders disagree with their run.json")
    assert "run.json: its content differs from its integrity record" in message
    assert f"`rm -r {run}` and rerun snakemake" in message


def test_an_unsealed_run_json_with_impossible_timing_is_refused(copy_of, tmp_path):
    _, run = copy_of
    info = json.loads((run / "run.json").read_text())
    del info["integrity"]
    info.update(train_seconds=float("nan"), finished="2099-01-01T00:00:00+00:00")
    (run / "run.json").write_text(json.dumps(info))
    message = refused(run, tmp_path / "summary")
    assert "run.json: train_seconds is nan, not a finite number of seconds >= 0" in message
    assert "run.json: finished is 2099-01-01T00:00:00+00:00, in the future" in message


def test_an_unsealed_run_json_is_aggregated_with_a_warning(copy_of, tmp_path, caplog):
    _, run = copy_of
    info = json.loads((run / "run.json").read_text())
    del info["integrity"]
    (run / "run.json").write_text(json.dumps(info))
    aggregate([str(run)], str(tmp_path / "summary"))
    assert "1 of 1 runs were written before run.json was sealed" in caplog.text


def test_a_seal_survives_the_json_round_trip_and_shows_any_edit():
    record = seal({"spec": {"b": (1, 2), 3: "x"}, "train_seconds": 1.25, "when": Path("/a")})
    back = json.loads(json.dumps(record, indent=2, default=str))
    assert seal_problem(back) is None
    back["train_seconds"] = 1.26
    assert "differs" in seal_problem(back)


# ---- item 3: class names are text end to end


NAMES = ("null", "NA", "01", "1")


def test_class_names_that_look_like_missing_values_or_numbers_stay_themselves(tmp_path):
    root = tmp_path / "tree"
    for split, n in (("train", 6), ("test", 2)):
        for c, name in enumerate(NAMES):
            for i in range(n):
                (root / split / name).mkdir(parents=True, exist_ok=True)
                Image.new("L", (8, 8), 40 * c + 5 * i).save(root / split / name / f"{i}.png")
    dataset = {"source": "imagefolder", "root": str(root)}
    config = copy.deepcopy(TINY)
    config.update(datasets={"tree": dataset}, methods={"uniform": {"method": "uniform"}},
                  output={"results": str(tmp_path / "results"), "figures": str(tmp_path / "figures")})
    config["train"].update(batch_size=8)
    grid = expand(validate(config))
    (run_id, spec), = grid.runs.items()
    data = tmp_path / "results" / "data" / f"tree-{dataset_hash(spec['dataset_spec'])}.pt"
    steps.prepare_data("tree", spec["dataset_spec"], str(data))
    run = Path(grid.run_dir(run_id))
    steps.train(spec, str(data), str(run), progress=False)
    summary = tmp_path / "summary"
    aggregate([str(run)], str(summary))
    with open(summary / "per_class.csv", newline="") as f:
        written = [row["class"] for row in csv.DictReader(f)]
    assert sorted(written) == sorted(NAMES)
    assert sorted(read_csv(summary / "per_class.csv")["class"]) == sorted(NAMES)

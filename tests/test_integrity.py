"""Results cannot be silently wrong: every table is checked against its run.json, faults leave nothing complete-looking.

One tiny run is trained once per module; each test copies its folder and damages the copy
(rows removed, a row cut in half, a value edited, run.json of the old format, a full disk).
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from sample_importance import atomic, steps
from sample_importance.analysis.aggregate import RunCheckError, aggregate
from sample_importance.provenance import dataset_hash

from conftest import REPO, TINY, cli_env
from tiny import spec as tiny_spec

TABLES = ("metrics.csv", "per_class.csv", "class_draws.csv")


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """(spec, trainer, results folder, run folder) of one finished uniform run laid out as the workflow lays it out."""
    spec = tiny_spec("uniform", epochs=2, batch_size=64, width=8, eval_every=10)
    spec["dataset_spec"] = dict(TINY["datasets"]["digits"])
    spec["run_id"] = "uniform/digits/cnn/crop/b1.0-s0-test"
    results = tmp_path_factory.mktemp("results")
    data = results / "data" / f"digits-{dataset_hash(spec['dataset_spec'])}.pt"
    steps.prepare_data("digits", spec["dataset_spec"], str(data))
    run = results / "runs" / "uniform" / spec["run_id"]
    trainer = steps.train(spec, str(data), str(run), progress=False)
    return spec, trainer, results, run


@pytest.fixture
def copy(finished, tmp_path):
    """A fresh copy of the finished run at the same place in a new results folder (its data file beside it)."""
    spec, _, results, run = finished
    shutil.copytree(results, tmp_path / "results")
    return tmp_path / "results" / run.relative_to(results)


def summary_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def refused(run: Path, out: Path) -> str:
    with pytest.raises(RunCheckError) as info:
        aggregate([str(run)], str(out))
    assert summary_files(out) == [], "nothing may be written from a refused run"
    return str(info.value)


def test_run_json_records_what_each_table_holds(finished):
    _, trainer, _, run = finished
    info = json.loads((run / "run.json").read_text())
    for name in TABLES:
        data = (run / name).read_bytes()
        assert info["tables"][name] == {**info["tables"][name], "sha256": hashlib.sha256(data).hexdigest(),
                                        "rows": len(pd.read_csv(run / name))}
    metrics = info["tables"]["metrics.csv"]
    assert metrics["last_iteration"] == info["iterations"] == trainer.step == 46
    assert metrics["final_test_accuracy"] == info["final_test_accuracy"] == trainer.metrics[-1]["test_accuracy"]
    # the bytes are those the former writer (DataFrame.to_csv to a path) produced: no number changes
    former = run.parent / "former.csv"
    pd.DataFrame(trainer.metrics).to_csv(former, index=False, float_format="%.10g")
    assert former.read_bytes() == (run / "metrics.csv").read_bytes()
    former.unlink()


def cut_last_rows(path: Path) -> None:
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-2]))


def cut_row_in_half(path: Path) -> None:
    data = path.read_bytes()
    last = data.rstrip(b"\n").rfind(b"\n")
    path.write_bytes(data[: last + (len(data) - last) // 2])


def edit_a_value(path: Path) -> None:
    frame = pd.read_csv(path)
    frame.loc[1, "train_loss"] = 0.5 * frame.loc[1, "train_loss"]  # one middle value, last row untouched
    frame.to_csv(path, index=False, float_format="%.10g")


@pytest.mark.parametrize("damage, check", [(cut_last_rows, "rows, run.json records"),
                                           (cut_row_in_half, "ends in the middle of a row"),
                                           (edit_a_value, "metrics.csv: sha256 differs")])
def test_a_damaged_metrics_table_is_refused_naming_the_folder_and_the_fix(copy, tmp_path, damage, check):
    damage(copy / "metrics.csv")
    message = refused(copy, tmp_path / "summary")
    assert message.splitlines()[0].startswith("refusing to aggregate: 1 of 1 run folders disagree with their run.json")
    assert f"{copy}:" in message and check in message
    data = copy.parents[6] / "data" / f"digits-{dataset_hash(json.loads((copy / 'run.json').read_text())['spec']['dataset_spec'])}.pt"
    assert f"`rm -r {copy}` and rerun snakemake" in message
    assert f"python -m sample_importance train --spec @{copy}/run.json --data {data} --out {copy}" in message
    if damage is cut_last_rows:
        assert "last iteration 30, run.json tables.metrics.csv.last_iteration is 46" in message


def test_the_redo_line_of_the_message_remakes_the_run(finished, copy, tmp_path):
    edit_a_value(copy / "metrics.csv")
    line = refused(copy, tmp_path / "summary").split("before deleting anything: ")[1].splitlines()[0]
    args = shlex.split(line)
    assert args[:3] == ["python", "-m", "sample_importance"]
    done = subprocess.run([sys.executable, *args[1:], "--no-progress"], cwd=REPO, env=cli_env(), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    redone = aggregate([str(copy)], str(tmp_path / "redone"))["final"]
    clean = aggregate([str(finished[3])], str(tmp_path / "clean"))["final"]
    columns = ["final_test_accuracy", "iterations", "examples_backpropagated", "balanced_accuracy"]
    assert redone[columns].equals(clean[columns])


def as_legacy(run: Path) -> None:
    """run.json as written before it recorded the tables."""
    info = json.loads((run / "run.json").read_text())
    del info["tables"], info["integrity"]  # the old format had neither
    (run / "run.json").write_text(json.dumps(info))


def test_legacy_run_json_consistent_tables_pass_with_a_warning(finished, copy, tmp_path, caplog):
    as_legacy(copy)
    with caplog.at_level(logging.WARNING):
        legacy = aggregate([str(copy)], str(tmp_path / "legacy"))["final"]
    assert "1 of 1 runs were written before run.json recorded table checksums" in caplog.text
    checked = aggregate([str(finished[3])], str(tmp_path / "checked"))["final"]
    assert legacy.drop(columns="wall_seconds").equals(checked.drop(columns="wall_seconds"))
    assert legacy["final_test_accuracy"].iloc[0] == pytest.approx(finished[1].metrics[-1]["test_accuracy"], rel=1e-9)
    assert "final.csv" in summary_files(tmp_path / "legacy")


@pytest.mark.parametrize("damage, check", [(cut_last_rows, "last iteration 30, run.json iterations is 46"),
                                           (cut_row_in_half, "metrics.csv: ends in the middle of a row")])
def test_legacy_run_json_inconsistent_tables_are_refused(copy, tmp_path, damage, check):
    as_legacy(copy)
    damage(copy / "metrics.csv")
    message = refused(copy, tmp_path / "summary")
    assert f"{copy}:" in message and check in message, message


def test_a_changed_importance_table_is_refused(copy, tmp_path):
    from sample_importance.analysis import aggregate as aggregate_mod

    assert steps.IMPORTANCE_TABLES == aggregate_mod.IMPORTANCE_TABLES  # what the run records is what aggregate reads
    info = json.loads((copy / "run.json").read_text())
    (copy / "importance").mkdir()
    (copy / "importance" / "classes.csv").write_text("class_index,class\n0,0\n")
    assert "importance/classes.csv: not in run.json's record (written after the run)" in refused(copy, tmp_path / "s")
    assert "tables" in info


def full_disk_at(monkeypatch, name: str, code: int = errno.ENOSPC) -> None:
    """The write of `name` fails part-way: half its bytes reach the temporary file, then the disk is full."""
    real = atomic._write_bytes

    def write(tmp: Path, data: bytes) -> None:
        if tmp.name.startswith(f".{name}.tmp-"):
            tmp.write_bytes(data[: len(data) // 2])
            raise OSError(code, "No space left on device")
        real(tmp, data)

    monkeypatch.setattr(atomic, "_write_bytes", write)


@pytest.mark.parametrize("name", ["metrics.csv", "class_draws.csv", "run.json"])
def test_a_full_disk_leaves_no_partial_file_and_no_run_json(finished, tmp_path, monkeypatch, name):
    spec, trainer, _, _ = finished
    out = tmp_path / "run"
    out.mkdir()
    (out / steps.RESUME_FILE).write_bytes(b"checkpoint")  # an interrupted run's checkpoint survives the failure
    full_disk_at(monkeypatch, name)
    with pytest.raises(atomic.DiskFullError) as info:
        steps._write_run(out, spec, trainer, "start")
    message = str(info.value)
    assert message.startswith(f"[Errno {errno.ENOSPC}] no space left on device while writing {out / name}")
    assert "Fix: free space" in message and info.value.errno == errno.ENOSPC
    assert sorted(p.name for p in out.iterdir()) == [steps.RESUME_FILE]


def test_a_full_disk_on_rewrite_removes_the_stale_run_json(finished, copy, monkeypatch):
    spec, trainer, _, _ = finished
    full_disk_at(monkeypatch, "per_class.csv", errno.EDQUOT)
    with pytest.raises(atomic.DiskFullError, match="disk quota exceeded while writing"):
        steps._write_run(copy, spec, trainer, "start")
    assert sorted(p.name for p in copy.iterdir()) == []


def test_a_full_disk_in_torch_save_is_reported_and_cleaned(tmp_path, monkeypatch):
    import torch

    full_disk_at(monkeypatch, "checkpoint.pt")
    with pytest.raises(atomic.DiskFullError, match=r"no space left on device while writing .*checkpoint\.pt"):
        atomic.torch_save(tmp_path / "checkpoint.pt", {"w": torch.zeros(1000)})
    assert list(tmp_path.iterdir()) == []


def test_aggregate_over_incomplete_folders_lists_them(copy, tmp_path):
    interrupted = tmp_path / "interrupted"
    interrupted.mkdir()
    (interrupted / steps.RESUME_FILE).write_bytes(b"x")
    no_metrics = tmp_path / "no_metrics"
    shutil.copytree(copy, no_metrics)
    (no_metrics / "metrics.csv").unlink()
    absent = [tmp_path / f"absent{i:02d}" for i in range(11)]
    runs = [copy, interrupted, no_metrics, *absent]
    with pytest.raises(RunCheckError) as info:
        aggregate(list(map(str, runs)), str(tmp_path / "summary"))
    message = str(info.value)
    assert message.splitlines()[0] == "13 of 14 run folders given to aggregate are not finished runs:"
    assert f"  {interrupted} (no run.json; resume.pt present: interrupted, a rerun resumes it)" in message
    assert f"  {no_metrics} (metrics.csv missing)" in message
    assert f"{copy} " not in message and f"{absent[7]} (no such folder)" in message
    assert f"{absent[8]}" not in message and "  ... and 3 more" in message
    assert "`snakemake --cores N`" in message
    assert summary_files(tmp_path / "summary") == []

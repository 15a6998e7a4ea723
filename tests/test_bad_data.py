"""Bad data files: a clear DataError naming the file, and no cached output left behind.

The bad files are made here: small PNGs written with PIL in an ImageFolder tree
or a tar.gz of one, then broken in one way per test.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sample_importance import steps
from sample_importance.data import datasets as data
from sample_importance.data.datasets import DataError


def png(path: Path, size=(8, 8), value: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full(size[::-1], value, dtype=np.uint8), mode="L").save(path)


def make_tree(root: Path) -> Path:
    """train/ and test/ with classes a and b, two 8x8 grey images each."""
    for split in ("train", "test"):
        for cls in ("a", "b"):
            for i in range(2):
                png(root / split / cls / f"{i}.png", value=40 * i + (100 if cls == "b" else 0))
    return root


def make_archive(path: Path, tree: Path) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        tar.add(tree, arcname="tiny")
    return path


def prepare_fails(root, out: Path) -> str:
    """prepare_data on an ImageFolder root must raise DataError and leave nothing in out's folder."""
    with pytest.raises(DataError) as info:
        steps.prepare_data("tiny", {"source": "imagefolder", "root": str(root)}, str(out))
    assert not out.exists()
    assert not out.parent.exists() or not any(out.parent.iterdir()), list(out.parent.iterdir())
    return str(info.value)


def test_good_tree_prepares(tmp_path):
    out = tmp_path / "out" / "tiny.pt"
    steps.prepare_data("tiny", {"source": "imagefolder", "root": str(make_tree(tmp_path / "tree"))}, str(out))
    ds = data.load(out)
    assert ds.classes == ["a", "b"] and ds.train.x.shape == (4, 1, 8, 8)


def test_truncated_archive(tmp_path):
    archive = make_archive(tmp_path / "tiny.tar.gz", make_tree(tmp_path / "tree"))
    whole = archive.read_bytes()
    archive.write_bytes(whole[: len(whole) // 2])
    message = prepare_fails(archive, tmp_path / "out" / "tiny.pt")
    assert str(archive) in message and "truncated or corrupt" in message


def test_corrupt_archive(tmp_path):
    archive = tmp_path / "tiny.tar.gz"
    archive.write_bytes(b"\x1f\x8b" + bytes(range(256)) * 4)  # a gzip magic number, then noise
    message = prepare_fails(archive, tmp_path / "out" / "tiny.pt")
    assert str(archive) in message and "truncated or corrupt" in message


def test_unreadable_image_in_tree(tmp_path):
    tree = make_tree(tmp_path / "tree")
    bad = tree / "train" / "b" / "1.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png")
    message = prepare_fails(tree, tmp_path / "out" / "tiny.pt")
    assert f"cannot decode image {bad}" in message


def test_unreadable_image_in_archive(tmp_path):
    tree = make_tree(tmp_path / "tree")
    (tree / "test" / "a" / "0.png").write_bytes(b"garbage")
    archive = make_archive(tmp_path / "tiny.tar.gz", tree)
    message = prepare_fails(archive, tmp_path / "out" / "tiny.pt")
    assert f"{archive}:tiny/test/a/0.png" in message


def test_images_of_mixed_sizes(tmp_path):
    tree = make_tree(tmp_path / "tree")
    png(tree / "train" / "b" / "1.png", size=(10, 8))
    message = prepare_fails(tree, tmp_path / "out" / "tiny.pt")
    assert "b/1.png has shape (1, 8, 10)" in message and "a/0.png has (1, 8, 8)" in message


def test_class_folder_without_images(tmp_path):
    tree = make_tree(tmp_path / "tree")
    for split in ("train", "test"):
        (tree / split / "c").mkdir()
        (tree / split / "c" / "README.txt").write_text("no images here")
    message = prepare_fails(tree, tmp_path / "out" / "tiny.pt")
    assert "class folder train/c has no images" in message and str(tree) in message


def test_cached_file_with_labels_out_of_range(tmp_path):
    path = tmp_path / "digits.pt"
    steps.prepare_data("digits", {"source": "digits"}, str(path))
    saved = torch.load(path, weights_only=True)
    saved["train_y"] = saved["train_y"].clone()
    saved["train_y"][5] = 10  # digits has classes 0..9
    torch.save(saved, path)
    with pytest.raises(DataError) as info:
        data.load(path)
    assert str(path) in str(info.value) and "labels span [0, 10] but there are 10 classes" in str(info.value)


def test_corrupt_cached_file_fails_a_run_without_outputs(tmp_path, tiny_config):
    path = tmp_path / "digits.pt"
    path.write_bytes(b"PK\x03\x04 half a zip")
    from sample_importance.config import validate
    from sample_importance.grid import expand

    spec = next(iter(expand(validate(tiny_config())).runs.values()))
    out = tmp_path / "run"
    with pytest.raises(DataError, match=f"cached dataset {path} cannot be read"):
        steps.train(spec, str(path), str(out), progress=False)
    assert not out.exists() or not any(out.iterdir())


def test_cli_prepare_data_reports_the_file_and_writes_nothing(tmp_path, run_cli):
    archive = make_archive(tmp_path / "tiny.tar.gz", make_tree(tmp_path / "tree"))
    archive.write_bytes(archive.read_bytes()[:-40])
    out = tmp_path / "out" / "tiny.pt"
    result = run_cli("prepare-data", "--name", "tiny", "--spec", f'{{"source": "imagefolder", "root": "{archive}"}}',
                     "--out", out)
    assert result.returncode != 0
    assert str(archive) in result.stderr.strip().splitlines()[-1]
    assert not out.exists()

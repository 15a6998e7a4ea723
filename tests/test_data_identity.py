"""Cached data know what they came from, corrupt caches are found, and sources are checked before any job.

Tiny ImageFolder trees and archives are written with PIL under tmp_path.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sample_importance import provenance
from sample_importance.data import datasets as data
from sample_importance.data import inspect
from sample_importance.data.inspect import DataError

SHARED_CIFAR = Path("/work/shared/data/cifar10-jpeg.tar.gz")


@pytest.fixture(autouse=True)
def fresh_memos(tmp_path, monkeypatch):
    """Each test sees its own files: no identity or summary remembered from another test."""
    monkeypatch.setenv("SAMPLE_IMPORTANCE_CACHE", str(tmp_path / "memo"))
    provenance._tree_identity.cache_clear()
    inspect._archive_digest.cache_clear()


def png(path: Path, value: int = 0, size=(8, 8)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full(size[::-1], value, dtype=np.uint8)).save(path)


def make_tree(root: Path, classes=("a", "b"), splits=("train", "test"), n=2, size=(8, 8)) -> Path:
    for split in splits:
        for k, cls in enumerate(classes):
            for i in range(n):
                png(root / split / cls / f"{i}.png", value=100 * k + 10 * i, size=size)
    return root


def make_archive(path: Path, tree: Path, arcname: str = "tiny") -> Path:
    with tarfile.open(path, "w:gz") as tar:
        tar.add(tree, arcname=arcname)
    return path


def identity(root) -> str:
    provenance._tree_identity.cache_clear()  # a new Snakemake invocation
    return provenance.dataset_hash({"source": "imagefolder", "root": str(root)})


# --------------------------------------------------------------------------- 1. identity covers the content


def test_edited_tree_gets_a_new_identity(tmp_path):
    tree = make_tree(tmp_path / "tree")
    first = identity(tree)
    assert identity(tree) == first  # nothing changed: same cache file, "nothing to be done"
    (tree / "train" / "a").rename(tree / "train" / "tmp")
    (tree / "train" / "b").rename(tree / "train" / "a")
    (tree / "train" / "tmp").rename(tree / "train" / "b")
    swapped = identity(tree)
    assert swapped != first  # classes swapped (same file names and sizes, other labels)
    image = tree / "test" / "a" / "0.png"
    png(image, value=255)
    later = image.stat().st_mtime_ns + 1_000_000_000
    os.utime(image, ns=(later, later))
    assert identity(tree) not in (first, swapped)  # an image replaced
    (tree / "train" / "a" / "._0.png").write_bytes(b"resource fork")
    (tree / "train" / ".DS_Store").write_bytes(b"Bud1")
    replaced = identity(tree)
    (tree / "train" / "a" / "notes.txt").write_text("not an image: not read, not hashed")
    assert identity(tree) == replaced


def test_moved_tree_and_copied_archive_keep_their_identity(tmp_path):
    tree = make_tree(tmp_path / "tree")
    shutil.copytree(tree, tmp_path / "elsewhere" / "tree")  # copy2 keeps mtimes (rsync -a, cp -p)
    assert identity(tree) == identity(tmp_path / "elsewhere" / "tree")
    archive = make_archive(tmp_path / "a.tar.gz", tree)
    copy = tmp_path / "copy.tar.gz"
    copy.write_bytes(archive.read_bytes())  # new path, new mtime, same bytes
    assert identity(archive) == identity(copy) != identity(tree)


def test_edited_archive_gets_a_new_identity(tmp_path):
    tree = make_tree(tmp_path / "tree")
    archive = make_archive(tmp_path / "a.tar.gz", tree)
    first = identity(archive)
    png(tree / "train" / "b" / "1.png", value=7)
    archive.unlink()
    make_archive(archive, tree)
    assert identity(archive) != first


def test_identity_is_computed_once_per_process(tmp_path, monkeypatch):
    archive = make_archive(tmp_path / "a.tar.gz", make_tree(tmp_path / "tree"))
    calls = []
    real = inspect.file_digest
    monkeypatch.setattr(inspect, "file_digest", lambda p: calls.append(p) or real(p))
    spec = {"source": "imagefolder", "root": str(archive), "imbalance": {"kind": "none"}}
    hashes = {provenance.dataset_hash(spec) for _ in range(50)}  # e.g. one per run of a grid
    assert len(hashes) == 1 and len(calls) == 1


def test_other_sources_keep_their_settings_hash():
    """digits and CIFAR: fixed data, so the identity is the settings alone (their cache names do not change)."""
    spec = {"source": "digits", "imbalance": {"kind": "long_tailed", "ratio": 10}}
    assert provenance.dataset_hash(spec) == provenance.config_hash(spec)
    cifar = {"source": "cifar10", "root": "a", "download": False}
    assert provenance.dataset_hash(cifar) == provenance.dataset_hash({**cifar, "root": "b", "download": True})


@pytest.mark.skipif(not SHARED_CIFAR.exists(), reason="needs /work/shared/data/cifar10-jpeg.tar.gz (team machines only)")
def test_shared_cifar_archive_hashes_quickly():
    start = time.perf_counter()
    first = identity(SHARED_CIFAR)
    seconds = time.perf_counter() - start
    assert seconds < 1.0, f"hashing the 19 MB archive took {seconds:.2f} s"
    inspect._archive_digest.cache_clear()
    assert identity(SHARED_CIFAR) == first


# --------------------------------------------------------------------------- 2. corrupt caches


@pytest.fixture
def cache(tmp_path) -> Path:
    path = tmp_path / "results" / "data" / "tiny-0123abcd.pt"
    data.save(data.build("tiny", {"source": "imagefolder", "root": str(make_tree(tmp_path / "tree", n=3))}), path)
    return path


def test_whole_cache_passes_both_checks(cache):
    assert inspect.cache_problem(cache) is None
    assert inspect.cache_problem(cache.with_name("absent.pt")) is None  # missing: Snakemake builds it
    assert data.load(cache).train.x.shape == (6, 1, 8, 8)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_unreadable_cache_is_found_without_torch_and_refused_by_load(cache, damage):
    whole = cache.read_bytes()
    cache.write_bytes({"truncated": whole[: len(whole) * 2 // 3], "garbage": os.urandom(len(whole)), "empty": b""}[damage])
    problem = inspect.cache_problem(cache)
    assert problem is not None and str(cache) in problem
    with pytest.raises(DataError) as info:
        data.load(cache)
    message = str(info.value)
    assert str(cache) in message and "Fix:" in message and "prepare-data" in message


def test_flipped_byte_in_a_tensor_is_caught_by_the_checksum(cache):
    raw = bytearray(cache.read_bytes())
    start = raw.find(data.load(cache).train.x.numpy().tobytes())  # torch stores the pixels uncompressed
    assert start > 0
    raw[start + 5] ^= 0xFF
    cache.write_bytes(bytes(raw))
    assert inspect.cache_problem(cache) is None  # structure intact: only the checksum can tell
    with pytest.raises(DataError) as info:
        data.load(cache)
    message = str(info.value)
    assert f"cached dataset {cache} is corrupt" in message and "train_x" in message
    assert "--name tiny" in message and f"--out {cache}" in message  # the exact rebuild command


# --------------------------------------------------------------------------- 4. one check for trees and archives


def sources(tmp_path: Path, tree: Path) -> list[Path]:
    return [tree, make_archive(tmp_path / f"{tree.name}.tar.gz", tree)]


def test_good_tree_and_archive_summarize_alike(tmp_path):
    tree = make_tree(tmp_path / "tree", classes=("b", "a", "c"), n=3)
    png(tree / "train" / "c" / "3.png")
    (tree / "train" / "c" / "._3.png").write_bytes(b"junk")
    summaries = [inspect.check_source(str(root), models=("cnn", "resnet18")) for root in sources(tmp_path, tree)]
    for s in summaries:
        assert s.classes == ["a", "b", "c"] and s.train_counts() == [3, 3, 4]
        assert s.first_image["train"]["width"] == 8 and s.first_image["test"]["height"] == 8


@pytest.mark.parametrize("problem, build, expected", [
    ("no test split", dict(splits=("train",)), "has no test/ folder"),
    ("one class", dict(classes=("a",)), "only one class ('a')"),
    ("too small for the CNN", dict(size=(3, 8)), "is 3x8 pixels but model 'cnn' needs images of at least 4x4"),
])
def test_bad_sources_are_refused_before_any_job(tmp_path, problem, build, expected):
    for root in sources(tmp_path, make_tree(tmp_path / "tree", **build)):
        with pytest.raises(DataError) as info:
            inspect.check_source(str(root), models=("cnn",))
        assert expected in str(info.value) and str(root) in str(info.value) and "Fix" in str(info.value), problem


def test_different_classes_in_train_and_test_are_named(tmp_path):
    tree = make_tree(tmp_path / "tree")
    make_tree(tree, classes=("c",), splits=("test",))
    for root in sources(tmp_path, tree):
        with pytest.raises(DataError, match=r"only in train: \[\], only in test: \['c'\]"):
            inspect.check_source(str(root))
        with pytest.raises(DataError, match=r"only in test: \['c'\]"):  # prepare_data: the same check
            data.build("t", {"source": "imagefolder", "root": str(root)})


def test_archive_summary_is_remembered_by_content(tmp_path, monkeypatch):
    archive = make_archive(tmp_path / "a.tar.gz", make_tree(tmp_path / "tree"))
    first = inspect.summarize(str(archive))
    assert list((tmp_path / "memo" / "archives").glob("*.json"))
    monkeypatch.setattr(inspect, "_summarize_archive", lambda p: pytest.fail("listed the archive again"))
    copy = tmp_path / "copy.tar.gz"
    copy.write_bytes(archive.read_bytes())
    again = inspect.summarize(str(copy))
    assert again.counts == first.counts and again.first_image == first.first_image


@pytest.mark.parametrize("model", sorted(inspect.MIN_IMAGE_SIDE))
def test_min_image_side_matches_the_models(model):
    from sample_importance.training.models import build_model

    side = inspect.MIN_IMAGE_SIDE[model]
    net = build_model(model, 1, 3, width=4).train()
    assert net(torch.zeros(2, 1, side, side)).shape == (2, 3)
    if side > 1:
        with pytest.raises(RuntimeError):
            net(torch.zeros(2, 1, side - 1, side - 1))


def test_config_check_refuses_a_bad_archive_before_any_job(tmp_path, tiny_config):
    """The workflow's start-up check (config.validate) applies check_source to archives as to trees."""
    from sample_importance.config import ConfigError, validate

    def check(root, batch_size=2):
        config = tiny_config()
        config["datasets"] = {"mine": {"source": "imagefolder", "root": str(root)}}
        config["train"]["batch_size"] = batch_size
        return validate(config)

    good = make_archive(tmp_path / "good.tar.gz", make_tree(tmp_path / "good", n=3))
    check(good, batch_size=6)
    with pytest.raises(ConfigError, match="batch_size` = 7: larger than the 6 training images"):
        check(good, batch_size=7)
    no_test = make_archive(tmp_path / "no_test.tar.gz", make_tree(tmp_path / "no_test", splits=("train",)))
    with pytest.raises(ConfigError, match=r"datasets\.mine\.root.*has no test/ folder"):
        check(no_test)
    small = make_archive(tmp_path / "small.tar.gz", make_tree(tmp_path / "small", size=(2, 2)))
    with pytest.raises(ConfigError, match="is 2x2 pixels but model 'cnn' needs images of at least 4x4"):
        check(small)

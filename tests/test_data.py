"""Dataset variants: class counts exactly as the formulas say, test split untouched, seeded, readers of every source."""

import io
import math
import tarfile
from pathlib import Path

import pytest
import torch

from sample_importance.data import datasets as data
from sample_importance.data.imbalance import class_counts, stratified_subset_counts

SHARED_CIFAR = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-jpeg.tar.gz"


def test_long_tailed_counts_follow_the_exponential_profile():
    counts = class_counts([5000] * 10, "long_tailed", 100)
    assert counts == [math.floor(5000 * 100 ** (-c / 9)) for c in range(10)]
    assert counts[0] == 5000 and counts[-1] == 50


def test_step_counts_reduce_the_last_fraction_of_classes():
    assert class_counts([500] * 10, "step", 10, step_fraction=0.5) == [500] * 5 + [50] * 5
    assert class_counts([500] * 4, "step", 4, step_fraction=0.25) == [500] * 3 + [125]


def test_stratified_subset_sums_exactly():
    counts = stratified_subset_counts([178, 182, 177], 100)
    assert sum(counts) == 100 and max(counts) - min(counts) <= 1


def test_digits_long_tailed_variant_has_formula_counts_and_untouched_test_split():
    balanced = data.build("digits", {"source": "digits"})
    lt = data.build("digits_lt", {"source": "digits", "imbalance": {"kind": "long_tailed", "ratio": 10}})
    available = torch.bincount(balanced.train.y, minlength=10).tolist()
    n_max = max(available)
    expected = [min(a, math.floor(n_max * 10 ** (-c / 9))) for c, a in enumerate(available)]
    assert torch.bincount(lt.train.y, minlength=10).tolist() == expected
    assert len(balanced.train.y) == 1437 and len(balanced.test.y) == 360
    assert torch.equal(lt.test.x, balanced.test.x) and torch.equal(lt.test.y, balanced.test.y)
    # the kept images are the source's images at train_source_index
    assert torch.equal(lt.train.x, balanced.train.x[lt.train_source_index])
    assert lt.train.x.dtype == torch.uint8 and lt.train.x.shape[1:] == (1, 8, 8)


@pytest.mark.parametrize("spec", [
    {"source": "digits"},
    {"source": "digits", "test_fraction": 0.3},
    {"source": "digits", "imbalance": {"kind": "long_tailed", "ratio": 10}},
    {"source": "digits", "train_subset": 500, "imbalance": {"kind": "step", "ratio": 5, "step_fraction": 0.5}},
], ids=["plain", "test_fraction", "long_tailed", "subset_step"])
def test_config_check_predicts_the_class_counts_build_makes(spec):
    """The config check counts classes without reading data (no sklearn import); build must agree."""
    from sklearn.datasets import load_digits

    from sample_importance.config import DIGITS_CLASS_COUNTS, estimated_train_counts

    assert DIGITS_CLASS_COUNTS == torch.bincount(torch.from_numpy(load_digits().target)).tolist()
    built = data.build("d", spec)
    assert estimated_train_counts("d", spec) == torch.bincount(built.train.y, minlength=10).tolist()


def test_step_variant_and_subset_are_seeded_and_deterministic():
    spec = {"source": "digits", "train_subset": 600, "imbalance": {"kind": "step", "ratio": 5, "step_fraction": 0.5}}
    a, b = data.build("x", spec), data.build("x", spec)
    assert torch.equal(a.train_source_index, b.train_source_index)
    c = data.build("x", {**spec, "data_seed": 1})
    assert not torch.equal(a.train_source_index, c.train_source_index)
    counts = torch.bincount(a.train.y, minlength=10).tolist()
    available = torch.bincount(data.build("d", {"source": "digits"}).train.y, minlength=10).tolist()
    subset = stratified_subset_counts(available, 600)
    assert counts == class_counts(subset, "step", 5, 0.5)


def test_cached_file_round_trip(tmp_path):
    ds = data.build("digits", {"source": "digits"})
    data.save(ds, tmp_path / "d.pt")
    back = data.load(tmp_path / "d.pt")
    assert torch.equal(back.train.x, ds.train.x) and back.classes == ds.classes
    assert torch.allclose(back.mean, ds.train.x.float().div(255).mean(dim=(0, 2, 3)))


def _png(color: int, size=(6, 6)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, (color, 255 - color, 0)).save(buf, format="PNG")
    return buf.getvalue()


def _write_tree(root: Path, per_class: dict[str, int]) -> None:
    for split in ("train", "test"):
        for cls, n in per_class.items():
            folder = root / split / cls
            folder.mkdir(parents=True)
            for i in range(n):
                (folder / f"{i:03d}.png").write_bytes(_png(10 * i))


def test_imagefolder_tree_and_archive_read_the_same(tmp_path):
    _write_tree(tmp_path / "tree" / "mydata", {"cat": 3, "ant": 2})
    tree = data.build("t", {"source": "imagefolder", "root": str(tmp_path / "tree" / "mydata")})
    archive = tmp_path / "mydata.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "tree" / "mydata", arcname="mydata")
    packed = data.build("t", {"source": "imagefolder", "root": str(archive)})
    assert tree.classes == packed.classes == ["ant", "cat"]  # sorted folder names, as ImageFolder
    assert torch.equal(tree.train.x, packed.train.x) and torch.equal(tree.train.y, packed.train.y)
    assert tree.train.x.shape == (5, 3, 6, 6) and tree.train.y.tolist() == [0, 0, 1, 1, 1]


@pytest.mark.slow
@pytest.mark.skipif(not SHARED_CIFAR.exists(), reason="needs ../shared/data/cifar10-jpeg.tar.gz (team machines only)")
def test_real_cifar10_archive_subset():
    ds = data.build("c10", {"source": "imagefolder", "root": str(SHARED_CIFAR), "train_subset": 1000,
                            "imbalance": {"kind": "long_tailed", "ratio": 10}})
    assert ds.classes[:2] == ["airplane", "automobile"] and ds.n_classes == 10
    assert ds.train.x.shape[1:] == (3, 32, 32) and len(ds.test.y) == 10000
    assert torch.bincount(ds.train.y).tolist() == class_counts([100] * 10, "long_tailed", 10)
    assert 0.3 < float(ds.mean.mean()) < 0.6



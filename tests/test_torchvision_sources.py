"""Fashion-MNIST, SVHN and CIFAR-100 through torchvision's own classes, from tiny files written in their layout.

Nothing is downloaded: each test writes a few images in the exact files torchvision
reads (idx-ubyte under FashionMNIST/raw, train/test_32x32.mat, cifar-100-python
pickles). SVHN and CIFAR verify their files' MD5 against the real archives', so the
tests point those expected sums at the generated files.
"""

from __future__ import annotations

import hashlib
import pickle
import struct

import numpy as np
import pytest
import torch
from torchvision import datasets as tv

from sample_importance.config import ConfigError, validate
from sample_importance.data import datasets as data
from sample_importance.data.imbalance import class_counts


RNG = np.random.default_rng(0)


def md5(path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def write_idx(path, array: np.ndarray) -> None:
    """An idx-ubyte file (big-endian dims after the magic 0x0000 08 nd: unsigned bytes)."""
    header = struct.pack(">I", 0x0800 + array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def fashion_files(root, n_train=30, n_test=10):
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    out = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        x = RNG.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        y = np.arange(n) % 10
        write_idx(raw / f"{prefix}-images-idx3-ubyte", x)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", y)
        out[prefix] = (x, y)
    return out


def test_fashion_mnist_loads_from_idx_files(tmp_path):
    files = fashion_files(tmp_path)
    ds = data.build("fm", {"source": "fashion_mnist", "root": str(tmp_path)})
    x, y = files["train"]
    assert ds.train.x.shape == (30, 1, 28, 28) and ds.train.x.dtype == torch.uint8
    assert np.array_equal(ds.train.x[:, 0].numpy(), x) and ds.train.y.tolist() == y.tolist()
    assert np.array_equal(ds.test.x[:, 0].numpy(), files["t10k"][0])
    assert ds.classes == tv.FashionMNIST.classes and ds.classes[9] == "Ankle boot"


def svhn_files(root, monkeypatch, n_train=20, n_test=10):
    from scipy.io import savemat

    split_list = {k: list(v) for k, v in tv.SVHN.split_list.items()}
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        x = RNG.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)  # the .mat layout: H, W, C, N
        y = (np.arange(n) % 10) + 1  # SVHN's labels: 1..10, 10 for the digit 0
        path = root / f"{split}_32x32.mat"
        savemat(path, {"X": x, "y": y[:, None]})
        split_list[split][2] = md5(path)
        out[split] = (x, y)
    monkeypatch.setattr(tv.SVHN, "split_list", split_list)
    return out


def test_svhn_loads_from_mat_files_with_label_10_as_0(tmp_path, monkeypatch):
    files = svhn_files(tmp_path, monkeypatch)
    ds = data.build("sv", {"source": "svhn", "root": str(tmp_path)})
    x, y = files["train"]
    assert ds.train.x.shape == (20, 3, 32, 32)
    assert np.array_equal(ds.train.x.numpy(), x.transpose(3, 2, 0, 1))  # torchvision's transpose, kept as it is
    assert ds.train.y.tolist() == [int(v) % 10 for v in y] and ds.classes == [str(d) for d in range(10)]
    assert ds.test.x.shape == (10, 3, 32, 32)


def cifar100_files(root, monkeypatch, per_class=(12, 10, 8, 6), n_test=8):
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    names = [f"class{c}" for c in range(len(per_class))]
    out = {}
    for split, labels in (("train", np.repeat(np.arange(len(per_class)), per_class)),
                          ("test", np.arange(n_test) % len(per_class))):
        x = RNG.integers(0, 256, (len(labels), 3 * 32 * 32), dtype=np.uint8)  # rows: R plane, G, B (CHW)
        with open(folder / split, "wb") as f:
            pickle.dump({"data": x, "fine_labels": labels.tolist(), "coarse_labels": [0] * len(labels)}, f)
        out[split] = (x.reshape(-1, 3, 32, 32), labels)
    with open(folder / "meta", "wb") as f:
        pickle.dump({"fine_label_names": names, "coarse_label_names": ["all"]}, f)
    monkeypatch.setattr(tv.CIFAR100, "train_list", [["train", md5(folder / "train")]])
    monkeypatch.setattr(tv.CIFAR100, "test_list", [["test", md5(folder / "test")]])
    monkeypatch.setattr(tv.CIFAR100, "meta", {"filename": "meta", "key": "fine_label_names", "md5": md5(folder / "meta")})
    return out, names


def test_cifar100_long_tailed_loads_from_pickles(tmp_path, monkeypatch):
    files, names = cifar100_files(tmp_path, monkeypatch)
    whole = data.build("c100", {"source": "cifar100", "root": str(tmp_path)})
    x, y = files["train"]
    assert np.array_equal(whole.train.x.numpy(), x) and whole.train.y.tolist() == y.tolist()
    assert whole.classes == names and np.array_equal(whole.test.x.numpy(), files["test"][0])
    lt = data.build("c100lt", {"source": "cifar100", "root": str(tmp_path), "imbalance": {"kind": "long_tailed", "ratio": 4}})
    assert torch.bincount(lt.train.y).tolist() == class_counts([12, 10, 8, 6], "long_tailed", 4) == [12, 7, 4, 3]
    assert torch.equal(lt.train.x, whole.train.x[lt.train_source_index])


@pytest.mark.parametrize("source, folder", [("fashion_mnist", "FashionMNIST/raw"), ("svhn", "train_32x32.mat"),
                                            ("cifar100", "cifar-100-python")])
def test_missing_files_without_download_are_refused_with_the_fix(tmp_path, source, folder):
    with pytest.raises(data.DataError, match=f"set download: true.*{folder}"):
        data.build("x", {"source": source, "root": str(tmp_path)})
    cfg = {"datasets": {"x": {"source": source, "root": str(tmp_path)}}, "models": ["cnn"],
           "methods": {"uniform": {"method": "uniform"}}, "budgets": [1.0], "seeds": [0], "train": {"epochs": 1}}
    with pytest.raises(ConfigError, match=f"{folder} is not in this folder and download is false"):
        validate(cfg)


def test_the_config_accepts_root_and_download_for_the_new_sources(tmp_path, monkeypatch):
    fashion_files(tmp_path)
    cfg = {"datasets": {"fm": {"source": "fashion_mnist", "root": str(tmp_path), "download": False}}, "models": ["cnn"],
           "methods": {"uniform": {"method": "uniform"}}, "budgets": [1.0], "seeds": [0],
           "train": {"epochs": 1, "batch_size": 16}}
    checked = validate(cfg)["datasets"]["fm"]
    assert checked["root"] == str(tmp_path) and checked["download"] is False

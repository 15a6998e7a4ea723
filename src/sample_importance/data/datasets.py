"""Datasets as uint8 tensors in one cached file per variant.

`prepare` reads a source once (scikit-learn digits, torchvision CIFAR, an
ImageFolder tree or archive), applies the subset and imbalance to the training
split only, and saves images, labels and class names with `torch.save`. Training
jobs then `load` that file in one read: no image is decoded twice, and start-up
stays at a fraction of a second.
"""

from __future__ import annotations

import contextlib
import io
import os
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..atomic import torch_save
from .imbalance import class_counts, stratified_subset_counts

SOURCES = ("digits", "cifar10", "cifar100", "imagefolder")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp")


class DataError(RuntimeError):
    """A data file is missing, corrupt or inconsistent; the message names the file."""


@dataclass
class Split:
    x: torch.Tensor  # uint8 [N, C, H, W]
    y: torch.Tensor  # int64 [N]


@dataclass
class Dataset:
    name: str
    classes: list[str]
    train: Split
    test: Split
    train_source_index: torch.Tensor  # index of each training image in the source's training split
    mean: torch.Tensor  # per channel, of the training images scaled to [0, 1]
    std: torch.Tensor
    spec: dict

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train.x.shape[1:])

    def to(self, device) -> "Dataset":
        move = lambda s: Split(s.x.to(device), s.y.to(device))  # noqa: E731
        return Dataset(self.name, self.classes, move(self.train), move(self.test), self.train_source_index,
                       self.mean.to(device), self.std.to(device), self.spec)


# --------------------------------------------------------------------------- sources


def _digits(spec: dict) -> tuple[Split, Split, list[str]]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = np.rint(d.images * (255.0 / 16.0)).astype(np.uint8)[:, None]  # [N, 1, 8, 8]
    idx = np.arange(len(x))
    tr, te = train_test_split(idx, test_size=spec.get("test_fraction", 0.2), random_state=0, stratify=d.target)
    tr, te = np.sort(tr), np.sort(te)
    split = lambda i: Split(torch.from_numpy(x[i].copy()), torch.from_numpy(d.target[i].astype(np.int64)))  # noqa: E731
    return split(tr), split(te), [str(c) for c in d.target_names]


def _cifar(spec: dict, hundred: bool) -> tuple[Split, Split, list[str]]:
    from torchvision import datasets

    cls = datasets.CIFAR100 if hundred else datasets.CIFAR10
    root = spec.get("root", "data")
    try:
        with _download_lock(root, spec.get("download", False)):  # variants of one dataset share the download
            splits = [cls(root, train=t, download=spec.get("download", False)) for t in (True, False)]
    except RuntimeError as e:  # torchvision: "Dataset not found or corrupted..."
        raise DataError(
            f"{cls.__name__} not found under root {root!r} ({e}). Fix: set download: true for this dataset "
            f"(needs network), or point root to the folder that holds {cls.base_folder}."
        ) from e
    to_split = lambda d: Split(torch.from_numpy(d.data).permute(0, 3, 1, 2).contiguous(), torch.tensor(d.targets))  # noqa: E731
    return to_split(splits[0]), to_split(splits[1]), list(splits[0].classes)


@contextlib.contextmanager
def _download_lock(root: str, download: bool):
    """Serialise downloads into one root: parallel prepare_data jobs would otherwise corrupt the archive."""
    if not download:
        yield
        return
    import fcntl

    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, ".download.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _decode(data: bytes, where: str) -> torch.Tensor:
    """Decode one image file to uint8 [C, H, W] (grey stays 1 channel, anything else becomes RGB)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            if img.mode not in ("L", "RGB"):
                img = img.convert("RGB")
            array = np.asarray(img)
    except Exception as e:  # noqa: BLE001 - Pillow raises several types for a bad file
        raise DataError(f"cannot decode image {where}: {e}") from e
    return torch.from_numpy((array[None] if array.ndim == 2 else array.transpose(2, 0, 1)).copy())


def _stack(images: list[torch.Tensor], names: list[str], origin: str) -> torch.Tensor:
    shape = images[0].shape
    for img, name in zip(images, names):
        if img.shape != shape:
            raise DataError(
                f"{origin}: image {name} has shape {tuple(img.shape)} but {names[0]} has {tuple(shape)}; "
                "all images must have one size (resize them before use)."
            )
    return torch.stack(images)


def _read_tree_files(root: str) -> dict[str, dict[str, list[tuple[str, bytes]]]]:
    """split -> class -> [(name, bytes)] from a folder tree."""
    out: dict[str, dict[str, list]] = {}
    for split in ("train", "test"):
        base = Path(root) / split
        if not base.is_dir():
            raise DataError(f"ImageFolder {root!r} has no {split}/ folder; expected {split}/<class>/<image> files.")
        out[split] = {}
        for cls_dir in sorted(p for p in base.iterdir() if p.is_dir()):
            files = sorted(f for f in cls_dir.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
            out[split][cls_dir.name] = [(str(f), f.read_bytes()) for f in files]
    return out


def _read_archive_files(path: str) -> dict[str, dict[str, list[tuple[str, bytes]]]]:
    """split -> class -> [(member name, bytes)] from a .tar(.gz) holding [prefix/]{train,test}/<class>/<image>."""
    out: dict[str, dict[str, list]] = {"train": {}, "test": {}}
    try:
        with tarfile.open(path, "r:*") as tar:
            for m in tar:
                parts = m.name.strip("/").split("/")
                split_at = [i for i, p in enumerate(parts) if p in ("train", "test")]
                if not split_at:
                    continue
                i = split_at[-1]
                if m.isdir() and len(parts) == i + 2:
                    out[parts[i]].setdefault(parts[i + 1], [])
                    continue
                if not m.isfile() or len(parts) != i + 3 or Path(parts[-1]).suffix.lower() not in IMAGE_SUFFIXES:
                    continue
                f = tar.extractfile(m)
                out[parts[i]].setdefault(parts[i + 1], []).append((f"{path}:{m.name}", f.read()))
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        raise DataError(f"archive {path} is truncated or corrupt ({type(e).__name__}: {e}); re-copy or re-create it.") from e
    for split in ("train", "test"):
        if not out[split]:
            raise DataError(f"archive {path} has no {split}/<class>/<image> entries.")
        for files in out[split].values():
            files.sort()
    return out


def _imagefolder(spec: dict) -> tuple[Split, Split, list[str]]:
    root = spec.get("root", "")
    if not os.path.exists(root):
        raise DataError(f"ImageFolder path {root!r} does not exist. Fix: set the dataset's root to a folder or .tar.gz.")
    files = _read_tree_files(root) if os.path.isdir(root) else _read_archive_files(root)
    classes = sorted(files["train"])  # ImageFolder's rule: sorted folder names are the class indices
    if sorted(files["test"]) != classes:
        raise DataError(f"{root}: train classes {classes} differ from test classes {sorted(files['test'])}.")
    splits = []
    for split in ("train", "test"):
        images, labels, names = [], [], []
        for label, cls in enumerate(classes):
            entries = files[split][cls]
            if not entries:
                raise DataError(f"{root}: class folder {split}/{cls} has no images; remove it or add images.")
            for name, data in entries:
                images.append(_decode(data, name))
                names.append(name)
                labels.append(label)
        splits.append(Split(_stack(images, names, root), torch.tensor(labels, dtype=torch.int64)))
    return splits[0], splits[1], classes


def read_source(spec: dict) -> tuple[Split, Split, list[str]]:
    source = spec["source"]
    if source == "digits":
        return _digits(spec)
    if source in ("cifar10", "cifar100"):
        return _cifar(spec, hundred=source == "cifar100")
    if source == "imagefolder":
        return _imagefolder(spec)
    raise DataError(f"unknown dataset source {source!r}; valid: {', '.join(SOURCES)}")


# --------------------------------------------------------------------------- variants


def _take_per_class(y: torch.Tensor, counts: list[int], gen: torch.Generator) -> torch.Tensor:
    """Sorted indices keeping counts[c] random samples of each class c."""
    keep = []
    for c, k in enumerate(counts):
        idx = torch.nonzero(y == c).flatten()
        keep.append(idx[torch.randperm(len(idx), generator=gen)[:k]])
    return torch.sort(torch.cat(keep)).values


def build(name: str, spec: dict) -> Dataset:
    """Read the source and apply subset and imbalance to the training split (seeded by data_seed)."""
    train, test, classes = read_source(spec)
    n_classes = len(classes)
    gen = torch.Generator().manual_seed(int(spec.get("data_seed", 0)))
    index = torch.arange(len(train.y))
    counts = torch.bincount(train.y, minlength=n_classes).tolist()
    subset = int(spec.get("train_subset", 0))
    if subset:
        index = _take_per_class(train.y, stratified_subset_counts(counts, subset), gen)
        counts = torch.bincount(train.y[index], minlength=n_classes).tolist()
    imb = spec.get("imbalance", {}) or {}
    target = class_counts(counts, imb.get("kind", "none"), float(imb.get("ratio", 1)), float(imb.get("step_fraction", 0.5)))
    if target != counts:
        index = index[_take_per_class(train.y[index], target, gen)]
    if min(target) == 0:
        raise DataError(f"dataset {name}: imbalance leaves class(es) {[classes[c] for c, n in enumerate(target) if n == 0]} with no sample.")
    train = Split(train.x[index].contiguous(), train.y[index].contiguous())
    scaled = train.x.float().div_(255)
    mean = scaled.mean(dim=(0, 2, 3))
    std = scaled.std(dim=(0, 2, 3)).clamp_min(1e-3)
    return Dataset(name, classes, train, test, index, mean, std, spec)


def save(ds: Dataset, path) -> None:
    torch_save(path, {
        "name": ds.name, "classes": ds.classes, "spec": ds.spec,
        "train_x": ds.train.x, "train_y": ds.train.y, "test_x": ds.test.x, "test_y": ds.test.y,
        "train_source_index": ds.train_source_index, "mean": ds.mean, "std": ds.std,
    })


def load(path) -> Dataset:
    """Load a cached file (memory-mapped, one read) and check its labels."""
    try:
        d = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as e:  # noqa: BLE001 - torch raises several types for a bad zip
        raise DataError(f"cached dataset {path} cannot be read ({e}); delete it and rerun prepare_data.") from e
    n_classes = len(d["classes"])
    for split in ("train", "test"):
        y = d[f"{split}_y"]
        if len(y) and (int(y.min()) < 0 or int(y.max()) >= n_classes):
            raise DataError(
                f"cached dataset {path}: {split} labels span [{int(y.min())}, {int(y.max())}] but there are "
                f"{n_classes} classes; delete the file and rerun prepare_data."
            )
        if len(y) != len(d[f"{split}_x"]):
            raise DataError(f"cached dataset {path}: {split} has {len(d[f'{split}_x'])} images but {len(y)} labels.")
    return Dataset(
        d["name"], list(d["classes"]), Split(d["train_x"], d["train_y"]), Split(d["test_x"], d["test_y"]),
        d["train_source_index"], d["mean"], d["std"], d["spec"],
    )


def describe(ds: Dataset) -> str:
    counts = torch.bincount(ds.train.y, minlength=ds.n_classes).tolist()
    return (f"{ds.name}: {len(ds.train.y)} train / {len(ds.test.y)} test images of shape {ds.image_shape}, "
            f"{ds.n_classes} classes, train counts per class {counts}")


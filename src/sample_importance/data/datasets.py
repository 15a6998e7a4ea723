"""Datasets as uint8 tensors in one cached file per variant.

`prepare` reads a source once (scikit-learn digits; torchvision's own CIFAR-10,
CIFAR-100, Fashion-MNIST and SVHN classes; an ImageFolder tree or archive), applies
the subset, imbalance and label noise (data/noise.py) to the training split only,
and saves images, labels and class names with `torch.save`; with noise also the
mask of mislabeled training samples and their original labels. Training
jobs then `load` that file in one read: no image is decoded twice, and start-up
stays at a fraction of a second.

Images are decoded as they are meant to be seen or refused by file name (see
_to_uint8): 16-bit scaled, palettes expanded, alpha composited on black, a
grey/colour mix made RGB. An ImageFolder is checked by data/inspect.py, the same
check the config applies before any job. The cache stores a CRC-32 of its
tensors; `load` verifies it, so a damaged file is refused with the command that
rebuilds it (the workflow repairs unreadable caches at start-up: data.smk).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..atomic import torch_save
from .imbalance import class_counts, stratified_subset_counts
from .noise import apply_label_noise
from .inspect import (IMAGE_SUFFIXES, DataError, archive_error, archive_members, check_layout, open_archive,  # noqa: F401
                      tree_files)

log = logging.getLogger(__name__)

SOURCES = ("digits", "cifar10", "cifar100", "fashion_mnist", "svhn", "imagefolder")
TORCHVISION_SOURCES = ("cifar10", "cifar100", "fashion_mnist", "svhn")  # read by torchvision's classes from `root`


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
    # label noise (data/noise.py): which training samples carry a wrong label, and their original labels;
    # None for a dataset built without noise information (caches written before it existed)
    noisy: torch.Tensor | None = None  # bool [N_train]
    clean_labels: torch.Tensor | None = None  # int64 [N_train]

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train.x.shape[1:])

    def to(self, device) -> "Dataset":
        move = lambda s: Split(s.x.to(device), s.y.to(device))  # noqa: E731
        opt = lambda t: None if t is None else t.to(device)  # noqa: E731
        return Dataset(self.name, self.classes, move(self.train), move(self.test), self.train_source_index,
                       self.mean.to(device), self.std.to(device), self.spec, opt(self.noisy), opt(self.clean_labels))

    @property
    def has_noise(self) -> bool:
        return self.noisy is not None and bool(self.noisy.any())


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


# where torchvision's classes expect each source's files under `root` (for messages and config checks)
TORCHVISION_FILES = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python",
                     "fashion_mnist": "FashionMNIST/raw", "svhn": "train_32x32.mat"}


def _torchvision_splits(source: str, root: str, download: bool) -> tuple[list, type]:
    """The train and test objects of torchvision's own dataset class (its loaders, checks and download)."""
    from torchvision import datasets

    cls = {"cifar10": datasets.CIFAR10, "cifar100": datasets.CIFAR100, "fashion_mnist": datasets.FashionMNIST,
           "svhn": datasets.SVHN}[source]
    if source == "svhn":
        return [cls(root, split=s, download=download) for s in ("train", "test")], cls
    return [cls(root, train=t, download=download) for t in (True, False)], cls


def _torchvision(spec: dict, source: str) -> tuple[Split, Split, list[str]]:
    """CIFAR-10/100 (HWC uint8), Fashion-MNIST (HW uint8) and SVHN (CHW uint8, label 10 already 0) as uint8 NCHW."""
    root, download = spec.get("root", "data"), spec.get("download", False)
    try:
        with _download_lock(root, download):  # variants of one dataset share the download
            splits, cls = _torchvision_splits(source, root, download)
    except RuntimeError as e:  # torchvision: "Dataset not found or corrupted..."
        raise DataError(
            f"{source} not found under root {root!r} ({e}). Fix: set download: true for this dataset "
            f"(needs network), or point root to the folder that holds {TORCHVISION_FILES[source]}."
        ) from e
    if source == "svhn":
        to_split = lambda d: Split(torch.from_numpy(np.ascontiguousarray(d.data)),  # noqa: E731
                                   torch.from_numpy(np.asarray(d.labels, dtype=np.int64)))
        return to_split(splits[0]), to_split(splits[1]), [str(c) for c in range(10)]
    if source == "fashion_mnist":
        to_split = lambda d: Split(d.data[:, None].contiguous(), d.targets.to(torch.int64))  # noqa: E731
    else:
        to_split = lambda d: Split(torch.from_numpy(d.data).permute(0, 3, 1, 2).contiguous(),  # noqa: E731
                                   torch.tensor(d.targets, dtype=torch.int64))
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


def _to_uint8(img, where: str) -> np.ndarray:
    """One decoded image as uint8 [H, W] (grey) or [H, W, 3] (colour).

    16-bit grey (PNG "I;16", or "I" holding 0..65535) is scaled to 0..255 with rounding
    (32768 -> 128), never clipped (Pillow's own convert("L") clips: every pixel >= 255 becomes white).
    Alpha is composited on black (value * alpha / 255): the pixels a transparent area hides carry
    no meaning, and black is what a zero-padded crop adds too. Palette images become RGB (or grey+alpha
    via RGBA); CMYK and YCbCr use Pillow's conversion to RGB (no ICC profile).
    """
    mode = img.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        array = np.asarray(img).astype(np.int64)
        if array.size and (array.min() < 0 or array.max() > 65535):
            raise DataError(f"cannot decode image {where}: mode {mode} with values outside 0..65535. "
                            "Fix: save it as 8- or 16-bit PNG/JPEG.")
        return ((array * 255 + 32767) // 65535).astype(np.uint8)
    if mode == "1":
        return np.asarray(img.convert("L"))
    if mode in ("P", "PA"):
        img = img.convert("RGBA")
        mode = "RGBA"
    if mode in ("La", "RGBa"):
        img = img.convert(mode.replace("a", "A"))
        mode = img.mode
    if mode in ("LA", "RGBA"):
        array = np.asarray(img).astype(np.uint16)
        colour, alpha = array[..., :-1], array[..., -1:]
        out = ((colour * alpha + 127) // 255).astype(np.uint8)
        return out[..., 0] if mode == "LA" else out
    if mode == "L":
        return np.asarray(img)
    if mode in ("RGB", "RGBX", "CMYK", "YCbCr"):
        return np.asarray(img.convert("RGB"))
    raise DataError(f"cannot decode image {where}: Pillow mode {mode} (e.g. float or 32-bit) has no agreed 8-bit meaning. "
                    "Fix: convert it to 8-bit grey or RGB (PNG/JPEG).")


def _decode(data: bytes, where: str) -> torch.Tensor:
    """Decode one image file to uint8 [C, H, W]: grey stays 1 channel, colour is 3 (see _to_uint8)."""
    from PIL import Image, ImageOps

    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            # a camera's JPEG stores its pixels as the sensor read them and the rotation in EXIF tag 274; every
            # viewer applies it, so the image as seen is the transposed one (a no-op without the tag)
            array = _to_uint8(ImageOps.exif_transpose(img), where)
    except DataError:
        raise
    except Exception as e:  # noqa: BLE001 - Pillow raises several types for a bad file
        raise DataError(f"cannot decode image {where}: {e}. Fix: replace or remove the file.") from e
    return torch.from_numpy((array[None] if array.ndim == 2 else array.transpose(2, 0, 1)).copy())


def _stack(images: list[torch.Tensor], names: list[str], origin: str) -> torch.Tensor:
    """One uint8 tensor; a grey/colour mix becomes colour (grey replicated), all sizes must agree."""
    grey = [i for i, img in enumerate(images) if img.shape[0] == 1]
    if grey and len(grey) < len(images):
        log.warning("%s: %d of %d images are greyscale (e.g. %s) and the rest colour: all are used as RGB "
                    "(grey replicated to 3 channels)", origin, len(grey), len(images), names[grey[0]])
        images = [img.expand(3, -1, -1) if img.shape[0] == 1 else img for img in images]
    size = images[0].shape[1:]
    for img, name in zip(images, names):
        if img.shape[1:] != size:
            raise DataError(
                f"{origin}: image {name} is {img.shape[2]}x{img.shape[1]} pixels (width x height) but {names[0]} is "
                f"{size[1]}x{size[0]}; all images must have one size. Fix: resize them before use."
            )
    return torch.stack(images)


def _read_tree_files(root: str) -> dict[str, dict[str, list[tuple[str, bytes]]]]:
    """split -> class -> [(name, bytes)] from a folder tree."""
    files = tree_files(root)
    check_layout(root, {s: {c: len(f) for c, f in classes.items()} for s, classes in files.items()})
    return {s: {c: [(f.path, Path(f.path).read_bytes()) for f in fs] for c, fs in classes.items()}
            for s, classes in files.items()}


def _read_archive_files(path: str) -> dict[str, dict[str, list[tuple[str, bytes]]]]:
    """split -> class -> [(member name, bytes)] from a .tar(.gz) holding [prefix/]{train,test}/<class>/<image>."""
    try:
        with open_archive(path) as tar:
            members = archive_members(tar, path)
            check_layout(path, {s: {c: len(m) for c, m in classes.items()} for s, classes in members.items()})
            return {s: {c: [(f"{path}:{m.name}", tar.extractfile(m).read()) for m in ms] for c, ms in classes.items()}
                    for s, classes in members.items()}
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        raise archive_error(path, e) from e


def _imagefolder(spec: dict) -> tuple[Split, Split, list[str]]:
    root = spec.get("root", "")
    if not os.path.exists(root):
        raise DataError(f"ImageFolder path {root!r} does not exist. Fix: set the dataset's root to a folder or .tar.gz.")
    files = _read_tree_files(root) if os.path.isdir(root) else _read_archive_files(root)
    classes = sorted(files["train"])
    splits = []
    for split in ("train", "test"):
        images, labels, names = [], [], []
        for label, cls in enumerate(classes):
            for name, data in files[split][cls]:
                images.append(_decode(data, name))
                names.append(name)
                labels.append(label)
        splits.append(Split(_stack(images, names, root), torch.tensor(labels, dtype=torch.int64)))
    if splits[0].x.shape[1:] != splits[1].x.shape[1:]:
        tr, te = tuple(splits[0].x.shape[1:]), tuple(splits[1].x.shape[1:])
        if tr[1:] == te[1:]:  # a colour split beside a grey one: colour wins, as within a split
            splits = [Split(s.x.expand(-1, 3, -1, -1).contiguous() if s.x.shape[1] == 1 else s.x, s.y) for s in splits]
            log.warning("%s: one split is greyscale, the other colour: both are used as RGB", root)
        else:
            raise DataError(f"{root}: train images are {tr[2]}x{tr[1]} pixels but test images {te[2]}x{te[1]}. "
                            "Fix: resize them to one size.")
    return splits[0], splits[1], classes


def read_source(spec: dict) -> tuple[Split, Split, list[str]]:
    source = spec["source"]
    if source == "digits":
        return _digits(spec)
    if source in TORCHVISION_SOURCES:
        return _torchvision(spec, source)
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
    """Read the source and apply subset, imbalance, then label noise to the training split (seeded by data_seed).

    The noise acts on the samples the imbalance kept (data/noise.py: round(rate * N) of those N), drawn from
    the same generator after the subset and imbalance draws, so adding noise changes neither of them.
    """
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
    clean = train.y[index].contiguous()
    noise = spec.get("label_noise", {}) or {}
    labels, noisy = apply_label_noise(clean, classes, noise.get("kind", "none"), float(noise.get("rate", 0)), gen)
    train = Split(train.x[index].contiguous(), labels)
    scaled = train.x.float().div_(255)
    mean = scaled.mean(dim=(0, 2, 3))
    std = scaled.std(dim=(0, 2, 3)).clamp_min(1e-3)
    return Dataset(name, classes, train, test, index, mean, std, spec, noisy, clean)


TENSORS = ("train_x", "train_y", "test_x", "test_y", "train_source_index", "mean", "std")
NOISE_TENSORS = ("train_noisy", "train_clean_y")  # optional: caches of format < 3 have none (read as "no noise")
CACHE_FORMAT = 3  # 2: a checksum of every tensor and of the class names; 3: the label-noise mask and clean labels


def _checksum(d: dict) -> dict:
    """CRC-32 of each tensor's bytes and of the class names (~0.07 s for CIFAR-10's 184 MB).

    torch.load does not verify its zip CRCs and maps tensors lazily, so a flipped or zeroed
    block inside a tensor would otherwise train silently on wrong pixels.
    """
    names = [*TENSORS, *(k for k in NOISE_TENSORS if k in d)]
    out = {k: zlib.crc32(d[k].contiguous().view(torch.uint8).numpy()) if d[k].numel() else 0 for k in names}
    out["classes"] = zlib.crc32(json.dumps(list(d["classes"])).encode())
    return out


def save(ds: Dataset, path) -> None:
    d = {
        "name": ds.name, "classes": ds.classes, "spec": ds.spec, "format": CACHE_FORMAT,
        "train_x": ds.train.x, "train_y": ds.train.y, "test_x": ds.test.x, "test_y": ds.test.y,
        "train_source_index": ds.train_source_index, "mean": ds.mean, "std": ds.std,
    }
    if ds.noisy is not None:
        d["train_noisy"], d["train_clean_y"] = ds.noisy, ds.clean_labels
    torch_save(path, {**d, "checksum": _checksum(d)})


def _rebuild_hint(path, d: dict | None = None) -> str:
    how = "python -m sample_importance prepare-data --name NAME --spec 'JSON' --out " + str(path)
    if d and isinstance(d.get("name"), str) and isinstance(d.get("spec"), dict):
        how = (f"python -m sample_importance prepare-data --name {d['name']} "
               f"--spec '{json.dumps(d['spec'], sort_keys=True)}' --out {path}")
    return (f"Fix: rebuild it in place with `{how}` (finished runs are kept), or delete it and run snakemake "
            "again (it reruns prepare_data and the runs that read this file)")


def load(path) -> Dataset:
    """Load a cached file (memory-mapped, one read) and verify its checksum and labels."""
    try:
        d = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        missing = [k for k in ("name", "classes", "spec", *TENSORS) if k not in d]
    except Exception as e:  # noqa: BLE001 - torch raises several types for a bad zip
        raise DataError(f"cached dataset {path} cannot be read ({e}). {_rebuild_hint(path)}.") from e
    if missing:
        raise DataError(f"cached dataset {path} cannot be read (no {', '.join(missing)}). {_rebuild_hint(path)}.")
    if "checksum" in d:  # files of format 1 (before checksums) are accepted unverified
        actual = _checksum(d)
        bad = [k for k, v in d["checksum"].items() if actual.get(k) != v]
        if bad:
            raise DataError(f"cached dataset {path} is corrupt: the checksum of {', '.join(bad)} does not match. "
                            f"{_rebuild_hint(path, d)}.")
    n_classes = len(d["classes"])
    for split in ("train", "test"):
        y = d[f"{split}_y"]
        if len(y) and (int(y.min()) < 0 or int(y.max()) >= n_classes):
            raise DataError(
                f"cached dataset {path}: {split} labels span [{int(y.min())}, {int(y.max())}] but there are "
                f"{n_classes} classes. {_rebuild_hint(path, d)}."
            )
        if len(y) != len(d[f"{split}_x"]):
            raise DataError(f"cached dataset {path}: {split} has {len(d[f'{split}_x'])} images but {len(y)} labels. "
                            f"{_rebuild_hint(path, d)}.")
    noisy, clean = d.get("train_noisy"), d.get("train_clean_y")
    if noisy is not None and (len(noisy) != len(d["train_y"]) or len(clean) != len(d["train_y"])):
        raise DataError(f"cached dataset {path}: the label-noise mask or clean labels do not match the {len(d['train_y'])} "
                        f"training labels. {_rebuild_hint(path, d)}.")
    return Dataset(
        d["name"], list(d["classes"]), Split(d["train_x"], d["train_y"]), Split(d["test_x"], d["test_y"]),
        d["train_source_index"], d["mean"], d["std"], d["spec"], noisy, clean,
    )


def describe(ds: Dataset) -> str:
    counts = torch.bincount(ds.train.y, minlength=ds.n_classes).tolist()
    noise = f", {int(ds.noisy.sum())} training labels made noisy" if ds.has_noise else ""
    return (f"{ds.name}: {len(ds.train.y)} train / {len(ds.test.y)} test images of shape {ds.image_shape}, "
            f"{ds.n_classes} classes, train counts per class {counts}{noise}")


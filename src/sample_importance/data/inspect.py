"""What an ImageFolder source or a cached dataset holds, checked without torch.

The config check (at Snakemake start-up, before any job) and `prepare_data` use the
same functions here, so a tree and an archive are held to one rule: train/ and
test/ present, the same classes in both, at least two classes, no empty class,
images large enough for the model. Kept free of torch so `snakemake -n` stays
quick; Pillow is imported only to read one image header per split.

Hidden entries (names starting with "." such as macOS `._x.png` resource forks
and `.DS_Store`, and `__MACOSX/` folders) are no images: they are skipped
everywhere, in the identity hash too.
"""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
import zipfile
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp", ".gif")
SPLITS = ("train", "test")
# Smallest image side each model accepts (training/models.py): the small CNN pools 2x2 twice before its
# global average pooling, so a side below 4 leaves nothing to pool; the CIFAR ResNet-18 (stride-1 stem,
# three stride-2 stages with padding) maps any side >= 1 to a feature map. Checked by tests/test_data_identity.py.
MIN_IMAGE_SIDE = {"cnn": 4, "resnet18": 1}
SUMMARY_VERSION = 2  # bump when SourceSummary's fields or checks change (invalidates the persistent memo); 2: zero-byte files


class DataError(RuntimeError):
    """A data file is missing, corrupt or inconsistent; the message names the file and the fix."""


def is_hidden(part: str) -> bool:
    return (part.startswith(".") and part not in (".", "..")) or part == "__MACOSX"


def is_image_name(name: str) -> bool:
    return not is_hidden(name) and Path(name).suffix.lower() in IMAGE_SUFFIXES


def archive_entry(member: str) -> tuple[str, str, str | None, str] | None:
    """(prefix, split, class, file or None) of an archive member `[prefix/]split/class[/file]`, else None.

    The split is the part two (folder) or three (file) from the end, so a class named `test` inside
    train/ is still a class; hidden parts anywhere make the member no entry.
    """
    parts = [p for p in member.strip("/").split("/") if p not in ("", ".")]
    if not parts or any(is_hidden(p) for p in parts):
        return None
    for depth, has_file in ((3, True), (2, False)):
        if len(parts) >= depth and parts[-depth] in SPLITS:
            prefix = "/".join(parts[:-depth])
            return prefix, parts[-depth], parts[-depth + 1], parts[-1] if has_file else None
    return None


# --------------------------------------------------------------------------- listing


def tree_files(root: str | os.PathLike) -> dict[str, dict[str, list[os.DirEntry]]]:
    """split -> class -> image files (sorted DirEntry) of an ImageFolder tree; a missing split is absent."""
    out: dict[str, dict[str, list]] = {}
    for split in SPLITS:
        base = Path(root) / split
        if not base.is_dir():
            continue
        out[split] = {}
        with os.scandir(base) as classes:
            for cls in classes:
                if cls.is_dir() and not is_hidden(cls.name):
                    with os.scandir(cls.path) as files:
                        images = [f for f in files if is_image_name(f.name) and f.is_file()]
                    out[split][cls.name] = sorted(images, key=lambda f: f.name)
    return out


def archive_members(tar: tarfile.TarFile, path: str) -> dict[str, dict[str, list[tarfile.TarInfo]]]:
    """split -> class -> image members (sorted) of an open archive; one dataset prefix only."""
    out: dict[str, dict[str, list]] = {}
    prefixes = set()
    for m in tar:
        entry = archive_entry(m.name)
        if entry is None or not (m.isdir() or m.isfile()):
            continue
        prefix, split, cls, name = entry
        if (m.isfile() and not is_image_name(name or "")) or (m.isdir() and name is not None):
            continue  # a file that is no image, a file beside the class folders, or a folder inside one
        prefixes.add(prefix)
        files = out.setdefault(split, {}).setdefault(cls, [])
        if name is not None:
            files.append(m)
    if len(prefixes) > 1:
        raise DataError(f"archive {path} holds several datasets ({', '.join(sorted(repr(p) for p in prefixes))}). "
                        "Fix: pack one [prefix/]train/<class>/ and test/<class>/ per archive.")
    for classes in out.values():
        for files in classes.values():
            files.sort(key=lambda m: m.name)
    return out


def open_archive(path: str):
    """tarfile.open, with a truncated or garbled file reported as a DataError naming it."""
    try:
        return tarfile.open(path, "r:*")
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        raise archive_error(path, e) from e


def archive_error(path: str, e: Exception) -> DataError:
    return DataError(f"archive {path} is truncated or corrupt ({type(e).__name__}: {e}). "
                     "Fix: re-copy or re-create it (tar czf NAME.tar.gz FOLDER).")


# --------------------------------------------------------------------------- the one check


def check_layout(root: str, counts: dict[str, dict[str, int]]) -> list[str]:
    """The classes of a source from its image counts per split and class; DataError on a bad layout.

    `counts` is what a listing found: split -> class -> number of images. The same
    rule for a tree and an archive, at config time and in prepare_data.
    """
    for split in SPLITS:
        if split not in counts or not counts[split]:
            raise DataError(f"ImageFolder {root} has no {split}/ folder of <class>/<image> files. Fix: give it a {split}/ "
                            "folder with one sub-folder of images per class (held-out images for test/).")
    classes = sorted(counts["train"])  # ImageFolder's rule: sorted folder names are the class indices
    if sorted(counts["test"]) != classes:
        only_train = sorted(set(classes) - set(counts["test"]))
        only_test = sorted(set(counts["test"]) - set(classes))
        raise DataError(f"{root}: train and test have different classes (only in train: {only_train}, only in test: "
                        f"{only_test}). Fix: give train/ and test/ the same class folders.")
    if len(classes) < 2:
        raise DataError(f"{root}: only one class ({classes[0]!r}); a classifier needs at least two. "
                        "Fix: add a folder per class under train/ and test/.")
    for split in SPLITS:
        for cls in classes:
            if counts[split][cls] == 0:
                raise DataError(f"{root}: class folder {split}/{cls} has no images; remove it or add images.")
    return classes


@dataclass
class SourceSummary:
    """What an ImageFolder source holds, from its listing and one image header per split."""

    root: str
    counts: dict[str, dict[str, int]]
    first_image: dict[str, dict] = field(default_factory=dict)  # split -> {name, width, height, mode}

    @property
    def classes(self) -> list[str]:
        return sorted(self.counts.get("train", {}))

    def train_counts(self) -> list[int]:
        return [self.counts["train"][c] for c in self.classes]


def _header(data_or_path, name: str) -> dict:
    from PIL import Image

    try:
        with Image.open(data_or_path) as img:
            return {"name": name, "width": img.width, "height": img.height, "mode": img.mode}
    except Exception as e:  # noqa: BLE001 - Pillow raises several types for a bad file
        raise DataError(f"cannot decode image {name}: {e}. Fix: replace or remove the file.") from e


def _refuse_empty_files(names: list[str], where: str) -> None:
    """A zero-byte image (an interrupted copy or download) is no image; named here, before any job, not by prepare_data."""
    if names:
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        raise DataError(f"{len(names)} image file(s) in {where} are empty (0 bytes): {shown}. Fix: copy them again "
                        "from their source, or delete them.")


def _summarize_tree(root: str) -> SourceSummary:
    files = tree_files(root)
    _refuse_empty_files([f.path for classes in files.values() for fs in classes.values() for f in fs
                         if f.stat().st_size == 0], root)
    summary = SourceSummary(root, {s: {c: len(f) for c, f in classes.items()} for s, classes in files.items()})
    for split, classes in files.items():
        first = next((f[0] for _, f in sorted(classes.items()) if f), None)
        if first is not None:
            summary.first_image[split] = _header(first.path, first.path)
    return summary


def _summarize_archive(path: str) -> SourceSummary:
    try:
        with open_archive(path) as tar:
            members = archive_members(tar, path)
            _refuse_empty_files([m.name for classes in members.values() for ms in classes.values() for m in ms
                                 if m.size == 0], path)
            summary = SourceSummary(path, {s: {c: len(m) for c, m in classes.items()} for s, classes in members.items()})
            for split, classes in members.items():
                first = next((m[0] for _, m in sorted(classes.items()) if m), None)
                if first is not None:
                    summary.first_image[split] = _header(tar.extractfile(first), f"{path}:{first.name}")
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        raise archive_error(path, e) from e
    return summary


def file_digest(path: str) -> str:
    """blake2b of a file's bytes (the 19 MB CIFAR-10 JPEG archive: about 0.05 s)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "blake2b").hexdigest()[:32]


def archive_digest(path: str) -> str:
    """Content hash of an archive, computed once per process per (path, size, mtime)."""
    st = os.stat(path)
    return _archive_digest(os.path.abspath(path), st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=64)
def _archive_digest(path: str, size: int, mtime_ns: int) -> str:
    return file_digest(path)


def _memo_dir() -> Path | None:
    """Where archive summaries are remembered across processes (content-addressed, so never stale)."""
    base = os.environ.get("SAMPLE_IMPORTANCE_CACHE")
    if base is None:
        base = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "sample_importance")
    return Path(base) / "archives" if base else None


def summarize(root: str) -> SourceSummary:
    """Listing summary of a tree or archive. Listing a 60,000-image tar.gz takes ~2 s, so an archive's
    summary is remembered under its content hash (one file per archive version in the user's cache
    folder; SAMPLE_IMPORTANCE_CACHE= (empty) turns this off) and Snakemake start-up pays it once."""
    if os.path.isdir(root):
        return _summarize_tree(root)
    memo_dir = _memo_dir()
    memo = memo_dir / f"{archive_digest(root)}-v{SUMMARY_VERSION}.json" if memo_dir else None
    if memo is not None and memo.is_file():
        try:
            saved = json.loads(memo.read_text())
            return SourceSummary(root, saved["counts"], saved["first_image"])
        except (ValueError, KeyError, OSError):
            pass
    summary = _summarize_archive(root)
    if memo is not None:
        try:
            memo.parent.mkdir(parents=True, exist_ok=True)
            tmp = memo.with_name(f".{memo.name}.{os.getpid()}")
            tmp.write_text(json.dumps({"counts": summary.counts, "first_image": summary.first_image}))
            os.replace(tmp, memo)
        except OSError:
            pass  # a read-only home only costs the listing next time
    return summary


def check_source(root: str, models=()) -> SourceSummary:
    """The pre-job check of an ImageFolder tree or archive: layout, and images large enough for `models`.

    Only the first image of each split is measured here; prepare_data checks every image.
    """
    if not os.path.exists(root):
        raise DataError(f"ImageFolder path {root!r} does not exist. Fix: set the dataset's root to a folder or .tar.gz.")
    if not os.path.isdir(root) and not tarfile.is_tarfile(root):
        raise DataError(f"{root} is not a folder and not a tar archive (.tar, .tar.gz, ...). "
                        "Fix: point root to a folder or .tar(.gz) of train/<class>/ and test/<class>/.")
    summary = summarize(root)
    check_layout(root, summary.counts)
    for split, image in summary.first_image.items():
        side = min(image["width"], image["height"])
        for model in models:
            need = MIN_IMAGE_SIDE.get(model, 1)
            if side < need:
                raise DataError(f"{image['name']} is {image['width']}x{image['height']} pixels but model {model!r} "
                                f"needs images of at least {need}x{need}. Fix: resize the images or use another model.")
    return summary


# --------------------------------------------------------------------------- cached datasets


def cache_problem(path: str | os.PathLike) -> str | None:
    """Why a cached dataset file cannot be read, or None when it looks whole (or does not exist).

    Structural only, so it costs milliseconds for any size: torch.save writes a zip whose central
    directory sits at the end, so a truncated file has none, and a garbled one is no zip. The pickle
    member (classes, spec, tensor layout) is CRC-checked; the tensors' own checksum is verified by
    datasets.load, which every job calls.
    """
    path = str(path)
    if not os.path.exists(path):
        return None
    size = os.path.getsize(path)
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
            pickles = [i for i in infos if i.filename.endswith("/data.pkl")]
            if not pickles:
                return f"cached dataset {path} is not a torch file (no data.pkl)"
            for info in infos:
                if info.header_offset + info.compress_size > size:
                    return f"cached dataset {path} is truncated ({info.filename} ends past the end of the file)"
            z.read(pickles[0])
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error, NotImplementedError) as e:
        return f"cached dataset {path} is truncated or corrupt ({type(e).__name__}: {e})"
    return None

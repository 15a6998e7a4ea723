"""Write-then-rename, so a crash or a full disk never leaves a file that looks complete.

Snakemake takes an existing output as done; a truncated CSV or checkpoint from a
killed job would poison every later aggregation. Everything the package writes
goes through `atomic_path`: a temporary name in the same folder (same file
system, so `os.replace` is atomic), renamed only after the writer returned, and
deleted when it raised. A full disk (ENOSPC, or EDQUOT on a quota) is reported
as `DiskFullError`, naming the file, instead of a bare errno deep in pandas or torch.

Tables are written from bytes held in memory, so the writer can return what it
wrote (rows, sha256) and steps.py records it in run.json, which analysis/aggregate.py
checks before it trusts a table.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
from pathlib import Path

FULL_DISK = (errno.ENOSPC, errno.EDQUOT)


class DiskFullError(OSError):
    """A write failed for lack of space or quota; the message names the file and the fix."""

    def __init__(self, path: Path, cause: OSError):
        what = "disk quota exceeded" if cause.errno == errno.EDQUOT else "no space left on device"
        super().__init__(cause.errno, (
            f"{what} while writing {path} (its partial temporary file was removed, {path.name} was not written). "
            f"Fix: free space on the file system of {path.parent} (`df -h {path.parent}`), or point output.results "
            f"of the config at a larger disk, then rerun the same command: finished files are kept and a run "
            f"with a checkpoint resumes from it."))
        self.path = path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside `path`; rename it to `path` on success, delete it on error."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as e:
        if e.errno in FULL_DISK and not isinstance(e, DiskFullError):
            raise DiskFullError(path, e) from e
        raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _write_bytes(tmp: Path, data: bytes | memoryview) -> None:
    """The one place bytes reach the disk (tests replace it to simulate a full disk part-way through)."""
    with open(tmp, "wb") as f:
        f.write(data)


def write_bytes(path, data: bytes | memoryview) -> str:
    """Write `data` atomically; returns its sha256 (hex)."""
    with atomic_path(path) as tmp:
        _write_bytes(tmp, data)
    return hashlib.sha256(data).hexdigest()


def write_json(path, obj) -> str:
    return write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode())


def csv_bytes(frame) -> bytes:
    """A DataFrame as CSV; floats keep full precision so reruns compare byte for byte."""
    return frame.to_csv(index=False, float_format="%.10g", lineterminator="\n").encode()


def write_csv(path, frame) -> dict:
    """Write a pandas DataFrame; returns what run.json records of it: {"rows", "sha256"}."""
    return {"rows": int(len(frame)), "sha256": write_bytes(path, csv_bytes(frame))}


def torch_save(path, obj) -> str:
    """torch.save through memory: torch's own file writer turns ENOSPC into a RuntimeError without the errno.

    Costs one serialised copy of `obj` in memory while it is written (no second copy: getbuffer).
    """
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return write_bytes(path, buffer.getbuffer())


# Columns that hold names, read back as the exact text written. pandas infers types per column: a class folder
# named `null` or `NA` became NaN (an empty name in the summary), and `01` the number 1, merging two classes.
TEXT_COLUMNS = ("class",)


def read_csv(source):
    """A CSV written by `write_csv` (a path, or its bytes), with TEXT_COLUMNS read verbatim as strings.

    Every other column keeps pandas' reading (numbers, and NaN for empty or NA cells).
    """
    import pandas as pd
    from pandas._libs.parsers import STR_NA_VALUES

    data = Path(source).read_bytes() if isinstance(source, (str, os.PathLike)) else bytes(source)
    header = pd.read_csv(io.BytesIO(data), nrows=0).columns
    text = [c for c in header if c in TEXT_COLUMNS]
    if not text:
        return pd.read_csv(io.BytesIO(data))
    na = {c: sorted(STR_NA_VALUES) for c in header if c not in text}
    return pd.read_csv(io.BytesIO(data), dtype={c: str for c in text}, keep_default_na=False, na_values=na)

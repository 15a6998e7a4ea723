"""Write-then-rename, so a crash never leaves a file that looks complete.

Snakemake takes an existing output as done; a truncated CSV or checkpoint from a
killed job would poison every later aggregation. Everything the package writes
goes through `atomic_path`: a temporary name in the same folder (same file
system, so `os.replace` is atomic), renamed only after the writer returned.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside `path`; rename it to `path` on success, delete it on error."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_json(path, obj) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def write_csv(path, frame) -> None:
    """Write a pandas DataFrame; floats keep full precision so reruns compare byte for byte."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.10g")


def torch_save(path, obj) -> None:
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)

"""What made a result: versions, device, git commit, config hash.

Recorded in every run.json and summary so a number can be traced back to the
code and settings that produced it.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from functools import lru_cache
from importlib import metadata
from pathlib import Path

PACKAGES = ("torch", "torchvision", "numpy", "pandas", "snakemake", "matplotlib", "seaborn", "scikit-learn")


def config_hash(obj) -> str:
    """Stable short hash of a JSON-able object (key order does not matter)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


# Bumped when a change of the code changes the numbers of runs already made (their ids then change,
# so old folders are not reused). 2: biased rescore_every restored in split runs; dataset location unhashed.
# 3: methods made faithful to their reference code (p/c-SGD order and fill, selective backprop and upper-bound
#    IS scoring, Data Diet protocol, Active Bias variance, Arazo's RandAugment).
# 4: biased samples in proportion to the importance by default (smoothing 0.001, was 0.5); RHO-LOSS's schedule
#    starts at its peak after the irreducible model's charge; InfoBatch's epochs mode reports its progress.
RESULTS_VERSION = 4

# where and how a run executes, left out of its id so one grid runs on a laptop and on a cluster; they
# can change the last bits of the numbers (device, compile, threads), and run.json records them
NOT_HASHED = ("device", "threads", "compile", "eval_batch_size", "checkpoint_every")
# torchvision datasets: where the files sit and whether to fetch them; the data are the same
DATA_LOCATION = ("root", "download")
# Bumped when prepare_data decodes the same ImageFolder files into other tensors. 2: 16-bit scaled,
# alpha composited on black, hidden files skipped, grey/colour mixes made RGB. 3: EXIF orientation applied.
IMAGEFOLDER_DECODER = 3


def source_identity(dataset_spec: dict) -> dict | None:
    """What an ImageFolder's files are, so an edited source gets a new cache (and new run ids).

    A tree: the sorted relative paths of its images with sizes and modification times (a stat per
    file; no image is read). An archive: its size and content hash (blake2b, ~0.05 s for the 19 MB
    CIFAR-10 archive); its path and mtime are left out, so a moved or copied archive is the same data.
    Computed once per process (so once per Snakemake invocation, for all runs of the dataset).
    """
    if dataset_spec.get("source") != "imagefolder":
        return None
    root = dataset_spec.get("root", "")
    if os.path.isdir(root):
        return {"tree": _tree_identity(os.path.abspath(root)), "decoder": IMAGEFOLDER_DECODER}
    if os.path.isfile(root):
        from .data.inspect import archive_digest

        return {"archive": archive_digest(root), "bytes": os.path.getsize(root), "decoder": IMAGEFOLDER_DECODER}
    return {"missing": root}


@lru_cache(maxsize=32)
def _tree_identity(root: str) -> str:
    from .data.inspect import tree_files

    digest = hashlib.blake2b(digest_size=16)
    for split, classes in sorted(tree_files(root).items()):
        for cls, files in sorted(classes.items()):
            for f in files:
                st = f.stat()
                digest.update(f"{split}/{cls}/{f.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def dataset_hash(dataset_spec: dict) -> str:
    """Hash of what a dataset spec's images and labels are: its settings, and an ImageFolder's content
    (source_identity) in place of its path."""
    source = dataset_spec.get("source")
    drop = DATA_LOCATION if source in ("cifar10", "cifar100", "fashion_mnist", "svhn", "imagefolder") else ("download",)
    settings = {k: v for k, v in dataset_spec.items() if k not in drop}
    if (settings.get("label_noise") or {}).get("kind", "none") == "none":
        settings.pop("label_noise", None)  # no noise: the cache names and run ids of before label_noise existed
    if source == "imagefolder":
        settings["content"] = source_identity(dataset_spec)
    return config_hash(settings)


def run_hash(spec: dict) -> str:
    """Hash of everything in a run spec that changes its numbers."""
    train = {k: v for k, v in spec.get("train", {}).items() if k not in NOT_HASHED}
    rest = {k: v for k, v in spec.items() if k not in ("run_id", "dataset_spec")}
    data = dataset_hash(spec["dataset_spec"]) if "dataset_spec" in spec else None
    return config_hash({**rest, "train": train, "dataset_spec": data, "results_version": RESULTS_VERSION})


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@lru_cache(maxsize=1)
def git_state() -> dict:
    """Commit of the checkout that holds this package, and whether it has uncommitted changes."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        if commit.returncode != 0:
            return {"commit": "unknown", "dirty": None}
        status = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=all"],
                                capture_output=True, text=True, timeout=10)
        # dirty: a changed tracked file, or a new file of the code (a new method under src/, a rule)
        changes = [line for line in status.stdout.splitlines()
                   if not line.startswith("??") or line[3:].startswith(("src/", "workflow/"))]
        return {"commit": commit.stdout.strip(), "dirty": bool(changes)}
    except (OSError, subprocess.SubprocessError):
        return {"commit": "unknown", "dirty": None}


def versions() -> dict:
    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def device_info(device) -> dict:
    import torch

    info = {"device": str(device), "cpu": platform.processor() or platform.machine(), "torch_threads": torch.get_num_threads()}
    info["cuda"] = torch.version.cuda
    if torch.cuda.is_available():
        if str(device).startswith("cuda"):
            info["gpu"] = torch.cuda.get_device_name(device)
    return info


# ---- a record's own integrity: run.json and score.json carry a digest of their content ----
# The tables of a run are checked against run.json (analysis/aggregate.py), but run.json's own fields (the timing
# the wall-clock speedups read, the spec, the hash) were trusted as they stood: an edited train_seconds or finish
# time changed the speedups silently. A sealed record carries the sha256 of its canonical JSON, so an edit shows.

SEAL = "integrity"


def _canonical(record: dict) -> bytes:
    """The record as JSON with sorted keys and no spacing, after one JSON round trip (so the digest of what was
    written equals the digest of what is read back: tuples become lists, keys strings, objects their str)."""
    plain = json.loads(json.dumps({k: v for k, v in record.items() if k != SEAL}, default=str))
    return json.dumps(plain, sort_keys=True, separators=(",", ":")).encode()


def seal(record: dict) -> dict:
    """`record` with its integrity digest added (written last by steps.py: run.json, score.json)."""
    return {**record, SEAL: {"sha256": hashlib.sha256(_canonical(record)).hexdigest()}}


def seal_problem(record: dict) -> str | None:
    """What is wrong with a record's seal: None when it matches; a sentence when it is absent or differs."""
    stored = (record.get(SEAL) or {}).get("sha256") if isinstance(record.get(SEAL), dict) else None
    if stored is None:
        return "has no integrity record (written before records were sealed, or the record was removed)"
    if hashlib.sha256(_canonical(record)).hexdigest() != stored:
        return "its content differs from its integrity record (a field was edited after the step wrote it)"
    return None

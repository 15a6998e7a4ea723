"""What made a result: versions, device, git commit, config hash.

Recorded in every run.json and summary so a number can be traced back to the
code and settings that produced it.
"""

from __future__ import annotations

import hashlib
import json
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


# settings that do not change a run's numbers, left out of its hash
NOT_HASHED = ("device", "threads", "compile", "eval_batch_size", "checkpoint_every")


def run_hash(spec: dict) -> str:
    """Hash of everything in a run spec that changes its numbers."""
    train = {k: v for k, v in spec.get("train", {}).items() if k not in NOT_HASHED}
    return config_hash({**{k: v for k, v in spec.items() if k != "run_id"}, "train": train})


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
        status = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, timeout=10
        )
        return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}
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

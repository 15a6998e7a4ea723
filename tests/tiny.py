"""Tiny datasets and run specs shared by the engine tests (no download, seconds on a CPU)."""

import subprocess
import sys
from pathlib import Path

import torch
import yaml

from sample_importance.data import datasets as data

REPO = Path(__file__).resolve().parents[1]

# the whole workflow on a tiny config: long-tailed digits, uniform vs biased, 2 budgets, 2 seeds (~20 jobs)
WORKFLOW = {
    "datasets": {"digits_lt": {"source": "digits", "imbalance": {"kind": "long_tailed", "ratio": 5}}},
    "models": ["cnn"],
    "methods": {"uniform": {"method": "uniform"}, "biased": {"method": "biased", "warmup_epochs": 2}},
    "augmentations": ["crop"],
    "budgets": [0.5, 1.0],
    "seeds": [0, 1],
    "train": {"epochs": 6, "batch_size": 32, "lr": 0.05, "eval_every": 10, "width": 16, "device": "cpu"},
}


def run_snakemake(workdir: Path, config: dict | None, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    """The repo's Snakefile on `config` (written to workdir/config.yaml unless None), in workdir."""
    if config is not None:
        (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--cores", "2", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)

TRAIN = {"epochs": 4, "batch_size": 32, "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4, "schedule": "linear",
         "eval_every": 10, "device": "cpu", "threads": 1, "width": 8}


def digits(imbalance: dict | None = None) -> data.Dataset:
    return data.build("digits", {"source": "digits", "imbalance": imbalance or {}})


def spec(method="uniform", params=None, budget=1.0, seed=0, augmentation="crop", **train) -> dict:
    return {"dataset": "digits", "model": "cnn", "augmentation": augmentation, "budget": budget, "seed": seed,
            "label": method, "method": method, "method_params": params or {}, "train": {**TRAIN, **train}}


def blobs(n_per_class=32, n_classes=4, size=8, seed=0) -> data.Dataset:
    """Separable synthetic images: class c has a bright c-th horizontal band."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n_classes).repeat_interleave(n_per_class)
    x = torch.randint(0, 60, (len(y), 1, size, size), generator=g, dtype=torch.uint8)
    band = size // n_classes
    for c in range(n_classes):
        x[y == c, :, c * band:(c + 1) * band] += 180
    split = data.Split(x, y)
    scaled = x.float() / 255
    return data.Dataset("blobs", [str(c) for c in range(n_classes)], split, data.Split(x.clone(), y.clone()),
                        torch.arange(len(y)), scaled.mean((0, 2, 3)), scaled.std((0, 2, 3)), {"source": "synthetic"})


N_CLASSES = 4


def tiny_images(n: int, seed: int, flip: int = 0) -> data.Split:
    """8x8 one-channel images; class c lights up quadrant c (linearly separable). The first `flip` labels are wrong."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % N_CLASSES
    x = torch.randint(0, 60, (n, 1, 8, 8), generator=g)
    for c in range(N_CLASSES):
        r, q = divmod(c, 2)
        x[y == c, :, 4 * r : 4 * r + 4, 4 * q : 4 * q + 4] += 180
    labels = y.clone()
    labels[:flip] = (labels[:flip] + 1) % N_CLASSES
    return data.Split(x.to(torch.uint8), labels)


def tiny_dataset(n_train: int = 64, flip: int = 0) -> data.Dataset:
    train, test = tiny_images(n_train, 0, flip), tiny_images(32, 1)
    scaled = train.x.float() / 255
    return data.Dataset("tiny", [str(c) for c in range(N_CLASSES)], train, test, torch.arange(n_train),
                   scaled.mean(dim=(0, 2, 3)), scaled.std(dim=(0, 2, 3)), {"source": "synthetic"})

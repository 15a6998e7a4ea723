"""Helpers shared by the benchmark scripts: the machine line, timing, synthetic data, run specs.

Every benchmark prints a ratio measured in one process beside the absolute
numbers it comes from, and one `machine:` line, so that a figure copied into
benchmarks/README.md says where it was measured.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "src") not in sys.path:  # run from a checkout without the editable install, too
    sys.path.insert(0, str(ROOT / "src"))


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def machine_line(device: torch.device | str | None = None) -> str:
    """CPU model, cores, torch version, CUDA device (if any), threads and the load average at the time."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    parts = [f"cpu: {cpu_model()}", f"cores: {cores}", f"torch {torch.__version__}",
             f"threads: {torch.get_num_threads()}"]
    if torch.cuda.is_available():
        index = torch.device(device).index if device is not None and torch.device(device).type == "cuda" else None
        parts.append(f"cuda: {torch.cuda.get_device_name(index or 0)}")
    else:
        parts.append("cuda: none")
    parts.append(f"load average: {load_average()}")
    return "machine: " + "; ".join(parts)


def synchronize(device: torch.device | str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


class Stopwatch:
    """Wall and process-CPU seconds of repeated blocks.

    On a shared CPU, the process's CPU time barely moves when other jobs compete
    for the cores, while wall time does; with one thread, CPU time is the work
    done, so ratios of CPU times are the steadier figure there. On a GPU only
    wall time (after synchronising) means anything.
    """

    def __init__(self, device: torch.device | str = "cpu"):
        self.device = device
        self.wall: list[float] = []
        self.cpu: list[float] = []

    @contextmanager
    def __call__(self):
        synchronize(self.device)
        wall, cpu = time.perf_counter(), time.process_time()
        yield
        synchronize(self.device)
        self.wall.append(time.perf_counter() - wall)
        self.cpu.append(time.process_time() - cpu)


def sgd_step(forward, optimizer, autocast, x: torch.Tensor, y: torch.Tensor) -> None:
    """One plain forward + cross-entropy + backward + optimizer step: the baseline both benchmarks compare against."""
    with autocast():
        logits = forward(x)
    loss = torch.nn.functional.cross_entropy(logits.float(), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def median(values: list[float]) -> float:
    return statistics.median(values)


def synthetic_cifar(n_train: int, n_test: int = 256, n_classes: int = 10, size: int = 32, seed: int = 0):
    """CIFAR-shaped data (uint8 [N, 3, size, size], 10 classes): a fixed random pattern per class plus noise.

    Learnable, so losses differ between samples as on real data; made in memory,
    so no benchmark needs a download.
    """
    from sample_importance.data.datasets import Dataset, Split

    g = torch.Generator().manual_seed(seed)
    patterns = torch.rand(n_classes, 3, size, size, generator=g)

    def split(n: int) -> Split:
        y = torch.randint(0, n_classes, (n,), generator=g)
        x = 0.5 * patterns[y] + 0.5 * torch.rand(n, 3, size, size, generator=g)
        return Split((x * 255).round().to(torch.uint8), y)

    train, test = split(n_train), split(n_test)
    scaled = train.x.float() / 255
    return Dataset(f"synthetic{size}", [str(c) for c in range(n_classes)], train, test, torch.arange(n_train),
                   scaled.mean(dim=(0, 2, 3)), scaled.std(dim=(0, 2, 3)), {"source": "synthetic"})


def run_spec(model: str = "cnn", width: int = 32, batch_size: int = 128, epochs: int = 1000, device: str = "cpu",
             threads: int = 1, augmentation: str = "standard", method: str = "uniform", **train) -> dict:
    """A run spec for the engine with evaluation pushed out of the way (eval_every huge)."""
    return {
        "seed": 0, "budget": 1.0, "model": model, "augmentation": augmentation, "method": method,
        "method_params": {}, "label": method, "dataset": "synthetic",
        "train": {"epochs": epochs, "batch_size": batch_size, "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4,
                  "schedule": "linear", "eval_every": 10**9, "device": device, "threads": threads, "width": width,
                  **train},
    }


def config_run_spec(config_path, method: str = "uniform") -> tuple[dict, dict]:
    """(validated config, the spec of its first run of `method`): the runs a benchmark times are real grid runs."""
    from sample_importance.config import load_config, validate
    from sample_importance.grid import expand

    config = validate(load_config(config_path))
    spec = next(s for s in expand(config).runs.values() if s["method"] == method)
    return config, spec

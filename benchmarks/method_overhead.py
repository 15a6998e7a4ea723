"""Per-epoch wall time of every registered method relative to `uniform`, measured in one process.

All methods train the same small CNN on the same synthetic 32x32 data (10
classes, a fixed random pattern per class plus noise, so that losses differ
between samples as on real data) with the same engine settings. Each method
first runs `--warmup` untimed epochs (staged methods score after one, so their
one-time scoring is not in the timed epochs and stateful methods have
statistics), then the timed epochs run interleaved across methods (one epoch of
each in turn), so that drift in the machine's load hits every method alike.
No evaluation runs inside the timed epochs.

Reported per method: median wall seconds per epoch and per optimizer step,
both as a ratio to uniform; the ratio of CPU seconds per epoch of this process
(less sensitive than wall time to other jobs sharing the cores); and per epoch
the optimizer steps, examples forwarded and back-propagated. Methods that prune (infobatch, el2n_prune) or select
(selective_backprop) have epochs with fewer steps, so the per-step ratio is
the overhead of the method's own work and the per-epoch ratio its pass over
the data. `upper_bound_is[tau=0]` forces importance sampling on from the
second step (with the default tau it may stay off on short runs).

    .venv/bin/python benchmarks/method_overhead.py            # about 2 minutes on 2 laptop cores
    .venv/bin/python benchmarks/method_overhead.py --help
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from sample_importance.data.datasets import Dataset, Split
from sample_importance.training.engine import Trainer
from sample_importance.methods import method_class, names

EXTRA_VARIANTS = {"upper_bound_is[tau=0]": ("upper_bound_is", {"tau": 0.0})}


def synthetic_dataset(n_train: int, n_classes: int = 10, size: int = 32, seed: int = 0) -> Dataset:
    g = torch.Generator().manual_seed(seed)
    patterns = torch.rand(n_classes, 3, size, size, generator=g)

    def split(n):
        y = torch.randint(0, n_classes, (n,), generator=g)
        x = 0.5 * patterns[y] + 0.5 * torch.rand(n, 3, size, size, generator=g)
        return Split((x * 255).round().to(torch.uint8), y)

    train, test = split(n_train), split(256)
    scaled = train.x.float() / 255
    return Dataset("synthetic32", [str(c) for c in range(n_classes)], train, test, torch.arange(n_train),
                   scaled.mean(dim=(0, 2, 3)), scaled.std(dim=(0, 2, 3)), {"source": "synthetic"})


def make_trainer(method: str, params: dict, data: Dataset, args) -> Trainer:
    defaults = method_class(method).defaults
    if "warmup_epochs" in defaults:  # one scoring epoch (and one scoring run for static pruning), not the paper's
        params = {"warmup_epochs": 1, **({"score_seeds": [0]} if "score_seeds" in defaults else {}), **params}
    spec = {
        "seed": 0, "budget": 1.0, "model": "cnn", "augmentation": "standard", "method": method,
        "method_params": params, "label": method,
        "train": {"epochs": 1000, "batch_size": args.batch_size, "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4,
                  "width": args.width, "eval_every": 10**9, "device": args.device, "threads": args.threads},
    }
    return Trainer(spec, data, progress=False)


def counters(t: Trainer) -> tuple[int, int, int]:
    return t.step, t.examples_forwarded, t.examples_backpropagated


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-train", type=int, default=2048)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--width", type=int, default=16, help="channels of the small CNN's first layer")
    parser.add_argument("--warmup", type=int, default=2, help="untimed epochs per method")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per method")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)

    data = synthetic_dataset(args.n_train)
    variants = {name: (name, {}) for name in names()} | EXTRA_VARIANTS
    trainers = {}
    for label, (method, params) in variants.items():
        t = make_trainer(method, params, data, args)
        t.run(until_epoch=args.warmup)
        trainers[label] = t

    seconds = {label: [] for label in variants}
    cpu_seconds = {label: [] for label in variants}
    work = {label: [] for label in variants}
    for _ in range(args.epochs):
        for label, t in trainers.items():
            before = counters(t)
            if t.device.type == "cuda":
                torch.cuda.synchronize(t.device)
            start, cpu_start = time.perf_counter(), time.process_time()
            t.run(until_epoch=t.epoch + 1)
            if t.device.type == "cuda":
                torch.cuda.synchronize(t.device)
            seconds[label].append(time.perf_counter() - start)
            cpu_seconds[label].append(time.process_time() - cpu_start)
            work[label].append([a - b for a, b in zip(counters(t), before)])

    base_epoch = statistics.median(seconds["uniform"])
    base_step = base_epoch / statistics.mean(w[0] for w in work["uniform"])
    base_cpu = statistics.median(cpu_seconds["uniform"])
    device = t.device if t.device.type == "cpu" else torch.cuda.get_device_name(t.device)
    print(f"machine: {cpu_model()} | device {device} | torch {torch.__version__} | threads {args.threads} | "
          f"python {platform.python_version()}")
    print(f"data: synthetic 3x32x32, {args.n_train} train, 10 classes, standard augmentation | model cnn width "
          f"{args.width} | batch {args.batch_size} | {args.warmup} untimed + {args.epochs} timed epochs each, interleaved")
    header = (f"{'method':<24}{'s/epoch':>9}{'x uniform':>10}{'s/step':>9}{'x uniform':>10}{'cpu x unif':>11}"
              f"{'steps':>7}{'forward':>9}{'backprop':>9}")
    print(header)
    print("-" * len(header))
    for label in variants:
        per_epoch = statistics.median(seconds[label])
        steps, forwarded, backprop = (statistics.mean(col) for col in zip(*work[label]))
        per_step = per_epoch / steps if steps else float("nan")
        cpu_ratio = statistics.median(cpu_seconds[label]) / base_cpu
        print(f"{label:<24}{per_epoch:>9.3f}{per_epoch / base_epoch:>10.2f}{per_step:>9.4f}{per_step / base_step:>10.2f}"
              f"{cpu_ratio:>11.2f}{steps:>7.1f}{forwarded:>9.0f}{backprop:>9.0f}")


if __name__ == "__main__":
    main()

"""What a grid will cost on this machine, before it runs: calibrate on the device, project every job.

    python -m sample_importance estimate CONFIG [CONFIG ...] [--device D] [--concurrency N] [--out CSV]

One job: (1) time a short calibration on the current device for each distinct kind of training job
the config implies, and (2) project every job Snakemake would run from it.

Kinds. A step's cost depends on the image shape, the model (and width), the augmentation, the batch
size and the method family; not on the number of training images, which only sets how many steps
an epoch has. Each kind is timed on synthetic images of its shape (no download, no cache needed):

    plain      uniform, uniform_replacement, unif_sgd, p_sgd, c_sgd, loss_rank, infobatch, and every
               warm-up and train_pruned job: one forward + backward per optimizer step
    selecting  selective_backprop, upper_bound_is, rho_loss: extra forwards to choose each batch,
               charged to the budget (Trainer.step_charge), so fewer optimizer steps per budget
    staged     biased, el2n_inrun after their warm-up (the `continue` rule): weighted draws
    scoring    el2n_prune's score_checkpoints: one forward over the training set per scoring seed

plain is timed for every (shape, model, width, augmentation, batch); the staged family, and each selecting
method with its parameters, once per (shape, model, width, batch) on the config's first augmentation, as a
ratio to plain on it. Time is
counted per charged iteration (the budget's unit): a run of budget b costs b x epochs x
ceil(n / batch) of them, whatever the method does with them. Evaluation is timed separately (per
test image), and so are what every job pays once: process start-up and imports (a fresh
interpreter, measured here) and the first steps (`torch.compile`, cuDNN autotuning, allocator
warm-up), which the steady-state rate excludes. The clock (`clock`): wall seconds on a GPU; on a
CPU the process's CPU seconds per thread, i.e. the wall time of an idle machine, so a calibration
taken while others share the cores still projects the machine to itself.

Projection. Every job of the DAG (`snakemake -n` counts the same jobs: prepare_data, warmup, train,
score, continue, score_checkpoints, train_pruned, the analysis jobs and `all`) gets a duration;
a list schedule with N slots (longest remaining path first) gives the wall time at N concurrent
runs. With N runs sharing one device, each run is slowed by N / throughput(N): on a CPU,
throughput(N) = min(N, cores / threads per job); on a GPU pass `--throughput` from
benchmarks/concurrent_runs.py (runs/hour at N / at 1), or it assumes no gain (1.0).

Constants that are not calibrated (seconds, from the default run's log on this team's 2-core CPU)
are named below; they matter only for small grids, where per-job overheads dominate.
"""

from __future__ import annotations

import csv
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

SELECTING = ("selective_backprop", "upper_bound_is", "rho_loss")
SELECTING_BATCHES = 12  # a selecting method's calibration set: enough candidates for a step or more per epoch
# method parameters that are a number of epochs of a preliminary phase: 1 in the calibration run, so the
# phase the run spends most of its budget in is reached after a few steps
PHASE_PARAMS = ("warmup_epochs", "uniform_epochs", "prime_epochs", "irreducible_epochs")

SNAKEMAKE_START_S = 3.0  # Snakemake's own start: import, config check, DAG (benchmarks/README: `snakemake -n`)
SNAKEMAKE_PER_JOB_S = 0.004  # DAG building per job (12.9 s for 3,468 jobs)
JOB_OVERHEAD_S = 0.6  # Snakemake launching a job: shell, benchmark thread, output checks (default run's log)
OUTPUT_S = 0.15  # a training job writing its tables and run.json
SCORE_S = 0.3  # the score step's own work (numpy on the records), after its start-up
ANALYSIS_PER_RUN_S = {"aggregate": 0.03, "plots": 0.005, "claims": 0.002, "html_tables": 0.0,
                      "importance_tables": 0.02, "importance_plots": 0.05, "noise_tables": 0.01,
                      "noise_plots": 0.0, "figures_readme": 0.0}
PREPARE_S_PER_IMAGE = {"digits": 0.0, "imagefolder": 2.5e-4, "torchvision": 3e-5}  # decode, stack, save
SOURCE_SHAPES = {  # (channels, size, classes, train, test) of the sources whose size is known without reading them
    "cifar10": (3, 32, 10, 50000, 10000), "cifar100": (3, 32, 100, 50000, 10000),
    "fashion_mnist": (1, 28, 10, 60000, 10000), "svhn": (3, 32, 10, 73257, 26032),
}
TRAINING_RULES = ("warmup", "train", "continue", "score_checkpoints", "train_pruned")


def family(method: str) -> str:
    from ..methods import method_class

    cls = method_class(method)
    if getattr(cls, "static", False):
        return "scoring"
    if cls.staged:
        return "staged"
    return "selecting" if method in SELECTING else "plain"


# ----------------------------------------------------------------------------- shapes


@dataclass(frozen=True)
class Shape:
    channels: int
    size: int
    n_classes: int
    n_train: int
    n_test: int


def dataset_shape(name: str, spec: dict) -> Shape:
    """Image shape and split sizes of a dataset variant, from the config (and an ImageFolder's listing)."""
    from ..config import DIGITS_CLASS_COUNTS, estimated_train_counts

    source = spec["source"]
    if source == "digits":
        total = sum(DIGITS_CLASS_COUNTS)
        test = math.ceil(spec.get("test_fraction", 0.2) * total)
        channels, size, classes, source_counts = 1, 8, 10, None
    elif source == "imagefolder":
        from ..data.inspect import summarize

        summary = summarize(spec["root"])
        first = summary.first_image.get("train", {})
        channels = 1 if first.get("mode") in ("L", "I", "I;16", "1") else 3
        size, classes = int(first.get("width", 32)), len(summary.classes)
        test = sum(summary.counts.get("test", {}).values())
        source_counts = summary.train_counts()
    else:
        channels, size, classes, train, test = SOURCE_SHAPES[source]
        source_counts = [train // classes] * classes
    counts = estimated_train_counts(name, spec, source_counts) or source_counts
    return Shape(channels, size, classes, int(sum(counts)), int(test))


# ----------------------------------------------------------------------------- calibration


@dataclass
class Rate:
    """Seconds per charged iteration (steady state), optimizer steps per charged iteration, first-steps overhead."""

    seconds: float
    steps_per_charge: float = 1.0
    first_s: float = 0.0
    build_s: float = 0.0
    timed_steps: int = 0


@dataclass
class Calibration:
    device: str
    threads: int
    startup_s: float = 0.0  # a training job's process: interpreter, torch, the package, pandas
    analysis_startup_s: float = 0.0  # an analysis job's process: pandas, scipy, matplotlib
    plain: dict = field(default_factory=dict)  # (shape key, aug) -> Rate
    ratio: dict = field(default_factory=dict)  # _ratio_key -> (Rate on the first aug, plain Rate on it)
    eval_s: dict = field(default_factory=dict)  # shape key -> seconds per test image
    seconds: float = 0.0  # what the calibration took


def clock() -> float:
    """The calibration's clock. On a GPU: wall seconds (the timed code synchronises). On a CPU: this process's
    CPU seconds per thread it can use, which is the wall time of the same work on an idle machine and barely
    moves when other jobs share the cores; the projection is then the grid's wall time with the machine to
    itself (benchmarks/README.md: CPU time is the steadier figure on a shared machine)."""
    if _CLOCK["device"] == "cuda":
        return time.perf_counter()
    return time.process_time() / _CLOCK["threads"]


_CLOCK = {"device": "cpu", "threads": 1}


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _synthetic(shape: Shape, n_train: int, n_test: int, seed: int = 0):
    """Learnable images of `shape` (a fixed pattern per class plus noise), made in memory."""
    import torch

    from ..data.datasets import Dataset, Split

    g = torch.Generator().manual_seed(seed)
    c, s, k = shape.channels, shape.size, shape.n_classes
    patterns = torch.rand(k, c, s, s, generator=g)

    def split(n: int) -> Split:
        y = torch.arange(n) % k
        x = 0.5 * patterns[y] + 0.5 * torch.rand(n, c, s, s, generator=g)
        return Split((x * 255).round().to(torch.uint8), y)

    train, test = split(n_train), split(n_test)
    scaled = train.x.float() / 255
    return Dataset("calibration", [str(i) for i in range(k)], train, test, torch.arange(n_train),
                   scaled.mean(dim=(0, 2, 3)), scaled.std(dim=(0, 2, 3)), {"source": "synthetic"})


def _spec(run: dict, train_cfg: dict, method: str, params: dict) -> dict:
    params = {k: (1 if k in PHASE_PARAMS else v) for k, v in params.items()}
    return {**run, "method": method, "method_params": params, "label": method, "budget": 1.0, "seed": 0,
            "staged": False, "train": {**train_cfg, "epochs": 10**6, "eval_every": 10**9, "checkpoint_every": 0}}


def _time_rate(trainer, min_seconds: float, max_steps: int) -> Rate:
    """Steady-state seconds per charged iteration of a Trainer already past its first epochs."""
    import torch

    def sync():
        if trainer.device.type == "cuda":
            torch.cuda.synchronize(trainer.device)

    sync()
    t0, c0, s0 = clock(), trainer.charged, trainer.step
    while True:
        trainer.run(until_epoch=trainer.epoch + 1)
        sync()
        elapsed = clock() - t0
        if trainer.step > s0 and (elapsed >= min_seconds or trainer.step - s0 >= max_steps):
            break
        if trainer.step == s0 and trainer.epoch > 50:
            raise RuntimeError(f"calibrating {trainer.spec['method']}: no optimizer step in 50 epochs of "
                               f"{trainer.n_train} synthetic images; the method needs a larger set to choose from")
    charged, steps = trainer.charged - c0, trainer.step - s0
    return Rate(elapsed / charged, steps / charged, timed_steps=steps)


def calibrate_kind(shape: Shape, run: dict, train_cfg: dict, method: str, params: dict, min_seconds: float,
                   max_batches: int = 32) -> Rate:
    """Time one kind on synthetic data: a 2-step probe (first steps: compile, autotuning, allocation), then a
    Trainer whose epochs last about `min_seconds` (at most `max_batches` batches, at most the dataset's size),
    run past its priming epochs, timed over whole epochs (so per-epoch work is counted as in a real run)."""
    import torch

    from ..training.engine import Trainer

    def sync(trainer):
        if trainer.device.type == "cuda":
            torch.cuda.synchronize(trainer.device)

    batch = int(train_cfg["batch_size"])
    spec = _spec(run, train_cfg, method, params)
    t0 = clock()
    probe = Trainer(_spec(run, train_cfg, "uniform", {}), _synthetic(shape, 2 * batch, shape.n_classes), progress=False)
    build = clock() - t0
    t0 = clock()
    probe.run(until_epoch=1)
    sync(probe)
    probe_s = clock() - t0
    k = max(2, min(max_batches, math.ceil(min_seconds / max(probe_s / 2, 1e-6))))
    if method in SELECTING:  # it forwards several batches' worth of candidates to choose one (rho_loss: 10)
        k = max(k, SELECTING_BATCHES)
    k = min(k, max(2, math.ceil(shape.n_train / batch)))
    if method == "uniform" and k == 2:  # the probe is this kind, already past its first steps
        trainer, phase = probe, probe.epoch
    else:
        trainer = Trainer(spec, _synthetic(shape, min(k * batch, max(shape.n_train, 2 * batch)), shape.n_classes),
                          progress=False)
        phase = max([int(v) for k_, v in spec["method_params"].items() if k_ in PHASE_PARAMS] or [0])
        # a fresh model's first steps (allocation, a compile) are not steady state: an epoch of few steps
        # would count them, so such an epoch is run once untimed
        phase += 1 if (k <= 4 or (train_cfg.get("compile") and trainer.device.type == "cuda")) else 0
    if phase:
        trainer.run(until_epoch=phase)  # priming epochs (and a compile): not the phase a run spends its budget in
    rate = _time_rate(trainer, min_seconds, max_steps=10**6)
    rate.first_s = max(0.0, probe_s - probe.charged * rate.seconds) if method == "uniform" else 0.0
    rate.build_s = build
    return rate


def calibrate_eval(shape: Shape, run: dict, train_cfg: dict) -> float:
    """Seconds per test image of an evaluation pass (also a forward over the training set: score_checkpoints)."""
    from ..training.engine import Trainer

    n_test = min(shape.n_test, int(train_cfg.get("eval_batch_size", 1024)), 512)  # whole batches: per image is flat
    trainer = Trainer(_spec(run, train_cfg, "uniform", {}), _synthetic(shape, 2 * shape.n_classes, max(n_test, 1)),
                      progress=False)
    trainer.evaluate()  # first pass: allocation, autotuning
    best = math.inf
    for _ in range(2 if n_test * shape.size**2 < 10**6 else 1):  # one pass where a pass is long (ResNet on a CPU)
        t0 = clock()
        trainer.evaluate()
        best = min(best, clock() - t0)
    return best / max(n_test, 1)


def measure_startup(modules: str) -> float:
    """Wall seconds of a fresh interpreter importing `modules` and leaving at once (as the steps do: os._exit)."""
    src = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p)}
    code = f"import os, sys; import {modules}; sys.stdout.flush(); os._exit(0)"
    t0, c0 = time.perf_counter(), _children_cpu()
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    return time.perf_counter() - t0 if _CLOCK["device"] == "cuda" else _children_cpu() - c0


# ----------------------------------------------------------------------------- the grid's jobs


@dataclass
class Job:
    rule: str
    name: str
    dataset: str  # "" for jobs over the whole grid
    seconds: float = 0.0
    deps: list[str] = field(default_factory=list)
    device: bool = False  # a training job (shares the device); else a host job

    @property
    def key(self) -> str:
        return f"{self.rule}:{self.name}"


def _shape_key(shape: Shape, run: dict, train_cfg: dict) -> tuple:
    return (shape.channels, shape.size, run["model"], int(train_cfg.get("width", 32)), int(train_cfg["batch_size"]))


def _ratio_key(skey: tuple, run: dict) -> tuple:
    """What a non-plain kind is timed per: a selecting method with its parameters (their extra forwards differ);
    the staged family once (every staged continuation is a weighted draw of the same cost)."""
    fam = family(run["method"])
    if fam == "selecting":
        return (skey, run["method"], _params_key(run["method_params"]))
    return (skey, fam, "")


def _params_key(params: dict) -> str:
    """Parameters that can change a step's cost (the length of a priming phase cannot: it is 1 when timed)."""
    import json

    return json.dumps({k: v for k, v in params.items() if k not in PHASE_PARAMS}, sort_keys=True)


def jobs_of(config: dict) -> tuple[list[Job], dict]:
    """Every job Snakemake runs for `config` (no durations yet) and the shape of each dataset."""
    from ..grid import expand
    from ..outputs import importance_figure_files, noise_files

    grid = expand(config)
    shapes = {name: dataset_shape(name, spec) for name, spec in config["datasets"].items()}
    jobs: list[Job] = [Job("prepare_data", d, d) for d in config["datasets"]]
    prep = {d: f"prepare_data:{d}" for d in config["datasets"]}
    for wid, w in grid.warmups.items():
        jobs.append(Job("warmup", wid, w["dataset"], deps=[prep[w["dataset"]]], device=True))
    finished = []
    for rid, r in grid.runs.items():
        d = r["dataset"]
        if r["staged"]:
            jobs.append(Job("score", rid, d, deps=[f"warmup:{r['score_warmup_id']}"]))
            jobs.append(Job("continue", rid, d, deps=[f"score:{rid}", f"warmup:{r['warmup_id']}", prep[d]], device=True))
            finished.append(f"continue:{rid}")
        elif "score_warmup_ids" in r:
            jobs.append(Job("score_checkpoints", rid, d, deps=[prep[d], *(f"warmup:{w}" for w in r["score_warmup_ids"])],
                            device=True))
            jobs.append(Job("train_pruned", rid, d, deps=[f"score_checkpoints:{rid}", prep[d]], device=True))
            finished.append(f"train_pruned:{rid}")
        else:
            jobs.append(Job("train", rid, d, deps=[prep[d]], device=True))
            finished.append(f"train:{rid}")
    warmups = [f"warmup:{w}" for w in grid.warmups]
    analysis = [Job("aggregate", "summary", "", deps=finished)]
    if grid.warmups:
        analysis.append(Job("importance_tables", "summary", "", deps=warmups))
    extra = ["importance_tables:summary"] if grid.warmups else []
    analysis += [Job("claims", "summary", "", deps=["aggregate:summary", *extra]),
                 Job("plots", "summary", "", deps=["aggregate:summary"]),
                 Job("html_tables", "summary", "", deps=["aggregate:summary", "claims:summary"])]
    readme = ["plots:summary"]
    if importance_figure_files(config, grid.figures, with_warmups=bool(grid.warmups)):
        analysis.append(Job("importance_plots", "summary", "", deps=["aggregate:summary", *extra, *warmups, *prep.values()]))
        readme.append("importance_plots:summary")
    if noise_files(config, grid.results):
        analysis += [Job("noise_tables", "summary", "", deps=["aggregate:summary", *warmups, *prep.values()]),
                     Job("noise_plots", "summary", "", deps=["noise_tables:summary"])]
    analysis.append(Job("figures_readme", "summary", "", deps=readme))
    jobs += analysis
    jobs.append(Job("all", "all", "", deps=[j.key for j in analysis]))
    return jobs, {"grid": grid, "shapes": shapes, "config": config}


# ----------------------------------------------------------------------------- estimate


@dataclass
class Estimate:
    jobs: list[Job]
    calibration: Calibration
    concurrency: int
    throughput: float
    wall_s: float  # at `concurrency` runs at a time, with Snakemake's own start
    critical_s: float
    critical_path: list[str]
    notes: list[str] = field(default_factory=list)

    def rows(self) -> list[dict]:
        """The table: hours per rule, per dataset, the total (serial and at N), the critical path."""
        out = []

        def add(level, name, jobs):
            device = sum(j.seconds for j in jobs if j.device)
            out.append({"level": level, "name": name, "jobs": len(jobs),
                        "hours": round(sum(j.seconds for j in jobs) / 3600, 6),
                        "device_hours": round(device / 3600, 6)})

        rules = list(dict.fromkeys(j.rule for j in self.jobs))
        for rule in rules:
            add("rule", rule, [j for j in self.jobs if j.rule == rule])
        for dataset in dict.fromkeys(j.dataset for j in self.jobs if j.dataset):
            add("dataset", dataset, [j for j in self.jobs if j.dataset == dataset])
        add("total", "serial (1 at a time)", self.jobs)
        out.append({"level": "total", "name": f"wall at {self.concurrency} concurrent", "jobs": len(self.jobs),
                    "hours": round(self.wall_s / 3600, 6), "device_hours": ""})
        out.append({"level": "critical_path", "name": " > ".join(self.critical_path), "jobs": len(self.critical_path),
                    "hours": round(self.critical_s / 3600, 6), "device_hours": ""})
        return out


def _run_seconds(rule: str, run: dict, shape: Shape, cal: Calibration, warmup_epochs: int | None = None) -> float:
    """A training job's duration at one job on the device: start-up, build, first steps, steps, evaluations."""
    from ..training.schedule import budget_steps

    cfg = run["train"]
    batch, every = int(cfg["batch_size"]), int(cfg["eval_every"])
    total, _ = budget_steps(float(run["budget"]), int(cfg["epochs"]), shape.n_train, batch)
    skey = _shape_key(shape, run, cfg)
    plain = cal.plain[(skey, run["augmentation"])]
    rate = plain
    fam = family(run["method"])
    if rule in ("train", "continue") and fam in ("selecting", "staged"):  # train_pruned, warmup: plain steps
        fam_rate, fam_plain = cal.ratio[_ratio_key(skey, run)]
        rate = Rate(plain.seconds * fam_rate.seconds / fam_plain.seconds, fam_rate.steps_per_charge,
                    plain.first_s, plain.build_s)
    charged = total
    if rule == "warmup":
        charged = min(total, warmup_epochs * math.ceil(shape.n_train / batch))
    elif rule == "continue":
        charged = total - min(total, int(run["method_params"]["warmup_epochs"]) * math.ceil(shape.n_train / batch))
    steps = charged * rate.steps_per_charge
    evals = 1 + steps // every + (1 if steps % every else 0)
    return (cal.startup_s + JOB_OVERHEAD_S + rate.build_s + rate.first_s + charged * rate.seconds
            + evals * shape.n_test * cal.eval_s[skey] + OUTPUT_S)


def durations(jobs: list[Job], info: dict, cal: Calibration) -> None:
    grid, shapes = info["grid"], info["shapes"]
    runs, n_runs, n_warmups = grid.runs, len(grid.runs), len(grid.warmups)
    for job in jobs:
        if job.rule == "prepare_data":
            shape = shapes[job.name]
            spec = info["config"]["datasets"][job.name]
            kind = spec["source"] if spec["source"] in PREPARE_S_PER_IMAGE else "torchvision"
            job.seconds = cal.startup_s + JOB_OVERHEAD_S + PREPARE_S_PER_IMAGE[kind] * (shape.n_train + shape.n_test)
        elif job.rule == "warmup":
            w = grid.warmups[job.name]
            job.seconds = _run_seconds("warmup", w, shapes[w["dataset"]], cal, int(w["warmup_epochs"]))
        elif job.rule in ("train", "continue", "train_pruned"):
            r = runs[job.name]
            job.seconds = _run_seconds(job.rule, r, shapes[r["dataset"]], cal)
        elif job.rule == "score":
            job.seconds = cal.startup_s + JOB_OVERHEAD_S + SCORE_S
        elif job.rule == "score_checkpoints":
            r = runs[job.name]
            shape = shapes[r["dataset"]]
            skey = _shape_key(shape, r, r["train"])
            seeds = len(r["score_warmup_ids"])
            job.seconds = (cal.startup_s + JOB_OVERHEAD_S
                           + seeds * (cal.plain[(skey, r["augmentation"])].build_s + shape.n_train * cal.eval_s[skey]))
        elif job.rule == "all":
            job.seconds = 0.0
        else:
            count = n_warmups if job.rule.startswith("importance") else n_runs
            job.seconds = cal.analysis_startup_s + JOB_OVERHEAD_S + ANALYSIS_PER_RUN_S.get(job.rule, 0.0) * count


def schedule(jobs: list[Job], slots: int, slowdown: float) -> tuple[float, float, list[str]]:
    """(makespan with `slots` jobs at a time, critical path seconds, its rules): longest remaining path first."""
    import heapq

    by_key = {j.key: j for j in jobs}
    children: dict[str, list[str]] = {k: [] for k in by_key}
    for j in jobs:
        for d in j.deps:
            children[d].append(j.key)
    dur = {k: j.seconds * (slowdown if j.device else 1.0) for k, j in by_key.items()}
    order, pending = [], {k: len(set(j.deps)) for k, j in by_key.items()}
    ready = [k for k, n in pending.items() if n == 0]
    seen = {k: set() for k in by_key}
    while ready:  # topological order
        k = ready.pop()
        order.append(k)
        for c in children[k]:
            if k not in seen[c]:
                seen[c].add(k)
                pending[c] -= 1
                if pending[c] == 0:
                    ready.append(c)
    tail, nxt = {}, {}
    for k in reversed(order):
        best = max(children[k], key=lambda c: tail[c], default=None)
        tail[k] = dur[k] + (tail[best] if best else 0.0)
        nxt[k] = best
    start = max((k for k in by_key if not by_key[k].deps), key=lambda k: tail[k])
    path, k = [], start
    while k:
        path.append(by_key[k].rule)
        k = nxt[k]
    # list schedule
    pending = {k: len(set(j.deps)) for k, j in by_key.items()}
    ready = [(-tail[k], k) for k, n in pending.items() if n == 0]
    heapq.heapify(ready)
    running: list[tuple[float, str]] = []
    now = 0.0
    while ready or running:
        while ready and len(running) < slots:
            _, k = heapq.heappop(ready)
            heapq.heappush(running, (now + dur[k], k))
        now, k = heapq.heappop(running)
        for c in set(children[k]):
            pending[c] -= 1
            if pending[c] == 0:
                heapq.heappush(ready, (-tail[c], c))
    return now, tail[start], path


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def calibrate(config: dict, device: str | None = None, min_seconds: float = 0.4, log=print) -> Calibration:
    """Time start-up, evaluation and every kind of training step the config implies, on `device`."""
    import torch

    from ..grid import expand
    from ..training.engine import resolve_device

    t_start = time.perf_counter()
    train_cfg = _train_cfg(config, device)
    dev = torch.device(train_cfg["device"])
    _CLOCK.update(device=dev.type, threads=max(1, min(train_cfg["threads"], _cores())))
    if dev.type == "cpu":
        torch.set_num_threads(train_cfg["threads"])
    grid = expand(config)
    shapes = {name: dataset_shape(name, spec) for name, spec in config["datasets"].items()}
    name = str(dev) + (f" ({torch.cuda.get_device_name(dev)})" if dev.type == "cuda" else "")
    cal = Calibration(device=name, threads=train_cfg["threads"])
    cal.startup_s = measure_startup("torch, numpy, pandas, sample_importance.steps")
    cal.analysis_startup_s = measure_startup("pandas, scipy.stats, matplotlib; matplotlib.use('Agg'); "
                                             "import matplotlib.pyplot, sample_importance.analysis.aggregate")
    log(f"start-up: {cal.startup_s:.2f} s per training job, {cal.analysis_startup_s:.2f} s per analysis job "
        f"(fresh interpreter, imports, exit)")
    # what to time: plain per (shape, aug); each other family per shape on the config's first augmentation
    first_aug = config["augmentations"][0]
    for s in [*grid.warmups.values(), *grid.runs.values()]:
        shape = shapes[s["dataset"]]
        skey = _shape_key(shape, s, train_cfg)
        base = {**s, "train": train_cfg}
        if skey not in cal.eval_s:
            cal.eval_s[skey] = calibrate_eval(shape, base, train_cfg)
            log(f"calibrated evaluation {skey}: {1e6 * cal.eval_s[skey]:.1f} us per image")
        for aug in dict.fromkeys([s["augmentation"], first_aug]):
            if (skey, aug) not in cal.plain:
                cal.plain[(skey, aug)] = rate = calibrate_kind(shape, {**base, "augmentation": aug}, train_cfg,
                                                               "uniform", {}, min_seconds)
                log(f"calibrated plain {skey} {aug}: {1000 * rate.seconds:.2f} ms per iteration "
                    f"({rate.timed_steps} steps timed), first steps +{rate.first_s:.2f} s, build {rate.build_s:.2f} s")
        fam = family(s["method"])
        key = _ratio_key(skey, s)
        if fam in ("selecting", "staged") and key not in cal.ratio:
            rate = calibrate_kind(shape, {**base, "augmentation": first_aug}, train_cfg, s["method"],
                                  s["method_params"], min_seconds)
            cal.ratio[key] = (rate, cal.plain[(skey, first_aug)])
            log(f"calibrated {fam} {s['method']} {skey} {first_aug}: {1000 * rate.seconds:.2f} ms per charged "
                f"iteration ({rate.seconds / cal.plain[(skey, first_aug)].seconds:.2f}x plain), "
                f"{rate.steps_per_charge:.2f} steps per charged iteration")
    cal.seconds = time.perf_counter() - t_start
    return cal


def _train_cfg(config: dict, device: str | None) -> dict:
    """The config's train settings on the device the estimate is for, with each job's thread count."""
    from ..training.engine import resolve_device

    cfg = dict(config["train"])
    dev = resolve_device(device or cfg.get("device", "auto"))
    return {**cfg, "device": str(dev), "threads": int(cfg.get("threads") or config["resources"]["cpus_per_task"])}


def project(config: dict, cal: Calibration, concurrency: int = 1, throughput: float | None = None) -> Estimate:
    """Every job's duration from `cal`, and the wall time at `concurrency` jobs at a time."""
    jobs, info = jobs_of(config)
    durations(jobs, info, cal)
    notes = []
    if throughput is None:
        if cal.device.startswith("cpu"):
            throughput = float(min(concurrency, max(1, _cores() // cal.threads)))
        else:
            throughput = 1.0
            if concurrency > 1:
                notes.append(f"{concurrency} runs sharing the GPU assumed to give no more runs/hour than one: pass "
                             "--throughput from benchmarks/concurrent_runs.py")
    makespan, critical, path = schedule(jobs, concurrency, concurrency / throughput)
    wall = makespan + SNAKEMAKE_START_S + SNAKEMAKE_PER_JOB_S * len(jobs)
    return Estimate(jobs, cal, concurrency, throughput, wall, critical, path, notes)


def estimate(config: dict, device: str | None = None, concurrency: int = 1, throughput: float | None = None,
             min_seconds: float = 0.4, log=print) -> Estimate:
    """Calibrate on `device` (default: the config's train.device) and project every job of `config`."""
    return project(config, calibrate(config, device, min_seconds, log), concurrency, throughput)


def _hours(h: float) -> str:
    s = h * 3600
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    return f"{h:.1f} h"


def format_table(est: Estimate) -> str:
    lines = [f"{'':14s} {'name':38s} {'jobs':>6s} {'time':>10s} {'device':>10s}"]
    for row in est.rows():
        name = row["name"] if len(row["name"]) <= 38 else row["name"][:35] + "..."
        device = _hours(row["device_hours"]) if row["device_hours"] != "" else ""
        lines.append(f"{row['level']:14s} {name:38s} {row['jobs']:>6d} {_hours(row['hours']):>10s} {device:>10s}")
    return "\n".join(lines)


def write_csv(est: Estimate, path: str) -> None:
    from ..atomic import write_bytes

    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["level", "name", "jobs", "hours", "device_hours"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(est.rows())
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_bytes(Path(path), buffer.getvalue().encode())

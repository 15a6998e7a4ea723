"""Speedup of each method over uniform SGD, per seed, in four units of cost (DESIGN.md, "speedup").

Why per seed: averaging curves by exact iteration breaks for methods whose seeds
end at different steps (selective_backprop, upper_bound_is), and it lets a seed
that ends below the target borrow the others' accuracy. Here each seed's own
curve is compared with uniform's curve of the same seed.

Target: `speedup_target_fraction` x uniform's final test accuracy at the full
budget (the last evaluation of each seed, mean over seeds). The last evaluation,
not the mean of the last few: with the schedules decaying to 0 the curve still
climbs over the last evaluations of a short run, so a mean of several would sit
below the accuracy the run ends with. The fraction (0.98 by default) keeps the
target below the seed-to-seed spread of uniform's final accuracy instead of at
the maximum of a noisy curve.

Reached: the run ends at or above the target (its last evaluation); its cost is
then that of the first evaluation at or above the target. A run that touches the
target and falls back below it by its end is "not reached": one lucky evaluation
is not convergence. Not reached stays a row (reached False, speedup NaN).

Units (the `unit` column), each the cumulative count at that first evaluation:
- iterations: optimizer steps (`iteration`);
- charged_iterations: steps plus the forwards a method spends only to choose
  examples, at their charge (`charged_iterations`, see methods/base.py), plus
  for a static-pruning run the charged steps of its scoring trainings;
- examples_backpropagated: examples whose loss was back-propagated;
- wall_clock_seconds: the engine's training clock (`wall_seconds`: training
  steps, test evaluations excluded for every method; for staged methods the
  score step's computation from score.json is added when the continuation
  starts), plus one job start-up per job the run has started by then (online
  methods: 1; staged: warm-up, and after it score and continuation: 3; a pruned
  run adds its scoring trainings' seconds and jobs). The start-up is estimated
  from the runs' own run.json times (`startup_seconds`).
"""

from __future__ import annotations

import json
import logging
import math
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from .stats import t_interval

log = logging.getLogger(__name__)

GROUP = ["dataset", "model", "augmentation"]
REFERENCE_METHOD = "uniform"
FULL_BUDGET = 1.0
DEFAULT_TARGET_FRACTION = 0.98
# unit name (speedup.csv) -> curve column holding that cumulative cost
UNITS = {"iterations": "iteration", "charged_iterations": "charged_total",
         "examples_backpropagated": "examples_backpropagated", "wall_clock_seconds": "wall_clock_seconds"}
STAGED_JOBS = 3  # warm-up, score, continuation
PER_SEED_COLUMNS = [*GROUP, "method", "method_name", "label", "budget", "seed", "unit", "target", "target_fraction",
                    "reference", "cost_uniform", "cost_method", "speedup", "reached", "uniform_reached",
                    "final_accuracy", "startup_seconds"]
SUMMARY_COLUMNS = [*GROUP, "method", "method_name", "label", "budget", "unit", "target", "target_fraction",
                   "reference", "n", "n_reached", "n_speedup", "mean", "low", "high", "statistic"]


# --------------------------------------------------------------------------- jobs and start-up


def _span(info: dict) -> float:
    """Seconds between a step's `started` and `finished` (1-s resolution), NaN when either is missing."""
    try:
        return (datetime.fromisoformat(info["finished"]) - datetime.fromisoformat(info["started"])).total_seconds()
    except (KeyError, TypeError, ValueError):
        return math.nan


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def run_jobs(info: dict, metrics: pd.DataFrame) -> tuple[list[dict], float | None]:
    """The timed jobs of one run and the iteration at which its warm-up ended (None: the run is one job).

    Each job: its span (run.json started -> finished), the training clock it added
    and the evaluations it made; `startup_seconds` separates their fixed part. A
    staged run's warm-up and score step are found through the folders its
    run.json records (`warmup_dir`, `importance_dir`), never from its own path.
    """
    if not info.get("warmup_dir"):
        return [{"job": "train", "span": _span(info), "train": float(info.get("train_seconds", math.nan)),
                 "evaluations": len(metrics)}], None
    warm = _read_json(Path(info["warmup_dir"]) / "run.json") or {}
    score = _read_json(Path(info.get("importance_dir", "")) / "score.json") or {}
    warm_iterations = warm.get("iterations")
    if warm_iterations is None:  # warm-up folder moved: its end from the epochs it trains (plain uniform epochs)
        epochs = info["spec"].get("method_params", {}).get("warmup_epochs", 0)
        warm_iterations = int(metrics.loc[metrics["epoch"] <= epochs + 1e-6, "iteration"].max())
    warm_evals = int((metrics["iteration"] <= warm_iterations).sum())
    own_train = float(info.get("train_seconds", math.nan)) - float(warm.get("train_seconds", math.nan)) \
        - float(score.get("seconds", 0.0))
    return [
        {"job": "warmup", "span": _span(warm), "train": float(warm.get("train_seconds", math.nan)), "evaluations": warm_evals},
        {"job": "continue", "span": _span(info), "train": own_train, "evaluations": len(metrics) - warm_evals},
    ], float(warm_iterations)


def startup_seconds(jobs: pd.DataFrame) -> float:
    """Fixed seconds per job outside training and test evaluation, fitted over all jobs of the config.

    A job's span minus its training clock is start-up (data loading, model
    set-up, the closing per-class evaluation, writing) plus its test evaluations.
    Least squares of that overhead on the number of evaluations separates the two:
    the intercept is the start-up. With too few jobs or one evaluation count the
    median overhead is used (then it includes evaluations). run.json's clock starts
    inside the step, so the interpreter start and imports before it are not in it.
    """
    j = jobs.dropna(subset=["span", "train", "evaluations"]) if len(jobs) else jobs
    if j is None or len(j) == 0:
        return 0.0
    overhead = (j["span"] - j["train"]).to_numpy(float)
    evaluations = j["evaluations"].to_numpy(float)
    if len(j) >= 3 and np.ptp(evaluations) > 0:
        design = np.column_stack([np.ones_like(evaluations), evaluations])
        intercept = float(np.linalg.lstsq(design, overhead, rcond=None)[0][0])
    else:
        intercept = float(np.median(overhead))
    return max(0.0, intercept)


def scoring_cost(info: dict) -> dict:
    """What a run spent before its own first step in other jobs that its run.json reports but does not charge.

    A static-pruning run (el2n_prune) starts a fresh model on a subset that its
    scoring trainings chose (run.json `scoring`: their charged steps and seconds,
    one score-checkpoints job plus one warm-up job per training); the speedup
    charges them, as the run would not exist without them.
    """
    scoring = info.get("scoring") or {}
    return {"scoring_charged": float(scoring.get("charged_iterations", 0.0)),
            "scoring_seconds": float(scoring.get("seconds", 0.0)),
            "scoring_jobs": 1 + int(scoring.get("trainings", 0)) if scoring else 0}


def add_costs(curves: pd.DataFrame, startup: float) -> pd.DataFrame:
    """curves + the charged and wall-clock costs the speedup compares (see the module docstring).

    charged_total = charged_iterations + charged scoring trainings of a pruned run;
    wall_clock_seconds = training clock + their seconds + start-up of every job started by that evaluation.
    """
    def column(name, default):
        return curves[name] if name in curves else default

    jobs = column("jobs_started", 1) + column("scoring_jobs", 0)
    return curves.assign(
        charged_total=curves["charged_iterations"] + column("scoring_charged", 0.0),
        wall_clock_seconds=curves["wall_seconds"] + column("scoring_seconds", 0.0) + jobs * startup)


# --------------------------------------------------------------------------- per-seed speedup


def reference_label(group: pd.DataFrame) -> str | None:
    """The uniform label runs are compared with (the first, sorted, when a config has several)."""
    labels = sorted(group.loc[group["method_name"] == REFERENCE_METHOD, "method"].unique())
    return labels[0] if labels else None


def targets(final: pd.DataFrame, fraction: float) -> pd.DataFrame:
    """Per dataset/model/augmentation: the target accuracy and the reference it comes from."""
    rows = []
    for key, group in final.groupby(GROUP, sort=False):
        label = reference_label(group)
        if label is None:
            log.warning("no %s runs for %s: no speedup", REFERENCE_METHOD, key)
            continue
        ref = group[group["method"] == label]
        budget = FULL_BUDGET if (ref["budget"] == FULL_BUDGET).any() else ref["budget"].max()
        if budget != FULL_BUDGET:
            log.warning("%s: %s has no full-budget runs; the target uses its largest budget %g", key, label, budget)
        finals = ref.loc[ref["budget"] == budget, "final_test_accuracy"]
        rows.append({**dict(zip(GROUP, key)), "reference_label": label, "reference_budget": budget,
                     "target": fraction * finals.mean(), "target_fraction": fraction,
                     "reference": f"{label} (budget {budget:g}), {fraction:g} x final accuracy (mean of {len(finals)} seeds)"})
    return pd.DataFrame(rows)


def first_cost(curve: pd.DataFrame, target: float) -> dict[str, float]:
    """Cost in every unit at the first evaluation at or above `target`; all NaN when the run ends below it."""
    curve = curve.sort_values("iteration")
    acc = curve["test_accuracy"].to_numpy(float)
    if len(acc) == 0 or not acc[-1] >= target - 1e-12:
        return {unit: math.nan for unit in UNITS}
    first = int(np.argmax(acc >= target - 1e-12))
    return {unit: float(curve[column].iloc[first]) if column in curve else math.nan for unit, column in UNITS.items()}


def per_seed(curves: pd.DataFrame, final: pd.DataFrame, fraction: float = DEFAULT_TARGET_FRACTION,
             startup: float = math.nan) -> pd.DataFrame:
    """One row per dataset/model/augmentation/method/budget/seed/unit: cost to the target and the speedup."""
    goals = targets(final, fraction)
    rows = []
    for goal in goals.to_dict("records"):
        key = {k: goal[k] for k in GROUP}
        cells = curves[np.logical_and.reduce([curves[k] == v for k, v in key.items()])]
        costs = {k: first_cost(c, goal["target"]) for k, c in cells.groupby(["method", "budget", "seed"], sort=False)}
        for (method, budget, seed), cost in costs.items():
            run = cells[(cells["method"] == method) & (cells["budget"] == budget) & (cells["seed"] == seed)]
            ref = costs.get((goal["reference_label"], goal["reference_budget"], seed))
            for unit in UNITS:
                c_ref = ref[unit] if ref else math.nan
                speedup = c_ref / cost[unit] if cost[unit] > 0 and np.isfinite(c_ref) else math.nan
                rows.append({**key, "method": method, "method_name": run["method_name"].iloc[0], "label": method,
                             "budget": budget, "seed": seed, "unit": unit, "target": goal["target"],
                             "target_fraction": fraction, "reference": goal["reference"], "cost_uniform": c_ref,
                             "cost_method": cost[unit], "speedup": speedup, "reached": bool(np.isfinite(cost[unit])),
                             "uniform_reached": bool(np.isfinite(c_ref)),
                             "final_accuracy": float(run.sort_values("iteration")["test_accuracy"].iloc[-1]),
                             "startup_seconds": startup if unit == "wall_clock_seconds" else math.nan})
    return pd.DataFrame(rows, columns=PER_SEED_COLUMNS)


def geometric_interval(speedups) -> tuple[float, float, float, int]:
    """Geometric mean of ratios with the t-interval of their logarithms, mapped back: 2x and 0.5x weigh alike."""
    s = np.asarray(speedups, dtype=float)
    s = s[np.isfinite(s) & (s > 0)]
    i = t_interval(np.log(s))
    return math.exp(i.mean) if i.n else math.nan, math.exp(i.low), math.exp(i.high), i.n


def summarise(seeds: pd.DataFrame) -> pd.DataFrame:
    """Per dataset/model/augmentation/label/budget/unit: seeds, seeds reached, geometric mean speedup [t-interval]."""
    keys = [*GROUP, "method", "method_name", "label", "budget", "unit"]
    rows = []
    for key, g in seeds.groupby(keys, sort=False):
        mean, low, high, n_speedup = geometric_interval(g["speedup"])
        rows.append({**dict(zip(keys, key)), "target": g["target"].iloc[0], "target_fraction": g["target_fraction"].iloc[0],
                     "reference": g["reference"].iloc[0], "n": g["seed"].nunique(), "n_reached": int(g["reached"].sum()),
                     "n_speedup": n_speedup, "mean": mean, "low": low, "high": high,
                     "statistic": "geometric mean over the seeds with a speedup, t-interval of log speedup"})
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)

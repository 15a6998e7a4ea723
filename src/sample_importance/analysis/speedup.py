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
is not convergence. Not reached stays a row (reached False, speedup NaN) and is
censored, never dropped: a method that never reached the target needed more
than its whole run, so its speedup is at most uniform's cost / the run's whole
cost (`speedup_high`); where uniform never reached it, the speedup is at least
uniform's whole cost / the method's cost (`speedup_low`). The summary gives
the median's bounds from these, and a geometric mean only when every seed's
speedup is known.

Resolution: the first crossing lies somewhere after the evaluation before it,
so each cost is known to one evaluation spacing. `log_resolution` is the
standard deviation that rounding to the evaluation grid adds to a log speedup
(spacing / cost of each run, uniform over one spacing: / sqrt(12)); the tests
use it as their floor (stats.py), and the summary reports the spacing.

Budget to target (`budget_to_target`): per seed, the smallest budget at which a
method's final accuracy reaches the target, interpolated linearly between the
config's budgets; below the smallest budget or above the largest it is
censored. Under a schedule that decays to zero at every budget, every run ends
at its best, so the iteration speedup of one budget is squeezed toward 1; the
budget speedup (uniform's budget to target / the method's) is what a budgeted
user saves.

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
                    "reference", "cost_uniform", "cost_method", "speedup", "speedup_low", "speedup_high", "censoring",
                    "reached", "uniform_reached", "eval_spacing", "log_resolution", "final_accuracy",
                    "startup_seconds"]
SUMMARY_COLUMNS = [*GROUP, "method", "method_name", "label", "budget", "unit", "target", "target_fraction",
                   "reference", "n", "n_reached", "n_uniform_reached", "n_exact", "median_low", "median_high",
                   "geometric_mean", "low", "high", "eval_spacing", "statistic"]
BUDGET_COLUMNS = [*GROUP, "method", "method_name", "seed", "target", "budgets", "budget_to_target", "budget_low",
                  "budget_high", "censoring", "uniform_budget", "speedup_low", "speedup_high"]


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


def first_cost(curve: pd.DataFrame, target: float) -> tuple[dict, dict, dict]:
    """(cost at the first evaluation at or above `target`, cost at the evaluation before it, the run's whole cost).

    The first is all NaN when the run ends below the target (not reached); the
    second is 0 when the first evaluation already reaches it.
    """
    curve = curve.sort_values("iteration")
    acc = curve["test_accuracy"].to_numpy(float)
    total = {unit: float(curve[column].iloc[-1]) if column in curve and len(curve) else math.nan
             for unit, column in UNITS.items()}
    if len(acc) == 0 or not acc[-1] >= target - 1e-12:
        nan = {unit: math.nan for unit in UNITS}
        return nan, dict(nan), total
    first = int(np.argmax(acc >= target - 1e-12))
    at = {unit: float(curve[column].iloc[first]) if column in curve else math.nan for unit, column in UNITS.items()}
    before = {unit: float(curve[column].iloc[first - 1]) if column in curve and first > 0 else 0.0
              for unit, column in UNITS.items()}
    return at, before, total


def _bounds(c_ref: float, c_ref_total: float, c_m: float, c_m_total: float) -> tuple[float, float, float, str]:
    """(speedup, low, high, censoring) of one seed from the two runs' costs to the target and whole costs."""
    ref_ok, m_ok = np.isfinite(c_ref), np.isfinite(c_m)
    if ref_ok and m_ok and c_m > 0:
        s = c_ref / c_m
        return s, s, s, "exact"
    if ref_ok:  # the method needed more than its whole run
        return math.nan, 0.0, c_ref / c_m_total if c_m_total > 0 else math.inf, "method never reached"
    if m_ok and c_m > 0:  # uniform needed more than its whole run
        return math.nan, c_ref_total / c_m, math.inf, "uniform never reached"
    return math.nan, 0.0, math.inf, "neither reached"


def _log_resolution(c_ref: float, d_ref: float, c_m: float, d_m: float) -> float:
    if not (np.isfinite(c_ref) and np.isfinite(c_m) and c_ref > 0 and c_m > 0):
        return math.nan
    return math.hypot(d_ref / c_ref, d_m / c_m) / math.sqrt(12.0)


def per_seed(curves: pd.DataFrame, final: pd.DataFrame, fraction: float = DEFAULT_TARGET_FRACTION,
             startup: float = math.nan) -> pd.DataFrame:
    """One row per dataset/model/augmentation/method/budget/seed/unit: cost to the target, the speedup, its bounds."""
    goals = targets(final, fraction)
    rows = []
    for goal in goals.to_dict("records"):
        key = {k: goal[k] for k in GROUP}
        cells = curves[np.logical_and.reduce([curves[k] == v for k, v in key.items()])]
        costs = {k: first_cost(c, goal["target"]) for k, c in cells.groupby(["method", "budget", "seed"], sort=False)}
        spacing = {k: float(np.median(np.diff(np.sort(c["iteration"].to_numpy(float))))) if len(c) > 1 else math.nan
                   for k, c in cells.groupby(["method", "budget", "seed"], sort=False)}
        for (method, budget, seed), (cost, before, total) in costs.items():
            run = cells[(cells["method"] == method) & (cells["budget"] == budget) & (cells["seed"] == seed)]
            ref = costs.get((goal["reference_label"], goal["reference_budget"], seed))
            for unit in UNITS:
                c_ref, b_ref, t_ref = (ref[0][unit], ref[1][unit], ref[2][unit]) if ref else (math.nan,) * 3
                speedup, low, high, censoring = _bounds(c_ref, t_ref, cost[unit], total[unit])
                rows.append({**key, "method": method, "method_name": run["method_name"].iloc[0], "label": method,
                             "budget": budget, "seed": seed, "unit": unit, "target": goal["target"],
                             "target_fraction": fraction, "reference": goal["reference"], "cost_uniform": c_ref,
                             "cost_method": cost[unit], "speedup": speedup, "speedup_low": low, "speedup_high": high,
                             "censoring": censoring, "reached": bool(np.isfinite(cost[unit])),
                             "uniform_reached": bool(np.isfinite(c_ref)),
                             "eval_spacing": spacing[(method, budget, seed)],
                             "log_resolution": _log_resolution(c_ref, c_ref - b_ref, cost[unit], cost[unit] - before[unit]),
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
    """Per dataset/model/augmentation/label/budget/unit: reached k/n, the median's bounds, a geometric mean if complete.

    The median of censored values is known only between the median of the lower
    bounds and that of the upper bounds (equal when at most a minority of seeds
    is censored on either side); the geometric mean and its t-interval are
    given only when every seed's speedup is known, never over the seeds that
    happened to reach the target.
    """
    keys = [*GROUP, "method", "method_name", "label", "budget", "unit"]
    rows = []
    for key, g in seeds.groupby(keys, sort=False):
        exact = g["censoring"] == "exact"
        complete = bool(exact.all())
        mean, low, high, _ = geometric_interval(g["speedup"]) if complete else (math.nan,) * 4
        rows.append({**dict(zip(keys, key)), "target": g["target"].iloc[0], "target_fraction": g["target_fraction"].iloc[0],
                     "reference": g["reference"].iloc[0], "n": g["seed"].nunique(), "n_reached": int(g["reached"].sum()),
                     "n_uniform_reached": int(g["uniform_reached"].sum()), "n_exact": int(exact.sum()),
                     "median_low": float(np.median(g["speedup_low"])), "median_high": float(np.median(g["speedup_high"])),
                     "geometric_mean": mean, "low": low, "high": high,
                     "eval_spacing": float(np.nanmedian(g["eval_spacing"])) if g["eval_spacing"].notna().any() else math.nan,
                     "statistic": "median of per-seed speedups between the bounds censored seeds allow; geometric mean "
                                  "[t-interval of log speedup] only when every seed's speedup is known"})
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def _crossing(budgets: np.ndarray, accuracy: np.ndarray, target: float) -> tuple[float, float, float, str]:
    """(budget to target, low, high, censoring) from one seed's final accuracies at ascending budgets."""
    ok = accuracy >= target - 1e-12
    if ok[0]:
        return math.nan, 0.0, float(budgets[0]), "reached at the smallest budget"
    if not ok.any():
        return math.nan, float(budgets[-1]), math.inf, "not reached at the largest budget"
    i = int(np.argmax(ok))
    b0, b1, a0, a1 = budgets[i - 1], budgets[i], accuracy[i - 1], accuracy[i]
    b = float(b0 + (target - a0) / (a1 - a0) * (b1 - b0))
    return b, b, b, "exact"


def budget_to_target(final: pd.DataFrame, fraction: float = DEFAULT_TARGET_FRACTION) -> pd.DataFrame:
    """Per dataset/model/augmentation/method/seed: the smallest budget reaching the speedup's target, and vs uniform."""
    goals = targets(final, fraction)
    rows = []
    for goal in goals.to_dict("records"):
        key = {k: goal[k] for k in GROUP}
        cells = final[np.logical_and.reduce([final[k] == v for k, v in key.items()])]
        if cells["budget"].nunique() < 2:
            continue
        found = {}
        for (method, method_name, seed), g in cells.groupby(["method", "method_name", "seed"], sort=False):
            g = g.groupby("budget")["final_test_accuracy"].mean().sort_index()
            found[(method, seed)] = (method_name, g.index.to_numpy(float), _crossing(g.index.to_numpy(float),
                                                                                    g.to_numpy(float), goal["target"]))
        for (method, seed), (method_name, budgets, (b, low, high, censoring)) in found.items():
            ref = found.get((goal["reference_label"], seed))
            u_low, u_high = (ref[2][1], ref[2][2]) if ref else (math.nan, math.nan)
            rows.append({**key, "method": method, "method_name": method_name, "seed": seed, "target": goal["target"],
                         "budgets": ",".join(f"{x:g}" for x in budgets), "budget_to_target": b, "budget_low": low,
                         "budget_high": high, "censoring": censoring,
                         "uniform_budget": ref[2][0] if ref else math.nan,
                         "speedup_low": u_low / high if high > 0 else math.nan,
                         "speedup_high": u_high / low if low > 0 else math.inf})
    return pd.DataFrame(rows, columns=BUDGET_COLUMNS)

"""Tidy summary tables over the runs of one config.

Coordinates come from each run's run.json (never parsed from paths). Every
table carries the git commit and config hash of the runs it summarises.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import pandas as pd

from ..atomic import write_csv
from .budget_table import budget_table, write_markdown as write_budget_markdown
from ..outputs import SUMMARY_TABLES

log = logging.getLogger(__name__)

KEYS = ["dataset", "model", "method", "method_name", "augmentation", "budget", "seed"]
GROUP = ["dataset", "model", "augmentation"]
REFERENCE_METHOD = "uniform"


def _coordinates(info: dict) -> dict:
    spec = info["spec"]
    return {
        "dataset": spec["dataset"], "model": spec["model"], "method": spec["label"], "method_name": spec["method"],
        "augmentation": spec["augmentation"], "budget": spec["budget"], "seed": spec["seed"],
        "config_hash": info["config_hash"], "commit": info["git"]["commit"],
    }


def load_runs(run_dirs: list[str]) -> dict[str, pd.DataFrame]:
    curves, finals, per_class, draws, balance = [], [], [], [], []
    commits, dirty = set(), []
    for d in map(Path, run_dirs):
        info = json.loads((d / "run.json").read_text())
        coords = _coordinates(info)
        commits.add(info["git"]["commit"])
        if info["git"].get("dirty"):
            dirty.append(str(d))
        m = pd.read_csv(d / "metrics.csv").assign(**coords)
        curves.append(m)
        pc = pd.read_csv(d / "per_class.csv").assign(**coords)
        per_class.append(pc)
        dr = pd.read_csv(d / "class_draws.csv").assign(**coords)
        draws.append(dr)
        finals.append({
            **coords,
            "final_test_accuracy": m["test_accuracy"].iloc[-1],
            "best_test_accuracy": m["test_accuracy"].max(),
            "balanced_accuracy": pc["test_accuracy"].mean(),
            "worst_class_accuracy": pc["test_accuracy"].min(),
            "iterations": int(m["iteration"].iloc[-1]),
            "examples_forwarded": int(m["examples_forwarded"].iloc[-1]),
            "examples_backpropagated": int(m["examples_backpropagated"].iloc[-1]),
            "wall_seconds": m["wall_seconds"].iloc[-1],
        })
        classes = d / "importance" / "classes.csv"
        if classes.exists():
            balance.append(pd.read_csv(classes).assign(**coords))
    if len(commits) > 1:  # a run id changes only when RESULTS_VERSION says the numbers changed
        log.warning("these %d runs were made by %d git commits (%s): compare them only if no change between "
                    "those commits alters results; the `commit` column says which made each", len(finals),
                    len(commits), ", ".join(sorted(c[:10] for c in commits)))
    if dirty:
        log.warning("%d of %d runs were made from a checkout with uncommitted changes (run.json git.dirty), e.g. %s",
                    len(dirty), len(finals), dirty[0])
    return {
        "curves": pd.concat(curves, ignore_index=True),
        "final": pd.DataFrame(finals),
        "per_class": pd.concat(per_class, ignore_index=True),
        "draws": pd.concat(draws, ignore_index=True),
        "class_balance": pd.concat(balance, ignore_index=True) if balance else pd.DataFrame(
            columns=[*KEYS, "class_index", "class", "n_train", "train_share", "balanced_share", "sampling_share"]),
    }


def _first_reaching(curve: pd.DataFrame, target: float, column: str) -> float:
    hit = curve.loc[curve["test_accuracy"] >= target - 1e-12, column]
    return float(hit.iloc[0]) if len(hit) else math.nan


def speedup(curves: pd.DataFrame) -> pd.DataFrame:
    """Speedup over uniform at its largest budget (DESIGN.md), from curves averaged over seeds.

    target = the best of uniform's mean curve; speedup = iterations (or seconds)
    uniform needs to reach it / those the method needs. Not reached: NaN and
    reached = False, kept in the table.
    """
    mean = curves.groupby([*GROUP, "method", "method_name", "budget", "iteration"], as_index=False)[
        ["test_accuracy", "wall_seconds"]].mean()
    rows = []
    for key, group in mean.groupby(GROUP):
        ref_all = group[group["method_name"] == REFERENCE_METHOD]
        if ref_all.empty:
            log.warning("no %s runs for %s: no speedup", REFERENCE_METHOD, key)
            continue
        ref_label = sorted(ref_all["method"].unique())[0]
        ref = ref_all[(ref_all["method"] == ref_label) & (ref_all["budget"] == ref_all["budget"].max())].sort_values("iteration")
        target = ref["test_accuracy"].max()
        ref_iter = _first_reaching(ref, target, "iteration")
        ref_wall = _first_reaching(ref, target, "wall_seconds")
        for (method, method_name, budget), c in group.groupby(["method", "method_name", "budget"]):
            c = c.sort_values("iteration")
            it = _first_reaching(c, target, "iteration")
            wall = _first_reaching(c, target, "wall_seconds")
            rows.append({
                **dict(zip(GROUP, key)), "method": method, "method_name": method_name, "budget": budget,
                "reference": f"{ref_label} (budget {ref['budget'].iloc[0]:g})", "target_accuracy": target,
                "reached": not math.isnan(it), "iterations_to_target": it, "reference_iterations": ref_iter,
                "speedup_iterations": ref_iter / it if it and not math.isnan(it) else math.nan,
                "seconds_to_target": wall, "reference_seconds": ref_wall,
                "speedup_seconds": ref_wall / wall if wall and not math.isnan(wall) else math.nan,
                "best_mean_accuracy": c["test_accuracy"].max(),
            })
    return pd.DataFrame(rows)


def methods_table(final: pd.DataFrame) -> pd.DataFrame:
    """Final accuracy mean ± std per method, with the difference to uniform and a paired t-test over seeds."""
    from scipy import stats

    rows = []
    for key, group in final.groupby([*GROUP, "budget"]):
        ref = group[group["method_name"] == REFERENCE_METHOD]
        ref_label = sorted(ref["method"].unique())[0] if len(ref) else None
        ref_acc = ref[ref["method"] == ref_label].set_index("seed")["final_test_accuracy"] if ref_label else None
        for method, g in group.groupby("method"):
            acc = g.set_index("seed")["final_test_accuracy"]
            row = {**dict(zip([*GROUP, "budget"], key)), "method": method, "method_name": g["method_name"].iloc[0],
                   "seeds": len(acc), "mean": acc.mean(), "std": acc.std(ddof=1) if len(acc) > 1 else math.nan,
                   "balanced_mean": g["balanced_accuracy"].mean(), "diff_to_uniform": math.nan, "p_value": math.nan}
            if ref_acc is not None and method != ref_label:
                common = acc.index.intersection(ref_acc.index)
                diff = acc[common] - ref_acc[common]
                row["diff_to_uniform"] = diff.mean() if len(common) else math.nan
                if len(common) > 1 and diff.std() > 0:
                    row["p_value"] = float(stats.ttest_rel(acc[common], ref_acc[common]).pvalue)
            rows.append(row)
    return pd.DataFrame(rows)


def aggregate(run_dirs: list[str], out_dir: str) -> dict[str, pd.DataFrame]:
    tables = load_runs(run_dirs)
    tables["speedup"] = speedup(tables["curves"])
    tables["methods"] = methods_table(tables["final"])
    tables["budget_table"] = budget_table(tables["final"])
    write_budget_markdown(Path(out_dir) / "budget_table.md", tables["budget_table"])
    commits = sorted(tables["final"]["commit"].unique())
    tables["speedup"]["commits"] = ";".join(commits)
    tables["methods"]["commits"] = ";".join(commits)
    order = [*KEYS]
    for name in SUMMARY_TABLES:
        frame = tables[name]
        first = [c for c in order if c in frame.columns]
        frame = frame[first + [c for c in frame.columns if c not in first]]
        write_csv(Path(out_dir) / f"{name}.csv", frame)
    log.info("aggregated %d runs into %s", len(run_dirs), out_dir)
    return tables



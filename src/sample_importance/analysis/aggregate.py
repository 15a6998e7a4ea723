"""Tidy summary tables over the runs of one config.

Coordinates come from each run's run.json (never parsed from paths). Every
table carries the git commit and config hash of the runs it summarises.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import write_csv
from ..outputs import SUMMARY_TABLES
from . import speedup as speedup_mod
from .budget_table import budget_table, comparison_table, write_markdown as write_budget_markdown
from .speedup import STAGED_JOBS, add_costs, run_jobs, scoring_cost, startup_seconds

log = logging.getLogger(__name__)

KEYS = ["dataset", "model", "method", "method_name", "augmentation", "budget", "seed"]
GROUP = ["dataset", "model", "augmentation"]


def _data_columns(spec: dict) -> dict:
    """What the dataset is, from the run's own spec: its imbalance, and its source without the imbalance.

    Two variants with the same `data_source` differ only by their imbalance, so
    claims.py can pair a long-tailed set with its balanced original.
    """
    data = dict(spec.get("dataset_spec") or {})
    imbalance = data.pop("imbalance", None) or {}
    kind = imbalance.get("kind", "none")
    ratio = float(imbalance.get("ratio", 1.0)) if kind != "none" else 1.0
    return {"imbalance": kind if ratio > 1 else "none", "imbalance_ratio": ratio,
            "data_source": json.dumps(data, sort_keys=True)}


def _coordinates(info: dict) -> dict:
    spec = info["spec"]
    return {
        "dataset": spec["dataset"], "model": spec["model"], "method": spec["label"], "method_name": spec["method"],
        "augmentation": spec["augmentation"], "budget": spec["budget"], "seed": spec["seed"],
        "config_hash": info["config_hash"], "commit": info["git"]["commit"],
    }


def load_runs(run_dirs: list[str]) -> dict[str, pd.DataFrame]:
    curves, finals, per_class, draws, balance, jobs, costs = [], [], [], [], [], [], []
    commits, dirty = set(), []
    for d in map(Path, run_dirs):
        info = json.loads((d / "run.json").read_text())
        coords = _coordinates(info)
        commits.add(info["git"]["commit"])
        if info["git"].get("dirty"):
            dirty.append(str(d))
        m = pd.read_csv(d / "metrics.csv")
        run_job_list, warm_end = run_jobs(info, m)
        jobs.extend(run_job_list)
        started = 1 if warm_end is None else np.where(m["iteration"] <= warm_end, 1, STAGED_JOBS)
        m = m.assign(jobs_started=started, **coords)
        curves.append(m)
        costs.append({**coords, **scoring_cost(info)})
        pc = pd.read_csv(d / "per_class.csv").assign(**coords)
        per_class.append(pc)
        dr = pd.read_csv(d / "class_draws.csv").assign(**coords)
        draws.append(dr)
        finals.append({
            **coords, **_data_columns(info["spec"]), "jobs": int(np.max(started)),
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
        finals[-1].update(_sampling_columns(d, info))
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
        "jobs": pd.DataFrame(jobs, columns=["job", "span", "train", "evaluations"]),
        "scoring": pd.DataFrame(costs),
    }


def _sampling_columns(run_dir: Path, info: dict) -> dict:
    """How flat the distribution a staged run sampled by was: its smoothing and methods.importance.sampling_flatness.

    NaN for runs that do not sample by scores, so the methods table shows the choice beside the accuracy.
    """
    from ..methods import method_class

    weights = run_dir / "importance" / "weights.npy"
    spec = info["spec"]
    smoothing = {**method_class(spec["method"]).defaults, **spec.get("method_params", {})}.get("smoothing")
    if not weights.exists() or smoothing is None:
        return {"smoothing": np.nan, "max_min_ratio": np.nan, "ess_fraction": np.nan, "top10_share": np.nan}
    from ..methods.importance import sampling_flatness

    return {"smoothing": float(smoothing), **sampling_flatness(np.load(weights))}


def methods_table(final: pd.DataFrame) -> pd.DataFrame:
    """Final accuracy per method and budget: t-interval over seeds, paired comparison with uniform, Holm (budget_table)."""
    table = comparison_table(final)
    if table.empty:
        return table.assign(balanced_mean=pd.Series(dtype=float))
    keys = [*GROUP, "budget", "method"]
    extra = [c for c in ("balanced_accuracy", "smoothing", "ess_fraction", "max_min_ratio") if c in final]
    means = final.groupby(keys, sort=False)[extra].mean().rename(columns={"balanced_accuracy": "balanced_mean"})
    return table.join(means, on=keys)


def speedup_tables(tables: dict[str, pd.DataFrame], fraction: float) -> None:
    """speedup (per seed) and speedup_summary, the wall clock with the config's fitted job start-up."""
    startup = startup_seconds(tables.pop("jobs"))
    scoring = tables.pop("scoring")
    curves = add_costs(tables["curves"].merge(scoring, on=[*KEYS, "config_hash", "commit"], how="left"), startup)
    tables["speedup"] = speedup_mod.per_seed(curves, tables["final"], fraction, startup)
    tables["speedup_summary"] = speedup_mod.summarise(tables["speedup"])
    log.info("speedup target: %g x uniform's final accuracy; job start-up %.2f s (fitted from run.json times)",
             fraction, startup)


def aggregate(run_dirs: list[str], out_dir: str,
              target_fraction: float = speedup_mod.DEFAULT_TARGET_FRACTION) -> dict[str, pd.DataFrame]:
    tables = load_runs(run_dirs)
    speedup_tables(tables, target_fraction)
    tables["methods"] = methods_table(tables["final"])
    tables["budget_table"] = budget_table(tables["final"])
    write_budget_markdown(Path(out_dir) / "budget_table.md", tables["budget_table"])
    commits = sorted(tables["final"]["commit"].unique())
    for name in ("speedup", "speedup_summary", "methods"):
        tables[name]["commits"] = ";".join(commits)
    order = [*KEYS]
    for name in SUMMARY_TABLES:
        frame = tables[name]
        first = [c for c in order if c in frame.columns]
        frame = frame[first + [c for c in frame.columns if c not in first]]
        write_csv(Path(out_dir) / f"{name}.csv", frame)
    log.info("aggregated %d runs into %s", len(run_dirs), out_dir)
    return tables


def main(argv=None) -> None:
    """`python -m sample_importance.analysis.aggregate --out DIR [--target-fraction F] RUN_DIR ...` (rule aggregate)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--target-fraction", type=float, default=speedup_mod.DEFAULT_TARGET_FRACTION,
                   help="speedup target = this x uniform's final accuracy at the full budget (analysis.speedup_target_fraction)")
    p.add_argument("runs", nargs="+")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    aggregate(a.runs, a.out, a.target_fraction)


if __name__ == "__main__":
    main()

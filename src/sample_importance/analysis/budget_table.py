"""Arazo et al.'s main comparison as a table: final test accuracy per method and budget, each against uniform.

One block per (dataset, model, augmentation): rows are methods, columns are
budgets. Each cell: the mean over seeds with its Student-t 95 % interval and n
(sd floored at the test set's binomial error, stats.py); for every method other
than uniform, the paired difference to uniform at the same budget (paired by
seed) with its interval and three one-sided tests, each corrected within the
cell's column: better (> 0), worse (< 0) and equivalent (inside +-margin, two
one-sided tests). A cell's verdict: better, worse, equivalent or inconclusive.

The correction family is one table column (dataset x model x augmentation x
budget): the question "which method beats uniform here?" is asked once per
column, so a larger grid does not make every column's test weaker (Holm by
default, Benjamini-Hochberg for exploratory tables: `analysis.table_correction`).
Each cell also states its power: `mde`, the smallest gain its test detects at
power 0.8 at the column's corrected level, and `seeds_needed` for the margin.
`best` marks the top mean of a column only where that method is better than
uniform: with 3 seeds a bold "best" by mean alone is mostly noise.

`comparison_table` is shared by methods.csv (aggregate.py) and budget_table.csv.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..atomic import atomic_path
from .stats import accuracy_floor, correct, family_level, paired, t_interval
from .verdicts import Margins

BLOCK = ["dataset", "model", "augmentation"]
COLUMN = [*BLOCK, "budget"]
REFERENCE_METHOD = "uniform"
COLUMNS = [*BLOCK, "method", "method_name", "budget", "n", "mean", "low", "high", "sd", "sd_floor", "diff",
           "diff_low", "diff_high", "diff_sd", "n_paired", "p_better", "p_worse", "p_equivalent", "verdict", "margin", "mde",
           "seeds_needed", "family_size", "correction", "best"]


def _reference(column: pd.DataFrame) -> str | None:
    labels = sorted(column.loc[column["method_name"] == REFERENCE_METHOD, "method"].unique())
    return labels[0] if labels else None


def _by_seed(rows: pd.DataFrame, metric: str) -> pd.Series:
    return rows.groupby("seed")[metric].mean()


def _floor(rows: pd.DataFrame, metric: str) -> float:
    """Binomial error of the column's accuracy on its test set (0 without `n_test`, or for another metric)."""
    if "n_test" not in rows or not metric.endswith("accuracy") or rows.empty:
        return 0.0
    return accuracy_floor(float(rows[metric].mean()), float(rows["n_test"].min()))


def _verdict(p_better: float, p_worse: float, p_equivalent: float, alpha: float) -> str:
    if p_equivalent < alpha:
        return "equivalent"
    if p_better < alpha:
        return "better"
    if p_worse < alpha:
        return "worse"
    return "inconclusive" if np.isfinite(p_better) else ""


def comparison_table(final: pd.DataFrame, metric: str = "final_test_accuracy", margins: Margins | None = None,
                     correction: str = "holm") -> pd.DataFrame:
    """One row per (dataset, model, augmentation, method, budget): interval over seeds, tests vs uniform, power."""
    margins = margins or Margins()
    if final.empty:
        return pd.DataFrame(columns=COLUMNS)
    rows = []
    for key, column in final.groupby(COLUMN, sort=False):
        ref_label = _reference(column)
        ref = _by_seed(column[column["method"] == ref_label], metric) if ref_label else None
        floor = _floor(column, metric)
        cells = []
        for (method, method_name), g in column.groupby(["method", "method_name"], sort=False):
            values = _by_seed(g, metric)
            i = t_interval(values, floor=floor)
            row = {**dict(zip(COLUMN, key)), "method": method, "method_name": method_name, "n": i.n, "mean": i.mean,
                   "low": i.low, "high": i.high, "sd": i.sd, "sd_floor": floor, "diff": math.nan,
                   "diff_low": math.nan, "diff_high": math.nan, "diff_sd": math.nan, "n_paired": 0, "p_better": math.nan,
                   "p_worse": math.nan, "p_equivalent": math.nan, "margin": margins.accuracy, "mde": math.nan,
                   "seeds_needed": math.nan, "correction": correction}
            c = None
            if ref is not None and method != ref_label:
                seeds = values.index.intersection(ref.index)
                c = paired(values[seeds].to_numpy(), ref[seeds].to_numpy(), floor)
                row.update({"diff": c.diff.mean, "diff_low": c.diff.low, "diff_high": c.diff.high,
                            "diff_sd": c.diff.sd_used, "n_paired": c.n,
                            "p_better": c.p_greater(0.0), "p_worse": c.p_less(0.0),
                            "p_equivalent": c.p_equivalent(-margins.accuracy, margins.accuracy)})
            cells.append((row, c))
        family = sum(c is not None and c.n >= 2 for _, c in cells)
        for name in ("p_better", "p_worse", "p_equivalent"):
            for (row, _), p in zip(cells, correct([r[name] for r, _ in cells], correction)):
                row[name] = float(p)
        level = family_level(margins.alpha, family)
        for row, c in cells:
            row["family_size"] = family
            if c is not None and c.n >= 2:
                row["mde"] = c.mde(level, margins.power)
                row["seeds_needed"] = c.seeds_needed(margins.accuracy, level, margins.power)
            row["verdict"] = _verdict(row["p_better"], row["p_worse"], row["p_equivalent"], margins.alpha)
            rows.append(row)
    table = pd.DataFrame(rows)
    top = table.groupby(COLUMN, sort=False)["mean"].transform("max")
    table["best"] = (table["verdict"] == "better") & (table["mean"] >= top - 1e-12)
    return table[COLUMNS]


def budget_table(final: pd.DataFrame, metric: str = "final_test_accuracy", margins: Margins | None = None,
                 correction: str = "holm") -> pd.DataFrame:
    """comparison_table in Arazo's order: blocks and methods as the config lists them, budgets ascending."""
    table = comparison_table(final, metric, margins, correction)
    if table.empty:
        return table
    appearance = {f"_{key}": pd.Categorical(table[key], categories=pd.unique(table[key])).codes
                  for key in [*BLOCK, "method"]}
    table = table.assign(**appearance).sort_values([*appearance, "budget"], kind="stable")
    return table[COLUMNS].reset_index(drop=True)


def _pct(x: float) -> str:
    return f"{100 * x:.2f}"


def _cell(row: pd.Series) -> str:
    """'62.00 [57.03, 66.97]' and, against uniform, '; Δ +8.00 [+3.03, +12.97] better, MDE 1.2'."""
    text = _pct(row["mean"]) if math.isnan(row["low"]) else f"{_pct(row['mean'])} [{_pct(row['low'])}, {_pct(row['high'])}]"
    if row["best"]:
        text = f"**{text}**"
    if not math.isnan(row["diff"]):
        bounds = "" if math.isnan(row["diff_low"]) else f" [{100 * row['diff_low']:+.2f}, {100 * row['diff_high']:+.2f}]"
        text += f"; Δ {100 * row['diff']:+.2f}{bounds} {row['verdict']}"
        if np.isfinite(row["mde"]):
            text += f", MDE {100 * row['mde']:.2f}"
    return text


def to_markdown(table: pd.DataFrame, margins: Margins | None = None) -> str:
    """Markdown: one section per (dataset, model, augmentation), methods x budgets, written by pandas (tabulate)."""
    margins = margins or Margins()
    correction = table["correction"].iloc[0] if len(table) else "holm"
    lines = ["# Final test accuracy (%) by budget", "",
             "Mean over seeds [Student-t 95 % interval, sd floored at the test set's binomial error]; for every "
             "method but uniform, Δ = paired difference to uniform at the same budget (by seed) [its 95 % interval] "
             f"in points and its verdict: better / worse (one-sided paired t-test), equivalent (inside ±"
             f"{100 * margins.accuracy:g} points, two one-sided tests) or inconclusive, at {margins.alpha:g} after "
             f"{'Holm' if correction == 'holm' else 'Benjamini-Hochberg'} correction within each budget column "
             f"(the family: one dataset · model · augmentation · budget). MDE: the smallest gain (points) the cell's "
             f"test detects with power {margins.power:g} at that corrected level. **Bold**: the best mean of a column, "
             "only where it is better than uniform. n = seeds.", ""]
    for key, block in table.groupby(BLOCK, sort=False):
        budgets = sorted(block["budget"].unique())
        seeds = sorted(block["n"].unique())
        cells = {}
        for method, rows in block.groupby("method", sort=False):
            by_budget = rows.set_index("budget")
            cells[method] = ["–" if b not in by_budget.index else
                             (_cell(by_budget.loc[b]) if len(seeds) == 1 else f"{_cell(by_budget.loc[b])} "
                                                                                f"(n={by_budget.loc[b, 'n']})")
                             for b in budgets]
        shown = pd.DataFrame.from_dict(cells, orient="index", columns=[f"budget {b:g}" for b in budgets])
        sizes = block.groupby("budget")["family_size"].first()
        lines += [f"## {' · '.join(map(str, key))}", "",
                  f"n (seeds) per cell: {', '.join(map(str, seeds))}; comparisons per corrected family (column): "
                  + ", ".join(f"{int(k)} at budget {b:g}" for b, k in sizes.items()), "",
                  shown.rename_axis("method").to_markdown(disable_numparse=True), ""]
    if table.empty:
        lines.append("(no runs)")
    return "\n".join(lines)


def write_markdown(path, table: pd.DataFrame, margins: Margins | None = None) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(to_markdown(table, margins) + "\n")

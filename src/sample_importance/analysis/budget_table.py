"""Arazo et al.'s main comparison as a table: final test accuracy per method and budget, each against uniform.

One block per (dataset, model, augmentation): rows are methods, columns are
budgets. Each cell: the mean over seeds with its Student-t 95 % interval and n;
for every method other than uniform, the paired difference to uniform at the
same budget (paired by seed) with its interval, the paired t-test p, the
Wilcoxon signed-rank p where n allows, and the Holm-corrected p across every
comparison of the table (stats.py). `best` marks the top mean of a column only
when that method is significantly better than uniform after the correction: with
3 seeds a bold "best" by mean alone is mostly noise.

`comparison_table` is shared by methods.csv (aggregate.py) and budget_table.csv.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..atomic import atomic_path
from .stats import holm, paired, t_interval

BLOCK = ["dataset", "model", "augmentation"]
REFERENCE_METHOD = "uniform"
ALPHA = 0.05
COLUMNS = [*BLOCK, "method", "method_name", "budget", "n", "mean", "low", "high", "sd", "diff", "diff_low", "diff_high",
           "n_paired", "t_p", "wilcoxon_p", "p_holm", "significant", "best"]


def _reference(column: pd.DataFrame) -> str | None:
    labels = sorted(column.loc[column["method_name"] == REFERENCE_METHOD, "method"].unique())
    return labels[0] if labels else None


def _by_seed(rows: pd.DataFrame, metric: str) -> pd.Series:
    return rows.groupby("seed")[metric].mean()


def comparison_table(final: pd.DataFrame, metric: str = "final_test_accuracy") -> pd.DataFrame:
    """One row per (dataset, model, augmentation, method, budget): interval over seeds and paired test vs uniform."""
    if final.empty:
        return pd.DataFrame(columns=COLUMNS)
    rows = []
    for key, column in final.groupby([*BLOCK, "budget"], sort=False):
        ref_label = _reference(column)
        ref = _by_seed(column[column["method"] == ref_label], metric) if ref_label else None
        for (method, method_name), g in column.groupby(["method", "method_name"], sort=False):
            values = _by_seed(g, metric)
            i = t_interval(values)
            row = {**dict(zip([*BLOCK, "budget"], key)), "method": method, "method_name": method_name, "n": i.n,
                   "mean": i.mean, "low": i.low, "high": i.high, "sd": i.sd, "diff": math.nan, "diff_low": math.nan,
                   "diff_high": math.nan, "n_paired": 0, "t_p": math.nan, "wilcoxon_p": math.nan}
            if ref is not None and method != ref_label:
                seeds = values.index.intersection(ref.index)
                c = paired(values[seeds].to_numpy(), ref[seeds].to_numpy())
                row.update({"diff": c.diff.mean, "diff_low": c.diff.low, "diff_high": c.diff.high, "n_paired": c.n,
                            "t_p": c.t_p, "wilcoxon_p": c.wilcoxon_p})
            rows.append(row)
    table = pd.DataFrame(rows)
    table["p_holm"] = holm(table["t_p"].to_numpy())
    table["significant"] = table["p_holm"] < ALPHA
    better = table["significant"] & (table["diff"] > 0)
    top = table.groupby([*BLOCK, "budget"], sort=False)["mean"].transform("max")
    table["best"] = better & (table["mean"] >= top - 1e-12)
    return table[COLUMNS]


def budget_table(final: pd.DataFrame, metric: str = "final_test_accuracy") -> pd.DataFrame:
    """comparison_table in Arazo's order: blocks and methods as the config lists them, budgets ascending."""
    table = comparison_table(final, metric)
    if table.empty:
        return table
    appearance = {f"_{key}": pd.Categorical(table[key], categories=pd.unique(table[key])).codes
                  for key in [*BLOCK, "method"]}
    table = table.assign(**appearance).sort_values([*appearance, "budget"], kind="stable")
    return table[COLUMNS].reset_index(drop=True)


def _pct(x: float) -> str:
    return f"{100 * x:.2f}"


def _cell(row: pd.Series) -> str:
    """'62.00 [57.03, 66.97]' and, against uniform, '; Δ +8.00 [3.03, 12.97], p_Holm 0.020'."""
    text = _pct(row["mean"]) if math.isnan(row["low"]) else f"{_pct(row['mean'])} [{_pct(row['low'])}, {_pct(row['high'])}]"
    if row["best"]:
        text = f"**{text}**"
    if not math.isnan(row["diff"]):
        bounds = "" if math.isnan(row["diff_low"]) else f" [{100 * row['diff_low']:+.2f}, {100 * row['diff_high']:+.2f}]"
        p = "" if np.isnan(row["p_holm"]) else f", p_Holm {row['p_holm']:.3f}"
        text += f"; Δ {100 * row['diff']:+.2f}{bounds}{p}"
    return text


def to_markdown(table: pd.DataFrame) -> str:
    """Markdown: one section per (dataset, model, augmentation), methods x budgets."""
    lines = ["# Final test accuracy (%) by budget", "",
             "Mean over seeds [Student-t 95 % interval]; for every method but uniform, Δ = paired difference to "
             "uniform at the same budget (by seed) [its 95 % interval] and the paired t-test p, Holm-corrected across "
             f"all comparisons of this table. **Bold**: the best mean of a budget, only where it is significantly "
             f"better than uniform (p_Holm < {ALPHA}). n = seeds.", ""]
    for key, block in table.groupby(BLOCK, sort=False):
        budgets = sorted(block["budget"].unique())
        seeds = sorted(block["n"].unique())
        lines += [f"## {' · '.join(map(str, key))}", "",
                  f"n (seeds) per cell: {', '.join(map(str, seeds))}", "",
                  "| method | " + " | ".join(f"budget {b:g}" for b in budgets) + " |",
                  "|---|" + "---:|" * len(budgets)]
        for method, rows in block.groupby("method", sort=False):
            by_budget = rows.set_index("budget")
            cells = []
            for b in budgets:
                if b not in by_budget.index:
                    cells.append("–")
                    continue
                row = by_budget.loc[b]
                cell = _cell(row)
                cells.append(cell if len(seeds) == 1 else f"{cell} (n={row['n']})")
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        lines.append("")
    if table.empty:
        lines.append("(no runs)")
    return "\n".join(lines)


def write_markdown(path, table: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(to_markdown(table) + "\n")

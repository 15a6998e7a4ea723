"""Arazo et al.'s main comparison as a table: final test accuracy per method and budget.

One block per (dataset, model, augmentation): rows are methods, columns are
budgets, cells are the mean ± std (sample std, ddof 1) over seeds of the final
test accuracy. The best mean of each column is marked (`best` in the CSV, bold
in the Markdown rendering); ties are all marked. Methods keep the order in which
the final table lists them (the config's order).
"""

from __future__ import annotations

import math

import pandas as pd

from ..atomic import atomic_path

BLOCK = ["dataset", "model", "augmentation"]
COLUMNS = [*BLOCK, "method", "method_name", "budget", "seeds", "mean", "std", "best"]


def budget_table(final: pd.DataFrame, metric: str = "final_test_accuracy") -> pd.DataFrame:
    """Tidy table: one row per (dataset, model, augmentation, method, budget), with `best` per column."""
    if final.empty:
        return pd.DataFrame(columns=COLUMNS)
    stats = (final.groupby([*BLOCK, "method", "method_name", "budget"], sort=False)[metric]
             .agg(seeds="count", mean="mean", std=lambda s: s.std(ddof=1) if len(s) > 1 else math.nan)
             .reset_index())
    column_best = stats.groupby([*BLOCK, "budget"], sort=False)["mean"].transform("max")
    stats["best"] = stats["mean"] >= column_best - 1e-12
    # blocks and methods in order of first appearance, budgets ascending
    appearance = {f"_{key}": pd.Categorical(stats[key], categories=pd.unique(stats[key])).codes
                  for key in [*BLOCK, "method"]}
    stats = stats.assign(**appearance).sort_values([*appearance, "budget"], kind="stable")
    return stats[COLUMNS].reset_index(drop=True)


def _cell(row: pd.Series) -> str:
    text = f"{100 * row['mean']:.2f}" if math.isnan(row["std"]) else f"{100 * row['mean']:.2f} ± {100 * row['std']:.2f}"
    return f"**{text}**" if row["best"] else text


def to_markdown(table: pd.DataFrame) -> str:
    """Markdown: one section per (dataset, model, augmentation), methods x budgets, best per column in bold."""
    lines = ["# Final test accuracy (%) by budget", "",
             "Mean ± std over seeds (n in brackets where seeds differ); best mean per budget in **bold**.", ""]
    for key, block in table.groupby(BLOCK, sort=False):
        budgets = sorted(block["budget"].unique())
        seeds = sorted(block["seeds"].unique())
        lines += [f"## {' · '.join(map(str, key))}", "",
                  f"seeds per cell: {', '.join(map(str, seeds))}", "",
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
                cells.append(cell if len(seeds) == 1 else f"{cell} ({row['seeds']})")
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        lines.append("")
    if table.empty:
        lines.append("(no runs)")
    return "\n".join(lines)


def write_markdown(path, table: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(to_markdown(table) + "\n")

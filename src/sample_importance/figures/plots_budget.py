"""Arazo et al.'s main comparison as a figure: final test accuracy vs budget.

One panel per augmentation (columns) and dataset · model (rows), one line per
method in the shared method colours, mean over seeds with ± one standard
deviation as error bars (the spread budget_table.md reports). Reading across
panels of one row shows the augmentation effect; across lines, the sampling effect.
"""

from __future__ import annotations

import pandas as pd
import seaborn as sns

from .plots import TEXT_WIDTH, Style


def accuracy_vs_budget(final: pd.DataFrame, style: Style):
    """Figure of final test accuracy (%) vs budget, from the per-run final table (final.csv)."""
    d = final.copy()
    d["final_test_accuracy"] = d["final_test_accuracy"] * 100
    d["setting"] = d["dataset"] + " · " + d["model"]
    augmentations = list(dict.fromkeys(d["augmentation"]))
    budgets = sorted(d["budget"].unique())
    g = sns.relplot(
        data=d, x="budget", y="final_test_accuracy", hue="method",
        hue_order=[m for m in style.order if m in set(d["method"])], palette=style.palette,
        col="augmentation", col_order=augmentations, row="setting", kind="line", marker="o", markersize=4,
        errorbar="sd", err_style="bars", err_kws={"capsize": 2, "linewidth": 0.8},
        height=2.3, aspect=1.2, facet_kws={"sharex": True, "sharey": "row"}, linewidth=1.2,
    )
    for ax in g.axes.flat:
        ax.set_xticks(budgets, [f"{b:g}" for b in budgets])
    g.set_axis_labels("budget (fraction of full schedule)", "final test accuracy (%)")
    g.set_titles("{row_name} · {col_name}")
    g.figure.suptitle("Final test accuracy vs budget (mean ± std over seeds)", y=1.02)
    sns.move_legend(g, "upper left", bbox_to_anchor=(1.0, 0.9), title="method")
    g.figure.set_size_inches(min(TEXT_WIDTH, 2.6 * len(augmentations) + 1.2), g.figure.get_size_inches()[1])
    return g.figure

"""Arazo et al.'s main comparison as a figure: final test accuracy vs budget.

One panel per augmentation (columns) and dataset · model (rows), one line per
method in the shared method colours: mean over seeds with its 95 % Student-t
interval (analysis/stats.py, the interval budget_table.md reports; drawn cut at
100 %), n in the legend. Reading across panels of one row shows the augmentation effect; across
lines, the sampling effect. Methods are shifted a little along x so that their
intervals do not hide one another.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from .plots import INTERVAL, PERCENT, TEXT_WIDTH, Style, _seed_counts, intervals, legend_outside, mark_intervals, zoom


def accuracy_vs_budget(final: pd.DataFrame, style: Style):
    """Figure of final test accuracy (%) vs budget, from the per-run final table (final.csv)."""
    d = final.assign(acc=final["final_test_accuracy"] * 100,
                     setting=final["dataset"].astype(str) + " · " + final["model"].astype(str))
    iv = intervals(d, ["setting", "augmentation", "method", "budget"], "acc", bounds=PERCENT, test_count="n_test")
    settings, augmentations = list(dict.fromkeys(d["setting"])), list(dict.fromkeys(d["augmentation"]))
    budgets = np.array(sorted(d["budget"].unique()), dtype=float)
    methods = style.methods(d["method"])
    step = np.diff(budgets).min() if len(budgets) > 1 else 0.1
    dodge = {m: (i - (len(methods) - 1) / 2) * 0.12 * step / max(1, len(methods) - 1) for i, m in enumerate(methods)}
    fig, axes = plt.subplots(len(settings), len(augmentations), squeeze=False, sharex=True,
                             figsize=(min(TEXT_WIDTH, 2.6 * len(augmentations) + 0.6), 2.0 * len(settings) + 0.5))
    for r, setting in enumerate(settings):
        for c, aug in enumerate(augmentations):
            ax = axes[r][c]
            p = iv[(iv["setting"] == setting) & (iv["augmentation"] == aug)]
            if p.empty:  # no empty panel
                ax.remove()
                continue
            for method in methods:
                m = p[p["method"] == method].sort_values("budget")
                if m.empty:
                    continue
                ax.errorbar(m["budget"] + dodge[method], m["mean"], yerr=[m["mean"] - m["low"], m["high"] - m["mean"]],
                            color=style.colour(method), marker="o", ms=3.5, lw=1.1, capsize=2, elinewidth=0.8)
            zoom(ax, p["low"], p["high"])
            for method in methods:
                m = p[p["method"] == method].sort_values("budget")
                mark_intervals(ax, m["budget"] + dodge[method], m, style.colour(method))
            ax.set_xticks(budgets, [f"{b:g}" for b in budgets])
            ax.set_title(f"{setting} · {aug}", fontsize=7)
            ax.set_xlabel("budget (fraction of the full schedule)" if r == len(settings) - 1 else "")
            ax.set_ylabel("final test accuracy (%)" if c == 0 else "")
            ax.tick_params(labelsize=6)
    counts = _seed_counts(d)
    handles = [Line2D([], [], color=style.colour(m), marker="o", ms=3.5, lw=1.1) for m in methods]
    legend_outside(fig, handles, [f"{m} ({counts[m]})" for m in methods], title="method (seeds)")
    fig.suptitle(f"Final test accuracy vs budget, {INTERVAL}", fontsize=8)
    fig.tight_layout()
    return fig

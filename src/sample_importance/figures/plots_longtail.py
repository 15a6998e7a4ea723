"""The long-tail literature's accuracies as a figure: overall, balanced and many / medium / few-shot.

One panel per dataset · model · augmentation at its largest budget; per accuracy group, one bar
per method (the shared method colours) with its 95 % Student-t interval over seeds, the sd
floored at the binomial error of the group's share of the test set (the tables' floor,
analysis/stats.py). The shot groups split the classes by training count
(`analysis.shot_thresholds`, analysis/longtail.py); a group with no class on a dataset is left
out of its panel. It is the figure of the question the class controls ask: does a sampler gain on
the rare classes, and at what cost on the frequent ones?
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Patch

from ..analysis.longtail import images_measured
from .plots import INTERVAL, PERCENT, TEXT_WIDTH, Style, _seed_counts, intervals, legend_outside, mark_intervals

GROUPS = {"final_test_accuracy": "overall", "balanced_accuracy": "balanced", "many_shot_accuracy": "many-shot",
          "medium_shot_accuracy": "medium-shot", "few_shot_accuracy": "few-shot"}


def _long(final: pd.DataFrame) -> pd.DataFrame:
    """One row per run and accuracy group, in %, with the number of test images the group is measured on."""
    top = final[final["budget"] == final.groupby(["dataset", "model", "augmentation"])["budget"].transform("max")]
    rows = []
    for column, group in GROUPS.items():
        if column not in top:
            continue
        part = top.assign(acc=top[column] * 100, group=group)
        if "n_test" in top:
            part = part.assign(group_test=images_measured(top, column))
        rows.append(part)
    out = pd.concat(rows, ignore_index=True) if rows else top.iloc[0:0]
    return out[np.isfinite(out["acc"])] if len(out) else out


def long_tail_figure(final: pd.DataFrame, style: Style):
    d = _long(final)
    d = d.assign(setting=d["dataset"].astype(str) + " · " + d["model"].astype(str) + " · "
                 + d["augmentation"].astype(str) + " · budget " + d["budget"].map("{:g}".format))
    settings = list(dict.fromkeys(d["setting"]))
    methods = style.methods(d["method"])
    fig, axes = plt.subplots(len(settings), 1, squeeze=False, figsize=(TEXT_WIDTH, 1.9 * len(settings) + 0.8))
    width = 0.8 / max(1, len(methods))
    for r, setting in enumerate(settings):
        ax = axes[r][0]
        p = d[d["setting"] == setting]
        groups = [g for g in GROUPS.values() if g in set(p["group"])]
        iv = intervals(p, ["group", "method"], "acc", bounds=PERCENT, test_count="group_test")
        for i, method in enumerate(methods):
            m = iv[iv["method"] == method].set_index("group").reindex(groups)
            xs = np.arange(len(groups)) + (i - (len(methods) - 1) / 2) * width
            ax.bar(xs, m["mean"], width, color=style.colour(method))
            ax.errorbar(xs, m["mean"], yerr=[m["mean"] - m["low"], m["high"] - m["mean"]], fmt="none", ecolor="k",
                        elinewidth=0.7, capsize=1.5)
            # an accuracy of 0 has a floored interval reaching below 0 by symmetry only: no cut to mark there
            mark_intervals(ax, xs, m.reset_index().assign(raw_low=lambda f: f["raw_low"].clip(lower=0)), "k")
            for x, mean in zip(xs, m["mean"]):
                if abs(mean) < 0.05:  # a bar of height 0 is invisible: say it
                    ax.text(x, 1, "0", ha="center", va="bottom", fontsize=7, color=style.colour(method))
        ax.set_xticks(range(len(groups)), groups)
        ax.set_ylim(0, 100)
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(setting, fontsize=7)
    counts = _seed_counts(d)
    legend_outside(fig, [Patch(color=style.colour(m)) for m in methods], [f"{m} ({counts[m]})" for m in methods],
                   title="method (seeds)")
    fig.suptitle(f"Long-tail accuracies at the largest budget, {INTERVAL}\nmany-shot / few-shot: classes with more / "
                 "fewer training images than analysis.shot_thresholds", fontsize=8)
    fig.tight_layout()
    return fig

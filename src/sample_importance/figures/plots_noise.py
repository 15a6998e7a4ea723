"""Label noise as a figure: the share of each epoch's draws that falls on mislabeled samples.

One panel per noisy dataset · model · augmentation (rows) and budget (columns),
one line per method in the shared method colours: mean over seeds with its 95 %
Student-t interval (analysis/stats.py t_interval, via plots.intervals) as a band,
at each epoch's end measured in examples trained / training-set size (so a
rho_loss epoch, 10 % of a pass, sits beside uniform's),
and the mislabeled samples' share of the training split as a dashed black
reference line. Uniform reshuffling lies on that line; a method above it trains
on wrong labels more often than the data hold them. Reads noise_draws.csv
(analysis/noise.py) and final.csv (for the method order and colours).

    python -m sample_importance noise-plots --summary results/summary --out figures
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
from matplotlib.lines import Line2D

from ..atomic import read_csv  # class names stay strings ("NA", "01")
from .plots import INTERVAL, PERCENT, TEXT_WIDTH, Style, _seed_counts, intervals, legend_outside, plt, save

log = logging.getLogger(__name__)


def draw_share_figure(noise_draws: pd.DataFrame, style: Style):
    """Figure of the per-epoch share (%) of draws on mislabeled samples vs epoch, with the data share."""
    d = noise_draws.assign(share=noise_draws["draw_share"] * 100,
                           setting=noise_draws["dataset"].astype(str) + " · " + noise_draws["model"].astype(str)
                           + " · " + noise_draws["augmentation"].astype(str))
    iv = intervals(d, ["setting", "budget", "method", "epoch"], "share", bounds=PERCENT)
    x = d.groupby(["setting", "budget", "method", "epoch"], sort=False)["trained_epochs"].mean().rename("x")
    iv = iv.join(x, on=["setting", "budget", "method", "epoch"])
    settings, budgets = list(dict.fromkeys(d["setting"])), sorted(d["budget"].unique())
    methods = style.methods(d["method"])
    fig, axes = plt.subplots(len(settings), len(budgets), squeeze=False, sharey="row",
                             figsize=(min(TEXT_WIDTH, 2.6 * len(budgets) + 0.6), 2.0 * len(settings) + 0.5))
    for r, setting in enumerate(settings):
        data_share = 100 * d.loc[d["setting"] == setting, "data_share"].iloc[0]
        for c, budget in enumerate(budgets):
            ax = axes[r][c]
            p = iv[(iv["setting"] == setting) & (iv["budget"] == budget)]
            for method in methods:
                m = p[p["method"] == method].sort_values("epoch")
                if m.empty:
                    continue
                ax.plot(m["x"], m["mean"], color=style.colour(method), lw=1.1, label=method)
                ax.fill_between(m["x"], m["low"], m["high"], color=style.colour(method), alpha=0.2, lw=0)
            ax.axhline(data_share, color="black", ls="--", lw=0.9, label="share of the data")
            ax.set_title(f"{setting} · budget {budget:g}", fontsize=7)
            ax.set_xlabel("examples trained / training-set size" if r == len(settings) - 1 else "")
            ax.set_ylabel("draws on mislabeled samples (%)" if c == 0 else "")
            ax.tick_params(labelsize=6)
    counts = _seed_counts(d)
    handles = [Line2D([], [], color=style.colour(m), lw=1.1) for m in methods]
    handles.append(Line2D([], [], color="black", ls="--", lw=0.9))
    legend_outside(fig, handles, [f"{m} ({counts[m]})" for m in methods] + ["share of the data"],
                   title="method (seeds)")
    fig.suptitle(f"Share of each epoch's draws on mislabeled samples, {INTERVAL}", fontsize=8)
    fig.tight_layout()
    return fig


def plot_noise(summary_dir: str, out_dir: str) -> list[str]:
    """The noise figures (outputs.NOISE_FIGURES) from the summary; none when no run is on a noisy dataset."""
    import seaborn as sns

    sns.set_theme(context="paper", style="whitegrid", font_scale=0.9)
    summary = Path(summary_dir)
    noise_draws = read_csv(summary / "noise_draws.csv")
    if noise_draws.empty:
        log.info("no run on a dataset with label_noise: no noise figure")
        return []
    style = Style(read_csv(summary / "final.csv"))
    save(draw_share_figure(noise_draws, style), out_dir, "noise_draw_share", style)
    return ["noise_draw_share"]

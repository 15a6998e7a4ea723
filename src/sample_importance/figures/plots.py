"""Figures from the summary tables: accuracy vs iteration, speedup, class balance.

Each figure is written as PNG and PDF (vector), at paper column widths, with one
colour per method kept the same across all figures (seaborn's colour-blind
palette), 95 % confidence bands over seeds, and the git commit and config hash of
the runs in the file's metadata.
"""

from __future__ import annotations

import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from ..atomic import atomic_path  # noqa: E402
from ..outputs import FIGURE_FORMATS  # noqa: E402

log = logging.getLogger(__name__)

# canonical order of method implementations; labels of the same implementation follow their config order
METHOD_ORDER = ("uniform", "uniform_replacement", "biased", "p_sgd", "c_sgd", "selective_backprop",
                "upper_bound_is", "loss_rank", "infobatch", "el2n_prune")
COLUMN_WIDTH = 3.4  # inches: one column of a two-column paper
TEXT_WIDTH = 7.0


class Style:
    """Method order and colours shared by every figure of one summary."""

    def __init__(self, final: pd.DataFrame):
        pairs = final[["method", "method_name"]].drop_duplicates()
        rank = {m: i for i, m in enumerate(METHOD_ORDER)}
        pairs = pairs.assign(r=pairs["method_name"].map(lambda m: rank.get(m, len(rank)))).sort_values(["r", "method"])
        self.order = list(pairs["method"])
        colours = sns.color_palette("colorblind", n_colors=max(10, len(self.order)))
        self.palette = dict(zip(self.order, colours))
        self.provenance = {
            "commit": ";".join(sorted(final["commit"].astype(str).unique())),
            "config_hash": ";".join(sorted(final["config_hash"].astype(str).unique()))[:200],
        }


def save(fig, out_dir: str, stem: str, style: Style) -> None:
    text = f"sample_importance; commit {style.provenance['commit']}; config {style.provenance['config_hash']}"
    for ext in FIGURE_FORMATS:
        meta = {"Title": stem, "Subject": text} if ext == "pdf" else {"Title": stem, "Description": text}
        with atomic_path(Path(out_dir) / f"{stem}.{ext}") as tmp:
            fig.savefig(tmp, format=ext, dpi=200, bbox_inches="tight", metadata=meta)
    plt.close(fig)


def accuracy_vs_iteration(curves: pd.DataFrame, dataset: str, style: Style):
    """Test accuracy vs iteration; one panel per (model, augmentation) row and budget column."""
    d = curves[curves["dataset"] == dataset].copy()
    d["test_accuracy"] *= 100
    d["setting"] = d["model"] + " · " + d["augmentation"]
    n_budgets = d["budget"].nunique()
    g = sns.relplot(
        data=d, x="iteration", y="test_accuracy", hue="method", hue_order=[m for m in style.order if m in set(d["method"])],
        palette=style.palette, col="budget", row="setting", kind="line", errorbar=("ci", 95),
        height=2.3, aspect=1.25, facet_kws={"sharex": False, "sharey": True}, linewidth=1.2,
    )
    g.set_axis_labels("iteration (optimizer steps)", "test accuracy (%)")
    g.set_titles("{row_name} · budget {col_name}")
    g.figure.suptitle(f"{dataset}: test accuracy vs iteration (mean, 95% CI over seeds)", y=1.02)
    sns.move_legend(g, "upper left", bbox_to_anchor=(1.0, 0.9), title="method")
    g.figure.set_size_inches(min(TEXT_WIDTH, 2.6 * n_budgets + 1.2), g.figure.get_size_inches()[1])
    return g.figure


def speedup_figure(speedup: pd.DataFrame, style: Style):
    """Speedup over uniform in iterations and in wall-clock seconds; 'not reached' drawn as a marker."""
    s = speedup.copy()
    s["panel"] = s["dataset"] + " · " + s["model"] + " · " + s["augmentation"]
    panels = list(dict.fromkeys(s["panel"]))
    fig, axes = plt.subplots(len(panels), 2, figsize=(TEXT_WIDTH, 2.4 * len(panels)), squeeze=False)
    methods = [m for m in style.order if m in set(s["method"])]
    budgets = sorted(s["budget"].unique())
    width = 0.8 / max(1, len(methods))
    for row, panel in enumerate(panels):
        p = s[s["panel"] == panel]
        for col, (metric, unit) in enumerate((("speedup_iterations", "iterations"), ("speedup_seconds", "wall-clock s"))):
            ax = axes[row][col]
            for i, method in enumerate(methods):
                m = p[p["method"] == method].set_index("budget").reindex(budgets)
                x = np.arange(len(budgets)) + (i - (len(methods) - 1) / 2) * width
                values = m[metric].to_numpy(dtype=float)
                ax.bar(x, np.nan_to_num(values), width, color=style.palette[method], label=method)
                for xi, v in zip(x, values):
                    if np.isnan(v):
                        ax.text(xi, 0.02, "not\nreached", ha="center", va="bottom", fontsize=5, rotation=90,
                                transform=ax.get_xaxis_transform())
            ax.axhline(1.0, color="0.3", lw=0.8, ls="--")
            ax.set_xticks(np.arange(len(budgets)), [f"{b:g}" for b in budgets])
            ax.set_xlabel("budget (fraction of full schedule)")
            ax.set_ylabel(f"speedup ({unit}) ×")
            ax.set_title(panel, fontsize=8)
    target = s["reference"].iloc[0] if len(s) else ""
    fig.suptitle(f"Speedup to reach the best accuracy of {target} (>1: faster)", fontsize=9)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.0, 0.95), title="method", fontsize=7)
    fig.tight_layout()
    return fig


def class_balance_figure(balance: pd.DataFrame, per_class: pd.DataFrame, style: Style):
    """Per class: training share, sampling share of the importance weights, balanced share; and test accuracy."""
    datasets = list(dict.fromkeys(per_class["dataset"]))
    fig, axes = plt.subplots(2, len(datasets), figsize=(max(COLUMN_WIDTH, 3.2 * len(datasets)), 5.0), squeeze=False)
    for col, dataset in enumerate(datasets):
        ax = axes[0][col]
        b = balance[balance["dataset"] == dataset]
        if len(b):
            shares = b.groupby("class_index")[["train_share", "sampling_share", "balanced_share"]].mean()
            x = np.arange(len(shares))
            ax.bar(x - 0.2, shares["train_share"] * 100, 0.4, color="0.7", label="training set")
            ax.bar(x + 0.2, shares["sampling_share"] * 100, 0.4, color=style.palette.get("biased", "C1"),
                   label="importance sampling")
            ax.plot(x, shares["balanced_share"] * 100, color="k", ls="--", lw=0.8, label="balanced")
            ax.set_xticks(x, b.drop_duplicates("class_index").sort_values("class_index")["class"].astype(str), fontsize=6)
        else:
            ax.text(0.5, 0.5, "no staged method", ha="center", transform=ax.transAxes)
        ax.set_title(dataset, fontsize=9)
        ax.set_xlabel("class")
        ax.set_ylabel("share of draws (%)")
        if col == 0 and len(b):
            ax.legend(fontsize=6)
        ax = axes[1][col]
        pc = per_class[per_class["dataset"] == dataset].copy()
        pc["test_accuracy"] *= 100
        sns.barplot(data=pc, x="class_index", y="test_accuracy", hue="method", palette=style.palette,
                    hue_order=[m for m in style.order if m in set(pc["method"])], errorbar=("ci", 95), ax=ax, err_kws={"linewidth": 0.8})
        ax.set_xlabel("class index")
        ax.set_ylabel("test accuracy (%)")
        ax.legend(fontsize=6, title=None)
    fig.suptitle("Class balance of the importance distribution (mean over runs) and per-class test accuracy", fontsize=9)
    fig.tight_layout()
    return fig


def plot_all(summary_dir: str, out_dir: str) -> list[str]:
    sns.set_theme(context="paper", style="whitegrid", font_scale=0.9)
    summary = Path(summary_dir)
    curves = pd.read_csv(summary / "curves.csv")
    final = pd.read_csv(summary / "final.csv")
    style = Style(final)
    written = []
    for dataset in dict.fromkeys(curves["dataset"]):
        save(accuracy_vs_iteration(curves, dataset, style), out_dir, f"accuracy_vs_iteration_{dataset}", style)
        written.append(f"accuracy_vs_iteration_{dataset}")
    save(speedup_figure(pd.read_csv(summary / "speedup.csv"), style), out_dir, "speedup", style)
    save(class_balance_figure(pd.read_csv(summary / "class_balance.csv"), pd.read_csv(summary / "per_class.csv"), style),
         out_dir, "class_balance", style)
    written += ["speedup", "class_balance"]
    from .plots_budget import accuracy_vs_budget  # noqa: PLC0415 - it imports this module
    save(accuracy_vs_budget(final, style), out_dir, "accuracy_vs_budget", style)
    written.append("accuracy_vs_budget")
    log.info("wrote %d figures to %s", len(written), out_dir)
    return written

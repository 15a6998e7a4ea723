"""Figures of the importance itself, of model dependence, class balance over time and the methods table.

Reads the tables of importance_analysis (results/summary/importance_*.csv), the
warm-up records (for distributions), the cached datasets (for the easy/hard
images) and the summary tables of aggregate (draws, methods, final). Shares
plots.Style, so method colours and order are those of every other figure;
models and classes, which are not methods, get palettes of their own
(colour-blind safe: seaborn's colorblind palette and viridis).

Run as a pipeline step (the rule `importance_plots`):

    python -m sample_importance.figures.plots_importance figures --summary results/summary --out figures \\
        --data digits=results/data/digits-<hash>.pt [--data ...] --staged biased WARMUP/records.pt [...]
    python -m sample_importance.figures.plots_importance readme --out figures/README.md STEM=CAPTION.rst [...]
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from ..atomic import atomic_path  # noqa: E402
from ..analysis.importance_analysis import Warmup, draw_shares, load_warmup, reference_warmups  # noqa: E402
from ..outputs import importance_figure_names  # noqa: E402
from .plots import COLUMN_WIDTH, TEXT_WIDTH, Style, save  # noqa: E402

log = logging.getLogger(__name__)

SCORE_LABELS = {"loss": "loss", "el2n": "EL2N", "forgetting": "forgetting", "margin": "margin",
                "variance": "variance (Active Bias)", "p_sgd": "p-SGD statistic"}


def model_palette(models) -> dict:
    """Models get the last colours of the colour-blind palette, so they are not read as methods."""
    colours = sns.color_palette("colorblind", 10)[::-1]
    return {m: colours[i % 10] for i, m in enumerate(dict.fromkeys(models))}


def class_colours(n_classes: int) -> list:
    """Classes in index order along viridis: on long-tailed data, index order is frequency order."""
    return sns.color_palette("viridis", n_classes)


def _image(x: np.ndarray) -> tuple[np.ndarray, str | None]:
    """[C, H, W] uint8 -> something imshow draws (grey for one channel)."""
    return (x[0], "gray") if x.shape[0] == 1 else (np.transpose(x, (1, 2, 0)), None)


# --------------------------------------------------------------------------- easy / hard


def easy_hard_figure(table: pd.DataFrame, images: np.ndarray, classes: list[str]):
    """Per class (rows): the k easiest and the k hardest training images, each labelled with its score."""
    k = int(table.groupby(["class_index", "kind"]).size().max()) if len(table) else 1
    class_ids = sorted(table["class_index"].unique())
    n_cols = 2 * k + 1  # a spacer column between easy and hard
    cell = COLUMN_WIDTH / (n_cols + 0.6)
    fig = plt.figure(figsize=(COLUMN_WIDTH, cell * 1.25 * len(class_ids) + 0.5))
    grid = fig.add_gridspec(len(class_ids), n_cols, width_ratios=[1] * k + [0.25] + [1] * k, wspace=0.08, hspace=0.45)
    for row, c in enumerate(class_ids):
        for kind, offset in (("easy", 0), ("hard", k + 1)):
            picked = table[(table["class_index"] == c) & (table["kind"] == kind)].sort_values("rank")
            for j in range(k):
                ax = fig.add_subplot(grid[row, offset + j])
                ax.set_xticks([])
                ax.set_yticks([])
                for spine in ax.spines.values():
                    spine.set_visible(False)
                if j >= len(picked):
                    continue
                r = picked.iloc[j]
                img, cmap = _image(images[int(r["index"])])
                ax.imshow(img, cmap=cmap, vmin=0, vmax=255, interpolation="nearest")
                ax.set_xlabel(f"{r['score']:.2f}", fontsize=5, labelpad=1)
                if j == 0 and kind == "easy":
                    ax.set_ylabel(classes[c], fontsize=6, rotation=0, ha="right", va="center", labelpad=2)
                if row == 0 and j == 0:
                    ax.set_title(f"{k} easiest →" if kind == "easy" else f"{k} hardest →", fontsize=6, loc="left")
    metric = table["metric"].iloc[0] if len(table) else "one_minus_p"
    r0 = table.iloc[0] if len(table) else {}
    fig.suptitle(f"{r0.get('dataset', '')}: easiest / hardest samples per class\nimportance {metric} "
                 f"({r0.get('model', '')} seed {r0.get('seed', '')}, E={r0.get('warmup_epochs', '')} warm-up epochs)",
                 fontsize=6.5, y=0.995)
    return fig


# --------------------------------------------------------------------------- distribution and re-scoring


def importance_distribution_figure(refs: dict[str, Warmup], rescoring: pd.DataFrame):
    """Rows = datasets. Histogram of the importance; ECDF per class; ranking stability when re-scored."""
    fig, axes = plt.subplots(len(refs), 3, figsize=(TEXT_WIDTH, 2.1 * len(refs) + 0.4), squeeze=False)
    palette = model_palette(rescoring["model"]) if len(rescoring) else {}
    for row, (dataset, w) in enumerate(refs.items()):
        s = w.score()
        ax = axes[row][0]
        ax.hist(s, bins=40, range=(0, 1), color="0.45")
        ax.set_xlabel("importance (mean 1 − p_true over warm-up)")
        ax.set_ylabel("samples")
        ax.set_title(f"{dataset} ({w.spec['model']} s{w.spec['seed']}, n={len(s)})", fontsize=8)
        ax = axes[row][1]
        colours = class_colours(len(w.classes))
        for c, name in enumerate(w.classes):
            vals = np.sort(s[w.labels == c])
            if len(vals):
                ax.step(vals, np.arange(1, len(vals) + 1) / len(vals), where="post", color=colours[c], lw=0.9, label=name)
        ax.set_xlim(0, 1)
        ax.set_xlabel("importance")
        ax.set_ylabel("ECDF within class")
        ax.legend(fontsize=5, ncol=2, title="class", title_fontsize=5, loc="best")
        ax = axes[row][2]
        r = rescoring[rescoring["dataset"] == dataset]
        for model, g in r.groupby("model", sort=False):
            m = g.groupby("epochs_scored")[["spearman_cumulative", "spearman_single_epoch"]].mean()
            ax.plot(m.index, m["spearman_cumulative"], "o-", color=palette[model], lw=1.2, ms=3, label=f"{model}: epochs [0, e)")
            ax.plot(m.index, m["spearman_single_epoch"], "s--", color=palette[model], lw=0.9, ms=2.5, label=f"{model}: epoch e alone")
        ax.set_xlabel("warm-up epochs scored e")
        ax.set_ylabel("Spearman ρ with final score")
        ax.set_ylim(min(0.0, ax.get_ylim()[0]), 1.02)
        if len(r):
            ax.set_xticks(sorted(r["epochs_scored"].unique()))
        ax.legend(fontsize=5)
    fig.suptitle("Importance distribution per dataset and class, and its stability if re-scored after e epochs "
                 "(mean over seeds and budgets)", fontsize=8)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- model dependence


def _correlation_panels(corr: pd.DataFrame) -> list[tuple]:
    """One heat map per dataset and augmentation, at the largest budget (the full schedule's warm-up)."""
    keys = ["dataset", "augmentation", "budget", "warmup_epochs"]
    groups = corr.drop_duplicates(keys)[keys]
    top = groups.loc[groups.groupby(["dataset", "augmentation"])["budget"].idxmax()]
    return [tuple(r) for r in top.itertuples(index=False)]


def importance_correlation_figure(corr: pd.DataFrame):
    """Spearman heat maps between warm-ups (seeds of one model, models), symmetric, ones on the diagonal."""
    panels = _correlation_panels(corr)
    n_labels = max((corr["a"].nunique() for _ in [0]), default=1)
    size = max(COLUMN_WIDTH / 1.4, 0.32 * n_labels + 1.2)
    ncols = min(len(panels), max(1, int(TEXT_WIDTH // size)))
    nrows = int(np.ceil(len(panels) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.3), squeeze=False)
    vmin = min(0.0, float(corr["spearman"].min()))
    for ax, (dataset, aug, budget, epochs) in zip(axes.flat, panels):
        g = corr[(corr["dataset"] == dataset) & (corr["augmentation"] == aug) & (corr["budget"] == budget)
                 & (corr["warmup_epochs"] == epochs)]
        order = list(dict.fromkeys(g["a"]))
        m = g.pivot(index="a", columns="b", values="spearman").loc[order, order]
        sns.heatmap(m, ax=ax, vmin=vmin, vmax=1, cmap="viridis", square=True, annot=len(order) <= 10, fmt=".2f",
                    annot_kws={"fontsize": 5}, cbar_kws={"shrink": 0.7, "label": "Spearman ρ"})
        ax.set_xlabel("")
        ax.set_ylabel("")
        ax.tick_params(labelsize=6)
        ax.set_title(f"{dataset} · {aug} · budget {budget:g} · E={epochs}", fontsize=7)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.suptitle("Rank correlation of importance between warm-ups (seeds of a model, models)", fontsize=8)
    fig.tight_layout()
    return fig


def score_agreement_figure(agreement: pd.DataFrame):
    """Per dataset: Spearman of one_minus_p with each other score; bars per model, mean ± sd over warm-ups."""
    datasets = list(dict.fromkeys(agreement["dataset"]))
    order = [s for s in SCORE_LABELS if s in set(agreement["score"])]
    palette = model_palette(agreement["model"])
    fig, axes = plt.subplots(1, len(datasets), figsize=(max(COLUMN_WIDTH, 2.6 * len(datasets)), 2.6), squeeze=False,
                             sharey=True)
    for ax, dataset in zip(axes[0], datasets):
        d = agreement[agreement["dataset"] == dataset]
        sns.barplot(data=d, x="score", y="spearman", hue="model", order=order, palette=palette, errorbar="sd",
                    ax=ax, err_kws={"linewidth": 0.8}, capsize=0.15)
        ax.set_xticks(range(len(order)), [SCORE_LABELS[s] for s in order], rotation=40, ha="right", fontsize=6)
        ax.set_xlabel("")
        ax.set_ylabel("Spearman ρ with 1 − p (paper)")
        ax.set_ylim(min(0.0, ax.get_ylim()[0]), 1.05)
        ax.axhline(1.0, color="0.3", lw=0.6, ls=":")
        ax.set_title(dataset, fontsize=8)
        ax.legend(fontsize=6, title="model", title_fontsize=6)
    fig.suptitle("Agreement of the paper's importance with other scores (same warm-up records)", fontsize=8)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- class balance over time


def class_balance_over_time_figure(draws: pd.DataFrame, balance: pd.DataFrame, staged: list[str]):
    """Rows = datasets, columns = staged method · model: per-epoch share of draws per class (stacked),
    beside the training set's class shares and a balanced set's."""
    d = draws[draws["method_name"].isin(staged)]
    if d.empty:
        fig, ax = plt.subplots(figsize=(COLUMN_WIDTH, 1.5))
        ax.text(0.5, 0.5, "no staged method in this config", ha="center", va="center")
        ax.axis("off")
        return fig
    d = d[d["budget"] == d.groupby("dataset")["budget"].transform("max")]
    d = d[d["augmentation"] == d.groupby("dataset")["augmentation"].transform("first")]
    shares = draw_shares(d)
    datasets = list(dict.fromkeys(shares["dataset"]))
    columns = list(dict.fromkeys(zip(shares["method"], shares["model"])))
    fig, axes = plt.subplots(len(datasets), len(columns), figsize=(min(TEXT_WIDTH, 2.5 * len(columns) + 0.8),
                                                                     2.1 * len(datasets) + 0.3), squeeze=False)
    for row, dataset in enumerate(datasets):
        train = (balance[balance["dataset"] == dataset].drop_duplicates("class_index").sort_values("class_index")
                 .set_index("class_index")["train_share"])
        for col, (method, model) in enumerate(columns):
            ax = axes[row][col]
            s = shares[(shares["dataset"] == dataset) & (shares["method"] == method) & (shares["model"] == model)]
            if s.empty:
                ax.axis("off")
                continue
            table = s.pivot(index="epoch", columns="class_index", values="share").fillna(0.0) * 100
            colours = class_colours(table.shape[1])
            ax.stackplot(table.index, table.T.to_numpy(), colors=colours, linewidth=0)
            last = table.index.max()
            ref = {"train": train.reindex(table.columns).fillna(0).to_numpy() * 100,
                   "balanced": np.full(table.shape[1], 100.0 / table.shape[1])}
            for i, (name, values) in enumerate(ref.items()):
                x = last + 1.5 + 1.2 * i
                ax.bar(x, values, bottom=np.concatenate([[0], np.cumsum(values)[:-1]]), width=1.0, color=colours,
                       edgecolor="white", linewidth=0.3)
                ax.text(x, 101, name, ha="center", va="bottom", fontsize=5, rotation=90)
            epochs = staged_warmup_epochs(d, dataset, method)
            if epochs:
                ax.axvline(epochs - 0.5, color="k", lw=0.7, ls="--")
            ax.set_xlim(table.index.min() - 0.5, last + 3.3)
            ax.set_ylim(0, 100)
            ax.set_xlabel("epoch")
            ax.set_ylabel("share of draws (%)" if col == 0 else "")
            ax.set_title(f"{dataset} · {method} · {model}", fontsize=7)
    n_classes = int(shares["class_index"].max()) + 1
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in class_colours(n_classes)]
    fig.legend(handles, [str(c) for c in range(n_classes)], title="class", loc="upper left", bbox_to_anchor=(1.0, 0.95),
               fontsize=6, title_fontsize=6)
    fig.suptitle("Share of draws per class per epoch (mean over seeds, largest budget); dashed: end of warm-up",
                 fontsize=8)
    fig.tight_layout()
    return fig


def staged_warmup_epochs(draws: pd.DataFrame, dataset: str, method: str) -> int | None:
    """Warm-up length of a staged run, read from its draws: the first epoch whose class shares leave uniform's.

    The draws table has no warm-up column; a staged run's warm-up draws are
    permutations (each class exactly its count), the continuation draws with
    replacement, so the first epoch whose per-class draws differ from epoch 0's is E.
    """
    d = draws[(draws["dataset"] == dataset) & (draws["method"] == method)]
    seed = d["seed"].min()
    d = d[(d["seed"] == seed) & (d["model"] == d["model"].iloc[0])].pivot(index="epoch", columns="class_index", values="draws")
    changed = [e for e in d.index if not np.array_equal(d.loc[e].to_numpy(), d.iloc[0].to_numpy())]
    return int(changed[0]) if changed else None


# --------------------------------------------------------------------------- methods table


def final_accuracy_methods_figure(methods: pd.DataFrame, style: Style):
    """summary/methods.csv as a figure: final accuracy mean ± std per method; uniform's mean and band for reference."""
    m = methods.copy()
    m["panel"] = m["dataset"] + " · " + m["model"] + " · " + m["augmentation"]
    panels = list(dict.fromkeys(m["panel"]))
    budgets = sorted(m["budget"].unique())
    order = [x for x in style.order if x in set(m["method"])]
    fig, axes = plt.subplots(len(panels), len(budgets), squeeze=False, sharey=True,
                             figsize=(min(TEXT_WIDTH, 2.3 * len(budgets) + 1.2), 0.22 * len(order) * len(panels) + 0.9 * len(panels)))
    for row, panel in enumerate(panels):
        for col, budget in enumerate(budgets):
            ax = axes[row][col]
            p = m[(m["panel"] == panel) & (m["budget"] == budget)].set_index("method")
            ref = p[p["method_name"] == "uniform"]
            if len(ref):
                mean, std = ref["mean"].iloc[0] * 100, np.nan_to_num(ref["std"].iloc[0]) * 100
                ax.axvspan(mean - std, mean + std, color="0.9", lw=0)
                ax.axvline(mean, color="0.4", lw=0.7, ls="--")
            for y, method in enumerate(order):
                if method not in p.index:
                    continue
                r = p.loc[method]
                ax.errorbar(r["mean"] * 100, y, xerr=np.nan_to_num(r["std"]) * 100, fmt="o", ms=3.5, capsize=2,
                            color=style.palette[method], lw=1)
                if pd.notna(r.get("p_value")) and r["p_value"] < 0.05:
                    ax.text(r["mean"] * 100, y - 0.3, "*", ha="center", fontsize=7)
            ax.margins(x=0.15)
            ax.set_yticks(range(len(order)), order, fontsize=6)
            ax.set_ylim(len(order) - 0.5, -0.5)
            ax.set_xlabel("final test accuracy (%)" if row == len(panels) - 1 else "")
            ax.set_title(f"{panel} · budget {budget:g}", fontsize=7)
            ax.tick_params(axis="x", labelsize=6)
    fig.suptitle("Final test accuracy, mean ± std over seeds (grey: uniform ± std; *: paired t-test p < 0.05)", fontsize=8)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- pipeline step


def plot_importance(summary_dir: str, records: list[str], data_paths: dict[str, str], staged: list[str],
                    out_dir: str, datasets: list[str] | None = None) -> list[str]:
    """Every figure of importance_figure_names; returns the stems written."""
    sns.set_theme(context="paper", style="whitegrid", font_scale=0.9)
    summary = Path(summary_dir)
    style = Style(pd.read_csv(summary / "final.csv"))
    datasets = datasets or list(data_paths)
    written = []

    def put(fig, stem):
        save(fig, out_dir, stem, style)
        written.append(stem)

    if records:
        _warmup_figures(summary, records, data_paths, staged, datasets, put)
    put(final_accuracy_methods_figure(pd.read_csv(summary / "methods.csv"), style), "final_accuracy_methods")
    expected = importance_figure_names(datasets, with_warmups=bool(records))
    assert written == expected, f"plots_importance wrote {written}, outputs.py lists {expected}"
    log.info("wrote %d figures to %s", len(written), out_dir)
    return written


def _warmup_figures(summary: Path, records: list[str], data_paths: dict[str, str], staged: list[str],
                    datasets: list[str], put) -> None:
    """The figures that need warm-up records (configs with a staged method)."""
    from ..data import datasets as data_mod

    refs = reference_warmups([load_warmup(p) for p in records])
    easy_hard = pd.read_csv(summary / "importance_easy_hard.csv")
    for dataset in datasets:
        ds = data_mod.load(data_paths[dataset])
        put(easy_hard_figure(easy_hard[easy_hard["dataset"] == dataset], ds.train.x.numpy(), ds.classes),
            f"easy_hard_{dataset}")
    put(importance_distribution_figure(refs, pd.read_csv(summary / "importance_rescoring.csv")), "importance_distribution")
    put(importance_correlation_figure(pd.read_csv(summary / "importance_correlation.csv")), "importance_correlation")
    put(score_agreement_figure(pd.read_csv(summary / "importance_agreement.csv")), "score_agreement")
    put(class_balance_over_time_figure(pd.read_csv(summary / "draws.csv"), pd.read_csv(summary / "class_balance.csv"),
                                       staged), "class_balance_over_time")


def caption_line(caption: Path) -> str:
    """The first paragraph of an .rst caption, joined to one line (it opens with what the figure shows)."""
    lines = []
    for line in Path(caption).read_text().splitlines():
        if not line.strip():
            if lines:
                break
            continue
        lines.append(line.strip())
    return " ".join(lines)


def write_readme(out: str, entries: list[tuple[str, str]], formats=("png", "pdf")) -> None:
    """figures/README.md: one line per figure (stem -> the first paragraph of its caption)."""
    text = ["# Figures", "", "Written by the pipeline (`snakemake`); each figure is a PNG and a vector PDF. "
            "Captions with the computation: `workflow/report/*.rst`, or `snakemake --report report.html`.", ""]
    for stem, caption in entries:
        line = caption_line(Path(caption)) if caption else "(no caption)"
        text.append(f"- `{stem}` ({', '.join(formats)}): {line}")
    with atomic_path(out) as tmp:
        tmp.write_text("\n".join(text) + "\n")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m sample_importance.figures.plots_importance", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    f = sub.add_parser("figures", help="the importance figures")
    f.add_argument("--summary", required=True, help="folder of the summary and importance_*.csv tables")
    f.add_argument("--out", required=True, help="figures folder")
    f.add_argument("--data", action="append", required=True, metavar="NAME=PATH",
                   help="a cached dataset (repeat, in config order)")
    f.add_argument("--staged", action="append", default=[], metavar="METHOD",
                   help="a method implementation run as warm-up -> continue (repeat)")
    f.add_argument("records", nargs="*", help="warm-up records.pt files (none: only the methods figure)")
    r = sub.add_parser("readme", help="figures/README.md from the captions")
    r.add_argument("--out", required=True)
    r.add_argument("entries", nargs="+", metavar="STEM=CAPTION", help="CAPTION may be empty")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if a.command == "figures":
        data_paths = dict(item.split("=", 1) for item in a.data)
        plot_importance(a.summary, a.records, data_paths, a.staged or ["biased"], a.out)
    else:
        write_readme(a.out, [tuple(e.split("=", 1)) for e in a.entries])


if __name__ == "__main__":
    main()

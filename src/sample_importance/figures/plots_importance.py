"""Figures of the importance itself, of model dependence, class balance over time and the methods table.

Reads the tables of importance_analysis (results/summary/importance_*.csv), the
warm-up records (for distributions), the cached datasets (for the easy/hard
images) and the summary tables of aggregate (draws, methods, final). Shares
plots.Style, so method colours and order are those of every other figure;
models and classes, which are not methods, get palettes of their own (models:
the colour-blind palette from its far end; classes: the qualitative tab10 /
tab20, so neighbouring classes are told apart, viridis by index beyond 20).
Intervals are Student-t 95 % intervals of the mean (analysis/stats.py
`t_interval`), with n written beside them; legends sit outside the axes.

Run as a pipeline step (the rule `importance_plots`):

    python -m sample_importance importance-plots --summary results/summary --out figures \\
        --data digits=results/data/digits-<hash>.pt [--data ...] --staged biased WARMUP/records.pt [...]
    python -m sample_importance figures-readme --out figures/README.md STEM=CAPTION.rst [...]
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

from ..atomic import atomic_path, read_csv  # noqa: E402
from ..analysis.importance_analysis import Warmup, draw_shares, load_warmup, reference_warmups  # noqa: E402
from ..analysis.stats import CONFIDENCE, t_interval  # noqa: E402
from ..methods import importance  # noqa: E402
from ..methods.biased import Biased  # noqa: E402
from ..outputs import importance_figure_names  # noqa: E402
from .plots import COLUMN_WIDTH, PERCENT, TEXT_WIDTH, Style, mark_intervals, save  # noqa: E402

log = logging.getLogger(__name__)

SCORE_LABELS = {"loss": "loss", "el2n": "EL2N", "forgetting": "forgetting", "margin": "margin",
                "variance": "Active Bias std", "p_sgd": "p-SGD statistic"}


def model_palette(models) -> dict:
    """Models get the last colours of the colour-blind palette, so they are not read as methods."""
    colours = sns.color_palette("colorblind", 10)[::-1]
    return {m: colours[i % 10] for i, m in enumerate(dict.fromkeys(models))}


def class_colours(n_classes: int) -> list:
    """A qualitative palette, so that neighbouring classes (stacked bands, ECDFs) are told apart.

    Up to 10 classes tab10, up to 20 tab20; beyond that no palette has
    distinguishable colours, so viridis along the class index (on long-tailed
    data the index is the frequency order) with a colour bar instead of a legend.
    """
    if n_classes <= 10:
        return sns.color_palette("tab10", n_classes)
    if n_classes <= 20:
        return sns.color_palette("tab20", n_classes)
    return sns.color_palette("viridis", n_classes)


def class_key(fig, names: list[str], colours: list, anchor=(1.0, 0.5)) -> None:
    """One class legend for the whole figure, outside the axes (a colour bar beyond 20 classes)."""
    if len(names) > 20:
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import BoundaryNorm, ListedColormap

        mappable = ScalarMappable(BoundaryNorm(np.arange(len(names) + 1) - 0.5, len(names)), ListedColormap(colours))
        bar = fig.colorbar(mappable, ax=fig.axes, label="class index", fraction=0.03, pad=0.02)
        bar.set_ticks(np.unique(np.linspace(0, len(names) - 1, 6).round()))
        return
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in colours]
    fig.legend(handles, names, title="class", loc="center left", bbox_to_anchor=anchor, fontsize=6,
               title_fontsize=6, frameon=False)


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


def _scorings_of(sampling: pd.DataFrame, w: Warmup) -> list[tuple[str, str, float]]:
    """(label, metric, smoothing) of the configured staged methods tabulated for warm-up w; the default if none."""
    keys = ["dataset", "model", "augmentation", "budget", "warmup_epochs", "seed"]
    rows = sampling
    for k in keys:
        rows = rows[rows[k] == w.coords[k]] if len(rows) and k in rows else rows
    configured = rows[rows["label"].fillna("") != ""] if len(rows) else rows
    found = list(dict.fromkeys(zip(configured["label"], configured["metric"], configured["smoothing"])))
    return found or [("default", Biased.defaults["metric"], float(Biased.defaults["smoothing"]))]


def _flatness_line(name: str, p: np.ndarray) -> str:
    f = importance.sampling_flatness(p)
    ratio = "∞" if np.isinf(f["max_min_ratio"]) else f"{f['max_min_ratio']:.3g}"
    return f"{name}: max/min {ratio}, ESS {f['ess_fraction']:.2f} N, top 10 %: {f['top10_share'] * 100:.0f} %"


def _sampling_panel(ax, w: Warmup, scorings: list[tuple[str, str, float]]) -> None:
    """Draw rate relative to uniform (N * p) of the raw scores and after each configured smoothing."""
    n = len(w.labels)
    curves = [("raw scores (smoothing 0)", w.score(), 0.0)]
    curves += [(f"{label}: {metric}, smoothing {eps:g}", w.score(metric), eps) for label, metric, eps in scorings]
    rates = [importance.sampling_probabilities(score, eps) * n for _, score, eps in curves]
    top = max(float(np.max(r)) for r in rates) * 1.02
    for i, ((name, _, _), rate) in enumerate(zip(curves, rates)):
        kw = {"histtype": "step", "color": "0.2", "lw": 1.0} if i == 0 else {"alpha": 0.55, "color": f"C{i}"}
        ax.hist(rate, bins=40, range=(0, top), label=name, **kw)
    ax.axvline(1.0, color="k", lw=0.6, ls=":")
    ax.set_xlabel("draw rate N·p (1 = uniform)")
    ax.set_ylabel("samples (count)")
    legend = ax.legend(fontsize=5, loc="upper left", bbox_to_anchor=(0.0, -0.32), frameon=False, title_fontsize=5,
                       title="\n".join(_flatness_line(name.split(":")[0], rate / n)
                                       for (name, _, _), rate in zip(curves, rates)))
    legend._legend_box.align = "left"


def _rescoring_panel(ax, r: pd.DataFrame, palette: dict) -> None:
    """Spearman with the final score when scored from fewer epochs: mean and t-interval over warm-ups per model."""
    for model, g in r.groupby("model", sort=False):
        for column, style, what in (("spearman_cumulative", "o-", "epochs [0, e)"),
                                    ("spearman_single_epoch", "s--", "epoch e alone")):
            stats = [(e, t_interval(x[column])) for e, x in g.groupby("epochs_scored")]
            e = np.array([x for x, _ in stats])
            mean = np.array([iv.mean for _, iv in stats])
            n = min(iv.n for _, iv in stats)
            ax.plot(e, mean, style, color=palette[model], lw=1.0, ms=2.5, label=f"{model}: {what} (n={n})")
            if n >= 2:
                ax.fill_between(e, [iv.low for _, iv in stats], [iv.high for _, iv in stats], color=palette[model],
                                alpha=0.15, lw=0)
    ax.set_xlabel("warm-up epochs scored e")
    ax.set_ylabel("Spearman ρ with final score")
    ax.set_ylim(min(0.0, ax.get_ylim()[0]), 1.02)
    if len(r):
        ax.set_xticks(sorted(r["epochs_scored"].unique()))
    legend = ax.legend(fontsize=5, loc="upper left", bbox_to_anchor=(0.0, -0.32), frameon=False, title_fontsize=5,
                       title=f"mean and {int(CONFIDENCE * 100)} % t-interval over warm-ups (seeds × budgets)")
    legend._legend_box.align = "left"


def importance_distribution_figure(refs: dict[str, Warmup], rescoring: pd.DataFrame, sampling: pd.DataFrame):
    """Per dataset, a 2 x 2 block: importance histogram; draw rates after smoothing (with flatness numbers);
    ECDF per class; ranking stability when re-scored after fewer epochs."""
    fig = plt.figure(figsize=(TEXT_WIDTH, 5.2 * len(refs) + 0.3))
    outer = fig.add_gridspec(len(refs), 1, hspace=0.3)
    palette = model_palette(rescoring["model"]) if len(rescoring) else {}
    most_classes = max(refs.values(), key=lambda w: len(w.classes)) if refs else None
    for row, (dataset, w) in enumerate(refs.items()):
        grid = outer[row].subgridspec(2, 2, hspace=1.0, wspace=0.35)
        s = w.score()
        ax = fig.add_subplot(grid[0, 0])
        ax.hist(s, bins=40, range=(0, 1), color="0.45")
        ax.set_xlabel("importance (mean 1 − p_true, 0-1)")
        ax.set_ylabel("samples (count)")
        ax.set_title(f"{dataset}: {w.spec['model']} seed {w.spec['seed']}, budget {float(w.spec['budget']):g}, "
                     f"E={w.coords['warmup_epochs']}, N={len(s)}", fontsize=7, loc="left")
        _sampling_panel(fig.add_subplot(grid[0, 1]), w, _scorings_of(sampling, w))
        ax = fig.add_subplot(grid[1, 0])
        colours = class_colours(len(w.classes))
        for c in range(len(w.classes)):
            vals = np.sort(s[w.labels == c])
            if len(vals):
                ax.step(vals, np.arange(1, len(vals) + 1) / len(vals), where="post", color=colours[c], lw=0.9)
        ax.set_xlim(0, 1)
        ax.set_xlabel("importance (0-1)")
        ax.set_ylabel("ECDF within class (fraction)")
        if len(w.classes) <= 20:  # the class key under the ECDF it explains: the right-hand column has its own text
            handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in colours]
            ax.legend(handles, w.classes, title="class", loc="upper left", bbox_to_anchor=(0.0, -0.32), ncol=5,
                      fontsize=7, title_fontsize=7, frameon=False, handlelength=1.0, columnspacing=1.0)
        _rescoring_panel(fig.add_subplot(grid[1, 1]), rescoring[rescoring["dataset"] == dataset], palette)
    if most_classes is not None and len(most_classes.classes) > 20:  # a colour bar
        class_key(fig, most_classes.classes, class_colours(len(most_classes.classes)), anchor=(0.99, 0.5))
    fig.suptitle("Importance of the training samples and the sampling distribution it gives", fontsize=8, y=0.995)
    fig.subplots_adjust(left=0.08, right=0.98, top=0.92, bottom=0.12)
    return fig


# --------------------------------------------------------------------------- model dependence


def _correlation_panels(corr: pd.DataFrame) -> list[tuple]:
    """One heat map per dataset and augmentation, at the largest budget (the full schedule's warm-up)."""
    keys = ["dataset", "augmentation", "budget", "warmup_epochs"]
    groups = corr.drop_duplicates(keys)[keys]
    top = groups.loc[groups.groupby(["dataset", "augmentation"])["budget"].idxmax()]
    return [tuple(r) for r in top.itertuples(index=False)]


CORRELATIONS = (("spearman", "overall Spearman ρ"),
                ("spearman_within_class", "within-class Spearman ρ\n(mean over classes)"))


def importance_correlation_figure(corr: pd.DataFrame):
    """Per dataset · augmentation (rows): the overall and the within-class rank correlation between warm-ups.

    Overall ρ on a long-tailed set mostly says that both warm-ups find the rare
    classes hard; the within-class ρ (importance_analysis.within_class_spearman:
    the unweighted mean over classes of the Spearman ρ inside each class) says
    whether they agree on which samples of a class are hard.
    """
    panels = _correlation_panels(corr)
    n_labels = corr["a"].nunique() if len(corr) else 1
    size = min(TEXT_WIDTH / 2, max(2.4, 0.3 * n_labels + 1.3))
    fig, axes = plt.subplots(len(panels), 3, figsize=(2 * size + 0.5, size * len(panels) + 0.5), squeeze=False,
                             gridspec_kw={"width_ratios": [1, 1, 0.06]})
    vmin = min(0.0, float(np.nanmin(corr[[c for c, _ in CORRELATIONS]].to_numpy()))) if len(corr) else 0.0
    for row, (dataset, aug, budget, epochs) in enumerate(panels):
        g = corr[(corr["dataset"] == dataset) & (corr["augmentation"] == aug) & (corr["budget"] == budget)
                 & (corr["warmup_epochs"] == epochs)]
        order = list(dict.fromkeys(g["a"]))
        for col, (column, label) in enumerate(CORRELATIONS):
            ax = axes[row][col]
            m = g.pivot(index="a", columns="b", values=column).loc[order, order]
            sns.heatmap(m, ax=ax, vmin=vmin, vmax=1, cmap="viridis", square=True, annot=len(order) <= 10, fmt=".2f",
                        annot_kws={"fontsize": 5}, cbar=col == 1, cbar_ax=axes[row][2] if col == 1 else None,
                        cbar_kws={"label": "Spearman ρ (−1 to 1)"})
            ax.set_xlabel("warm-up (model, seed)", fontsize=6)
            ax.set_ylabel("warm-up (model, seed)" if col == 0 else "", fontsize=6)
            ax.tick_params(labelsize=6)
            ax.set_title(f"{dataset} · {aug} · budget {budget:g} · E={epochs}\n{label}", fontsize=7)
    fig.suptitle("Rank correlation of importance between warm-ups (one value per pair of warm-ups, no interval)",
                 fontsize=8)
    fig.tight_layout()
    return fig


def score_agreement_figure(agreement: pd.DataFrame):
    """Per dataset: Spearman of one_minus_p with each other score; per model the mean and t-interval over warm-ups."""
    datasets = list(dict.fromkeys(agreement["dataset"]))
    order = [s for s in SCORE_LABELS if s in set(agreement["score"])]
    models = list(dict.fromkeys(agreement["model"]))
    palette = model_palette(models)
    fig, axes = plt.subplots(1, len(datasets), figsize=(max(COLUMN_WIDTH, 2.6 * len(datasets)), 2.8), squeeze=False,
                             sharey=True)
    width = 0.8 / max(1, len(models))
    for ax, dataset in zip(axes[0], datasets):
        d = agreement[agreement["dataset"] == dataset]
        for i, model in enumerate(models):
            ivs = [t_interval(d[(d["model"] == model) & (d["score"] == s)]["spearman"]) for s in order]
            x = np.arange(len(order)) + (i - (len(models) - 1) / 2) * width
            mean = np.array([iv.mean for iv in ivs])
            err = np.array([[iv.mean - iv.low, iv.high - iv.mean] if iv.n >= 2 else [0, 0] for iv in ivs]).T
            ax.bar(x, mean, width, color=palette[model], label=model)
            ax.errorbar(x, mean, yerr=np.nan_to_num(err), fmt="none", ecolor="0.2", elinewidth=0.8, capsize=1.5)
        ax.set_xticks(range(len(order)), [SCORE_LABELS[s] for s in order], rotation=40, ha="right", fontsize=6)
        ax.set_ylabel("Spearman ρ with 1 − p_true" if ax is axes[0][0] else "")
        ax.set_ylim(min(0.0, ax.get_ylim()[0]), 1.05)
        ax.axhline(1.0, color="0.3", lw=0.6, ls=":")
        ax.set_title(f"{dataset} (n={d.groupby('score').size().max()} warm-ups)", fontsize=7)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, title="model", loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=6,
               title_fontsize=6, frameon=False)
    fig.suptitle("Agreement of the paper's importance (1 − p_true) with other scores of the same warm-up records\n"
                 f"mean and {int(CONFIDENCE * 100)} % t-interval over warm-ups (seeds × budgets; n per panel)", fontsize=7)
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
    palette = class_colours(int(shares["class_index"].max()) + 1)
    datasets = list(dict.fromkeys(shares["dataset"]))
    columns = list(dict.fromkeys(zip(shares["method"], shares["model"])))
    fig, axes = plt.subplots(len(datasets), len(columns), figsize=(min(TEXT_WIDTH, max(3.0 * len(columns), 4.0) + 0.8),
                                                                     2.1 * len(datasets) + 0.5), squeeze=False)
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
            colours = [palette[int(c)] for c in table.columns]
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
            ax.set_xticks([t for t in ax.get_xticks() if table.index.min() <= t <= last])
            ax.set_ylim(0, 100)
            ax.set_xlabel("epoch (0 = first)")
            ax.set_ylabel("share of draws (%)" if col == 0 else "")
            seeds = d[(d["dataset"] == dataset) & (d["method"] == method) & (d["model"] == model)]["seed"].nunique()
            ax.set_title(f"{dataset} · {method} · {model} (n={seeds} seed{'s' * (seeds != 1)})", fontsize=7)
    fig.suptitle("Share of draws per class per epoch (mean over seeds, largest budget)\ndashed: end of warm-up; "
                 "bars: training set's and a balanced set's class shares", fontsize=7)
    fig.tight_layout()
    class_key(fig, class_names(balance, len(palette)), palette, anchor=(1.0, 0.5))
    return fig


def class_names(balance: pd.DataFrame, n_classes: int) -> list[str]:
    """Class names by index from the class-balance table (the index itself where a name is missing)."""
    names = {}
    if {"class_index", "class"} <= set(balance.columns):
        names = dict(zip(balance["class_index"].astype(int), balance["class"].astype(str)))
    return [names.get(c, str(c)) for c in range(n_classes)]


def staged_warmup_epochs(draws: pd.DataFrame, dataset: str, method: str) -> int | None:
    """Warm-up length of a staged run, read from its draws: the first epoch whose class shares leave uniform's.

    The draws table has no warm-up column; a staged run's warm-up draws are
    permutations (each class exactly its count), the continuation draws with
    replacement, so the first epoch whose per-class draws differ from epoch 0's is E.
    """
    d = draws[(draws["dataset"] == dataset) & (draws["method"] == method)]
    if d.empty:
        return None
    one_run = (d["seed"] == d["seed"].min()) & (d["model"] == d["model"].iloc[0])
    for column, pick in (("budget", d.get("budget", pd.Series(dtype=float)).max()),
                         ("augmentation", d["augmentation"].iloc[0] if "augmentation" in d else None)):
        if column in d:  # one run: several budgets or augmentations would give one epoch twice
            one_run &= d[column] == pick
    d = d[one_run].pivot(index="epoch", columns="class_index", values="draws")
    changed = [e for e in d.index if not np.array_equal(d.loc[e].to_numpy(), d.iloc[0].to_numpy())]
    return int(changed[0]) if changed else None


# --------------------------------------------------------------------------- methods table


def final_accuracy_methods_figure(methods: pd.DataFrame, final: pd.DataFrame, style: Style):
    """summary/methods.csv as a figure: final accuracy, mean and t-interval over seeds (from final.csv) per method;
    uniform's mean and interval for reference; * where methods.csv's paired test gives p < 0.05."""
    keys = ["dataset", "model", "augmentation", "budget", "method"]
    acc = {k: t_interval(g["final_test_accuracy"] * 100) for k, g in final.groupby(keys)}
    m = methods.copy()
    m["panel"] = m["dataset"] + " · " + m["model"] + " · " + m["augmentation"]
    panels = list(dict.fromkeys(m["panel"]))
    budgets = sorted(m["budget"].unique())
    order = [x for x in style.order if x in set(m["method"])]
    fig, axes = plt.subplots(len(panels), len(budgets), squeeze=False, sharey=True,
                             figsize=(min(TEXT_WIDTH, 2.3 * len(budgets) + 1.2), 0.3 * len(order) * len(panels) + 1.2 * len(panels) + 0.6))
    n_seen, marks = set(), []
    for row, panel in enumerate(panels):
        for col, budget in enumerate(budgets):
            ax = axes[row][col]
            p = m[(m["panel"] == panel) & (m["budget"] == budget)].set_index("method")
            ref = p[p["method_name"] == "uniform"]
            for y, method in enumerate(order):
                if method not in p.index:
                    continue
                r = p.loc[method]
                iv = acc.get((r["dataset"], r["model"], r["augmentation"], budget, method))
                if iv is None:
                    continue
                n_seen.add(iv.n)
                if method in ref.index:
                    if iv.n >= 2:
                        ax.axvspan(iv.low, iv.high, color="0.9", lw=0)
                    ax.axvline(iv.mean, color="0.4", lw=0.7, ls="--")
                high = min(iv.high, PERCENT[1]) if iv.n >= 2 else iv.mean  # past 100 %: to the axis, marked below
                err = [[iv.mean - iv.low], [high - iv.mean]] if iv.n >= 2 else None
                ax.errorbar(iv.mean, y, xerr=err, fmt="o", ms=3.5, capsize=2, color=style.palette.get(method, "0.3"), lw=1)
                spread = iv.high - iv.low if iv.n >= 2 else np.nan
                marks.append((y, pd.DataFrame([{"mean": iv.mean, "low": iv.low, "high": high, "raw_low": iv.low,
                                                "raw_high": iv.high if iv.n >= 2 else np.nan,
                                                "undefined": not (np.isfinite(spread) and spread > 1e-12)}]),
                              style.palette.get(method, "0.3")))
                star = "*" if _better_than_uniform(r) else ""
                ax.annotate(f"n={iv.n}{star}", (iv.mean, y), xytext=(0, 4), textcoords="offset points", ha="center",
                            va="bottom", fontsize=5)
            ax.margins(x=0.15)
            if ax.get_xlim()[1] > 100:  # an interval may pass 100 %; the axis does not
                ax.set_xlim(right=100)
            for y, frame, colour in marks:
                mark_intervals(ax, [y], frame, colour, axis="x")
            marks.clear()
            ax.set_yticks(range(len(order)), order, fontsize=6)
            ax.set_ylim(len(order) - 0.5, -0.5)
            ax.set_xlabel("final test accuracy (%)" if row == len(panels) - 1 else "")
            ax.set_title(f"{panel} · budget {budget:g}", fontsize=7)
            ax.tick_params(axis="x", labelsize=6)
    n = "/".join(str(x) for x in sorted(n_seen))
    test = "one-sided paired t-test, corrected within the budget column" if "verdict" in methods else "paired t-test"
    fig.suptitle(f"Final test accuracy, mean and {int(CONFIDENCE * 100)} % t-interval over seeds (n={n}; no interval "
                 f"for n=1)\ngrey band: uniform's interval; *: better than uniform, {test} p < 0.05", fontsize=7)
    fig.tight_layout()
    return fig


def _better_than_uniform(row) -> bool:
    """methods.csv's verdict where the table has it (else a raw paired p below 0.05 and a positive difference)."""
    if "verdict" in row:
        return row["verdict"] == "better"
    p = row.get("p_value")
    diff = row.get("diff", row.get("diff_to_uniform"))
    return bool(pd.notna(p) and p < 0.05 and pd.notna(diff) and diff > 0)


# --------------------------------------------------------------------------- pipeline step


def plot_importance(summary_dir: str, records: list[str], data_paths: dict[str, str], staged: list[str],
                    out_dir: str, datasets: list[str] | None = None) -> list[str]:
    """Every figure of importance_figure_names; returns the stems written."""
    sns.set_theme(context="paper", style="whitegrid", font_scale=0.9)
    summary = Path(summary_dir)
    final = read_csv(summary / "final.csv")
    style = Style(final)
    datasets = datasets or list(data_paths)
    written = []

    def put(fig, stem):
        save(fig, out_dir, stem, style)
        written.append(stem)

    if records:
        _warmup_figures(summary, records, data_paths, staged, datasets, put)
    put(final_accuracy_methods_figure(read_csv(summary / "methods.csv"), final, style), "final_accuracy_methods")
    expected = importance_figure_names(datasets, with_warmups=bool(records))
    assert written == expected, f"plots_importance wrote {written}, outputs.py lists {expected}"
    log.info("wrote %d figures to %s", len(written), out_dir)
    return written


def _warmup_figures(summary: Path, records: list[str], data_paths: dict[str, str], staged: list[str],
                    datasets: list[str], put) -> None:
    """The figures that need warm-up records (configs with a staged method)."""
    from ..data import datasets as data_mod

    refs = reference_warmups([load_warmup(p) for p in records])
    easy_hard = read_csv(summary / "importance_easy_hard.csv")
    for dataset in datasets:
        ds = data_mod.load(data_paths[dataset])
        put(easy_hard_figure(easy_hard[easy_hard["dataset"] == dataset], ds.train.x.numpy(), ds.classes),
            f"easy_hard_{dataset}")
    put(importance_distribution_figure(refs, read_csv(summary / "importance_rescoring.csv"),
                                       _read_optional(summary / "importance_sampling.csv")), "importance_distribution")
    put(importance_correlation_figure(read_csv(summary / "importance_correlation.csv")), "importance_correlation")
    put(score_agreement_figure(read_csv(summary / "importance_agreement.csv")), "score_agreement")
    put(class_balance_over_time_figure(read_csv(summary / "draws.csv"), read_csv(summary / "class_balance.csv"),
                                       staged), "class_balance_over_time")


def _read_optional(path: Path) -> pd.DataFrame:
    """A table an older summary may lack (then the figure falls back to the method's defaults)."""
    return read_csv(path) if path.exists() else pd.DataFrame()


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

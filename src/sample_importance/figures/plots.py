"""Figures from the summary tables: accuracy vs iteration, speedup, class balance.

Each figure is written as PNG and PDF (vector), at paper column widths, with one
colour per method kept the same across all figures (seaborn's colour-blind
palette), and the git commit and config hash of the runs in the file's metadata.

Every interval is the Student-t 95 % interval of the mean over seeds
(analysis/stats.py `t_interval`), computed here per plotted x from the per-seed
rows, never a seaborn bootstrap (over 3 seeds that is the min-max range), and n
is written in the legend. Accuracy axes are zoomed to the plotted intervals so
that one point of accuracy is visible; legends sit outside the axes.
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
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch, Rectangle  # noqa: E402

from ..analysis.stats import accuracy_floor, t_interval  # noqa: E402
from ..atomic import atomic_path, read_csv  # noqa: E402
from ..outputs import FIGURE_FORMATS  # noqa: E402

log = logging.getLogger(__name__)

# canonical order of method implementations; labels of the same implementation follow their config order
METHOD_ORDER = ("uniform", "uniform_replacement", "biased", "p_sgd", "c_sgd", "selective_backprop",
                "upper_bound_is", "loss_rank", "infobatch", "el2n_prune")
COLUMN_WIDTH = 3.5  # inches: one column of a two-column paper (IEEE, ACM)
TEXT_WIDTH = 7.0  # inches: the text width of the same page; every figure is saved at one of the two widths
MIN_FONT = 7.0  # points, at the saved size: journals ask for 7 pt or more after placement
# TrueType (Type 42) fonts in the PDFs: IEEE's and ACM's submission checks reject matplotlib's default Type 3
matplotlib.rcParams["pdf.fonttype"] = 42
matplotlib.rcParams["ps.fonttype"] = 42
CUT = "▲"  # an interval that runs past the axis (past 100 %): drawn to the axis limit, this mark on the limit
UNDEFINED = "◇"  # no interval: one seed, or every seed the same value (zero spread)
NOTES = {
    CUT: f"{CUT} interval runs past the axis (past 100 %): drawn to the axis limit",
    UNDEFINED: f"{UNDEFINED} no interval: one seed, or all seeds equal (zero spread)",
}
INTERVAL = "mean and 95 % t-interval over seeds"
X_AXES = {  # plot_all(x=...): what the accuracy-vs-iteration x axis is
    "fraction": "fraction of the budget's iterations",
    "full": "fraction of the full schedule's iterations",
    "iteration": "iteration (optimizer steps)",
}
ZOOM_FROM = 0.5  # accuracy curves: the zoomed row shows each budget from this fraction of its iterations on
PERCENT = (0.0, 100.0)  # accuracy and shares in %: a mean cannot leave it, so neither does a drawn interval
MIN_SPAN = 1.0  # accuracy points: never zoom closer than one point
SPEEDUP_UNITS = {  # unit of speedup.csv (analysis/speedup.py UNITS) -> column title
    "iterations": "optimizer steps",
    "charged_iterations": "charged steps (scoring incl.)",
    "examples_backpropagated": "examples back-propagated",
    "wall_clock_seconds": "wall-clock s (start-ups incl.)",
}


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

    def methods(self, present) -> list[str]:
        present = set(present)
        return [m for m in self.order if m in present] + sorted(present - set(self.order))

    def colour(self, method: str):
        return self.palette.get(method, "0.3")


PAD = 0.03  # inches around the tight bounding box of a saved figure
SAVE_DPI = 200


def save(fig, out_dir: str, stem: str, style: Style, width: float | None = None) -> None:
    """Write the figure as PNG and PDF at a declared width (`fit`), fonts of at least MIN_FONT, TrueType in the PDF."""
    text = f"sample_importance; commit {style.provenance['commit']}; config {style.provenance['config_hash']}"
    _add_notes(fig)
    target = aim = fit(fig, width)
    with matplotlib.rc_context({"pdf.fonttype": 42, "ps.fonttype": 42}):
        for _ in range(3):  # the PDF's own text metrics decide its page width: never past the declared width
            over = _pdf_width(fig) - target
            if over <= 0.005:
                break
            aim -= over + 0.01
            fit(fig, aim)
        for ext in FIGURE_FORMATS:
            meta = {"Title": stem, "Subject": text} if ext == "pdf" else {"Title": stem, "Description": text}
            with atomic_path(Path(out_dir) / f"{stem}.{ext}") as tmp:
                fig.savefig(tmp, format=ext, dpi=SAVE_DPI, bbox_inches="tight", pad_inches=PAD, metadata=meta)
    plt.close(fig)


def _pdf_width(fig) -> float:
    """Width in inches of the page the PDF backend writes for this figure (saved tight, with PAD)."""
    import io
    import re

    buffer = io.BytesIO()
    fig.savefig(buffer, format="pdf", bbox_inches="tight", pad_inches=PAD)
    box = re.search(rb"/MediaBox \[ ?([\d.]+) ([\d.]+) ([\d.]+)", buffer.getvalue())
    return (float(box[3]) - float(box[1])) / 72


def declared_width(natural: float) -> float:
    """The column width for a figure that fits in one column (with a little give), else the text width."""
    return COLUMN_WIDTH if natural <= COLUMN_WIDTH * 1.15 else TEXT_WIDTH


def fit(fig, width: float | None = None, min_font: float = MIN_FONT) -> float:
    """Fonts raised to `min_font`, then the figure resized so that what is saved (its tight box, legends outside
    included, plus PAD) is `width` inches wide: COLUMN_WIDTH or TEXT_WIDTH, chosen from its natural width when not
    given. Fonts keep their size, so they are `min_font` or more wherever the figure is placed at that width.
    Long titles are wrapped to the width. Returns the width."""
    import textwrap

    from matplotlib.text import Text

    for t in fig.findobj(Text):
        if t.get_text() and t.get_fontsize() < min_font:
            t.set_fontsize(min_font)
    for ax in fig.axes:  # ticks are made again at every draw, from the axis' own label size: raise that too
        for name, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
            for which in ("major", "minor"):
                labels = axis.get_ticklabels(which=which)
                size = labels[0].get_fontsize() if labels else min_font
                ax.tick_params(axis=name, which=which, labelsize=max(min_font, size))
    fig.set_dpi(SAVE_DPI)  # measured as saved: text extents differ a little between resolutions
    renderer = fig.canvas.get_renderer()
    tight = fig.get_tightbbox(renderer).width
    target = width or declared_width(tight + 2 * PAD)
    w, h = fig.get_size_inches()
    _legends_below(fig, renderer, target)
    texts: dict = {}  # titles as written, re-wrapped at every width tried
    for _ in range(12):
        titles = [(fig._suptitle, min(w, target) - 0.2)] + [(a.title, a.get_position().width * w + 0.1) for a in fig.axes]
        for t, room in titles:
            if t is not None and t.get_text():  # a line wider than the figure (a title wider than its panel): wrap it
                chars = max(12, int(room * 72 / (0.55 * t.get_fontsize())))
                original = texts.setdefault(t, t.get_text())
                t.set_text("\n".join(textwrap.fill(line, chars, break_on_hyphens=False) for line in original.split("\n")))
        try:
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fig.tight_layout()
        except Exception:  # noqa: BLE001 - a layout matplotlib cannot tighten keeps its own
            pass
        renderer = fig.canvas.get_renderer()
        tight = fig.get_tightbbox(renderer).width + 2 * PAD
        if 0.02 <= target - tight < 0.06:  # a little under: the PDF's text metrics differ slightly from Agg's
            break
        w = max(0.8, w + (target - tight) - 0.04)
        fig.set_size_inches(w, h)
    return target


def _legends_below(fig, renderer, target: float) -> None:
    """A figure legend beside the panels that would take more than a third of the width goes under them, in as
    many columns as the width holds: at text width the panels keep most of the page."""
    for leg in list(fig.legends):
        wide = leg.get_window_extent(renderer).width / fig.dpi
        if wide <= target / 3:
            continue
        handles, labels = leg.legend_handles, [t.get_text() for t in leg.get_texts()]
        title = leg.get_title().get_text() or None
        leg.remove()
        ncol = max(1, min(len(labels), int((target - 0.1) // (wide + 0.1))))
        fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=ncol, title=title,
                   fontsize=MIN_FONT, title_fontsize=MIN_FONT, frameon=False)


def _add_notes(fig) -> None:
    """The figure's interval marks explained under its title (only the marks it uses)."""
    used = getattr(fig, "_interval_marks", set())
    if used:
        note = ";  ".join(NOTES[m] for m in (CUT, UNDEFINED) if m in used)
        title = fig._suptitle.get_text() if fig._suptitle is not None else ""
        fig.suptitle(f"{title}\n{note}" if title else note,
                     fontsize=fig._suptitle.get_fontsize() if title else MIN_FONT)


def mark_intervals(ax, positions, iv: pd.DataFrame, colour, axis: str = "y", bounds=PERCENT) -> None:
    """After the axis limits are set: an interval that runs past `bounds` (cut there by `intervals`) is drawn on
    to the axis limit and marked there with CUT; a mean without interval (n < 2, zero spread) gets the hollow
    UNDEFINED marker, so it does not read as a very precise estimate. `iv` rows align with `positions`."""
    positions = np.asarray(positions, dtype=float)
    marks = getattr(ax.figure, "_interval_marks", set())
    lo_lim, hi_lim = ax.get_ylim() if axis == "y" else ax.get_xlim()
    edge = ax.get_xaxis_transform() if axis == "y" else ax.get_yaxis_transform()
    for pos, row in zip(positions, iv.itertuples(index=False)):
        mean = getattr(row, "mean")
        if not np.isfinite(mean):
            continue
        for raw, limit, end, marker in ((getattr(row, "raw_high", np.nan), hi_lim, 1.0, "^" if axis == "y" else ">"),
                                        (getattr(row, "raw_low", np.nan), lo_lim, 0.0, "v" if axis == "y" else "<")):
            past = np.isfinite(raw) and ((raw > bounds[1] or raw > limit) if end else (raw < bounds[0] or raw < limit))
            if not past:
                continue
            line = ([pos, pos], [getattr(row, "high" if end else "low"), limit])
            ax.plot(*(line if axis == "y" else line[::-1]), color=colour, lw=0.8, clip_on=False)
            xy = (pos, end) if axis == "y" else (end, pos)
            ax.plot(*xy, marker=marker, ms=4, color=colour, transform=edge, clip_on=False, zorder=5)
            marks.add(CUT)
        if getattr(row, "undefined", False):
            xy = (pos, mean) if axis == "y" else (mean, pos)
            ax.plot(*xy, marker="D", ms=5.5, markerfacecolor="white", markeredgecolor=colour, mew=1.0, zorder=6)
            marks.add(UNDEFINED)
    ax.figure._interval_marks = marks


# --------------------------------------------------------------------------- shared pieces


def intervals(frame: pd.DataFrame, by: list[str], value: str, bounds: tuple[float, float] | None = None,
              test_count: str | None = None) -> pd.DataFrame:
    """One row per group of `by`: mean, low, high, n of `value` over the group's rows (seeds), from stats.t_interval.

    With n < 2 the bounds are the mean itself (nothing to draw, and n says why).
    `bounds`: the range the mean cannot leave (0-100 % for accuracy); the drawn
    interval is cut there (with 3 seeds, t = 4.3 easily passes 100 %).
    `raw_low`/`raw_high` keep the uncut interval (`mark_intervals` draws what was cut), `undefined` says
    there is none (n < 2, or every seed the same value).
    `test_count`: the column with the number of test images an accuracy (in %) was measured on; the sd is
    then floored at its binomial error, as in every table (stats.py), so equal seeds still get an interval.
    """
    rows = []
    for key, group in frame.groupby(by, sort=False):
        floor = 0.0
        if test_count is not None and test_count in group and group[test_count].notna().any():
            floor = 100 * accuracy_floor(group[value].mean() / 100, float(group[test_count].min()))
        iv = t_interval(group[value], floor=floor)
        low, high = (iv.low, iv.high) if iv.n >= 2 else (iv.mean, iv.mean)
        undefined = iv.n < 2 or not np.isfinite(high - low) or high - low <= 1e-12
        if undefined:  # drawn as the mean with the UNDEFINED marker (mark_intervals), not as nothing
            low = high = iv.mean
        rows.append({**dict(zip(by, key if isinstance(key, tuple) else (key,))),
                     "mean": iv.mean, "low": low, "high": high, "n": iv.n, "raw_low": low, "raw_high": high,
                     "undefined": undefined})
    table = pd.DataFrame(rows, columns=[*by, "mean", "low", "high", "n", "raw_low", "raw_high", "undefined"])
    if bounds is not None:
        table[["low", "high"]] = table[["low", "high"]].clip(*bounds)
    return table


def zoom(ax, low, high, margin: float = 0.08, min_span: float = MIN_SPAN) -> tuple[float, float]:
    """Y limits from the range of the plotted intervals, with a small margin: not 0-100, so small gaps show."""
    lo, hi = float(np.nanmin(low)), float(np.nanmax(high))
    span = max(hi - lo, min_span)
    centre = (lo + hi) / 2
    limits = (centre - span / 2 - margin * span, centre + span / 2 + margin * span)
    ax.set_ylim(*limits)
    return limits


def legend_outside(fig, handles, labels, title: str | None = None) -> None:
    """One legend right of every axes (the figure is saved with a tight bounding box), so it covers no data."""
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), title=title, fontsize=7,
               title_fontsize=7, frameon=False)


def _seed_counts(frame: pd.DataFrame, key: str = "method") -> dict[str, str]:
    """'n=3' per method (or 'n=2-3' when settings differ), for legend labels."""
    n = frame.groupby([key, "dataset", "model", "augmentation", "budget"])["seed"].nunique().groupby(key).agg(["min", "max"])
    return {m: f"n={r['min']}" if r["min"] == r["max"] else f"n={r['min']}-{r['max']}" for m, r in n.iterrows()}


def _setting(frame: pd.DataFrame) -> pd.Series:
    return frame["model"].astype(str) + " · " + frame["augmentation"].astype(str)


# --------------------------------------------------------------------------- accuracy vs iteration


def schedule_iterations(curves: pd.DataFrame) -> pd.Series:
    """Optimizer steps of the budget of each row: round(b * full iterations), read back as the largest charge spent.

    A method that charges more than one step per update (scoring forwards) ends
    below it, as it should on an axis of the budget's schedule.
    """
    cost = "charged_iterations" if "charged_iterations" in curves else "iteration"
    keys = ["dataset", "model", "augmentation", "budget"]
    return curves.groupby(keys)[cost].transform("max").round()


def x_values(curves: pd.DataFrame, x: str) -> pd.Series:
    """The x of each curve row: iterations, or the fraction of its budget's (or of the full) schedule."""
    if x == "iteration":
        return curves["iteration"].astype(float)
    total = schedule_iterations(curves)
    if x == "fraction":
        return curves["iteration"] / total
    if x == "full":
        return curves["iteration"] / (total / curves["budget"])
    raise ValueError(f"x must be one of {sorted(X_AXES)}, got {x!r}")


def warmup_epochs(curves: pd.DataFrame, draws: pd.DataFrame | None, staged) -> dict[tuple[str, str], int]:
    """(dataset, method) -> warm-up epochs of each staged method.

    From the `warmup_epochs` column of curves.csv when aggregate writes it;
    otherwise read back from the draws (plots_importance.staged_warmup_epochs:
    the first epoch whose per-class draws leave the warm-up's permutations).
    """
    out = {}
    if "warmup_epochs" in curves:
        known = curves.dropna(subset=["warmup_epochs"]).groupby(["dataset", "method"])["warmup_epochs"].first()
        return {k: int(v) for k, v in known.items() if v > 0}
    if draws is None or draws.empty:
        return out
    from .plots_importance import staged_warmup_epochs  # noqa: PLC0415 - it imports this module

    d = draws[draws["method"].isin(list(staged))]
    for (dataset, method), runs in d.groupby(["dataset", "method"]):
        one = runs[(runs["budget"] == runs["budget"].max()) & (runs["augmentation"] == runs["augmentation"].iloc[0])]
        epochs = staged_warmup_epochs(one, dataset, method)  # it reads one seed and model, not one budget
        if epochs:
            out[(dataset, method)] = epochs
    return out


def warmup_end(curve: pd.DataFrame, epochs: float) -> float | None:
    """Iteration at which `epochs` epochs of examples were back-propagated (the warm-up's last step).

    Interpolated between evaluations on one seed's curve: the warm-up is plain
    epochs of uniform SGD, so epoch grows linearly with the steps (< 1 step off).
    """
    c = curve[curve["seed"] == curve["seed"].min()].sort_values("iteration")
    if c.empty or c["epoch"].max() < epochs:
        return None
    return float(np.round(np.interp(epochs, c["epoch"], c["iteration"])))


def accuracy_vs_iteration(curves: pd.DataFrame, dataset: str, style: Style, x: str = "fraction",
                          warmups: dict | None = None, zoom_from: float = ZOOM_FROM):
    """Test accuracy vs x (X_AXES); columns: budgets; per model · augmentation two rows: the whole run, and its end zoomed.

    Lines: mean over seeds; bands: 95 % t-interval per evaluation point (drawn
    within 0-100 %). The whole-run row shows the rise and, dotted, the last
    iteration of each staged method's warm-up; the zoomed row shows the part of
    each budget from `zoom_from` on, its y axis fitted to the bands there, so
    that a difference of one point is visible.
    """
    d = curves[curves["dataset"] == dataset].copy()
    d["acc"] = d["test_accuracy"] * 100
    d["x"] = x_values(d, x)
    d["progress"] = x_values(d, "fraction")
    d["setting"] = _setting(d)
    settings, budgets = list(dict.fromkeys(d["setting"])), sorted(d["budget"].unique())
    methods = style.methods(d["method"])
    rows_of = [(setting, start) for setting in settings for start in (0.0, zoom_from)]
    fig, axes = plt.subplots(len(rows_of), len(budgets), squeeze=False,
                             figsize=(min(TEXT_WIDTH, 2.5 * len(budgets) + 0.6), 1.7 * len(rows_of) + 0.5))
    mine = {m: e for (ds, m), e in (warmups or {}).items() if ds == dataset}
    warm = {}
    for r, (setting, start) in enumerate(rows_of):
        for c, budget in enumerate(budgets):
            ax = axes[r][c]
            rows = d[(d["setting"] == setting) & (d["budget"] == budget)]
            if rows.empty:  # a grid without this budget here: no empty panel
                ax.remove()
                continue
            begin = zoom_start(rows, start)
            warm.update(_curve_panel(ax, rows, methods, style, mine, begin))
            steps = int(schedule_iterations(rows).iloc[0])
            ax.set_title(f"{setting} · budget {budget:g} ({steps} iterations)" if start == 0 else
                         f"budget {budget:g}: from {begin:.0%} of it on (zoomed)", fontsize=6.5)
            ax.set_xlabel(X_AXES[x] if r == len(rows_of) - 1 else "")
            ax.set_ylabel("test accuracy (%)" if c == 0 else "")
            ax.tick_params(labelsize=6)
    counts = _seed_counts(d)
    handles = [Line2D([], [], color=style.colour(m), lw=1.1) for m in methods]
    labels = [f"{m} ({counts[m]})" for m in methods]
    handles += [Line2D([], [], color=style.colour(m), ls=":", lw=1.0) for m in warm]
    labels += [f"end of {m}'s warm-up ({e} epochs)" for m, e in warm.items()]
    legend_outside(fig, handles, labels, title="method (seeds)")
    fig.suptitle(f"{dataset}: test accuracy, {INTERVAL}", fontsize=8)
    fig.tight_layout()
    return fig


def zoom_start(rows: pd.DataFrame, start: float) -> float:
    """Where a zoomed panel begins: `start`, or earlier so that it holds at least two evaluations.

    A short budget may be evaluated only at its start and end: from 50 % on it would hold one point and
    draw nothing (an empty panel), so the window opens at the second-last evaluation instead.
    """
    if start <= 0:
        return 0.0
    points = np.sort(rows["progress"].unique())
    if (points >= start - 1e-9).sum() >= 2 or len(points) < 2:
        return start
    return float(points[-2])


def _curve_panel(ax, rows: pd.DataFrame, methods, style: Style, warmups: dict, start: float = 0.0) -> dict:
    """Curves of one panel from `start` of the budget on: mean line and t-interval band per method, y fitted to
    the bands; the warm-up ends that fall inside it drawn. Returns the warm-ups drawn."""
    shown = rows[rows["progress"] >= start - 1e-9]
    bands = intervals(shown, ["method", "x"], "acc", bounds=PERCENT)  # the seeds' own spread: a trajectory, not a test
    scale = float(rows["x"].max() / rows["iteration"].max()) if rows["iteration"].max() > 0 else 1.0
    lo_x = shown["x"].min()
    drawn = {}
    for method in methods:
        m = bands[bands["method"] == method].sort_values("x")
        if m.empty:
            continue
        colour = style.colour(method)
        ax.plot(m["x"], m["mean"], color=colour, lw=1.1, marker="o" if len(m) <= 4 else None, ms=2.5)
        # uncut: a band past 100 % runs to the axis limit (the axes clip it), marked there after the zoom
        ax.fill_between(m["x"], m["raw_low"], m["raw_high"], color=colour, alpha=0.25, lw=0)
        over = m[m["raw_high"] > PERCENT[1]]
        if len(over):
            ax.plot(over["x"], np.ones(len(over)), "^", ms=3, color=colour, transform=ax.get_xaxis_transform(),
                    clip_on=False)
            ax.figure._interval_marks = getattr(ax.figure, "_interval_marks", set()) | {CUT}
        at = warmup_end(rows[rows["method"] == method], warmups[method]) if method in warmups else None
        if at is not None and at * scale >= lo_x:
            ax.axvline(at * scale, color=colour, ls=":", lw=1.0)
            drawn[method] = warmups[method]
    zoom(ax, bands["low"], bands["high"])
    return drawn


# --------------------------------------------------------------------------- speedup


def target_text(summary: pd.DataFrame) -> str:
    """'target = 98 % of uniform's final accuracy at budget 1.0', from speedup_summary's target_fraction and reference."""
    fractions = summary["target_fraction"].dropna().unique() if "target_fraction" in summary else []
    share = "/".join(f"{f * 100:g} %" for f in sorted(fractions)) or "a fraction"
    budgets = summary["reference"].astype(str).str.extract(r"budget ([0-9.]+)")[0].dropna().astype(float).unique() \
        if "reference" in summary else []
    budget = "/".join(f"{b:.1f}" for b in sorted(budgets)) or "1.0"
    return f"target = {share} of uniform's final accuracy at budget {budget} (mean over seeds)"


def speedup_figure(per_seed: pd.DataFrame, summary: pd.DataFrame, style: Style):
    """Speedup over uniform per budget, one column per cost unit, one row per dataset · model · augmentation.

    From speedup.csv (per seed) and speedup_summary.csv (analysis/speedup.py):
    filled marker and bar: the summary's geometric mean and 95 % t-interval (of
    the log speedup) over the seeds with a speedup; small dots: those seeds. A
    method without any speedup (no seed reached the target) is a hollow marker
    at the bottom edge, in its colour; 'k/n' beside any marker where only k of n seeds reached.
    """
    s, ps = summary.copy(), per_seed.copy()
    for f in (s, ps):
        f["panel"] = f["dataset"].astype(str) + " · " + _setting(f)
    units = [u for u in SPEEDUP_UNITS if u in set(s["unit"])]
    panels = list(dict.fromkeys(s["panel"]))
    labels = style.methods(s["label"])
    budgets = sorted(s["budget"].unique())
    fig, axes = plt.subplots(len(panels), len(units), squeeze=False, sharex=True,
                             figsize=(min(TEXT_WIDTH, 1.6 * len(units) + 1.0), 1.9 * len(panels) + 0.7))
    for r, panel in enumerate(panels):
        for c, unit in enumerate(units):
            ax = axes[r][c]
            if not ((s["panel"] == panel) & (s["unit"] == unit)).any():
                ax.remove()
                continue
            _speedup_panel(ax, s[(s["panel"] == panel) & (s["unit"] == unit)],
                           ps[(ps["panel"] == panel) & (ps["unit"] == unit)], labels, budgets, style)
            target = s.loc[s["panel"] == panel, "target"].iloc[0] * 100
            ax.set_title(f"cost: {SPEEDUP_UNITS[unit]}" if r == 0 else "", fontsize=6.5)
            ax.set_ylabel(f"{panel}\n(target {target:.1f} %)\nspeedup (×)" if c == 0 else "", fontsize=6.5)
            ax.set_xlabel("budget (fraction of\nthe full schedule)" if r == len(panels) - 1 else "", fontsize=6.5)
    n = _seed_counts(ps, key="label")
    handles = [Line2D([], [], color=style.colour(m), marker="o", ls="", ms=4) for m in labels]
    names = [f"{m} ({n.get(m, 'n=?')})" for m in labels]
    handles += [Line2D([], [], color="0.3", marker="o", ls="", ms=4, markerfacecolor="none")]
    names += ["no seed reached the target"]
    handles += [Line2D([], [], color="0.3", marker="D", ls=":", ms=3, markerfacecolor="none")]
    names += ["median of censored seeds (range: its bounds)"]
    legend_outside(fig, handles, names, title="method (seeds)")
    fig.suptitle("Speedup over uniform to first reach the target (> 1: faster; log scale): geometric mean and 95 % "
                 f"t-interval when every seed is known\n{target_text(s)}; k/n: seeds that reached it",
                 fontsize=7.5)
    fig.tight_layout()
    return fig


def _speedup_axis(ax, values, points, room_below: bool, reach: float = 2.0) -> None:
    """Log-2 y axis fitted to the plotted intervals with a small margin, at most `reach` octaves beyond the means
    and seeds (a t-interval over 2 seeds can span 2^±20; its whisker then runs off the axis), readable ticks."""
    lo, hi = np.log2(np.nanmin(values)), np.log2(np.nanmax(values))
    p_lo, p_hi = np.log2(np.nanmin(points)), np.log2(np.nanmax(points))
    lo, hi = max(lo, p_lo - reach), min(hi, p_hi + reach)
    span = max(hi - lo, 0.5)
    ax.set_yscale("log", base=2)
    ax.set_ylim(2 ** (lo - 0.1 * span - (0.3 * span if room_below else 0)), 2 ** (hi + 0.2 * span))
    low, high = ax.get_ylim()
    if np.log2(high / low) < 2.5:  # less than a few octaves: round linear ticks (0.8x, 1x, 1.2x)
        ticks = matplotlib.ticker.MaxNLocator(nbins=7, steps=[1, 2, 5, 10]).tick_values(low, high)
    else:
        step = max(1, int(np.ceil(np.log2(high / low) / 5)))
        ticks = 2.0 ** np.arange(np.floor(np.log2(low)), np.ceil(np.log2(high)) + 1, step)
    ax.set_yticks([t for t in ticks if low <= t <= high and t > 0])
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:.3g}×"))
    ax.yaxis.set_minor_locator(matplotlib.ticker.NullLocator())


def _speedup_centre(row) -> tuple[float, bool]:
    """(where a method's speedup is drawn, whether it is censored): the geometric mean when every seed is known,
    else the median if its bounds agree, else the finite one of its bounds (drawn hollow, with its range)."""
    geo = getattr(row, "geometric_mean", getattr(row, "mean", np.nan))
    if np.isfinite(geo):
        return float(geo), False
    lo, hi = getattr(row, "median_low", np.nan), getattr(row, "median_high", np.nan)
    if np.isfinite(lo) and np.isfinite(hi) and lo > 0 and np.isclose(lo, hi):
        return float(lo), True
    finite = [b for b in (lo, hi) if np.isfinite(b) and b > 0]
    return (float(finite[0]), True) if finite and getattr(row, "n_reached", 0) > 0 else (np.nan, True)


def _speedup_panel(ax, summary: pd.DataFrame, per_seed: pd.DataFrame, labels, budgets, style: Style) -> None:
    width = 0.8 / max(1, len(labels))
    values, points, missing = [1.0], [1.0], []
    for i, label in enumerate(labels):
        colour = style.colour(label)
        for row in summary[summary["label"] == label].itertuples(index=False):
            x = budgets.index(row.budget) + (i - (len(labels) - 1) / 2) * width
            count = f"{int(row.n_reached)}/{int(row.n)}"
            centre, censored = _speedup_centre(row)
            if not np.isfinite(centre):
                missing.append((x, colour, count))
                continue
            seeds = per_seed[(per_seed["label"] == label) & (per_seed["budget"] == row.budget)]["speedup"].dropna()
            ax.plot(np.full(len(seeds), x), seeds, ".", color=colour, ms=2, alpha=0.6)
            low, high = (row.low, row.high) if np.isfinite(row.low) else (centre, centre)
            if censored:  # the median between the bounds its censored seeds allow: a hollow marker, a thin range
                bounds = [b for b in (row.median_low, row.median_high) if np.isfinite(b) and b > 0]
                ax.plot([x, x], [min(bounds), max(bounds)], color=colour, lw=0.6, ls=":")
                ax.plot(x, centre, "D", ms=3, markerfacecolor="none", markeredgecolor=colour)
                values += bounds
            else:
                ax.errorbar(x, centre, yerr=[[centre - low], [high - centre]], fmt="o", ms=3.5, color=colour,
                            capsize=1.5, lw=0.9)
            values += [low, high, *seeds]
            points += [centre, *seeds]
            if row.n_reached < row.n or getattr(row, "n_uniform_reached", row.n) < row.n:
                ax.annotate(count, (x, centre), xytext=(3, 0), textcoords="offset points", ha="left", va="center",
                            fontsize=5, color=colour)
    _speedup_axis(ax, values, points, bool(missing))
    edge = ax.get_xaxis_transform()  # x in data, y in axes coordinates: the bottom edge, whatever the scale
    if missing:  # a grey strip that is not on the speedup scale: 'not reached' lives there
        ax.add_patch(Rectangle((0, 0), 1, 0.17, transform=ax.transAxes, color="0.93", lw=0, zorder=0))
    for x, colour, text in missing:
        ax.plot(x, 0.05, "o", ms=4, markerfacecolor="none", markeredgecolor=colour, transform=edge)
        ax.text(x, 0.1, text, ha="center", va="bottom", fontsize=5, color=colour, transform=edge)
    ax.axhline(1.0, color="0.3", lw=0.7, ls="--")
    ax.set_xticks(range(len(budgets)), [f"{b:g}" for b in budgets])
    ax.set_xlim(-0.5, len(budgets) - 0.5)
    ax.tick_params(labelsize=6)


# --------------------------------------------------------------------------- class balance


def class_balance_figure(balance: pd.DataFrame, per_class: pd.DataFrame, style: Style):
    """Per dataset · model · augmentation and budget: class shares of training set and sampling, and per-class accuracy.

    Share row: the training set's share of each class (grey bar; the same for
    every seed), the expected share of draws the importance distribution puts on
    it (sum of its samples' sampling probabilities; bar per staged method: mean,
    whisker: 95 % t-interval over seeds) and a balanced set's share (dashed).
    Accuracy row: per-class test accuracy at the end of training per method (mean, t-interval).
    """
    pc = per_class.assign(panel=per_class["dataset"].astype(str) + " · " + _setting(per_class),
                          acc=per_class["test_accuracy"] * 100)
    bal = balance.assign(panel=balance["dataset"].astype(str) + " · " + _setting(balance))
    panels = list(dict.fromkeys(pc["panel"]))
    budgets = sorted(pc["budget"].unique())
    rows = [(p, kind) for p in panels for kind in ("share", "accuracy") if kind == "accuracy" or (bal["panel"] == p).any()]
    fig, axes = plt.subplots(len(rows), len(budgets), squeeze=False,
                             figsize=(min(TEXT_WIDTH, 2.9 * len(budgets) + 0.6), 1.8 * len(rows) + 0.6))
    staged = style.methods(bal["method"])
    methods = style.methods(pc["method"])
    for r, (panel, kind) in enumerate(rows):
        for c, budget in enumerate(budgets):
            ax = axes[r][c]
            source = bal if kind == "share" else pc
            if not ((source["panel"] == panel) & (source["budget"] == budget)).any():
                ax.remove()
                continue
            if kind == "share":
                _share_panel(ax, bal[(bal["panel"] == panel) & (bal["budget"] == budget)], staged, style)
                ax.set_ylabel("share of the class (%)" if c == 0 else "")
            else:
                _class_accuracy_panel(ax, pc[(pc["panel"] == panel) & (pc["budget"] == budget)], methods, style)
                ax.set_ylabel("test accuracy (%)" if c == 0 else "")
            ax.set_title(f"{panel} · budget {budget:g}: {'class shares' if kind == 'share' else 'per-class accuracy'}",
                         fontsize=6.5)
            ax.set_xlabel("class" if r == len(rows) - 1 or rows[r + 1][0] != panel else "")
            ax.tick_params(labelsize=6)
    n_bal, n_pc = _seed_counts(bal) if len(bal) else {}, _seed_counts(pc)
    handles = [Patch(color="0.75"), Line2D([], [], color="k", ls="--", lw=0.8)]
    labels = ["training-set share", "balanced share (1/classes)"]
    handles += [Patch(color=style.colour(m)) for m in staged]
    labels += [f"{m}: expected sampling share ({n_bal[m]})" for m in staged]
    handles += [Line2D([], [], color=style.colour(m), marker="o", ls="", ms=3) for m in methods]
    labels += [f"{m}: per-class test accuracy ({n_pc[m]})" for m in methods]
    legend_outside(fig, handles, labels)
    fig.suptitle("Class balance: training-set share vs the importance distribution's expected share of draws per class,"
                 f"\nand per-class test accuracy at the end; {INTERVAL}", fontsize=7.5)
    fig.tight_layout()
    return fig


def _class_ticks(ax, names: list[str]) -> None:
    step = max(1, int(np.ceil(len(names) / 20)))  # at most ~20 labels (CIFAR-100 shows every 5th class)
    ax.set_xticks(range(0, len(names), step), names[::step], fontsize=5.5, rotation=90 if step > 1 else 0)
    ax.set_xlim(-0.6, len(names) - 0.4)


def _share_panel(ax, b: pd.DataFrame, staged, style: Style) -> None:
    classes = b.drop_duplicates("class_index").sort_values("class_index")
    k = len(classes)
    x = np.arange(k)
    train = b.groupby("class_index")["train_share"].mean().reindex(classes["class_index"]).to_numpy() * 100
    present = [m for m in staged if (b["method"] == m).any()]
    width = 0.8 / (1 + len(present))
    ax.bar(x - 0.4 + width / 2, train, width, color="0.75")
    for i, method in enumerate(present, start=1):
        iv = intervals(b[b["method"] == method].assign(share=lambda f: f["sampling_share"] * 100), ["class_index"], "share")
        iv = iv.set_index("class_index").reindex(classes["class_index"])
        xs = x - 0.4 + width * (i + 0.5)
        ax.bar(xs, iv["mean"], width, color=style.colour(method))
        ax.errorbar(xs, iv["mean"], yerr=[iv["mean"] - iv["low"], iv["high"] - iv["mean"]], fmt="none", ecolor="k",
                    lw=0.6, capsize=1)
    ax.axhline(100 / k, color="k", ls="--", lw=0.8)
    _class_ticks(ax, classes["class"].astype(str).tolist())
    ax.set_ylim(0, None)


def _class_accuracy_panel(ax, pc: pd.DataFrame, methods, style: Style) -> None:
    classes = pc.drop_duplicates("class_index").sort_values("class_index")
    x = np.arange(len(classes))
    present = [m for m in methods if (pc["method"] == m).any()]
    width = 0.8 / max(1, len(present))
    lows, highs, drawn = [], [], []
    for i, method in enumerate(present):
        iv = intervals(pc[pc["method"] == method], ["class_index"], "acc", bounds=PERCENT, test_count="n_test").set_index("class_index").reindex(
            classes["class_index"])
        xs = x + (i - (len(present) - 1) / 2) * width
        ax.errorbar(xs, iv["mean"], yerr=[iv["mean"] - iv["low"], iv["high"] - iv["mean"]], fmt="o", ms=2.5,
                    color=style.colour(method), lw=0.8, capsize=1)
        lows.append(iv["low"])
        highs.append(iv["high"])
        drawn.append((xs, iv, style.colour(method)))
    zoom(ax, pd.concat(lows), pd.concat(highs))
    for xs, iv, colour in drawn:
        mark_intervals(ax, xs, iv, colour)
    _class_ticks(ax, classes["class"].astype(str).tolist())


# --------------------------------------------------------------------------- all figures


def plot_all(summary_dir: str, out_dir: str, x: str = "fraction") -> list[str]:
    """Every figure of outputs.figure_names from the summary tables; returns the stems written.

    x: the accuracy-vs-iteration x axis (X_AXES). Default "fraction" of each
    budget's iterations: budget columns then share one axis (0 to 1, the
    learning rate reaching 0 at 1) and a warm-up's place in its budget can be
    compared; within a panel it is iterations rescaled, and each panel's title
    gives its iteration count. "iteration" and "full" are the alternatives.
    """
    sns.set_theme(context="paper", style="whitegrid", font_scale=0.9)
    summary = Path(summary_dir)
    curves = read_csv(summary / "curves.csv")
    final = read_csv(summary / "final.csv")
    balance = read_csv(summary / "class_balance.csv")
    draws = read_csv(summary / "draws.csv") if (summary / "draws.csv").exists() else None
    style = Style(final)
    warmups = warmup_epochs(curves, draws, set(balance["method"]))
    written = []
    for dataset in dict.fromkeys(curves["dataset"]):
        save(accuracy_vs_iteration(curves, dataset, style, x=x, warmups=warmups), out_dir,
             f"accuracy_vs_iteration_{dataset}", style)
        written.append(f"accuracy_vs_iteration_{dataset}")
    speedup = speedup_figure(read_csv(summary / "speedup.csv"), read_csv(summary / "speedup_summary.csv"), style)
    save(speedup, out_dir, "speedup", style)
    save(class_balance_figure(balance, read_csv(summary / "per_class.csv"), style), out_dir, "class_balance", style)
    written += ["speedup", "class_balance"]
    from .plots_budget import accuracy_vs_budget  # noqa: PLC0415 - it imports this module

    save(accuracy_vs_budget(final, style), out_dir, "accuracy_vs_budget", style)
    written.append("accuracy_vs_budget")
    from .plots_longtail import long_tail_figure  # noqa: PLC0415 - it imports this module

    save(long_tail_figure(final, style), out_dir, "long_tail", style)
    written.append("long_tail")
    log.info("wrote %d figures to %s", len(written), out_dir)
    return written

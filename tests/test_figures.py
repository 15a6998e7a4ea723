"""The main figures (figures/plots.py, plots_budget.py) on synthetic summary tables built here.

What a reviewer checks, asserted on the drawn artists: bands are Student-t
intervals over seeds (stats.t_interval), accuracy axes are zoomed to the data,
the warm-up's end sits at its iteration, 'not reached' stays visible, legends
cover no axes and no panel is empty.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection

from sample_importance.analysis.stats import t_interval
from sample_importance.figures import plots
from sample_importance.figures.plots_budget import accuracy_vs_budget

N_TRAIN, BATCH, EPOCHS, EVAL = 100, 10, 10, 5  # 10 steps per epoch, full schedule 100 iterations
WARMUP = 2  # biased: 2 warm-up epochs = 20 iterations
SEEDS = (0, 1, 2)
BUDGETS = (0.5, 1.0)
SPEEDUP_UNITS_IN_ORDER = ("iterations", "charged_iterations", "examples_backpropagated", "wall_clock_seconds")
CLASSES = ("a", "b", "c")
COORDS = {"dataset": "toy", "model": "cnn", "augmentation": "crop", "commit": "abc123", "config_hash": "h1"}


def synthetic_summary(warmup_column: bool = False) -> dict[str, pd.DataFrame]:
    """Tables shaped like aggregate's: curves, final, class_balance, per_class, draws, speedup (new format)."""
    rng = np.random.default_rng(0)
    curves, balance, per_class, draws = [], [], [], []
    for method, offset in (("uniform", 0.0), ("biased", 0.015)):
        for budget in BUDGETS:
            steps = int(round(budget * EPOCHS * N_TRAIN / BATCH))
            it = np.unique(np.r_[np.arange(0, steps + 1, EVAL), steps])
            for seed in SEEDS:
                acc = 0.1 + (0.8 + offset) * (1 - np.exp(-it / 15)) + rng.normal(0, 0.004, len(it))
                run = {**COORDS, "method": method, "method_name": method, "budget": budget, "seed": seed}
                extra = {"warmup_epochs": WARMUP if method == "biased" else np.nan} if warmup_column else {}
                curves.append(pd.DataFrame({**run, **extra, "iteration": it, "charged_iterations": it.astype(float),
                                            "epoch": it * BATCH / N_TRAIN, "test_accuracy": acc,
                                            "wall_seconds": it * 0.01}))
                per_class += [{**run, "class_index": c, "class": name, "test_accuracy": acc[-1] - 0.05 * c + rng.normal(0, 0.01)}
                              for c, name in enumerate(CLASSES)]
                counts = np.array([60, 30, 10])
                for epoch in range(int(budget * EPOCHS)):
                    drawn = counts if method == "uniform" or epoch < WARMUP else rng.multinomial(N_TRAIN, [0.45, 0.33, 0.22])
                    draws += [{**run, "epoch": epoch, "class_index": c, "draws": int(n)} for c, n in enumerate(drawn)]
                if method == "biased":
                    share = np.array([0.45, 0.33, 0.22]) + rng.normal(0, 0.01, 3)
                    balance += [{**run, "class_index": c, "class": name, "n_train": int(counts[c]),
                                 "train_share": counts[c] / 100, "balanced_share": 1 / 3, "sampling_share": share[c] / share.sum()}
                                for c, name in enumerate(CLASSES)]
    curves = pd.concat(curves, ignore_index=True)
    last = curves.sort_values("iteration").groupby(["method", "budget", "seed"]).tail(1)
    final = last.rename(columns={"test_accuracy": "final_test_accuracy"})
    speedup = synthetic_speedup(final)
    return {"curves": curves, "final": final, "class_balance": pd.DataFrame(balance),
            "per_class": pd.DataFrame(per_class), "draws": pd.DataFrame(draws), "speedup": speedup,
            "speedup_summary": speedup_summary(speedup)}


def synthetic_speedup(final: pd.DataFrame) -> pd.DataFrame:
    """speedup.csv per seed (analysis/speedup.py's columns): uniform at 1.0 is 1; biased at 0.5 reached by 2 of 3 seeds."""
    uniform = final[(final["method"] == "uniform") & (final["budget"] == 1.0)]["final_test_accuracy"].mean()
    rows = []
    for unit, scale in (("iterations", 1.0), ("charged_iterations", 0.9), ("examples_backpropagated", 1.0),
                        ("wall_clock_seconds", 0.8)):
        for label, budget, speedups in (("uniform", 1.0, (1.0, 1.0, 1.0)), ("uniform", 0.5, (np.nan,) * 3),
                                        ("biased", 1.0, (1.3, 1.5, 1.4)), ("biased", 0.5, (1.9, 2.2, np.nan))):
            for seed, s in zip(SEEDS, speedups):
                rows.append({**{k: COORDS[k] for k in ("dataset", "model", "augmentation")}, "method": label,
                             "method_name": label, "label": label, "budget": budget, "seed": seed, "unit": unit,
                             "target": 0.98 * uniform, "target_fraction": 0.98,
                             "reference": "uniform (budget 1), 0.98 x final accuracy (mean of 3 seeds)",
                             "cost_uniform": 50.0, "cost_method": 50.0 / (s * scale), "speedup": s * scale,
                             "reached": bool(np.isfinite(s))})
    return pd.DataFrame(rows)


def speedup_summary(per_seed: pd.DataFrame) -> pd.DataFrame:
    """speedup_summary.csv as analysis/speedup.py writes it: geometric mean, t-interval of the log speedup."""
    rows = []
    keys = ["dataset", "model", "augmentation", "label", "budget", "unit"]
    for key, g in per_seed.groupby(keys, sort=False):
        iv = t_interval(np.log(g["speedup"].dropna()))
        rows.append({**dict(zip(keys, key)), **{c: g[c].iloc[0] for c in ("target", "target_fraction", "reference")},
                     "n": g["seed"].nunique(), "n_reached": int(g["reached"].sum()),
                     "mean": np.exp(iv.mean), "low": np.exp(iv.low), "high": np.exp(iv.high)})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def tables():
    return synthetic_summary()


@pytest.fixture(scope="module")
def style(tables):
    return plots.Style(tables["final"])


def _drawn(fig) -> list:
    return [ax for ax in fig.axes if ax.lines or ax.collections or ax.patches]


def _bands(ax) -> list[np.ndarray]:
    return [c.get_paths()[0].vertices for c in ax.collections if isinstance(c, PolyCollection)]


def _legend_clear_of_axes(fig) -> bool:
    fig.canvas.draw()
    boxes = [leg.get_window_extent() for leg in fig.legends] + [ax.get_legend().get_window_extent()
                                                                 for ax in fig.axes if ax.get_legend()]
    return bool(boxes) and not any(b.overlaps(ax.get_window_extent()) for b in boxes for ax in fig.axes)


# --------------------------------------------------------------------------- accuracy vs iteration


def _zoomed(ax, lows, highs):
    lo, hi = max(min(lows), 0.0), min(max(highs), 100.0)
    span = max(hi - lo, 1.0)
    mid = (lo + hi) / 2
    return ax.get_ylim() == pytest.approx((mid - span / 2 - 0.08 * span, mid + span / 2 + 0.08 * span))


def test_accuracy_bands_are_t_intervals_and_y_is_zoomed(tables, style):
    curves = tables["curves"]
    warm = plots.warmup_epochs(curves, tables["draws"], {"biased"})
    fig = plots.accuracy_vs_iteration(curves, "toy", style, x="fraction", warmups=warm)
    # one setting: a whole-run row and a zoomed row, one column per budget, every axes drawn on
    assert len(_drawn(fig)) == len(fig.axes) == 2 * len(BUDGETS)
    whole, end = fig.axes[:len(BUDGETS)], fig.axes[len(BUDGETS):]
    for ax_whole, ax_end, budget in zip(whole, end, BUDGETS):
        steps = budget * 100
        c = curves[curves["budget"] == budget]
        # the band at the last evaluation of uniform: its half-width is the t-interval's over the 3 seeds
        iv = t_interval(c[(c["method"] == "uniform") & (c["iteration"] == steps)]["test_accuracy"] * 100)
        for ax in (ax_whole, ax_end):
            band = _bands(ax)[0]  # uniform first (Style order)
            ys = band[np.isclose(band[:, 0], 1.0), 1]
            assert ys.max() - ys.min() == pytest.approx(2 * iv.half_width, rel=1e-9)
            assert iv.n == 3 and ys.min() == pytest.approx(iv.low)
        # y-limits: the drawn intervals' range with an 8 % margin; the zoomed row from half the budget on
        every = [t_interval(v * 100) for _, v in c.groupby(["method", "iteration"])["test_accuracy"]]
        late = [t_interval(v * 100) for _, v in c[c["iteration"] >= 0.5 * steps].groupby(
            ["method", "iteration"])["test_accuracy"]]
        assert _zoomed(ax_whole, [i.low for i in every], [i.high for i in every])
        assert _zoomed(ax_end, [i.low for i in late], [i.high for i in late])
        span = [a.get_ylim()[1] - a.get_ylim()[0] for a in (ax_whole, ax_end)]
        assert span[1] < span[0] / 3 and ax_end.get_ylim()[0] > 70  # the end is zoomed, not 0-100
        assert ax_end.get_xlim()[0] >= 0.45
    assert _legend_clear_of_axes(fig)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "uniform (n=3)" in labels and "biased (n=3)" in labels


@pytest.mark.parametrize("source", ["draws", "column"])
def test_warmup_end_is_a_dotted_line_at_its_last_iteration(source):
    t = synthetic_summary(warmup_column=source == "column")
    style = plots.Style(t["final"])
    warm = plots.warmup_epochs(t["curves"], t["draws"] if source == "draws" else None, {"biased"})
    assert warm == {("toy", "biased"): WARMUP}
    for x, expected in (("fraction", [20 / 50, 20 / 100]), ("iteration", [20, 20]), ("full", [0.2, 0.2])):
        fig = plots.accuracy_vs_iteration(t["curves"], "toy", style, x=x, warmups=warm)
        for ax, want in zip(fig.axes, expected):  # the whole-run row
            dotted = [line for line in ax.lines if line.get_linestyle() == ":"]
            assert len(dotted) == 1 and dotted[0].get_xdata()[0] == pytest.approx(want)
            assert dotted[0].get_color() == style.colour("biased")
        if x == "fraction":  # the zoomed row starts at 0.5, after the warm-up: no line there
            assert not [line for ax in fig.axes[2:] for line in ax.lines if line.get_linestyle() == ":"]


def test_a_grid_missing_a_budget_leaves_no_empty_panel(tables, style):
    c = tables["curves"]
    other = c[c["budget"] == 1.0].assign(augmentation="none")  # a second setting, run at budget 1.0 only
    fig = plots.accuracy_vs_iteration(pd.concat([c, other]), "toy", style)
    assert len(fig.axes) == len(_drawn(fig)) == 2 * 3  # crop at 2 budgets, none at 1, each whole and zoomed
    assert sorted(ax.get_title() for ax in fig.axes if ax.get_title().startswith("cnn"))[0].startswith(
        "cnn · crop · budget 0.5")


def test_x_axis_fraction_of_budget_and_of_full_schedule(tables):
    c = tables["curves"]
    frac, full = plots.x_values(c, "fraction"), plots.x_values(c, "full")
    half = c["budget"] == 0.5
    assert frac[half].max() == 1.0 and frac[~half].max() == 1.0
    assert full[half].max() == pytest.approx(0.5) and full[~half].max() == 1.0
    assert (frac[half] * 50 == c.loc[half, "iteration"]).all()


# --------------------------------------------------------------------------- speedup


def test_speedup_figure_keeps_not_reached_and_states_the_target(tables, style):
    per_seed, summary = tables["speedup"], tables["speedup_summary"]
    fig = plots.speedup_figure(per_seed, summary, style)
    assert len(fig.axes) == len(_drawn(fig)) == 4  # one setting x four cost units
    assert "target = 98 % of uniform's final accuracy at budget 1" in fig._suptitle.get_text()
    for ax in fig.axes:
        texts = [t.get_text() for t in ax.texts]
        assert "0/3" in texts and "2/3" in texts  # uniform at 0.5 reached by none, biased at 0.5 by two
        hollow = [line for line in ax.lines if line.get_markerfacecolor() == "none"]
        assert len(hollow) == 1 and hollow[0].get_markeredgecolor() == style.colour("uniform")
        assert hollow[0].get_ydata()[0] < 0.1  # at the bottom edge (axes coordinates)
        low, high = ax.get_ylim()
        unit = summary[summary["unit"] == SPEEDUP_UNITS_IN_ORDER[fig.axes.index(ax)]]
        top, bottom = np.log2(unit["high"].max()), np.log2(min(unit["low"].min(), 1.0))
        assert low < 1.0 < high and 0 < np.log2(high) - top <= 0.25 * (top - bottom)  # zoomed: a small margin above the data
    # biased at budget 1.0, optimizer steps: marker at the summary's mean, bar from its low to its high
    row = summary[(summary["label"] == "biased") & (summary["budget"] == 1.0) & (summary["unit"] == "iterations")].iloc[0]
    iv = t_interval(np.log([1.3, 1.5, 1.4]))
    assert (row["mean"], row["low"], row["high"]) == pytest.approx(np.exp([iv.mean, iv.low, iv.high]))
    steps = fig.axes[0]
    markers = [line for line in steps.lines if line.get_marker() == "o" and line.get_markerfacecolor() != "none"]
    assert any(np.isclose(line.get_ydata()[0], row["mean"]) for line in markers)
    bars = [seg for c in steps.collections for seg in c.get_segments() if len(seg) == 2]
    assert any(np.allclose(sorted(seg[:, 1]), [row["low"], row["high"]]) for seg in bars)
    assert _legend_clear_of_axes(fig)


# --------------------------------------------------------------------------- class balance, accuracy vs budget


def test_class_balance_shows_shares_with_intervals_per_budget(tables, style):
    fig = plots.class_balance_figure(tables["class_balance"], tables["per_class"], style)
    assert len(fig.axes) == len(_drawn(fig)) == 2 * len(BUDGETS)  # share and accuracy rows, one column per budget
    b = tables["class_balance"]
    want = [t_interval(v * 100) for _, v in b[b["budget"] == 0.5].groupby("class_index")["sampling_share"]]
    share_ax = fig.axes[0]
    heights = [p.get_height() for p in share_ax.patches]
    assert heights[:3] == pytest.approx([60, 30, 10])  # training-set share (grey)
    assert heights[3:6] == pytest.approx([i.mean for i in want])  # biased's expected sampling share
    whiskers = next(c for c in share_ax.collections if c.get_segments())
    spans = [abs(s[1, 1] - s[0, 1]) / 2 for s in whiskers.get_segments()]
    assert spans == pytest.approx([i.half_width for i in want])
    labels = " ".join(t.get_text() for t in fig.legends[0].get_texts())
    assert "training-set share" in labels and "expected sampling share (n=3)" in labels
    assert "share of the class (%)" in share_ax.get_ylabel() and _legend_clear_of_axes(fig)


def test_accuracy_vs_budget_uses_t_intervals_and_zooms(tables, style):
    fig = accuracy_vs_budget(tables["final"], style)
    assert len(fig.axes) == len(_drawn(fig)) == 1
    ax = fig.axes[0]
    f = tables["final"]
    ivs = [t_interval(g * 100) for _, g in f.groupby(["method", "budget"])["final_test_accuracy"]]
    lo, hi = min(i.low for i in ivs), max(i.high for i in ivs)
    span = max(hi - lo, 1.0)
    mid = (lo + hi) / 2
    assert ax.get_ylim() == pytest.approx((mid - span / 2 - 0.08 * span, mid + span / 2 + 0.08 * span))
    half_widths = sorted(abs(s[1, 1] - s[0, 1]) / 2 for c in ax.collections for s in c.get_segments())
    assert half_widths == pytest.approx(sorted(i.half_width for i in ivs))
    assert _legend_clear_of_axes(fig)


def test_plot_all_writes_every_figure_from_the_new_speedup_tables(tables, tmp_path):
    summary = tmp_path / "summary"
    summary.mkdir()
    for name, frame in tables.items():
        frame.to_csv(summary / f"{name}.csv", index=False)
    written = plots.plot_all(str(summary), str(tmp_path))
    assert written == ["accuracy_vs_iteration_toy", "speedup", "class_balance", "accuracy_vs_budget", "long_tail"]
    assert all((tmp_path / f"{stem}.{ext}").stat().st_size > 1000 for stem in written for ext in ("png", "pdf"))


def test_a_zoomed_panel_always_holds_two_evaluations():
    """A short budget evaluated only at its start and end would leave 'from 50 % on' with one point: empty."""
    from sample_importance.figures.plots import zoom_start

    two_points = pd.DataFrame({"progress": [0.0, 0.0, 1.0, 1.0]})
    assert zoom_start(two_points, 0.5) == 0.0
    many = pd.DataFrame({"progress": [0.0, 0.25, 0.5, 0.75, 1.0]})
    assert zoom_start(many, 0.5) == 0.5 and zoom_start(many, 0.0) == 0.0
    late = pd.DataFrame({"progress": [0.0, 0.4, 0.8, 1.0]})
    assert zoom_start(late, 0.9) == 0.8

"""Importance analysis: easy/hard selection, rank correlations, re-scoring, the transfer DAG and the captions."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from sample_importance.analysis import importance_analysis as ia
from sample_importance.outputs import figure_names, importance_figure_names
from sample_importance.figures.plots_importance import caption_line, staged_warmup_epochs, write_readme

REPO = Path(__file__).resolve().parents[1]


def warmup(p_true: np.ndarray, labels, model="cnn", seed=0, budget=1.0, dataset="toy") -> ia.Warmup:
    """A warm-up from given p_true [E, n]; margins and sumsq consistent with two classes."""
    p = np.asarray(p_true, dtype=np.float64)
    records = {"p_true": p, "margin": 2 * p - 1, "sumsq": p**2 + (1 - p) ** 2}
    spec = {"dataset": dataset, "model": model, "augmentation": "none", "budget": budget, "seed": seed,
            "run_id": f"{dataset}/{model}/s{seed}"}
    labels = np.asarray(labels)
    return ia.Warmup(spec, records, labels, [str(c) for c in range(labels.max() + 1)], np.arange(len(labels)) + 100)


# --------------------------------------------------------------------------- easy / hard


def test_easy_hard_picks_lowest_and_highest_per_class_with_index_tie_break():
    scores = np.array([0.5, 0.1, 0.9, 0.3, 0.7, 0.2, 0.8, 0.4, 0.6, 0.3])
    labels = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
    t = ia.easy_hard(scores, labels, k=2)
    pick = lambda c, kind: t[(t["class_index"] == c) & (t["kind"] == kind)].sort_values("rank")["index"].tolist()  # noqa: E731
    assert pick(0, "easy") == [1, 3]  # 0.1, 0.3
    assert pick(0, "hard") == [2, 4]  # 0.9, 0.7
    assert pick(1, "easy") == [5, 9]  # 0.2, 0.3
    assert pick(1, "hard") == [6, 8]  # 0.8, 0.6
    assert np.allclose(t.loc[t["index"] == 2, "score"], 0.9)
    ties = ia.easy_hard(np.array([0.5, 0.5, 0.5, 0.5]), np.zeros(4, dtype=int), k=1)
    assert ties.set_index("kind")["index"].to_dict() == {"easy": 0, "hard": 3}  # deterministic, never the same sample


def test_easy_hard_small_class_never_puts_a_sample_on_both_sides():
    labels = np.array([0] * 6 + [1] * 3)
    t = ia.easy_hard(np.linspace(0, 1, 9), labels, k=4)
    small = t[t["class_index"] == 1]
    assert len(small) == 2 and set(small["kind"]) == {"easy", "hard"}
    assert small["index"].is_unique
    assert (t[t["class_index"] == 0].groupby("kind").size() == 3).all()


# --------------------------------------------------------------------------- correlations


def test_spearman_matrix_symmetric_ones_on_diagonal_and_known_values():
    rng = np.random.default_rng(0)
    a = rng.random(50)
    vectors = {"a": a, "same_rank": a**3, "reversed": -a, "noise": rng.random(50), "constant": np.ones(50)}
    m = ia.spearman_matrix(vectors)
    assert list(m.index) == list(m.columns) == list(vectors)
    values = m.to_numpy()
    assert np.allclose(np.diag(values), 1.0)
    assert np.allclose(values, values.T, equal_nan=True)
    assert m.loc["a", "same_rank"] == pytest.approx(1.0)
    assert m.loc["a", "reversed"] == pytest.approx(-1.0)
    assert abs(m.loc["a", "noise"]) < 0.4
    assert np.isnan(m.loc["a", "constant"])  # undefined, not silently 0 or 1
    two = ia.spearman_matrix({"x": a, "y": -a})  # spearmanr returns a scalar for two vectors
    assert two.shape == (2, 2) and two.loc["x", "y"] == pytest.approx(-1.0)


def test_correlation_table_pairs_seeds_and_models_within_one_group():
    rng = np.random.default_rng(1)
    base = rng.random((2, 40))
    labels = np.repeat([0, 1], 20)
    ws = [warmup(base, labels, "cnn", 0), warmup(base[::-1] * 0.5 + 0.2, labels, "cnn", 1),
          warmup(1 - base, labels, "resnet18", 0), warmup(base, labels, "cnn", 0, budget=0.5)]
    corr = ia.correlation_table(ws)
    full = corr[corr["budget"] == 1.0]
    assert len(full) == 9 and len(corr[corr["budget"] == 0.5]) == 1  # 3x3 and 1x1: budgets never mixed
    m = full.pivot(index="a", columns="b", values="spearman")
    assert np.allclose(m.to_numpy(), m.to_numpy().T) and np.allclose(np.diag(m), 1)
    assert m.loc["cnn s0", "resnet18 s0"] == pytest.approx(-1.0)  # 1 - p reverses the ranking exactly
    kinds = full.set_index(["a", "b"])["pair"]
    assert kinds["cnn s0", "cnn s1"] == "seed vs seed" and kinds["cnn s0", "resnet18 s0"] == "model vs model"
    summary = ia.correlation_summary(corr)
    rows = summary.set_index(["pair", "models"])
    assert rows.loc[("model vs model", "cnn vs resnet18"), "pairs"] == 2  # (cnn s0, cnn s1) x resnet18 s0
    assert rows.loc[("seed vs seed", "cnn"), "pairs"] == 1
    assert rows.loc[("model vs model", "cnn vs resnet18"), "mean"] == pytest.approx(
        full[(full["model_a"] == "cnn") & (full["model_b"] == "resnet18")]["spearman"].mean())


def test_within_class_correlation_ignores_agreement_on_which_class_is_hard():
    rng = np.random.default_rng(2)
    labels = np.repeat([0, 1], 30)
    a = labels + 0.1 * rng.random(60)  # class 1 harder; order inside classes random
    b = labels + 0.1 * rng.random(60)
    assert ia.spearman_matrix({"a": a, "b": b}).loc["a", "b"] > 0.7
    assert abs(ia.within_class_spearman(a, b, labels)) < 0.3


def test_p_sgd_statistic_is_the_mean_over_seen_epochs():
    p = np.array([[0.2, 0.9, np.nan], [0.4, np.nan, np.nan], [0.6, 0.5, np.nan]])
    rec = {"p_true": p, "margin": 2 * p - 1, "sumsq": p**2 + (1 - p) ** 2}
    stat = ia.p_sgd_statistic(rec)
    assert stat[:2] == pytest.approx([0.6, 0.3])  # mean(0.8, 0.6, 0.4), mean(0.1, 0.5)
    assert np.isnan(stat[2])
    filled = ia.metric_score(rec, "p_sgd")
    assert filled[2] == pytest.approx(0.6)  # never seen: the largest score, as the pipeline fills it
    full = {k: v[:, :2] for k, v in rec.items()}
    full["p_true"] = np.array([[0.2, 0.9], [0.4, 0.3], [0.6, 0.5]])
    assert ia.metric_score(full, "p_sgd") == pytest.approx(ia.metric_score(full, "one_minus_p"))


def test_agreement_and_rescoring_tables():
    rng = np.random.default_rng(3)
    p = rng.random((4, 30))
    w = warmup(p, np.repeat([0, 1, 2], 10))
    agree = ia.agreement_table([w]).set_index("score")["spearman"]
    assert set(agree.index) == set(ia.SCORES) - {"one_minus_p"}
    assert agree["p_sgd"] == pytest.approx(1.0) and agree["el2n"] == pytest.approx(1.0)  # 2 classes: el2n = sqrt2 (1-p)
    resc = ia.rescoring_table([w])
    assert resc["epochs_scored"].tolist() == [1, 2, 3, 4]
    last = resc.iloc[-1]
    assert last["spearman_cumulative"] == pytest.approx(1.0) and last["top10_overlap"] == pytest.approx(1.0)
    first = resc.iloc[0]
    assert first["spearman_cumulative"] == pytest.approx(first["spearman_single_epoch"])
    assert first["spearman_cumulative"] == pytest.approx(
        ia.spearman_matrix({"a": 1 - p[0], "b": (1 - p).mean(0)}).loc["a", "b"])


def test_reference_warmup_is_first_model_full_budget_smallest_seed():
    p = np.full((1, 4), 0.5)
    ws = [warmup(p, [0, 0, 1, 1], "cnn", 2, 1.0), warmup(p, [0, 0, 1, 1], "cnn", 1, 0.5),
          warmup(p, [0, 0, 1, 1], "cnn", 1, 1.0), warmup(p, [0, 0, 1, 1], "resnet18", 0, 1.0)]
    ref = ia.reference_warmups(ws)["toy"]
    assert (ref.spec["model"], ref.spec["seed"], ref.spec["budget"]) == ("cnn", 1, 1.0)
    table = ia.easy_hard_table(ws, k=1)
    assert (table["source_index"] == table["index"] + 100).all()  # source indices travel with the selection


# --------------------------------------------------------------------------- class balance over time


def test_warmup_end_is_read_from_the_draws():
    rows = []
    for epoch in range(5):
        draws = [10, 5] if epoch < 2 else [9 + epoch, 6 - epoch]
        rows += [{"dataset": "d", "method": "biased", "model": "cnn", "seed": 0, "epoch": epoch, "class_index": c,
                  "draws": n} for c, n in enumerate(draws)]
    assert staged_warmup_epochs(pd.DataFrame(rows), "d", "biased") == 2


def test_draw_shares_sum_to_one_per_epoch():
    rows = [{"dataset": "d", "model": "cnn", "augmentation": "none", "method": "biased", "method_name": "biased",
             "budget": 1.0, "seed": s, "epoch": e, "class_index": c, "draws": 1 + c + s + e}
            for s in (0, 1) for e in (0, 1) for c in (0, 1, 2)]
    shares = ia.draw_shares(pd.DataFrame(rows))
    assert np.allclose(shares.groupby("epoch")["share"].sum(), 1.0)
    assert len(shares) == 6  # seeds averaged


# --------------------------------------------------------------------------- captions and README


def test_every_figure_has_a_caption_and_a_readme_line(tmp_path):
    stems = figure_names(["digits"]) + importance_figure_names(["digits"])
    captions = {p.stem: p for p in (REPO / "workflow" / "report").glob("*.rst")}
    found = {}
    for stem in stems:
        family = max((c for c in captions if stem == c or stem.startswith(c + "_")), key=len, default=None)
        assert family, f"figure {stem} has no caption in workflow/report/"
        found[stem] = captions[family]
    readme = tmp_path / "README.md"
    write_readme(str(readme), [(s, str(c)) for s, c in found.items()])
    text = readme.read_text()
    for stem, caption in found.items():
        line = next(line for line in text.splitlines() if line.startswith(f"- `{stem}`"))
        assert caption_line(caption) in line and len(caption_line(caption)) > 30


# --------------------------------------------------------------------------- transfer experiment in the DAG

TRANSFER = {
    "datasets": {"digits": {"source": "digits"}},
    "models": ["cnn", "resnet18"],
    "importance_from": "resnet18",
    "methods": {"uniform": {"method": "uniform"}, "biased": {"method": "biased", "warmup_epochs": 1}},
    "augmentations": ["crop"],
    "budgets": [1.0],
    "seeds": [0],
    "train": {"epochs": 2, "batch_size": 64, "width": 8, "device": "cpu"},
}


def test_transfer_run_scores_from_the_other_models_warmup_in_the_dag(tmp_path):
    """`biased_from_resnet18` on the cnn: its score job reads resnet18's warm-up records, its continue job cnn's checkpoint."""
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(TRANSFER))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path),
           "--cores", "1", "-n", "--dag"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    nodes = dict(re.findall(r'^\s*(\d+)\[label = "([^"]*)"', out.stdout, re.M))
    edges = re.findall(r"^\s*(\d+) -> (\d+)", out.stdout, re.M)
    parents = {n: {nodes[a] for a, b in edges if b == n} for n in nodes}
    children = {n: {b for a, b in edges if a == n} for n in nodes}

    def node(rule, *parts):
        hits = [n for n, label in nodes.items() if label.startswith(rule + "\\n") and all(p in label for p in parts)]
        assert len(hits) == 1, (rule, parts, hits)
        return hits[0]

    score = node("score", "biased_from_resnet18/digits/cnn/")
    assert [p for p in parents[score] if p.startswith("warmup")] == \
        [p for p in parents[score] if "warmup: digits/resnet18/" in p] and len(parents[score]) == 1
    (cont,) = [c for c in children[score] if nodes[c].startswith("continue")]
    assert any("warmup: digits/cnn/" in p for p in parents[cont]), parents[cont]  # continues its own model's run
    own = node("score", "run: biased/digits/cnn/")
    assert all("warmup: digits/cnn/" in p for p in parents[own])
    assert not any("biased_from_resnet18/digits/resnet18" in label for label in nodes.values())  # no self-transfer


# --------------------------------------------------------------------------- sampling flatness (smoothing made visible)


def test_sampling_table_states_smoothing_and_flatness_per_warmup():
    p = np.array([[0.98, 0.5, 0.02, 0.7], [0.98, 0.5, 0.02, 0.7]])
    w = warmup(p, [0, 0, 1, 1])
    configured = [ia.Scoring.parse("biased:one_minus_p:0.25"), ia.Scoring.parse("biased_var:variance:1")]
    t = ia.sampling_table([w], configured)
    assert t["smoothing"].tolist() == [*ia.SMOOTHING_GRID, 0.25, 1.0]
    assert t["label"].tolist() == [""] * len(ia.SMOOTHING_GRID) + ["biased", "biased_var"]
    raw = t[(t["label"] == "") & (t["smoothing"] == 0.0)].iloc[0]
    assert raw["max_min_ratio"] == pytest.approx(0.98 / 0.02)  # scores 1 - p = .02 .5 .98 .3
    assert raw["ess_fraction"] == pytest.approx(1.8**2 / (4 * (0.02**2 + 0.5**2 + 0.98**2 + 0.3**2)))
    assert raw["top10_share"] == pytest.approx(0.98 / 1.8) and raw["uniform_floor"] == 0.0
    half = t[(t["label"] == "") & (t["smoothing"] == 0.5)].iloc[0]
    assert half["max_min_ratio"] == pytest.approx((0.98 + 0.225) / (0.02 + 0.225))  # 0.5 * mean 0.45
    assert half["uniform_floor"] == pytest.approx(1 / 3)
    assert t["max_min_ratio"].iloc[:4].is_monotonic_decreasing  # more smoothing, flatter
    var_row = t[t["label"] == "biased_var"].iloc[0]
    assert var_row["metric"] == "variance" and var_row["max_min_ratio"] == pytest.approx(1.0)  # constant p: all 0


def test_scoring_parse_names_the_expected_form():
    assert ia.Scoring.parse("biased:el2n:0.5") == ia.Scoring("biased", "el2n", 0.5)
    with pytest.raises(ValueError, match="LABEL:METRIC:SMOOTHING"):
        ia.Scoring.parse("biased:0.5")
    with pytest.raises(ValueError, match="valid: one_minus_p"):
        ia.Scoring.parse("biased:entropy:0.5")


# --------------------------------------------------------------------------- figures (rendered, then inspected)


def _legend_right_of_axes(fig) -> bool:
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    right = max(ax.get_window_extent(renderer).x1 for ax in fig.axes if ax.get_visible() and ax.axison)
    return all(leg.get_window_extent(renderer).x0 >= right - 1 for leg in fig.legends)


def test_class_colours_are_a_qualitative_palette_with_distinct_colours():
    import seaborn as sns

    from sample_importance.figures.plots_importance import class_colours

    assert class_colours(10) == sns.color_palette("tab10", 10)
    assert class_colours(20) == sns.color_palette("tab20", 20)
    for n in (3, 10, 20, 50):
        assert len(set(map(tuple, class_colours(n)))) == n


def test_correlation_figure_puts_within_class_beside_overall():
    import matplotlib.pyplot as plt

    from sample_importance.figures.plots_importance import importance_correlation_figure

    rng = np.random.default_rng(4)
    labels = np.repeat([0, 1, 2], 20)
    ws = [warmup(np.clip(0.3 * labels + 0.1 * rng.random((2, 60)), 0, 1), labels, "cnn", s) for s in range(3)]
    corr = ia.correlation_table(ws)
    fig = importance_correlation_figure(corr)
    heatmaps = [ax for ax in fig.axes if ax.get_title()]
    assert len(heatmaps) == 2 and "overall" in heatmaps[0].get_title() and "within-class" in heatmaps[1].get_title()
    shown = sorted(float(t.get_text()) for t in heatmaps[1].texts)
    expected = sorted(round(v, 2) for v in corr["spearman_within_class"])
    assert shown == pytest.approx(expected, abs=0.006)
    assert min(float(t.get_text()) for t in heatmaps[0].texts) > 0.8 > max(shown[:6])  # class order vs within class
    assert all(ax.get_xlabel() for ax in heatmaps)
    plt.close(fig)


def test_class_balance_over_time_legend_outside_with_class_names():
    import matplotlib.pyplot as plt

    from sample_importance.figures.plots_importance import class_balance_over_time_figure

    rows = [{"dataset": "d", "model": "cnn", "augmentation": "none", "method": "biased", "method_name": "biased",
             "budget": 1.0, "seed": s, "epoch": e, "class_index": c, "draws": [30, 10][c] if e < 2 else 20}
            for s in (0, 1) for e in range(6) for c in (0, 1)]
    balance = pd.DataFrame({"dataset": "d", "class_index": [0, 1], "class": ["cat", "dog"], "train_share": [0.75, 0.25]})
    fig = class_balance_over_time_figure(pd.DataFrame(rows), balance, ["biased"])
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["cat", "dog"]
    assert _legend_right_of_axes(fig)
    assert "n=2 seeds" in fig.axes[0].get_title()
    plt.close(fig)


def test_score_agreement_error_bars_are_t_intervals_with_n():
    import matplotlib.pyplot as plt

    from sample_importance.analysis.stats import t_interval
    from sample_importance.figures.plots_importance import score_agreement_figure

    rng = np.random.default_rng(5)
    ws = [warmup(rng.random((3, 30)), np.repeat([0, 1, 2], 10), "cnn", s) for s in range(3)]
    agreement = ia.agreement_table(ws)
    fig = score_agreement_figure(agreement)
    ax = fig.axes[0]
    assert "n=3" in ax.get_title()
    iv = t_interval(agreement[agreement["score"] == "forgetting"]["spearman"])
    segments = [seg for coll in ax.collections for seg in coll.get_segments()]
    assert any(np.allclose(sorted(seg[:, 1]), [iv.low, iv.high]) for seg in segments)
    assert _legend_right_of_axes(fig)
    plt.close(fig)


def test_distribution_figure_prints_the_configured_smoothing_and_its_flatness():
    import matplotlib.pyplot as plt

    from sample_importance.figures.plots_importance import importance_distribution_figure
    from sample_importance.methods import importance

    rng = np.random.default_rng(6)
    w = warmup(rng.random((3, 40)) ** 0.3, np.repeat([0, 1], 20))
    sampling = ia.sampling_table([w], [ia.Scoring("biased", "one_minus_p", 0.25)])
    fig = importance_distribution_figure({"toy": w}, ia.rescoring_table([w]), sampling)
    titles = [leg.get_title().get_text() for ax in fig.axes if (leg := ax.get_legend())]
    text = "\n".join(titles)
    f = importance.sampling_flatness(importance.sampling_probabilities(w.score(), 0.25))
    assert f"biased: max/min {f['max_min_ratio']:.3g}, ESS {f['ess_fraction']:.2f} N" in text
    assert "raw scores (smoothing 0)" in text and "t-interval" in text
    assert all(ax.get_xlabel() and ax.get_ylabel() for ax in fig.axes if ax.axison)
    plt.close(fig)

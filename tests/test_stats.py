"""Statistics over seeds against hand-computed values: Student-t intervals (quantiles from a t table),
paired tests, Holm's correction, and the methods/budget tables built on them."""

import math

import numpy as np
import pandas as pd
import pytest

from sample_importance.analysis.budget_table import comparison_table
from sample_importance.analysis.stats import holm, paired, t_interval

T_975 = {2: 4.303, 4: 2.776}  # two-sided 95 % quantiles of Student's t, from a printed table (3 decimals)


def test_t_interval_of_three_seeds_uses_t_with_two_degrees_of_freedom():
    i = t_interval([0.60, 0.62, 0.64])
    half = T_975[2] * 0.02 / math.sqrt(3)  # sd 0.02
    assert (i.mean, i.n, i.sd) == (pytest.approx(0.62), 3, pytest.approx(0.02))
    assert i.low == pytest.approx(0.62 - half, abs=1e-4) and i.high == pytest.approx(0.62 + half, abs=1e-4)
    assert i.half_width == pytest.approx(0.0497, abs=1e-4)  # ~2.5x the bootstrap's min-max half range of 0.02


def test_t_interval_of_five_values_and_degenerate_cases():
    i = t_interval([1, 2, 3, 4, 5])
    half = T_975[4] * math.sqrt(2.5) / math.sqrt(5)
    assert (i.low, i.high) == (pytest.approx(3 - half, abs=1e-3), pytest.approx(3 + half, abs=1e-3))
    one = t_interval([0.7, float("nan")])  # NaN dropped, n says so
    assert one.n == 1 and one.mean == 0.7 and math.isnan(one.low)
    same = t_interval([0.5, 0.5, 0.5])
    assert (same.low, same.high, same.sd) == (0.5, 0.5, 0.0)
    assert t_interval([]).n == 0


def test_paired_t_test_matches_the_closed_form_for_two_degrees_of_freedom():
    method, base = np.array([0.70, 0.70, 0.70]), np.array([0.60, 0.62, 0.64])
    c = paired(method, base)
    t = 0.08 / (0.02 / math.sqrt(3))  # mean diff / its standard error = 6.928
    p = 1 - t / math.sqrt(2 + t * t)  # two-sided p of Student's t with 2 df, in closed form
    assert c.n == 3 and c.diff.mean == pytest.approx(0.08)
    assert c.t_p == pytest.approx(p, rel=1e-9) and c.t_p == pytest.approx(0.0202, abs=1e-4)
    assert math.isnan(c.wilcoxon_p)  # 3 pairs: a signed-rank test cannot reject at 0.05, so it is not reported


def test_wilcoxon_with_six_pairs_all_positive_is_two_over_two_to_the_six():
    c = paired([1.1, 2.3, 3.2, 4.5, 5.4, 6.6], [1, 2, 3, 4, 5, 6])
    assert c.wilcoxon_p == pytest.approx(2 / 64)  # exact: only the all-positive and all-negative sign patterns


def test_holm_by_hand_and_nan_kept_out_of_the_family():
    # sorted 0.01, 0.03, 0.04 times 3, 2, 1 = 0.03, 0.06, 0.04 -> monotone 0.03, 0.06, 0.06
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    out = holm([0.01, float("nan"), 0.04])  # a family of two: 0.02, 0.04
    assert math.isnan(out[1]) and out[0] == pytest.approx(0.02) and out[2] == pytest.approx(0.04)


def final_table() -> pd.DataFrame:
    acc = {("uniform", 0.3): [0.60, 0.62, 0.64], ("uniform", 1.0): [0.80, 0.82, 0.84],
           ("biased", 0.3): [0.70, 0.70, 0.70], ("biased", 1.0): [0.75, 0.77, 0.79],
           ("p_sgd", 0.3): [0.61, 0.64, 0.63], ("p_sgd", 1.0): [0.85, 0.80, 0.84]}
    return pd.DataFrame([{"dataset": "d", "model": "cnn", "augmentation": "standard", "method": m, "method_name": m,
                          "budget": b, "seed": s, "final_test_accuracy": a}
                         for (m, b), values in acc.items() for s, a in enumerate(values)])


def test_comparison_table_pairs_by_seed_and_holm_corrects_the_whole_table():
    final = final_table()
    table = comparison_table(final).set_index(["method", "budget"])

    def accuracy(method, budget):
        rows = final[(final["method"] == method) & (final["budget"] == budget)].sort_values("seed")
        return rows["final_test_accuracy"].to_numpy()

    keys = [("biased", 0.3), ("biased", 1.0), ("p_sgd", 0.3), ("p_sgd", 1.0)]
    raw = [paired(accuracy(*k), accuracy("uniform", k[1])).t_p for k in keys]
    for key, p in zip(keys, holm(raw)):
        assert table.loc[key, "t_p"] == pytest.approx(raw[keys.index(key)])
        assert table.loc[key, "p_holm"] == pytest.approx(p)
    # smallest of 4, x4 (the constant difference of p_sgd@1.0 gets the sign test's 0.25, not a t-test's 0)
    assert table.loc[("biased", 0.3), "p_holm"] == pytest.approx(4 * 0.020204, abs=1e-4)
    assert table.loc[("biased", 0.3), "diff"] == pytest.approx(0.08)
    assert table.loc[("uniform", 0.3), "low"] == pytest.approx(0.62 - T_975[2] * 0.02 / math.sqrt(3), abs=1e-4)
    assert np.isnan(table.loc[("uniform", 0.3), "t_p"]) and table.loc[("biased", 0.3), "n_paired"] == 3


def test_best_only_when_significantly_better_than_uniform_after_correction():
    table = comparison_table(final_table()).set_index(["method", "budget"])
    assert table["best"].sum() == 0  # biased@0.3 is top but p_holm 0.081; uniform@1.0 is the reference
    strong = final_table()
    strong.loc[(strong["method"] == "biased") & (strong["budget"] == 0.3), "final_test_accuracy"] = [0.80, 0.83, 0.84]
    table = comparison_table(strong).set_index(["method", "budget"])
    assert table.loc[("biased", 0.3), "significant"] and table.loc[("biased", 0.3), "best"]
    assert not table.loc[("biased", 1.0), "best"]  # significant, but worse than uniform


def test_seeds_that_all_move_by_one_test_image_are_not_called_significant():
    """3 seeds, each exactly +1 test image of 360: no spread, so no t-test; the exact sign test gives 0.25."""
    uniform = np.array([0.9900, 0.9917, 0.9883])
    method = uniform + 1 / 360
    c = paired(method, uniform)
    assert c.diff.mean == pytest.approx(1 / 360) and c.diff.low == c.diff.high
    assert c.t_p == pytest.approx(0.25)
    assert paired(uniform, uniform).t_p == 1.0
    assert paired(uniform + 1e-11, uniform).t_p == 1.0  # float noise of a share is no difference
    assert paired(np.r_[method, method + 0.1][:6], np.r_[uniform, uniform + 0.1][:6]).t_p == pytest.approx(2 * 0.5**6)

"""Statistics over seeds against hand-computed values and synthetic inputs whose truth is known: Student-t
intervals (quantiles from a t table), one-sided tests, the resolution floor, power against a simulation,
Holm's correction, and the methods/budget table built on them."""

import math

import numpy as np
import pandas as pd
import pytest

from sample_importance.analysis.budget_table import comparison_table
from sample_importance.analysis.stats import (accuracy_floor, correct, holm, mde, paired, power, seeds_needed,
                                              t_interval)
from sample_importance.analysis.verdicts import Margins

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
    assert one.n == 1 and one.mean == 0.7 and math.isnan(one.low) and "no interval" in one.describe()
    assert t_interval([]).n == 0


def test_equal_seeds_never_give_a_zero_width_interval():
    """No spread and no known resolution: no interval, said so. With the test set's resolution: its width."""
    same = t_interval([0.5, 0.5, 0.5])
    assert same.zero_spread and math.isnan(same.low) and math.isnan(same.high)
    assert "all seeds equal" in same.describe()
    floor = accuracy_floor(0.989, 360)  # binomial error of an accuracy of 98.9 % on 360 images
    assert floor == pytest.approx(math.sqrt(0.989 * 0.011 / 360))
    floored = t_interval([0.989, 0.989, 0.989], floor=floor)
    half = T_975[2] * floor / math.sqrt(3)
    assert floored.floored and floored.high - floored.low == pytest.approx(2 * half, abs=1e-5) and half > 0
    assert "spread below resolution" in floored.describe(scale=100)


def test_one_sided_tests_match_the_closed_form_for_two_degrees_of_freedom():
    method, base = np.array([0.70, 0.70, 0.70]), np.array([0.60, 0.62, 0.64])
    c = paired(method, base)
    t = 0.08 / (0.02 / math.sqrt(3))  # mean diff / its standard error = 6.928
    two_sided = 1 - t / math.sqrt(2 + t * t)  # two-sided p of Student's t with 2 df, in closed form
    assert c.n == 3 and c.diff.mean == pytest.approx(0.08)
    assert c.p_greater(0) == pytest.approx(two_sided / 2, rel=1e-9)
    assert c.p_less(0) == pytest.approx(1 - two_sided / 2, rel=1e-9)
    assert c.t_p == pytest.approx(two_sided, rel=1e-9)
    # against a margin: H0 effect >= 0.1 is the same t-test shifted by the margin
    t_m = (0.08 - 0.1) / (0.02 / math.sqrt(3))
    assert c.p_less(0.1) == pytest.approx((1 + t_m / math.sqrt(2 + t_m * t_m)) / 2, rel=1e-9)
    assert c.p_equivalent(-0.1, 0.1) == pytest.approx(max(c.p_greater(-0.1), c.p_less(0.1)))


def test_three_equal_moves_and_a_slightly_larger_one_give_p_values_in_order_without_a_jump():
    """[3, 3, 3] vs [3, 3, 4] test images of 360: the larger moves give the smaller p, and neither
    collapses to a zero-width interval (the old sign test gave 0.25 against 0.0099)."""
    n_test, base = 360, np.array([0.95, 0.96, 0.94])
    floor = accuracy_floor(0.95, n_test)
    equal = paired(base + np.array([3, 3, 3]) / n_test, base, floor)
    larger = paired(base + np.array([3, 3, 4]) / n_test, base, floor)
    assert larger.p_greater() <= equal.p_greater()
    assert 0.2 < larger.p_greater() / equal.p_greater() <= 1.0  # one image more moves p a little, not 25-fold
    for c in (equal, larger):
        assert c.diff.high - c.diff.low > 2 / n_test  # wider than two test images: never [x, x]


def test_float_noise_is_no_spread_and_no_effect():
    uniform = np.array([0.9900, 0.9917, 0.9883])
    c = paired(uniform + 1e-11, uniform)  # float noise of a share
    assert c.diff.zero_spread and math.isnan(c.p_greater()) and math.isnan(c.t_p)


def test_power_and_mde_match_a_simulation_of_the_same_test():
    """At the minimum detectable effect, the one-sided t-test rejects in power 0.8 of simulated grids (±10 %)."""
    rng = np.random.default_rng(0)
    for n, alpha in ((3, 0.05), (5, 0.05 / 4), (10, 0.05 / 30)):
        sd = 0.7
        effect = mde(n, sd, alpha, 0.8)
        assert power(effect, n, sd, alpha) == pytest.approx(0.8, abs=1e-6)
        diffs = rng.normal(effect, sd, size=(20_000, n))
        t = diffs.mean(1) / (diffs.std(1, ddof=1) / math.sqrt(n))
        from scipy import stats

        simulated = float(np.mean(stats.t.sf(t, n - 1) < alpha))
        assert simulated == pytest.approx(0.8, rel=0.10), (n, alpha, simulated)


def test_mde_shrinks_with_seeds_and_seeds_needed_inverts_it():
    sd = 1.0
    assert mde(3, sd, 0.05) > mde(5, sd, 0.05) > mde(10, sd, 0.05)
    assert mde(3, sd, 0.025) == pytest.approx(3.3, abs=0.4)  # ~3.3 paired sds at 2 df (two-sided 0.05)
    assert mde(3, sd, 0.025 / 30) > 15  # ~18 at 30 Holm-corrected comparisons
    n = seeds_needed(0.5, sd, 0.05)
    assert power(0.5, int(n), sd, 0.05) >= 0.8 > power(0.5, int(n) - 1, sd, 0.05)
    assert math.isnan(seeds_needed(0.5, 0.0)) and seeds_needed(1e-6, 1.0) == math.inf


def test_holm_by_hand_and_nan_kept_out_of_the_family():
    # sorted 0.01, 0.03, 0.04 times 3, 2, 1 = 0.03, 0.06, 0.04 -> monotone 0.03, 0.06, 0.06
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    out = holm([0.01, float("nan"), 0.04])  # a family of two: 0.02, 0.04
    assert math.isnan(out[1]) and out[0] == pytest.approx(0.02) and out[2] == pytest.approx(0.04)
    np.testing.assert_allclose(correct([0.01, 0.04, 0.03], "fdr_bh"), [0.03, 0.04, 0.04])  # BH: p k / rank


def test_margins_of_zero_or_below_are_refused_naming_the_field():
    for kwargs, field in (({"accuracy": 0.0}, "analysis.margins.accuracy_points"),
                          ({"speedup": -0.9}, "analysis.margins.speedup_ratio"),
                          ({"speedup": 1.0}, "analysis.margins.speedup_ratio"),
                          ({"alpha": 0.0}, "analysis.alpha")):
        with pytest.raises(ValueError, match=field):
            Margins(**kwargs)


def final_table(n_test: int = 10_000) -> pd.DataFrame:
    acc = {("uniform", 0.3): [0.60, 0.62, 0.64], ("uniform", 1.0): [0.80, 0.82, 0.84],
           ("biased", 0.3): [0.70, 0.70, 0.70], ("biased", 1.0): [0.75, 0.77, 0.79],
           ("p_sgd", 0.3): [0.61, 0.64, 0.63], ("p_sgd", 1.0): [0.85, 0.80, 0.84]}
    return pd.DataFrame([{"dataset": "d", "model": "cnn", "augmentation": "standard", "method": m, "method_name": m,
                          "budget": b, "seed": s, "final_test_accuracy": a, "n_test": n_test}
                         for (m, b), values in acc.items() for s, a in enumerate(values)])


def test_comparison_table_corrects_within_each_budget_column():
    final = final_table()
    table = comparison_table(final).set_index(["method", "budget"])

    def accuracy(method, budget):
        rows = final[(final["method"] == method) & (final["budget"] == budget)].sort_values("seed")
        return rows["final_test_accuracy"].to_numpy()

    for budget in (0.3, 1.0):  # one family per column: two comparisons each
        keys = [("biased", budget), ("p_sgd", budget)]
        floor = accuracy_floor(final.loc[final["budget"] == budget, "final_test_accuracy"].mean(), 10_000)
        raw = [paired(accuracy(*k), accuracy("uniform", budget), floor).p_greater() for k in keys]
        for key, p in zip(keys, holm(raw)):
            assert table.loc[key, "p_better"] == pytest.approx(p)
        assert (table.loc[keys, "family_size"] == 2).all()
    assert table.loc[("biased", 0.3), "diff"] == pytest.approx(0.08)
    assert table.loc[("biased", 0.3), "verdict"] == "better"  # p 0.010 x 2 < 0.05
    assert table.loc[("uniform", 0.3), "low"] == pytest.approx(0.62 - T_975[2] * 0.02 / math.sqrt(3), abs=1e-4)
    assert np.isnan(table.loc[("uniform", 0.3), "p_better"]) and table.loc[("biased", 0.3), "n_paired"] == 3
    assert table.loc[("biased", 0.3), "mde"] > 0 and table.loc[("biased", 0.3), "seeds_needed"] >= 2
    bh = comparison_table(final, correction="fdr_bh").set_index(["method", "budget"])
    assert (bh["correction"] == "fdr_bh").all()


def test_best_only_where_better_than_uniform_and_equivalence_inside_the_margin():
    table = comparison_table(final_table()).set_index(["method", "budget"])
    assert table.loc[("biased", 0.3), "best"] and not table.loc[("p_sgd", 1.0), "best"]
    assert table.loc[("biased", 1.0), "verdict"] == "worse"  # -5 points, every seed
    same = final_table()
    same.loc[same["method"] == "p_sgd", "final_test_accuracy"] = same.loc[same["method"] == "uniform",
                                                                           "final_test_accuracy"].to_numpy() + 0.0005
    wide = comparison_table(same, margins=Margins(accuracy=0.02)).set_index(["method", "budget"])
    assert wide.loc[("p_sgd", 0.3), "verdict"] == "equivalent"  # +0.05 points, inside ±2 points
    narrow = comparison_table(same, margins=Margins(accuracy=0.0001)).set_index(["method", "budget"])
    assert narrow.loc[("p_sgd", 0.3), "verdict"] == "inconclusive"  # the test set cannot resolve 0.01 points

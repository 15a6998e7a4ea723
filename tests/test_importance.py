"""Importance metrics on hand-computed examples; sampling probabilities and class balance."""

import numpy as np
import pytest

from sample_importance.methods import importance

NAN = np.nan
# 3 epochs x 3 samples; sample 2 unseen in epoch 1
P = np.array([[0.9, 0.2, 0.5], [0.7, 0.4, NAN], [0.8, 0.3, 0.1]])
MARGIN = np.array([[0.8, -0.5, 0.1], [0.4, -0.1, NAN], [0.6, 0.2, -0.3]])
SUMSQ = np.array([[0.82, 0.5, 0.3], [0.6, 0.4, NAN], [0.7, 0.35, 0.5]])
REC = {"p_true": P, "margin": MARGIN, "sumsq": SUMSQ}


def test_one_minus_p_is_the_mean_over_seen_epochs():
    np.testing.assert_allclose(importance.score(REC, "one_minus_p"), [0.2, 0.7, 0.7])


def test_loss_el2n_variance_margin_by_hand():
    np.testing.assert_allclose(importance.score(REC, "loss")[0], -np.mean(np.log([0.9, 0.7, 0.8])))
    el2n0 = np.mean([np.sqrt(1 - 2 * p + s) for p, s in zip(P[:, 0], SUMSQ[:, 0])])
    np.testing.assert_allclose(importance.score(REC, "el2n")[0], el2n0)
    np.testing.assert_allclose(importance.score(REC, "margin")[1], np.mean([(1 + 0.5) / 2, (1 + 0.1) / 2, (1 - 0.2) / 2]))


def test_variance_is_active_bias_confidence_corrected_std_by_hand():
    # Chang et al. 2017: sqrt(var + var^2 / (|H| - 1)), var over the seen epochs with ddof 0 (as ActiveBias's np.var)
    # sample 0: p = .9 .7 .8 -> var = .02/3, |H| = 3 -> sqrt(.0066667 + .0000444/2) = .0817856
    # sample 2: p = .5 .1 (unseen in epoch 1) -> var = .04, |H| = 2 -> sqrt(.04 + .0016) = .2039608
    s = importance.score(REC, "variance")
    np.testing.assert_allclose(s[[0, 2]], [0.0817856, 0.2039608], atol=1e-7)
    assert s[2] > np.sqrt(np.var([0.5, 0.1]))  # the small-sample term raises a short history's spread


def test_variance_short_histories_and_unseen_samples():
    p = np.array([[0.2, 0.3, 0.4, NAN], [0.6, 0.3, NAN, NAN], [0.2, 0.3, NAN, NAN], [0.6, 0.3, NAN, NAN]])
    rec = {"p_true": p, "margin": 2 * p - 1, "sumsq": p**2 + (1 - p) ** 2}
    s = importance.score(rec, "variance")
    assert s[1] == 0.0 and s[2] == 0.0  # seen once: no spread to measure (the reference divides by zero)
    long = np.sqrt(0.04 + 0.04**2 / 3)  # sample 0: p = .2 .6 .2 .6, var .04, |H| = 4
    assert s[0] == pytest.approx(long)
    assert s[3] == pytest.approx(s[0])  # never seen: the largest score
    two = {k: v[[0, 1]] for k, v in rec.items()}
    assert importance.score(two, "variance")[0] == pytest.approx(np.sqrt(0.04 + 0.04**2))  # same var, |H| = 2: higher


def test_forgetting_counts_correct_to_wrong_transitions():
    # sample 0: always correct -> 0; sample 1: wrong, wrong, correct -> 0 events; sample 2: correct, (unseen), wrong -> 1
    np.testing.assert_array_equal(importance.score(REC, "forgetting"), [0, 0, 1])
    never = {"p_true": P[:, :1], "margin": -np.ones((3, 1)), "sumsq": SUMSQ[:, :1]}
    assert importance.score(never, "forgetting")[0] == 3  # never learned: forgotten every epoch


def test_unseen_samples_get_the_largest_score():
    rec = {k: np.column_stack([v[:, 0], np.full(3, NAN)]) for k, v in REC.items()}
    s = importance.score(rec, "one_minus_p")
    assert s[1] == s[0] == pytest.approx(0.2)


def test_sampling_probabilities_are_smoothed_and_normalised():
    p = importance.sampling_probabilities(np.array([0.0, 1.0, 3.0]), smoothing=1.0)
    np.testing.assert_allclose(p, np.array([4 / 3, 7 / 3, 13 / 3]) / 8)
    np.testing.assert_allclose(importance.sampling_probabilities(np.zeros(4), 0.5), 0.25)


def test_unknown_metric_lists_valid_names():
    with pytest.raises(ValueError, match="one_minus_p, loss, el2n"):
        importance.score(REC, "entropy")


def test_class_table_shares():
    t = importance.class_table(np.array([0.1, 0.1, 0.8]), np.array([0, 0, 1]), ["a", "b"])
    np.testing.assert_allclose(t["train_share"], [2 / 3, 1 / 3])
    np.testing.assert_allclose(t["sampling_share"], [0.2, 0.8])
    np.testing.assert_allclose(t["balanced_share"], [0.5, 0.5])


def test_sampling_flatness_of_uniform_and_of_two_scores_by_hand():
    flat = importance.sampling_flatness(np.full(20, 0.05))
    assert flat == pytest.approx({"max_min_ratio": 1.0, "ess_fraction": 1.0, "top10_share": 0.1})
    raw = importance.sampling_flatness(importance.sampling_probabilities(np.array([0.02, 0.98]), 0.0))
    assert raw["max_min_ratio"] == pytest.approx(49.0)
    assert raw["ess_fraction"] == pytest.approx(1 / (2 * (0.02**2 + 0.98**2)))
    assert raw["top10_share"] == pytest.approx(0.98)  # ceil(10 % of 2) = 1 sample
    smoothed = importance.sampling_flatness(importance.sampling_probabilities(np.array([0.02, 0.98]), 0.5))
    assert smoothed["max_min_ratio"] == pytest.approx((0.98 + 0.25) / (0.02 + 0.25))  # 4.56: eps * mean = 0.25
    assert smoothed["top10_share"] == pytest.approx(1.23 / 1.5)
    never = importance.sampling_flatness(np.array([0.0, 0.5, 0.5]))
    assert np.isinf(never["max_min_ratio"]) and never["ess_fraction"] == pytest.approx(2 / 3)


def test_smoothing_flattens_monotonically_and_floors_a_share_of_draws():
    w = np.random.default_rng(0).random(1000) ** 4
    table = [importance.sampling_flatness(importance.sampling_probabilities(w, eps)) for eps in (0.0, 0.1, 0.5, 1.0)]
    ratios = [t["max_min_ratio"] for t in table]
    ess = [t["ess_fraction"] for t in table]
    assert ratios == sorted(ratios, reverse=True) and ess == sorted(ess)
    p = importance.sampling_probabilities(w, 0.5)
    assert p.min() * len(w) == pytest.approx((w.min() + 0.5 * w.mean()) / (1.5 * w.mean()))  # >= 1/3 of uniform's rate

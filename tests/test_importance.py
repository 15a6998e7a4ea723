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
    np.testing.assert_allclose(importance.score(REC, "variance")[2], np.var([0.5, 0.1]))
    np.testing.assert_allclose(importance.score(REC, "margin")[1], np.mean([(1 + 0.5) / 2, (1 + 0.1) / 2, (1 - 0.2) / 2]))


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

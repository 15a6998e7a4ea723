"""The class-aware methods (issue 22): class shares of the samplers, the re-weighted losses, the class-matched control.

Shares are checked against their formulas exactly and the draws of an epoch against the shares within
sampling noise (a multinomial count's 5-sigma band, so a correct sampler fails about once in 10^6 runs).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sample_importance.methods import importance, method_class
from sample_importance.methods.cb_loss import effective_number_weights
from sample_importance.methods.class_matched import matched
from sample_importance.methods.class_sampling import class_mass, power_shares
from sample_importance.methods.logit_adjust import logit_offsets
from sample_importance.training.engine import Trainer
from tiny import digits, spec

LT = {"kind": "long_tailed", "ratio": 10}
COUNTS = np.array([142, 113, 87, 67, 52, 40, 31, 24, 18, 14])  # digits at ratio 10 (data/imbalance.py)


@pytest.fixture(scope="module")
def lt_data():
    data = digits(LT)
    assert np.bincount(data.train.y.numpy()).tolist() == COUNTS.tolist()
    return data


def epoch_class_counts(trainer: Trainer, epochs: int = 1) -> np.ndarray:
    idx = torch.cat([trainer.method.epoch_indices(e) for e in range(epochs)])
    return np.bincount(trainer.labels_numpy[idx.numpy()], minlength=trainer.n_classes)


def assert_within_noise(counts: np.ndarray, shares: np.ndarray) -> None:
    n = counts.sum()
    sd = np.sqrt(n * shares * (1 - shares))
    assert np.all(np.abs(counts - n * shares) < 5 * sd), (counts, n * shares)


def test_class_balanced_draws_every_class_equally(lt_data):
    t = Trainer(spec("class_balanced", epochs=4), lt_data, progress=False)
    counts = epoch_class_counts(t, epochs=10)
    assert counts.sum() == 10 * 588
    assert_within_noise(counts, np.full(10, 0.1))  # 588 draws of each class per 10 epochs, within noise
    assert counts[-1] > 3 * 10 * 14  # the rarest class (14 images, 2.4 % of the data) gets ~10 %
    assert t.step == 0  # drawing plans only


def test_sqrt_sampling_shares_follow_the_square_root_of_the_counts(lt_data):
    expected = np.sqrt(COUNTS) / np.sqrt(COUNTS).sum()
    np.testing.assert_allclose(power_shares(COUNTS, 0.5), expected, rtol=1e-15)
    assert expected[0] == pytest.approx(0.1654, abs=1e-4) and expected[-1] == pytest.approx(0.0519, abs=1e-4)
    t = Trainer(spec("sqrt_sampling", epochs=4), lt_data, progress=False)
    assert_within_noise(epoch_class_counts(t, epochs=10), expected)


def test_samplers_are_uniform_within_a_class(lt_data):
    t = Trainer(spec("sqrt_sampling", epochs=4), lt_data, progress=False)
    idx = torch.cat([t.method.epoch_indices(e) for e in range(40)]).numpy()
    rare = np.flatnonzero(t.labels_numpy == 9)  # 14 samples drawn ~1170 times in all
    per_sample = np.bincount(idx, minlength=t.n_train)[rare]
    assert_within_noise(per_sample, np.full(len(rare), 1 / len(rare)))


def test_progressive_sampler_moves_from_instance_to_class_balanced_on_its_schedule(lt_data):
    t = Trainer(spec("progressive_balanced", epochs=4), lt_data, progress=False)
    instance, balanced = COUNTS / COUNTS.sum(), np.full(10, 0.1)
    for progress in (0.0, 0.25, 0.5, 1.0):
        t.charged = progress * t.total_steps
        np.testing.assert_allclose(t.method.class_shares(0), (1 - progress) * instance + progress * balanced,
                                   rtol=1e-12)
    t.charged = 0.5 * t.total_steps  # halfway: the rarest class 0.5 * (14/588 + 0.1) = 6.19 %
    assert t.method.class_shares(2)[-1] == pytest.approx(0.0619, abs=1e-4)
    assert_within_noise(epoch_class_counts(t, epochs=10), 0.5 * instance + 0.5 * balanced)


def test_progressive_sampler_schedule_in_a_real_run(lt_data):
    t = Trainer(spec("progressive_balanced", epochs=4), lt_data, progress=False)
    t.run()
    rare = [r["draws"] for r in t.class_draws if r["class_index"] == 9]
    first_share, last_share = rare[0] / 588, rare[-1] / 588
    # epoch e starts at progress e / 4: the rarest class's share goes 2.4 % -> 0.25 * 2.4 % + 0.75 * 10 % = 8.1 %
    assert first_share < 0.05 and last_share > 0.055


def fake_records(labels: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """Two warm-up epochs of p_true: rare classes learnt worse, with spread inside each class."""
    g = np.random.default_rng(seed)
    p = np.clip(0.9 - 0.06 * labels + g.normal(0, 0.15, (2, len(labels))), 0.01, 0.99)
    return {"p_true": p, "sumsq": p**2, "margin": 2 * p - 1}


def test_class_matched_has_biased_class_shares_and_is_uniform_within_a_class():
    labels = np.repeat(np.arange(10), COUNTS)
    records = fake_records(labels)
    params = {"warmup_epochs": 2, "smoothing": 0.5}  # the older, flatter default: still not uniform in a class
    biased = method_class("biased")(params, trainer=None).score(records, labels)
    control = method_class("class_matched")(params, trainer=None).score(records, labels)
    np.testing.assert_allclose(class_mass(control, labels, 10), class_mass(biased, labels, 10), rtol=1e-12)
    assert control.sum() == pytest.approx(1.0, abs=1e-12)
    for c in range(10):
        inside = control[labels == c]
        assert inside.max() == pytest.approx(inside.min(), rel=1e-12)  # uniform within the class
        assert biased[labels == c].max() > 1.3 * biased[labels == c].min()  # while biased is not
    # the shares are re-balanced: the rarest class gets more than its 2.4 % of the data
    assert class_mass(control, labels, 10)[-1] > 1.3 * COUNTS[-1] / COUNTS.sum()
    # a hand case: scores 0.1, 0.3 (class 0) and 0.6 (class 1), smoothing 0 -> class 0 has 0.4, class 1 0.6
    np.testing.assert_allclose(matched(importance.sampling_probabilities(np.array([0.1, 0.3, 0.6]), 0.0),
                                       np.array([0, 0, 1])), [0.2, 0.2, 0.6], rtol=1e-15)


def test_class_matched_run_draws_classes_as_biased_expects(lt_data):
    t = Trainer(spec("class_matched", {"warmup_epochs": 1}, epochs=4), lt_data, progress=False)
    t.run(until_epoch=1)
    t.method.start_epoch(1)  # scores from the warm-up's records, as the continue step
    shares = class_mass(t.method.weights.cpu().numpy(), t.labels_numpy, 10)
    records = t.records.as_numpy(0, 1)
    biased = method_class("biased")(t.method.params, trainer=None).score(records, t.labels_numpy)
    np.testing.assert_allclose(shares, class_mass(biased, t.labels_numpy, 10), rtol=1e-12)
    drawn = torch.cat([t.method.continuation_indices(e) for e in range(1, 11)]).numpy()
    assert_within_noise(np.bincount(t.labels_numpy[drawn], minlength=10), shares)


def test_class_balanced_loss_weights_equal_hand_values():
    # counts 100 and 10, beta 0.99: w = 0.01 / (1 - 0.99^n) = 0.0157737, 0.1045829; normalised to sum 2
    w = effective_number_weights(np.array([100, 10]), 0.99)
    raw = np.array([0.01 / (1 - 0.99**100), 0.01 / (1 - 0.99**10)])
    assert raw == pytest.approx([0.0157737, 0.1045829], rel=1e-5)
    np.testing.assert_allclose(w, 2 * raw / raw.sum(), rtol=1e-15)
    assert w == pytest.approx([0.262116, 1.737884], rel=1e-5) and w.sum() == pytest.approx(2.0)
    assert effective_number_weights(np.array([5, 5, 0]), 0.9).tolist() == [1.0, 1.0, 0.0]  # an empty class: 0


def test_logit_offsets_equal_hand_values():
    np.testing.assert_allclose(logit_offsets(np.array([75, 25]), 1.0), [math.log(0.75), math.log(0.25)], rtol=1e-10)
    np.testing.assert_allclose(logit_offsets(np.array([75, 25]), 2.0), [math.log(0.5625), math.log(0.0625)], rtol=1e-10)


@pytest.mark.parametrize("method", ["cb_loss", "logit_adjust"])
def test_reweighted_losses_equal_hand_computed_values_on_a_tiny_batch(lt_data, method):
    """The engine's step loss equals the formula on the logits of that step (augmentation none, train mode)."""
    t = Trainer(spec(method, augmentation="none", epochs=4), lt_data, progress=False)
    t.records.new_epoch()
    t.method.start_epoch(0)
    batch = t.method.next_batch()
    idx, y = batch.indices, t.labels.index_select(0, batch.indices)
    with torch.no_grad():
        logits = t.model(t.normalize(t.train_images(idx))).float().double()
    counts = torch.as_tensor(COUNTS, dtype=torch.float64)
    if method == "cb_loss":
        beta = 0.9999
        w = (1 - beta) / (1 - beta**counts)
        w = w / w.sum() * 10
        expected = (w[y] * F.cross_entropy(logits, y, reduction="none")).mean()
        assert float(w[9] / w[0]) == pytest.approx(10.08, abs=0.01)  # nearly inverse frequency (142 / 14 = 10.14)
    else:
        expected = F.cross_entropy(logits + torch.log(counts / counts.sum()), y)
        assert float(expected) > float(F.cross_entropy(logits, y)) - 1  # a different number from the plain loss
    t.train_step(batch)
    assert float(t._loss_sum) == pytest.approx(float(expected), rel=1e-5)


def test_logit_adjust_records_the_model_own_probabilities(lt_data):
    t = Trainer(spec("logit_adjust", augmentation="none", epochs=4), lt_data, progress=False)
    t.records.new_epoch()
    t.method.start_epoch(0)
    batch = t.method.next_batch()
    with torch.no_grad():
        logits = t.model(t.normalize(t.train_images(batch.indices))).float()
    p_true = logits.softmax(1).gather(1, t.labels.index_select(0, batch.indices)[:, None]).squeeze(1)
    t.train_step(batch)
    recorded = torch.as_tensor(t.records.as_numpy(0, 1)["p_true"][0])[batch.indices]
    torch.testing.assert_close(recorded.float(), p_true, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", ["class_balanced", "sqrt_sampling", "progressive_balanced", "cb_loss",
                                  "logit_adjust", "class_matched"])
def test_each_class_aware_method_trains_within_the_budget(lt_data, name):
    params = {"warmup_epochs": 1} if name == "class_matched" else {}
    t = Trainer(spec(name, params, epochs=4, budget=0.5), lt_data, progress=False)
    t.run()
    assert t.step == t.total_steps == round(0.5 * 4 * math.ceil(588 / 32)) and t.charged == t.step
    assert t.metrics[-1]["test_accuracy"] > 0.3  # it learned (10 classes: chance 0.1)

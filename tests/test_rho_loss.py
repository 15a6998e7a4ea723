"""RHO-LOSS (methods/rho_loss.py) against OATML/RHO-Loss: holdout, selection by reducible loss, accounting."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from sample_importance.config import ConfigError, resolve_method_params
from sample_importance.data import datasets as data
from sample_importance.data.noise import apply_label_noise
from sample_importance.methods.rho_loss import RhoLoss, select_reducible, stratified_holdout
from sample_importance.training.engine import Trainer

from tiny import blobs, spec

B = 8


def noisy_blobs(rate=0.25, n_per_class=40) -> data.Dataset:
    ds = blobs(n_per_class=n_per_class)
    y, mask = apply_label_noise(ds.train.y, ds.classes, "symmetric", rate, torch.Generator().manual_seed(0))
    return data.Dataset(ds.name, ds.classes, data.Split(ds.train.x, y), ds.test, ds.train_source_index, ds.mean, ds.std,
                        {"source": "synthetic", "data_seed": 0}, mask, ds.train.y.clone())


def trainer(ds, params=None, budget=1.0, epochs=6, **train) -> Trainer:
    return Trainer(spec("rho_loss", {"irreducible_epochs": 3, **(params or {})}, budget=budget, epochs=epochs,
                        batch_size=B, width=4, augmentation="none", **train), ds, progress=False)


def noisy_share(t: Trainer) -> float:
    return sum(r["noisy_draws"] for r in t.class_draws) / sum(r["draws"] for r in t.class_draws)


def test_holdout_is_class_stratified_fixed_and_leaves_the_main_set():
    y = torch.arange(3).repeat_interleave(torch.tensor([10, 7, 5]))
    mask = stratified_holdout(y, 0.5, seed=0)
    assert [int(mask[y == c].sum()) for c in range(3)] == [5, round(3.5), round(2.5)]
    assert torch.equal(mask, stratified_holdout(y, 0.5, seed=0))
    assert not torch.equal(mask, stratified_holdout(y, 0.5, seed=1))


def test_selection_is_the_top_k_of_training_minus_irreducible_loss():
    train = torch.tensor([2.0, 0.5, 3.0, 1.0, 2.5])
    irreducible = torch.tensor([0.1, 0.0, 2.9, 0.2, 0.4])
    # reducible 1.9, 0.5, 0.1, 0.8, 2.1: the two largest, largest first
    assert select_reducible(train, irreducible, 2).tolist() == [4, 0]


def test_an_irreducible_model_that_knows_the_noise_keeps_noisy_samples_out():
    """Oracle irreducible losses: high on the mislabeled samples, 0 elsewhere; no mislabeled sample is trained
    where there was a choice (an epoch's last chunk of c < 10 candidates trains max(1, c B // chunk) of them, as
    the reference's last batch)."""
    ds = noisy_blobs()
    t = trainer(ds)
    t.method.set_irreducible(ds.noisy.float() * 20.0)
    batches = []
    next_batch = t.method.next_batch
    t.method.next_batch = lambda: (lambda b: b is not None and batches.append(b) or b)(next_batch())
    t.run()
    chosen = torch.cat([b.indices for b in batches if b.extra_forward > len(b.indices)])
    assert len(chosen) > 100 and not ds.noisy[chosen].any()
    trained = torch.cat([b.indices for b in batches])
    assert not t.method.holdout[trained].any()  # the holdout never reaches the main model
    forced = sum(int(ds.noisy[b.indices].sum()) for b in batches if b.extra_forward == len(b.indices))
    assert sum(r["noisy_draws"] for r in t.class_draws) == forced


def test_a_trained_irreducible_model_avoids_noisy_samples_where_uniform_does_not():
    ds = noisy_blobs(rate=0.25)
    rho = trainer(ds, {"irreducible_epochs": 10}, epochs=8)
    rho.run()
    uni = Trainer(spec("uniform", epochs=8, batch_size=B, width=4, augmentation="none"), ds, progress=False)
    uni.run()
    assert math.isclose(noisy_share(uni), 0.25, abs_tol=1e-9)
    assert noisy_share(rho) < 0.08  # 25 % of the data, < 8 % of the draws
    irr = rho.method.irreducible
    assert float(irr[ds.noisy & ~rho.method.holdout].mean()) > 3 * float(irr[~ds.noisy & ~rho.method.holdout].mean())


@pytest.mark.parametrize("charge", ["compute", "forwarded"])
def test_every_forward_is_charged(charge):
    ds = noisy_blobs()
    t = trainer(ds, budget=0.6, charge=charge)
    steps = []
    next_batch = t.method.next_batch
    t.method.next_batch = lambda: (lambda b: steps.append(b) or b)(next_batch())
    t.run()
    steps = [b for b in steps if b is not None]
    n_hold = int(t.method.holdout.sum())
    n_main = len(ds.train.y) - n_hold
    trained_irr = 3 * n_hold
    fc = t.forward_cost if charge == "compute" else 1.0
    assert math.isclose(t.method.irreducible_charge, (trained_irr + n_main * fc) / B)
    chunk = t.method.chunk_size
    assert chunk == 80 and all(b.extra_forward <= chunk for b in steps)
    assert all(len(b.indices) == max(1, b.extra_forward * B // chunk) for b in steps)
    per_step = sum(t.step_charge(b) for b in steps)
    if charge == "compute":
        assert all(math.isclose(t.step_charge(b), 1 + 80 / 3 / B) for b in steps if len(b.indices) == B)
    assert math.isclose(t.charged, t.method.irreducible_charge + per_step)
    assert t.examples_forwarded == trained_irr + n_main + sum(len(b.indices) + b.extra_forward for b in steps)
    assert t.examples_backpropagated == trained_irr + sum(len(b.indices) for b in steps)
    assert t.total_steps <= t.charged < t.total_steps + 1 + 80 / B


def test_irreducible_cost_zero_charges_only_the_selection():
    """The paper's view (an irreducible model trained once, reused): its work is counted, not charged."""
    t = trainer(noisy_blobs(), {"irreducible_cost": 0.0}, budget=0.3)
    batches = []
    next_batch = t.method.next_batch
    t.method.next_batch = lambda: (lambda b: b is not None and batches.append(b) or b)(next_batch())
    t.run()
    assert t.method.irreducible_charge == 0.0
    assert math.isclose(t.charged, sum(t.step_charge(b) for b in batches))
    n_hold = int(t.method.holdout.sum())
    assert t.examples_backpropagated == 3 * n_hold + sum(len(b.indices) for b in batches)


def test_a_budget_the_irreducible_model_spends_alone_is_an_error():
    t = trainer(noisy_blobs(), {"irreducible_epochs": 40}, budget=0.1)
    with pytest.raises(ValueError, match="irreducible_epochs"):
        t.run()


def test_same_seed_same_run_and_resume_equals_whole():
    ds = noisy_blobs()
    a, b = trainer(ds, epochs=4), trainer(ds, epochs=4)
    a.run()
    b.run(until_epoch=2)
    state = b.state_dict()
    c = trainer(ds, epochs=4)
    c.load_state_dict(state)
    c.run()
    no_clock = lambda t: pd.DataFrame(t.metrics).drop(columns="wall_seconds")  # noqa: E731
    pd.testing.assert_frame_equal(no_clock(a), no_clock(c), check_exact=True)
    assert a.class_draws == c.class_draws


def test_parameters_are_checked_with_the_config():
    assert resolve_method_params("rho", {"method": "rho_loss"})["percent_train"] == 0.1
    for bad in ({"percent_train": 0}, {"holdout_fraction": 1.0}, {"irreducible_epochs": 0},
                {"irreducible_model": "vit"}, {"selection_train_mode": "yes"}):
        with pytest.raises(ConfigError):
            resolve_method_params("rho", {"method": "rho_loss", **bad})
    assert RhoLoss.defaults["holdout_fraction"] == 0.5 and RhoLoss.defaults["irreducible_lr"] == 0.001


def test_holdout_is_independent_of_the_label_noise_draw():
    """Both are seeded by data_seed: the holdout must not pick out the mislabeled samples (share ~ the rate)."""
    ds = data.build("dn", {"source": "digits", "label_noise": {"kind": "symmetric", "rate": 0.2}})
    t = Trainer(spec("rho_loss", width=4), ds, progress=False)
    held = t.method.holdout
    assert abs(float(ds.noisy[held].float().mean()) - 0.2) < 0.04
    assert abs(float(ds.noisy[~held].float().mean()) - 0.2) < 0.04

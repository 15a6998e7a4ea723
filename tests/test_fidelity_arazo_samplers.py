"""p-SGD, c-SGD and unif-SGD sample as Arazo et al.'s code does (EricArazo/ImportanceSampling, utils_train.py).

`select_samples` draws the budgeted subset by the weights and `prepare_loader`
serves it through a SubsetRandomSampler, so the epoch order is uniformly random
(no hardest-first curriculum) and budget 1.0 is random reshuffling; c-SGD fills
unseen samples with the largest running mean before the transform; unif-SGD is
the same budgeted epoch with a uniform subset.
"""

import math

import pytest
import torch

from sample_importance.training.engine import Trainer

from tiny import blobs, spec

SIGMAS = 5.0  # tolerance of every sampling-noise bound below (fixed seeds, so the tests are deterministic)


def make(method: str, budget: float, seed: int = 0, n_per_class: int = 20, **params) -> Trainer:
    return Trainer(spec(method, params, budget=budget, seed=seed, augmentation="none", batch_size=8),
                   blobs(n_per_class=n_per_class), progress=False)


def see(trainer: Trainer, one_minus_p: torch.Tensor, indices: torch.Tensor | None = None) -> None:
    """Hand the method one forward pass of `indices` (default: all) with the given 1 - p_true."""
    idx = torch.arange(trainer.n_train) if indices is None else indices
    trainer.method.observe(idx, torch.zeros(len(idx)), {"p_true": 1.0 - one_minus_p})


def hard_tenth(trainer: Trainer) -> torch.Tensor:
    """Make the first tenth 10x as likely as the rest: 1 - p of 181e vs e gives (181e + m) / (e + m) = 10
    with the smoothing m = mean weight = 0.1 * 181e + 0.9e."""
    n = trainer.n_train
    hard = torch.arange(n) < n // 10
    see(trainer, torch.where(hard, 181 * 0.004, 0.004).double())
    p = trainer.method.probabilities()
    assert p[hard][0] / p[~hard][0] == pytest.approx(10.0)
    return hard


def quarter_counts(orders: list[torch.Tensor], hard: torch.Tensor) -> torch.Tensor:
    """How many hard samples each quarter of the epoch holds, summed over epochs."""
    counts = torch.zeros(4)
    for order in orders:
        quarter = torch.arange(len(order)) * 4 // len(order)
        counts += torch.bincount(quarter[hard[order]], minlength=4)
    return counts


def within_binomial_noise(counts: torch.Tensor, share: float) -> bool:
    total = counts.sum()
    sd = math.sqrt(total * share * (1 - share))
    return bool(((counts - total * share).abs() <= SIGMAS * sd).all())


# ----------------------------------------------------------------------------- p-SGD


def test_p_sgd_serves_its_weighted_subset_in_random_order_not_hardest_first():
    orders, raw = [], []
    for seed in range(4):
        trainer = make("p_sgd", budget=0.5, seed=seed)  # N = 80, k = 40
        hard = hard_tenth(trainer)
        m = trainer.method
        orders += [m.epoch_indices(1) for _ in range(150)]
        raw += [m.draw(m.probabilities(), 40, replacement=False) for _ in range(150)]  # draw order (the old bug)
    assert all(len(o) == 40 and len(torch.unique(o)) == 40 for o in orders)
    counts = quarter_counts(orders, hard)
    share_hard = counts.sum() / (40 * len(orders))
    assert share_hard > 0.15  # the weights act: the hard tenth is over-represented in the subset
    assert within_binomial_noise(counts, 0.25), counts  # ... but not placed early: each quarter holds a quarter
    assert not within_binomial_noise(quarter_counts(raw, hard), 0.25)  # the test would catch draw order


def test_p_sgd_at_full_budget_is_random_reshuffling_whatever_the_weights():
    trainer = make("p_sgd", budget=1.0, n_per_class=5)  # N = 20
    hard = hard_tenth(trainer)
    orders = torch.stack([trainer.method.epoch_indices(e + 1) for e in range(2000)])
    assert torch.equal(orders.sort(dim=1).values, torch.arange(20).expand(2000, 20))  # every sample once
    position = orders.argsort(dim=1)  # position[e, i]: where sample i sits in epoch e
    counts = torch.stack([torch.bincount(position[:, i], minlength=20) for i in range(20)]).double()
    expected, sd = 2000 / 20, math.sqrt(2000 * (1 / 20) * (19 / 20))
    assert ((counts - expected).abs() <= SIGMAS * sd).all()  # every sample uniform over the positions
    mean_sd = math.sqrt((20 ** 2 - 1) / 12 / (2000 * hard.sum()))
    assert abs(position[:, hard].double().mean() - 9.5) <= SIGMAS * mean_sd  # hard ones not early

    fresh, uniform = make("p_sgd", budget=1.0, n_per_class=5), make("uniform", budget=1.0, n_per_class=5)
    hard_tenth(fresh)  # same seed: the very same permutations as uniform, the weights draw nothing
    assert all(torch.equal(fresh.method.epoch_indices(e + 1), uniform.method.epoch_indices(e)) for e in range(3))


def test_p_sgd_running_mean_uses_every_forward_pass():
    trainer = make("p_sgd", budget=0.5)
    sample = torch.tensor([3])
    for value in (0.1, 0.2, 0.3, 0.4, 0.9):  # five epochs' passes, no window
        see(trainer, torch.tensor([value]), sample)
    mean = trainer.method.running_mean()
    assert mean[3].item() == pytest.approx(0.38)
    assert torch.equal(mean, torch.full_like(mean, mean[3].item()))  # the others, unseen, take the max


def test_p_sgd_uniform_epochs_draw_as_unif_sgd_then_by_the_weights():
    psgd = make("p_sgd", budget=0.5, uniform_epochs=2)
    unif = make("unif_sgd", budget=0.5)
    hard = hard_tenth(psgd)
    for epoch in range(2):  # same seed, same generator use: the same uniform subsets
        assert torch.equal(psgd.method.epoch_indices(epoch), unif.method.epoch_indices(epoch))
    later = torch.stack([psgd.method.epoch_indices(2) for _ in range(100)])
    assert hard[later].float().mean() > 0.15  # weighted again (uniform would give 0.1)


# ----------------------------------------------------------------------------- c-SGD


def test_c_sgd_fills_unseen_with_the_largest_mean_before_the_transform():
    trainer = make("c_sgd", budget=0.5)
    n = trainer.n_train
    seen = torch.arange(3)
    see(trainer, torch.tensor([0.2, 0.5, 0.9], dtype=torch.float64), seen)
    p = trainer.method.probabilities()
    # reference: unseen take max mean 0.9, then 0.9 * 0.1 = 0.09 (not the largest weight 0.25)
    w = torch.tensor([0.16, 0.25, 0.09] + [0.09] * (n - 3), dtype=torch.float64)
    w = w + w.mean()
    torch.testing.assert_close(p, w / w.sum())
    assert p[1] > p[0] > p[2] and torch.isclose(p[3:], p[2]).all()


def test_c_sgd_transforms_the_running_mean_over_all_passes():
    trainer = make("c_sgd", budget=0.5)
    see(trainer, torch.full((trainer.n_train,), 0.95, dtype=torch.float64))
    for value in (0.1, 0.9, 0.5):  # mean 0.5: the most uncertain, although no single pass was
        see(trainer, torch.tensor([value], dtype=torch.float64), torch.tensor([0]))
    p = trainer.method.probabilities()
    mean0 = (0.95 + 0.1 + 0.9 + 0.5) / 4
    w = torch.full((trainer.n_train,), 0.95 * 0.05, dtype=torch.float64)
    w[0] = mean0 * (1 - mean0)
    w = w + w.mean()
    torch.testing.assert_close(p, w / w.sum())


# ----------------------------------------------------------------------------- unif-SGD


@pytest.mark.parametrize("budget", [0.3, 0.37])
def test_unif_sgd_draws_a_fresh_uniform_subset_of_the_budget_each_epoch(budget):
    trainer = make("unif_sgd", budget=budget)  # N = 80
    k = round(budget * 80)  # 24, and 30 for 0.37 (the reference's int() would give 29)
    epochs = 1000
    subsets = [trainer.method.epoch_indices(e) for e in range(epochs)]
    assert all(len(s) == k and len(torch.unique(s)) == k for s in subsets)
    assert len({tuple(sorted(s.tolist())) for s in subsets}) == epochs  # a different subset every epoch
    inclusion = torch.bincount(torch.cat(subsets), minlength=80).double() / epochs
    share = k / 80
    sd = math.sqrt(share * (1 - share) / epochs)
    assert ((inclusion - share).abs() <= SIGMAS * sd).all(), inclusion
    position = torch.cat([torch.arange(k)[s < 8] for s in subsets]).double()  # the lowest indices: not first
    assert abs(position.mean() - (k - 1) / 2) <= SIGMAS * math.sqrt((k ** 2 - 1) / 12 / len(position))


def test_unif_sgd_ignores_statistics_and_is_uniform_at_full_budget():
    trainer = make("unif_sgd", budget=1.0)
    uniform = make("uniform", budget=1.0)
    see(trainer, torch.linspace(0, 1, trainer.n_train).double())  # nothing to learn from: base observe
    for epoch in range(3):
        assert torch.equal(trainer.method.epoch_indices(epoch), uniform.method.epoch_indices(epoch))


def test_unif_sgd_trains_budgeted_epochs_within_the_step_budget():
    trainer = make("unif_sgd", budget=0.5, n_per_class=8)  # N = 32, k = 16, 2 steps per epoch at batch 8
    trainer.run()
    assert trainer.step == trainer.total_steps == round(0.5 * 4 * 4)
    per_epoch = {}
    for row in trainer.class_draws:
        per_epoch[row["epoch"]] = per_epoch.get(row["epoch"], 0) + row["draws"]
    assert per_epoch == {e: 16 for e in range(4)}  # every epoch of the schedule, each shortened to budget * N

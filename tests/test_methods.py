"""Every method behind the one engine: its own behaviour on tiny data, learning, checkpoint round trips, design rules."""

import ast
import importlib
import io
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import stats

from sample_importance import methods
from sample_importance.data.datasets import Dataset
from sample_importance.training.engine import Trainer
from sample_importance.methods.el2n_prune import keep_hardest
from sample_importance.methods.infobatch import prune
from sample_importance.methods.loss_rank import rank_probabilities
from sample_importance.methods.selective_backprop import strictly_lower_percentiles
from sample_importance.methods.upper_bound_is import gradient_norm_bound, importance_batch, variance_reduction

from tiny import N_CLASSES, tiny_dataset, tiny_images  # noqa: F401

STAGED = {"warmup_epochs": 1}  # staged methods (and el2n_prune's scoring trainings) score after one epoch on tiny data


def make_trainer(method: str, params: dict | None = None, *, epochs: int = 5, budget: float = 1.0,
                 data: Dataset | None = None, seed: int = 0) -> Trainer:
    params = dict(params or {})
    if "warmup_epochs" in methods.method_class(method).defaults:
        params = {**STAGED, **params}
    spec = {
        "seed": seed, "budget": budget, "model": "cnn", "augmentation": "none", "method": method,
        "method_params": params, "label": method,
        "train": {"epochs": epochs, "batch_size": 8, "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4,
                  "width": 8, "eval_every": 1000, "device": "cpu", "threads": 1},
    }
    return Trainer(spec, data or tiny_dataset(), progress=False)


# ----------------------------------------------------------------------------- design rules


def test_every_method_module_defines_only_its_own_class_and_imports_no_other_method():
    package = Path(methods.__file__).parent
    for name, target in methods.REGISTRY.items():
        module, cls = target.split(":")
        tree = ast.parse((package / f"{module}.py").read_text())
        classes = [node.name for node in tree.body if isinstance(node, ast.ClassDef)]
        assert classes == [cls], f"{module}.py defines {classes}, expected only {cls}"
        # c-SGD is p-SGD with another weight; p-SGD is unif-SGD's budgeted epoch with a weighted subset.
        # base (the interface) and importance (the shared metrics) are not methods.
        # class_matched is biased's warm-up and scoring with other draws; class_sampling (class counts and
        # shares, the class-aware samplers' and losses' common base) is not a method either.
        permitted = {"c_sgd": {"base", "p_sgd"}, "p_sgd": {"base", "unif_sgd"}, "class_matched": {"base", "biased"}}.get(
            module, {"base"}) | {"importance", "class_sampling"}
        permitted |= {"el2n_prune"} if module == "el2n_inrun" else set()  # el2n_inrun reuses Data Diet's selection
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                imported = [node.module] if node.module else [a.name for a in node.names]
                assert set(imported) <= permitted, f"{module}.py imports .{imported}"
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                assert not node.module.startswith("sample_importance.methods"), f"{module}.py imports {node.module}"
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("sample_importance.methods") for a in node.names)
        assert getattr(importlib.import_module(f"sample_importance.methods.{module}"), cls).name == name


def test_every_hyper_parameter_has_a_default_and_valid_choices():
    for name in methods.names():
        cls = methods.method_class(name)
        for key, valid in getattr(cls, "choices", {}).items():
            assert cls.defaults[key] in valid, (name, key)


# ----------------------------------------------------------------------------- every method


# Data Diet's EL2N after one epoch of this trivially separable data ranks whole classes (keep 0.5 drops two of
# the four from the fresh run); scored at epoch 5 of 6 it ranks samples within classes.
# RHO-LOSS: its irreducible model would spend most of a 6-epoch budget (not charged here), and candidate chunks of 10 B
# would leave it a few steps (chunks of 2 B here); its charges are tested in test_rho_loss.py.
LEARNS = {"el2n_prune": {"warmup_epochs": 5}, "rho_loss": {"irreducible_cost": 0, "irreducible_epochs": 3, "percent_train": 0.5}}


@pytest.mark.parametrize("name", methods.names())
def test_every_method_learns_tiny_separable_data(name):
    trainer = make_trainer(name, LEARNS.get(name), epochs=6)
    trainer.run()
    assert trainer.finished and trainer.step > 0
    assert trainer.metrics[-1]["test_accuracy"] > 0.6, trainer.metrics[-1]  # chance is 0.25


def _without_clock(rows):
    """Logged rows without wall time, NaN written as a string so that equal rows compare equal."""
    nan = lambda v: "nan" if isinstance(v, float) and math.isnan(v) else v  # noqa: E731
    return [{k: nan(v) for k, v in row.items() if k != "wall_seconds"} for row in rows]


ROUND_TRIPS = [(name, LEARNS.get(name, {}) if name == "rho_loss" else {}) for name in methods.names()] + [
    ("upper_bound_is", {"tau": 0.5}),  # importance sampling on (the default stays off on tiny data)
    ("loss_rank", {"recompute_every": 3}),  # ranks carried across the checkpoint
]


@pytest.mark.parametrize(("name", "params"), ROUND_TRIPS)
def test_every_method_round_trips_a_checkpoint_bit_exactly(name, params):
    whole = make_trainer(name, params)
    whole.run()

    first = make_trainer(name, params)
    first.run(until_epoch=2)
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)  # only tensors, lists, dicts, numbers, strings
    second = make_trainer(name, params)
    second.load_state_dict(state)
    second.run()

    assert (second.step, second.charged, second.examples_forwarded, second.examples_backpropagated) == (
        whole.step, whole.charged, whole.examples_forwarded, whole.examples_backpropagated)
    assert _without_clock(second.metrics) == _without_clock(whole.metrics)
    assert second.class_draws == whole.class_draws
    for (key, a), b in zip(whole.model.state_dict().items(), second.model.state_dict().values()):
        assert torch.equal(a, b), key


# ----------------------------------------------------------------------------- uniform_replacement, biased


def test_uniform_replacement_draws_with_replacement_uniformly():
    trainer = make_trainer("uniform_replacement")
    method = trainer.method
    draws = torch.cat([method.epoch_indices(e) for e in range(200)])
    assert len(draws) == 200 * trainer.n_train
    first = method.epoch_indices(0)
    assert len(first) == trainer.n_train and len(torch.unique(first)) < trainer.n_train  # repeats within an epoch
    counts = torch.bincount(draws, minlength=trainer.n_train).numpy()
    assert stats.chisquare(counts).pvalue > 1e-3


def test_biased_with_equal_scores_samples_uniformly():
    trainer = make_trainer("biased")
    n = trainer.n_train
    records = {"p_true": np.full((1, n), 0.5), "margin": np.zeros((1, n)), "sumsq": np.full((1, n), 0.5)}
    weights = trainer.method.score(records, trainer.labels_numpy)
    np.testing.assert_allclose(weights, 1.0 / n)
    trainer.method.set_weights(weights)
    draws = torch.cat([trainer.method.continuation_indices(e) for e in range(200)])
    counts = torch.bincount(draws, minlength=n).numpy()
    assert stats.chisquare(counts).pvalue > 1e-3


# ----------------------------------------------------------------------------- p-SGD, c-SGD


def test_p_sgd_running_mean_weights_and_budgeted_draws_without_replacement():
    trainer = make_trainer("p_sgd", budget=0.5)
    m = trainer.method
    n = trainer.n_train
    first = m.epoch_indices(0)  # nothing seen: uniform, round(0.5 n), no repeats
    assert len(first) == 32 and len(torch.unique(first)) == 32
    idx = torch.arange(0, 40)
    m.observe(idx, torch.zeros(40), {"p_true": torch.where(idx < 20, 0.9, 0.1)})  # 0..19 right, 20..39 wrong
    m.observe(torch.tensor([0]), torch.zeros(1), {"p_true": torch.tensor([0.5])})  # running mean of sample 0: (0.1+0.5)/2
    p = m.probabilities()
    w = torch.where(idx < 20, 0.1, 0.9).double()
    w[0] = 0.3
    expected = torch.cat([w, torch.full((n - 40,), 0.9, dtype=torch.float64)])  # unseen: the maximum
    expected = expected + expected.mean()
    torch.testing.assert_close(p, expected / expected.sum())
    assert p[20:40].min() > p[1:20].max()  # misclassified weigh more
    draws = m.epoch_indices(1)
    assert len(draws) == 32 and len(torch.unique(draws)) == 32


def test_p_sgd_gives_misclassified_samples_larger_weights_in_training():
    flipped = 8  # wrong labels: the model keeps misclassifying them
    trainer = make_trainer("p_sgd", epochs=4, data=tiny_dataset(flip=flipped))
    trainer.run()
    p = trainer.method.probabilities()
    predicted = trainer.forward_no_grad(torch.arange(trainer.n_train)).argmax(1)
    wrong = predicted != trainer.labels
    assert wrong[:flipped].float().mean() >= 0.75 and not wrong[flipped:].any()
    assert p[wrong].min() > p[~wrong].max()


def test_c_sgd_weighs_uncertain_samples_most():
    trainer = make_trainer("c_sgd")
    m = trainer.method
    one_minus_p = torch.tensor([0.05, 0.5, 0.95, 0.3])
    m.observe(torch.arange(4), torch.zeros(4), {"p_true": 1.0 - one_minus_p})
    m.observe(torch.arange(4, trainer.n_train), torch.zeros(trainer.n_train - 4),
              {"p_true": torch.full((trainer.n_train - 4,), 0.99)})
    p = m.probabilities()
    assert p[1] > p[3] > p[0] and torch.isclose(p[0], p[2])


# ----------------------------------------------------------------------------- selective backprop


def test_selective_backprop_percentiles_count_strictly_lower_losses_as_the_reference():
    # lib/hist.py UnboundedHistogram.percentile_of_score; more in test_fidelity_selection.py
    history = torch.tensor([0.1, 0.9, 0.3, 0.9, 0.2])  # already holding the chunk's losses
    got = strictly_lower_percentiles(history, torch.tensor([0.3, 0.9, 0.2]))
    torch.testing.assert_close(got, torch.tensor([0.4, 0.6, 0.2], dtype=torch.float64))


def test_selective_backprop_backpropagates_fewer_high_loss_examples():
    trainer = make_trainer("selective_backprop", {"history": 64, "prime_epochs": 0})
    n = trainer.n_train
    loss_of = torch.linspace(0.05, 3.0, n)  # sample i has a loss growing with i
    scored = []
    augment = trainer.augment_indices
    trainer.augment_indices = lambda indices: scored.append(indices) or augment(indices)

    def fake_forward(images):  # logits whose cross-entropy is loss_of[i]: p_true = exp(-loss)
        indices = scored[-1]
        p = torch.exp(-loss_of[indices])
        rest = (1 - p) / (N_CLASSES - 1)
        probs = rest[:, None].repeat(1, N_CLASSES)
        probs[torch.arange(len(indices)), trainer.labels[indices]] = p
        return probs.log()

    trainer.forward_no_grad = fake_forward
    m = trainer.method
    selected, forwarded = [], 0
    for epoch in range(40):
        m.start_epoch(epoch)
        while (batch := m.next_batch()) is not None:
            assert len(batch.indices) == trainer.batch_size and batch.weights is None
            selected.append(batch.indices)
            forwarded += batch.extra_forward
    selected = torch.cat(selected)
    assert forwarded > 2.5 * len(selected)  # ~ 1 in 4 kept with beta = 3
    rate = torch.bincount(selected, minlength=n).double() / 40
    # the i-th smallest of the 64 losses has i losses strictly below it: kept with probability (i / 64)^3
    expected = ((torch.arange(n, dtype=torch.float64) / n) ** 3).view(4, 16).mean(1)
    torch.testing.assert_close(rate.view(4, 16).mean(1), expected, atol=0.08, rtol=0)
    assert loss_of[selected].mean() > loss_of.mean() + 0.5


def test_selective_backprop_is_charged_for_its_forwards():
    trainer = make_trainer("selective_backprop", {"prime_epochs": 0}, epochs=3)
    trainer.run()
    assert trainer.examples_forwarded > 2 * trainer.examples_backpropagated
    extra = trainer.examples_forwarded - trainer.examples_backpropagated
    assert trainer.charged == pytest.approx(trainer.step + extra * trainer.forward_cost / trainer.batch_size)
    assert trainer.step < trainer.total_steps  # fewer optimizer steps within the same budget


# ----------------------------------------------------------------------------- upper-bound importance sampling


def test_upper_bound_importance_sampling_is_unbiased_on_a_linear_model():
    g = torch.Generator().manual_seed(0)
    n, d, k = 40, 5, 4
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = torch.randint(0, k, (n,), generator=g)
    weight = torch.randn(k, d, generator=g, dtype=torch.float64) * 2
    logits = x @ weight.T
    residual = logits.softmax(1) - F.one_hot(y, k).double()
    per_example = residual[:, :, None] * x[:, None, :]  # d CE / d weight of each example
    full = per_example.mean(0)
    # check the closed form against autograd once
    w = weight.clone().requires_grad_(True)
    F.cross_entropy(x @ w.T, y).backward()
    torch.testing.assert_close(w.grad, full)

    scores = gradient_norm_bound(logits, y)
    torch.testing.assert_close(scores, residual.norm(dim=1).float())
    draws = 4000
    weighted, unweighted = [], []
    for _ in range(draws):
        pre = torch.randint(0, n, (12,), generator=g)  # uniform pre-sample of 3 x batch 4
        pos, wts = importance_batch(scores[pre], 4, g)
        weighted.append((wts[:, None, None] * per_example[pre[pos]]).mean(0))
        unweighted.append(per_example[pre[pos]].mean(0))
    for estimates, unbiased in ((torch.stack(weighted), True), (torch.stack(unweighted), False)):
        error = (estimates.mean(0) - full).abs()
        standard_error = estimates.std(0) / math.sqrt(draws)
        # unbiased: every coordinate within 4.5 standard errors; without the weights the bias shows
        assert bool((error < 4.5 * standard_error + 1e-9).all()) == unbiased
    # the importance draw itself favours high scores
    pos, _ = importance_batch(torch.tensor([1.0, 0.0, 9.0]), 1000, g)
    assert (pos == 1).sum() == 0 and (pos == 2).sum() > 800


def test_variance_reduction_estimator():
    assert variance_reduction(torch.ones(12)).item() == pytest.approx(1.0)
    scores = torch.tensor([1.0, 2.0, 3.0, 10.0])
    g = scores / scores.sum()
    assert variance_reduction(scores).item() == pytest.approx(math.sqrt(len(g) * (g**2).sum().item()))


def test_upper_bound_is_switches_on_only_above_tau():
    never = make_trainer("upper_bound_is", {"tau": 1e9}, epochs=2)
    never.run()
    assert never.method.importance_steps == 0 and never.examples_forwarded == never.examples_backpropagated
    assert 0 < float(never.method._tau) < 1e9
    # an estimate is >= 1 and tau is its moving average from 0 (momentum 0.9): above 0.5 after at most 7 steps, for good
    always = make_trainer("upper_bound_is", {"tau": 0.5}, epochs=2)
    always.run()
    m = always.method
    assert m.importance_steps > 0 and always.step - m.importance_steps <= 7
    presampled = round(3.0 * always.batch_size) * m.importance_steps
    assert always.examples_forwarded == always.examples_backpropagated + presampled
    assert always.charged == pytest.approx(always.step + presampled / (3 * always.batch_size))


# ----------------------------------------------------------------------------- loss rank


def test_loss_rank_probabilities_decay_with_rank():
    g = torch.Generator().manual_seed(0)
    losses = torch.tensor([0.5, 2.0, float("nan"), 0.1, 1.0])
    p = rank_probabilities(losses, 100.0, g)
    order = [2, 1, 4, 0, 3]  # never seen first, then by loss, largest first
    assert torch.all(p[order][:-1] > p[order][1:])
    assert (p[2] / p[3]).item() == pytest.approx(100.0)
    ratios = p[order][:-1] / p[order][1:]
    torch.testing.assert_close(ratios, torch.full((4,), 100.0 ** 0.25, dtype=torch.float64))
    assert p.sum().item() == pytest.approx(1.0)


def test_loss_rank_draws_high_loss_samples_more_and_refreshes_ranks():
    trainer = make_trainer("loss_rank", {"recompute_every": 2})
    m = trainer.method
    n = trainer.n_train
    first = m.epoch_indices(0)  # nothing seen: one permutation
    assert torch.equal(torch.sort(first).values, torch.arange(n))
    m.observe(torch.arange(n), torch.linspace(0, 1, n), {})
    draws = m.epoch_indices(0)
    assert len(draws) == n and len(torch.unique(draws)) < n  # with replacement
    p0 = m._probabilities
    assert p0[-1] / p0[0] == pytest.approx(100.0)
    m.observe(torch.arange(n), torch.linspace(1, 0, n), {})
    m.epoch_indices(1)
    assert m._probabilities is p0  # not due: ranks kept
    m.epoch_indices(2)
    assert m._probabilities[0] / m._probabilities[-1] == pytest.approx(100.0)  # refreshed from the new losses


# ----------------------------------------------------------------------------- InfoBatch


def test_infobatch_prunes_only_below_mean_samples_and_rescales_the_kept_ones():
    g = torch.Generator().manual_seed(0)
    losses = torch.cat([torch.full((30,), 0.1), torch.full((10,), 2.0), torch.full((4,), float("nan"))])
    kept, weights = prune(losses, 0.5, g)
    assert len(torch.unique(kept)) == len(kept)
    pruned = torch.ones(len(losses), dtype=torch.bool)
    pruned[kept] = False
    assert pruned.sum() == 15 and bool((losses[pruned] < losses[~torch.isnan(losses)].mean()).all())
    low_kept = kept[losses[kept] == 0.1]
    assert len(low_kept) == 15
    assert torch.all(weights[losses[kept] == 0.1] == 2.0) and torch.all(weights[losses[kept] != 0.1] == 1.0)


def test_infobatch_first_epoch_unpruned_then_prunes_then_stops_at_delta():
    trainer = make_trainer("infobatch", {"prune_ratio": 0.5, "delta": 0.5})
    m, n = trainer.method, trainer.n_train
    m.start_epoch(0)
    assert len(m._plan) == n and m._weights is not None and torch.all(m._weights == 1)  # no loss yet: no pruning
    losses = torch.linspace(0, 1, n)  # mean 0.5: the first half is below
    m.observe(torch.arange(n), losses, {})
    m.start_epoch(1)
    assert len(m._plan) == n - 16
    batch = m.next_batch()
    expected = torch.where(losses[batch.indices] < 0.5, 2.0, 1.0)
    assert torch.equal(batch.weights, expected)
    trainer.charged = 0.5 * trainer.total_steps  # delta of the budget spent: annealing, the full data set
    m.start_epoch(2)
    assert torch.equal(torch.sort(m._plan).values, torch.arange(n)) and m.next_batch().weights is None


def test_infobatch_trains_fewer_examples_per_epoch_while_pruning():
    trainer = make_trainer("infobatch", epochs=6)
    trainer.run()
    per_epoch = {}
    for row in trainer.class_draws:
        per_epoch[row["epoch"]] = per_epoch.get(row["epoch"], 0) + row["draws"]
    assert per_epoch[0] == trainer.n_train
    assert min(per_epoch.values()) < 0.9 * trainer.n_train
    assert trainer.epoch > 6  # pruned epochs are shorter, the budget covers more of them


# ----------------------------------------------------------------------------- EL2N pruning


@pytest.mark.parametrize("keep", [0.5, 0.3, 0.01, 1.0])
def test_keep_hardest_keeps_exactly_the_requested_fraction(keep):
    scores = np.array([0.2, 0.9, 0.2, 0.5, 0.9, 0.1, 0.2, 0.3, 0.8, 0.2, 0.0])
    weights = keep_hardest(scores, keep)
    k = max(1, round(keep * len(scores)))
    assert (weights > 0).sum() == k and weights.sum() == pytest.approx(1.0)
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))  # hardest first, ties by index
    assert set(np.flatnonzero(weights)) == set(order[:k])


def test_el2n_inrun_trains_on_the_hardest_subset_after_warm_up():
    trainer = make_trainer("el2n_inrun", {"keep": 0.25}, epochs=4)
    trainer.run(until_epoch=1)
    records = trainer.records.as_numpy(0, 1)
    trainer.run(until_epoch=3)
    m = trainer.method
    el2n = np.sqrt(np.clip(1 - 2 * records["p_true"][0] + records["sumsq"][0], 0, None))
    np.testing.assert_allclose(m.scores, el2n)
    kept = np.flatnonzero(m.weights.numpy())
    assert len(kept) == 16 and el2n[kept].min() >= np.delete(el2n, kept).max()
    for epoch in (1, 2):  # each continuation epoch: every kept sample exactly once
        seen = np.flatnonzero(~np.isnan(trainer.records.as_numpy(epoch, epoch + 1)["p_true"][0]))
        assert set(seen) == set(kept)


def test_el2n_inrun_split_across_the_pipeline_steps_equals_one_process(tmp_path):
    from sample_importance.data import datasets as data_mod
    from sample_importance import steps

    data_path = tmp_path / "tiny.pt"
    data_mod.save(tiny_dataset(), data_path)
    whole = make_trainer("el2n_inrun", {"keep": 0.5})
    spec = whole.spec
    whole.run()
    warmup_spec = {**spec, "label": "warmup", "method": "uniform", "method_params": {}, "warmup_epochs": 1}
    steps.warmup(warmup_spec, str(data_path), str(tmp_path / "warmup"), progress=False)
    weights = steps.score(spec, str(tmp_path / "warmup" / "records.pt"), str(tmp_path / "score"))
    assert (weights > 0).sum() == 32
    np.testing.assert_array_equal(weights, whole.method.weights.numpy())
    np.testing.assert_array_equal(np.load(tmp_path / "score" / "scores.npy"), whole.method.scores)
    split = steps.continue_run(spec, str(data_path), str(tmp_path / "warmup"), str(tmp_path / "score"),
                               str(tmp_path / "run"), progress=False)
    assert _without_clock(split.metrics) == _without_clock(whole.metrics)

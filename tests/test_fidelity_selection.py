"""selective_backprop and upper_bound_is as their authors' code runs them.

References: angelajiang/SelectiveBackprop (lib/selectors.py PrimedSelector,
lib/calculators.py BatchedRelativeProbabilityCalculator, lib/hist.py
UnboundedHistogram, lib/forwardproppers.py), EricArazo/ImportanceSampling
(its copy of that lib; budget counted in forwarded examples), idiap/importance-sampling
(training.py ImportanceTraining: tau_th from eq. 29; samplers.py ModelSampler).
"""

import math
from collections import deque

import pytest
import torch
import torch.nn.functional as F

from sample_importance import provenance
from sample_importance.methods.base import Batch
from sample_importance.methods.selective_backprop import strictly_lower_percentiles
from sample_importance.methods.upper_bound_is import gradient_norm_bound, importance_batch, sampling_probabilities
from sample_importance.training.engine import Trainer

from tiny import N_CLASSES, tiny_dataset  # quadrant images, shared with test_methods





def make_trainer(method: str, params: dict | None = None, *, epochs: int = 4, augmentation: str = "none",
                 budget: float = 1.0, **train) -> Trainer:
    spec = {
        "seed": 0, "budget": budget, "model": "cnn", "augmentation": augmentation, "method": method,
        "method_params": params or {}, "label": method,
        "train": {"epochs": epochs, "batch_size": 8, "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4,
                  "width": 8, "eval_every": 1000, "device": "cpu", "threads": 1, **train},
    }
    return Trainer(spec, tiny_dataset(), progress=False)


def logits_with_losses(losses: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Log-probabilities whose cross-entropy with `labels` is `losses` row by row."""
    p = torch.exp(-losses)
    probs = ((1 - p) / (N_CLASSES - 1))[:, None].repeat(1, N_CLASSES)
    probs[torch.arange(len(labels)), labels] = p
    return probs.log()


# ----------------------------------------------------------------------------- selective backprop: priming


def test_selective_backprop_primes_one_epoch_by_default_training_everything_like_uniform():
    trainer = make_trainer("selective_backprop", {"prime_epochs": 2})
    assert make_trainer("selective_backprop").method.params["prime_epochs"] == 1  # PrimedSelector: one epoch
    scored = []
    forward = trainer.forward_no_grad
    trainer.forward_no_grad = lambda x: scored.append(len(x)) or forward(x)
    trainer.run(until_epoch=2)
    n = trainer.n_train
    assert scored == [] and len(trainer.method._history) == 0  # no candidate forward, history untouched
    assert trainer.examples_backpropagated == trainer.examples_forwarded == 2 * n
    assert trainer.charged == trainer.step == 2 * math.ceil(n / trainer.batch_size)
    for epoch in trainer.records.as_numpy()["p_true"]:
        assert not torch.isnan(torch.from_numpy(epoch)).any()  # every example trained in each priming epoch
    trainer.run(until_epoch=3)
    assert sum(scored) > 0 and trainer.examples_forwarded > trainer.examples_backpropagated


# ----------------------------------------------------------------------------- what is scored is what is trained


def _spy(trainer: Trainer):
    """Record every model call: (input rows, whether grad was on, whether the model was in train mode)."""
    calls = []
    model_forward = trainer.forward

    def forward(x):
        calls.append((x.detach().clone(), torch.is_grad_enabled(), trainer.model.training))
        return model_forward(x)

    trainer.forward = forward
    return calls


@pytest.mark.parametrize("method, params", [("selective_backprop", {"prime_epochs": 0, "history": 32}),
                                            ("upper_bound_is", {"tau": 0.0})])
@pytest.mark.parametrize("augmentation", ["standard", "mixup"])
def test_the_rows_trained_are_exactly_the_rows_scored_in_eval_mode(method, params, augmentation):
    trainer = make_trainer(method, params, epochs=2, augmentation=augmentation)
    calls = _spy(trainer)
    batches = []
    next_batch = trainer.method.next_batch

    def recording_next_batch():
        batch = next_batch()
        if batch is not None:
            batches.append(batch)
        return batch

    trainer.method.next_batch = recording_next_batch
    trainer.run()
    scoring = [c for c in calls if not c[1]]
    training = [c for c in calls if c[1]]
    assert scoring and all(not train_mode for _, _, train_mode in scoring)  # scored in eval mode
    assert all(train_mode for _, _, train_mode in training)  # trained in train mode
    scored_rows = torch.cat([x for x, _, _ in scoring]).flatten(1)
    selected = [b for b in batches if b.augmented is not None]
    assert selected, "the method never chose rows"
    assert len(training) == len(batches)

    def among_scored(x):
        return (x.flatten(1)[:, None, :] == scored_rows[None, :, :]).all(-1).any(1)

    fresh_differs = 0
    for batch, (x, _, _) in zip(batches, training):
        if batch.augmented is None:  # a plain batch (upper_bound_is before tau first exceeds the threshold)
            continue
        assert torch.equal(x, trainer.normalize(batch.augmented.x))  # the step trained on the batch's rows
        assert among_scored(x).all()  # ... which are rows that were scored, bit for bit
        fresh_differs += int(not torch.equal(batch.augmented.x, trainer.train_images(batch.indices)))
        if augmentation == "mixup":
            assert batch.augmented.soft_targets is not None  # the mixed rows, with their soft targets
    assert fresh_differs > 0  # augmentation really happened: a fresh, un-scored draw would be noticed


def test_scoring_is_eval_mode_and_leaves_batchnorm_statistics_unchanged():
    trainer = make_trainer("selective_backprop", augmentation="standard")
    trainer.run(until_epoch=1)  # BN running statistics have moved away from their initial values
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    aug = trainer.augment_indices(torch.arange(16))
    logits = trainer.forward_no_grad(aug.x)
    after = trainer.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # running mean/var and num_batches_tracked
    assert trainer.model.training  # train mode restored
    trainer.model.eval()
    with torch.no_grad():
        expected = trainer.model(trainer.normalize(aug.x))
    trainer.model.train()
    torch.testing.assert_close(logits, expected, rtol=0, atol=0)  # the running statistics, not the batch's


# ----------------------------------------------------------------------------- the percentile


def reference_percentiles(history: list[float], chunk: list[float], size: int) -> list[float]:
    """BatchedRelativeProbabilityCalculator.get_probability without the power: append the chunk, then
    UnboundedHistogram.percentile_of_score (strictly lower count * 100 / len) for each loss."""
    hist = deque(history, maxlen=size)
    for loss in chunk:
        hist.append(loss)
    return [sum(1 for h in hist if h < loss) * 100.0 / len(hist) / 100.0 for loss in chunk]


def test_percentile_is_strictly_lower_count_over_history_after_appending_the_whole_chunk():
    # by hand: history [0.5, 0.1, 0.9] + chunk [0.3, 0.9, 0.2], size 5 -> [0.1, 0.9, 0.3, 0.9, 0.2]
    trainer = make_trainer("selective_backprop", {"history": 5, "beta": 1.0, "prime_epochs": 0})
    m = trainer.method
    m._history = torch.tensor([0.5, 0.1, 0.9])
    candidates = torch.tensor([3, 7, 11])
    losses = torch.tensor([0.3, 0.9, 0.2])
    trainer.forward_no_grad = lambda x: logits_with_losses(losses, trainer.labels[candidates])
    m.select(candidates)
    torch.testing.assert_close(m._history, torch.tensor([0.1, 0.9, 0.3, 0.9, 0.2]))
    got = strictly_lower_percentiles(m._history, losses)
    torch.testing.assert_close(got, torch.tensor([2 / 5, 3 / 5, 1 / 5], dtype=torch.float64))  # the tie 0.9 is not below
    assert got.tolist() == pytest.approx(reference_percentiles([0.5, 0.1, 0.9], [0.3, 0.9, 0.2], 5))
    # random streams with ties, chunk by chunk, against the reference's loop
    g = torch.Generator().manual_seed(0)
    m._history = torch.zeros(0)
    stream: list[float] = []
    for _ in range(6):
        chunk = torch.randint(0, 12, (8,), generator=g).float() / 4  # many ties
        expected = reference_percentiles(stream, chunk.tolist(), 5)
        assert m.keep_probabilities(chunk).tolist() == pytest.approx(expected)
        stream = (stream + chunk.tolist())[-5:]


def test_candidates_are_kept_with_probability_percentile_to_the_beta():
    trainer = make_trainer("selective_backprop", {"history": 64, "beta": 2.0, "prime_epochs": 0})
    m = trainer.method
    candidates = torch.arange(64)
    losses = torch.linspace(0.1, 3.0, 64)
    trainer.forward_no_grad = lambda x: logits_with_losses(losses, trainer.labels[candidates])
    kept = torch.zeros(64)
    draws = 400
    for _ in range(draws):
        m._history = torch.zeros(0)
        positions, _ = m.select(candidates)
        kept[positions] += 1
    expected = (torch.arange(64) / 64.0) ** 2  # i losses strictly below the i-th smallest, of 64
    assert kept[0] == 0 and kept[-1] > 0.9 * draws * float(expected[-1])
    torch.testing.assert_close(kept / draws, expected.float(), atol=0.08, rtol=0)


# ----------------------------------------------------------------------------- the budget charge


def test_forward_cost_sets_the_number_of_optimizer_steps_as_the_formula_says():
    """upper_bound_is with tau 0: step 1 is uniform (tau starts at 0), every later step pre-samples 3B."""
    for cost in (1 / 3, 0.5, 1.0):
        trainer = make_trainer("upper_bound_is", {"tau": 0.0}, epochs=3, forward_cost=cost)
        trainer.run()
        per_step = 1 + 3 * cost  # 1 + N_pre * forward_cost / B
        expected = 1 + math.ceil((trainer.total_steps - 1) / per_step - 1e-9)
        assert trainer.step == expected, (cost, trainer.step, expected)
        assert trainer.method.importance_steps == expected - 1
        assert trainer.charged == pytest.approx(1 + (expected - 1) * per_step)
    assert make_trainer("uniform").forward_cost == pytest.approx(1 / 3)


def test_selective_backprop_charge_reads_forward_cost():
    for cost in (1 / 3, 1.0):
        trainer = make_trainer("selective_backprop", {"prime_epochs": 0}, epochs=3, forward_cost=cost)
        trainer.run()
        extra = trainer.examples_forwarded - trainer.examples_backpropagated
        assert extra > 0 and trainer.charged == pytest.approx(trainer.step + extra * cost / trainer.batch_size)


def test_charge_forwarded_counts_examples_forwarded_as_arazos_code():
    """Arazo's SB: the schedule and budget run on examples forwarded (global_num_analyzed); backward is free."""
    trainer = make_trainer("selective_backprop", epochs=3, charge="forwarded")
    trainer.run()
    n, bs = trainer.n_train, trainer.batch_size
    selection_rows = trainer.examples_backpropagated - n  # rows trained after the priming epoch: already forwarded
    assert selection_rows > 0
    assert trainer.charged == pytest.approx((trainer.examples_forwarded - selection_rows) / bs)
    assert trainer.step_charge(Batch(torch.arange(bs))) == 1.0  # uniform's step is still one step


def test_forward_cost_is_bounded_and_changes_the_run_id():
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match="forward_cost"):
            make_trainer("uniform", forward_cost=bad)
    spec = {"method": "selective_backprop", "train": {"epochs": 2}}
    assert provenance.run_hash(spec) != provenance.run_hash({**spec, "train": {"epochs": 2, "forward_cost": 1.0}})


# ----------------------------------------------------------------------------- upper-bound importance sampling


def test_tau_auto_is_eq_29_from_the_presample_size():
    for presample in (3.0, 5.0, 2.5):
        trainer = make_trainer("upper_bound_is", {"presample": presample})
        assert trainer.method.params["tau"] == "auto"
        big, b = int(presample * 8), 8  # ImportanceTraining.sampler: B = int(presample * batch_size)
        assert trainer.method.tau_threshold == pytest.approx((big + 3 * b) / (3 * b))
    assert make_trainer("upper_bound_is", {"tau": 1.7}).method.tau_threshold == 1.7
    # the break-even point under the run's own charge when forward_cost is not 1/3
    assert make_trainer("upper_bound_is", forward_cost=0.5).method.tau_threshold == pytest.approx(1 + 0.5 * 3)


def _linear_problem(soft: bool):
    g = torch.Generator().manual_seed(1)
    n, d = 12, 3
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = torch.randint(0, N_CLASSES, (n,), generator=g)
    targets = F.one_hot(y, N_CLASSES).double()
    if soft:  # mixup-like targets: 0.7 own label, 0.3 the next row's
        targets = 0.7 * targets + 0.3 * targets.roll(1, 0)
    weight = torch.randn(N_CLASSES, d, generator=g, dtype=torch.float64)
    return x, targets, weight


def _gradient(x, targets, weight, row_weights=None):
    w = weight.clone().requires_grad_(True)
    losses = -(targets * F.log_softmax(x @ w.T, 1)).sum(1)
    (losses * row_weights if row_weights is not None else losses).mean().backward()
    return w.grad


@pytest.mark.parametrize("soft", [False, True])
def test_upper_bound_is_weighted_gradient_is_unbiased_by_exact_enumeration(soft):
    x, targets, weight = _linear_problem(soft)
    n = len(x)
    full = _gradient(x, targets, weight)  # mean gradient over the pre-sample
    logits = x @ weight.T
    scores = gradient_norm_bound(logits, targets if soft else targets.argmax(1))
    # the score is the norm of d loss / d logits, for hard and soft targets alike
    z = logits.clone().requires_grad_(True)
    (-(targets * F.log_softmax(z, 1)).sum()).backward()
    torch.testing.assert_close(scores, z.grad.norm(dim=1).float())
    # E over one draw j ~ g of w_j grad_j, enumerated exactly (a batch mean of k draws has the same expectation)
    p = sampling_probabilities(scores)
    per_row = torch.stack([_gradient(x[i : i + 1], targets[i : i + 1], weight) for i in range(n)])
    expectation = sum(p[i] * (1.0 / (n * p[i])) * per_row[i] for i in range(n))
    torch.testing.assert_close(expectation, full)
    # and through the sampler itself: many draws, weighted as the training step weights them
    positions, w = importance_batch(scores, 200_000, torch.Generator().manual_seed(2))
    estimate = _gradient(x[positions], targets[positions], weight, w)
    torch.testing.assert_close(estimate, full, atol=0.02, rtol=0)
    unweighted = _gradient(x[positions], targets[positions], weight)
    assert (unweighted - full).abs().max() > 0.05  # without the weights it is biased

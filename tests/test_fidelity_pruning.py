"""InfoBatch and Data Diet against their reference code (issue 12, items 6 and 7).

InfoBatch: NUS-HPC-AI-Lab/InfoBatch infobatch/infobatch.py (keep-ratio clamp, 1/keep rescale,
annealing after num_epochs * delta epochs) and cifar_example.py (epochs fixed, fewer steps,
learning rate by epoch progress). Data Diet: mansheej/data_diet (EL2N of epoch-K checkpoints
in eval mode on clean images, averaged over runs; a fresh model on the kept subset).
"""

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sample_importance import steps
from sample_importance.config import ConfigError, validate
from sample_importance.data import datasets as data_mod
from sample_importance.grid import expand
from sample_importance.methods import method_class
from sample_importance.methods.el2n_prune import EL2NPrune, keep_hardest
from sample_importance.methods.infobatch import keep_ratio, prune
from sample_importance.training.engine import Trainer
from tiny import blobs

BATCH = 8
N = 64  # blobs(16 per class, 4 classes): 8 steps per epoch


def spec(method="uniform", params=None, epochs=6, budget=1.0, seed=0, lr=0.05) -> dict:
    return {"seed": seed, "budget": budget, "model": "cnn", "augmentation": "none", "method": method,
            "method_params": params or {}, "label": method,
            "train": {"epochs": epochs, "batch_size": BATCH, "lr": lr, "momentum": 0.9, "weight_decay": 5e-4,
                      "width": 8, "eval_every": 1000, "device": "cpu", "threads": 1}}


def trainer(*args, **kwargs) -> Trainer:
    return Trainer(spec(*args, **kwargs), blobs(n_per_class=16), progress=False)


def draws_per_epoch(t: Trainer) -> dict[int, int]:
    out: dict[int, int] = {}
    for row in t.class_draws:
        out[row["epoch"]] = out.get(row["epoch"], 0) + row["draws"]
    return out


# ----------------------------------------------------------------------------- InfoBatch


@pytest.mark.parametrize("ratio,keep", [(0.0, 1.0), (0.3, 0.7), (0.5, 0.5), (0.9, 0.1), (0.95, 0.1), (1.0, 0.1)])
def test_infobatch_keep_ratio_is_clamped_to_at_least_a_tenth_as_the_reference(ratio, keep):
    assert keep_ratio(ratio) == pytest.approx(keep)
    losses = torch.cat([torch.full((40,), 0.1), torch.full((10,), 2.0)])  # 40 below the mean (0.48)
    kept, weights = prune(losses, ratio, torch.Generator().manual_seed(0))
    low = losses[kept] < losses.mean()
    assert int(low.sum()) == int(keep_ratio(ratio) * 40)  # int(keep * count), as InfoBatch.prune
    assert torch.allclose(weights[low], torch.tensor(1.0 / keep_ratio(ratio)))
    assert torch.all(weights[~low] == 1) and int((~low).sum()) == 10  # every above-mean sample stays


def test_infobatch_rescaled_sum_is_unbiased_for_the_full_epoch_loss():
    g = torch.Generator().manual_seed(1)
    losses = torch.rand(200, generator=g) ** 3
    sums = []
    for _ in range(3000):
        kept, weights = prune(losses, 0.5, g)
        sums.append(float((weights * losses[kept]).sum()))
    assert np.mean(sums) == pytest.approx(float(losses.sum()), rel=2e-3)


def test_infobatch_epochs_mode_ends_after_uniform_epochs_in_fewer_steps():
    uniform = trainer("uniform")
    uniform.run()
    native = trainer("infobatch", {"budget_mode": "epochs"})
    native.run()
    assert native.finished and native.epoch == uniform.epoch == 6
    draws = draws_per_epoch(native)
    assert sorted(draws) == list(range(6)) and draws[0] == N
    # epoch e prunes iff e + 1 <= delta * E = 5.25: epochs 1..4 pruned, epoch 5 anneals on the full data
    assert all(draws[e] < N for e in range(1, 5)) and draws[5] == N
    assert native.step == sum(math.ceil(d / BATCH) for d in draws.values())  # ceil(kept / batch) steps an epoch
    assert native.step < uniform.step == 48
    # the run ended on its own epoch progress (Method.progress), inside the budget it was given
    assert native.total_steps == uniform.step and native.metrics[-1]["iteration"] == native.step


def test_infobatch_steps_mode_keeps_the_step_budget_and_covers_more_epochs():
    t = trainer("infobatch")
    t.run()
    assert t.step == t.total_steps == 48 and t.epoch > 6


def test_infobatch_epochs_mode_learning_rate_follows_epoch_progress():
    t = trainer("infobatch", {"budget_mode": "epochs", "delta": 0.5}, lr=0.1)
    seen = []
    step = t.train_step

    def record(batch):
        seen.append((t.epoch, t.lr_now()))
        step(batch)

    t.train_step = record
    t.run()
    draws = draws_per_epoch(t)
    assert all(draws[e] < N for e in (1, 2)) and draws[3] == draws[4] == draws[5] == N  # anneals after 3 of 6
    expected = []
    for e in range(6):
        length = math.ceil(draws[e] / BATCH)
        expected += [(e, 0.1 * (1 - (e + j / length) / 6)) for j in range(length)]
    assert [e for e, _ in seen] == [e for e, _ in expected]
    np.testing.assert_allclose([lr for _, lr in seen], [lr for _, lr in expected], rtol=1e-9, atol=1e-12)
    assert t.lr_now() == 0.0


def test_infobatch_epochs_mode_fractional_budget_takes_its_share_of_the_last_epoch():
    t = trainer("infobatch", {"budget_mode": "epochs"}, epochs=5, budget=0.5)  # 2.5 epochs
    t.run()
    draws = draws_per_epoch(t)
    assert t.epoch == 3 and draws[0] == N
    # epoch 2 takes round(0.5 * its steps): annealed (2 + 1 > 0.875 * 2.5), so 4 of 8 steps
    assert draws[2] == 4 * BATCH and t.step == 8 + math.ceil(draws[1] / BATCH) + 4


def test_infobatch_epochs_mode_round_trips_a_checkpoint():
    params = {"budget_mode": "epochs"}
    whole = trainer("infobatch", params)
    whole.run()
    first = trainer("infobatch", params)
    first.run(until_epoch=2)
    second = trainer("infobatch", params)
    second.load_state_dict(first.state_dict())
    second.run()
    assert (second.step, second.epoch, second.total_steps) == (whole.step, whole.epoch, whole.total_steps)
    for (key, a), b in zip(whole.model.state_dict().items(), second.model.state_dict().values()):
        assert torch.equal(a, b), key  # the same learning rate at every step after the checkpoint


def test_infobatch_budget_mode_is_checked():
    with pytest.raises(ValueError, match="budget_mode"):
        method_class("infobatch").check_params({"prune_ratio": 0.5, "delta": 0.875, "budget_mode": "iterations"})


# ----------------------------------------------------------------------------- Data Diet (el2n_prune)

PRUNE = {"warmup_epochs": 2, "score_seeds": [3, 5], "keep": 0.25, "offset": 0.125}


@pytest.mark.parametrize("keep,offset", [(0.25, 0.0), (0.25, 0.125), (0.5, 0.5), (0.3, 0.1)])
def test_keep_hardest_keeps_round_keep_n_after_dropping_the_offset_hardest(keep, offset):
    scores = np.random.default_rng(0).random(40)
    weights = keep_hardest(scores, keep, offset)
    order = np.argsort(-scores)
    skip, k = round(offset * 40), round(keep * 40)
    assert set(np.flatnonzero(weights)) == set(order[skip : skip + k])
    assert np.allclose(weights[weights > 0], 1.0 / k)


def test_el2n_prune_checks_its_parameters():
    check = method_class("el2n_prune").check_params
    with pytest.raises(ValueError, match="offset"):
        check({**EL2NPrune.defaults, "keep": 0.6, "offset": 0.5})
    with pytest.raises(ValueError, match="score_seeds"):
        check({**EL2NPrune.defaults, "score_seeds": []})
    with pytest.raises(ValueError, match="keep must be in"):
        check({**EL2NPrune.defaults, "keep": 0})


def _el2n_by_hand(checkpoint: dict, data) -> np.ndarray:
    """EL2N of a checkpoint's model in eval mode on clean images, written out step by step."""
    from sample_importance.training.models import build_model

    torch.manual_seed(0)
    model = build_model("cnn", 1, 4, 8)
    model.load_state_dict(checkpoint["state"]["model"])
    model.eval()
    x = (data.train.x.float() / 255 - data.mean[None, :, None, None]) / data.std[None, :, None, None]
    with torch.no_grad():
        p = F.softmax(model(x), dim=1).double().numpy()
    onehot = np.eye(4)[data.train.y.numpy()]
    return np.sqrt(((p - onehot) ** 2).sum(axis=1))


def test_el2n_prune_split_pipeline_scores_by_hand_and_equals_one_process(tmp_path):
    data = blobs(n_per_class=16)
    data_path = tmp_path / "blobs.pt"
    data_mod.save(data, data_path)
    run = spec("el2n_prune", PRUNE, budget=0.5)
    warmups = []
    for seed in PRUNE["score_seeds"]:
        warmups.append(tmp_path / f"warmup-s{seed}")
        steps.warmup(EL2NPrune.scoring_spec(run, seed), str(data_path), str(warmups[-1]), progress=False)
    weights = steps.score_checkpoints(run, str(data_path), [str(w) for w in warmups], str(tmp_path / "importance"))

    by_hand = [_el2n_by_hand(torch.load(w / "checkpoint.pt", weights_only=True), data) for w in warmups]
    scores = np.load(tmp_path / "importance" / "scores.npy")
    np.testing.assert_allclose(scores, np.mean(by_hand, axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.load(tmp_path / "importance" / "checkpoint_scores.npy"), by_hand, rtol=1e-5, atol=1e-6)
    order = np.argsort(-scores, kind="stable")
    kept = np.load(tmp_path / "importance" / "kept.npy")
    assert set(kept) == set(order[8 : 8 + 16])  # drop round(0.125 * 64) = 8 hardest, keep round(0.25 * 64) = 16
    assert np.array_equal(np.flatnonzero(weights), np.sort(kept))
    info = json.loads((tmp_path / "importance" / "score.json").read_text())
    assert info["scoring"]["steps"] == 2 * 2 * 8 and info["scoring"]["forward_examples"] == 2 * N

    split = steps.train(run, str(data_path), str(tmp_path / "run"), progress=False,
                        importance_dir=str(tmp_path / "importance"))
    whole = Trainer(run, data, progress=False)  # no score step: the scoring trainings run in this process
    whole.run()
    np.testing.assert_array_equal(whole.method.scores, scores)
    assert [(r["iteration"], r["test_accuracy"], r["lr"]) for r in split.metrics] == [
        (r["iteration"], r["test_accuracy"], r["lr"]) for r in whole.metrics]
    saved = json.loads((tmp_path / "run" / "run.json").read_text())
    assert saved["scoring"] == info["scoring"] and saved["iterations"] == split.total_steps == 24  # budget 0.5 of 48
    assert split.metrics[-1]["charged_iterations"] == 24  # the scoring trainings are not charged to the run


def test_el2n_prune_scores_in_eval_mode_not_train_mode():
    t = trainer("uniform")
    t.run(until_epoch=2)
    eval_scores = EL2NPrune.checkpoint_scores(t)
    assert t.model.training  # put back in train mode
    with torch.no_grad():
        train_mode = F.softmax(t.model(t.normalize(t.train_images(torch.arange(N)))), 1)
    train_scores = (train_mode - F.one_hot(t.labels, 4)).norm(dim=1).double().numpy()
    assert not np.allclose(eval_scores, train_scores, atol=1e-4)  # BatchNorm running statistics, as get_apply_fn_test


def test_el2n_prune_trains_a_fresh_model_on_exactly_the_kept_subset():
    t = trainer("el2n_prune", {"warmup_epochs": 2, "score_seeds": [0], "keep": 0.25})
    untrained = trainer("uniform")
    first = {}
    step = t.train_step

    def snapshot(batch):
        if not first:
            first.update({k: v.clone() for k, v in t.model.state_dict().items()})
        step(batch)

    t.train_step = snapshot
    t.run()
    for key, value in untrained.model.state_dict().items():
        assert torch.equal(first[key], value), key  # step 0: the initialisation of the run's seed, not a checkpoint
    kept = np.flatnonzero(t.method.weights.numpy())
    assert len(kept) == 16 and set(kept) == set(np.argsort(-t.method.scores, kind="stable")[:16])
    assert t.step == t.total_steps == 48  # the run's whole budget, on the subset
    for epoch in range(t.epoch - 1):  # random reshuffling: every kept sample once per (full) epoch
        seen = np.flatnonzero(~np.isnan(t.records.as_numpy(epoch, epoch + 1)["p_true"][0]))
        assert set(seen) == set(kept)


def _config(methods: dict, budgets=(0.5, 1.0)) -> dict:
    return validate({
        "datasets": {"digits": {"source": "digits"}}, "models": ["cnn"], "augmentations": ["crop"],
        "budgets": list(budgets), "seeds": [0, 1], "output": {"results": "r", "figures": "f"},
        "methods": {"uniform": {"method": "uniform"}, **methods},
        "train": {"epochs": 6, "batch_size": 64, "lr": 0.05, "eval_every": 10, "width": 8, "device": "cpu"},
    })


def test_grid_shares_full_schedule_scoring_warmups_and_builds_them_as_the_method_does():
    grid = expand(_config({"prune": {"method": "el2n_prune", "warmup_epochs": 2, "score_seeds": [0, 7]},
                           "bias": {"method": "biased", "warmup_epochs": 2}}))
    pruned = [s for s in grid.runs.values() if s["method"] == "el2n_prune"]
    assert len(pruned) == 4 and len({tuple(s["score_warmup_ids"]) for s in pruned}) == 1  # shared over budgets, seeds
    for wid, seed in zip(pruned[0]["score_warmup_ids"], [0, 7]):
        warm = {k: v for k, v in grid.warmups[wid].items() if k != "run_id"}
        assert warm == EL2NPrune.scoring_spec(pruned[0], seed) and warm["budget"] == 1.0
    # biased's budget-1.0 warm-ups of seed 0 and E=2 are the same run: 4 biased + 1 more for seed 7
    assert len(grid.warmups) == 5
    assert grid.pruned_methods() == ["el2n_prune"] and "el2n_prune" not in grid.online_methods() + grid.staged_methods()


def test_scoring_epoch_beyond_the_full_schedule_is_a_config_error():
    with pytest.raises(ConfigError, match="warmup_epochs <= train.epochs"):
        expand(_config({"prune": {"method": "el2n_prune", "warmup_epochs": 7}}))


def test_el2n_inrun_keeps_the_earlier_in_run_variant_registered():
    cls = method_class("el2n_inrun")
    assert cls.staged and cls.defaults == {"warmup_epochs": 5, "keep": 0.5}
    assert not method_class("el2n_prune").staged

"""The training engine: schedule, budget, sampler, learning, and exact resumption across processes' state."""

import numpy as np
import pytest
import torch

from sample_importance import steps
from sample_importance.training.engine import Trainer
from sample_importance.training.schedule import budget_steps, lr_multiplier

from tiny import blobs, digits, spec


@pytest.mark.parametrize("schedule,last", [("linear", 0.0), ("cosine", 0.0), ("step", 0.01), ("constant", 1.0)])
def test_schedule_end_points(schedule, last):
    assert lr_multiplier(0.0, schedule) == 1.0
    assert lr_multiplier(1.0, schedule) == pytest.approx(last)
    assert lr_multiplier(0.5, "linear") == 0.5


def test_budget_steps_round_the_full_schedule():
    assert budget_steps(1.0, 200, 50000, 128) == (78200, 78200)
    assert budget_steps(0.3, 200, 50000, 128) == (round(0.3 * 78200), 78200)


def test_run_takes_exactly_the_budgeted_steps_and_lr_reaches_zero():
    t = Trainer(spec(budget=0.5), blobs(), progress=False)
    t.run()
    assert t.step == t.total_steps == round(0.5 * 4 * 4)
    assert t.metrics[-1]["iteration"] == t.step and t.metrics[-1]["lr"] == 0.0
    assert t.metrics[0]["lr"] == 0.05


def test_weighted_draws_match_the_weights():
    t = Trainer(spec("biased", {"warmup_epochs": 1}), blobs(n_per_class=4), progress=False)
    w = torch.tensor([8.0, 4.0, 2.0, 1.0] + [1.0] * 12, dtype=torch.float64)
    w /= w.sum()
    draws = torch.cat([t.method.draw(w, 16) for _ in range(4000)])
    freq = torch.bincount(draws, minlength=16).double() / len(draws)
    assert torch.allclose(freq, w, atol=0.004)


def test_biased_with_equal_scores_samples_uniformly():
    t = Trainer(spec("biased", {"warmup_epochs": 1}), blobs(n_per_class=4), progress=False)
    weights = t.method.score({"p_true": np.full((1, 16), 0.5), "margin": np.zeros((1, 16)), "sumsq": np.full((1, 16), 0.5)},
                             t.labels_numpy)
    np.testing.assert_allclose(weights, 1 / 16)


def test_p_true_is_recorded_for_every_sample_each_warmup_epoch():
    t = Trainer(spec(), blobs(), progress=False)
    t.run(until_epoch=2)
    rec = t.records.as_numpy()
    assert rec["p_true"].shape == (2, 128) and not np.isnan(rec["p_true"]).any()
    assert ((rec["p_true"] > 0) & (rec["p_true"] <= 1)).all()
    # correct iff margin > 0, and margin <= p_true
    assert (rec["margin"] <= rec["p_true"] + 1e-6).all()


def test_small_cnn_learns_digits():
    t = Trainer(spec(epochs=6, width=16), digits(), progress=False)
    t.run()
    assert t.metrics[-1]["test_accuracy"] > 0.8  # chance is 0.1


@pytest.mark.parametrize("warmup_epochs,rescore_every", [(2, 0), (1, 1)])
def test_split_run_equals_one_process_run_bit_for_bit(tmp_path, warmup_epochs, rescore_every):
    """warm-up -> score -> continue in separate steps (files in between) == the same biased run in one go.

    With re-scoring, the continue step must also restore the scores: the first re-score (epoch 2, from
    continuation epoch 1 alone, drawn with replacement) keeps the old score of every sample not drawn.
    """
    from sample_importance.data import datasets as data

    ds = digits({"kind": "long_tailed", "ratio": 10})
    data.save(ds, tmp_path / "d.pt")
    run = spec("biased", {"warmup_epochs": warmup_epochs, "metric": "one_minus_p", "smoothing": 0.5,
                          "rescore_every": rescore_every}, epochs=5)
    steps.train(run, tmp_path / "d.pt", tmp_path / "one", progress=False)
    warm = {**run, "method": "uniform", "method_params": {}, "warmup_epochs": warmup_epochs, "label": "warmup"}
    steps.warmup(warm, tmp_path / "d.pt", tmp_path / "w", progress=False)
    (tmp_path / "imp").mkdir()
    steps.score(run, tmp_path / "w" / "records.pt", tmp_path / "imp")
    steps.continue_run(run, tmp_path / "d.pt", tmp_path / "w", tmp_path / "imp", tmp_path / "two", progress=False)
    for name in ("metrics.csv", "per_class.csv", "class_draws.csv"):
        one = (tmp_path / "one" / name).read_text().splitlines()
        two = (tmp_path / "two" / name).read_text().splitlines()
        if name == "metrics.csv":  # wall-clock column last
            one, two = [r.rsplit(",", 1)[0] for r in one], [r.rsplit(",", 1)[0] for r in two]
        assert one == two, name

"""One budget mechanism (issue 22): runs of every other method are unchanged, bit for bit on CPU.

The values below were recorded with the engine BEFORE Method.progress() and the up-front charge
existed (commit 35cb963, torch 2.14.1+cu130, x86_64, one thread): a hash of each tiny run's metrics
table (wall clock cut), class draws and final weights. They are compared where the platform and
torch version are the recording's (float results of other builds may differ in the last bits).
Intended changes: InfoBatch's epochs mode now reports its epoch progress instead of re-planning
total_steps, so its learning rate differs in the last bit (<= 5e-16 relative) and its test accuracy
at every evaluation is unchanged; RHO-LOSS's schedule now starts at its peak after the irreducible
model's charge (before: at 1 - charge / budget).
"""

from __future__ import annotations

import hashlib
import json
import platform

import pytest
import torch

from sample_importance.training.engine import Trainer
from tiny import digits, spec

RECORDED_TORCH = "2.14.1+cu130"
CASES = {
    "uniform": ("uniform", {}, 0.5),
    "uniform_replacement": ("uniform_replacement", {}, 0.5),
    "unif_sgd": ("unif_sgd", {}, 0.5),
    "biased_s05": ("biased", {"warmup_epochs": 1, "smoothing": 0.5}, 0.5),
    "p_sgd": ("p_sgd", {}, 0.5),
    "selective_backprop": ("selective_backprop", {}, 0.5),
    "upper_bound_is": ("upper_bound_is", {}, 0.5),
    "loss_rank": ("loss_rank", {}, 0.5),
    "infobatch": ("infobatch", {}, 0.5),
    "infobatch_epochs_full": ("infobatch", {"budget_mode": "epochs"}, 1.0),
    "infobatch_epochs_frac": ("infobatch", {"budget_mode": "epochs"}, 0.6),
    "el2n_inrun": ("el2n_inrun", {"warmup_epochs": 1}, 0.5),
    "rho_loss": ("rho_loss", {"irreducible_epochs": 1}, 0.5),
}
BEFORE_HASH = {
    "uniform": "fc44b13b15f64da8",
    "uniform_replacement": "74f7e4ccc40025f9",
    "unif_sgd": "1c5ee53d9c7ea552",
    "biased_s05": "90c82500afe71014",
    "p_sgd": "c644b179bba148de",
    "selective_backprop": "78e5d82f6bb55fbf",
    "upper_bound_is": "8140fefbfc4d92cb",
    "loss_rank": "384c5b53b7cb6226",
    "infobatch": "14a607b646024819",
    "el2n_inrun": "546a841091a4633d"
}
BEFORE_INFOBATCH_EPOCHS = {"infobatch_epochs_full": {"steps": 158, "test_accuracy": [0.119444444444, 0.172222222222, 0.230555555556, 0.563888888889, 0.511111111111, 0.583333333333, 0.616666666667, 0.744444444444, 0.758333333333, 0.861111111111, 0.913888888889, 0.852777777778, 0.927777777778, 0.952777777778, 0.969444444444, 0.966666666667, 0.966666666667]}, "infobatch_epochs_frac": {"steps": 99, "test_accuracy": [0.119444444444, 0.172222222222, 0.238888888889, 0.577777777778, 0.563888888889, 0.725, 0.438888888889, 0.652777777778, 0.841666666667, 0.891666666667, 0.908333333333]}}
BEFORE_RHO = {"steps": 17, "charged": 91.041667}
RECORDING_PLATFORM = platform.machine() == "x86_64" and torch.__version__ == RECORDED_TORCH


def fingerprint(t: Trainer) -> str:
    rows = [{k: v for k, v in r.items() if k != "wall_seconds"} for r in t.metrics]
    h = hashlib.sha256(json.dumps(rows).encode() + json.dumps(t.class_draws).encode())
    for v in t.model.state_dict().values():
        h.update(v.detach().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


@pytest.fixture(scope="module")
def runs():
    data = digits()
    out = {}
    for key, (method, params, budget) in CASES.items():
        lrs = []
        t = Trainer(spec(method, params, budget=budget, epochs=4), data, progress=False)
        step = t.train_step
        t.train_step = lambda batch, t=t, step=step, lrs=lrs: (lrs.append(t.lr_now()), step(batch))[1]
        t.run()
        out[key] = (t, lrs)
    return out


@pytest.mark.skipif(not RECORDING_PLATFORM, reason=f"values recorded on x86_64 with torch {RECORDED_TORCH}")
@pytest.mark.parametrize("key", list(BEFORE_HASH))
def test_other_methods_give_bit_identical_runs(runs, key):
    assert fingerprint(runs[key][0]) == BEFORE_HASH[key]


@pytest.mark.skipif(not RECORDING_PLATFORM, reason=f"values recorded on x86_64 with torch {RECORDED_TORCH}")
@pytest.mark.parametrize("key", list(BEFORE_INFOBATCH_EPOCHS))
def test_infobatch_epochs_mode_same_steps_and_accuracies(runs, key):
    t, _ = runs[key]
    before = BEFORE_INFOBATCH_EPOCHS[key]
    assert t.step == before["steps"]
    assert [round(r["test_accuracy"], 12) for r in t.metrics] == before["test_accuracy"]


def test_infobatch_epochs_mode_ends_on_its_progress_not_on_a_replanned_budget(runs):
    t, lrs = runs["infobatch_epochs_full"]
    assert t.total_steps == 180 and t.step < t.total_steps  # the budget stays the budget; 4 epochs took fewer steps
    assert t.method.progress() == 1.0 and t.finished and t.epoch == 4
    assert lrs[0] == pytest.approx(0.05) and lrs[-1] < 0.05 / 30  # one linear decay over the 4 epochs


def test_rho_loss_charge_is_booked_up_front_and_its_schedule_starts_at_the_peak(runs):
    t, lrs = runs["rho_loss"]
    n_hold, n_main = int(t.method.holdout.sum()), len(t.method.main_indices)
    charge = (n_hold + n_main / 3) / 32  # one irreducible epoch over the holdout, one forward per main sample
    assert t.upfront_charge == pytest.approx(charge) == pytest.approx(t.method.irreducible_charge)
    assert (t.step, round(t.charged, 6)) == (BEFORE_RHO["steps"], BEFORE_RHO["charged"])  # the same budget spent
    assert lrs[0] == 0.05  # the peak; before the change it started at 0.05 * (1 - charge / budget), 2/3 of it:
    assert 0.05 * (1 - charge / t.total_steps) == pytest.approx(0.05 * 0.6675, abs=1e-4)
    assert lrs == sorted(lrs, reverse=True) and lrs[-1] < 0.05 / 10  # then one linear decay to the end
    # the irreducible model's examples are on the counters, beside the main model's trained rows
    assert t.examples_backpropagated - n_hold == sum(d["draws"] for d in t.class_draws)


def test_a_charge_that_spends_the_budget_is_refused_before_the_work():
    from sample_importance.methods.base import Upfront

    t = Trainer(spec("uniform", budget=0.1, epochs=4), digits(), progress=False)
    with pytest.raises(ValueError, match="whole budget"):
        t.check_upfront(Upfront(t.total_steps, fix="Fix: x"))
    t.book_upfront(Upfront(2.0, forwarded=64, backpropagated=32))
    assert (t.charged, t.upfront_charge, t.examples_forwarded, t.examples_backpropagated) == (2.0, 2.0, 64, 32)
    assert t.budget_progress() == 0.0  # the schedule starts at the peak after the charge

"""Budgets: real tiny Trainer runs take round(b * full_iterations) steps with the schedule fitted to them;
the budget table (mean with its t-interval over seeds, paired Holm-corrected comparison with uniform,
methods x budgets) marks a best cell only when it is significantly better than uniform."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from sample_importance.data import datasets as data_mod
from sample_importance import steps
from sample_importance.analysis.budget_table import budget_table, to_markdown
from sample_importance.data.datasets import Dataset, Split
from sample_importance.training.engine import Trainer

N_TRAIN, BATCH, EPOCHS, PEAK = 50, 16, 10, 0.1
BUDGETS = (0.2, 0.3, 0.33, 0.5, 1.0)  # 0.33: the budget ends inside an epoch


def tiny_dataset() -> Dataset:
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (N_TRAIN + 20, 1, 8, 8), generator=gen, dtype=torch.uint8)
    y = torch.arange(N_TRAIN + 20) % 3
    train, test = Split(x[:N_TRAIN], y[:N_TRAIN]), Split(x[N_TRAIN:], y[N_TRAIN:])
    return Dataset("tiny", ["a", "b", "c"], train, test, torch.arange(N_TRAIN),
                   torch.full((1,), 0.5), torch.full((1,), 0.3), {"source": "test"})


def spec(budget, schedule="linear", method="uniform", params=None, augmentation="crop"):
    return {
        "seed": 0, "budget": budget, "model": "cnn", "method": method, "method_params": params or {},
        "augmentation": augmentation, "label": method, "dataset": "tiny",
        "train": {"epochs": EPOCHS, "batch_size": BATCH, "lr": PEAK, "momentum": 0.9, "weight_decay": 5e-4,
                  "schedule": schedule, "eval_every": 1000, "device": "cpu", "threads": 1, "width": 4},
    }


def budget_steps(budget):
    return round(budget * EPOCHS * math.ceil(N_TRAIN / BATCH))


def run_recording_lr(run_spec) -> tuple[Trainer, list[float]]:
    trainer = Trainer(run_spec, tiny_dataset(), progress=False)
    lrs = []
    step = trainer.optimizer.step
    def recording_step():
        lrs.append(trainer.optimizer.lr)
        step()
    trainer.optimizer.step = recording_step
    trainer.run()
    return trainer, lrs


# the schedules written out independently of schedule.py: multiplier of the peak at progress p = k / T
EXPECTED = {
    "linear": lambda p: 1 - p,
    "cosine": lambda p: 0.5 * (1 + math.cos(math.pi * p)),
    "step": lambda p: 1.0 if p < 0.5 else 0.1 if p < 0.75 else 0.01,
}


@pytest.mark.parametrize("budget", BUDGETS)
def test_iteration_count_and_schedule_end_points(budget):
    total = budget_steps(budget)
    for schedule, multiplier in EXPECTED.items():
        trainer, lrs = run_recording_lr(spec(budget, schedule))
        assert trainer.step == trainer.total_steps == total == len(lrs)
        assert trainer.full_iterations == EPOCHS * math.ceil(N_TRAIN / BATCH)
        assert trainer.metrics[-1]["iteration"] == total  # the last evaluation is at the budget's end
        assert lrs[0] == pytest.approx(PEAK)  # the first step runs at the peak learning rate
        np.testing.assert_allclose(lrs, [PEAK * multiplier(k / total) for k in range(total)], rtol=1e-12, atol=1e-15)
        if schedule == "linear":
            assert lrs[-1] == pytest.approx(PEAK / total)  # -> 0: one decrement left
        elif schedule == "cosine":
            assert lrs[-1] < PEAK * (math.pi / total) ** 2  # -> 0 quadratically
        else:
            assert lrs[-1] == pytest.approx(0.01 * PEAK)
            assert sum(lr == pytest.approx(PEAK) for lr in lrs) == math.ceil(total / 2)


def test_a_budget_compresses_the_whole_schedule():
    """Each budget compresses the whole schedule; it is not the first part of the full run."""
    _, full = run_recording_lr(spec(1.0))
    _, short = run_recording_lr(spec(0.3))
    assert len(short) == budget_steps(0.3) and short[-1] < full[len(short) - 1]


def test_mixing_augmentation_trains_within_budget_with_finite_records():
    trainer, _ = run_recording_lr(spec(0.3, augmentation="mixup"))
    assert trainer.step == budget_steps(0.3)
    p_true = trainer.records.as_numpy()["p_true"]
    seen = ~np.isnan(p_true)
    assert seen.any() and ((p_true[seen] >= 0) & (p_true[seen] <= 1)).all()


@pytest.mark.parametrize("budget", (0.3, 1.0))
def test_staged_warmup_counts_inside_the_budget(tmp_path, budget):
    """Warm-up (E epochs) -> score -> continue, across processes' files, spends exactly the budget."""
    data_path = tmp_path / "tiny.pt"
    data_mod.save(tiny_dataset(), data_path)
    warmup_epochs = 2
    run = spec(budget, method="biased", params={"warmup_epochs": warmup_epochs, "metric": "one_minus_p",
                                                 "smoothing": 0.5, "rescore_every": 0})
    warm = {**spec(budget), "warmup_epochs": warmup_epochs, "label": "warmup"}
    warmed = steps.warmup(warm, str(data_path), str(tmp_path / "warmup"), progress=False)
    assert warmed.step == warmup_epochs * math.ceil(N_TRAIN / BATCH)
    steps.score(run, str(tmp_path / "warmup" / "records.pt"), str(tmp_path / "run" / "importance"))
    trainer = steps.continue_run(run, str(data_path), str(tmp_path / "warmup"), str(tmp_path / "run" / "importance"),
                                 str(tmp_path / "run"), progress=False)
    assert trainer.step == budget_steps(budget)
    assert pd.read_csv(tmp_path / "run" / "metrics.csv")["iteration"].iloc[-1] == budget_steps(budget)


# ------------------------------------------------------------------ the budget table


def final_table() -> pd.DataFrame:
    rows = []
    acc = {("uniform", 0.3): [0.60, 0.62, 0.64], ("uniform", 1.0): [0.80, 0.82, 0.84],
           ("biased", 0.3): [0.70, 0.70, 0.70], ("biased", 1.0): [0.75, 0.77, 0.79]}
    for (method, budget), values in acc.items():
        for seed, a in enumerate(values):
            rows.append({"dataset": "d", "model": "cnn", "augmentation": "standard", "method": method,
                         "method_name": method, "budget": budget, "seed": seed, "final_test_accuracy": a})
    return pd.DataFrame(rows)


def test_budget_table_intervals_and_best_only_when_significant():
    table = budget_table(final_table()).set_index(["method", "budget"])
    assert table.loc[("uniform", 0.3), "mean"] == pytest.approx(0.62)
    assert table.loc[("uniform", 0.3), "sd"] == pytest.approx(0.02)
    half = 4.303 * 0.02 / math.sqrt(3)  # t(0.975, 2 df) from a table
    assert table.loc[("uniform", 0.3), "high"] == pytest.approx(0.62 + half, abs=1e-4)
    assert table.loc[("biased", 0.3), "sd"] == pytest.approx(0.0, abs=1e-12)
    assert (table.loc[("uniform", 0.3), "n"], table.loc[("biased", 1.0), "n"]) == (3, 3)
    # biased@0.3 beats uniform by 0.08 (t 6.93, 2 df, one-sided p 0.0101), alone in its budget column: a family of one
    assert table.loc[("biased", 0.3), "p_better"] == pytest.approx(0.020204 / 2, abs=1e-5)
    assert table.loc[("biased", 0.3), "family_size"] == 1 and table.loc[("biased", 0.3), "verdict"] == "better"
    # biased@1.0 is a constant -0.05 with no n_test (no resolution floor): no spread, so no test and no verdict
    assert np.isnan(table.loc[("biased", 1.0), "p_worse"]) and table.loc[("biased", 1.0), "verdict"] == ""
    assert table[table["best"]].index.tolist() == [("biased", 0.3)]


def test_budget_table_markdown_shows_intervals_differences_and_bolds_only_significant_cells():
    md = to_markdown(budget_table(final_table()))
    assert "## d · cnn · standard" in md
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in md.splitlines() if line.startswith("| ")}
    assert rows["method"] == ["budget 0.3", "budget 1"]
    assert rows["uniform"] == ["62.00 [57.03, 66.97]", "82.00 [77.03, 86.97]"]
    # all three biased seeds equal: no interval is printed as [70.00, 70.00]
    assert rows["biased"][0].startswith("**70.00**; Δ +8.00 [+3.03, +12.97] better, MDE ")
    assert rows["biased"][1].startswith("77.00 [72.03, 81.97]; Δ -5.00") and "**77.00" not in md
    assert "[70.00, 70.00]" not in md


def test_budget_table_blocks_are_separate_families_of_one_table():
    final = final_table()
    other = final.assign(augmentation="mixup", final_test_accuracy=0.5)  # all methods tie in this block
    table = budget_table(pd.concat([final, other], ignore_index=True))
    assert not table[table["augmentation"] == "mixup"]["best"].any()  # a tie is not significantly better
    assert table[table["augmentation"] == "standard"]["best"].sum() <= 1
    assert list(dict.fromkeys(table["augmentation"])) == ["standard", "mixup"]

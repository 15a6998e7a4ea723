"""Per-seed speedup on synthetic curves: the target, "reached" only for runs that end at or above it,
seeds that end at different steps, the four units, the fitted job start-up and the geometric summary."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from sample_importance.analysis import speedup as sp

KEY = {"dataset": "d", "model": "cnn", "augmentation": "standard"}


def curve(method, budget, seed, points, method_name=None, charged_per_step=1.0, seconds_per_step=0.01,
          batch=10, jobs_started=1):
    """A run's evaluations: (iteration, accuracy) pairs; costs proportional to the iteration."""
    it = np.array([p[0] for p in points], dtype=float)
    return pd.DataFrame({**KEY, "method": method, "method_name": method_name or method, "budget": budget, "seed": seed,
                         "iteration": it, "charged_iterations": it * charged_per_step,
                         "examples_backpropagated": it * batch, "wall_seconds": it * seconds_per_step,
                         "jobs_started": jobs_started, "test_accuracy": [p[1] for p in points]})


def final_of(curves: pd.DataFrame) -> pd.DataFrame:
    last = curves.sort_values("iteration").groupby(["method", "method_name", "budget", "seed"], as_index=False).last()
    return last.rename(columns={"test_accuracy": "final_test_accuracy"})


def uniform_curves():
    # finals 0.95, 0.94, 0.96 (mean 0.95); with fraction 0.9/0.95 the target is 0.90
    return pd.concat([curve("uniform", 1.0, 0, [(0, 0.1), (100, 0.85), (200, 0.91), (300, 0.95)]),
                      curve("uniform", 1.0, 1, [(0, 0.1), (100, 0.80), (200, 0.89), (300, 0.94)]),
                      curve("uniform", 1.0, 2, [(0, 0.1), (100, 0.90), (200, 0.93), (300, 0.96)])])


FRACTION = 0.90 / 0.95


def run(curves, startup=0.0):
    costs = sp.add_costs(curves, startup)
    return sp.per_seed(costs, final_of(curves), FRACTION, startup)


def test_seeds_ending_below_the_target_are_not_reached_even_if_they_touched_it():
    """Seed finals 0.905 / 0.85 / 0.85 against 0.90, seeds ending at different steps: only seed 0 reached."""
    sb = pd.concat([curve("sb", 1.0, 0, [(0, 0.1), (90, 0.88), (180, 0.905)]),
                    curve("sb", 1.0, 1, [(0, 0.1), (70, 0.92), (140, 0.85)]),  # touched 0.92, fell back
                    curve("sb", 1.0, 2, [(0, 0.1), (110, 0.86), (220, 0.85)])])
    seeds = run(pd.concat([uniform_curves(), sb]))
    assert seeds["target"].iloc[0] == pytest.approx(0.90)
    it = seeds[(seeds["method"] == "sb") & (seeds["unit"] == "iterations")].set_index("seed")
    assert it["reached"].tolist() == [True, False, False]
    assert it.loc[0, "cost_method"] == 180 and it.loc[0, "cost_uniform"] == 200  # uniform seed 0 first >= 0.90 at 200
    assert it.loc[0, "speedup"] == pytest.approx(200 / 180)
    assert np.isnan(it.loc[[1, 2], "speedup"]).all() and np.isnan(it.loc[[1, 2], "cost_method"]).all()
    # the seeds that never reached it are censored: speedup <= uniform's cost / the run's whole cost
    assert (it.loc[1, "speedup_low"], it.loc[1, "speedup_high"]) == (0.0, pytest.approx(it.loc[1, "cost_uniform"] / 140))
    assert it.loc[2, "speedup_high"] == pytest.approx(it.loc[2, "cost_uniform"] / 220)
    assert it.loc[1, "censoring"] == "method never reached"
    summary = sp.summarise(seeds).set_index(["method", "unit"])
    row = summary.loc[("sb", "iterations")]
    assert (row["n"], row["n_reached"], row["n_exact"]) == (3, 1, 1)
    # 1 of 3 reached: no geometric mean over that one seed; the median lies between the bounds' medians
    assert np.isnan(row["geometric_mean"]) and np.isnan(row["low"])
    assert row["median_low"] == 0.0 and row["median_high"] == pytest.approx(200 / 180)


def test_uniform_is_one_against_itself_and_pairs_by_seed():
    seeds = run(uniform_curves())
    ref = seeds[(seeds["method"] == "uniform")]
    assert ref["speedup"].tolist() == [1.0] * len(ref) and ref["reached"].all()
    assert len(ref) == 3 * len(sp.UNITS)


def test_uniform_seed_that_misses_its_own_target_gives_no_speedup_for_that_seed():
    u = uniform_curves()
    u.loc[(u["seed"] == 1) & (u["iteration"] == 300), "test_accuracy"] = 0.70  # finals 0.95 0.70 0.96: target 0.82
    fast = pd.concat([curve("b", 1.0, s, [(0, 0.1), (50, 0.90), (300, 0.95)]) for s in range(3)])
    seeds = run(pd.concat([u, fast]))
    b = seeds[(seeds["method"] == "b") & (seeds["unit"] == "iterations")].set_index("seed")
    assert b["reached"].all() and not b.loc[1, "uniform_reached"] and np.isnan(b.loc[1, "speedup"])
    assert seeds["target"].iloc[0] == pytest.approx(FRACTION * (0.95 + 0.70 + 0.96) / 3)  # 0.824
    assert b.loc[0, "cost_uniform"] == 100 and b.loc[0, "speedup"] == pytest.approx(100 / 50)


def test_four_units_and_the_wall_clock_with_start_up_per_job():
    staged = pd.concat([
        curve("biased", 1.0, s, [(0, 0.1), (50, 0.5), (150, 0.92), (300, 0.95)], charged_per_step=1.5,
              seconds_per_step=0.02, batch=10, jobs_started=1).assign(
            jobs_started=lambda c: np.where(c["iteration"] <= 50, 1, 3)) for s in range(3)])
    seeds = run(pd.concat([uniform_curves(), staged]), startup=2.0)
    b = seeds[(seeds["method"] == "biased") & (seeds["seed"] == 0)].set_index("unit")
    assert b.loc["iterations", "speedup"] == pytest.approx(200 / 150)
    assert b.loc["charged_iterations", "speedup"] == pytest.approx(200 / (1.5 * 150))
    assert b.loc["examples_backpropagated", "speedup"] == pytest.approx(2000 / 1500)
    # uniform: 200 x 0.01 s + one start-up; biased: 150 x 0.02 s + warm-up, score and continuation start-ups
    assert b.loc["wall_clock_seconds", "cost_uniform"] == pytest.approx(2.0 + 2.0)
    assert b.loc["wall_clock_seconds", "cost_method"] == pytest.approx(3.0 + 3 * 2.0)
    assert b.loc["wall_clock_seconds", "startup_seconds"] == 2.0 and np.isnan(b.loc["iterations", "startup_seconds"])
    assert set(seeds.columns) >= {"dataset", "model", "augmentation", "method", "label", "budget", "seed", "unit",
                                  "target", "cost_uniform", "cost_method", "speedup", "reached"}


def test_pruned_runs_are_charged_their_scoring_trainings():
    pruned = curve("prune", 1.0, 0, [(0, 0.1), (100, 0.92), (200, 0.95)]).assign(
        **sp.scoring_cost({"scoring": {"charged_iterations": 50.0, "seconds": 4.0, "trainings": 2}}))
    seeds = run(pd.concat([uniform_curves(), pruned]), startup=1.0)
    p = seeds[seeds["method"] == "prune"].set_index("unit")
    assert p.loc["iterations", "cost_method"] == 100 and p.loc["charged_iterations", "cost_method"] == 150
    assert p.loc["wall_clock_seconds", "cost_method"] == pytest.approx(1.0 + 4.0 + (1 + 3) * 1.0)


def test_geometric_summary_treats_double_and_half_alike():
    mean, low, high, n = sp.geometric_interval([2.0, 0.5, 1.0, float("nan")])
    assert n == 3 and mean == pytest.approx(1.0)
    half = 4.303 * math.log(2) / math.sqrt(3)  # sd of (ln2, -ln2, 0) is ln 2; t(0.975, 2 df) from a table
    assert low == pytest.approx(math.exp(-half), rel=1e-3) and high == pytest.approx(math.exp(half), rel=1e-3)


def test_startup_is_the_intercept_of_overhead_on_evaluations():
    jobs = pd.DataFrame({"job": "train", "evaluations": [3, 5, 8, 12],
                         "train": [10.0, 20.0, 30.0, 40.0]})
    jobs["span"] = jobs["train"] + 1.5 + 0.4 * jobs["evaluations"]
    assert sp.startup_seconds(jobs) == pytest.approx(1.5)
    same = jobs.assign(evaluations=4)  # one evaluation count: the median overhead, evaluations included
    assert sp.startup_seconds(same) == pytest.approx(float(np.median(same["span"] - same["train"])))
    assert sp.startup_seconds(jobs.iloc[:0]) == 0.0


def test_run_jobs_of_a_staged_run_read_its_warm_up_and_score_records(tmp_path):
    warm, imp = tmp_path / "warm", tmp_path / "imp"
    warm.mkdir(), imp.mkdir()
    (warm / "run.json").write_text(json.dumps({"iterations": 40, "train_seconds": 5.0, "started": "2026-01-01T00:00:00+00:00",
                                               "finished": "2026-01-01T00:00:09+00:00"}))
    (imp / "score.json").write_text(json.dumps({"seconds": 0.5}))
    info = {"warmup_dir": str(warm), "importance_dir": str(imp), "train_seconds": 20.5,
            "started": "2026-01-01T00:00:10+00:00", "finished": "2026-01-01T00:00:33+00:00", "spec": {}}
    metrics = pd.DataFrame({"iteration": [0, 20, 40, 60, 80, 100], "epoch": [0, 1, 2, 3, 4, 5]})
    jobs, warm_end = sp.run_jobs(info, metrics)
    assert warm_end == 40
    assert jobs == [{"job": "warmup", "span": 9.0, "train": 5.0, "evaluations": 3},
                    {"job": "continue", "span": 23.0, "train": 15.0, "evaluations": 3}]
    online, end = sp.run_jobs({"train_seconds": 3.0, "started": info["started"], "finished": info["finished"]}, metrics)
    assert end is None and online == [{"job": "train", "span": 23.0, "train": 3.0, "evaluations": 6}]


def fake_run(folder, label, seed, accuracies, imbalance=None):
    """A finished online run folder as steps.py writes it (run.json, metrics.csv, per_class.csv, class_draws.csv)."""
    folder.mkdir(parents=True)
    it = np.arange(len(accuracies)) * 10
    pd.DataFrame({"iteration": it, "charged_iterations": it, "epoch": it / 10, "examples_forwarded": it * 8,
                  "examples_backpropagated": it * 8, "lr": 0.1, "train_loss": 1.0, "test_accuracy": accuracies,
                  "test_loss": 1.0, "wall_seconds": it * 0.1}).to_csv(folder / "metrics.csv", index=False)
    pd.DataFrame({"class_index": [0, 1], "class": ["a", "b"], "n_train": [5, 5], "n_test": [5, 5],
                  "test_accuracy": [accuracies[-1]] * 2}).to_csv(folder / "per_class.csv", index=False)
    pd.DataFrame({"epoch": [0, 0], "class_index": [0, 1], "draws": [5, 5]}).to_csv(folder / "class_draws.csv", index=False)
    spec = {"dataset": "d", "model": "cnn", "label": label, "method": label, "augmentation": "crop", "budget": 1.0,
            "seed": seed, "dataset_spec": {"source": "digits", "imbalance": imbalance or {"kind": "none", "ratio": 1}}}
    spec["run_id"] = f"{label}/d/cnn/crop/b1-s{seed}-h{label}{seed}"
    from sample_importance.steps import _file_record

    tables = {name: _file_record(folder / name) for name in ("metrics.csv", "per_class.csv", "class_draws.csv")}
    tables["metrics.csv"].update(last_iteration=int(it[-1]), final_test_accuracy=float(accuracies[-1]))
    (folder / "run.json").write_text(json.dumps({
        "spec": spec, "config_hash": f"h{label}{seed}", "git": {"commit": "c0", "dirty": False},
        "started": "2026-01-01T00:00:00+00:00", "finished": "2026-01-01T00:00:03+00:00",
        "iterations": int(it[-1]), "final_test_accuracy": float(accuracies[-1]),
        "train_seconds": float(it[-1] * 0.1), "tables": tables}))
    return str(folder)


def test_aggregate_writes_per_seed_and_summary_tables_with_the_configured_target(tmp_path):
    from sample_importance.analysis.aggregate import aggregate

    runs = [fake_run(tmp_path / "runs" / f"u{s}", "uniform", s, [0.1, 0.5, 0.8, 0.9]) for s in range(2)]
    runs += [fake_run(tmp_path / "runs" / f"b{s}", "biased", s, [0.1, 0.85, 0.9, 0.9]) for s in range(2)]
    tables = aggregate(runs, str(tmp_path / "summary"), target_fraction=0.9)
    seeds = pd.read_csv(tmp_path / "summary" / "speedup.csv")
    assert seeds["target"].unique() == pytest.approx([0.81])  # 0.9 x 0.9
    b = seeds[(seeds["method"] == "biased") & (seeds["unit"] == "iterations")]
    assert b["speedup"].tolist() == pytest.approx([30 / 10, 30 / 10]) and b["reached"].all()
    summary = pd.read_csv(tmp_path / "summary" / "speedup_summary.csv")
    assert set(summary["unit"]) == set(sp.UNITS) and (summary["n"] == 2).all()
    final = tables["final"]
    assert set(final["imbalance"]) == {"none"} and (final["imbalance_ratio"] == 1.0).all()
    assert "jobs" not in tables and "scoring_seconds" not in pd.read_csv(tmp_path / "summary" / "curves.csv")

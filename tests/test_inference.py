"""The inference layer as a user meets it: margins refused before any job, `power` on a summary folder, the
budget-to-target speedup, and the class-control claims, on synthetic tables whose truth is known."""

import numpy as np
import pandas as pd
import pytest

from sample_importance.analysis import claims as cl
from sample_importance.analysis import speedup as sp
from sample_importance.analysis.verdicts import Margins
from sample_importance.config import ConfigError, validate


@pytest.mark.parametrize("field, value", [("accuracy_points", 0), ("accuracy_points", -0.5), ("speedup_ratio", 0),
                                          ("speedup_ratio", -0.9), ("speedup_ratio", 1.0)])
def test_a_margin_of_zero_or_below_is_refused_naming_the_field(tiny_config, field, value):
    config = tiny_config()
    config["analysis"] = {"margins": {field: value}}
    with pytest.raises(ConfigError, match=rf"analysis\.margins\.{field}"):
        validate(config)


def test_the_default_margins_are_filled_in_and_shown(tiny_config):
    analysis = validate(tiny_config())["analysis"]
    assert analysis["margins"] == {"accuracy_points": 0.5, "speedup_ratio": 0.9}
    assert (analysis["alpha"], analysis["power"], analysis["table_correction"]) == (0.05, 0.8, "holm")
    assert "accuracy 0.5 points, speedup 0.9x" in Margins.from_config(analysis).describe()


def final_table(n_seeds=3, sd=0.004, gain=0.0, n_test=10_000, budgets=(0.3, 1.0)) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    rows = []
    for budget in budgets:
        for seed in range(n_seeds):
            base = 0.5 + 0.3 * budget + rng.normal(0, 0.01)
            for method, acc in (("uniform", base), ("biased", base + gain + rng.normal(0, sd))):
                rows.append({"dataset": "d", "model": "cnn", "augmentation": "crop", "method": method,
                             "method_name": method, "budget": budget, "seed": seed, "final_test_accuracy": acc,
                             "n_test": n_test})
    return pd.DataFrame(rows)


def test_power_command_says_how_many_seeds_a_grid_needs(tmp_path, run_cli):
    final_table().to_csv(tmp_path / "final.csv", index=False)
    done = run_cli("power", "--summary", tmp_path, "--accuracy-margin", "0.5")
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(tmp_path / "power.csv")
    assert len(table) == 2 and set(table["metric"]) == {"final test accuracy"}  # biased at two budgets
    assert (table["n"] == 3).all() and (table["margin"] == 0.5).all() and (table["mde"] > 0.5).all()
    assert (table["seeds_needed"] > 3).all() and (table["power_at_margin"] < 0.8).all()
    assert "seeds_needed" in done.stdout
    bad = run_cli("power", "--summary", tmp_path, "--accuracy-margin", "0")
    assert bad.returncode != 0 and "analysis.margins.accuracy_points" in bad.stderr


def test_budget_to_target_interpolates_between_budgets_and_censors_outside_them():
    # target 0.98 x uniform's full-budget mean 0.80 = 0.784; uniform crosses it between budgets 0.5 and 1.0
    rows = []
    for seed in range(3):
        for budget, u, b in ((0.3, 0.70, 0.79), (0.5, 0.76, 0.80), (1.0, 0.80, 0.81)):
            rows += [{"dataset": "d", "model": "cnn", "augmentation": "crop", "method": m, "method_name": m,
                      "budget": budget, "seed": seed, "final_test_accuracy": a} for m, a in (("uniform", u),
                                                                                             ("biased", b))]
    table = sp.budget_to_target(pd.DataFrame(rows), 0.98).set_index(["method", "seed"])
    u = table.loc[("uniform", 0)]
    assert u["budget_to_target"] == pytest.approx(0.5 + (0.784 - 0.76) / (0.80 - 0.76) * 0.5)  # 0.8
    assert u["censoring"] == "exact"
    b = table.loc[("biased", 0)]  # already above the target at the smallest budget: at most 0.3
    assert np.isnan(b["budget_to_target"]) and b["budget_high"] == 0.3 and b["censoring"].startswith("reached at")
    assert b["speedup_low"] == pytest.approx(0.8 / 0.3) and b["speedup_high"] == np.inf


def control_final(gain_over_balanced: float, n_seeds: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(2)
    rows = []
    for seed in range(n_seeds):
        base = 0.40 + rng.normal(0, 0.01)
        for method, acc in (("uniform", base), ("class_balanced", base + 0.02),
                            ("biased", base + 0.02 + gain_over_balanced + rng.normal(0, 0.002))):
            rows.append({"dataset": "lt", "model": "cnn", "augmentation": "crop", "method": method,
                         "method_name": method, "budget": 1.0, "seed": seed, "final_test_accuracy": acc,
                         "balanced_accuracy": acc, "imbalance_ratio": 100.0, "n_test": 10_000})
    return pd.DataFrame(rows)


def test_biased_against_class_balanced_sampling_is_a_claim_with_the_verdict_rules():
    m = Margins()
    table = cl.finish(cl.control_claims(control_final(0.03), m), m)
    row = table[table["claim"] == cl.BALANCED].iloc[0]
    assert row["verdict"] == "supported" and row["effect"] == pytest.approx(3.0, abs=0.2)
    same = cl.finish(cl.control_claims(control_final(0.0), m), m)
    assert same[same["claim"] == cl.BALANCED]["verdict"].iloc[0] in ("contradicted", "inconclusive")
    matched = table[table["claim"] == cl.MATCHED].iloc[0]  # no class_matched runs in this config
    assert matched["verdict"] == "not testable" and "class_matched" in matched["why"]
    # class re-balancing methods are not importance sampling: outside Arazo's "no consistent gain"
    short = control_final(0.03).assign(budget=0.3)
    no_gain = cl.finish(cl.no_gain_claim(short, m), m)
    assert "biased@0.3" in no_gain["why"].iloc[0] and "class_balanced" not in no_gain["why"].iloc[0]

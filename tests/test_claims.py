"""Each claim's verdict on small synthetic tables built to support it, to contradict it, and to leave it untestable."""

import json

import numpy as np
import pandas as pd
import pytest

from sample_importance.analysis import claims as cl

SEEDS = range(5)
NOISE = np.array([0.004, -0.003, 0.001, -0.002, 0.0])  # seed-to-seed noise with a spread (no degenerate t-test)
SOURCE = json.dumps({"source": "imagefolder", "train_subset": 5000})


def final(cells: dict, datasets: dict | None = None) -> pd.DataFrame:
    """cells: (dataset, augmentation, method, budget) -> mean accuracy; seeds get NOISE (rolled per cell)."""
    datasets = datasets or {"bal": 1.0, "lt": 100.0}
    rows = []
    for k, ((d, aug, method, budget), acc) in enumerate(cells.items()):
        for seed, noise in zip(SEEDS, np.roll(NOISE, k)):
            rows.append({"dataset": d, "model": "cnn", "augmentation": aug, "method": method,
                         "method_name": "uniform" if method.startswith("uniform") else method, "budget": budget,
                         "seed": seed, "final_test_accuracy": acc + noise, "imbalance_ratio": datasets[d],
                         "data_source": SOURCE})
    return pd.DataFrame(rows)


def verdicts(table: pd.DataFrame, claim: str) -> list[str]:
    return table.loc[table["claim"] == claim, "verdict"].tolist()


def only(rows) -> cl.Row:
    table = cl.finish(rows)
    assert len(table) == 1, table
    return table.iloc[0]


# --------------------------------------------------------------------------- accuracy and imbalance


def test_accuracy_claim_supported_contradicted_untestable():
    up = final({("bal", "standard", "uniform", 1.0): 0.60, ("bal", "standard", "biased", 1.0): 0.63})
    row = only(cl.accuracy_claim(up))
    assert row["verdict"] == "supported" and row["effect"] == pytest.approx(0.03) and row["n"] == 5
    assert row["low"] > 0 and row["p_corrected"] < 0.05
    down = final({("bal", "standard", "uniform", 1.0): 0.60, ("bal", "standard", "biased", 1.0): 0.57})
    assert only(cl.accuracy_claim(down))["verdict"] == "contradicted"
    tie = final({("bal", "standard", "uniform", 1.0): 0.60, ("bal", "standard", "biased", 1.0): 0.6005})
    assert only(cl.accuracy_claim(tie))["verdict"] == "not supported"
    none = final({("bal", "standard", "uniform", 1.0): 0.60})
    assert only(cl.accuracy_claim(none))["verdict"] == "not testable"


def imbalance_cells(gain_bal, gain_lt):
    return final({("bal", "standard", "uniform", 1.0): 0.60, ("bal", "standard", "biased", 1.0): 0.60 + gain_bal,
                  ("lt", "standard", "uniform", 1.0): 0.40, ("lt", "standard", "biased", 1.0): 0.40 + gain_lt})


def test_imbalance_interaction_is_the_gain_on_the_long_tailed_set_minus_that_on_its_balanced_original():
    row = only(cl.imbalance_claim(imbalance_cells(0.0, 0.05)))
    assert row["verdict"] == "supported" and row["effect"] == pytest.approx(0.05) and "vs bal" in row["scope"]
    assert only(cl.imbalance_claim(imbalance_cells(0.05, 0.0)))["verdict"] == "contradicted"
    lt_only = imbalance_cells(0.0, 0.05)
    lt_only = lt_only[lt_only["dataset"] == "lt"]
    row = only(cl.imbalance_claim(lt_only))
    assert row["verdict"] == "not testable" and "balanced variant" in row["why"]
    balanced = imbalance_cells(0.0, 0.05)
    assert only(cl.imbalance_claim(balanced[balanced["dataset"] == "bal"]))["verdict"] == "not testable"


# --------------------------------------------------------------------------- speed


def speedup_rows(speedups, reached=None):
    reached = reached if reached is not None else [True] * len(speedups)
    return pd.DataFrame([{"dataset": "bal", "model": "cnn", "augmentation": "standard", "method": "biased",
                          "method_name": "biased", "label": "biased", "budget": 1.0, "seed": s, "unit": u,
                          "target": 0.6, "speedup": v if r else np.nan, "reached": r, "uniform_reached": True}
                         for s, (v, r) in enumerate(zip(speedups, reached)) for u in ("iterations", "wall_clock_seconds")])


def test_speed_claim_on_par_or_faster():
    faster = only(cl.speed_claim(speedup_rows([2.0, 2.2, 1.9, 2.1, 2.05])))
    assert faster["verdict"] == "supported" and faster["low"] > 1 and faster["effect"] == pytest.approx(
        np.exp(np.mean(np.log([2.0, 2.2, 1.9, 2.1, 2.05]))))
    on_par = only(cl.speed_claim(speedup_rows([0.8, 1.3, 0.9, 1.2, 1.0])))
    assert on_par["verdict"] == "supported" and on_par["low"] < 1 < on_par["high"]
    slower = only(cl.speed_claim(speedup_rows([0.5, 0.45, 0.55, 0.5, 0.48])))
    assert slower["verdict"] == "contradicted" and slower["high"] < 1
    missed = only(cl.speed_claim(speedup_rows([1.1, 1.2, 1.0, 1.1, 1.0], [True, True, True, True, False])))
    assert missed["verdict"] == "not supported" and "never reached" in missed["why"] and missed["n"] == 4
    assert only(cl.speed_claim(None))["verdict"] == "not testable"
    assert only(cl.speed_claim(speedup_rows([1.0]).assign(method_name="p_sgd")))["verdict"] == "not testable"


# --------------------------------------------------------------------------- class balance and model dependence


def balance_table(tail_sampling, head_sampling, sizes=(500, 200, 50)):
    n = np.array(sizes, dtype=float)
    rows = []
    for seed, noise in zip(SEEDS, NOISE):
        shares = {0: head_sampling + noise, 2: tail_sampling - noise}
        shares[1] = 1 - shares[0] - shares[2]
        for c, size in enumerate(sizes):
            rows.append({"dataset": "lt", "model": "cnn", "augmentation": "standard", "method": "biased",
                         "method_name": "biased", "budget": 1.0, "seed": seed, "class_index": c, "class": f"c{c}",
                         "n_train": size, "train_share": size / n.sum(), "sampling_share": shares[c]})
    return pd.DataFrame(rows)


def test_balance_claims_head_and_tail():
    # training shares: head 500/750 = 0.667, tail 50/750 = 0.067
    table = cl.finish(cl.balance_claims(balance_table(tail_sampling=0.20, head_sampling=0.45)))
    assert verdicts(table, cl.TAIL) == ["supported"] and verdicts(table, cl.HEAD) == ["supported"]
    tail = table[table["claim"] == cl.TAIL].iloc[0]
    assert tail["effect"] == pytest.approx(0.20 - 50 / 750) and "class c2" in tail["scope"]
    table = cl.finish(cl.balance_claims(balance_table(tail_sampling=0.02, head_sampling=0.80)))
    assert verdicts(table, cl.TAIL) == ["contradicted"] and verdicts(table, cl.HEAD) == ["contradicted"]
    table = cl.finish(cl.balance_claims(balance_table(0.3, 0.35, sizes=(100, 100, 95))))
    assert set(table["verdict"]) == {"not testable"} and "balanced" in table["why"].iloc[0]
    assert set(cl.finish(cl.balance_claims(pd.DataFrame()))["verdict"]) == {"not testable"}


def correlation_table(cross_seed, cross_model, models=("cnn", "resnet18")):
    rows = []
    for i, (ma, sa) in enumerate([(m, s) for m in models for s in SEEDS]):
        for mb, sb in [(m, s) for m in models for s in SEEDS]:
            if (ma, sa) == (mb, sb):
                pair, rho = "same warm-up", 1.0
            elif ma == mb:
                pair, rho = "seed vs seed", cross_seed + NOISE[(sa + sb) % 5]
            else:
                pair, rho = "model vs model", cross_model + NOISE[(sa * 2 + sb) % 5] / 2
            rows.append({"dataset": "lt", "augmentation": "standard", "budget": 1.0, "warmup_epochs": 2,
                         "model_a": ma, "seed_a": sa, "model_b": mb, "seed_b": sb, "pair": pair,
                         "spearman": rho, "spearman_within_class": rho})
    return pd.DataFrame(rows)


def test_model_dependence_within_class():
    row = only(cl.model_claim(correlation_table(0.8, 0.4)))
    assert row["verdict"] == "supported" and row["effect"] == pytest.approx(0.4, abs=0.01) and row["n"] == 5
    assert only(cl.model_claim(correlation_table(0.4, 0.8)))["verdict"] == "contradicted"
    one_model = only(cl.model_claim(correlation_table(0.8, 0.4, models=("cnn",))))
    assert one_model["verdict"] == "not testable" and "one model" in one_model["why"]
    assert only(cl.model_claim(None))["verdict"] == "not testable"


# --------------------------------------------------------------------------- Arazo et al.


def budget_cells(gain_03, gain_05, augs=("standard",), aug_gain=0.0):
    cells = {}
    for aug in augs:
        extra = aug_gain if aug != "standard" else 0.0
        for budget, gain in ((0.3, gain_03), (0.5, gain_05), (1.0, 0.0)):
            base = {0.3: 0.50, 0.5: 0.55, 1.0: 0.60}[budget] + extra
            cells[("bal", aug, "uniform", budget)] = base
            cells[("bal", aug, "p_sgd", budget)] = base + gain
    return final(cells)


def test_no_consistent_gain_under_a_budget():
    row = only(cl.no_gain_claim(budget_cells(0.0005, -0.001)))
    assert row["verdict"] == "supported" and "0 of 2" in row["why"]
    row = only(cl.no_gain_claim(budget_cells(0.05, 0.04)))
    assert row["verdict"] == "contradicted" and "2 of 2" in row["why"] and row["effect"] == pytest.approx(0.05)
    row = only(cl.no_gain_claim(budget_cells(0.05, 0.0005)))
    assert row["verdict"] == "not supported" and "p_sgd@0.3" in row["why"]
    full_only = budget_cells(0.0, 0.0)
    assert only(cl.no_gain_claim(full_only[full_only["budget"] == 1.0]))["verdict"] == "not testable"


def spread(cells: pd.DataFrame, augmentation: str, by_seed=(0.004, -0.003, -0.001)) -> pd.DataFrame:
    """Seed-to-seed spread in one augmentation's uniform cells: an effect identical in every seed has no spread,
    and stats.paired then gives only the sign test's 0.25 for 3 seeds (never significant)."""
    cells = cells.copy()
    for seed, delta in zip(SEEDS, by_seed):
        rows = (cells["augmentation"] == augmentation) & (cells["method"] == "uniform") & (cells["seed"] == seed)
        cells.loc[rows, "final_test_accuracy"] += delta
    return cells


def test_augmentation_gains_more_than_importance_sampling():
    gain, _ = cl.augmentation_claims(spread(budget_cells(0.0, 0.0, augs=("standard", "mixup"), aug_gain=0.05), "mixup"))
    table = cl.finish(gain)
    assert len(table) == 3 and set(table["verdict"]) == {"supported"}  # p_sgd at budgets 0.3, 0.5, 1.0
    assert table["effect"].tolist() == pytest.approx([0.05] * 3)
    gain, _ = cl.augmentation_claims(spread(budget_cells(0.05, 0.05, augs=("standard", "mixup"), aug_gain=-0.05), "mixup"))
    assert set(cl.finish(gain)["verdict"]) == {"contradicted"}
    gain, short = cl.augmentation_claims(budget_cells(0.0, 0.0))
    assert only(gain)["verdict"] == only(short)["verdict"] == "not testable"
    assert "one augmentation" in only(gain)["why"]


def test_uniform_with_augmentation_at_30_percent_against_standard_at_100():
    # uniform mixup@0.3 = 0.50 + gain against standard@1.0 = 0.60
    _, short = cl.augmentation_claims(budget_cells(0.0, 0.0, augs=("standard", "mixup"), aug_gain=0.12))
    row = only(short)
    assert row["verdict"] == "supported" and row["effect"] == pytest.approx(0.02)
    _, short = cl.augmentation_claims(budget_cells(0.0, 0.0, augs=("standard", "mixup"), aug_gain=0.0))
    assert only(short)["verdict"] == "contradicted"
    no_30 = budget_cells(0.0, 0.0, augs=("standard", "mixup"), aug_gain=0.12)
    _, short = cl.augmentation_claims(no_30[no_30["budget"] != 0.3])
    assert only(short)["verdict"] == "not testable" and "budget 0.3" in only(short)["why"]


# --------------------------------------------------------------------------- the table


def test_holm_is_applied_across_the_rows_of_one_claim():
    rows = cl.accuracy_claim(final({("bal", "standard", "uniform", 1.0): 0.60, ("bal", "standard", "biased", 1.0): 0.603,
                                    ("lt", "standard", "uniform", 1.0): 0.40, ("lt", "standard", "biased", 1.0): 0.45}))
    table = cl.finish(rows)
    raw = table["p"].to_numpy()
    np.testing.assert_allclose(table["p_corrected"], cl.holm(raw))


def test_claims_files_from_a_summary_folder(tmp_path):
    f = imbalance_cells(0.0, 0.05)
    f.to_csv(tmp_path / "final.csv", index=False)
    table = cl.write_claims(str(tmp_path))
    assert list(table.columns) == cl.COLUMNS
    assert set(table["claim"]) >= {cl.SPEED, cl.ACCURACY, cl.IMBALANCE, cl.TAIL, cl.HEAD, cl.MODEL, cl.NO_GAIN,
                                   cl.AUG_GAIN, cl.AUG_30}
    assert verdicts(table, cl.IMBALANCE) == ["supported"] and verdicts(table, cl.MODEL) == ["not testable"]
    md = (tmp_path / "claims.md").read_text()
    assert "| Quercia et al. 2023 | " + cl.IMBALANCE in md and "**supported**" in md
    assert pd.read_csv(tmp_path / "claims.csv")["verdict"].tolist() == table["verdict"].tolist()

"""Each claim's verdict on small synthetic tables built to support it, to contradict it, and to leave it untestable."""

import json

import numpy as np
import pandas as pd
import pytest

from sample_importance.analysis import claims as cl
from sample_importance.analysis.stats import holm
from sample_importance.analysis.verdicts import Margins

M = Margins()  # the schema's defaults: 0.5 accuracy points, speedup 0.9
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


def only(rows, margins=None) -> cl.Row:
    table = cl.finish(rows, margins or M)
    assert len(table) == 1, table
    return table.iloc[0]


# --------------------------------------------------------------------------- accuracy and imbalance


def test_accuracy_claim_supported_contradicted_untestable():
    up = final({("bal", "standard", "uniform", 1.0): 0.60, ("bal", "standard", "biased", 1.0): 0.63})
    row = only(cl.accuracy_claim(up, M))
    assert row["verdict"] == "supported" and row["effect"] == pytest.approx(3.0) and row["n"] == 5  # points
    assert row["low"] > 0 and row["p_support"] < 0.05 and row["unit"] == "points" and row["margin"] == 0.5
    down = final({("bal", "standard", "uniform", 1.0): 0.60, ("bal", "standard", "biased", 1.0): 0.57})
    assert only(cl.accuracy_claim(down, M))["verdict"] == "contradicted"
    tie = final({("bal", "standard", "uniform", 1.0): 0.60, ("bal", "standard", "biased", 1.0): 0.6005})
    uniform = tie["method"] == "uniform"
    tie.loc[~uniform, "final_test_accuracy"] = (tie.loc[uniform, "final_test_accuracy"].to_numpy() + 0.0005
                                                + np.array([2, -1, 0, 1, -2]) * 1e-4)
    row = only(cl.accuracy_claim(tie, M))  # +0.05 points, shown below the 0.5-point margin: no gain that matters
    assert row["verdict"] == "contradicted" and row["p_contradict"] < 0.05
    noisy = final({("bal", "standard", "uniform", 1.0): 0.60, ("bal", "standard", "biased", 1.0): 0.6005})
    noisy.loc[noisy["method"] == "biased", "final_test_accuracy"] += [0.03, -0.02, 0.01, -0.03, 0.02]
    row = only(cl.accuracy_claim(noisy, M))  # a wide spread: inconclusive, saying what would settle it
    assert row["verdict"] == "inconclusive" and "seeds would detect the margin" in row["why"]
    assert row["mde"] > 0.5 and row["seeds_needed"] > 5
    none = final({("bal", "standard", "uniform", 1.0): 0.60})
    assert only(cl.accuracy_claim(none, M))["verdict"] == "not testable"


def imbalance_cells(gain_bal, gain_lt):
    return final({("bal", "standard", "uniform", 1.0): 0.60, ("bal", "standard", "biased", 1.0): 0.60 + gain_bal,
                  ("lt", "standard", "uniform", 1.0): 0.40, ("lt", "standard", "biased", 1.0): 0.40 + gain_lt})


def test_imbalance_interaction_is_the_gain_on_the_long_tailed_set_minus_that_on_its_balanced_original():
    row = only(cl.imbalance_claim(imbalance_cells(0.0, 0.05), M))
    assert row["verdict"] == "supported" and row["effect"] == pytest.approx(5.0) and "vs bal" in row["scope"]
    assert only(cl.imbalance_claim(imbalance_cells(0.05, 0.0), M))["verdict"] == "contradicted"
    lt_only = imbalance_cells(0.0, 0.05)
    lt_only = lt_only[lt_only["dataset"] == "lt"]
    row = only(cl.imbalance_claim(lt_only, M))
    assert row["verdict"] == "not testable" and "balanced variant" in row["why"]
    balanced = imbalance_cells(0.0, 0.05)
    assert only(cl.imbalance_claim(balanced[balanced["dataset"] == "bal"], M))["verdict"] == "not testable"


# --------------------------------------------------------------------------- speed


def speedup_rows(speedups, reached=None, uniform_reached=None, bound=0.5):
    """Per-seed speedups; a seed where one side missed the target carries `bound` as its censored bound."""
    reached = reached if reached is not None else [True] * len(speedups)
    uniform_reached = uniform_reached if uniform_reached is not None else [True] * len(speedups)
    rows = []
    for s, (v, r, u_r) in enumerate(zip(speedups, reached, uniform_reached)):
        low, high = (v, v) if r and u_r else ((0.0, bound) if u_r else (bound, np.inf))
        for u in ("iterations", "wall_clock_seconds"):
            rows.append({"dataset": "bal", "model": "cnn", "augmentation": "standard", "method": "biased",
                         "method_name": "biased", "label": "biased", "budget": 1.0, "seed": s, "unit": u,
                         "target": 0.6, "speedup": v if r and u_r else np.nan, "speedup_low": low,
                         "speedup_high": high, "reached": r, "uniform_reached": u_r, "log_resolution": 0.0})
    return pd.DataFrame(rows)


def test_speed_claim_on_par_or_faster():
    faster = only(cl.speed_claim(speedup_rows([2.0, 2.2, 1.9, 2.1, 2.05]), M))
    assert faster["verdict"] == "supported" and faster["low"] > 1 and faster["effect"] == pytest.approx(
        np.exp(np.mean(np.log([2.0, 2.2, 1.9, 2.1, 2.05]))))
    slower = only(cl.speed_claim(speedup_rows([0.5, 0.45, 0.55, 0.5, 0.48]), M))
    assert slower["verdict"] == "contradicted" and slower["high"] < 0.9
    assert only(cl.speed_claim(None, M))["verdict"] == "not testable"
    assert only(cl.speed_claim(speedup_rows([1.0]).assign(method_name="p_sgd"), M))["verdict"] == "not testable"


def test_parity_is_never_supported_by_a_test_that_found_nothing():
    """The issue's cases: 0.62x [0.26, 1.48] at n = 3 is inconclusive; a speedup whose interval lies inside
    [0.9, 1/0.9] at n = 10 is supported (non-inferiority against the margin)."""
    wide = speedup_rows(np.exp(np.log(0.62) + np.array([-0.35, 0.0, 0.35])))
    row = only(cl.speed_claim(wide, M))
    assert row["effect"] == pytest.approx(0.62) and row["low"] < 0.3 and row["high"] > 1.4
    assert row["verdict"] == "inconclusive" and "seeds would detect the margin" in row["why"]
    tight = speedup_rows(np.exp(np.linspace(-0.04, 0.04, 10)))
    row = only(cl.speed_claim(tight, M))
    assert 0.9 < row["low"] < row["high"] < 1 / 0.9 and row["n"] == 10
    assert row["verdict"] == "supported"


def test_censored_seeds_are_kept_at_their_bound_where_it_is_conservative():
    # biased never reached in one seed: no lower bound on its speedup, so parity cannot be shown
    missed = only(cl.speed_claim(speedup_rows([1.1, 1.2, 1.0, 1.1, 1.0], reached=[True] * 4 + [False]), M))
    assert missed["verdict"] == "inconclusive" and "never reached" in missed["why"]
    # ... but a slow method is contradicted with the bound included (its true speedup is even lower)
    slow = only(cl.speed_claim(speedup_rows([0.5, 0.45, 0.55, 0.5, 0.5], reached=[True] * 4 + [False], bound=0.5), M))
    assert slow["verdict"] == "contradicted" and slow["n"] == 5
    # uniform never reached in one seed: a lower bound, enough to show a fast method on par or faster
    fast = only(cl.speed_claim(speedup_rows([2.0, 2.2, 1.9, 2.1, 2.0], uniform_reached=[True] * 4 + [False],
                                            bound=1.8), M))
    assert fast["verdict"] == "supported" and fast["n"] == 5


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
    assert table["margin"].tolist() == [0.0, 0.0]  # shares have no declared margin: contradicted = significantly < 0
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
    wide = Margins(accuracy=0.02)  # 2 points: these 5 seeds' spread (about 0.5 points) can show gains below it
    row = only(cl.no_gain_claim(budget_cells(0.0005, -0.001), wide), wide)
    assert row["verdict"] == "supported" and "2 of 2 comparisons shown below the margin" in row["why"]
    assert only(cl.no_gain_claim(budget_cells(0.0005, -0.001), M))["verdict"] == "inconclusive"  # not at 0.5
    row = only(cl.no_gain_claim(budget_cells(0.05, 0.04), M))
    assert row["verdict"] == "contradicted" and "2 shown as gains" in row["why"] and row["effect"] == pytest.approx(5.0)
    row = only(cl.no_gain_claim(budget_cells(0.05, 0.0005), M))
    assert row["verdict"] == "contradicted" and "p_sgd@0.3" in row["why"]
    full_only = budget_cells(0.0, 0.0)
    assert only(cl.no_gain_claim(full_only[full_only["budget"] == 1.0], M))["verdict"] == "not testable"


def many_true_gains(n_seeds: int, comparisons: int = 30, gain: float = 0.01, sd: float = 0.005) -> pd.DataFrame:
    """`comparisons` method-budget cells, each truly `gain` above uniform, paired seed noise of `sd`."""
    rng = np.random.default_rng(n_seeds)
    rows = []
    for k in range(comparisons):
        budget = 0.1 + 0.8 * (k % 3) / 3
        method = f"m{k // 3}"
        for seed in range(n_seeds):
            base = 0.6 + rng.normal(0, 0.01)
            for label, acc in (("uniform", base), (method, base + gain + rng.normal(0, sd))):
                rows.append({"dataset": "bal", "model": "cnn", "augmentation": "standard", "method": label,
                             "method_name": label, "budget": round(budget, 3), "seed": seed,
                             "final_test_accuracy": acc, "n_test": 10_000})
    return pd.DataFrame(rows).drop_duplicates(["method", "budget", "seed"])


def test_thirty_true_one_point_gains_never_support_no_gain_and_contradict_it_at_ten_seeds():
    """More comparisons must make 'no consistent gain' harder to support, not easier."""
    for n in (3, 10):
        row = only(cl.no_gain_claim(many_true_gains(n), M))
        assert row["verdict"] != "supported", n
    assert only(cl.no_gain_claim(many_true_gains(10), M))["verdict"] == "contradicted"


def spread(cells: pd.DataFrame, augmentation: str, by_seed=(0.004, -0.003, -0.001)) -> pd.DataFrame:
    """Seed-to-seed spread in one augmentation's uniform cells: an effect identical in every seed has no spread,
    and stats.paired then gives only the sign test's 0.25 for 3 seeds (never significant)."""
    cells = cells.copy()
    for seed, delta in zip(SEEDS, by_seed):
        rows = (cells["augmentation"] == augmentation) & (cells["method"] == "uniform") & (cells["seed"] == seed)
        cells.loc[rows, "final_test_accuracy"] += delta
    return cells


def test_augmentation_gains_more_than_importance_sampling():
    gain, _ = cl.augmentation_claims(spread(budget_cells(0.0, 0.0, augs=("standard", "mixup"), aug_gain=0.05), "mixup"),
                                     M)
    table = cl.finish(gain, M)
    assert len(table) == 3 and set(table["verdict"]) == {"supported"}  # p_sgd at budgets 0.3, 0.5, 1.0
    assert table["effect"].tolist() == pytest.approx([5.0] * 3)
    gain, _ = cl.augmentation_claims(spread(budget_cells(0.05, 0.05, augs=("standard", "mixup"), aug_gain=-0.05),
                                            "mixup"), M)
    assert set(cl.finish(gain)["verdict"]) == {"contradicted"}
    gain, short = cl.augmentation_claims(budget_cells(0.0, 0.0), M)
    assert only(gain)["verdict"] == only(short)["verdict"] == "not testable"
    assert "one augmentation" in only(gain)["why"]


def test_uniform_with_augmentation_at_30_percent_against_standard_at_100():
    # uniform mixup@0.3 = 0.50 + gain against standard@1.0 = 0.60
    _, short = cl.augmentation_claims(budget_cells(0.0, 0.0, augs=("standard", "mixup"), aug_gain=0.12), M)
    row = only(short)
    assert row["verdict"] == "supported" and row["effect"] == pytest.approx(2.0)
    _, short = cl.augmentation_claims(budget_cells(0.0, 0.0, augs=("standard", "mixup"), aug_gain=0.0), M)
    assert only(short)["verdict"] == "contradicted"
    no_30 = budget_cells(0.0, 0.0, augs=("standard", "mixup"), aug_gain=0.12)
    _, short = cl.augmentation_claims(no_30[no_30["budget"] != 0.3], M)
    assert only(short)["verdict"] == "not testable" and "budget 0.3" in only(short)["why"]


# --------------------------------------------------------------------------- the table


def test_holm_is_applied_across_the_rows_of_one_claim():
    cells = final({("bal", "standard", "uniform", 1.0): 0.60, ("bal", "standard", "biased", 1.0): 0.603,
                   ("lt", "standard", "uniform", 1.0): 0.40, ("lt", "standard", "biased", 1.0): 0.45})
    raw = [r.support.p_greater(0.0) for r in cl.accuracy_claim(cells, M)]
    table = cl.finish(cl.accuracy_claim(cells, M), M)
    np.testing.assert_allclose(table["p_support"], holm(raw))


def test_claims_files_from_a_summary_folder(tmp_path):
    f = imbalance_cells(0.0, 0.05)
    f.to_csv(tmp_path / "final.csv", index=False)
    table = cl.write_claims(str(tmp_path))
    assert list(table.columns) == cl.COLUMNS
    assert set(table["claim"]) >= {cl.SPEED, cl.ACCURACY, cl.IMBALANCE, cl.TAIL, cl.HEAD, cl.MODEL, cl.NO_GAIN,
                                   cl.AUG_GAIN, cl.AUG_30}
    assert verdicts(table, cl.IMBALANCE) == ["supported"] and verdicts(table, cl.MODEL) == ["not testable"]
    md = (tmp_path / "claims.md").read_text()
    line = next(x for x in md.splitlines() if cl.IMBALANCE in x)
    assert line.startswith("| Quercia et al. 2023") and "**supported**" in line and "| points" in line
    assert pd.read_csv(tmp_path / "claims.csv")["verdict"].tolist() == table["verdict"].tolist()

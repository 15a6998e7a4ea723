"""Long-tail metrics (analysis/longtail.py) on a fixed prediction table, against hand counts."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sample_importance.analysis.longtail import check_thresholds, longtail_accuracies, shot_groups

# 7 classes, 20 test images each; training counts on both sides of the default thresholds (> 100, < 20)
N_TRAIN = [500, 150, 101, 100, 20, 19, 5]
CORRECT = [19, 18, 15, 12, 10, 4, 1]  # of 20 test images per class


def table() -> pd.DataFrame:
    return pd.DataFrame({"class_index": range(7), "class": list("abcdefg"), "n_train": N_TRAIN, "n_test": 20,
                         "test_accuracy": [c / 20 for c in CORRECT]})


def test_groups_by_training_count_with_the_literature_thresholds():
    assert shot_groups(N_TRAIN).tolist() == ["many", "many", "many", "medium", "medium", "few", "few"]
    assert shot_groups(N_TRAIN, {"many": 19, "few": 6}).tolist() == ["many"] * 5 + ["medium", "few"]


def test_balanced_and_shot_accuracies_equal_hand_counts():
    got = longtail_accuracies(table())
    assert got["balanced_accuracy"] == pytest.approx(79 / 140)  # (19+18+15+12+10+4+1) / (7 * 20)
    assert got["many_shot_accuracy"] == pytest.approx(52 / 60)  # 19 + 18 + 15 of 60
    assert got["medium_shot_accuracy"] == pytest.approx(22 / 40)  # 12 + 10 of 40
    assert got["few_shot_accuracy"] == pytest.approx(5 / 40)  # 4 + 1 of 40
    assert (got["many_shot_classes"], got["medium_shot_classes"], got["few_shot_classes"]) == (3, 2, 2)


def test_an_empty_group_is_nan_not_zero():
    got = longtail_accuracies(table().iloc[:3])  # only many-shot classes (CIFAR-10-LT at ratio 100 has no few-shot)
    assert math.isnan(got["few_shot_accuracy"]) and math.isnan(got["medium_shot_accuracy"])
    assert got["few_shot_classes"] == 0 and got["many_shot_accuracy"] == pytest.approx(52 / 60)


def test_thresholds_are_checked():
    assert check_thresholds(None) == {"many": 100, "few": 20}
    with pytest.raises(ValueError, match="few <= many"):
        check_thresholds({"many": 10, "few": 20})


def test_final_and_methods_tables_carry_the_shot_columns(tmp_path):
    """Two tiny long-tailed runs through aggregate: final.csv's columns equal the formula on each per_class.csv."""
    import json

    from sample_importance import steps
    from sample_importance.analysis.aggregate import aggregate
    from sample_importance.config import validate
    from sample_importance.grid import expand
    from conftest import TINY

    data_path = tmp_path / "digits_lt.pt"
    source = {"source": "digits", "imbalance": {"kind": "long_tailed", "ratio": 10}}
    steps.prepare_data("digits_lt", source, str(data_path))
    config = validate(json.loads(json.dumps({**TINY, "datasets": {"digits_lt": source}, "seeds": [0, 1],
                                             "methods": {"uniform": {"method": "uniform"}},
                                             "output": {"results": str(tmp_path)}})))
    folders = []
    for spec in expand(config).runs.values():
        folders.append(tmp_path / f"run{spec['seed']}")
        steps.train(spec, str(data_path), str(folders[-1]), progress=False)
    tables = aggregate([str(f) for f in folders], str(tmp_path / "summary"), shot_thresholds={"many": 60, "few": 20})
    final = pd.read_csv(tmp_path / "summary" / "final.csv").sort_values("seed")
    for folder, (_, row) in zip(folders, final.iterrows()):
        hand = longtail_accuracies(pd.read_csv(folder / "per_class.csv"), {"many": 60, "few": 20})
        # digits at ratio 10: 142 ... 14 training images: 4 many-shot (> 60), 4 medium, 2 few-shot (18, 14)
        assert (hand["many_shot_classes"], hand["few_shot_classes"]) == (4, 2)
        for column in ("balanced_accuracy", "many_shot_accuracy", "medium_shot_accuracy", "few_shot_accuracy"):
            assert row[column] == pytest.approx(hand[column], abs=1e-9), column  # the CSV keeps 10 digits
    methods = tables["methods"]
    assert methods["few_shot_mean"].iloc[0] == pytest.approx(final["few_shot_accuracy"].mean())


def test_config_refuses_overlapping_shot_thresholds():
    import copy

    from conftest import TINY
    from sample_importance.config import ConfigError, validate

    config = copy.deepcopy(TINY)
    config["analysis"] = {"shot_thresholds": {"many": 10, "few": 20}}
    with pytest.raises(ConfigError, match="few <= many"):
        validate(config)
    config["analysis"] = {"shot_thresholds": {"many": 100, "few": 20}}
    assert validate(config)["analysis"]["shot_thresholds"] == {"many": 100, "few": 20}


def test_long_tail_figure_draws_each_shot_group_with_its_floored_interval():
    """The figure's bars are the final table's group means, and a group measured on fewer test images has the
    wider floor (the few-shot group here: 2 of 10 classes' test images)."""
    import matplotlib

    matplotlib.use("Agg")
    from sample_importance.figures.plots import Style
    from sample_importance.figures.plots_longtail import _long, long_tail_figure

    rows = [{"dataset": "lt", "model": "cnn", "augmentation": "crop", "method": m, "method_name": m, "budget": 1.0,
             "seed": s, "final_test_accuracy": 0.5, "balanced_accuracy": 0.5, "many_shot_accuracy": 0.7,
             "medium_shot_accuracy": 0.4, "few_shot_accuracy": 0.1 if m == "uniform" else 0.3, "many_shot_classes": 4,
             "medium_shot_classes": 4, "few_shot_classes": 2, "n_test": 10_000, "commit": "abc", "config_hash": "h"}
            for m in ("uniform", "class_balanced") for s in range(3)]
    final = pd.DataFrame(rows)
    long = _long(final)
    few = long[(long["group"] == "few-shot") & (long["method"] == "class_balanced")]
    assert few["acc"].tolist() == pytest.approx([30.0] * 3) and few["group_test"].tolist() == [2000.0] * 3
    fig = long_tail_figure(final, Style(final))
    heights = sorted(round(p.get_height(), 6) for p in fig.axes[0].patches if p.get_height() > 0)
    assert heights == sorted([50.0, 50.0, 70.0, 40.0, 10.0] * 1 + [50.0, 50.0, 70.0, 40.0, 30.0])

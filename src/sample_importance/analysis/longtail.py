"""Long-tail metrics of one run, from its per_class.csv: balanced accuracy and accuracy by shot group.

The long-tail literature splits the classes by their training count (Liu et al.,
CVPR 2019 "Large-scale long-tailed recognition in an open world"; Kang et al.,
ICLR 2020): many-shot (more than `many` training images), few-shot (fewer than
`few`), medium-shot (the rest), and reports each group's accuracy beside the
overall one. Here a group's accuracy is the mean of its classes' test accuracies
(each class counts once, as in balanced accuracy; on the balanced CIFAR test
sets this equals the group's pooled accuracy). A group without classes is NaN:
on CIFAR-10-LT at ratio 100 (5000 ... 50 images) there are no few-shot classes
under the default thresholds, which the table then says rather than hides.
Thresholds: config `analysis.shot_thresholds` (defaults many 100, few 20).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DEFAULT_SHOT_THRESHOLDS = {"many": 100, "few": 20}
GROUPS = ("many", "medium", "few")
SHOT_COLUMNS = tuple(f"{g}_shot_accuracy" for g in GROUPS)
SHOT_CLASS_COLUMNS = tuple(f"{g}_shot_classes" for g in GROUPS)


def check_thresholds(thresholds: dict | None) -> dict:
    t = {**DEFAULT_SHOT_THRESHOLDS, **(thresholds or {})}
    if not 1 <= int(t["few"]) <= int(t["many"]):
        raise ValueError(f"analysis.shot_thresholds: need 1 <= few <= many (few-shot: fewer than `few` training "
                         f"images, many-shot: more than `many`), got {t}")
    return {"many": int(t["many"]), "few": int(t["few"])}


def shot_groups(n_train, thresholds: dict | None = None) -> np.ndarray:
    """'many', 'medium' or 'few' per class from its training count."""
    t = check_thresholds(thresholds)
    n = np.asarray(n_train)
    return np.where(n > t["many"], "many", np.where(n < t["few"], "few", "medium"))


def longtail_accuracies(per_class: pd.DataFrame, thresholds: dict | None = None) -> dict:
    """balanced_accuracy, {many,medium,few}_shot_accuracy and the classes in each group, from one run's per_class table."""
    acc = per_class["test_accuracy"].to_numpy(dtype=np.float64)
    groups = shot_groups(per_class["n_train"], thresholds)
    out = {"balanced_accuracy": float(acc.mean())}
    for g, column, count in zip(GROUPS, SHOT_COLUMNS, SHOT_CLASS_COLUMNS):
        chosen = groups == g
        out[column] = float(acc[chosen].mean()) if chosen.any() else np.nan
        out[count] = int(chosen.sum())
    return out


def images_measured(final: pd.DataFrame, metric: str) -> pd.Series:
    """Per run (final.csv row): how many test images `metric` is measured on, the n of its binomial error.

    A shot group's accuracy is measured on its classes' share of the test set (the test set of the long-tail
    benchmarks is balanced: each class has n_test / classes images); every other accuracy on all of it.
    """
    n = final["n_test"].astype(float)
    group = metric.removesuffix("_accuracy")
    if group.endswith("_shot") and all(c in final for c in SHOT_CLASS_COLUMNS):
        n = n * final[f"{group}_classes"] / final[list(SHOT_CLASS_COLUMNS)].sum(axis=1)
    return n

"""Class counts of imbalanced training splits.

Kept free of torch so the workflow can check a config (e.g. "a class left with
zero samples") at start-up, before any job runs.
"""

from __future__ import annotations

import math

KINDS = ("none", "long_tailed", "step")


def class_counts(counts: list[int], kind: str, ratio: float, step_fraction: float = 0.5) -> list[int]:
    """Target number of training samples per class after imbalance.

    `counts` are the available samples per class (a balanced set in the papers).
    long_tailed: n_c = floor(n_max * ratio ** (-c / (C - 1))) (Cui et al. 2019, Cao et al. 2019).
    step: the last round(step_fraction * C) classes keep floor(n_max / ratio) (Buda et al. 2018).
    Never more than a class has, so an already unbalanced source stays valid.
    """
    n_classes = len(counts)
    n_max = max(counts)
    if kind == "none" or ratio == 1:
        return list(counts)
    if kind == "long_tailed":
        if n_classes == 1:
            return list(counts)
        target = [math.floor(n_max * ratio ** (-c / (n_classes - 1))) for c in range(n_classes)]
    elif kind == "step":
        n_minor = round(step_fraction * n_classes)
        target = [n_max] * (n_classes - n_minor) + [math.floor(n_max / ratio)] * n_minor
    else:
        raise ValueError(f"unknown imbalance kind {kind!r}; valid: {', '.join(KINDS)}")
    return [min(t, c) for t, c in zip(target, counts)]


def stratified_subset_counts(counts: list[int], total: int) -> list[int]:
    """Per-class counts of a class-stratified subset of `total` samples.

    Largest-remainder rounding, so the counts sum exactly to `total`.
    """
    n = sum(counts)
    if total <= 0 or total >= n:
        return list(counts)
    exact = [c * total / n for c in counts]
    floor = [math.floor(e) for e in exact]
    rest = total - sum(floor)
    order = sorted(range(len(counts)), key=lambda i: (floor[i] - exact[i], i))
    for i in order[:rest]:
        floor[i] += 1
    return floor

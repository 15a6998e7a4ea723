"""Importance of each training sample from the statistics recorded during training.

All functions take the recorded arrays [epochs, n] (NaN where a sample was not
seen in an epoch) and return one non-negative score per sample, in float64
numpy so that the warm-up -> score -> continue split reproduces the one-process
run to the last bit.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd


def _nanmean(a: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: handled by _fill_unseen
        return np.nanmean(a, axis=0)


def _fill_unseen(score: np.ndarray) -> np.ndarray:
    """A sample never seen gets the largest score: unknown is treated as important (as Arazo et al. do)."""
    seen = ~np.isnan(score)
    fill = score[seen].max() if seen.any() else 1.0
    return np.where(seen, score, fill)


def one_minus_p(rec) -> np.ndarray:
    """Mean over epochs of 1 - p_true (Quercia et al.'s default)."""
    return _nanmean(1.0 - rec["p_true"])


def loss(rec) -> np.ndarray:
    """Mean over epochs of the cross-entropy -log p_true."""
    return _nanmean(-np.log(np.clip(rec["p_true"], 1e-12, 1.0)))


def el2n(rec) -> np.ndarray:
    """Mean over epochs of ||softmax - one_hot||_2 (Paul et al. 2021)."""
    sq = np.clip(1.0 - 2.0 * rec["p_true"] + rec["sumsq"], 0.0, None)
    return _nanmean(np.sqrt(sq))


def variance(rec) -> np.ndarray:
    """Variance of p_true over epochs (Chang et al. 2017, Active Bias): uncertain samples score high."""
    p = rec["p_true"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanvar(p, axis=0) if len(p) > 1 else np.zeros(p.shape[1])


def forgetting(rec) -> np.ndarray:
    """Forgetting events (Toneva et al. 2019): correct at one seen epoch, wrong at the next seen one.

    A sample never classified correctly counts as forgotten at every epoch (it is
    the hardest kind, as in the paper's "never learned" rule).
    """
    correct = rec["margin"] > 0
    seen = ~np.isnan(rec["margin"])
    n_epochs, n = correct.shape
    events = np.zeros(n)
    last = np.full(n, -1)  # -1 unseen, 0 wrong, 1 correct at the last epoch it was seen
    for e in range(n_epochs):
        now = np.where(correct[e], 1, 0)
        events += (seen[e] & (last == 1) & (now == 0))
        last = np.where(seen[e], now, last)
    ever = (correct & seen).any(axis=0)
    events = np.where(ever, events, float(n_epochs))
    return np.where(seen.any(axis=0), events, np.nan)


def margin(rec) -> np.ndarray:
    """Mean over epochs of (1 - margin) / 2 in [0, 1]: 0 for a confident correct, 1 for a confident wrong prediction."""
    return _nanmean((1.0 - rec["margin"]) / 2.0)


METRICS = {f.__name__: f for f in (one_minus_p, loss, el2n, variance, forgetting, margin)}


def score(rec: dict[str, np.ndarray], metric: str = "one_minus_p") -> np.ndarray:
    if metric not in METRICS:
        raise ValueError(f"unknown importance metric {metric!r}; valid: {', '.join(METRICS)}")
    return np.clip(_fill_unseen(METRICS[metric](rec)), 0.0, None)


def sampling_probabilities(scores: np.ndarray, smoothing: float) -> np.ndarray:
    """w + smoothing * mean(w), normalised: every sample keeps a chance of being drawn."""
    w = np.asarray(scores, dtype=np.float64)
    mean = w.mean()
    w = w + smoothing * mean if mean > 0 else np.ones_like(w)
    return w / w.sum()


def class_table(probabilities: np.ndarray, labels: np.ndarray, classes: list[str], scores: np.ndarray | None = None) -> pd.DataFrame:
    """Per class: training share, balanced share and the share of the sampling distribution (DESIGN.md 'class balance')."""
    n_classes = len(classes)
    counts = np.bincount(labels, minlength=n_classes)
    mass = np.bincount(labels, weights=probabilities, minlength=n_classes)
    table = pd.DataFrame({
        "class_index": np.arange(n_classes),
        "class": classes,
        "n_train": counts,
        "train_share": counts / counts.sum(),
        "balanced_share": np.full(n_classes, 1.0 / n_classes),
        "sampling_share": mass / mass.sum(),
    })
    if scores is not None:
        table["mean_score"] = np.bincount(labels, weights=scores, minlength=n_classes) / np.maximum(counts, 1)
    return table

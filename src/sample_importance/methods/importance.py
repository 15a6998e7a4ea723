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
    """Active Bias's prediction-variance score (Chang et al., NeurIPS 2017): uncertain samples score high.

    Their SGD-SPV / SGD-WPV weight is not the variance but a confidence-corrected
    standard deviation of p_true over the sample's history H of seen epochs:

        std_conf = sqrt(var + var**2 / (|H| - 1)),   var = population variance of p_true over H

    (a small-sample correction: the shorter the history, the more a measured
    spread is raised, so a few lucky epochs do not make a sample look certain).
    Formula and ddof=0 as in the paper's public (unofficial; the authors released
    none) implementation songhwanjun/ActiveBias, src/method/active_bias_sampler.py,
    Sampler.compute_sample_weights. A sample
    seen once has no spread to measure: 0 (the reference divides by zero there);
    never seen: NaN, filled by `score` like every metric. Active Bias's additive
    constant (its `smoothness`) is not part of the score: the smoothing of
    `sampling_probabilities` plays that role.
    """
    p = rec["p_true"]
    seen = (~np.isnan(p)).sum(axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: NaN, filled by _fill_unseen
        var = np.nanvar(p, axis=0)
        corrected = np.sqrt(var + var**2 / np.maximum(seen - 1, 1))
    return np.where(seen > 1, corrected, np.where(seen == 1, 0.0, np.nan))


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
    """w + smoothing * mean(w), normalised: every sample keeps a chance of being drawn.

    The smoothing decides how far the draws leave uniform: it puts a share
    smoothing / (1 + smoothing) of all draws on a uniform floor (a third at 0.5),
    and bounds the max/min probability ratio by (max(w)/mean(w) + smoothing) /
    smoothing. `sampling_flatness` measures the result. All-zero scores: uniform.
    """
    w = np.asarray(scores, dtype=np.float64)
    mean = w.mean()
    w = w + smoothing * mean if mean > 0 else np.ones_like(w)
    return w / w.sum()


FLATNESS_COLUMNS = ("max_min_ratio", "ess_fraction", "top10_share")


def sampling_flatness(probabilities: np.ndarray, top: float = 0.1) -> dict[str, float]:
    """How far a sampling distribution is from uniform, in three numbers a reader can check.

    max_min_ratio: most over least likely sample (1 = uniform; inf when a sample
    can never be drawn). ess_fraction: Kish's effective sample size 1 / sum(p^2),
    as a fraction of N (1 = uniform; 1/N = one sample gets every draw).
    top10_share: probability on the `top` (10 %) most likely samples (0.1 = uniform).
    """
    p = np.asarray(probabilities, dtype=np.float64)
    p = p / p.sum()
    k = max(1, int(np.ceil(top * len(p))))
    with np.errstate(divide="ignore"):
        ratio = p.max() / p.min() if p.min() > 0 else np.inf
    return {"max_min_ratio": float(ratio), "ess_fraction": float(1.0 / (len(p) * np.sum(p**2))),
            "top10_share": float(np.sort(p)[-k:].sum())}


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

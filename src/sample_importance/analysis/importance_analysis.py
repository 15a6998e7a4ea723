"""What the warm-up's importance looks like: easy/hard samples, model dependence, agreement, stability.

Everything here is computed from the warm-up records (per-sample, per-epoch
p_true, margin, sumsq of the training forward passes; records.py), so it costs
no training and no extra forward pass:

- easy / hard samples: per class, the k samples of lowest and highest importance;
- model dependence: Spearman rank correlation of the importance between every
  pair of warm-ups of one dataset that share augmentation, budget and warm-up
  length (seed vs seed of one model, model vs model);
- agreement: rank correlation of the paper's importance (mean 1 - p_true) with
  the other scores of importance.py and with the p-SGD statistic of Arazo et al.;
- re-scoring: how the ranking changes if it is scored from the first e < E
  warm-up epochs only (cumulative) or from epoch e alone;
- sampling flatness: how far the sampling distribution (scores smoothed as
  w + smoothing * mean(w), normalised) is from uniform, per smoothing: the
  max/min probability ratio, the effective sample size and the share of
  probability on the top 10 % (importance.sampling_flatness).

Run as a pipeline step (the rule `importance_tables`):

    python -m sample_importance importance-tables --out results/summary \
        [--scoring biased:one_minus_p:0.5 ...] WARMUP/records.pt [...]
"""

from __future__ import annotations

import itertools
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from ..methods import importance
from ..atomic import write_csv
from ..outputs import IMPORTANCE_TABLES

log = logging.getLogger(__name__)

REFERENCE_METRIC = "one_minus_p"  # the paper's importance (Quercia et al.)
GROUP = ["dataset", "augmentation", "budget", "warmup_epochs"]  # warm-ups whose scores are comparable
SMOOTHING_GRID = (0.0, 0.1, 0.5, 1.0)  # always tabulated, so any config's smoothing can be read against them


# --------------------------------------------------------------------------- warm-ups


@dataclass
class Warmup:
    """One warm-up's records, labels and coordinates (read from its records.pt, never from its path)."""

    spec: dict
    records: dict[str, np.ndarray]  # field -> float64 [epochs, n], NaN where a sample was not seen
    labels: np.ndarray
    classes: list[str]
    source_index: np.ndarray

    @property
    def coords(self) -> dict:
        s = self.spec
        return {"dataset": s["dataset"], "model": s["model"], "augmentation": s["augmentation"],
                "budget": float(s["budget"]), "warmup_epochs": int(self.records["p_true"].shape[0]), "seed": int(s["seed"])}

    @property
    def name(self) -> str:
        """Short label of the warm-up inside its comparison group."""
        return f"{self.spec['model']} s{self.spec['seed']}"

    def score(self, metric: str = REFERENCE_METRIC, epochs: slice = slice(None)) -> np.ndarray:
        """Importance of every sample from the records of `epochs` (all warm-up epochs by default)."""
        return metric_score({k: v[epochs] for k, v in self.records.items()}, metric)


def load_warmup(path) -> Warmup:
    import torch

    saved = torch.load(path, map_location="cpu", weights_only=True)
    records = {k: v.double().numpy() for k, v in saved["records"].items()}
    labels = saved["labels"].numpy().astype(np.int64)
    classes = list(saved.get("classes") or [str(c) for c in range(int(labels.max()) + 1)])
    return Warmup(saved["spec"], records, labels, classes, np.asarray(saved["source_index"]))


# --------------------------------------------------------------------------- scores


def p_sgd_statistic(rec: dict[str, np.ndarray]) -> np.ndarray:
    """Arazo et al.'s p-SGD statistic: the running mean of 1 - p_true over the passes a sample was seen.

    From warm-up records (one value per seen epoch) it is the mean over the
    epochs in which the sample was seen. A warm-up draws permutations, so every
    sample is seen every epoch and this equals the paper's one_minus_p: the two
    methods differ in how they sample (p-SGD: without replacement, every epoch,
    smoothing 1), not in the statistic. Kept separate so that records with gaps
    (draws with replacement) are handled as p-SGD handles them.
    """
    p = rec["p_true"]
    seen = ~np.isnan(p)
    total = np.where(seen, 1.0 - p, 0.0).sum(axis=0)
    count = seen.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


SCORES = {**importance.METRICS, "p_sgd": p_sgd_statistic}


def metric_score(rec: dict[str, np.ndarray], metric: str) -> np.ndarray:
    """One score per sample, unseen samples filled as the pipeline fills them (importance.score)."""
    if metric in importance.METRICS:
        return importance.score(rec, metric)
    if metric not in SCORES:
        raise ValueError(f"unknown score {metric!r}; valid: {', '.join(SCORES)}")
    return np.clip(importance._fill_unseen(SCORES[metric](rec)), 0.0, None)


# --------------------------------------------------------------------------- selections and correlations


def easy_hard(scores: np.ndarray, labels: np.ndarray, k: int) -> pd.DataFrame:
    """Per class, the k lowest-scored (easy) and k highest-scored (hard) samples.

    Rows: class_index, kind ('easy' | 'hard'), rank (0 = easiest / hardest), index
    (training-set index), score. Ties: easy prefers the smaller index, hard the
    larger, so the selection is deterministic. A class with fewer than 2k samples
    gives each side at most half of them, so no sample is both easy and hard.
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels)
    rows = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        order = members[np.lexsort((members, scores[members]))]  # ascending score, then index
        take = min(k, len(members) // 2)
        for kind, chosen in (("easy", order[:take]), ("hard", order[::-1][:take])):
            rows += [{"class_index": int(c), "kind": kind, "rank": r, "index": int(i), "score": float(scores[i])}
                     for r, i in enumerate(chosen)]
    return pd.DataFrame(rows, columns=["class_index", "kind", "rank", "index", "score"])


def spearman_matrix(vectors: dict[str, np.ndarray]) -> pd.DataFrame:
    """Spearman rank correlation between every pair of score vectors (same samples, same order).

    Symmetric with ones on the diagonal by definition (a ranking agrees with
    itself, even a constant one, whose correlation with others is NaN).
    """
    names = list(vectors)
    if len(names) < 2:
        return pd.DataFrame(np.ones((len(names), len(names))), index=names, columns=names)
    matrix = np.column_stack([np.asarray(vectors[n], dtype=np.float64) for n in names])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        warnings.simplefilter("ignore", RuntimeWarning)  # constant vectors: NaN, kept as NaN
        rho = np.asarray(stats.spearmanr(matrix, axis=0).statistic, dtype=np.float64)
    if rho.ndim == 0:  # two vectors: spearmanr returns the coefficient itself
        rho = np.array([[1.0, float(rho)], [float(rho), 1.0]])
    rho = (rho + rho.T) / 2
    np.fill_diagonal(rho, 1.0)
    return pd.DataFrame(rho, index=names, columns=names)


def within_class_spearman(a: np.ndarray, b: np.ndarray, labels: np.ndarray) -> float:
    """Mean over classes of the Spearman correlation inside each class.

    Separates "the two rankings agree on which samples of a class are hard" from
    "they agree on which classes are hard", which dominates on imbalanced data.
    """
    rhos = [spearman_matrix({"a": a[labels == c], "b": b[labels == c]}).iloc[0, 1]
            for c in np.unique(labels) if (labels == c).sum() > 2]
    return float(np.nanmean(rhos)) if rhos and not np.isnan(rhos).all() else float("nan")


def _groups(warmups: list[Warmup]) -> dict[tuple, list[Warmup]]:
    groups: dict[tuple, list[Warmup]] = {}
    for w in warmups:
        groups.setdefault(tuple(w.coords[k] for k in GROUP), []).append(w)
    return groups


def _pair_kind(a: Warmup, b: Warmup) -> str:
    if a is b:
        return "same warm-up"
    return "seed vs seed" if a.spec["model"] == b.spec["model"] else "model vs model"


def correlation_table(warmups: list[Warmup], metric: str = REFERENCE_METRIC) -> pd.DataFrame:
    """Long table of the Spearman matrix of every comparison group: one row per ordered pair of warm-ups."""
    rows = []
    for key, members in _groups(warmups).items():
        scores = {w.name: w.score(metric) for w in members}
        rho = spearman_matrix(scores)
        for a, b in itertools.product(members, members):
            within = 1.0 if a is b else within_class_spearman(scores[a.name], scores[b.name], a.labels)
            rows.append({**dict(zip(GROUP, key)), "metric": metric, "a": a.name, "b": b.name,
                         "model_a": a.spec["model"], "seed_a": a.spec["seed"], "model_b": b.spec["model"],
                         "seed_b": b.spec["seed"], "pair": _pair_kind(a, b), "spearman": rho.loc[a.name, b.name],
                         "spearman_within_class": within})
    return pd.DataFrame(rows)


def correlation_summary(corr: pd.DataFrame) -> pd.DataFrame:
    """Mean, spread and count of the rank correlations per group, kind of pair and (unordered) pair of models."""
    d = corr[corr["pair"] != "same warm-up"].copy()
    d = d[(d["model_a"] < d["model_b"]) | ((d["model_a"] == d["model_b"]) & (d["seed_a"] < d["seed_b"]))]
    d = d[~((d["model_a"] == d["model_b"]) & (d["seed_a"] == d["seed_b"]))]
    d["models"] = np.where(d["model_a"] == d["model_b"], d["model_a"], d["model_a"] + " vs " + d["model_b"])
    keys = [*GROUP, "metric", "pair", "models"]
    if d.empty:
        return pd.DataFrame(columns=[*keys, "mean", "std", "min", "max", "pairs", "within_class_mean"])
    g = d.groupby(keys, sort=False)
    out = g["spearman"].agg(["mean", "std", "min", "max", "count"]).rename(columns={"count": "pairs"})
    out["within_class_mean"] = g["spearman_within_class"].mean()
    return out.reset_index()


def agreement_table(warmups: list[Warmup], reference: str = REFERENCE_METRIC) -> pd.DataFrame:
    """Per warm-up, the rank correlation of the reference importance with every other score."""
    rows = []
    for w in warmups:
        vectors = {m: w.score(m) for m in SCORES}
        rho = spearman_matrix(vectors)
        rows += [{**w.coords, "reference": reference, "score": m, "spearman": rho.loc[reference, m]}
                 for m in SCORES if m != reference]
    return pd.DataFrame(rows)


def rescoring_table(warmups: list[Warmup], metric: str = REFERENCE_METRIC, top: float = 0.1) -> pd.DataFrame:
    """How the ranking would change if scored after fewer warm-up epochs.

    For e = 1..E: Spearman of the score from epochs [0, e) (cumulative: what a
    shorter warm-up would give) and of the score from epoch e alone with the
    final score from all E epochs, and the share of the final top `top` fraction
    that the cumulative score also puts in its top fraction.
    """
    rows = []
    for w in warmups:
        final = w.score(metric)
        n_top = max(1, int(round(top * len(final))))
        final_top = set(np.argsort(-final, kind="stable")[:n_top])
        for e in range(1, w.coords["warmup_epochs"] + 1):
            cumulative = w.score(metric, slice(0, e))
            single = w.score(metric, slice(e - 1, e))
            rho = spearman_matrix({"final": final, "cumulative": cumulative, "single": single})
            overlap = len(final_top & set(np.argsort(-cumulative, kind="stable")[:n_top])) / n_top
            rows.append({**w.coords, "metric": metric, "epochs_scored": e,
                         "spearman_cumulative": rho.loc["final", "cumulative"],
                         "spearman_single_epoch": rho.loc["final", "single"], f"top{int(top * 100)}_overlap": overlap})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class Scoring:
    """How a staged method turns scores into sampling probabilities: its config label, metric and smoothing."""

    label: str
    metric: str
    smoothing: float

    @classmethod
    def parse(cls, text: str) -> "Scoring":
        """'biased:one_minus_p:0.5' (the form the workflow passes with --scoring)."""
        parts = text.split(":")
        if len(parts) != 3:
            raise ValueError(f"--scoring wants LABEL:METRIC:SMOOTHING, e.g. biased:one_minus_p:0.5; got {text!r}")
        if parts[1] not in SCORES:
            raise ValueError(f"--scoring {text!r}: unknown metric {parts[1]!r}; valid: {', '.join(SCORES)}")
        return cls(parts[0], parts[1], float(parts[2]))


def sampling_table(warmups: list[Warmup], scorings: list[Scoring] = ()) -> pd.DataFrame:
    """Per warm-up, metric and smoothing: how flat the sampling distribution is.

    Rows: the reference metric at every SMOOTHING_GRID value (label ''), plus
    each configured scoring (label = the method's config label). smoothing 0 is
    the raw scores' own distribution. uniform_floor is the share of all draws
    the smoothing spreads uniformly, smoothing / (1 + smoothing).
    """
    wanted = [Scoring("", REFERENCE_METRIC, s) for s in SMOOTHING_GRID] + list(scorings)
    rows = []
    for w in warmups:
        scores = {m: w.score(m) for m in dict.fromkeys(x.metric for x in wanted)}
        for x in wanted:
            p = importance.sampling_probabilities(scores[x.metric], x.smoothing)
            floor = x.smoothing / (1 + x.smoothing) if scores[x.metric].mean() > 0 else 1.0
            rows.append({**w.coords, "label": x.label, "metric": x.metric, "smoothing": x.smoothing,
                         "n_train": len(p), "uniform_floor": floor, **importance.sampling_flatness(p)})
    return pd.DataFrame(rows)


def reference_warmups(warmups: list[Warmup]) -> dict[str, Warmup]:
    """Per dataset, the warm-up whose samples the figures show: first model and augmentation given,
    the full (largest) budget, the smallest seed."""
    chosen: dict[str, Warmup] = {}
    for dataset in dict.fromkeys(w.spec["dataset"] for w in warmups):
        ws = [w for w in warmups if w.spec["dataset"] == dataset]
        model, aug = ws[0].spec["model"], ws[0].spec["augmentation"]
        ws = [w for w in ws if w.spec["model"] == model and w.spec["augmentation"] == aug]
        chosen[dataset] = min(ws, key=lambda w: (-float(w.spec["budget"]), int(w.spec["seed"])))
    return chosen


def easy_hard_table(warmups: list[Warmup], k: int, metric: str = REFERENCE_METRIC) -> pd.DataFrame:
    """easy_hard of each dataset's reference warm-up, with coordinates, class names and source indices."""
    frames = []
    for dataset, w in reference_warmups(warmups).items():
        t = easy_hard(w.score(metric), w.labels, k)
        t["class"] = [w.classes[c] for c in t["class_index"]]
        t["source_index"] = w.source_index[t["index"].to_numpy()] if len(t) else []
        t.insert(0, "metric", metric)
        frames.append(t.assign(**{c: v for c, v in w.coords.items()}, warmup=w.spec.get("run_id", "")))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def draw_shares(draws: pd.DataFrame) -> pd.DataFrame:
    """Share of each epoch's draws per class (class_draws of the runs), mean over seeds."""
    keys = ["dataset", "model", "augmentation", "method", "method_name", "budget", "seed", "epoch"]
    d = draws.copy()
    d["share"] = d["draws"] / d.groupby(keys)["draws"].transform("sum")
    return d.groupby([k for k in keys if k != "seed"] + ["class_index"], as_index=False)["share"].mean()


# --------------------------------------------------------------------------- pipeline step


def importance_tables(warmups: list[Warmup], k: int = 4, scorings: list[Scoring] = ()) -> dict[str, pd.DataFrame]:
    corr = correlation_table(warmups)
    return {
        "importance_correlation": corr,
        "importance_correlation_summary": correlation_summary(corr),
        "importance_agreement": agreement_table(warmups),
        "importance_rescoring": rescoring_table(warmups),
        "importance_easy_hard": easy_hard_table(warmups, k),
        "importance_sampling": sampling_table(warmups, scorings),
    }


def write_tables(record_paths: list[str], out_dir: str, k: int = 4,
                 scorings: list[Scoring] = ()) -> dict[str, pd.DataFrame]:
    warmups = [load_warmup(p) for p in record_paths]
    tables = importance_tables(warmups, k, scorings)
    assert set(tables) == set(IMPORTANCE_TABLES), "outputs.IMPORTANCE_TABLES and importance_tables disagree"
    for name, frame in tables.items():
        write_csv(Path(out_dir) / f"{name}.csv", frame)
    log.info("importance tables of %d warm-ups written to %s", len(warmups), out_dir)
    return tables

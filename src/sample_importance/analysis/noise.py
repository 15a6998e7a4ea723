"""What importance does with mislabeled samples, on the runs of datasets with `label_noise`.

Two tables, from the summary's draws table (each run's class_draws.csv: draws and
noisy_draws per epoch and class, training/engine.py), the cached datasets (the mask
of noisy training samples, data/noise.py) and the warm-up records:

- noise_draws: per run and epoch, the draws, the draws on mislabeled samples, their
  share (draw_share) beside the mislabeled samples' share of the training split
  (data_share). Uniform reshuffling draws every sample once an epoch, so its
  draw_share equals data_share; a method above it oversamples wrong labels. For
  rho_loss the main model draws from the training split minus its holdout, whose
  noise share is the split's up to the stratified sampling of the holdout.
  trained_epochs: the run's draws so far / N at the epoch's end, the figure's
  common x axis (a rho_loss epoch trains only 10 % of its pass).
- noise_importance: per warm-up, the distribution of the importance (the paper's
  mean 1 - p_true over the warm-up epochs, against the label the run trains on)
  of clean and of noisy samples: quantiles, mean, and the probability that a noisy
  sample scores above a clean one (AUC, Mann-Whitney U / n_clean n_noisy; 0.5:
  importance does not tell them apart, 1: every noisy sample ranks above every
  clean one, so sampling by importance would favour the noise).

    python -m sample_importance noise-tables --summary results/summary --out results/summary \
        --data results/data/*.pt [--records WARMUP/records.pt ...]
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from ..atomic import read_csv, write_csv
from ..outputs import NOISE_TABLES

log = logging.getLogger(__name__)

RUN = ["dataset", "model", "augmentation", "method", "method_name", "budget", "seed"]
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
DRAW_COLUMNS = [*RUN, "epoch", "trained_epochs", "draws", "noisy_draws", "draw_share", "data_share", "n_noisy",
                "n_train"]


@dataclass
class Noise:
    """One dataset's training labels: which are wrong (bool [N])."""

    name: str
    noisy: np.ndarray

    @property
    def data_share(self) -> float:
        return float(self.noisy.mean()) if len(self.noisy) else 0.0


def load_noise(path) -> Noise:
    """The noise mask of a cached dataset (all clean for a cache written before label noise existed)."""
    from ..data.datasets import load

    ds = load(path)
    noisy = ds.noisy.numpy().astype(bool) if ds.noisy is not None else np.zeros(len(ds.train.y), dtype=bool)
    return Noise(ds.name, noisy)


def noisy_datasets(noises: list[Noise]) -> dict[str, Noise]:
    return {n.name: n for n in noises if n.noisy.any()}


def draw_share_table(draws: pd.DataFrame, noises: dict[str, Noise]) -> pd.DataFrame:
    """Per run and epoch on a noisy dataset: draws, noisy draws, draw_share, data_share (module docstring)."""
    if draws is None or draws.empty or "noisy_draws" not in draws or not noises:
        return pd.DataFrame(columns=DRAW_COLUMNS)
    d = draws[draws["dataset"].isin(list(noises))]
    if d.empty:
        return pd.DataFrame(columns=DRAW_COLUMNS)
    per_epoch = d.groupby([*RUN, "epoch"], sort=False)[["draws", "noisy_draws"]].sum().reset_index()
    per_epoch = per_epoch[per_epoch["draws"] > 0]  # an epoch cut by the budget before any step
    info = pd.DataFrame([{"dataset": k, "data_share": n.data_share, "n_noisy": int(n.noisy.sum()),
                          "n_train": len(n.noisy)} for k, n in noises.items()])
    out = per_epoch.merge(info, on="dataset", how="left")
    out["draw_share"] = out["noisy_draws"] / out["draws"]
    # a common x axis: a method's epoch can hold fewer draws than N (rho_loss trains 10 % of each pass)
    out["trained_epochs"] = out.sort_values("epoch").groupby(RUN, sort=False)["draws"].cumsum() / out["n_train"]
    return out[DRAW_COLUMNS]


def run_shares(noise_draws: pd.DataFrame) -> pd.DataFrame:
    """Per run: the share of all its draws that fell on mislabeled samples, beside their data share."""
    runs = noise_draws.groupby(RUN, sort=False).agg(draws=("draws", "sum"), noisy_draws=("noisy_draws", "sum"),
                                                   data_share=("data_share", "first")).reset_index()
    return runs.assign(draw_share=runs["noisy_draws"] / runs["draws"])


def _auc(noisy: np.ndarray, clean: np.ndarray) -> float:
    """P(noisy score > clean score) + P(tie) / 2."""
    if not len(noisy) or not len(clean):
        return float("nan")
    return float(stats.mannwhitneyu(noisy, clean).statistic) / (len(noisy) * len(clean))


def importance_table(warmups, noises: dict[str, Noise], metric: str = "one_minus_p") -> pd.DataFrame:
    """Per warm-up of a noisy dataset and per group (clean, noisy): n, mean, quantiles of the importance, AUC."""
    rows = []
    for w in warmups:
        noise = noises.get(w.spec["dataset"])
        if noise is None:
            continue
        if len(noise.noisy) != len(w.labels):
            raise ValueError(f"warm-up of {w.spec['dataset']} has {len(w.labels)} samples but its cached dataset "
                             f"{len(noise.noisy)}: the records and the data files are of different configs")
        score = w.score(metric)
        auc = _auc(score[noise.noisy], score[~noise.noisy])
        for group, mask in (("clean", ~noise.noisy), ("noisy", noise.noisy)):
            s = score[mask]
            q = np.quantile(s, QUANTILES) if len(s) else [np.nan] * len(QUANTILES)
            rows.append({**w.coords, "metric": metric, "group": group, "n": int(mask.sum()), "mean": float(s.mean()),
                         **{f"q{int(p * 100):02d}": float(v) for p, v in zip(QUANTILES, q)}, "auc_noisy_above": auc})
    columns = [*("dataset", "model", "augmentation", "budget", "warmup_epochs", "seed"), "metric", "group", "n", "mean",
               *(f"q{int(p * 100):02d}" for p in QUANTILES), "auc_noisy_above"]
    return pd.DataFrame(rows, columns=columns)


def write_tables(summary_dir: str, data_paths: list[str], record_paths: list[str] = (),
                 out_dir: str | None = None) -> dict[str, pd.DataFrame]:
    from .importance_analysis import load_warmup

    noises = noisy_datasets([load_noise(p) for p in data_paths])
    draws_path = Path(summary_dir) / "draws.csv"
    draws = read_csv(draws_path) if draws_path.exists() else None
    tables = {"noise_draws": draw_share_table(draws, noises),
              "noise_importance": importance_table([load_warmup(p) for p in record_paths], noises)}
    for name in NOISE_TABLES:
        write_csv(Path(out_dir or summary_dir) / f"{name}.csv", tables[name])
    log.info("noise tables: %d noisy dataset(s), %d run-epochs, %d warm-up rows", len(noises),
             len(tables["noise_draws"]), len(tables["noise_importance"]))
    return tables

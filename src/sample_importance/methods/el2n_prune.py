"""Static data pruning by EL2N, Data Diet's protocol (Paul et al., NeurIPS 2021, "Deep learning on a data diet").

Scoring: `len(score_seeds)` independent plain-SGD trainings on the full data set
at the full schedule (budget 1.0, one per seed), each stopped at epoch K =
`warmup_epochs`; the workflow shares them with other warm-ups of the same
settings (grid._add_warmup). Each checkpoint's model, in eval mode (BatchNorm
running statistics), scores every CLEAN (un-augmented) training image with
EL2N = ||softmax(f(x)) - onehot(y)||_2; the score is the mean over the
checkpoints (mansheej/data_diet: scores.get_lord_error_fn, scripts/get_run_score.py,
scripts/get_mean_score.py).

Selection: sort by the averaged score, hardest first; drop the round(offset * N)
hardest and keep the next round(keep * N) (data_diet: data.subset_train_idxs_by_scores
with keep_max_scores; data.subset_train_idxs_by_offset for the sliding window).

Training: a FRESH model (the run's seed, as every run) trained on the kept
subset for the run's whole budget of optimizer steps, by random reshuffling over
the subset (data_diet's pruned runs take the full run's num_steps). The weights
handed to the run are 1/k on the kept samples and 0 elsewhere, so the class
table reads as for the staged methods; the averaged EL2N is `scores`.

Budget charge: the run's own steps only. The scoring trainings and their
forward passes are not charged to the pruned run (as Data Diet reports it); the
score step writes their compute (steps, forwards, seconds) to score.json and the
run copies it into run.json under `scoring`.

Given no kept subset (a bare Trainer, or `train` without --importance), the
method runs the scoring trainings itself in the same process before the first
epoch, with the same specs and results as the workflow's split steps.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import torch
import torch.nn.functional as F

from .base import Method

log = logging.getLogger(__name__)


def keep_hardest(scores: np.ndarray, fraction: float, offset: float = 0.0) -> np.ndarray:
    """Weights 1/k on k = round(fraction * n) samples, hardest first after the round(offset * n) hardest, 0 elsewhere.

    Ties are broken by the lower index (a stable sort), so the subset is a function of the scores alone.
    """
    n = len(scores)
    skip = min(n - 1, round(offset * n))
    k = min(n - skip, max(1, round(fraction * n)))
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    weights = np.zeros(n, dtype=np.float64)
    weights[order[skip : skip + k]] = 1.0 / k
    return weights


def el2n(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """||softmax - onehot||_2 per row (data_diet: scores.get_lord_error_fn with ord=2)."""
    probs = F.softmax(logits.float(), dim=1)
    return (probs - F.one_hot(labels, probs.shape[1]).to(probs.dtype)).norm(dim=1)


class EL2NPrune(Method):
    name = "el2n_prune"
    defaults = {"warmup_epochs": 20, "score_seeds": list(range(10)), "keep": 0.5, "offset": 0.0}
    static = True  # scored before the run by separate trainings (grid: score_warmup_ids; rules: score_checkpoints)

    @classmethod
    def check_params(cls, params):
        keep, offset = float(params["keep"]), float(params["offset"])
        seeds, k = params["score_seeds"], params["warmup_epochs"]
        if not 0 < keep <= 1:
            raise ValueError(f"{cls.name}.keep must be in (0, 1], got {params['keep']!r}")
        if not 0 <= offset < 1 or offset + keep > 1:
            raise ValueError(f"{cls.name}.offset must be in [0, 1) with offset + keep <= 1 (the fraction of hardest "
                             f"samples dropped before keeping), got offset {params['offset']!r} and keep {keep!r}")
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"{cls.name}.warmup_epochs must be a whole number >= 1 (the epoch of the scoring "
                             f"checkpoints), got {k!r}")
        if (not isinstance(seeds, list) or not seeds or len(set(seeds)) != len(seeds)
                or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)):
            raise ValueError(f"{cls.name}.score_seeds must be a non-empty list of distinct seeds >= 0 (one scoring "
                             f"training each), got {seeds!r}")

    @staticmethod
    def scoring_spec(spec: dict, seed: int) -> dict:
        """The spec of one scoring training: plain uniform SGD on the full data at the full schedule (budget 1.0).

        Training-equivalent to the warm-up grid._add_warmup builds for the same seed, so either can serve.
        """
        params = {**EL2NPrune.defaults, **spec.get("method_params", {})}
        keep = ("dataset", "dataset_spec", "model", "augmentation", "train")
        return {**{k: spec[k] for k in keep if k in spec}, "budget": 1.0, "seed": int(seed), "label": "warmup",
                "method": "uniform", "method_params": {}, "warmup_epochs": int(params["warmup_epochs"]), "staged": False}

    @staticmethod
    @torch.inference_mode()
    def checkpoint_scores(trainer) -> np.ndarray:
        """EL2N of the trainer's model in eval mode on the clean training images, one forward pass, float64 [n]."""
        model, bs = trainer.model, int(trainer.cfg.get("eval_batch_size", 1024))
        was_training = model.training
        model.eval()
        try:
            out = []
            for start in range(0, trainer.n_train, bs):
                idx = torch.arange(start, min(start + bs, trainer.n_train), device=trainer.device)
                with trainer.autocast():
                    logits = model(trainer.normalize(trainer.train_images(idx)))
                out.append(el2n(logits, trainer.labels.index_select(0, idx)))
            return torch.cat(out).double().cpu().numpy()
        finally:
            model.train(was_training)

    def __init__(self, params, trainer):
        super().__init__(params, trainer)
        self.weights: torch.Tensor | None = None
        self.scores: np.ndarray | None = None

    def select(self, scores: np.ndarray) -> np.ndarray:
        """Sampling weights of the kept subset from the averaged scores; sets `self.scores`."""
        self.scores = np.asarray(scores, dtype=np.float64)
        return keep_hardest(self.scores, float(self.params["keep"]), float(self.params["offset"]))

    def set_weights(self, weights: np.ndarray, scores: np.ndarray | None = None) -> None:
        """The score step's output (weights.npy, scores.npy), handed in before the first epoch."""
        self.weights = torch.as_tensor(weights, dtype=torch.float64, device=self.trainer.device)
        if scores is not None:
            self.scores = np.asarray(scores, dtype=np.float64)

    def epoch_indices(self, epoch):
        if self.weights is None:
            self.set_weights(self.select(self._score_in_process()))
        kept = torch.nonzero(self.weights > 0).flatten()
        return kept[self.permutation(len(kept))]

    def _score_in_process(self) -> np.ndarray:
        """The scoring trainings, run here when no score step handed a subset in (one-process runs).

        The wall time is taken off the run's clock and the global CPU generator restored, so the run
        equals the split pipeline's (warm-ups, score step, then `train --importance`).
        """
        from ..training.engine import Trainer  # lazy: the engine imports the methods

        t, start, cpu_rng = self.trainer, time.perf_counter(), torch.get_rng_state()
        scores = []
        for seed in self.params["score_seeds"]:
            scoring = Trainer(self.scoring_spec(t.spec, seed), t.data, progress=False)
            scoring.run(until_epoch=int(self.params["warmup_epochs"]))
            check_epoch(scoring.epoch, int(self.params["warmup_epochs"]))
            scores.append(self.checkpoint_scores(scoring))
        torch.set_rng_state(cpu_rng)
        t.train_seconds -= time.perf_counter() - start
        log.info("%s: scored %d samples with %d in-process trainings", self.name, t.n_train, len(scores))
        return np.mean(scores, axis=0)

    def state_dict(self):
        return {"weights": None if self.weights is None else self.weights.cpu(),
                "scores": None if self.scores is None else torch.from_numpy(self.scores)}

    def load_state_dict(self, state):
        self.weights = None if state.get("weights") is None else state["weights"].to(self.trainer.device)
        self.scores = None if state.get("scores") is None else state["scores"].numpy()


def check_epoch(reached: int, wanted: int) -> None:
    """A scoring checkpoint must sit at epoch K: a full schedule shorter than K epochs cannot give one."""
    if reached != wanted:
        raise ValueError(f"el2n_prune: the scoring training stopped at epoch {reached}, not at warmup_epochs = {wanted}; "
                         f"use warmup_epochs <= train.epochs")

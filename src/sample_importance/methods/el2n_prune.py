"""Static data pruning by EL2N (Paul et al., NeurIPS 2021, "Deep learning on a data diet").

Warm-up: `warmup_epochs` epochs of uniform SGD inside the budget, recording
p_true and sum of squared probabilities of every training forward. Score: the
EL2N of each sample, mean over the warm-up epochs of ||softmax - onehot||_2
(importance.el2n; no extra forward pass). Keep the hardest round(keep * N)
samples (highest EL2N; ties broken by the lower index) and train the rest of
the budget by random reshuffling over that subset: each epoch every kept
sample once, in a new order. The weights handed to the continue step are
1 / kept on the kept samples and 0 elsewhere (a sampling distribution, so the
class-balance table reads the same as for `biased`); the raw EL2N is kept in
`scores` for the score step to save.

Charged like uniform: the scores come from logits the warm-up already had.
"""

import numpy as np
import torch

from . import importance
from .base import StagedMethod


def keep_hardest(scores: np.ndarray, fraction: float) -> np.ndarray:
    """Weights 1/k on the k = round(fraction * n) highest scores (ties: lower index first), 0 elsewhere."""
    n = len(scores)
    k = min(n, max(1, round(fraction * n)))
    order = np.argsort(-scores, kind="stable")
    weights = np.zeros(n, dtype=np.float64)
    weights[order[:k]] = 1.0 / k
    return weights


class EL2NPrune(StagedMethod):
    name = "el2n_prune"
    defaults = {"warmup_epochs": 5, "keep": 0.5}

    @classmethod
    def check_params(cls, params):
        if not 0 < float(params["keep"]) <= 1:
            raise ValueError(f"{cls.name}.keep must be in (0, 1], got {params['keep']!r}")

    def score(self, records, labels):
        self.scores = importance.score(records, "el2n")
        return keep_hardest(self.scores, float(self.params["keep"]))

    def continuation_indices(self, epoch):
        kept = torch.nonzero(self.weights > 0).flatten()
        return kept[self.permutation(len(kept))]


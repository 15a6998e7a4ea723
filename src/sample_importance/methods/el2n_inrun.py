"""EL2N pruning inside one run: the pipeline's earlier el2n_prune, kept beside Data Diet's protocol.

Warm-up: `warmup_epochs` epochs of uniform SGD inside the budget, recording
p_true and sum of squared probabilities of every training forward. Score: the
EL2N of each sample, mean over the warm-up epochs of ||softmax - onehot||_2
(importance.el2n; from the training forwards' own, augmented, train-mode
logits: no extra forward pass). Keep the hardest round(keep * N) samples
(el2n_prune.keep_hardest) and CONTINUE the same run (no restart) for the rest of
the budget by random reshuffling over that subset. Unlike Data Diet
(el2n_prune), the score comes from one run, not an average over independent
ones, and the model is not re-initialised.

Charged like uniform: the scores come from logits the warm-up already had.
"""

import torch

from . import importance
from .base import StagedMethod
from .el2n_prune import keep_hardest


class EL2NInRun(StagedMethod):
    name = "el2n_inrun"
    defaults = {"warmup_epochs": 5, "keep": 0.5}

    @classmethod
    def check_params(cls, params):
        super().check_params(params)
        if not 0 < float(params["keep"]) <= 1:
            raise ValueError(f"{cls.name}.keep must be in (0, 1], got {params['keep']!r}")

    def score(self, records, labels):
        self.scores = importance.score(records, "el2n")
        return keep_hardest(self.scores, float(self.params["keep"]))

    def continuation_indices(self, epoch):
        kept = torch.nonzero(self.weights > 0).flatten()
        return kept[self.permutation(len(kept))]

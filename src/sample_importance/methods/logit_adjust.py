"""Logit-adjusted loss (Menon et al., ICLR 2021, "Long-tail learning via logit adjustment").

The training loss is cross-entropy on logits + tau * log(pi_c), pi the classes'
training shares (their eq. 10, `mode=loss`); prediction uses the plain logits.
Rare classes must win by a margin during training, which shifts the decision
boundary towards the frequent ones. tau = 1 (the reference's default). The
per-sample statistics the engine records (p_true, margin) are from the model's
own logits. Sampling is uniform's random reshuffling. Charged like uniform.
"""

import numpy as np
import torch

from .class_sampling import ClassLoss, class_counts

EPS = 1e-12  # the reference adds it to pi^tau inside the log, so an empty class gets a large finite offset


def logit_offsets(counts: np.ndarray, tau: float) -> np.ndarray:
    """tau * log(pi_c) per class, as log(pi_c^tau + 1e-12) in the reference."""
    pi = np.asarray(counts, dtype=np.float64) / np.sum(counts)
    return np.log(np.power(pi, tau) + EPS)


class LogitAdjust(ClassLoss):
    name = "logit_adjust"
    defaults = {"tau": 1.0}

    @classmethod
    def check_params(cls, params):
        if not float(params["tau"]) >= 0:
            raise ValueError(f"{cls.name}.tau must be >= 0 (0: plain cross-entropy), got {params['tau']!r}")

    def __init__(self, params, trainer):
        super().__init__(params, trainer)
        if trainer is not None:
            offsets = logit_offsets(class_counts(trainer.labels_numpy, trainer.n_classes), float(self.params["tau"]))
            self.offsets = torch.as_tensor(offsets, dtype=torch.float32, device=trainer.device)

    def adjust(self, batch):
        batch.logit_offset = self.offsets
        return batch

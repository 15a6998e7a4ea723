"""Class-balanced loss by the effective number of samples (Cui et al., CVPR 2019).

Each example's loss is weighted by its class's w_c = (1 - beta) / (1 - beta^n_c),
the inverse of the class's effective number of samples (1 - beta^n) / (1 - beta),
normalised so that the weights sum to C over the classes (the reference's
`weights / sum(weights) * no_of_classes`); the batch loss is the mean of the
weighted losses (the reference's softmax variant). beta = 0.9999 by default (the
reference's CIFAR long-tail script); beta -> 0 is plain cross-entropy, beta -> 1
inverse class frequency. Sampling is uniform's random reshuffling.

Charged like uniform: the weights cost nothing.
"""

import numpy as np
import torch

from .class_sampling import ClassLoss, class_counts


def effective_number_weights(counts: np.ndarray, beta: float) -> np.ndarray:
    """w_c = (1 - beta) / (1 - beta^n_c), normalised to sum to the number of classes with examples (0 for an empty class)."""
    counts = np.asarray(counts, dtype=np.float64)
    present = counts > 0
    w = np.zeros_like(counts)
    w[present] = (1.0 - beta) / (1.0 - np.power(beta, counts[present]))
    return w / w.sum() * present.sum()


class ClassBalancedLoss(ClassLoss):
    name = "cb_loss"
    defaults = {"beta": 0.9999}

    @classmethod
    def check_params(cls, params):
        if not 0 <= float(params["beta"]) < 1:
            raise ValueError(f"{cls.name}.beta must be in [0, 1) (effective number (1 - beta^n) / (1 - beta)), "
                             f"got {params['beta']!r}")

    def __init__(self, params, trainer):
        super().__init__(params, trainer)
        if trainer is not None:
            w = effective_number_weights(class_counts(trainer.labels_numpy, trainer.n_classes), float(self.params["beta"]))
            self.class_weights = torch.as_tensor(w, dtype=torch.float32, device=trainer.device)

    def adjust(self, batch):
        batch.weights = self.class_weights.index_select(0, self.trainer.labels.index_select(0, batch.indices))
        return batch

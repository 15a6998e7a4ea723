"""What the class-aware methods share: class counts, class shares, and the two ways to act on them.

Not a method (it is not in the registry). `ClassShareSampler` draws each epoch N
examples with replacement: a class by the method's class shares q_c, then a
sample uniformly within it, as one `torch.multinomial` over the per-sample
probabilities q_c / n_c (the same draw mechanism as `biased`, so the class-aware
samplers and the biased method differ only in the probabilities). `ClassLoss`
keeps uniform's random reshuffling and changes the loss: per-example weights or
an offset on the logits, both read off the class of each example.
"""

from __future__ import annotations

import numpy as np
import torch

from .base import Batch, Method


def class_counts(labels: torch.Tensor | np.ndarray, n_classes: int) -> np.ndarray:
    """Training examples per class (float64), zeros included."""
    y = labels.cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    return np.bincount(y, minlength=n_classes).astype(np.float64)


def power_shares(counts: np.ndarray, q: float) -> np.ndarray:
    """Class shares n_c^q / sum_k n_k^q (Kang et al. 2020, eq. 1): q = 1 instance-, 0 class-balanced, 1/2 square-root.

    A class without training examples gets share 0 (it has nothing to draw).
    """
    counts = np.asarray(counts, dtype=np.float64)
    mass = np.where(counts > 0, np.power(np.where(counts > 0, counts, 1.0), q), 0.0)
    return mass / mass.sum()


def per_sample(shares: np.ndarray, labels: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """p_i = q_{y_i} / n_{y_i}: class c drawn with probability q_c, uniformly within it (sums to 1)."""
    labels = np.asarray(labels)
    return np.asarray(shares, dtype=np.float64)[labels] / np.asarray(counts, dtype=np.float64)[labels]


def class_mass(probabilities: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Each class's share of a per-sample distribution (DESIGN.md 'class balance')."""
    mass = np.bincount(np.asarray(labels), weights=np.asarray(probabilities, dtype=np.float64), minlength=n_classes)
    return mass / mass.sum()


class ClassShareSampler(Method):
    """Each epoch N draws with replacement by class shares, uniformly within a class; subclasses give the shares."""

    def class_shares(self, epoch: int) -> np.ndarray:
        """q_c of this epoch (sums to 1)."""
        raise NotImplementedError

    @property
    def counts(self) -> np.ndarray:
        if not hasattr(self, "_counts"):
            self._counts = class_counts(self.trainer.labels_numpy, self.trainer.n_classes)
        return self._counts

    def epoch_indices(self, epoch):
        t = self.trainer
        p = per_sample(self.class_shares(epoch), t.labels_numpy, self.counts)
        return self.draw(torch.as_tensor(p, dtype=torch.float64, device=t.device), t.n_train)


class ClassLoss(Method):
    """Random reshuffling (as uniform) with a class-dependent loss; subclasses set `adjust(batch)`."""

    def epoch_indices(self, epoch):
        return self.permutation()

    def adjust(self, batch: Batch) -> Batch:
        raise NotImplementedError

    def next_batch(self):
        batch = super().next_batch()
        return None if batch is None else self.adjust(batch)

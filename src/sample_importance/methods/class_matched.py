"""Class-matched control for `biased`: biased's class shares, uniform within each class.

Same warm-up, records and scoring as `biased` (its parameters and defaults:
warmup_epochs, metric, smoothing, rescore_every; so the grid gives both the same
warm-up and the same scores), then each class c is drawn with the share
q_c = sum of biased's probabilities over c, and a sample uniformly within c:
p_i = q_{y_i} / n_{y_i}. N draws with replacement per epoch, as biased.

The experiment it answers: Quercia et al. attribute biased's gain on imbalanced
data to its "intrinsic balancing". This control has exactly that balancing and
nothing else. Biased better than it: the choice of hard samples within a class
matters; equal: the gain is class re-balancing.

The weights it saves (weights.npy, classes.csv) are its own sampling
probabilities, so its class table shows the same class shares as biased's.
Charged like biased and uniform.
"""

import numpy as np

from .biased import Biased
from .class_sampling import class_counts, class_mass, per_sample


def matched(probabilities: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per-sample probabilities with the class shares of `probabilities`, uniform within each class."""
    labels = np.asarray(labels)
    n_classes = int(labels.max()) + 1
    return per_sample(class_mass(probabilities, labels, n_classes), labels, np.maximum(class_counts(labels, n_classes), 1))


class ClassMatched(Biased):
    name = "class_matched"
    draws_by_scores = False  # its probabilities are not smoothed scores: no importance-flatness rows (grid.scorings)

    def score(self, records, labels):
        return matched(super().score(records, labels), labels)

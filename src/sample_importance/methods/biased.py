"""SGD biased towards early important samples (Quercia et al., ICDM 2023).

Warm-up: `warmup_epochs` epochs of uniform SGD (inside the budget), recording
p_true of every sample from the training forward passes. Score: an importance
per sample from those records (`metric`, default mean of 1 - p_true), with a
floor of smoothing * mean(w) added, normalised. Continue: the same run, each
epoch n draws with replacement by those probabilities.

Smoothing. By default (`smoothing: 0.001`, SMOOTHING_FLOOR) the draws are in
proportion to the importance, as the paper states the method, with only the
floor needed to keep every sample drawable (a sample scored 0 gets a
thousandth of the mean weight instead of never being drawn). The form
w + eps * mean(w) is Arazo et al.'s (EricArazo/ImportanceSampling,
utils_train/utils_train.py, select_samples: "Smoothness constant", eps = 1
there). Up to RESULTS_VERSION 3 this project's default was eps = 0.5, a choice
of its own (Quercia et al.'s text and code, jugit.fz-juelich.de/ias-8/sgd_biased,
could not be read here) that flattens the distribution: it puts a share
eps / (1 + eps) of all draws on a uniform floor (a third at 0.5) and caps the
max/min probability ratio at (max(w)/mean(w) + eps) / eps; scores 0.02 and
0.98 (mean 0.5) are 49:1 at the floor but 4.6:1 at 0.5. It stays a named
option: `methods: {biased_smoothed: {method: biased, smoothing: 0.5}}`
(SMOOTHING_FLAT). The importance tables (`importance_sampling.csv`) and the
distribution figure print the flatness of the distribution per smoothing
(max/min ratio, effective sample size, share on the top 10 %).

`rescore_every` K > 0 re-scores every K epochs of the continuation from the
records of the last `warmup_epochs` epochs (samples not drawn in that window
keep their previous score), to test whether scoring once is enough.

Charged like uniform: the records come from logits the step already has.
"""

import numpy as np

from . import importance
from .base import StagedMethod


SMOOTHING_FLOOR = 0.001  # the default: the paper's p proportional to the importance, every sample still drawable
SMOOTHING_FLAT = 0.5  # the project's default up to RESULTS_VERSION 3, kept as a named option


class Biased(StagedMethod):
    name = "biased"
    defaults = {"warmup_epochs": 5, "metric": "one_minus_p", "smoothing": SMOOTHING_FLOOR, "rescore_every": 0}
    choices = {"metric": tuple(importance.METRICS)}

    @classmethod
    def check_params(cls, params):
        super().check_params(params)
        if not float(params["smoothing"]) >= 0:
            raise ValueError(f"biased.smoothing must be >= 0 (it adds smoothing * mean score to every sample), "
                             f"got {params['smoothing']!r}")
        k = params["rescore_every"]
        if isinstance(k, bool) or not isinstance(k, int) or k < 0:
            raise ValueError(f"biased.rescore_every must be a whole number >= 0 (0: score once), got {k!r}")

    def score(self, records, labels):
        fresh = importance.score(records, self.params["metric"])
        if self.scores is not None:  # re-scoring: keep old scores of samples unseen in the window
            unseen = np.isnan(records["p_true"]).all(axis=0)
            fresh = np.where(unseen, self.scores, fresh)
        self.scores = fresh
        return importance.sampling_probabilities(fresh, float(self.params["smoothing"]))

    def rescore_due(self, epoch):
        k = int(self.params["rescore_every"])
        return k > 0 and epoch > self.warmup_epochs and (epoch - self.warmup_epochs) % k == 0

    def continuation_indices(self, epoch):
        return self.draw(self.weights, self.trainer.n_train, replacement=True)


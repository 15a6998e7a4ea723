"""unif-SGD of Arazo et al. (BMVC 2021): each epoch a fresh uniformly random subset of round(budget * N) samples.

Arazo et al.'s fair control for p-SGD and c-SGD: the same budgeted epochs
(the budget shortens every epoch instead of cutting epochs), with the subset
chosen uniformly, so any gain of p-SGD/c-SGD over it comes from the weights
alone. Reference: EricArazo/ImportanceSampling, utils_train/utils_train.py,
`select_samples` (method "unif-SGD": all weights 1) and `prepare_loader` (the
chosen indices are served through a SubsetRandomSampler, i.e. in a uniformly
random order).

This class is also the budgeted-epoch base of p-SGD and c-SGD: a subclass only
says which k samples to take (`choose`); the size of the subset, the shuffle
and the budget-1.0 shortcut live here once.

Charged like uniform: one step per optimizer step, nothing else.
"""

import torch

from .base import Method


class UnifSGD(Method):
    name = "unif_sgd"

    def subset_size(self) -> int:
        """round(budget * N), at least 1: the examples of one budgeted epoch.

        The reference truncates (int(N * budget)) and drops the last partial
        batch; here the engine's step budget decides where training stops, so a
        rounding difference of one sample is immaterial.
        """
        t = self.trainer
        return max(1, min(t.n_train, round(float(t.spec["budget"]) * t.n_train)))

    def choose(self, k: int, epoch: int) -> torch.Tensor | None:
        """k distinct indices for this epoch, in any order; None means a uniformly random subset."""
        return None

    def epoch_indices(self, epoch):
        n, k = self.trainer.n_train, self.subset_size()
        if k == n:
            # every sample is chosen whatever the weights, and the reference shuffles the subset:
            # exactly random reshuffling, so take it directly (no weighted draw to throw away)
            return self.permutation()
        chosen = self.choose(k, epoch)
        if chosen is None:
            return self.permutation()[:k]  # a uniform subset, already in uniformly random order
        # weighted draws without replacement come out in draw order (heaviest first); the reference's
        # SubsetRandomSampler serves the subset in random order, so shuffle it: no hardest-first curriculum
        return chosen[self.permutation(k)]

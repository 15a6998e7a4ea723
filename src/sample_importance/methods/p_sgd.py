"""p-SGD of Arazo et al. (BMVC 2021, after Chang et al. 2017): draw by the running mean of 1 - p_true.

Every time the training step forwards a sample, its 1 - p_true (of the
augmented image, as the step computed it) enters that sample's running mean
over all its forward passes so far. At the start of each epoch the weights are
w = weight(mean) (here the mean itself: uncertain or misclassified samples
weigh more), samples never seen get the current maximum weight, the weights are
smoothed as w + smoothing * mean(w) and normalised, and round(budget * N)
samples are drawn WITHOUT replacement (Arazo et al.'s budgeted epoch: the
budget shortens every epoch instead of cutting epochs). The first epoch, before
any statistic exists, draws uniformly.

Charged like uniform: the statistic comes from logits the step already has.
"""

import torch

from .base import Method


class PSGD(Method):
    name = "p_sgd"
    defaults = {"smoothing": 1.0}

    @classmethod
    def check_params(cls, params):
        if not float(params["smoothing"]) > 0:
            raise ValueError(f"{cls.name}.smoothing must be > 0 (every sample keeps a chance), got {params['smoothing']!r}")

    def __init__(self, params, trainer):
        super().__init__(params, trainer)
        n, device = trainer.n_train, trainer.device
        self._sum = torch.zeros(n, dtype=torch.float64, device=device)  # sum of 1 - p_true over every forward
        self._count = torch.zeros(n, dtype=torch.float64, device=device)

    @staticmethod
    def weight(mean_one_minus_p: torch.Tensor) -> torch.Tensor:
        """Importance from the running mean of 1 - p_true (p-SGD: the mean itself)."""
        return mean_one_minus_p

    def observe(self, indices, losses, stats):
        p_true = stats["p_true"]
        self._sum.index_add_(0, indices, 1.0 - p_true.double())
        self._count.index_add_(0, indices, torch.ones_like(p_true, dtype=torch.float64))

    def probabilities(self) -> torch.Tensor | None:
        """Sampling probabilities over the training set (float64), or None before any sample was seen."""
        seen = self._count > 0
        if not bool(seen.any()):
            return None
        w = self.weight(self._sum / self._count.clamp_min(1.0))
        w = torch.where(seen, w, w[seen].max())  # unknown is treated as important
        mean = w.mean()
        if not bool(mean > 0):
            return torch.full_like(w, 1.0 / len(w))
        w = w + float(self.params["smoothing"]) * mean
        return w / w.sum()

    def epoch_indices(self, epoch):
        t = self.trainer
        k = max(1, min(t.n_train, round(float(t.spec["budget"]) * t.n_train)))
        p = self.probabilities()
        if p is None:
            return self.permutation()[:k]
        return self.draw(p, k, replacement=False)

    def state_dict(self):
        return {"sum": self._sum.cpu(), "count": self._count.cpu()}

    def load_state_dict(self, state):
        if "sum" in state:
            self._sum = state["sum"].to(self.trainer.device)
            self._count = state["count"].to(self.trainer.device)

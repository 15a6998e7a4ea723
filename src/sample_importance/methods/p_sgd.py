"""p-SGD of Arazo et al. (BMVC 2021, after Chang et al. 2017): draw by the running mean of 1 - p_true.

Reference: EricArazo/ImportanceSampling, utils_train/utils_train.py:
`update_sampling_metrics` (the running mean), `select_samples` (weights,
fill, smoothing, draw) and `prepare_loader` (SubsetRandomSampler).

Every time the training step forwards a sample, its 1 - p_true (of the
augmented image, as the step computed it) enters that sample's running mean
over ALL its forward passes so far (no window), as the reference's
`avg_probs`. At the start of each epoch:

1. samples never seen take the largest running mean of the seen ones
   (unknown counts as important), as the reference fills `avg_probs == -1`;
2. the weights are w = weight(mean): the mean itself here, c-SGD transforms it
   (after the fill, as the reference does);
3. smoothed as w + smoothing * mean(w) (reference: smoothing 1) and normalised;
4. round(budget * N) samples are drawn WITHOUT replacement by those
   probabilities and served in a uniformly random order (the reference's
   SubsetRandomSampler; `UnifSGD.epoch_indices`).

Before any statistic exists (the first epoch), and during the first
`uniform_epochs` epochs (the reference's --c_sgd_warmup, default 0), the subset
is uniform, as unif-SGD's. At budget 1.0 every epoch is exactly random
reshuffling, whatever the weights, as in the reference.

Charged like uniform: the statistic comes from logits the step already has.
"""

import torch

from .unif_sgd import UnifSGD


class PSGD(UnifSGD):
    name = "p_sgd"
    defaults = {"smoothing": 1.0, "uniform_epochs": 0}

    @classmethod
    def check_params(cls, params):
        if not float(params["smoothing"]) > 0:
            raise ValueError(f"{cls.name}.smoothing must be > 0 (every sample keeps a chance), "
                             f"got {params['smoothing']!r}")
        u = params["uniform_epochs"]
        if isinstance(u, bool) or not isinstance(u, int) or u < 0:
            raise ValueError(f"{cls.name}.uniform_epochs must be a whole number >= 0, got {u!r}")

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

    def running_mean(self) -> torch.Tensor | None:
        """Mean of 1 - p_true over every forward pass of each sample; unseen ones filled with the seen maximum.

        None before any sample was seen. The fill is on the mean, before `weight`, as the reference does it.
        """
        seen = self._count > 0
        if not bool(seen.any()):
            return None
        mean = self._sum / self._count.clamp_min(1.0)
        return torch.where(seen, mean, mean[seen].max())

    def probabilities(self) -> torch.Tensor | None:
        """Sampling probabilities over the training set (float64), or None before any sample was seen."""
        mean = self.running_mean()
        if mean is None:
            return None
        w = self.weight(mean)
        level = w.mean()
        if not bool(level > 0):  # every weight 0: the reference's 1e-10 offset makes the draw uniform
            return torch.full_like(w, 1.0 / len(w))
        w = w + float(self.params["smoothing"]) * level
        return w / w.sum()

    def choose(self, k, epoch):
        if epoch < int(self.params["uniform_epochs"]):
            return None
        p = self.probabilities()
        return None if p is None else self.draw(p, k, replacement=False)

    def state_dict(self):
        return {"sum": self._sum.cpu(), "count": self._count.cpu()}

    def load_state_dict(self, state):
        if "sum" in state:
            self._sum = state["sum"].to(self.trainer.device)
            self._count = state["count"].to(self.trainer.device)

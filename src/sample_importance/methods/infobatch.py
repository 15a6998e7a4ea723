"""InfoBatch (Qin et al., ICLR 2024): unbiased dynamic pruning of well-learned samples.

Every sample keeps the latest loss the training step computed for it (pruned
samples keep their older one). At the start of each epoch, of the samples whose
latest loss is below the mean of the latest losses, int((1 - r) * count) chosen
at random are kept and the rest pruned for this epoch (r = `prune_ratio`, as
the authors' code: an exact count without replacement); the kept low-loss
samples' losses are scaled by 1 / (1 - r) so the expected gradient stays that
of the full epoch. The epoch visits the kept samples and all others in a random
order. Pruning stops ("annealing") once delta of the budget is spent: an epoch
prunes only if it starts with trainer.charged < delta * total_steps. Samples
never seen (the first epoch) are never pruned and do not enter the mean.

Charged like uniform: pruned samples are neither forwarded nor charged, so a
pruned epoch has fewer steps and the budget covers more epochs.
"""

import torch

from .base import Method


def prune(losses: torch.Tensor, ratio: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(kept indices, their loss weights): keep int((1 - ratio) * k) of the k below-mean-loss samples at random."""
    n = len(losses)
    seen = ~torch.isnan(losses)
    low = seen & (losses < losses[seen].mean()) if bool(seen.any()) else torch.zeros_like(seen)
    low_idx = torch.nonzero(low).flatten()
    n_keep = int((1.0 - ratio) * len(low_idx))
    kept_low = low_idx[torch.randperm(len(low_idx), generator=generator, device=losses.device)[:n_keep]]
    kept = torch.cat([torch.nonzero(~low).flatten(), kept_low])
    weights = torch.ones(n, device=losses.device)
    if n_keep:
        weights[kept_low] = 1.0 / (1.0 - ratio)
    return kept, weights[kept]


class InfoBatch(Method):
    name = "infobatch"
    defaults = {"prune_ratio": 0.5, "delta": 0.875}

    @classmethod
    def check_params(cls, params):
        if not 0 <= float(params["prune_ratio"]) < 1 or not 0 <= float(params["delta"]) <= 1:
            raise ValueError(f"{cls.name}: need 0 <= prune_ratio < 1 and 0 <= delta <= 1, got {params!r}")

    def __init__(self, params, trainer):
        super().__init__(params, trainer)
        self._loss = torch.full((trainer.n_train,), float("nan"), device=trainer.device)
        self._weights: torch.Tensor | None = None  # loss weights aligned with the epoch's plan

    def observe(self, indices, losses, stats):
        self._loss[indices] = losses.float()

    def pruning(self) -> bool:
        t = self.trainer
        return t.charged < float(self.params["delta"]) * t.total_steps

    def epoch_indices(self, epoch):
        if not self.pruning():
            self._weights = None
            return self.permutation()
        kept, weights = prune(self._loss, float(self.params["prune_ratio"]), self.trainer.generator)
        order = self.permutation(len(kept))  # never empty: some loss is >= the mean
        self._weights = weights[order]
        return kept[order]

    def next_batch(self):
        start = self._cursor
        batch = super().next_batch()
        if batch is not None and self._weights is not None:
            batch.weights = self._weights[start : self._cursor]
        return batch

    def state_dict(self):
        return {"loss": self._loss.cpu()}

    def load_state_dict(self, state):
        if "loss" in state:
            self._loss = state["loss"].to(self.trainer.device)

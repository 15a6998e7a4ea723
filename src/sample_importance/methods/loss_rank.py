"""Online batch selection by loss rank (Loshchilov & Hutter 2015).

Every sample keeps the latest loss the training step computed for it. Every
`recompute_every` epochs the samples are ranked by that loss, largest first
(samples never seen rank on top, in random order; ties are broken at random),
and the sample of rank r (0-based) gets probability proportional to
exp(-log(s_e) * r / (N - 1)): the top-ranked sample is `selection_pressure`
(s_e) times more likely than the bottom one. Each epoch draws n samples with
replacement by these probabilities (one torch.multinomial). The first epoch,
with no loss seen, draws uniformly. A constant s_e is used (the paper also
studies s_e decaying over epochs).

Charged like uniform: the losses are those of the step's own forward pass
(the paper's variant that refreshes all losses with extra forwards is not used).
"""

import math

import torch

from .base import Method


def rank_probabilities(losses: torch.Tensor, pressure: float, generator: torch.Generator) -> torch.Tensor:
    """Probabilities decaying exponentially with the loss rank (NaN = never seen = top), float64, sum 1."""
    n = len(losses)
    order = torch.randperm(n, generator=generator, device=losses.device)  # random tie-break
    keys = torch.nan_to_num(losses[order].double(), nan=float("inf"))
    ranked = order[torch.sort(keys, descending=True, stable=True).indices]
    decay = math.log(pressure) / max(n - 1, 1)
    p = torch.empty(n, dtype=torch.float64, device=losses.device)
    p[ranked] = torch.exp(-decay * torch.arange(n, dtype=torch.float64, device=losses.device))
    return p / p.sum()


class LossRank(Method):
    name = "loss_rank"
    defaults = {"selection_pressure": 100.0, "recompute_every": 1}

    @classmethod
    def check_params(cls, params):
        if not float(params["selection_pressure"]) >= 1 or int(params["recompute_every"]) < 1:
            raise ValueError(f"{cls.name}: selection_pressure must be >= 1 and recompute_every >= 1, got {params!r}")

    def __init__(self, params, trainer):
        super().__init__(params, trainer)
        self._loss = torch.full((trainer.n_train,), float("nan"), device=trainer.device)  # latest loss per sample
        self._probabilities: torch.Tensor | None = None

    def observe(self, indices, losses, stats):
        self._loss[indices] = losses.float()

    def epoch_indices(self, epoch):
        t = self.trainer
        if bool(torch.isnan(self._loss).all()):
            return self.permutation()
        if self._probabilities is None or epoch % int(self.params["recompute_every"]) == 0:
            self._probabilities = rank_probabilities(self._loss, float(self.params["selection_pressure"]), t.generator)
        return self.draw(self._probabilities, t.n_train, replacement=True)

    def state_dict(self):
        return {"loss": self._loss.cpu(), "probabilities": None if self._probabilities is None else self._probabilities.cpu()}

    def load_state_dict(self, state):
        if "loss" in state:
            self._loss = state["loss"].to(self.trainer.device)
            p = state["probabilities"]
            self._probabilities = None if p is None else p.to(self.trainer.device)

"""Per-sample, per-epoch statistics gathered from the training step's own logits.

Three numbers per forward of a sample, from which every importance metric is
computed without an extra forward pass: p_true (probability of the true, or
dominant, label), margin (p_true minus the largest other probability; > 0 means
correctly classified) and sumsq (sum of squared probabilities, so that
EL2N^2 = 1 - 2 p_true + sumsq). A sample not drawn in an epoch stays NaN; one
drawn several times keeps its last value.
"""

from __future__ import annotations

import numpy as np
import torch

FIELDS = ("p_true", "margin", "sumsq")


def sample_statistics(log_probs: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    """The three statistics of each row of a batch of log-probabilities (detached, float32)."""
    p = log_probs.detach().float().exp()
    p_true = p.gather(1, y[:, None]).squeeze(1)
    other = p.scatter(1, y[:, None], -1.0).amax(1)
    return {"p_true": p_true, "margin": p_true - other, "sumsq": (p * p).sum(1)}


class SampleRecords:
    def __init__(self, n: int, device):
        self.n = n
        self.device = device
        self.epochs: list[dict[str, torch.Tensor]] = []

    def new_epoch(self) -> None:
        self.epochs.append({f: torch.full((self.n,), float("nan"), device=self.device) for f in FIELDS})

    def record(self, indices: torch.Tensor, stats: dict[str, torch.Tensor]) -> None:
        current = self.epochs[-1]
        for f in FIELDS:
            current[f].index_copy_(0, indices, stats[f])

    def as_numpy(self, first: int = 0, last: int | None = None) -> dict[str, np.ndarray]:
        """Epochs [first, last) as float64 arrays [epochs, n]."""
        chosen = self.epochs[first:last]
        if not chosen:
            return {f: np.zeros((0, self.n)) for f in FIELDS}
        return {f: torch.stack([e[f] for e in chosen]).double().cpu().numpy() for f in FIELDS}

    def state_dict(self) -> dict:
        return {f: torch.stack([e[f] for e in self.epochs]).cpu() if self.epochs else torch.zeros(0, self.n) for f in FIELDS}

    def load_state_dict(self, state: dict) -> None:
        n_epochs = len(state["p_true"])
        self.epochs = [{f: state[f][e].to(self.device).clone() for f in FIELDS} for e in range(n_epochs)]

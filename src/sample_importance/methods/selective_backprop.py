"""Selective backprop (Jiang et al. 2019, "Accelerating deep learning by focusing on the biggest losers").

Each epoch walks a random permutation of the training set in candidate chunks
of one batch. A chunk is forwarded without gradient (un-augmented images,
`trainer.forward_no_grad`), and each candidate is kept for back-propagation
with probability percentile(loss)^beta, where the percentile ranks its loss in
the history of the last `history` candidate losses (scipy's
`percentileofscore(kind="rank")` as in the authors' code, the candidate itself
included, so the largest loss in the history is always kept). Candidates enter
the history one by one, in order, exactly as in the authors' sequential loop;
the per-chunk computation is one [chunk, history] comparison.

Kept candidates accumulate until a full batch is ready; that batch is trained
(forward + backward) as usual. Kept candidates left at the end of an epoch wait
for the next one, so every optimizer step back-propagates a full batch.

Charging: the candidate forwards are Batch.extra_forward of the batch they
filled, charged one third of a training example each (base.py), on top of the
step itself. With beta = 3 about a quarter of the candidates are kept, so a
step forwards ~4 batches of candidates and is charged ~1 + 4/3 steps: within
one budget the method takes fewer optimizer steps than uniform.
"""

import torch
import torch.nn.functional as F

from .base import Batch, Method


def rank_percentiles(history: torch.Tensor, losses: torch.Tensor, size: int) -> torch.Tensor:
    """Percentile in [0, 1] of each loss among the last `size` losses once it has joined them, in order.

    history: the previous losses (at most `size`, oldest first). Ties count
    half, as scipy's percentileofscore(kind="rank"): (strict + weak + any tie) / 2n.
    """
    pad = torch.full((size - len(history),), float("nan"), dtype=losses.dtype, device=losses.device)
    stream = torch.cat([pad, history.to(losses.dtype), losses])
    windows = stream.unfold(0, size, 1)[1:]  # window j ends with losses[j]
    value = losses[:, None]
    valid = ~torch.isnan(windows)
    strict = (windows < value).sum(1)
    weak = (windows <= value).sum(1)
    n = valid.sum(1)
    return (strict + weak + (weak > strict).long()).double() / (2.0 * n.double())


class SelectiveBackprop(Method):
    name = "selective_backprop"
    defaults = {"beta": 3.0, "history": 1024}

    @classmethod
    def check_params(cls, params):
        if not float(params["beta"]) >= 0 or int(params["history"]) < 1:
            raise ValueError(f"{cls.name}: beta must be >= 0 and history >= 1, got {params!r}")

    def __init__(self, params, trainer):
        super().__init__(params, trainer)
        self._history = torch.zeros(0, device=trainer.device)  # last `history` candidate losses, oldest first
        self._pending = torch.zeros(0, dtype=torch.long, device=trainer.device)  # kept, not yet trained
        self._pending_forward = 0  # candidates forwarded since the last batch left

    def epoch_indices(self, epoch):
        return self.permutation()

    def select(self, candidates: torch.Tensor) -> torch.Tensor:
        """Forward the candidates, update the loss history, return the ones kept for back-propagation."""
        t = self.trainer
        losses = F.cross_entropy(t.forward_no_grad(candidates), t.labels[candidates], reduction="none")
        size = int(self.params["history"])
        percentile = rank_percentiles(self._history, losses, size)
        self._history = torch.cat([self._history, losses])[-size:]
        keep = torch.rand(len(candidates), generator=t.generator, device=t.device, dtype=torch.float64)
        return candidates[keep < percentile.pow(float(self.params["beta"]))]

    def next_batch(self):
        bs = self.trainer.batch_size
        while len(self._pending) < bs and self._cursor < len(self._plan):
            chunk = self._plan[self._cursor : self._cursor + bs]
            self._cursor += len(chunk)
            self._pending_forward += len(chunk)
            self._pending = torch.cat([self._pending, self.select(chunk)])
        if len(self._pending) < bs:
            return None  # epoch over; the kept candidates wait for the next one
        batch = Batch(self._pending[:bs], extra_forward=self._pending_forward)
        self._pending = self._pending[bs:]
        self._pending_forward = 0
        return batch

    def state_dict(self):
        return {"history": self._history.cpu(), "pending": self._pending.cpu(), "pending_forward": self._pending_forward}

    def load_state_dict(self, state):
        if "history" in state:
            self._history = state["history"].to(self.trainer.device)
            self._pending = state["pending"].to(self.trainer.device)
            self._pending_forward = int(state["pending_forward"])

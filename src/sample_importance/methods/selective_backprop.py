"""Selective backprop (Jiang et al. 2019, "Accelerating deep learning by focusing on the biggest losers").

Follows the authors' code, angelajiang/SelectiveBackprop (lib/), as Arazo et al.
also run it (EricArazo/ImportanceSampling, SelectiveBackprop/lib/):

- Priming: the first `prime_epochs` epochs train every example like uniform SGD
  (random reshuffling, no scoring, the loss history untouched): selectors.py
  PrimedSelector starts with BaselineSelector until num_images_to_prime (the
  training-set size, i.e. one epoch) images were trained.
- Then each epoch walks a random permutation in candidate chunks of one batch
  (trainer.py MemoizedTrainer, forward_batch_size = batch_size). A chunk is
  augmented once (`trainer.augment_indices`) and scored on exactly those tensors
  in eval mode (`trainer.forward_no_grad`; forwardproppers.py
  CutoutForwardpropper calls net.eval() on the loader's augmented images) with
  the training loss (soft targets under mixup/cutmix/ricap, as Arazo's
  forwardproppers.py scores with the mixed loss).
- Percentile, as calculators.py BatchedRelativeProbabilityCalculator.get_probability:
  the whole chunk's losses join the history (the last `history` losses,
  hist.py UnboundedHistogram, a deque) first; then each candidate's percentile is
  the number of history losses strictly below its own over the history length
  (`percentile_of_score`). So the chunk's largest loss gets (len - 1) / len, not 1,
  and ties count as not below. A candidate is kept with probability
  percentile^beta (SamplingSelector: uniform draw < probability; sampling_min 0).
- Kept rows, the very tensors that were scored, accumulate until a full batch
  (Trainer.get_batch); that batch is trained in train mode on them (`Batch.augmented`).

Mixing augmentations mix within the candidate chunk before scoring (as Arazo's
trainer.py create_example_batch does for RICAP), and the mixed rows chosen are
the ones trained: scoring and training see the same rows, soft targets included.

Deliberate difference: the references flush a last, smaller batch at the end of
every epoch; here kept rows left over wait for the next epoch, so every optimizer
step back-propagates a full batch (the learning-rate schedule counts steps).

Charging (`Trainer.step_charge`): the candidate forwards are Batch.extra_forward
of the batch they filled, `train.forward_cost` of a step each (default 1/3). With
beta = 3 about a quarter of the candidates are kept, so a step forwards ~4
batches of candidates and is charged ~1 + 4/3 steps: within one budget the
method takes fewer optimizer steps than uniform. Priming steps cost 1, as uniform.
`train.charge: forwarded` counts the candidates forwarded instead, as Arazo's code.
"""

import torch
import torch.nn.functional as F

from ..training.augment import Augmented
from ..training.engine import example_losses
from .base import Batch, Method, cat_rows, take_rows


def strictly_lower_percentiles(history: torch.Tensor, losses: torch.Tensor) -> torch.Tensor:
    """Share in [0, 1) of `history` strictly below each loss: UnboundedHistogram.percentile_of_score / 100.

    `history` must already hold `losses` (the reference appends the whole chunk first).
    """
    return (history[None, :] < losses[:, None]).sum(1).double() / len(history)


class SelectiveBackprop(Method):
    name = "selective_backprop"
    defaults = {"beta": 3.0, "history": 1024, "prime_epochs": 1}

    @classmethod
    def check_params(cls, params):
        prime = params["prime_epochs"]
        if not float(params["beta"]) >= 0 or int(params["history"]) < 1:
            raise ValueError(f"{cls.name}: beta must be >= 0 and history >= 1, got {params!r}")
        if isinstance(prime, bool) or not isinstance(prime, int) or prime < 0:
            raise ValueError(f"{cls.name}.prime_epochs must be a whole number >= 0 (epochs trained like uniform "
                             f"before selecting), got {prime!r}")

    def __init__(self, params, trainer):
        super().__init__(params, trainer)
        self._epoch = 0
        self._history = torch.zeros(0, device=trainer.device)  # last `history` candidate losses, oldest first
        self._pending = torch.zeros(0, dtype=torch.long, device=trainer.device)  # kept, not yet trained
        self._pending_rows = None  # their augmented tensors (an Augmented), row for row
        self._pending_forward = 0  # candidates forwarded since the last batch left

    def epoch_indices(self, epoch):
        return self.permutation()

    def start_epoch(self, epoch):
        super().start_epoch(epoch)
        self._epoch = epoch

    @property
    def priming(self) -> bool:
        return self._epoch < int(self.params["prime_epochs"])

    def keep_probabilities(self, losses: torch.Tensor) -> torch.Tensor:
        """Add the chunk's losses to the history, then each one's percentile^beta (float64)."""
        self._history = torch.cat([self._history, losses.to(self._history.dtype)])[-int(self.params["history"]):]
        return strictly_lower_percentiles(self._history, losses).pow(float(self.params["beta"]))

    def select(self, candidates: torch.Tensor):
        """Augment and score the candidates; (kept positions, augmented candidates)."""
        t = self.trainer
        aug = t.augment_indices(candidates)
        losses = example_losses(F.log_softmax(t.forward_no_grad(aug.x), dim=1), aug)
        draw = torch.rand(len(candidates), generator=t.generator, device=t.device, dtype=torch.float64)
        return torch.nonzero(draw < self.keep_probabilities(losses)).squeeze(1), aug

    def _keep(self, candidates: torch.Tensor) -> None:
        kept, aug = self.select(candidates)
        rows = take_rows(aug, kept)
        self._pending = torch.cat([self._pending, candidates[kept]])
        self._pending_rows = rows if self._pending_rows is None else cat_rows(self._pending_rows, rows)

    def next_batch(self):
        if self.priming:
            return super().next_batch()
        bs = self.trainer.batch_size
        while len(self._pending) < bs and self._cursor < len(self._plan):
            chunk = self._plan[self._cursor : self._cursor + bs]
            self._cursor += len(chunk)
            self._pending_forward += len(chunk)
            self._keep(chunk)
        if len(self._pending) < bs:
            return None  # epoch over; the kept candidates wait for the next one
        batch = Batch(self._pending[:bs], extra_forward=self._pending_forward,
                      augmented=take_rows(self._pending_rows, slice(None, bs)))
        self._pending = self._pending[bs:]
        self._pending_rows = take_rows(self._pending_rows, slice(bs, None))
        self._pending_forward = 0
        return batch

    def state_dict(self):
        rows = self._pending_rows
        soft = None if rows is None else rows.soft_targets
        return {"history": self._history.cpu(), "pending": self._pending.cpu(), "pending_forward": self._pending_forward,
                "pending_x": None if rows is None else rows.x.cpu(),
                "pending_y": None if rows is None else rows.y.cpu(),
                "pending_soft": None if soft is None else soft.cpu()}

    def load_state_dict(self, state):
        if "history" not in state:
            return
        device = self.trainer.device
        self._history = state["history"].to(device)
        self._pending = state["pending"].to(device)
        self._pending_forward = int(state["pending_forward"])
        soft = state.get("pending_soft")
        self._pending_rows = None if state.get("pending_x") is None else Augmented(
            state["pending_x"].to(device), None if soft is None else soft.to(device), state["pending_y"].to(device))

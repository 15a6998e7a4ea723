"""InfoBatch (Qin et al., ICLR 2024): unbiased dynamic pruning of well-learned samples.

Reference: NUS-HPC-AI-Lab/InfoBatch, infobatch/infobatch.py (InfoBatch.prune,
InfoBatch.update, IBSampler.reset) and cifar_example.py (the per-epoch schedule).

Every sample keeps the latest loss the training step computed for it (pruned
samples keep their older one). At the start of each epoch, of the samples whose
latest loss is below the mean of the latest losses, int(keep * count) chosen at
random without replacement are kept and the rest pruned for this epoch, with
keep = min(1, max(0.1, 1 - prune_ratio)) (the reference's keep-ratio clamp);
the kept low-loss samples' losses are scaled by 1 / keep, so the expected
gradient stays that of the full epoch. The epoch visits the kept samples and
all others in a random order, in ceil(kept / batch_size) steps (the sampler's
length). Samples never seen (the first epoch) are never pruned and do not enter
the mean (the reference starts every score at 3, which prunes nothing either).

`budget_mode` says what the budget fixes:
- steps (default): round(budget * full_iterations) optimizer steps, as every
  method here; pruned epochs are shorter, so the budget covers more epochs.
  Pruning stops ("annealing") once delta of the budget is spent: an epoch prunes
  only if it starts with trainer.charged < delta * total_steps.
- epochs (the reference's "lossless saving"): E = budget * train.epochs epochs,
  as uniform's schedule, in fewer steps. Epoch e prunes iff e + 1 <= delta * E
  (IBSampler: its counter is e + 1 and it stops above num_epochs * delta). The
  learning rate follows epoch progress (e + j / L_e) / E at step j of an epoch
  of L_e steps, as cifar_example.py rebuilding OneCycleLR every epoch with that
  epoch's length. The method reports that progress to the engine
  (Method.progress): the schedule reads it and the run ends when it reaches 1,
  after the E epochs, whatever the charged steps (run.json's total_steps stays
  the budget's; its iterations are the steps the run took).

Charged like uniform: pruned samples are neither forwarded nor charged.
"""

from __future__ import annotations

import math

import torch

from .base import Method

MIN_KEEP = 0.1  # the reference never keeps fewer than 10 % of the well-learned samples


def keep_ratio(prune_ratio: float) -> float:
    """Share of the below-mean samples kept: InfoBatch.__init__'s min(1, max(0.1, 1 - prune_ratio))."""
    return min(1.0, max(MIN_KEEP, 1.0 - prune_ratio))


def prune(losses: torch.Tensor, ratio: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(kept indices, their loss weights): keep int(keep * k) of the k below-mean-loss samples at random, weight 1/keep."""
    n, keep = len(losses), keep_ratio(ratio)
    seen = ~torch.isnan(losses)
    low = seen & (losses < losses[seen].mean()) if bool(seen.any()) else torch.zeros_like(seen)
    low_idx = torch.nonzero(low).flatten()
    n_keep = int(keep * len(low_idx))
    kept_low = low_idx[torch.randperm(len(low_idx), generator=generator, device=losses.device)[:n_keep]]
    kept = torch.cat([torch.nonzero(~low).flatten(), kept_low])
    weights = torch.ones(n, device=losses.device)
    if n_keep:
        weights[kept_low] = 1.0 / keep
    return kept, weights[kept]


class InfoBatch(Method):
    name = "infobatch"
    defaults = {"prune_ratio": 0.5, "delta": 0.875, "budget_mode": "steps"}
    choices = {"budget_mode": ("steps", "epochs")}

    @classmethod
    def check_params(cls, params):
        if not 0 <= float(params["prune_ratio"]) <= 1 or not 0 <= float(params["delta"]) <= 1:
            raise ValueError(f"{cls.name}: need 0 <= prune_ratio <= 1 and 0 <= delta <= 1, got {params!r}")
        if params["budget_mode"] not in cls.choices["budget_mode"]:
            raise ValueError(f"{cls.name}.budget_mode must be one of {', '.join(cls.choices['budget_mode'])}, "
                             f"got {params['budget_mode']!r}")

    def __init__(self, params, trainer):
        super().__init__(params, trainer)
        self._loss = torch.full((trainer.n_train,), float("nan"), device=trainer.device)
        self._weights: torch.Tensor | None = None  # loss weights aligned with the epoch's plan
        self._epoch = 0
        self._batch = 0  # batches handed out this epoch
        self._batches = 0  # batches this epoch takes (epochs mode)
        self._progress = 0.0  # epochs mode: epoch progress after the last step, (e + j / L_e) / E

    @property
    def by_epochs(self) -> bool:
        return self.params["budget_mode"] == "epochs"

    @property
    def run_epochs(self) -> float:
        """The epochs of the run in epochs mode: the budget's share of the full schedule."""
        return float(self.trainer.spec["budget"]) * int(self.trainer.cfg["epochs"])

    def pruning(self, epoch: int) -> bool:
        t, delta = self.trainer, float(self.params["delta"])
        if self.by_epochs:
            return epoch + 1 <= delta * self.run_epochs + 1e-9
        return t.charged < delta * t.total_steps

    def epoch_indices(self, epoch):
        if not self.pruning(epoch):
            self._weights = None
            return self.permutation()
        kept, weights = prune(self._loss, float(self.params["prune_ratio"]), self.trainer.generator)
        order = self.permutation(len(kept))  # never empty: some loss is >= the mean
        self._weights = weights[order]
        return kept[order]

    def start_epoch(self, epoch):
        super().start_epoch(epoch)
        self._epoch, self._batch = epoch, 0
        length = math.ceil(len(self._plan) / self.trainer.batch_size)
        left = self.run_epochs - epoch  # epochs mode: a fractional last epoch takes its share of the steps
        self._batches = length if left >= 1 - 1e-9 else max(1 if epoch == 0 else 0, round(left * length))

    def next_batch(self):
        if self.by_epochs and self._batch >= self._batches:
            return None
        start = self._cursor
        batch = super().next_batch()
        if batch is not None:
            self._batch += 1
            if self._weights is not None:
                batch.weights = self._weights[start : self._cursor]
        return batch

    def observe(self, indices, losses, stats):
        self._loss[indices] = losses.float()
        if self.by_epochs:
            self._progress = self._progress_after_step()

    def _progress_after_step(self) -> float:
        """Epoch progress at the next step: (e + j / L_e) / E, or (e + 1) / E after the epoch's last step."""
        e, j, length = self._epoch, self._batch, math.ceil(len(self._plan) / self.trainer.batch_size)
        done = e + 1 if j >= self._batches else e + j / length
        return done / self.run_epochs

    def progress(self):
        """Epochs mode: the epoch progress the schedule follows (the run ends at 1); steps mode: the engine's."""
        return min(1.0, self._progress) if self.by_epochs else None

    def end_epoch(self, epoch):
        if self.by_epochs and epoch + 1 >= self.run_epochs - 1e-9:
            self._progress = 1.0  # E epochs done (covers an empty fractional last epoch)

    def state_dict(self):
        state = {"loss": self._loss.cpu()}
        if self.by_epochs:
            state["progress"] = self._progress
        return state

    def load_state_dict(self, state):
        if "loss" in state:
            self._loss = state["loss"].to(self.trainer.device)
        if self.by_epochs and "progress" in state:
            self._progress = float(state["progress"])

"""The one interface every method implements.

A method may (1) choose the indices of the next batch, (2) weight per-example
losses, (3) choose which examples of a forward batch are back-propagated (by
returning only those indices in its Batch, after scoring candidates with
`trainer.forward_no_grad`), and (4) update its state from the per-example loss
and statistics (p_true, margin, sumsq) the training step hands back. Everything
else (model, augmentation, optimizer, schedule, budget, evaluation, logging) is
the engine's.

A method that scores candidates augments them once (`trainer.augment_indices`),
scores those tensors (`trainer.forward_no_grad`, eval mode) and returns the
chosen rows in `Batch.augmented`, so the step trains on exactly what was scored.

Budget: a method with one-off work before its first step (RHO-LOSS's irreducible model) returns its
cost from `prepare()` and the engine books it (`Trainer.book_upfront`); a method whose run ends on
its own clock (InfoBatch's epochs mode) reports `progress()`. Neither touches the engine's counters.

Accounting: the budget counts optimizer steps. Forward passes a method makes
only to choose examples (Batch.extra_forward) are charged `train.forward_cost`
of a training example each (default 1/3: a backward pass costs about twice a
forward), so such a method runs fewer optimizer steps within the same budget
(`Trainer.step_charge`; `train.charge: forwarded` counts as Arazo et al.'s code).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch

from ..training.augment import Augmented

if TYPE_CHECKING:  # pragma: no cover
    from ..training.engine import Trainer


@dataclass
class Batch:
    indices: torch.Tensor  # training-set indices to forward and back-propagate
    weights: torch.Tensor | None = None  # per-example loss weights (None: all 1)
    extra_forward: int = 0  # examples forwarded only to select this batch
    # the rows already augmented (and scored) by the method, row for row with `indices`; the step trains on
    # exactly these tensors instead of augmenting afresh (None: the step augments)
    augmented: Augmented | None = None
    # [n_classes] added to the logits of the training loss only (logit adjustment); the recorded statistics
    # (p_true, margin) stay those of the model's own logits (None: the plain loss)
    logit_offset: torch.Tensor | None = None


@dataclass
class Upfront:
    """Work a method does once before its first step (e.g. RHO-LOSS's irreducible model), in the engine's units."""
    charge: float  # charged steps, booked against the budget before the first optimizer step
    forwarded: int = 0  # examples forwarded, added to the run's counters
    backpropagated: int = 0  # examples back-propagated, added to the run's counters
    fix: str = ""  # what to change when the charge alone spends the budget (in the engine's error)


def take_rows(aug: Augmented, rows: torch.Tensor | slice) -> Augmented:
    """Some rows of an augmented batch: positions (a position may repeat) or a slice."""
    pick = (lambda t: t[rows]) if isinstance(rows, slice) else (lambda t: t.index_select(0, rows))  # noqa: E731
    return Augmented(pick(aug.x), None if aug.soft_targets is None else pick(aug.soft_targets), pick(aug.y))


def cat_rows(first: Augmented, second: Augmented) -> Augmented:
    """Two augmented batches, one after the other (both with or both without soft targets)."""
    soft = None if first.soft_targets is None else torch.cat([first.soft_targets, second.soft_targets])
    return Augmented(torch.cat([first.x, second.x]), soft, torch.cat([first.y, second.y]))


class Method:
    name: ClassVar[str] = "base"
    defaults: ClassVar[dict] = {}
    staged: ClassVar[bool] = False  # runs as warm-up -> score -> continue rules
    static: ClassVar[bool] = False  # trains on a subset chosen before the run by separate scoring trainings

    def __init__(self, params: dict, trainer: "Trainer"):
        self.params = {**self.defaults, **params}
        self.check_params(self.params)
        self.trainer = trainer
        self._plan: torch.Tensor | None = None
        self._cursor = 0

    @classmethod
    def check_params(cls, params: dict) -> None:
        """Raise ValueError for a hyper-parameter value the method cannot use.

        Called when the config is checked, before any job runs, and again on construction.
        """

    # -- (1) which examples, epoch by epoch ------------------------------------------------
    def epoch_indices(self, epoch: int) -> torch.Tensor:
        """The examples of this epoch in the order they are used; the engine cuts them into batches."""
        raise NotImplementedError

    def start_epoch(self, epoch: int) -> None:
        self._plan = self.epoch_indices(epoch)
        self._cursor = 0

    def next_batch(self) -> Batch | None:
        """The next batch of the epoch, or None when the epoch is over."""
        if self._cursor >= len(self._plan):
            return None
        bs = self.trainer.batch_size
        batch = Batch(self._plan[self._cursor : self._cursor + bs])
        self._cursor += bs
        return batch

    # -- budget: what the engine books and how far the run is --------------------------------
    def upfront_cost(self) -> Upfront:
        """What the method's one-off preparation will cost: the engine checks it against the budget first."""
        return Upfront(0.0)

    def prepare(self) -> Upfront | None:
        """One-off work before the first optimizer step; the engine books the returned cost (None: nothing).

        Called once per run, after the first evaluation and inside the timed training; the engine has
        already checked `upfront_cost()` against the budget, so minutes of work are not spent on a run
        that cannot train.
        """
        return None

    def progress(self) -> float | None:
        """The run's progress in [0, 1] when the method, not the charged budget, decides it (None: the engine's).

        The learning-rate schedule reads it and the run ends when it reaches 1 (e.g. InfoBatch's epochs mode:
        epoch progress, in fewer steps than the budget). The engine's own progress is charged compute after
        the up-front charge over the budget after it (`Trainer.budget_progress`).
        """
        return None

    # -- (4) what the training step saw ----------------------------------------------------
    def observe(self, indices: torch.Tensor, losses: torch.Tensor, stats: dict[str, torch.Tensor]) -> None:
        """Per-example loss and statistics (p_true, margin, sumsq; records.sample_statistics) of the batch
        just trained on, detached and row for row with `indices` (a sample drawn twice has two rows)."""

    def end_epoch(self, epoch: int) -> None:
        pass

    # -- checkpoints (taken at epoch boundaries) -------------------------------------------
    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    # -- helpers shared by methods -----------------------------------------------------------
    def permutation(self, n: int | None = None) -> torch.Tensor:
        """Random reshuffling: every example once, in a fresh random order."""
        t = self.trainer
        return torch.randperm(n or t.n_train, generator=t.generator, device=t.device)

    def draw(self, probabilities: torch.Tensor, k: int, replacement: bool = True) -> torch.Tensor:
        """k indices drawn by the given probabilities: one torch.multinomial call."""
        return torch.multinomial(probabilities, k, replacement=replacement, generator=self.trainer.generator)


class StagedMethod(Method):
    """Warm-up with random reshuffling, score once from what warm-up recorded, then continue.

    The warm-up epochs count inside the budget. `weights` holds what the score
    step produced; the continue step hands it in with `set_weights`, so a run
    split across processes equals the same run done in one.
    """

    staged = True
    defaults: ClassVar[dict] = {"warmup_epochs": 5}

    @classmethod
    def check_params(cls, params):
        w = params["warmup_epochs"]
        if isinstance(w, bool) or not isinstance(w, int) or w < 1:
            raise ValueError(f"{cls.name}.warmup_epochs must be a whole number >= 1 (the scores come from the "
                             f"warm-up's records), got {w!r}")

    def __init__(self, params, trainer):
        super().__init__(params, trainer)
        self.weights: torch.Tensor | None = None
        self.scores: np.ndarray | None = None  # raw importance behind the weights (saved by the score step)

    @property
    def warmup_epochs(self) -> int:
        return int(self.params["warmup_epochs"])

    def score(self, records: dict[str, np.ndarray], labels: np.ndarray) -> np.ndarray:
        """Per-sample weights (float64) from the recorded statistics [epochs, n]; sets `self.scores`."""
        raise NotImplementedError

    def continuation_indices(self, epoch: int) -> torch.Tensor:
        raise NotImplementedError

    def set_weights(self, weights: np.ndarray, scores: np.ndarray | None = None) -> None:
        """The score step's output; `scores` too, since a re-score keeps the old scores of unseen samples."""
        self.weights = torch.as_tensor(weights, dtype=torch.float64, device=self.trainer.device)
        if scores is not None:
            self.scores = np.asarray(scores, dtype=np.float64)

    def rescore_due(self, epoch: int) -> bool:
        return False

    def epoch_indices(self, epoch: int) -> torch.Tensor:
        if epoch < self.warmup_epochs:
            return self.permutation()
        if self.weights is None or self.rescore_due(epoch):
            t = self.trainer
            first = max(0, epoch - self.warmup_epochs) if self.weights is not None else 0
            self.set_weights(self.score(t.records.as_numpy(first, epoch), t.labels_numpy))
        return self.continuation_indices(epoch)

    def state_dict(self) -> dict:
        return {"weights": None if self.weights is None else self.weights.cpu(),
                "scores": None if self.scores is None else torch.from_numpy(self.scores)}

    def load_state_dict(self, state: dict) -> None:
        w = state.get("weights")
        self.weights = None if w is None else w.to(self.trainer.device)
        self.scores = None if state.get("scores") is None else state["scores"].numpy()

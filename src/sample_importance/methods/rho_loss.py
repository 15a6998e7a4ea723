"""RHO-LOSS: reducible holdout loss selection (Mindermann et al., ICML 2022, "Prioritized training on
points that are learnable, worth learning, and not yet learnt").

Reference code: OATML/RHO-Loss. src/train_irreducible.py trains the irreducible-loss
model on a held-out split and saves its per-sample losses on the training set
(utils.compute_losses_with_sanity_checks, un-augmented images) once; src/models/
MultiModels.py `training_step` takes a large batch, keeps
selected_batch_size = max(1, int(len(batch) * percent_train)) (percent_train 0.1) of
it with src/curricula/selection_methods.py `reducible_loss_selection`: the top-k of
training loss - irreducible loss (`top_x_indices`), the training loss from a
no-grad forward of the target model in train mode (selection_train_mode True), and
trains on the selected points.

Here, in one run:

1. Holdout: a class-stratified `holdout_fraction` of the training split (default
   0.5: CIFAR10DataModule splits the 50,000 training images into 25,000 train and
   25,000 holdout), drawn from the dataset's data_seed (offset, so it is independent
   of the label-noise draw), so every run seed of a dataset shares it (the
   reference's split is fixed too). The holdout samples are
   removed from the main model's training set, as in the paper; the label noise of
   the dataset is on both parts (a clean holdout is not free in practice).
2. Irreducible model: `irreducible_model` (default the small CNN, width
   train.width), trained `irreducible_epochs` on the holdout through the run's own
   data pipeline (normalisation, augmentation, batch_size), AdamW lr 1e-3
   (configs/optimizer/adamw.yaml, torch's weight decay 0.01), in the same process at
   the start of the run (first epoch), seeded from the run seed. Then its loss on
   every main training sample, un-augmented, in eval mode, computed once.
3. Each step: a candidate chunk of round(B / percent_train) samples of a random
   permutation of the main set (a large batch of the reference's loader), augmented
   once (`trainer.augment_indices`), forwarded without gradient, and the B with the
   largest training loss - irreducible loss are trained on exactly those tensors
   (`Batch.augmented`). The last, smaller chunk of an epoch keeps
   max(1, len * B // chunk) rows, as the reference's last batch.

Charging (`Trainer.step_charge` and the up-front charge below). Each step:
the whole candidate chunk is Batch.extra_forward (the selected rows are forwarded
again with gradient, as in the reference), so a step costs 1 + 10 forward_cost =
4.33 steps with the defaults. The irreducible model: its training examples
(irreducible_epochs x holdout size, forward + backward) and its loss forwards over
the main set (forward_cost each), in steps of batch_size, times
`irreducible_cost` (1: an irreducible step costs what a main step costs, exact
when both are the small CNN; 0: not charged, the paper's view of an irreducible
model trained once and reused). `prepare()` trains the model before the first
step and returns that charge (with its examples, for the forwarded /
back-propagated counters); the engine books it (`Trainer.book_upfront`), so the
budget covers it and the main model takes fewer steps, while its learning-rate
schedule runs over the budget left after it and so starts at its peak
(`Trainer.budget_progress`). A budget the irreducible model alone spends is an error,
raised before the model is trained.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..training.engine import example_losses
from ..training.models import MODELS, build_model
from .base import Batch, Method, Upfront, take_rows

IRREDUCIBLE_SEED_OFFSET = 104_729  # the irreducible model's initialisation and data order: not the main model's
# The holdout's generator: data_seed + this. Seeded by data_seed alone, its permutation would be the label
# noise's (datasets.build draws it first from a generator seeded by data_seed), and the holdout would
# hold the mislabeled samples.
HOLDOUT_SEED_OFFSET = 1_000_003


def stratified_holdout(labels: torch.Tensor, fraction: float, seed: int) -> torch.Tensor:
    """Bool mask of a class-stratified random `fraction` of the samples (round per class), on the CPU."""
    gen = torch.Generator().manual_seed(seed)
    y = labels.cpu()
    order = torch.randperm(len(y), generator=gen)
    order = order[torch.sort(y[order], stable=True).indices]  # grouped by class, random within
    counts = torch.bincount(y)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.arange(len(y)) - starts[y[order]]
    keep = torch.round(counts.double() * fraction).long()
    mask = torch.zeros(len(y), dtype=torch.bool)
    mask[order[rank < keep[y[order]]]] = True
    return mask


def select_reducible(train_losses: torch.Tensor, irreducible: torch.Tensor, k: int) -> torch.Tensor:
    """Positions of the k largest reducible losses (training loss - irreducible loss), largest first."""
    return torch.topk(train_losses.float() - irreducible.float(), k, sorted=True).indices


class RhoLoss(Method):
    name = "rho_loss"
    defaults = {"percent_train": 0.1, "holdout_fraction": 0.5, "irreducible_epochs": 10, "irreducible_lr": 0.001,
                "irreducible_weight_decay": 0.01, "irreducible_model": "cnn", "irreducible_cost": 1.0,
                "selection_train_mode": True}
    choices = {"irreducible_model": MODELS}

    @classmethod
    def check_params(cls, params):
        epochs = params["irreducible_epochs"]
        if not 0 < float(params["percent_train"]) <= 1 or not 0 < float(params["holdout_fraction"]) < 1:
            raise ValueError(f"{cls.name}: percent_train must be in (0, 1] and holdout_fraction in (0, 1), "
                             f"got {params!r}")
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"{cls.name}.irreducible_epochs must be a whole number >= 1, got {epochs!r}")
        if not float(params["irreducible_lr"]) > 0 or not float(params["irreducible_weight_decay"]) >= 0:
            raise ValueError(f"{cls.name}: irreducible_lr must be > 0 and irreducible_weight_decay >= 0, "
                             f"got {params!r}")
        if not float(params["irreducible_cost"]) >= 0:
            raise ValueError(f"{cls.name}.irreducible_cost must be >= 0, got {params['irreducible_cost']!r}")
        if not isinstance(params["selection_train_mode"], bool):
            raise ValueError(f"{cls.name}.selection_train_mode must be true or false, "
                             f"got {params['selection_train_mode']!r}")

    def __init__(self, params, trainer):
        super().__init__(params, trainer)
        seed = int((trainer.data.spec or {}).get("data_seed", 0))
        self.holdout = stratified_holdout(trainer.labels, float(self.params["holdout_fraction"]),
                                          seed + HOLDOUT_SEED_OFFSET).to(trainer.device)
        self.main_indices = torch.nonzero(~self.holdout).flatten()
        self.irreducible: torch.Tensor | None = None  # per training sample; NaN on the holdout
        self.irreducible_charge = 0.0

    @property
    def chunk_size(self) -> int:
        """Candidates per step: the reference's large batch, B / percent_train."""
        return max(self.trainer.batch_size, round(self.trainer.batch_size / float(self.params["percent_train"])))

    # ------------------------------------------------------------------ the irreducible model
    def set_irreducible(self, losses: torch.Tensor, charge: float = 0.0) -> None:
        """Irreducible losses of every training sample (and what they cost), e.g. from an oracle in a test.

        Set before the run starts: the engine books the charge before the first step, like a trained model's."""
        self.trainer.check_upfront(self._upfront(charge))
        self.irreducible = losses.to(self.trainer.device, torch.float32)
        self.irreducible_charge = float(charge)

    def _upfront(self, charge: float, trained: int = 0, forwarded: int = 0) -> Upfront:
        return Upfront(charge, forwarded, trained, fix=f"Fix: fewer irreducible_epochs (now "
                       f"{self.params['irreducible_epochs']}), a larger budget, or irreducible_cost 0")

    def _charge_of(self, trained: int, forwarded: int) -> float:
        """Charged steps of `trained` forward+backward and `forwarded` forward-only examples (Trainer.step_charge)."""
        t = self.trainer
        fc = 1.0 if t.charge_mode == "forwarded" else t.forward_cost
        return float(self.params["irreducible_cost"]) * (trained + forwarded * fc) / t.batch_size

    def _model(self) -> torch.nn.Module:
        t = self.trainer
        with torch.random.fork_rng(devices=[]):  # the main model's and the run's streams stay untouched
            torch.manual_seed(t.seed + IRREDUCIBLE_SEED_OFFSET)
            model = build_model(self.params["irreducible_model"], t.data.image_shape[0], t.n_classes,
                                int(t.cfg.get("width", 32)))
        return model.to(t.device, memory_format=t.memory_format)

    def fit_irreducible(self) -> torch.Tensor:
        """Train the irreducible model on the holdout; its loss on every main sample (NaN on the holdout)."""
        t = self.trainer
        model = self._model()
        opt = torch.optim.AdamW(model.parameters(), lr=float(self.params["irreducible_lr"]),
                                weight_decay=float(self.params["irreducible_weight_decay"]))
        gen = torch.Generator(device=t.device).manual_seed(t.seed + IRREDUCIBLE_SEED_OFFSET)
        holdout = torch.nonzero(self.holdout).flatten()
        model.train()
        for _ in range(int(self.params["irreducible_epochs"])):
            order = holdout[torch.randperm(len(holdout), generator=gen, device=t.device)]
            for batch in order.split(t.batch_size):
                aug = t.augment(t.train_images(batch), t.labels.index_select(0, batch), gen)
                with t.autocast():
                    logits = model(t.normalize(aug.x))
                loss = example_losses(F.log_softmax(logits.float(), dim=1), aug).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
        return self._losses_on_main(model)

    @torch.no_grad()
    def _losses_on_main(self, model: torch.nn.Module) -> torch.Tensor:
        t = self.trainer
        model.eval()
        out = torch.full((t.n_train,), math.nan, device=t.device)
        for batch in self.main_indices.split(int(t.cfg.get("eval_batch_size", 1024))):
            with t.autocast():
                logits = model(t.normalize(t.train_images(batch))).float()
            out[batch] = F.cross_entropy(logits, t.labels.index_select(0, batch), reduction="none")
        return out

    def upfront_cost(self) -> Upfront:
        """The irreducible model's charge, checked by the engine before minutes of training, not after."""
        if self.irreducible is not None:  # set by hand (set_irreducible): its given charge
            return self._upfront(self.irreducible_charge)
        n_hold, n_main = int(self.holdout.sum()), len(self.main_indices)
        trained = int(self.params["irreducible_epochs"]) * n_hold
        return self._upfront(self._charge_of(trained, n_main), trained, trained + n_main)

    def prepare(self) -> Upfront:
        cost = self.upfront_cost()
        if self.irreducible is None:
            self.irreducible = self.fit_irreducible()
            self.irreducible_charge = cost.charge
        return cost

    # ------------------------------------------------------------------ selection
    def epoch_indices(self, epoch):
        return self.main_indices[self.permutation(len(self.main_indices))]

    def training_losses(self, aug) -> torch.Tensor:
        """The main model's loss on the candidates, no gradient: train mode as the reference, or eval mode."""
        t = self.trainer
        if not self.params["selection_train_mode"]:
            logits = t.forward_no_grad(aug.x)
        else:
            with torch.no_grad(), t.autocast():
                logits = t.forward(t.normalize(aug.x)).float()
        return example_losses(F.log_softmax(logits, dim=1), aug)

    def next_batch(self):
        if self._cursor >= len(self._plan):
            return None
        t = self.trainer
        chunk = self._plan[self._cursor:self._cursor + self.chunk_size]
        self._cursor += len(chunk)
        k = max(1, len(chunk) * t.batch_size // self.chunk_size)
        aug = t.augment_indices(chunk)
        top = select_reducible(self.training_losses(aug), self.irreducible.index_select(0, chunk), k)
        return Batch(chunk[top], extra_forward=len(chunk), augmented=take_rows(aug, top))

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self):
        return {"irreducible": None if self.irreducible is None else self.irreducible.cpu(),
                "irreducible_charge": self.irreducible_charge}

    def load_state_dict(self, state):
        if state.get("irreducible") is not None:
            self.irreducible = state["irreducible"].to(self.trainer.device)
            self.irreducible_charge = float(state["irreducible_charge"])

"""The one training loop every method runs in.

Data sit on the training device as uint8 tensors; a step gathers its batch by
index, augments it batched on the device, runs forward/backward/SGD, and
scatters the per-sample statistics of the step's own logits into the records.
The method only decides which examples (and with which loss weights); the
budget, schedule, evaluation and accounting are here, identical for all.

The whole state (model, optimizer, generator, counters, records, method state,
logged rows) is a `state_dict`, saved at epoch boundaries: a run stopped after
warm-up and continued in another process is the same run, bit for bit on CPU.
"""

from __future__ import annotations

import logging
import math
import os
import time
from contextlib import nullcontext

import numpy as np
import torch
import torch.nn.functional as F

from .augment import Augmented, build_augmentation
from ..data.datasets import Dataset
from ..methods import method_class
from ..methods.base import Batch, Upfront
from .models import build_model
from .records import SampleRecords, sample_statistics
from .schedule import budget_steps, lr_multiplier
from .sgd import SGD

log = logging.getLogger(__name__)


class DivergenceError(RuntimeError):
    """The training loss became NaN or infinite."""


FORWARD_COST = 1.0 / 3.0  # default train.forward_cost: a backward pass costs about two forward passes
CHARGES = ("compute", "forwarded")  # train.charge: see Trainer.step_charge


def example_losses(log_probs: torch.Tensor, aug: Augmented) -> torch.Tensor:
    """Cross-entropy of each row against its label, or its soft targets under a mixing augmentation.

    The loss every step trains on; methods that score candidates use it too, so
    a candidate is ranked by the loss it would be trained with.
    """
    if aug.soft_targets is None:
        return -log_probs.gather(1, aug.y[:, None]).squeeze(1)
    return -(aug.soft_targets * log_probs).sum(1)


def _clock(seconds: float) -> str:
    """h:mm:ss for a progress line ("?" before anything is known)."""
    if not math.isfinite(seconds):
        return "?"
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"train.device is {name!r} but CUDA is not available here; use 'auto' or 'cpu'.")
    return device


def configure_torch(train_cfg: dict, device: torch.device) -> None:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()  # macOS has no affinity
    threads = int(train_cfg.get("threads", 0)) or int(os.environ.get("SLURM_CPUS_PER_TASK", 0)) or cores
    torch.set_num_threads(max(1, threads))
    if train_cfg.get("deterministic"):
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    elif device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


class Trainer:
    def __init__(self, spec: dict, data: Dataset, progress: bool = True):
        cfg = spec["train"]
        self.spec = spec
        self.cfg = cfg
        self.device = resolve_device(cfg.get("device", "auto"))
        configure_torch(cfg, self.device)
        self.seed = int(spec["seed"])
        self.progress = progress

        self.data = data.to(self.device)
        self.labels = self.data.train.y
        self.labels_numpy = data.train.y.numpy()
        self.n_train = len(self.labels)
        self.n_classes = data.n_classes
        self.batch_size = int(cfg["batch_size"])
        self.total_steps, self.full_iterations = budget_steps(float(spec["budget"]), int(cfg["epochs"]), self.n_train, self.batch_size)
        self.steps_per_epoch = math.ceil(self.n_train / self.batch_size)
        self._mean = data.mean.to(self.device)[None, :, None, None]
        self._std = data.std.to(self.device)[None, :, None, None]

        torch.manual_seed(self.seed)  # model initialisation, identical on every device (built on the CPU)
        channels, size = data.image_shape[0], data.image_shape[1]
        self.model = build_model(spec["model"], channels, self.n_classes, int(cfg.get("width", 32))).to(self.device)
        cuda = self.device.type == "cuda"
        self.memory_format = torch.channels_last if cuda and cfg.get("channels_last", True) else torch.contiguous_format
        self.model = self.model.to(memory_format=self.memory_format)
        self.forward = torch.compile(self.model) if cuda and cfg.get("compile") else self.model
        precision = cfg.get("precision", "auto")
        use_bf16 = precision == "bf16" or (precision == "auto" and cuda)
        self.autocast = (lambda: torch.autocast(self.device.type, dtype=torch.bfloat16)) if use_bf16 else nullcontext
        self.forward_cost = float(cfg.get("forward_cost", FORWARD_COST))
        if not 0 < self.forward_cost <= 1:
            raise ValueError(f"train.forward_cost must be in (0, 1] (a forward's share of forward + backward), "
                             f"got {self.forward_cost}")
        self.charge_mode = cfg.get("charge", "compute")
        if self.charge_mode not in CHARGES:
            raise ValueError(f"train.charge must be one of {', '.join(CHARGES)}, got {self.charge_mode!r}")
        self.base_lr = float(cfg["lr"])
        self.optimizer = SGD(
            self.model.parameters(), lr=self.base_lr, momentum=float(cfg["momentum"]),
            nesterov=bool(cfg.get("nesterov", False)), weight_decay=float(cfg["weight_decay"]),
        )
        self.generator = torch.Generator(device=self.device).manual_seed(self.seed)
        self.augment = build_augmentation(spec["augmentation"], size, self.n_classes)
        self.records = SampleRecords(self.n_train, self.device)
        self.method = method_class(spec["method"])(spec.get("method_params", {}), self)

        # counters and logs (all part of the state)
        self.step = 0
        self.charged = 0.0
        self.upfront_charge = 0.0  # charged before the first step by the method's one-off work (book_upfront)
        self.prepared = False  # the method's prepare() has run and its cost is booked
        self._log_origin = None  # (clock, budget progress) at this process's first logged evaluation: the ETA's base
        self.epoch = 0
        self.examples_forwarded = 0
        self.examples_backpropagated = 0
        self.train_seconds = 0.0
        self.metrics: list[dict] = []
        self.class_draws: list[dict] = []
        self._loss_sum = torch.zeros((), device=self.device)
        self._loss_count = 0
        self._draws = torch.zeros(self.n_classes, dtype=torch.long, device=self.device)
        # draws on mislabeled samples (data/noise.py), per class of the label drawn; counted only on noisy data
        self._noisy = self.data.noisy.long() if data.has_noise else None
        self._noisy_draws = torch.zeros(self.n_classes, dtype=torch.long, device=self.device)
        self._bar = None

    # ------------------------------------------------------------------ data
    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return ((x - self._mean) / self._std).contiguous(memory_format=self.memory_format)

    def train_images(self, indices: torch.Tensor) -> torch.Tensor:
        # index_select, not x[indices]: the same gather, over 10x faster on a CPU for a batch of images
        return self.data.train.x.index_select(0, indices).float().div_(255)

    def augment_indices(self, indices: torch.Tensor) -> Augmented:
        """The training images of `indices`, augmented once with the run's generator, as a step would.

        For methods that score candidates: they score these tensors and hand the
        chosen rows back in `Batch.augmented`, so the step trains on exactly what
        was scored. Mixing augmentations mix within `indices` (rows depend on it).
        """
        return self.augment(self.train_images(indices), self.labels.index_select(0, indices), self.generator)

    @torch.no_grad()
    def forward_no_grad(self, inputs: torch.Tensor) -> torch.Tensor:
        """Logits (float32) in eval mode, for methods that score candidates.

        inputs: float images in [0, 1] ([B, C, H, W], e.g. `augment_indices(...).x`),
        or training-set indices (their un-augmented images). Eval mode, as the
        reference codes score (SelectiveBackprop's forwardproppers.py calls
        net.eval(); importance-sampling's score_batch runs Keras's test phase):
        BatchNorm uses its running statistics and leaves them unchanged, dropout
        is off. The model's mode is restored afterwards.
        """
        x = self.train_images(inputs) if not inputs.is_floating_point() else inputs
        was_training = self.model.training
        self.model.eval()
        try:
            with self.autocast():
                return self.forward(self.normalize(x)).float()
        finally:
            self.model.train(was_training)

    # ------------------------------------------------------------------ budget
    def budget_progress(self) -> float:
        """How far the run is, in [0, 1]: what the learning-rate schedule reads; the run ends at 1.

        The method's own progress where it keeps one (Method.progress, e.g. InfoBatch's epochs mode), else
        the charged compute after the up-front charge over the budget after it, so a method's one-off work
        (RHO-LOSS's irreducible model) shortens the run but the schedule still starts at its peak.
        """
        own = self.method.progress()
        if own is not None:
            return own
        if self.upfront_charge:
            return (self.charged - self.upfront_charge) / (self.total_steps - self.upfront_charge)
        return self.charged / self.total_steps

    def check_upfront(self, cost: Upfront) -> None:
        """A one-off charge that would leave no optimizer step in the budget is an error, before the work."""
        if cost.charge and self.charged + cost.charge >= self.total_steps - 1e-9:
            raise ValueError(
                f"{self.spec['method']}: its work before the first step costs {cost.charge:.1f} charged steps, "
                f"the whole budget of {self.total_steps} steps, so the model would never train. {cost.fix}".rstrip())

    def book_upfront(self, cost: Upfront | None) -> None:
        """Book a method's one-off work (Method.prepare) against the budget and the run's counters."""
        if cost is None:
            return
        self.check_upfront(cost)
        self.charged += cost.charge
        self.upfront_charge += cost.charge
        self.examples_forwarded += cost.forwarded
        self.examples_backpropagated += cost.backpropagated

    # ------------------------------------------------------------------ training
    def lr_now(self) -> float:
        return self.base_lr * lr_multiplier(self.budget_progress(), self.cfg.get("schedule", "linear"),
                                            float(self.cfg.get("lr_warmup_fraction", 0.0)))

    def step_charge(self, batch: Batch) -> float:
        """What one optimizer step on `batch` costs, in steps of uniform SGD (the budget's unit).

        charge "compute" (default): the step's forward + backward is 1, each of the
        Batch.extra_forward examples forwarded only to choose costs forward_cost
        of a trained example: 1 + extra_forward * forward_cost / batch_size. This is
        the cost model behind Katharopoulos & Fleuret's eq. 29 (forward_cost 1/3).
        charge "forwarded": examples forwarded, each counted once, backward free, as
        Arazo et al.'s code counts selective backprop (SelectiveBackprop/lib/trainer.py,
        forwardlr: the schedule runs on global_num_analyzed, the candidates forwarded):
        rows already scored (Batch.augmented) cost nothing more, other rows 1 each.
        """
        rows = len(batch.indices)
        if self.charge_mode == "forwarded":
            trained_unscored = 0 if batch.augmented is not None else rows
            return (batch.extra_forward + trained_unscored) / self.batch_size
        return 1.0 + batch.extra_forward * self.forward_cost / self.batch_size

    def train_step(self, batch: Batch) -> None:
        idx = batch.indices
        y = self.labels.index_select(0, idx)
        aug = batch.augmented  # rows the method already augmented and scored
        if aug is None:
            aug = self.augment(self.train_images(idx), y, self.generator)
        lr = self.lr_now()
        self.optimizer.lr = lr
        with self.autocast():
            logits = self.forward(self.normalize(aug.x))
        log_probs = F.log_softmax(logits.float(), dim=1)
        if batch.logit_offset is None:
            losses = example_losses(log_probs, aug)
        else:  # logit adjustment: the loss on adjusted logits, the statistics on the model's own
            losses = example_losses(F.log_softmax(logits.float() + batch.logit_offset, dim=1), aug)
        loss = (losses * batch.weights).mean() if batch.weights is not None else losses.mean()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()

        stats = sample_statistics(log_probs, aug.y)
        self.records.record(idx, stats)
        self.method.observe(idx, losses.detach(), stats)
        self.step += 1
        self.charged += self.step_charge(batch)
        self.examples_forwarded += len(idx) + batch.extra_forward
        self.examples_backpropagated += len(idx)
        self._loss_sum += loss.detach()
        self._loss_count += 1
        self._draws.index_add_(0, y, torch.ones_like(y))  # not bincount: on CUDA it syncs (it reads y.max())
        if self._noisy is not None:
            self._noisy_draws.index_add_(0, y, self._noisy.index_select(0, idx))
        if self.device.type == "cpu" or self.step % 50 == 0:
            self._check_finite(loss, lr)

    def _check_finite(self, loss: torch.Tensor, lr: float, what: str = "loss") -> None:
        if not bool(torch.isfinite(loss)):
            raise DivergenceError(
                f"training diverged: {what} is {float(loss.detach())} at iteration {self.step} (epoch {self.epoch}) of method "
                f"{self.spec['method']!r} ({self.spec.get('label', '')}) with learning rate {lr:.4g} (peak "
                f"{self.base_lr:g}). Fix: lower train.lr or add train.lr_warmup_fraction."
            )

    def run(self, until_epoch: int | None = None, on_epoch_end=None) -> None:
        """Train until the budget is spent (or until `until_epoch` epochs are complete)."""
        from tqdm.auto import tqdm

        if not self.metrics:
            self.evaluate_and_log()
        self._bar = tqdm(total=self.total_steps, initial=self.step, disable=not self.progress, unit="it",
                         desc=f"{self.spec.get('label', self.spec['method'])} s{self.seed}", leave=False, mininterval=1.0)
        eval_every = int(self.cfg["eval_every"])
        self._tick = time.perf_counter()
        if not self.prepared:
            self.check_upfront(self.method.upfront_cost())
            self.book_upfront(self.method.prepare())
            self.prepared = True
        while not self.finished and (until_epoch is None or self.epoch < until_epoch):
            self.records.new_epoch()
            self.method.start_epoch(self.epoch)
            while not self.finished:
                batch = self.method.next_batch()
                if batch is None:
                    break
                self.train_step(batch)
                self._bar.update(1)
                if self.step % eval_every == 0:
                    self.evaluate_and_log()
            self.class_draws.extend(
                {"epoch": self.epoch, "class_index": c, "draws": int(n), "noisy_draws": int(k)}
                for c, (n, k) in enumerate(zip(self._draws.tolist(), self._noisy_draws.tolist()))
            )
            self._draws.zero_()
            self._noisy_draws.zero_()
            self.method.end_epoch(self.epoch)
            self.epoch += 1
            if on_epoch_end is not None:
                self._pause_clock()
                on_epoch_end(self)
                self._tick = time.perf_counter()
        if self.finished and self.metrics[-1]["iteration"] != self.step:
            self.evaluate_and_log()
        self._pause_clock()
        self._bar.close()

    @property
    def finished(self) -> bool:
        own = self.method.progress()
        if own is not None:
            return own >= 1.0 - 1e-12
        return self.charged >= self.total_steps - 1e-9

    def _pause_clock(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        now = time.perf_counter()
        self.train_seconds += now - getattr(self, "_tick", now)
        self._tick = now

    # ------------------------------------------------------------------ evaluation
    @torch.inference_mode()
    def evaluate(self) -> dict:
        self.model.eval()
        x_all, y_all = self.data.test.x, self.data.test.y
        bs = int(self.cfg.get("eval_batch_size", 1024))
        loss_sum = torch.zeros((), device=self.device, dtype=torch.float64)
        correct = torch.zeros(self.n_classes, device=self.device, dtype=torch.long)
        for i in range(0, len(y_all), bs):
            x = self.normalize(x_all[i : i + bs].float().div_(255))
            y = y_all[i : i + bs]
            with self.autocast():
                logits = self.model(x).float()
            loss_sum += F.cross_entropy(logits, y, reduction="sum").double()
            correct += torch.bincount(y[logits.argmax(1) == y], minlength=self.n_classes)
        self.model.train()
        total = torch.bincount(y_all, minlength=self.n_classes)
        return {
            "test_accuracy": float(correct.sum()) / len(y_all),
            "test_loss": float(loss_sum) / len(y_all),
            "per_class_accuracy": (correct.double() / total.clamp_min(1)).tolist(),
            "per_class_total": total.tolist(),
        }

    def evaluate_and_log(self) -> dict:
        self._pause_clock()
        result = self.evaluate()
        train_loss = float(self._loss_sum) / self._loss_count if self._loss_count else float("nan")
        if self._loss_count and not math.isfinite(train_loss):
            self._check_finite(self._loss_sum, self.lr_now())
        # a last step that made the weights NaN has a finite loss itself; the test loss shows it
        self._check_finite(torch.tensor(result["test_loss"]), self.lr_now(), what="test loss")
        self._loss_sum.zero_()
        self._loss_count = 0
        self.metrics.append({
            "iteration": self.step,
            "charged_iterations": round(self.charged, 6),
            "epoch": round(self.examples_backpropagated / self.n_train, 6),
            "examples_forwarded": self.examples_forwarded,
            "examples_backpropagated": self.examples_backpropagated,
            "lr": self.lr_now(),
            "train_loss": train_loss,
            "test_accuracy": result["test_accuracy"],
            "test_loss": result["test_loss"],
            "wall_seconds": self.train_seconds,
        })
        if self._bar is not None:
            self._bar.set_postfix(acc=f"{result['test_accuracy']:.3f}", refresh=False)
        if not self.progress:  # jobs log to files: one line per evaluation instead of a bar, with the time left
            now, done = time.perf_counter(), self.budget_progress()
            self._log_origin = self._log_origin or (now, done)
            start, done0 = self._log_origin
            left = (now - start) * (1 - done) / (done - done0) if done > done0 else float("nan")
            log.info("iteration %d/%d (%.0f %% of the budget) epoch %.2f test accuracy %.4f loss %.4f; "
                     "elapsed %s, remaining ~%s", self.step, self.total_steps, 100 * done, self.metrics[-1]["epoch"],
                     result["test_accuracy"], result["test_loss"], _clock(now - start), _clock(left))
        self._tick = time.perf_counter()
        return result

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "cpu_rng": torch.get_rng_state(),
            "counters": {
                "step": self.step, "charged": self.charged, "epoch": self.epoch,
                "examples_forwarded": self.examples_forwarded, "examples_backpropagated": self.examples_backpropagated,
                "train_seconds": self.train_seconds, "_loss_count": self._loss_count,
                "upfront_charge": self.upfront_charge, "prepared": self.prepared,
            },
            "loss_sum": self._loss_sum.cpu(),
            "records": self.records.state_dict(),
            "method": self.method.state_dict(),
            "metrics": self.metrics,
            "class_draws": self.class_draws,
        }

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["cpu_rng"])
        for key, value in state["counters"].items():
            setattr(self, key, value)
        if "prepared" not in state["counters"]:  # a checkpoint written before prepare() existed
            self.prepared = self.step > 0
        self._loss_sum = state["loss_sum"].to(self.device)
        self.records.load_state_dict(state["records"])
        self.method.load_state_dict(state["method"])
        self.metrics = list(state["metrics"])
        self.class_draws = list(state["class_draws"])

    def per_class_table(self) -> list[dict]:
        result = self.evaluate()
        train_counts = np.bincount(self.labels_numpy, minlength=self.n_classes)
        return [
            {"class_index": c, "class": self.data.classes[c], "n_train": int(train_counts[c]),
             "n_test": result["per_class_total"][c], "test_accuracy": result["per_class_accuracy"][c]}
            for c in range(self.n_classes)
        ]

"""Importance sampling by the gradient-norm upper bound (Katharopoulos & Fleuret, ICML 2018, Algorithm 1).

Reference code: idiap/importance-sampling, importance_sampling/training.py
ImportanceTraining, samplers.py ModelSampler + ConditionalStartSampler +
VarianceReductionCondition, model_wrappers.py score_batch.

Importance of a sample: the norm of the gradient of its loss w.r.t. the last
layer's pre-activations, which for softmax cross-entropy is ||softmax - target||_2
(the paper's upper bound on the per-sample gradient norm, up to a constant;
target: one-hot label, or the soft targets under mixup/cutmix/ricap).

While importance sampling is on: pre-sample int(`presample` * B) examples
uniformly with replacement (ModelSampler: np.random.choice(N, large_batch)),
augment them once (`trainer.augment_indices`) and score those tensors with one
forward pass in eval mode (`trainer.forward_no_grad`; score_batch runs Keras's
test phase), draw the batch of B rows from them with replacement by
g_i = score_i / sum(score), weight each drawn loss by 1 / (N_pre g_i), and train
on exactly the drawn rows (`Batch.augmented`, a row drawn twice trains twice,
as sample() slices the scored x). Then E[mean_j w_j grad_j] = mean over the
pre-sample of the gradients, an unbiased estimate of the full gradient
(`importance_batch`).

It is on only while the estimated variance reduction tau exceeds the threshold:
after every scoring, tau <- a tau + (1 - a) / sqrt(1 - ||g - u||^2 / ||g||^2), with u
the uniform distribution and a = `tau_momentum` (VarianceReductionCondition;
tau starts at 0). While it is off, the batch is B uniform draws with unit weights
and tau is updated from the scores the training step itself computed (no extra
forward; ConditionalStartSampler.update).

Threshold `tau`: "auto" (default, as the reference's tau_th=None) is the paper's
eq. 29, the break-even point where the variance reduction pays for the extra
forwards: tau_th = (N_pre + 3B) / 3B, written with the run's train.forward_cost f
as 1 + f N_pre / B (equal at f = 1/3: 2 for presample 3). A number fixes it.

Charging (`Trainer.step_charge`): while on, the N_pre pre-sampled forwards are
Batch.extra_forward, `train.forward_cost` of a step each: a step costs
1 + presample / 3 = 2 steps with the defaults. While off, charged like uniform.
"""

import torch

from .base import Batch, Method, take_rows


def gradient_norm_bound(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """||softmax(logits) - target||_2 per row: the gradient norm of cross-entropy w.r.t. the logits.

    targets: labels [B] (one-hot targets) or target distributions [B, classes] (soft targets).
    """
    p = logits.float().softmax(1)
    if targets.dim() == 1:
        targets = torch.nn.functional.one_hot(targets, p.shape[1])
    return (p - targets.to(p.dtype)).norm(dim=1)


def sampling_probabilities(scores: torch.Tensor) -> torch.Tensor:
    """g = scores / sum (float64); uniform when every score is 0."""
    scores = scores.double()
    total = scores.sum()
    return scores / total if bool(total > 0) else torch.full_like(scores, 1.0 / len(scores))


def importance_batch(scores: torch.Tensor, k: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(positions, weights): k draws with replacement by g = scores / sum, weights 1 / (len(scores) g).

    Unbiased: E[mean_j w_j x_{pos_j}] = sum_i g_i x_i / (n g_i) = mean_i x_i for any
    per-position x with x_i = 0 where g_i = 0 (a zero gradient-norm bound means a zero gradient).
    All-zero scores fall back to uniform draws (weights 1).
    """
    p = sampling_probabilities(scores)
    positions = torch.multinomial(p, k, replacement=True, generator=generator)
    return positions, 1.0 / (len(scores) * p[positions])


def variance_reduction(scores: torch.Tensor) -> torch.Tensor:
    """1 / sqrt(1 - ||g - u||^2 / ||g||^2) with g = scores / sum, u uniform (1 for uniform scores)."""
    scores = scores.double()
    total = scores.sum()
    if not bool(total > 0):
        return torch.ones((), dtype=torch.float64, device=scores.device)
    g = scores / total
    ratio = ((g - 1.0 / len(g)) ** 2).sum() / (g**2).sum()
    return 1.0 / torch.sqrt((1.0 - ratio).clamp_min(1e-12))


class UpperBoundIS(Method):
    name = "upper_bound_is"
    defaults = {"presample": 3.0, "tau": "auto", "tau_momentum": 0.9}

    @classmethod
    def check_params(cls, params):
        if not float(params["presample"]) > 1 or not 0 <= float(params["tau_momentum"]) < 1:
            raise ValueError(f"{cls.name}: presample must be > 1 and 0 <= tau_momentum < 1, got {params!r}")
        tau = params["tau"]
        if tau != "auto" and (isinstance(tau, bool) or not isinstance(tau, (int, float)) or not tau >= 0):
            raise ValueError(f"{cls.name}.tau must be 'auto' (the paper's eq. 29 from the pre-sample size) or a "
                             f"number >= 0, got {tau!r}")

    def __init__(self, params, trainer):
        super().__init__(params, trainer)
        self._tau = torch.zeros((), dtype=torch.float64, device=trainer.device)
        self._importance_on = False  # whether the batch just handed out was importance sampled
        self.importance_steps = 0  # steps taken with importance sampling (for diagnostics)

    @property
    def presample_size(self) -> int:
        """N_pre = int(presample * B), as ModelSampler's large_batch."""
        return int(float(self.params["presample"]) * self.trainer.batch_size)

    @property
    def tau_threshold(self) -> float:
        """The fixed `tau`, or for "auto" eq. 29: (N_pre + 3B) / 3B, i.e. 1 + forward_cost N_pre / B."""
        if self.params["tau"] != "auto":
            return float(self.params["tau"])
        return 1.0 + self.trainer.forward_cost * self.presample_size / self.trainer.batch_size

    def epoch_indices(self, epoch):
        return torch.arange(self.trainer.steps_per_epoch, device=self.trainer.device)  # one entry per step

    def _update_tau(self, scores: torch.Tensor) -> None:
        a = float(self.params["tau_momentum"])
        self._tau = a * self._tau + (1.0 - a) * variance_reduction(scores)

    def next_batch(self):
        if self._cursor >= len(self._plan):
            return None
        self._cursor += 1
        t = self.trainer
        bs = t.batch_size
        self._importance_on = bool(self._tau > self.tau_threshold)
        if not self._importance_on:
            return Batch(torch.randint(0, t.n_train, (bs,), generator=t.generator, device=t.device))
        n_pre = self.presample_size
        pre = torch.randint(0, t.n_train, (n_pre,), generator=t.generator, device=t.device)
        aug = t.augment_indices(pre)
        targets = aug.y if aug.soft_targets is None else aug.soft_targets
        scores = gradient_norm_bound(t.forward_no_grad(aug.x), targets)
        self._update_tau(scores)
        positions, weights = importance_batch(scores, bs, t.generator)
        self.importance_steps += 1
        return Batch(pre[positions], weights=weights.float(), extra_forward=n_pre, augmented=take_rows(aug, positions))

    def observe(self, indices, losses, stats):
        if self._importance_on:
            return
        # the step's own ||softmax - onehot||^2 = 1 - 2 p_true + sum_j p_j^2, row by row
        self._update_tau((1.0 - 2.0 * stats["p_true"] + stats["sumsq"]).clamp_min(0.0).sqrt())

    def state_dict(self):
        return {"tau": self._tau.cpu(), "importance_steps": self.importance_steps}

    def load_state_dict(self, state):
        if "tau" in state:
            self._tau = state["tau"].to(self.trainer.device)
            self.importance_steps = int(state["importance_steps"])

"""Importance sampling by the gradient-norm upper bound (Katharopoulos & Fleuret, ICML 2018, Algorithm 1).

Importance of a sample: the norm of the gradient of its loss w.r.t. the last
layer's pre-activations, which for softmax cross-entropy is ||softmax - onehot||_2
(the paper's upper bound on the per-sample gradient norm, up to a constant).

While importance sampling is on: pre-sample `presample` * B examples uniformly
(with replacement, as the authors' code), score them with one forward pass
without gradient (`trainer.forward_no_grad`), draw the batch of B from them
with replacement by g_i = score_i / sum(score), and weight each drawn loss by
1 / (N_pre g_i). Then E[mean_j w_j grad_j] = mean over the pre-sample of the
gradients, an unbiased estimate of the full gradient (`importance_batch`).

It is on only while the estimated variance reduction tau exceeds `tau`: after
every scoring, tau <- a tau + (1 - a) / sqrt(1 - ||g - u||^2 / ||g||^2), with u
the uniform distribution and a = `tau_momentum` (the authors' code,
VarianceReductionCondition; tau starts at 0). While it is off, the batch is B
uniform draws with unit weights and tau is updated from the scores the training
step itself computed (no extra forward). The default `tau` = (N_pre + 3B) / 3B
= 2 for presample 3 is the authors' default (their eq. 29: the break-even
point where a forward costs a third of a forward + backward).

Charging: while on, the N_pre pre-sampled forwards are Batch.extra_forward,
one third of a training example each: a step costs 1 + presample / 3 = 2
steps with the default. While off, charged like uniform.
"""

import torch

from .base import Batch, Method


def gradient_norm_bound(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """||softmax(logits) - onehot(y)||_2 per row: the gradient norm of CE w.r.t. the logits."""
    p = logits.float().softmax(1)
    return (p - torch.nn.functional.one_hot(y, p.shape[1]).to(p.dtype)).norm(dim=1)


def importance_batch(scores: torch.Tensor, k: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(positions, weights): k draws with replacement by p = scores / sum, weights 1 / (len(scores) p).

    Unbiased: E[mean_j w_j x_{pos_j}] = mean_i x_i for any per-position x.
    All-zero scores fall back to uniform draws (weights 1).
    """
    scores = scores.double()
    total = scores.sum()
    p = scores / total if bool(total > 0) else torch.full_like(scores, 1.0 / len(scores))
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
    defaults = {"presample": 3.0, "tau": 2.0, "tau_momentum": 0.9}

    @classmethod
    def check_params(cls, params):
        if not float(params["presample"]) > 1 or not 0 <= float(params["tau_momentum"]) < 1:
            raise ValueError(f"{cls.name}: presample must be > 1 and 0 <= tau_momentum < 1, got {params!r}")

    def __init__(self, params, trainer):
        super().__init__(params, trainer)
        self._tau = torch.zeros((), dtype=torch.float64, device=trainer.device)
        self._importance_on = False  # whether the batch just handed out was importance sampled
        self.importance_steps = 0  # steps taken with importance sampling (for diagnostics)

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
        self._importance_on = bool(self._tau > float(self.params["tau"]))
        if not self._importance_on:
            return Batch(torch.randint(0, t.n_train, (bs,), generator=t.generator, device=t.device))
        n_pre = round(float(self.params["presample"]) * bs)
        pre = torch.randint(0, t.n_train, (n_pre,), generator=t.generator, device=t.device)
        scores = gradient_norm_bound(t.forward_no_grad(pre), t.labels[pre])
        self._update_tau(scores)
        positions, weights = importance_batch(scores, bs, t.generator)
        self.importance_steps += 1
        return Batch(pre[positions], weights=weights.float(), extra_forward=n_pre)

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

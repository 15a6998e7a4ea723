"""Learning-rate schedules as functions of budget progress.

A budget b squeezes the whole schedule into round(b * full_iterations) steps
(Arazo et al. 2021: "the learning-rate schedule is adapted to the budget"), so
every schedule here is a multiplier of the peak learning rate as a function of
`progress` = charged steps / budgeted steps, in [0, 1].
"""

from __future__ import annotations

import math

SCHEDULES = ("linear", "cosine", "step", "constant")


def lr_multiplier(progress: float, schedule: str = "linear", warmup_fraction: float = 0.0) -> float:
    progress = min(max(progress, 0.0), 1.0)
    if warmup_fraction > 0 and progress < warmup_fraction:
        return progress / warmup_fraction
    if warmup_fraction > 0:
        progress = (progress - warmup_fraction) / (1.0 - warmup_fraction)
    if schedule == "linear":  # per-iteration linear decay to zero, as in Arazo et al.'s code
        return 1.0 - progress
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    if schedule == "step":  # the classic x0.1 at 50 % and 75 % of training
        return 1.0 if progress < 0.5 else 0.1 if progress < 0.75 else 0.01
    if schedule == "constant":
        return 1.0
    raise ValueError(f"unknown schedule {schedule!r}; valid: {', '.join(SCHEDULES)}")


def budget_steps(budget: float, epochs: int, n_train: int, batch_size: int) -> tuple[int, int]:
    """(budgeted steps, full_iterations) with full_iterations = epochs * ceil(n_train / batch_size)."""
    full = epochs * math.ceil(n_train / batch_size)
    return max(1, round(budget * full)), full

"""Uniform draws with replacement: each epoch n independent uniform draws.

The fair control for every weighted sampler that draws with replacement
(biased, loss_rank): it differs from them only in the probabilities, and from
`uniform` (random reshuffling) only in the replacement. Charged like uniform.
"""

import torch

from .base import Method


class UniformReplacement(Method):
    name = "uniform_replacement"

    def epoch_indices(self, epoch):
        t = self.trainer
        return torch.randint(0, t.n_train, (t.n_train,), generator=t.generator, device=t.device)

"""Uniform SGD with random reshuffling: each epoch visits every example once in a new order.

The baseline of both papers. Charged one step per optimizer step, nothing else.
"""

from .base import Method


class Uniform(Method):
    name = "uniform"

    def epoch_indices(self, epoch):
        return self.permutation()

"""Square-root sampling: class c drawn in proportion to sqrt(n_c) (Kang et al., ICLR 2020, q = 1/2; Mahajan et al. 2018).

Halfway (on a log scale) between instance-balanced (q = 1) and class-balanced
(q = 0) sampling; N draws with replacement per epoch, uniformly within a class
(class_sampling.ClassShareSampler). Charged like uniform.
"""

from .class_sampling import ClassShareSampler, power_shares


class SqrtSampling(ClassShareSampler):
    name = "sqrt_sampling"

    def class_shares(self, epoch):
        return power_shares(self.counts, 0.5)

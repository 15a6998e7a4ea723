"""Class-balanced sampling: every class drawn equally often (Kang et al., ICLR 2020, q = 0; Shen et al. 2016).

Each epoch N draws with replacement: a class uniformly, then a sample uniformly
within it (class_sampling.ClassShareSampler), so a rare class's examples repeat
and a frequent class's are seen less than once an epoch. The explicit
re-balancing that `biased` is said to do by itself ("self-balancing").

Charged like uniform: one step per optimizer step, nothing else.
"""

from .class_sampling import ClassShareSampler, power_shares


class ClassBalanced(ClassShareSampler):
    name = "class_balanced"

    def class_shares(self, epoch):
        return power_shares(self.counts, 0.0)

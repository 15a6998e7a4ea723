"""Progressively-balanced sampling (Kang et al., ICLR 2020, "Decoupling representation and classifier").

p_j(t) = (1 - t/T) p_j^IB + (t/T) p_j^CB (their eq. 2): class j's share moves
from its training share (instance-balanced) to 1/C (class-balanced) over
training. t/T is the run's progress (`Trainer.budget_progress`, charged steps
over the budget) at the start of each epoch, so the schedule is stretched to the
budget like the learning rate. N draws with replacement per epoch, uniformly
within a class (class_sampling.ClassShareSampler). Charged like uniform.
"""

from .class_sampling import ClassShareSampler, power_shares


class ProgressiveBalanced(ClassShareSampler):
    name = "progressive_balanced"

    def class_shares(self, epoch):
        t = min(max(self.trainer.budget_progress(), 0.0), 1.0)
        return (1.0 - t) * power_shares(self.counts, 1.0) + t * power_shares(self.counts, 0.0)

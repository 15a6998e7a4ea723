"""c-SGD of Arazo et al. (BMVC 2021, after Chang et al. 2017's threshold closeness): p-SGD with w = mean * (1 - mean).

Same running mean of 1 - p_true over every forward pass, same fill of unseen
samples, smoothing and shuffled budgeted draws without replacement as p-SGD;
only the weight differs: samples whose mean prediction is closest to the
decision threshold (mean 0.5) weigh most, both confidently right and
confidently wrong samples weigh little (Chang et al.'s threshold closeness
p(1 - p), symmetric, so the mean of p or of 1 - p gives the same weight).

Reference: EricArazo/ImportanceSampling, utils_train/utils_train.py,
`select_samples` (method "c-SGD"): unseen samples take the largest running mean
first, and the transform is applied after that fill, so an unseen sample weighs
max_mean * (1 - max_mean), not the largest transformed weight; `PSGD.running_mean`
fills, this `weight` transforms. Charged like uniform.
"""

from .p_sgd import PSGD


class CSGD(PSGD):
    name = "c_sgd"

    @staticmethod
    def weight(mean_one_minus_p):
        return mean_one_minus_p * (1.0 - mean_one_minus_p)

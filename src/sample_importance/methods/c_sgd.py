"""c-SGD of Arazo et al. (BMVC 2021, after Chang et al. 2017's threshold closeness): p-SGD with w = mean * (1 - mean).

Same running mean of 1 - p_true, same smoothing and budgeted draws without
replacement as p-SGD; only the weight differs: samples whose mean prediction
is closest to the decision threshold (mean 0.5) weigh most, both confidently
right and confidently wrong samples weigh little. Charged like uniform.
"""

from .p_sgd import PSGD


class CSGD(PSGD):
    name = "c_sgd"

    @staticmethod
    def weight(mean_one_minus_p):
        return mean_one_minus_p * (1.0 - mean_one_minus_p)

"""Statistics over seeds, the one place every table, figure and claim takes them from.

Why these and not a bootstrap: the pipeline's grids have 3 to 10 seeds. A
percentile bootstrap over 3 values is their min-max range and covers the mean
far less often than it claims; the Student-t interval of the mean has the
stated coverage for roughly normal seed-to-seed noise and says how little 3
seeds pin down. Comparisons with uniform are paired by seed (same data order
seed, same initialisation seed), so the paired difference removes the seed's
own effect. Every result carries n, and every caller prints it.

Libraries: scipy.stats for the t quantile, the paired t-test and the Wilcoxon
signed-rank test; statsmodels' multipletests for the Holm correction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

CONFIDENCE = 0.95
# A Wilcoxon signed-rank test cannot reach p < 0.05 (two-sided, exact) with fewer than 6 pairs:
# below that it is reported as NaN rather than as a test that can never reject.
WILCOXON_MIN_N = 6


@dataclass(frozen=True)
class Interval:
    """Mean of n values with its two-sided Student-t interval (NaN bounds when n < 2)."""

    mean: float
    low: float
    high: float
    n: int
    sd: float

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2.0

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def describe(self, digits: int = 2) -> str:
        """'57.61 [56.37, 58.85] (n=3)': the form tables print."""
        if self.n < 2 or math.isnan(self.low):
            return f"{self.mean:.{digits}f} (n={self.n})"
        return f"{self.mean:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}] (n={self.n})"


def _finite(values) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64).ravel()
    return a[np.isfinite(a)]


def t_interval(values, confidence: float = CONFIDENCE) -> Interval:
    """Student-t interval of the mean of the finite values (NaN/inf are dropped, and n says so)."""
    a = _finite(values)
    n = len(a)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0, math.nan)
    mean = float(a.mean())
    if n < 2:
        return Interval(mean, math.nan, math.nan, 1, math.nan)
    sd = float(a.std(ddof=1))
    if np.allclose(a, a[0], rtol=1e-9, atol=1e-12):  # no spread (up to float noise)
        return Interval(mean, mean, mean, n, sd)
    low, high = sps.t.interval(confidence, df=n - 1, loc=mean, scale=sd / math.sqrt(n))
    return Interval(mean, float(low), float(high), n, sd)


@dataclass(frozen=True)
class PairedComparison:
    """method - baseline, paired by seed: the mean difference with its t-interval and two tests."""

    diff: Interval
    t_p: float  # paired t-test, two-sided (exact sign test when every pair differs by the same amount)
    wilcoxon_p: float  # Wilcoxon signed-rank, two-sided; NaN when n < WILCOXON_MIN_N
    n: int


def paired(method, baseline, confidence: float = CONFIDENCE) -> PairedComparison:
    """Compare two arrays aligned by seed; pairs with a non-finite side are dropped."""
    m = np.asarray(method, dtype=np.float64).ravel()
    b = np.asarray(baseline, dtype=np.float64).ravel()
    if m.shape != b.shape:
        raise ValueError(f"paired comparison needs one value per seed on both sides, got {m.shape} and {b.shape}")
    keep = np.isfinite(m) & np.isfinite(b)
    d = m[keep] - b[keep]
    n = len(d)
    diff = t_interval(d, confidence)
    if n < 2:
        t_p = math.nan
    elif np.allclose(d, d[0], rtol=1e-9, atol=1e-12):
        # No spread: every seed moved by the same amount (on a small test set, often by exactly one image).
        # A t-test is undefined there, and p = 0 would call 3 seeds of +1 image "significant"; the exact
        # sign test says what n equal signs can show (two-sided p = 2 * 0.5^n: 0.25 for 3 seeds).
        t_p = 1.0 if abs(d[0]) <= 1e-9 else float(sps.binomtest(n, n, 0.5).pvalue)  # 1e-9: float noise of shares
    else:
        t_p = float(sps.ttest_rel(m[keep], b[keep]).pvalue)
    w_p = math.nan
    if n >= WILCOXON_MIN_N and np.any(d != 0):
        w_p = float(sps.wilcoxon(d).pvalue)
    return PairedComparison(diff, t_p, w_p, n)


def holm(pvalues) -> np.ndarray:
    """Holm-corrected p-values of one family (one table); NaN entries stay NaN and are not counted."""
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = multipletests(p[ok], method="holm")[1]
    return out

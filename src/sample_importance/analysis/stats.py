"""Statistics over seeds: the one procedure every table, figure and claim takes its numbers from.

The procedure, everywhere: a Student-t analysis of per-seed values (or of the
per-seed differences to uniform, paired by seed), with

- a **resolution floor** on the standard deviation. Seeds that agree exactly
  (three runs that each beat uniform by one test image) do not mean the effect
  is known exactly: the measurement itself is only as fine as its resolution.
  The floor is what the caller knows about it: for a test accuracy, the
  binomial standard error of an accuracy on the test set, sqrt(a (1 - a) / N);
  for a speedup, the evaluation spacing (`speedup.py`). The t statistic, the
  interval and the power all use max(sd, floor), so an interval is never
  [x, x] and a p-value never jumps from a sign test to a t-test when one seed
  moves by one image. Where the spread is zero and no floor is known, there is
  no test: p and the bounds are NaN and `zero_spread` says why.
- **one-sided tests** against a margin: `p_greater(null)` for H1 "effect >
  null", `p_less(null)` for H1 "effect < null". A claim of a gain, of parity
  (non-inferiority, equivalence: two one-sided tests, TOST) and of no gain are
  all decided by these two p-values, at the level `alpha` after correction
  within the family that one question forms (claims.py, budget_table.py).
- a **power statement** beside every verdict: `mde`, the smallest true effect
  the one-sided test at its (corrected) level detects with the stated power,
  from the noncentral t distribution; and `seeds_needed`, the seeds that would
  detect the declared margin at the observed spread.

Why a t-test and not a permutation test: with 3 to 10 seeds the exact
sign-flip test cannot reject anything at n = 3 (its smallest two-sided p is
0.25) and its p-value disagrees with the t-interval printed beside it; a
t-test's interval is the inversion of its own test, so the interval, the p and
the power printed in one row always agree. Why not a bootstrap: a percentile
bootstrap over 3 values is their min-max range.

Intervals printed are two-sided Student-t 95 % (uncorrected), n stated.
Corrections: Holm (family-wise) by default; Benjamini-Hochberg for exploratory
method tables (`analysis.table_correction`). Libraries: scipy.stats (t,
noncentral t), statsmodels (multipletests).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

CONFIDENCE = 0.95
ALPHA = 0.05
POWER = 0.8
MAX_SEEDS = 10_000  # seeds_needed stops searching here (and says ">")


@dataclass(frozen=True)
class Interval:
    """Mean of n values with its two-sided Student-t interval; the sd it uses is max(observed, floor).

    `low`/`high` are NaN when n < 2, or when every value is equal and no floor was given
    (`zero_spread`): an interval of zero width is never produced.
    """

    mean: float
    low: float
    high: float
    n: int
    sd: float  # observed sample sd (ddof 1)
    floor: float = 0.0  # resolution floor of the sd
    confidence: float = CONFIDENCE

    @property
    def sd_used(self) -> float:
        return max(self.sd, self.floor) if np.isfinite(self.sd) else math.nan

    @property
    def floored(self) -> bool:
        """The floor, not the seeds' spread, sets the interval's width."""
        return bool(self.n >= 2 and self.floor > 0 and self.sd < self.floor)

    @property
    def zero_spread(self) -> bool:
        return bool(self.n >= 2 and not self.sd_used > 0)

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2.0

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def describe(self, digits: int = 2, scale: float = 1.0) -> str:
        """'57.61 [56.37, 58.85] (n=3)', with what stands in for a missing interval."""
        m = f"{scale * self.mean:.{digits}f}"
        if self.n < 2:
            return f"{m} (n={self.n}, no interval)"
        if self.zero_spread:
            return f"{m} (n={self.n}, all seeds equal, no resolution known: no interval)"
        note = ", spread below resolution" if self.floored else ""
        return f"{m} [{scale * self.low:.{digits}f}, {scale * self.high:.{digits}f}] (n={self.n}{note})"


def _finite(values) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64).ravel()
    return a[np.isfinite(a)]


def _sd(a: np.ndarray) -> float:
    """Sample sd, with float noise (equal values computed along different paths) read as 0."""
    if len(a) < 2 or np.allclose(a, a[0], rtol=1e-9, atol=1e-12):
        return 0.0 if len(a) >= 2 else math.nan
    return float(a.std(ddof=1))


def t_interval(values, confidence: float = CONFIDENCE, floor: float = 0.0) -> Interval:
    """Student-t interval of the mean of the finite values (NaN/inf are dropped, and n says so)."""
    a = _finite(values)
    n = len(a)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0, math.nan, floor, confidence)
    mean = float(a.mean())
    sd = _sd(a)
    floor = float(floor) if np.isfinite(floor) and floor > 0 else 0.0
    if n < 2 or not max(sd, floor) > 0:
        return Interval(mean, math.nan, math.nan, n, sd, floor, confidence)
    low, high = sps.t.interval(confidence, df=n - 1, loc=mean, scale=max(sd, floor) / math.sqrt(n))
    return Interval(mean, float(low), float(high), n, sd, floor, confidence)


@dataclass(frozen=True)
class PairedComparison:
    """method - baseline, paired by seed: the mean difference, its interval, one-sided tests and power."""

    diff: Interval

    @property
    def n(self) -> int:
        return self.diff.n

    def _t(self, null: float) -> float:
        d = self.diff
        if d.n < 2 or not d.sd_used > 0:
            return math.nan
        return (d.mean - null) / (d.sd_used / math.sqrt(d.n))

    def p_greater(self, null: float = 0.0) -> float:
        """One-sided p of H0: effect <= null (H1: effect > null)."""
        t = self._t(null)
        return math.nan if math.isnan(t) else float(sps.t.sf(t, df=self.n - 1))

    def p_less(self, null: float = 0.0) -> float:
        """One-sided p of H0: effect >= null (H1: effect < null)."""
        t = self._t(null)
        return math.nan if math.isnan(t) else float(sps.t.cdf(t, df=self.n - 1))

    def p_two_sided(self, null: float = 0.0) -> float:
        p = min(self.p_greater(null), self.p_less(null))
        return math.nan if math.isnan(p) else min(1.0, 2.0 * p)

    def p_equivalent(self, low: float, high: float) -> float:
        """TOST: p of H0 'effect <= low or effect >= high' (H1: low < effect < high), the larger one-sided p."""
        return max(self.p_greater(low), self.p_less(high))

    def mde(self, alpha: float = ALPHA, power: float = POWER) -> float:
        """Smallest true effect the one-sided test at `alpha` detects with `power` at this n and spread."""
        return mde(self.n, self.diff.sd_used, alpha, power)

    def seeds_needed(self, effect: float, alpha: float = ALPHA, power: float = POWER) -> float:
        return seeds_needed(effect, self.diff.sd_used, alpha, power)

    # kept for the tables' two-sided column
    @property
    def t_p(self) -> float:
        return self.p_two_sided(0.0)


def paired(method, baseline, floor: float = 0.0, confidence: float = CONFIDENCE) -> PairedComparison:
    """Compare two arrays aligned by seed; pairs with a non-finite side are dropped (n says so)."""
    m = np.asarray(method, dtype=np.float64).ravel()
    b = np.asarray(baseline, dtype=np.float64).ravel()
    if m.shape != b.shape:
        raise ValueError(f"paired comparison needs one value per seed on both sides, got {m.shape} and {b.shape}")
    keep = np.isfinite(m) & np.isfinite(b)
    return PairedComparison(t_interval(m[keep] - b[keep], confidence, floor))


def one_sample(values, floor: float = 0.0, confidence: float = CONFIDENCE) -> PairedComparison:
    """The same analysis for values that already are per-seed effects (log speedups, differences of gains)."""
    return PairedComparison(t_interval(values, confidence, floor))


# --------------------------------------------------------------------------- resolution floors


def accuracy_floor(accuracy: float, n_test: float) -> float:
    """Binomial standard error of an accuracy measured on n_test images: the finest an accuracy is known.

    A paired difference of two accuracies on the same test set is floored at the
    same value: below it, seeds that agree say nothing about the test set.
    """
    if not (np.isfinite(accuracy) and np.isfinite(n_test) and n_test > 0):
        return 0.0
    a = min(max(float(accuracy), 0.5 / n_test), 1.0 - 0.5 / n_test)  # one image's worth away from 0 and 1
    return math.sqrt(a * (1.0 - a) / n_test)


# --------------------------------------------------------------------------- power


def power(effect: float, n: int, sd: float, alpha: float = ALPHA) -> float:
    """Power of the one-sided one-sample t-test at level alpha against a true mean `effect` (> 0), n values."""
    if n < 2 or not sd > 0 or not np.isfinite(effect):
        return math.nan
    df = n - 1
    crit = sps.t.isf(alpha, df)
    return float(sps.nct.sf(crit, df, effect / sd * math.sqrt(n)))


def mde(n: int, sd: float, alpha: float = ALPHA, target_power: float = POWER) -> float:
    """Minimum detectable effect: the true effect at which the one-sided test at `alpha` has `target_power`."""
    if n < 2 or not (np.isfinite(sd) and sd > 0):
        return math.nan
    from scipy.optimize import brentq

    hi = sd
    while power(hi, n, sd, alpha) < target_power:
        hi *= 2.0
        if hi > 1e9 * sd:
            return math.inf
    return float(brentq(lambda e: power(e, n, sd, alpha) - target_power, 0.0, hi, xtol=1e-12 * hi))


def seeds_needed(effect: float, sd: float, alpha: float = ALPHA, target_power: float = POWER) -> float:
    """Smallest n whose one-sided test at `alpha` detects a true `effect` with `target_power` (inf past MAX_SEEDS)."""
    effect = abs(effect)
    if not (np.isfinite(sd) and sd > 0 and effect > 0):
        return math.nan
    lo, hi = 2, 2
    while power(effect, hi, sd, alpha) < target_power:
        lo, hi = hi, hi * 2
        if hi > MAX_SEEDS:
            return math.inf
    while lo < hi:  # power grows with n: bisect for the first n that reaches the target
        mid = (lo + hi) // 2
        if power(effect, mid, sd, alpha) >= target_power:
            hi = mid
        else:
            lo = mid + 1
    return float(hi)


def family_level(alpha: float, family_size: int) -> float:
    """The per-test level that power is stated at in a corrected family: alpha / k, the first Holm step.

    It is the level a single real effect among k comparisons must pass under Holm
    (and under Benjamini-Hochberg when it is the only one), so the stated power is
    what the table could detect, not what an uncorrected test could.
    """
    return alpha / max(1, int(family_size))


# --------------------------------------------------------------------------- corrections


def correct(pvalues, method: str = "holm") -> np.ndarray:
    """Corrected p-values of one family; NaN entries stay NaN and are not counted in it."""
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = multipletests(p[ok], method=method)[1]
    return out


def holm(pvalues) -> np.ndarray:
    """Holm-corrected p-values of one family (one claim, one table column)."""
    return correct(pvalues, "holm")

"""Verdicts from one-sided tests against a declared margin: supported, contradicted or inconclusive.

Absence of evidence is not evidence: a test that finds nothing makes a claim
*inconclusive*, never supported. Each kind of statement is two one-sided
hypotheses, tested with stats.PairedComparison and corrected within the family
one question forms (claims.py: one claim; budget_table.py: one table column):

- `gain` ("A is higher than B", margin m >= 0): supported when the effect is
  significantly > 0; contradicted when it is significantly < m, i.e. any gain
  is smaller than the smallest one that matters (a significant gain below the
  margin is contradicted too, and the why says so). With m = 0 (a quantity
  without a declared margin) contradicted means significantly < 0.
- `non_inferior` ("on par with or better", margin m > 0): supported when the
  effect is significantly > -m (the lower half of TOST); contradicted when it
  is significantly < -m.
- `equivalent` ("on par", margin m > 0): supported by TOST (significantly
  inside (-m, m)); contradicted when significantly outside on one side.
- `no_gain` (Arazo's "no consistent gain" over many comparisons) is decided in
  claims.py from the comparisons' `gain` tests: supported only when every one
  is shown below the margin (an intersection-union test), contradicted when
  one is a supported gain.

"Inconclusive" says what would settle it: the minimum detectable effect at
this n and level, and the seeds that would detect the margin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .stats import ALPHA, POWER, PairedComparison

SUPPORTED, CONTRADICTED, INCONCLUSIVE, UNTESTABLE = "supported", "contradicted", "inconclusive", "not testable"
KINDS = ("gain", "non_inferior", "equivalent")


@dataclass(frozen=True)
class Margins:
    """The config's `analysis.margins` in the units the tests use: accuracy as a fraction, speedup as a ratio."""

    accuracy: float = 0.005
    speedup: float = 0.9
    alpha: float = ALPHA
    power: float = POWER

    def __post_init__(self):
        for name, value, ok, rule in (
                ("analysis.margins.accuracy_points", 100 * self.accuracy, 0 < self.accuracy < 1, "in (0, 100)"),
                ("analysis.margins.speedup_ratio", self.speedup, 0 < self.speedup < 1, "in (0, 1), e.g. 0.9"),
                ("analysis.alpha", self.alpha, 0 < self.alpha <= 0.25, "in (0, 0.25], e.g. 0.05"),
                ("analysis.power", self.power, 0.5 < self.power < 1, "in (0.5, 1), e.g. 0.8")):
            if not ok:
                raise ValueError(f"{name} = {value:g}: must be {rule}")

    @classmethod
    def from_config(cls, analysis: dict | None) -> "Margins":
        a = analysis or {}
        m = a.get("margins") or {}
        return cls(accuracy=float(m.get("accuracy_points", 0.5)) / 100.0, speedup=float(m.get("speedup_ratio", 0.9)),
                   alpha=float(a.get("alpha", ALPHA)), power=float(a.get("power", POWER)))

    @property
    def log_speedup(self) -> float:
        """The speedup margin on the log scale the tests use: log(1 / ratio) > 0."""
        return -math.log(self.speedup)

    def describe(self) -> str:
        return (f"margins: accuracy {100 * self.accuracy:g} points, speedup {self.speedup:g}x "
                f"(on par: [{self.speedup:g}, {1 / self.speedup:.3g}]); one-sided tests at {self.alpha:g} after "
                f"correction; power {self.power:g}")


def hypotheses(c: PairedComparison, kind: str, margin: float) -> tuple[float, float]:
    """(p of the supporting test, p of the contradicting test), uncorrected, for one comparison."""
    if kind == "gain":
        return c.p_greater(0.0), c.p_less(margin)
    if kind == "non_inferior":
        return c.p_greater(-margin), c.p_less(-margin)
    if kind == "equivalent":
        return c.p_equivalent(-margin, margin), min(c.p_greater(margin), c.p_less(-margin))
    raise ValueError(f"unknown kind {kind!r}: one of {', '.join(KINDS)}")


def decide(kind: str, p_support: float, p_contradict: float, alpha: float) -> tuple[str, str]:
    """(verdict, reason) from the corrected p-values of the two hypotheses."""
    support, contra = p_support < alpha, p_contradict < alpha
    if kind == "gain" and support and contra:
        return CONTRADICTED, "a significant gain, but significantly smaller than the margin: not one that matters"
    if support:
        return SUPPORTED, {"gain": "significantly greater than 0",
                           "non_inferior": "significantly above the lower margin",
                           "equivalent": "inside the margins (two one-sided tests)"}.get(kind, "significant")
    if contra:
        return CONTRADICTED, {"gain": "significantly below the margin",
                              "non_inferior": "significantly below the lower margin",
                              "equivalent": "significantly outside the margins"}.get(kind, "significant")
    return INCONCLUSIVE, ""


def settle(n: int, mde: float, needed: float, margin: float, fmt) -> str:
    """What would settle an inconclusive row, in the effect's own units (`fmt` formats an effect)."""
    if n < 2 or not math.isfinite(mde):
        return f"n = {n}: too few seeds for any test"
    text = f"at n = {n} the test detects {fmt(mde)} (power stated at the corrected level)"
    if margin > 0 and math.isfinite(needed):
        text += f"; {int(needed)} seeds would detect the margin ({fmt(margin)})"
    elif margin > 0:
        text += f"; no number of seeds up to 10,000 detects the margin ({fmt(margin)}) at this spread"
    return text

"""The papers' claims, each tested on the runs of one config: claims.csv and claims.md.

One row per claim and scope (dataset · model · augmentation · budget, or the
cells a claim compares). Every row ends supported, contradicted, inconclusive
or not testable, decided by one-sided tests against the config's margins
(`analysis.margins`; verdicts.py says how each kind of statement is decided):

- gain claims ("higher", "larger", "drawn more"): supported when significantly
  > 0, contradicted when significantly below the margin;
- parity claims ("on par with or faster", "reaches or beats"): non-inferiority
  against the margin, never "supported" because a test found nothing;
- "no consistent gain": supported only when every comparison is shown below
  the margin, contradicted when one comparison is a supported gain.

Columns: paper, claim, scope, test, unit, effect, low, high (Student-t 95 %,
uncorrected, in `unit`), n (seeds), margin, p_support and p_contradict (one-sided,
Holm-corrected within the claim), mde (the smallest effect the row's test
detects at power `analysis.power` at its corrected level), seeds_needed (to
detect the margin at the observed spread), verdict, why. Accuracy effects are in
percentage points, speedups are ratios (tests on their logarithm).

Every test is paired by seed, with the resolution floor of stats.py: the
binomial error of an accuracy on the test set, the evaluation spacing of a
speedup. A speedup seed that never reached the target is censored at its bound
(speedup.py), used only where the bound is conservative for the test at hand.

Where the claims come from: Quercia et al., ICDM 2023 (biased SGD after an
early warm-up: speed, accuracy, imbalanced data, class balance, model
dependence); Arazo et al., BMVC 2021 (importance sampling vs uniform and data
augmentation under a budget); Mindermann et al., ICML 2022 (RHO-LOSS), whose
premise is that selecting hard samples selects mislabeled ones (noise_draws.csv
of analysis/noise.py); and this project's control (DESIGN.md, "Beyond both"):
whether biased sampling beats sampling that balances classes explicitly.

    python -m sample_importance claims --summary results/summary [--config config.yaml]
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import atomic_path, read_csv, write_csv
from .longtail import images_measured
from .stats import PairedComparison, accuracy_floor, correct, family_level, one_sample, paired
from .verdicts import CONTRADICTED, INCONCLUSIVE, SUPPORTED, UNTESTABLE, Margins, decide, hypotheses, settle

log = logging.getLogger(__name__)
DEFAULT = Margins()  # the schema's defaults: 0.5 accuracy points, speedup 0.9, alpha 0.05, power 0.8

GROUP = ["dataset", "model", "augmentation"]
REFERENCE = "uniform"
BIASED = "biased"
CLASS_CONTROLS = ("class_balanced", "class_matched")  # methods/ names of the class re-balancing controls
# class re-balancing methods and controls: not importance sampling, so outside Arazo's comparisons
NOT_IMPORTANCE = ("class_balanced", "class_matched", "sqrt_sampling", "progressive_balanced", "cb_loss",
                  "logit_adjust")
BASE_AUGMENTATIONS = ("standard", "crop", "none")  # the "standard augmentation" of Arazo's comparison, first found
ARAZO_SHORT_BUDGET = 0.3
MIN_HEAD_TAIL_RATIO = 2.0  # a dataset is imbalanced for the class-balance claim when n_head >= 2 n_tail
COLUMNS = ["paper", "claim", "scope", "test", "unit", "effect", "low", "high", "n", "margin", "p_support",
           "p_contradict", "mde", "seeds_needed", "verdict", "why"]
QUERCIA, ARAZO, MINDERMANN, CONTROL = ("Quercia et al. 2023", "Arazo et al. 2021", "Mindermann et al. 2022",
                                       "class control (this project)")
POINTS, RATIO, SHARE, RHO = "points", "ratio", "share", "spearman"

SPEED = "biased converges on par with or faster than uniform, in iterations (speedup >= 1)"
ACCURACY = "biased reaches a higher test accuracy than uniform"
IMBALANCE = "the gain of biased over uniform is larger on imbalanced than on balanced data"
TAIL = "importance sampling moves the class distribution toward balance: the tail class is drawn more than its training share"
HEAD = "importance sampling moves the class distribution toward balance: the head class is drawn less than its training share"
MODEL = "importance is model dependent: rank correlation across models is below that across seeds, within class"
NO_GAIN = "under a budget, importance sampling gives no consistent gain over uniform"
AUG_GAIN = "augmentation gains more than importance sampling at the same budget"
AUG_30 = "uniform with the right augmentation at 30 % of the budget reaches or beats standard augmentation at 100 %"
NOISE_SHARE = ("biased sampling amplifies label noise: mislabeled samples take a larger share of the draws than of "
               "the training data")
NOISE_ACCURACY = "biased sampling amplifies label noise: on noisy labels it ends below uniform's test accuracy"
BALANCED = ("on imbalanced data biased beats sampling that balances classes explicitly (class_balanced), in balanced "
            "and few-shot test accuracy")
MATCHED = ("on imbalanced data biased beats its class-matched control (same class shares, uniform within a class): "
           "the choice of hard samples within a class matters, not only re-balancing")


@dataclass
class Row:
    """One claim tested in one scope.

    `support` and `contradict` are the comparisons each one-sided test is run on
    (the same one, except for censored speedups); `kind` and `margin` (in the
    analysis units: accuracy as a fraction, speedups as log ratios) say how they
    become a verdict (verdicts.py). `unit`, `scale` and `log` say how to print.
    """

    paper: str
    claim: str
    scope: str = ""
    test: str = ""
    unit: str = ""
    kind: str = "untestable"  # gain | non_inferior | equivalent | no_gain | untestable
    margin: float = 0.0
    support: PairedComparison | None = None
    contradict: PairedComparison | None = None
    scale: float = 1.0
    log: bool = False
    why: str = ""
    verdict: str = ""
    comparisons: list = field(default_factory=list)  # no_gain: (name, PairedComparison)
    p_support: float = math.nan
    p_contradict: float = math.nan
    family: int = 1  # tests in the row (no_gain: its comparisons)
    shown: PairedComparison | None = None  # what the row prints and states power for (default: `support`)


def untestable(paper: str, claim: str, why: str, scope: str = "") -> Row:
    return Row(paper, claim, scope, "–", why=why, verdict=UNTESTABLE)


def _scope(*parts) -> str:
    return " · ".join(f"budget {p:g}" if isinstance(p, float) else str(p) for p in parts)


def _seeds(final: pd.DataFrame, metric: str = "final_test_accuracy") -> pd.Series:
    return final.groupby("seed")[metric].mean()


def _aligned(a: pd.Series, b: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    seeds = a.index.intersection(b.index)
    return a[seeds].to_numpy(float), b[seeds].to_numpy(float)


def _reference_label(cells: pd.DataFrame) -> str | None:
    labels = sorted(cells.loc[cells["method_name"] == REFERENCE, "method"].unique())
    return labels[0] if labels else None


def _acc_floor(*frames: pd.DataFrame, metric: str = "final_test_accuracy") -> float:
    """The test set's binomial error at these runs' accuracy (0 when final.csv predates its `n_test` column)."""
    f = pd.concat(frames)
    if "n_test" not in f or f.empty:
        return 0.0
    return accuracy_floor(float(f[metric].mean()), float(images_measured(f, metric).min()))


def _row(paper, claim, scope, test, c: PairedComparison, kind: str, margin: float, unit: str, why: str = "",
         scale: float = 1.0) -> Row:
    if c.n < 2:
        return untestable(paper, claim, f"fewer than 2 seeds in common ({c.n}); {why}".strip("; "), scope)
    return Row(paper, claim, scope, test, unit, kind, margin, c, c, scale, False, why)


def _accuracy_row(paper, claim, scope, test, method: pd.Series, base: pd.Series, floor: float, margins: Margins,
                  kind: str = "gain", why: str = "") -> Row:
    m, b = _aligned(method, base)
    return _row(paper, claim, scope, test, paired(m, b, floor), kind, margins.accuracy, POINTS, why, 100.0)


def _largest_budget(final: pd.DataFrame) -> pd.DataFrame:
    return final[final["budget"] == final.groupby(GROUP)["budget"].transform("max")]


# --------------------------------------------------------------------------- Quercia et al.


def _censored_logs(g: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, dict]:
    """(values for the supporting test, values for the contradicting test, counts) of log speedups per seed.

    Exact seeds (both runs reached the target) enter both. A seed where the method
    never reached it has speedup <= its bound (speedup_high): conservative for a
    test that the method is slower, so it enters only that one. A seed where
    uniform never reached it has speedup >= its bound (speedup_low), and enters
    only the test that the method is not slower. A seed where neither reached
    the target says nothing about their order and enters neither.
    """
    exact = g["reached"] & g["uniform_reached"]
    method_missed = ~g["reached"] & g["uniform_reached"]
    uniform_missed = g["reached"] & ~g["uniform_reached"]
    low = g["speedup_low"] if "speedup_low" in g else g["speedup"]
    high = g["speedup_high"] if "speedup_high" in g else g["speedup"]
    logs = np.log(g["speedup"].where(exact).to_numpy(float))
    with np.errstate(divide="ignore"):  # a bound of 0 or inf is log -inf / inf, and np.where keeps only one side
        support = np.where(uniform_missed, np.log(low.to_numpy(float)), logs)
        contradict = np.where(method_missed, np.log(high.to_numpy(float)), logs)
    counts = {"exact": int(exact.sum()), "method_missed": int(method_missed.sum()),
              "uniform_missed": int(uniform_missed.sum()), "both_missed": int((~g["reached"] & ~g["uniform_reached"]).sum()),
              "n": int(g["seed"].nunique())}
    return support, contradict, counts


def speed_claim(speedup: pd.DataFrame, margins: Margins = DEFAULT) -> list[Row]:
    """Per dataset/model/augmentation, largest budget: non-inferiority of the log iteration speedup, censored seeds kept."""
    if speedup is None or speedup.empty:
        return [untestable(QUERCIA, SPEED, "no speedup table (no uniform runs at the full budget)")]
    s = speedup[(speedup["unit"] == "iterations") & (speedup["method_name"] == BIASED)]
    if s.empty:
        return [untestable(QUERCIA, SPEED, "no biased runs in the speedup table")]
    rows = []
    s = s[s["budget"] == s.groupby(GROUP)["budget"].transform("max")]
    for (d, m, a, label, budget), g in s.groupby([*GROUP, "method", "budget"], sort=False):
        scope = _scope(d, m, a, label, float(budget))
        support, contradict, k = _censored_logs(g)
        floor = float(np.nanmean(g["log_resolution"])) if "log_resolution" in g and g["log_resolution"].notna().any() \
            else 0.0
        floor = floor if np.isfinite(floor) else 0.0
        cs, cc = one_sample(support, floor), one_sample(contradict, floor)
        if max(cs.n, cc.n) < 2:
            rows.append(untestable(QUERCIA, SPEED, f"fewer than 2 seeds with a speedup or a bound on it ({k['exact']} "
                                                   f"exact of {k['n']}; {k['both_missed']} where neither run reached "
                                                   "the target)", scope))
            continue
        why = (f"target {g['target'].iloc[0]:.4f}; {k['exact']} of {k['n']} seeds exact, {k['method_missed']} censored "
               f"(biased never reached: speedup <= bound), {k['uniform_missed']} censored (uniform never reached: "
               f"speedup >= bound), {k['both_missed']} with neither")
        shown = cs if not k["method_missed"] else cc
        if k["method_missed"]:  # a seed with no lower bound on its speedup: parity cannot be shown
            cs = one_sample([])
            why += "; a seed without a lower bound leaves parity unshowable"
        if k["uniform_missed"]:  # a seed with no upper bound: slowness cannot be shown
            cc = one_sample([])
        test = ("non-inferiority of the per-seed speedup (iterations to the target, uniform at the full budget / "
                "biased), one-sample t-test of log speedup against log(margin), resolution floor from the "
                "evaluation spacing")
        rows.append(Row(QUERCIA, SPEED, scope, test, RATIO, "non_inferior", margins.log_speedup, cs, cc, 1.0, True,
                        why, shown=shown))
    return rows


def accuracy_claim(final: pd.DataFrame, margins: Margins = DEFAULT) -> list[Row]:
    """Per dataset/model/augmentation at the largest budget: paired final accuracy, biased - uniform."""
    rows = []
    for key, cells in _largest_budget(final).groupby([*GROUP, "budget"], sort=False):
        ref = _reference_label(cells)
        for label in sorted(cells.loc[cells["method_name"] == BIASED, "method"].unique()):
            scope = _scope(*key[:3], label, float(key[3]))
            if ref is None:
                rows.append(untestable(QUERCIA, ACCURACY, "no uniform runs in this cell", scope))
                continue
            a, b = cells[cells["method"] == label], cells[cells["method"] == ref]
            rows.append(_accuracy_row(QUERCIA, ACCURACY, scope, "paired t-test over seeds, final test accuracy "
                                      "biased - uniform", _seeds(a), _seeds(b), _acc_floor(a, b), margins))
    return rows or [untestable(QUERCIA, ACCURACY, "the config has no biased and uniform runs side by side")]


def _gain(cells: pd.DataFrame, label: str, metric: str = "final_test_accuracy") -> pd.Series | None:
    ref = _reference_label(cells)
    if ref is None or label not in set(cells["method"]):
        return None
    m, b = _seeds(cells[cells["method"] == label], metric), _seeds(cells[cells["method"] == ref], metric)
    seeds = m.index.intersection(b.index)
    return m[seeds] - b[seeds]


def imbalance_claim(final: pd.DataFrame, margins: Margins = DEFAULT) -> list[Row]:
    """Interaction per seed: (biased - uniform) on the imbalanced variant - (biased - uniform) on its balanced original."""
    if not {"imbalance_ratio", "data_source"} <= set(final.columns):
        return [untestable(QUERCIA, IMBALANCE, "final.csv has no imbalance columns (aggregated by an older version)")]
    top = _largest_budget(final)
    imbalanced = top[top["imbalance_ratio"] > 1]
    if imbalanced.empty:
        return [untestable(QUERCIA, IMBALANCE, "the config has no imbalanced dataset")]
    rows = []
    for (d, m, a, budget), cells in imbalanced.groupby([*GROUP, "budget"], sort=False):
        balanced = top[(top["data_source"] == cells["data_source"].iloc[0]) & (top["imbalance_ratio"] <= 1)
                       & (top["model"] == m) & (top["augmentation"] == a) & (top["budget"] == budget)]
        labels = sorted(cells.loc[cells["method_name"] == BIASED, "method"].unique())
        if not labels:
            rows.append(untestable(QUERCIA, IMBALANCE, "no biased runs", _scope(d, m, a, float(budget))))
        for label in labels:
            scope = _scope(d, m, a, label, float(budget))
            if balanced.empty:
                rows.append(untestable(QUERCIA, IMBALANCE, "no balanced variant of the same source (same data_source, "
                                                           "no imbalance) at this model, augmentation and budget", scope))
                continue
            bal_name = balanced["dataset"].iloc[0]
            g_imb, g_bal = _gain(cells, label), _gain(balanced, label)
            if g_imb is None or g_bal is None:
                rows.append(untestable(QUERCIA, IMBALANCE, "biased or uniform missing on one of the variants", scope))
                continue
            floor = math.hypot(_acc_floor(cells), _acc_floor(balanced))  # a difference of two floored differences
            rows.append(_accuracy_row(QUERCIA, IMBALANCE, f"{scope} vs {bal_name}",
                                      "paired t-test over seeds of the interaction: (biased - uniform) on the "
                                      "imbalanced variant - (biased - uniform) on the balanced one, final test accuracy",
                                      g_imb, g_bal, floor, margins,
                                      why=f"imbalance ratio {cells['imbalance_ratio'].iloc[0]:g}"))
    return rows


def _extreme_classes(shares: pd.DataFrame) -> tuple[int, int] | None:
    """(head, tail) class indices by training size; None on a (nearly) balanced set.

    Below MIN_HEAD_TAIL_RATIO the "head" and "tail" differ by a few images (digits:
    174 to 183 per class), and which of them is drawn more says nothing about balance.
    """
    sizes = shares.drop_duplicates("class_index").set_index("class_index")["n_train"].sort_index()
    if sizes.max() < MIN_HEAD_TAIL_RATIO * sizes.min():
        return None
    return int(sizes.idxmax()), int(sizes.idxmin())


def balance_claims(balance: pd.DataFrame) -> list[Row]:
    """Tail and head class: expected sampling share vs training share, per seed, for biased at the largest budget."""
    b = balance[balance["method_name"] == BIASED] if len(balance) else balance
    if b is None or b.empty:
        return [untestable(QUERCIA, c, "no class-balance table of a biased run") for c in (TAIL, HEAD)]
    b = b[b["budget"] == b.groupby(GROUP)["budget"].transform("max")]
    rows = []
    for (d, m, a, label, budget), g in b.groupby([*GROUP, "method", "budget"], sort=False):
        scope = _scope(d, m, a, label, float(budget))
        classes = _extreme_classes(g)
        if classes is None:
            continue
        head, tail = classes
        for claim, c, sign in ((TAIL, tail, 1.0), (HEAD, head, -1.0)):
            cls = g[g["class_index"] == c].groupby("seed")[["sampling_share", "train_share"]].mean()
            name = g.loc[g["class_index"] == c, "class"].iloc[0]
            what = "sampling share - training share" if sign > 0 else "training share - sampling share"
            mm, bb = _aligned(sign * cls["sampling_share"], sign * cls["train_share"])
            rows.append(_row(QUERCIA, claim, f"{scope} · class {name}", f"paired t-test over seeds, {what} of the class",
                             paired(mm, bb), "gain", 0.0, SHARE,
                             why=f"training share {cls['train_share'].mean():.4f}, "
                                 f"mean sampling share {cls['sampling_share'].mean():.4f}"))
    if not rows:
        return [untestable(QUERCIA, c, f"every dataset is balanced (largest class < {MIN_HEAD_TAIL_RATIO:g} x the "
                                       "smallest): no head or tail class") for c in (TAIL, HEAD)]
    return rows


def model_claim(correlation: pd.DataFrame | None) -> list[Row]:
    """Per seed s: within-class Spearman across seeds (pairs of one model holding s) - across models at seed s."""
    if correlation is None or correlation.empty:
        return [untestable(QUERCIA, MODEL, "no importance correlation table (the config has no staged method)")]
    c = correlation[correlation["pair"] != "same warm-up"]
    if not (c["pair"] == "model vs model").any():
        return [untestable(QUERCIA, MODEL, "one model only: list two models under `models` to compare them")]
    keys = ["dataset", "augmentation", "budget", "warmup_epochs"]
    c = c[c["budget"] == c.groupby("dataset")["budget"].transform("max")]
    rows = []
    for key, g in c.groupby(keys, sort=False):
        cross_model = g[(g["pair"] == "model vs model") & (g["seed_a"] == g["seed_b"])].groupby("seed_a")[
            "spearman_within_class"].mean()
        cross_seed = g[g["pair"] == "seed vs seed"].groupby("seed_a")["spearman_within_class"].mean()
        scope = _scope(key[0], key[1], float(key[2]), f"warm-up {key[3]} epochs")
        mm, bb = _aligned(cross_seed, cross_model)
        rows.append(_row(QUERCIA, MODEL, scope, "paired t-test over seeds: mean within-class Spearman correlation of "
                         "importance across seeds (same model) - across models (same seed)", paired(mm, bb), "gain",
                         0.0, RHO, why=f"across seeds {cross_seed.mean():.3f}, across models {cross_model.mean():.3f}"))
    return rows


# --------------------------------------------------------------------------- Arazo et al.


def no_gain_claim(final: pd.DataFrame, margins: Margins = DEFAULT) -> list[Row]:
    """Every importance-sampling method vs uniform at every budget < 1: an intersection-union test of "no gain"."""
    short = final[final["budget"] < 1.0]
    if short.empty:
        return [untestable(ARAZO, NO_GAIN, "no budget below 1.0")]
    rows = []
    for (d, m, a), cells in short.groupby(GROUP, sort=False):
        scope = _scope(d, m, a, "budgets " + ", ".join(f"{b:g}" for b in sorted(cells["budget"].unique())))
        comps = []
        for budget, col in cells.groupby("budget"):
            ref = _reference_label(col)
            if ref is None:
                continue
            base = col[col["method"] == ref]
            for label in sorted(col.loc[~col["method_name"].isin([REFERENCE, *NOT_IMPORTANCE]), "method"].unique()):
                own = col[col["method"] == label]
                mm, bb = _aligned(_seeds(own), _seeds(base))
                comps.append((f"{label}@{budget:g}", paired(mm, bb, _acc_floor(own, base))))
        comps = [(name, c) for name, c in comps if c.n >= 2]
        if not comps:
            rows.append(untestable(ARAZO, NO_GAIN, "no importance-sampling method beside uniform with 2+ seeds", scope))
            continue
        name, top = max(comps, key=lambda x: x[1].diff.mean)
        rows.append(Row(ARAZO, NO_GAIN, scope, "paired t-tests over seeds, final test accuracy method - uniform, every "
                        "method and budget < 1: supported when every gain is shown below the margin (intersection-"
                        "union test), contradicted when one gain is shown (Holm within the row)", POINTS, "no_gain",
                        margins.accuracy, top, top, 100.0, False, f"largest mean gain: {name}", comparisons=comps,
                        family=len(comps)))
    return rows


def _no_gain_tests(r: Row, alpha: float) -> tuple[float, float, str]:
    """(p_support, p_contradict, why) of a no_gain row from its comparisons' gain tests.

    Support (every gain < margin) is an intersection-union test: its p is the
    largest of the comparisons' one-sided p, with no correction (Berger 1982).
    Contradiction (some comparison is a supported gain, not shown below the
    margin) is a union: Holm across the row's comparisons.
    """
    tests = [hypotheses(c, "gain", r.margin) for _, c in r.comparisons]
    below = [p_c for _, p_c in tests]
    gains = correct([p_s for p_s, _ in tests], "holm")
    # a gain shown below the margin contradicts nothing: only the others can
    candidates = [(name, p) for (name, _), p, p_c in zip(r.comparisons, gains, below) if not p_c < alpha]
    shown_gains = [(name, p) for name, p in candidates if p < alpha]
    p_support = float(np.nanmax(below)) if np.isfinite(below).all() else math.nan
    p_contra = min((p for _, p in candidates if np.isfinite(p)), default=math.nan)
    n_below = sum(p < alpha for p in below)
    why = (f"{n_below} of {len(tests)} comparisons shown below the margin, {len(shown_gains)} shown as gains"
           + (f" ({', '.join(n for n, _ in shown_gains)})" if shown_gains else ""))
    return p_support, p_contra, why


def _base_augmentation(augmentations) -> str | None:
    present = list(dict.fromkeys(augmentations))
    return next((a for a in BASE_AUGMENTATIONS if a in present), None)


def augmentation_claims(final: pd.DataFrame, margins: Margins = DEFAULT) -> tuple[list[Row], list[Row]]:
    """AUG_GAIN and AUG_30, against the standard augmentation (the first of BASE_AUGMENTATIONS in the config)."""
    base = _base_augmentation(final["augmentation"])
    others = [a for a in dict.fromkeys(final["augmentation"]) if a != base]
    if base is None or not others:
        why = ("one augmentation only" if final["augmentation"].nunique() < 2
               else f"no standard augmentation ({', '.join(BASE_AUGMENTATIONS)}) to compare with")
        return [untestable(ARAZO, AUG_GAIN, why)], [untestable(ARAZO, AUG_30, why)]
    gain_rows, short_rows = [], []
    for (d, m), cells in final.groupby(["dataset", "model"], sort=False):
        for aug in others:
            for budget in sorted(cells["budget"].unique()):
                col = cells[cells["budget"] == budget]
                plain, strong = col[col["augmentation"] == base], col[col["augmentation"] == aug]
                aug_gain = _gain(pd.concat([plain[plain["method_name"] == REFERENCE],
                                            strong[strong["method_name"] == REFERENCE].assign(method="_aug",
                                                                                              method_name="_aug")]),
                                 "_aug")
                for label in sorted(plain.loc[~plain["method_name"].isin([REFERENCE, *NOT_IMPORTANCE]), "method"].unique()):
                    is_gain = _gain(plain, label)
                    scope = _scope(d, m, f"{aug} vs {base}", label, float(budget))
                    if aug_gain is None or is_gain is None:
                        gain_rows.append(untestable(ARAZO, AUG_GAIN, "uniform missing in one augmentation", scope))
                        continue
                    gain_rows.append(_accuracy_row(
                        ARAZO, AUG_GAIN, scope, "paired t-test over seeds: (uniform with the augmentation - uniform with "
                        "the standard one) - (method - uniform, standard augmentation), final test accuracy",
                        aug_gain, is_gain, math.hypot(_acc_floor(strong), _acc_floor(plain)), margins,
                        why=f"augmentation gain {100 * aug_gain.mean():+.2f} points, method gain "
                            f"{100 * is_gain.mean():+.2f} points"))
            short_rows.append(_short_budget_row(cells, base, aug, d, m, margins))
    return (gain_rows or [untestable(ARAZO, AUG_GAIN, "no importance-sampling method beside uniform")]), short_rows


def _short_budget_row(cells: pd.DataFrame, base: str, aug: str, d: str, m: str, margins: Margins) -> Row:
    uni = cells[cells["method_name"] == REFERENCE]
    short = uni[(uni["augmentation"] == aug) & np.isclose(uni["budget"], ARAZO_SHORT_BUDGET)]
    full = uni[(uni["augmentation"] == base) & np.isclose(uni["budget"], 1.0)]
    scope = _scope(d, m, f"uniform {aug} at budget {ARAZO_SHORT_BUDGET:g} vs {base} at budget 1")
    if short.empty or full.empty:
        return untestable(ARAZO, AUG_30, f"needs uniform with {aug} at budget {ARAZO_SHORT_BUDGET:g} and with {base} "
                                         "at budget 1.0", scope)
    return _accuracy_row(ARAZO, AUG_30, scope, "non-inferiority, paired t-test over seeds, final test accuracy "
                         "(uniform, augmentation, budget 0.3) - (uniform, standard augmentation, budget 1)",
                         _seeds(short), _seeds(full), _acc_floor(short, full), margins, kind="non_inferior")


# --------------------------------------------------------------------------- label noise (Mindermann et al.)


def noise_claims(noise_draws: pd.DataFrame | None, final: pd.DataFrame, margins: Margins = DEFAULT) -> list[Row]:
    """Per noisy dataset/model/augmentation/budget and non-uniform method: (a) the share of all the run's draws on
    mislabeled samples - their share of the data, per seed; (b) uniform - method final accuracy, paired by seed."""
    from .noise import run_shares

    if noise_draws is None or noise_draws.empty:
        why = "no dataset has label_noise (or its runs recorded no noisy draws)"
        return [untestable(MINDERMANN, NOISE_SHARE, why), untestable(MINDERMANN, NOISE_ACCURACY, why)]
    runs = run_shares(noise_draws)
    shares, accuracy = [], []
    for key, cells in runs.groupby([*GROUP, "budget"], sort=False):
        finals = final[(final["dataset"] == key[0]) & (final["model"] == key[1]) & (final["augmentation"] == key[2])
                       & np.isclose(final["budget"], key[3])]
        ref = _reference_label(finals)
        for label in sorted(cells.loc[cells["method_name"] != REFERENCE, "method"].unique()):
            scope = _scope(*key[:3], label, float(key[3]))
            m = cells[cells["method"] == label].set_index("seed")
            # the draws are a sample: a share of k draws is known to its binomial error
            floor = math.sqrt(max(m["draw_share"].mean() * (1 - m["draw_share"].mean()), 0.0) / m["draws"].mean())
            mm, bb = _aligned(m["draw_share"], m["data_share"])
            shares.append(_row(MINDERMANN, NOISE_SHARE, scope, "paired t-test over seeds: share of the run's draws on "
                               "mislabeled samples - their share of the training split", paired(mm, bb, floor), "gain",
                               0.0, SHARE, why=f"data share {m['data_share'].iloc[0]:.4f}, mean draw share "
                                               f"{m['draw_share'].mean():.4f}"))
            if ref is None:
                accuracy.append(untestable(MINDERMANN, NOISE_ACCURACY, "no uniform runs in this cell", scope))
                continue
            a, b = finals[finals["method"] == ref], finals[finals["method"] == label]
            accuracy.append(_accuracy_row(MINDERMANN, NOISE_ACCURACY, scope, "paired t-test over seeds, final test "
                                          "accuracy uniform - method (on the noisy dataset)", _seeds(a), _seeds(b),
                                          _acc_floor(a, b), margins))
    if not shares:
        why = "no method other than uniform on the noisy datasets"
        return [untestable(MINDERMANN, NOISE_SHARE, why), untestable(MINDERMANN, NOISE_ACCURACY, why)]
    return shares + accuracy


# --------------------------------------------------------------------------- class re-balancing controls


def control_claims(final: pd.DataFrame, margins: Margins = DEFAULT) -> list[Row]:
    """Biased vs class_balanced and vs class_matched, on each imbalanced variant at the largest budget.

    Two rows per pair: balanced test accuracy (the mean of per-class accuracies,
    the long-tail literature's metric; on a balanced test set it equals the
    overall accuracy up to rounding) and few-shot accuracy (analysis/longtail.py;
    skipped where the variant has no few-shot class).
    """
    metrics = [m for m in ("balanced_accuracy", "few_shot_accuracy") if m in final] or ["final_test_accuracy"]
    imbalanced = final[final["imbalance_ratio"] > 1] if "imbalance_ratio" in final else final.iloc[0:0]
    rows = []
    for claim, control in ((BALANCED, CLASS_CONTROLS[0]), (MATCHED, CLASS_CONTROLS[1])):
        if imbalanced.empty:
            rows.append(untestable(CONTROL, claim, "the config has no imbalanced dataset"))
            continue
        found = False
        for key, cells in _largest_budget(imbalanced).groupby([*GROUP, "budget"], sort=False):
            controls = sorted(cells.loc[cells["method_name"] == control, "method"].unique())
            for label in sorted(cells.loc[cells["method_name"] == BIASED, "method"].unique()):
                for ctl, metric in ((c, m) for c in controls for m in metrics):
                    a, b = cells[cells["method"] == label], cells[cells["method"] == ctl]
                    if not np.isfinite(a[metric]).any():  # e.g. no few-shot class on this variant
                        continue
                    found = True
                    what = metric.removesuffix("_accuracy").replace("_", " ")
                    rows.append(_accuracy_row(CONTROL, claim, _scope(*key[:3], f"{label} vs {ctl}", float(key[3]),
                                                                     what),
                                              f"paired t-test over seeds, {what} test accuracy biased - {control}",
                                              _seeds(a, metric), _seeds(b, metric), _acc_floor(a, b, metric=metric),
                                              margins))
        if not found:
            rows.append(untestable(CONTROL, claim, f"needs biased and {control} runs on an imbalanced dataset "
                                                   f"(methods: {{{control}: {{method: {control}}}}})"))
    return rows


# --------------------------------------------------------------------------- verdicts and the table


def _printed(r: Row, x: float) -> float:
    return math.exp(x) if r.log else r.scale * x


def _mde_printed(r: Row, mde: float) -> float:
    """The detectable effect in the printed unit: for a speedup, the ratio it resolves (exp(-mde): slower by that)."""
    return math.exp(-mde) if r.log else r.scale * mde


def _fmt(r: Row):
    if r.log:
        return lambda x: f"a speedup of {math.exp(-x):.3g}x"
    return lambda x: f"{r.scale * x:.3g} {r.unit}"


def finish(rows: list[Row], margins: Margins | None = None) -> pd.DataFrame:
    """Holm per claim on each of the two one-sided hypotheses, verdicts, power, the table."""
    margins = margins or Margins()
    alpha = margins.alpha
    for r in rows:
        if r.verdict:
            continue
        if r.kind == "no_gain":
            r.p_support, r.p_contradict, extra = _no_gain_tests(r, alpha)
            r.why = "; ".join(x for x in (extra, r.why) if x)
        else:
            r.p_support = hypotheses(r.support, r.kind, r.margin)[0] if r.support.n >= 2 else math.nan
            r.p_contradict = hypotheses(r.contradict, r.kind, r.margin)[1] if r.contradict.n >= 2 else math.nan
    by_claim: dict[str, list[Row]] = {}
    for r in rows:
        if not r.verdict:
            by_claim.setdefault(r.claim, []).append(r)
    sizes = {}
    for claim, family in by_claim.items():
        for name in ("p_support", "p_contradict"):
            for r, p in zip(family, correct([getattr(r, name) for r in family], "holm")):
                setattr(r, name, float(p))
        sizes[claim] = sum(r.family for r in family)
    out = []
    for r in rows:
        record = {"paper": r.paper, "claim": r.claim, "scope": r.scope, "test": r.test, "unit": r.unit,
                  "effect": math.nan, "low": math.nan, "high": math.nan, "n": 0, "margin": math.nan,
                  "p_support": r.p_support, "p_contradict": r.p_contradict, "mde": math.nan,
                  "seeds_needed": math.nan, "verdict": r.verdict, "why": r.why}
        if not r.verdict:
            if r.kind == "no_gain":
                verdict, reason = ((SUPPORTED, "every gain shown below the margin") if r.p_support < alpha else
                                   (CONTRADICTED, "a gain reaching the margin is shown") if r.p_contradict < alpha else
                                   (INCONCLUSIVE, ""))
            else:
                verdict, reason = decide(r.kind, r.p_support, r.p_contradict, alpha)
            shown = r.shown or r.support
            level = family_level(alpha, sizes[r.claim])
            if r.kind == "no_gain":
                mdes = [c.mde(level, margins.power) for _, c in r.comparisons]
                needs = [c.seeds_needed(r.margin, level, margins.power) for _, c in r.comparisons]
                mde, needed = max(mdes), max(needs)
            else:
                mde, needed = shown.mde(level, margins.power), (shown.seeds_needed(r.margin, level, margins.power)
                                                                if r.margin > 0 else math.nan)
            if verdict == INCONCLUSIVE:
                reason = "inconclusive: " + settle(shown.n, mde, needed, r.margin, _fmt(r))
            d = shown.diff
            record.update({"effect": _printed(r, d.mean), "low": _printed(r, d.low), "high": _printed(r, d.high),
                           "n": max(r.support.n, r.contradict.n) if r.support else 0,
                           "margin": (margins.speedup if r.log else r.scale * r.margin),
                           "mde": _mde_printed(r, mde), "seeds_needed": needed, "verdict": verdict,
                           "why": "; ".join(x for x in (reason, r.why,
                                                        "spread below the resolution floor" if d.floored else "",
                                                        "no spread between seeds" if d.zero_spread else "") if x)})
        out.append(record)
    return pd.DataFrame(out, columns=COLUMNS)


def claims_table(final: pd.DataFrame, speedup: pd.DataFrame | None = None, balance: pd.DataFrame | None = None,
                 correlation: pd.DataFrame | None = None, noise_draws: pd.DataFrame | None = None,
                 margins: Margins | None = None) -> pd.DataFrame:
    """Every claim the tables can test, in the papers' order."""
    margins = margins or Margins()
    gain, short = augmentation_claims(final, margins)
    rows = (speed_claim(speedup, margins) + accuracy_claim(final, margins) + imbalance_claim(final, margins)
            + balance_claims(balance if balance is not None else pd.DataFrame()) + model_claim(correlation)
            + no_gain_claim(final, margins) + gain + short + noise_claims(noise_draws, final, margins)
            + control_claims(final, margins))
    return finish(rows, margins)


def _number(x: float, digits: int = 3) -> str:
    return "–" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{digits}g}"


def _effect(r: dict) -> str:
    if not math.isfinite(r["effect"]):
        return "–"
    if not math.isfinite(r["low"]):
        return f"{_number(r['effect'])} (no interval)"
    return f"{_number(r['effect'])} [{_number(r['low'])}, {_number(r['high'])}]"


def _seeds_needed(x: float) -> str:
    return "–" if not isinstance(x, float) or math.isnan(x) else ("> 10,000" if math.isinf(x) else f"{int(x)}")


def to_markdown(table: pd.DataFrame, margins: Margins | None = None) -> str:
    """claims.md: the verdicts with everything that decided them, written by pandas (tabulate)."""
    margins = margins or Margins()
    shown = pd.DataFrame({
        "paper": table["paper"], "claim": table["claim"], "scope": table["scope"], "unit": table["unit"],
        "effect [95 % CI]": [_effect(r) for r in table.to_dict("records")],
        "n": table["n"], "margin": table["margin"].map(_number),
        "p support": table["p_support"].map(_number), "p contradict": table["p_contradict"].map(_number),
        "MDE": table["mde"].map(_number), "seeds for margin": table["seeds_needed"].map(_seeds_needed),
        "verdict": "**" + table["verdict"] + "**", "why": table["why"]})
    lines = ["# The papers' claims, tested on this config", "",
             f"Verdicts: supported, contradicted or inconclusive, from one-sided paired t-tests over seeds against "
             f"the {margins.describe()}. p support / p contradict: the two one-sided tests, Holm-corrected within "
             "each claim. Effect [Student-t 95 % interval, uncorrected]; accuracy in percentage points, speedup as a "
             "ratio. MDE: the smallest effect the row's test detects (for a speedup: the slowest ratio it can tell "
             "from 1) at the stated power and the corrected level; seeds for margin: seeds that would detect the "
             "margin at the observed spread. n = seeds. A parity claim is supported only inside its margin, never "
             "because a test found nothing.", "",
             shown.to_markdown(index=False, disable_numparse=True), "",
             "Tests: " + "; ".join(f"{c}: {t}" for c, t in dict(zip(table["claim"], table["test"])).items()
                                   if t != "–")]
    return "\n".join(lines)


def _read(path: Path) -> pd.DataFrame | None:
    return read_csv(path) if path.exists() else None  # class names stay strings ("NA", "01")


def write_claims(summary_dir: str, out_dir: str | None = None, margins: Margins | None = None,
                 noise: bool | None = None, importance: bool | None = None) -> pd.DataFrame:
    """claims.csv and claims.md from the summary tables.

    `noise`/`importance`: whether the config has label-noise datasets / staged
    methods, so that a noise_draws.csv or an importance table left in the folder
    by another config is never read (None: read it when present).
    """
    s = Path(summary_dir)
    out = Path(out_dir or summary_dir)
    correlation = _read(s / "importance_correlation.csv") if importance is not False else None
    noise_draws = _read(s / "noise_draws.csv") if noise is not False else None
    table = claims_table(read_csv(s / "final.csv"), _read(s / "speedup.csv"), _read(s / "class_balance.csv"),
                         correlation, noise_draws, margins)
    write_csv(out / "claims.csv", table)
    with atomic_path(out / "claims.md") as tmp:
        tmp.write_text(to_markdown(table, margins) + "\n")
    log.info("%d claims rows: %s", len(table), table["verdict"].value_counts().to_dict())
    return table

"""The two papers' claims, each tested on the runs of one config: claims.csv and claims.md.

One row per claim and scope (dataset · model · augmentation · budget, or the
cells a claim compares). Columns: paper, claim, scope, test, effect, low, high
(Student-t 95 % interval, not corrected), p (raw), p_corrected, n (seeds), verdict,
why. Verdicts, at ALPHA = 0.05 after correction:

- directional claims ("higher", "larger", "below", "toward balance"): supported
  when the effect is significantly in the claimed direction, contradicted when
  significantly against it, else not supported;
- "on par or better" claims (speedup >= 1, "reaches or beats"): contradicted when
  significantly worse; supported when the interval reaches the null (1 or 0) or
  lies above it; not supported when it lies below without surviving correction;
- "no consistent gain": supported when no comparison is significantly better
  than uniform, contradicted when every one is, else not supported;
- not testable: the config lacks the cells (the why says which).

Correction: Holm across the rows of one claim (the same statement tested in
several scopes is one family); a row that sums up many comparisons (Arazo's "no
consistent gain") corrects them inside the row first. Every test is paired by
seed (stats.py).

Where the claims come from: Quercia et al., ICDM 2023 (biased SGD after an
early warm-up: speed, accuracy, imbalanced data, class balance, model
dependence); Arazo et al., BMVC 2021 (importance sampling vs uniform and data
augmentation under a budget); Mindermann et al., ICML 2022 (RHO-LOSS), whose
premise is that selecting hard samples selects mislabeled ones: tested on the
datasets with label_noise (noise_draws.csv of analysis/noise.py).

    python -m sample_importance claims --summary results/summary
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import atomic_path, write_csv
from .stats import holm, paired, t_interval

log = logging.getLogger(__name__)

ALPHA = 0.05
GROUP = ["dataset", "model", "augmentation"]
REFERENCE = "uniform"
BIASED = "biased"
BASE_AUGMENTATIONS = ("standard", "crop", "none")  # the "standard augmentation" of Arazo's comparison, first found
ARAZO_SHORT_BUDGET = 0.3
MIN_HEAD_TAIL_RATIO = 2.0  # a dataset is imbalanced for the class-balance claim when n_head >= 2 n_tail
COLUMNS = ["paper", "claim", "scope", "test", "effect", "low", "high", "p", "p_corrected", "n", "verdict", "why"]
QUERCIA, ARAZO, MINDERMANN = "Quercia et al. 2023", "Arazo et al. 2021", "Mindermann et al. 2022"

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


@dataclass
class Row:
    """One claim tested in one scope; `kind` says how p and the interval become a verdict."""

    paper: str
    claim: str
    scope: str = ""
    test: str = ""
    effect: float = math.nan
    low: float = math.nan
    high: float = math.nan
    p: float = math.nan
    n: int = 0
    kind: str = "untestable"  # greater | on_par | none_better | untestable
    null: float = 0.0
    why: str = ""
    verdict: str = ""
    p_corrected: float = math.nan
    extra: dict = field(default_factory=dict)


def untestable(paper: str, claim: str, why: str, scope: str = "") -> Row:
    return Row(paper, claim, scope, "–", why=why, verdict="not testable")


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


def _paired_row(paper, claim, scope, test, method: pd.Series, base: pd.Series, kind="greater", why="") -> Row:
    m, b = _aligned(method, base)
    c = paired(m, b)
    if c.n < 2:
        return untestable(paper, claim, f"fewer than 2 seeds in common ({c.n}); {why}".strip("; "), scope)
    return Row(paper, claim, scope, test, c.diff.mean, c.diff.low, c.diff.high, c.t_p, c.n, kind, 0.0, why)


def _largest_budget(final: pd.DataFrame) -> pd.DataFrame:
    return final[final["budget"] == final.groupby(GROUP)["budget"].transform("max")]


# --------------------------------------------------------------------------- Quercia et al.


def speed_claim(speedup: pd.DataFrame) -> list[Row]:
    """Per dataset/model/augmentation, largest budget: geometric mean speedup in iterations, t-test of log speedup."""
    if speedup is None or speedup.empty:
        return [untestable(QUERCIA, SPEED, "no speedup table (no uniform runs at the full budget)")]
    s = speedup[(speedup["unit"] == "iterations") & (speedup["method_name"] == BIASED)]
    if s.empty:
        return [untestable(QUERCIA, SPEED, "no biased runs in the speedup table")]
    rows = []
    s = s[s["budget"] == s.groupby(GROUP)["budget"].transform("max")]
    for (d, m, a, label, budget), g in s.groupby([*GROUP, "method", "budget"], sort=False):
        scope = _scope(d, m, a, label, float(budget))
        both = g[g["uniform_reached"]]
        logs = np.log(both["speedup"].to_numpy(float))
        logs = logs[np.isfinite(logs)]
        missed = int((~both["reached"]).sum())
        if len(logs) < 2:
            rows.append(untestable(QUERCIA, SPEED, f"fewer than 2 seeds where both reach the target "
                                                   f"({len(logs)} of {g['seed'].nunique()})", scope))
            continue
        i = t_interval(logs)
        c = paired(logs, np.zeros_like(logs))
        why = f"target {g['target'].iloc[0]:.4f}; reached in {int(g['reached'].sum())} of {g['seed'].nunique()} seeds"
        rows.append(Row(QUERCIA, SPEED, scope, "geometric mean of per-seed speedups (iterations to the target, uniform "
                        "at the full budget / biased), one-sample t-test of log speedup", math.exp(i.mean),
                        math.exp(i.low), math.exp(i.high), c.t_p, i.n, "on_par", 1.0, why, extra={"missed": missed}))
    return rows


def accuracy_claim(final: pd.DataFrame) -> list[Row]:
    """Per dataset/model/augmentation at the largest budget: paired final accuracy, biased - uniform."""
    rows = []
    for key, cells in _largest_budget(final).groupby([*GROUP, "budget"], sort=False):
        ref = _reference_label(cells)
        for label in sorted(cells.loc[cells["method_name"] == BIASED, "method"].unique()):
            scope = _scope(*key[:3], label, float(key[3]))
            if ref is None:
                rows.append(untestable(QUERCIA, ACCURACY, "no uniform runs in this cell", scope))
                continue
            rows.append(_paired_row(QUERCIA, ACCURACY, scope, "paired t-test over seeds, final test accuracy "
                                    "biased - uniform", _seeds(cells[cells["method"] == label]),
                                    _seeds(cells[cells["method"] == ref])))
    return rows or [untestable(QUERCIA, ACCURACY, "the config has no biased and uniform runs side by side")]


def _gain(cells: pd.DataFrame, label: str) -> pd.Series | None:
    ref = _reference_label(cells)
    if ref is None or label not in set(cells["method"]):
        return None
    m, b = _seeds(cells[cells["method"] == label]), _seeds(cells[cells["method"] == ref])
    seeds = m.index.intersection(b.index)
    return m[seeds] - b[seeds]


def imbalance_claim(final: pd.DataFrame) -> list[Row]:
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
            rows.append(_paired_row(QUERCIA, IMBALANCE, f"{scope} vs {bal_name}",
                                    "paired t-test over seeds of the interaction: (biased - uniform) on the imbalanced "
                                    "variant - (biased - uniform) on the balanced one, final test accuracy",
                                    g_imb, g_bal, why=f"imbalance ratio {cells['imbalance_ratio'].iloc[0]:g}"))
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
            rows.append(_paired_row(QUERCIA, claim, f"{scope} · class {name}",
                                    f"paired t-test over seeds, {what} of the class",
                                    sign * cls["sampling_share"], sign * cls["train_share"],
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
        rows.append(_paired_row(QUERCIA, MODEL, scope, "paired t-test over seeds: mean within-class Spearman "
                                "correlation of importance across seeds (same model) - across models (same seed)",
                                cross_seed, cross_model,
                                why=f"across seeds {cross_seed.mean():.3f}, across models {cross_model.mean():.3f}"))
    return rows


# --------------------------------------------------------------------------- Arazo et al.


def no_gain_claim(final: pd.DataFrame) -> list[Row]:
    """Every importance-sampling method vs uniform at every budget < 1, Holm inside the row."""
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
            for label in sorted(col.loc[col["method_name"] != REFERENCE, "method"].unique()):
                mm, bb = _aligned(_seeds(col[col["method"] == label]), _seeds(col[col["method"] == ref]))
                comps.append((f"{label}@{budget:g}", paired(mm, bb)))
        comps = [(name, c) for name, c in comps if c.n >= 2]
        if not comps:
            rows.append(untestable(ARAZO, NO_GAIN, "no importance-sampling method beside uniform with 2+ seeds", scope))
            continue
        p_holm = holm([c.t_p for _, c in comps])
        better = [name for (name, c), p in zip(comps, p_holm) if p < ALPHA and c.diff.mean > 0]
        name, top = max(comps, key=lambda x: x[1].diff.mean)
        why = (f"{len(better)} of {len(comps)} comparisons significantly better than uniform after Holm"
               + (f" ({', '.join(better)})" if better else "") + f"; largest mean gain: {name}")
        rows.append(Row(ARAZO, NO_GAIN, scope, "paired t-tests over seeds, final test accuracy method - uniform, "
                        "each method and budget < 1, Holm-corrected within the row", top.diff.mean, top.diff.low,
                        top.diff.high, float(np.nanmin(p_holm)), min(c.n for _, c in comps), "none_better", 0.0, why,
                        extra={"better": len(better), "comparisons": len(comps)}))
    return rows


def _base_augmentation(augmentations) -> str | None:
    present = list(dict.fromkeys(augmentations))
    return next((a for a in BASE_AUGMENTATIONS if a in present), None)


def augmentation_claims(final: pd.DataFrame) -> tuple[list[Row], list[Row]]:
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
                for label in sorted(plain.loc[~plain["method_name"].isin([REFERENCE]), "method"].unique()):
                    is_gain = _gain(plain, label)
                    scope = _scope(d, m, f"{aug} vs {base}", label, float(budget))
                    if aug_gain is None or is_gain is None:
                        gain_rows.append(untestable(ARAZO, AUG_GAIN, "uniform missing in one augmentation", scope))
                        continue
                    gain_rows.append(_paired_row(
                        ARAZO, AUG_GAIN, scope, "paired t-test over seeds: (uniform with the augmentation - uniform with "
                        "the standard one) - (method - uniform, standard augmentation), final test accuracy",
                        aug_gain, is_gain, why=f"augmentation gain {aug_gain.mean():+.4f}, method gain {is_gain.mean():+.4f}"))
            short_rows.append(_short_budget_row(cells, base, aug, d, m))
    return (gain_rows or [untestable(ARAZO, AUG_GAIN, "no importance-sampling method beside uniform")]), short_rows


def _short_budget_row(cells: pd.DataFrame, base: str, aug: str, d: str, m: str) -> Row:
    uni = cells[cells["method_name"] == REFERENCE]
    short = uni[(uni["augmentation"] == aug) & np.isclose(uni["budget"], ARAZO_SHORT_BUDGET)]
    full = uni[(uni["augmentation"] == base) & np.isclose(uni["budget"], 1.0)]
    scope = _scope(d, m, f"uniform {aug} at budget {ARAZO_SHORT_BUDGET:g} vs {base} at budget 1")
    if short.empty or full.empty:
        return untestable(ARAZO, AUG_30, f"needs uniform with {aug} at budget {ARAZO_SHORT_BUDGET:g} and with {base} "
                                         "at budget 1.0", scope)
    return _paired_row(ARAZO, AUG_30, scope, "paired t-test over seeds, final test accuracy (uniform, augmentation, "
                       "budget 0.3) - (uniform, standard augmentation, budget 1)", _seeds(short), _seeds(full),
                       kind="on_par")


# --------------------------------------------------------------------------- label noise (Mindermann et al.)


def noise_claims(noise_draws: pd.DataFrame | None, final: pd.DataFrame) -> list[Row]:
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
            shares.append(_paired_row(MINDERMANN, NOISE_SHARE, scope, "paired t-test over seeds: share of the run's "
                                      "draws on mislabeled samples - their share of the training split",
                                      m["draw_share"], m["data_share"],
                                      why=f"data share {m['data_share'].iloc[0]:.4f}, mean draw share "
                                          f"{m['draw_share'].mean():.4f}"))
            if ref is None:
                accuracy.append(untestable(MINDERMANN, NOISE_ACCURACY, "no uniform runs in this cell", scope))
                continue
            accuracy.append(_paired_row(MINDERMANN, NOISE_ACCURACY, scope, "paired t-test over seeds, final test "
                                        "accuracy uniform - method (on the noisy dataset)",
                                        _seeds(finals[finals["method"] == ref]), _seeds(finals[finals["method"] == label])))
    if not shares:
        why = "no method other than uniform on the noisy datasets"
        return [untestable(MINDERMANN, NOISE_SHARE, why), untestable(MINDERMANN, NOISE_ACCURACY, why)]
    return shares + accuracy


# --------------------------------------------------------------------------- verdicts and the table


def _verdict(r: Row) -> tuple[str, str]:
    """(verdict, reason) from the corrected p, the effect and its interval."""
    if r.kind == "untestable":
        return "not testable", ""
    significant = r.p_corrected < ALPHA
    if r.kind == "none_better":
        better, total = r.extra["better"], r.extra["comparisons"]
        if better == 0:
            return "supported", "no method significantly better than uniform"
        return ("contradicted", "every method significantly better") if better == total else \
            ("not supported", "some methods significantly better")
    worse = significant and r.effect < r.null
    if r.kind == "on_par":
        if worse:
            return "contradicted", "significantly below after correction"
        if r.extra.get("missed"):
            return "not supported", f"{r.extra['missed']} seed(s) never reached the target where uniform did"
        if r.high >= r.null:
            return "supported", "interval reaches or exceeds " + f"{r.null:g}"
        return "not supported", "interval below the null, not significant after correction"
    if significant and r.effect > r.null:
        return "supported", "significant in the claimed direction"
    if worse:
        return "contradicted", "significant against the claimed direction"
    return "not supported", "not significant after correction"


def finish(rows: list[Row]) -> pd.DataFrame:
    """Holm per claim, verdicts, the table."""
    by_claim: dict[str, list[Row]] = {}
    for r in rows:
        by_claim.setdefault(r.claim, []).append(r)
    for family in by_claim.values():
        testable = [r for r in family if r.kind != "untestable"]
        own = [r.p for r in testable]  # a none_better row's p is already corrected inside it
        for r, p in zip(testable, holm(own)):
            r.p_corrected = float(p)
    out = []
    for r in rows:
        verdict, reason = _verdict(r)
        r.verdict = r.verdict or verdict
        why = "; ".join(x for x in (reason, r.why) if x)
        out.append({"paper": r.paper, "claim": r.claim, "scope": r.scope, "test": r.test, "effect": r.effect,
                    "low": r.low, "high": r.high, "p": r.p, "p_corrected": r.p_corrected, "n": r.n,
                    "verdict": r.verdict, "why": why})
    return pd.DataFrame(out, columns=COLUMNS)


def claims_table(final: pd.DataFrame, speedup: pd.DataFrame | None = None, balance: pd.DataFrame | None = None,
                 correlation: pd.DataFrame | None = None, noise_draws: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every claim the tables can test, in the papers' order."""
    gain, short = augmentation_claims(final)
    rows = (speed_claim(speedup) + accuracy_claim(final) + imbalance_claim(final)
            + balance_claims(balance if balance is not None else pd.DataFrame()) + model_claim(correlation)
            + no_gain_claim(final) + gain + short + noise_claims(noise_draws, final))
    return finish(rows)


def _num(x: float, digits: int = 4) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}g}"


def to_markdown(table: pd.DataFrame) -> str:
    lines = ["# The papers' claims, tested on this config", "",
             f"Effect [Student-t 95 % interval, uncorrected]; p = paired test over seeds; p_corrected = Holm across the "
             f"rows of one claim; verdicts at {ALPHA} after correction. n = seeds. Accuracies are fractions.", "",
             "| paper | claim | scope | effect [95 % CI] | p_corrected | n | verdict | why |",
             "|---|---|---|---|---:|---:|---|---|"]
    for r in table.to_dict("records"):
        effect = "–" if math.isnan(r["effect"]) else f"{_num(r['effect'])} [{_num(r['low'])}, {_num(r['high'])}]"
        lines.append(f"| {r['paper']} | {r['claim']} | {r['scope']} | {effect} | {_num(r['p_corrected'], 3)} | "
                     f"{r['n']} | **{r['verdict']}** | {r['why']} |")
    lines += ["", "Tests: " + "; ".join(f"{c}: {t}" for c, t in dict(zip(table["claim"], table["test"])).items()
                                        if t != "–")]
    return "\n".join(lines)


def _read(path: Path) -> pd.DataFrame | None:
    return pd.read_csv(path) if path.exists() else None


def write_claims(summary_dir: str, out_dir: str | None = None) -> pd.DataFrame:
    """claims.csv and claims.md from the summary tables (importance_correlation.csv, noise_draws.csv when present)."""
    s = Path(summary_dir)
    out = Path(out_dir or summary_dir)
    table = claims_table(pd.read_csv(s / "final.csv"), _read(s / "speedup.csv"), _read(s / "class_balance.csv"),
                         _read(s / "importance_correlation.csv"), _read(s / "noise_draws.csv"))
    write_csv(out / "claims.csv", table)
    with atomic_path(out / "claims.md") as tmp:
        tmp.write_text(to_markdown(table) + "\n")
    log.info("%d claims rows: %s", len(table), table["verdict"].value_counts().to_dict())
    return table

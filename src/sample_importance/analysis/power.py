"""What a grid can detect: power.csv, the minimum detectable effect of every comparison with uniform.

Before spending GPU-days, a user asks how many seeds the grid needs. For each
comparison with uniform (final accuracy per table column, iteration speedup at
the largest budget) this table gives n, the observed paired spread (sd floored
at the resolution, stats.py), the corrected level the table's tests run at, the
minimum detectable effect at that level and the stated power, the power the
test has against the declared margin today, and the seeds that would detect the
margin at the observed spread. Run it on a pilot grid of 2-3 seeds:

    python -m sample_importance power --summary results/summary
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import read_csv, write_csv
from .budget_table import COLUMN, comparison_table
from .stats import family_level, one_sample, power
from .verdicts import Margins

COLUMNS = [*COLUMN, "method", "metric", "unit", "n", "sd", "sd_floor", "family_size", "level", "power", "mde",
           "margin", "power_at_margin", "seeds_needed"]


def accuracy_rows(final: pd.DataFrame, margins: Margins, correction: str) -> list[dict]:
    table = comparison_table(final, margins=margins, correction=correction)
    rows = []
    for r in table[table["n_paired"] >= 2].to_dict("records"):
        sd = r["diff_sd"]  # of the paired differences, floored at the test set's resolution
        level = family_level(margins.alpha, r["family_size"])
        rows.append({**{k: r[k] for k in COLUMN}, "method": r["method"], "metric": "final test accuracy",
                     "unit": "points", "n": r["n_paired"], "sd": 100 * sd, "sd_floor": 100 * r["sd_floor"],
                     "family_size": r["family_size"], "level": level, "power": margins.power, "mde": 100 * r["mde"],
                     "margin": 100 * margins.accuracy,
                     "power_at_margin": power(margins.accuracy, r["n_paired"], sd, level),
                     "seeds_needed": r["seeds_needed"]})
    return rows


def speedup_rows(speedup: pd.DataFrame, margins: Margins) -> list[dict]:
    """Iteration speedup at each column, the seeds where both runs reached the target, on the log scale."""
    s = speedup[(speedup["unit"] == "iterations") & (speedup["method_name"] != "uniform")]
    rows, margin = [], margins.log_speedup
    for key, column in s.groupby(COLUMN, sort=False):
        family = column["method"].nunique()
        level = family_level(margins.alpha, family)
        for method, g in column.groupby("method", sort=False):
            exact = g[g["censoring"] == "exact"] if "censoring" in g else g[g["reached"] & g["uniform_reached"]]
            floor = float(np.nanmean(exact["log_resolution"])) if "log_resolution" in exact and len(exact) else 0.0
            c = one_sample(np.log(exact["speedup"].to_numpy(float)), floor if np.isfinite(floor) else 0.0)
            sd = c.diff.sd_used
            mde = c.mde(level, margins.power)
            rows.append({**dict(zip(COLUMN, key)), "method": method, "metric": "iteration speedup (log)",
                         "unit": "ratio", "n": c.n, "sd": sd, "sd_floor": c.diff.floor, "family_size": family,
                         "level": level, "power": margins.power,
                         "mde": math.exp(-mde) if np.isfinite(mde) else math.nan, "margin": margins.speedup,
                         "power_at_margin": power(margin, c.n, sd, level),
                         "seeds_needed": c.seeds_needed(margin, level, margins.power)})
    return rows


def power_table(final: pd.DataFrame, speedup: pd.DataFrame | None, margins: Margins | None = None,
                correction: str = "holm") -> pd.DataFrame:
    margins = margins or Margins()
    rows = accuracy_rows(final, margins, correction)
    if speedup is not None and len(speedup):
        rows += speedup_rows(speedup, margins)
    return pd.DataFrame(rows, columns=COLUMNS)


def write_power(summary_dir: str, out_dir: str | None = None, margins: Margins | None = None,
                correction: str = "holm") -> pd.DataFrame:
    s = Path(summary_dir)
    speedup = read_csv(s / "speedup.csv") if (s / "speedup.csv").exists() else None
    table = power_table(read_csv(s / "final.csv"), speedup, margins, correction)
    write_csv(Path(out_dir or summary_dir) / "power.csv", table)
    return table

"""The names of the summary tables and figures a config produces.

One list, read by the Snakefile (rule outputs), by `aggregate` and by `plots`,
so the three never disagree. Free of torch so the Snakefile stays fast.
"""

from __future__ import annotations

SUMMARY_TABLES = ("curves", "final", "speedup", "class_balance", "per_class", "draws", "methods")
FIGURE_FORMATS = ("png", "pdf")


def summary_files(results: str) -> list[str]:
    return [f"{results}/summary/{name}.csv" for name in SUMMARY_TABLES]


def figure_names(datasets) -> list[str]:
    """Figure stems: one accuracy-vs-iteration figure per dataset, the rest across datasets."""
    return [f"accuracy_vs_iteration_{d}" for d in datasets] + ["speedup", "class_balance"]


def figure_files(config: dict, figures: str) -> list[str]:
    return [f"{figures}/{stem}.{ext}" for stem in figure_names(config["datasets"]) for ext in FIGURE_FORMATS]

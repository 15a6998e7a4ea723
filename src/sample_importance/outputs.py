"""The names of the summary tables and figures a config produces.

One list, read by the Snakefile (rule outputs), by `aggregate` and by `plots`,
so the three never disagree. Free of torch so the Snakefile stays fast.
"""

from __future__ import annotations

SUMMARY_TABLES = ("curves", "final", "speedup", "speedup_summary", "class_balance", "per_class", "draws", "methods",
                  "budget_table", "budget_to_target")
SUMMARY_EXTRAS = ("budget_table.md",)  # non-CSV renderings written beside the tables
FIGURE_FORMATS = ("png", "pdf")


def summary_files(results: str) -> list[str]:
    return [f"{results}/summary/{name}.csv" for name in SUMMARY_TABLES] + [f"{results}/summary/{name}" for name in SUMMARY_EXTRAS]


# The claims report (analysis/claims.py, rule `claims`): one table, also rendered as Markdown.
CLAIMS_FILES = ("claims.csv", "claims.md", "power.csv")  # power.csv: what each comparison could detect


def claims_files(results: str) -> list[str]:
    return [f"{results}/summary/{name}" for name in CLAIMS_FILES]


# Sortable HTML pages of the main tables (figures/html_tables.py, rule `html_tables`), shown in the report.
HTML_TABLES = ("methods", "budget_table", "speedup_summary", "claims")


def html_table_files(figures: str) -> list[str]:
    return [f"{figures}/tables/{name}.html" for name in HTML_TABLES]


def figure_names(datasets) -> list[str]:
    """Figure stems: one accuracy-vs-iteration figure per dataset, the rest across datasets."""
    return [f"accuracy_vs_iteration_{d}" for d in datasets] + ["speedup", "class_balance", "accuracy_vs_budget",
                                                                 "long_tail"]


def figure_files(config: dict, figures: str) -> list[str]:
    return [f"{figures}/{stem}.{ext}" for stem in figure_names(config["datasets"]) for ext in FIGURE_FORMATS]


# Importance analysis (importance_analysis.py, plots_importance.py): tables from the warm-up records, figures.
# What a finished run folder holds: its tables, and the importance files of staged and pruned runs. steps.py
# records each in run.json; analysis/aggregate.py checks each against that record before reading it.
RUN_TABLES = ("metrics.csv", "per_class.csv", "class_draws.csv")
RUN_IMPORTANCE_FILES = ("importance/classes.csv", "importance/weights.npy")

IMPORTANCE_TABLES = ("importance_correlation", "importance_correlation_summary", "importance_agreement",
                     "importance_rescoring", "importance_easy_hard", "importance_sampling")


def importance_files(results: str) -> list[str]:
    return [f"{results}/summary/{name}.csv" for name in IMPORTANCE_TABLES]


def importance_figure_names(datasets, with_warmups: bool = True) -> list[str]:
    """Figure stems of plots_importance: easy/hard samples per dataset, the rest across datasets.

    Without warm-ups (no staged method in the config) only the methods figure remains.
    """
    if not with_warmups:
        return ["final_accuracy_methods"]
    return [f"easy_hard_{d}" for d in datasets] + ["importance_distribution", "importance_correlation",
                                                    "score_agreement", "class_balance_over_time", "final_accuracy_methods"]


def importance_figure_files(config: dict, figures: str, with_warmups: bool = True) -> list[str]:
    return [f"{figures}/{stem}.{ext}" for stem in importance_figure_names(config["datasets"], with_warmups)
            for ext in FIGURE_FORMATS]


# Label noise (analysis/noise.py, figures/plots_noise.py): draws on mislabeled samples, importance of clean vs
# noisy samples. Only a config with a dataset with label_noise makes them.
NOISE_TABLES = ("noise_draws", "noise_importance")
NOISE_FIGURES = ("noise_draw_share",)


def has_label_noise(config: dict) -> bool:
    return any(((spec or {}).get("label_noise") or {}).get("kind", "none") != "none"
               for spec in config["datasets"].values())


def noise_files(config: dict, results: str) -> list[str]:
    return [f"{results}/summary/{name}.csv" for name in NOISE_TABLES] if has_label_noise(config) else []


def noise_figure_files(config: dict, figures: str) -> list[str]:
    if not has_label_noise(config):
        return []
    return [f"{figures}/{stem}.{ext}" for stem in NOISE_FIGURES for ext in FIGURE_FORMATS]

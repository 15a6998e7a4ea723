# `snakemake --report report.html`: which outputs the report shows, under which category and caption.
# Included right after common.smk, so that every rule file can wrap its outputs with these helpers.
# Captions (workflow/report/*.rst) open with one sentence saying what the figure shows; that
# sentence is also its line in figures/README.md (rule figures_readme in importance.smk).


report: "../report/workflow.rst"


# figure family (stem, or stem prefix before _<dataset>) -> (caption file, report category)
REPORT_FIGURES = {
    "accuracy_vs_iteration": ("accuracy_vs_iteration.rst", "1 Accuracy"),
    "speedup": ("speedup.rst", "1 Accuracy"),
    "accuracy_vs_budget": ("accuracy_vs_budget.rst", "1 Accuracy"),
    "final_accuracy_methods": ("final_accuracy_methods.rst", "1 Accuracy"),
    "class_balance": ("class_balance.rst", "2 Class balance"),
    "class_balance_over_time": ("class_balance_over_time.rst", "2 Class balance"),
    "easy_hard": ("easy_hard.rst", "3 Importance"),
    "importance_distribution": ("importance_distribution.rst", "3 Importance"),
    "score_agreement": ("score_agreement.rst", "3 Importance"),
    "importance_correlation": ("importance_correlation.rst", "4 Model dependence"),
}
REPORT_DIR = Path(workflow.basedir) / "workflow" / "report"


def figure_family(stem):
    """The REPORT_FIGURES key of a figure stem (longest match: class_balance_over_time before class_balance)."""
    for family in sorted(REPORT_FIGURES, key=len, reverse=True):
        if stem == family or stem.startswith(f"{family}_"):
            return family
    return None


def figure_caption(stem):
    """Absolute path of a figure's caption file, or None for a figure without one."""
    family = figure_family(stem)
    return str(REPORT_DIR / REPORT_FIGURES[family][0]) if family else None


def for_report(f, caption, category, labels):
    """Snakemake's report() flag. Called through here: snakefmt takes a line that starts with `report(`
    for the `report:` directive and then cannot parse its own output."""
    return report(f, caption=caption, category=category, labels=labels)


def reported_figures(files):
    """Mark the PNG of every figure for the report (the PDF is the same figure, kept out of it)."""
    marked = []
    for f in files:
        stem, ext = Path(f).stem, Path(f).suffix
        family = figure_family(stem)
        if ext != ".png":
            marked.append(f)
            continue
        caption, category = (
            (f"../report/{REPORT_FIGURES[family][0]}", REPORT_FIGURES[family][1])
            if family
            else (None, "5 Other")
        )
        marked.append(for_report(f, caption, category, {"figure": stem}))
    return marked


def reported_tables(files, caption="../report/tables.rst", category="6 Tables"):
    """Mark the CSV tables for the report (offered as downloads; reported_html_tables shows the main ones)."""
    return [
        (
            for_report(f, caption, category, {"table": Path(f).stem})
            if f.endswith(".csv")
            else f
        )
        for f in files
    ]


def reported_claims(files, caption="../report/claims.rst", category="0 Claims"):
    """The claims table (CSV, its Markdown and its sortable HTML page), first in the report."""
    return [for_report(f, caption, category, {"table": Path(f).name}) for f in files]


def reported_html_tables(
    files, caption="../report/html_tables.rst", category="0 Tables"
):
    """The sortable HTML pages of the summary tables (rule html_tables), opened inside the report. The claims page
    joins the claims; each page has its own category or label, since the report shows one result per label.
    """
    return [
        (
            reported_claims([f])[0]
            if Path(f).stem == "claims"
            else for_report(f, caption, category, {"table": Path(f).stem})
        )
        for f in files
    ]

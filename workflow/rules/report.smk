# `snakemake --report report.html`: which outputs the report shows, under which category and caption.
# Included right after common.smk, so that every rule file can wrap its outputs with these helpers.
# Captions (workflow/report/*.rst) open with one sentence saying what the figure shows; that
# sentence is also its line in figures/README.md (rule figures_readme in importance.smk).


report: "../report/workflow.rst"


# The report's menu lists categories, and the subcategories inside one, in alphabetical order (Snakemake's
# report sorts them), so names are plain words, not numbered: "Accuracy", "Claims", "Class balance", ...
# figure family (stem, or stem prefix before _<dataset>) -> (caption file, report category, readable name)
REPORT_FIGURES = {
    "accuracy_vs_iteration": (
        "accuracy_vs_iteration.rst",
        "Accuracy",
        "Accuracy vs iteration",
    ),
    "speedup": ("speedup.rst", "Accuracy", "Speedup over uniform"),
    "accuracy_vs_budget": ("accuracy_vs_budget.rst", "Accuracy", "Accuracy vs budget"),
    "final_accuracy_methods": (
        "final_accuracy_methods.rst",
        "Accuracy",
        "Final accuracy per method",
    ),
    "class_balance": (
        "class_balance.rst",
        "Class balance",
        "Class shares and accuracy",
    ),
    "long_tail": (
        "long_tail.rst",
        "Class balance",
        "Long-tail accuracies (many / medium / few-shot)",
    ),
    "class_balance_over_time": (
        "class_balance_over_time.rst",
        "Class balance",
        "Class shares of the draws over time",
    ),
    "easy_hard": ("easy_hard.rst", "Importance", "Easiest and hardest samples"),
    "importance_distribution": (
        "importance_distribution.rst",
        "Importance",
        "Distribution of the importance",
    ),
    "score_agreement": (
        "score_agreement.rst",
        "Importance",
        "Agreement with other scores",
    ),
    "importance_correlation": (
        "importance_correlation.rst",
        "Model dependence",
        "Importance correlation between warm-ups",
    ),
}
TABLES = "Tables"  # one category for every table: sortable pages, LaTeX, CSV downloads (subcategories)
# summary table stem -> readable name (others: the stem with spaces)
TABLE_NAMES = {
    "methods": "Final accuracy per method",
    "budget_table": "Accuracy by budget (Arazo et al.)",
    "speedup_summary": "Speedup summary",
    "speedup": "Speedup per seed",
    "claims": "Claims of the papers",
    "final": "Final accuracy per run",
    "curves": "Accuracy curves",
    "class_balance": "Class balance",
    "per_class": "Per-class accuracy",
    "draws": "Class draws per epoch",
}


def readable(stem):
    """A figure's or table's name for the report: its family's name, with the dataset it is about."""
    family = figure_family(stem)
    if family:
        name = REPORT_FIGURES[family][2]
        rest = stem[len(family) :].lstrip("_")
        return f"{name}: {rest}" if rest else name
    return TABLE_NAMES.get(stem, stem.replace("_", " ").capitalize())


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


def for_report(f, caption, category, labels, subcategory=None):
    """Snakemake's report() flag. Called through here: snakefmt takes a line that starts with `report(`
    for the `report:` directive and then cannot parse its own output."""
    return report(
        f, caption=caption, category=category, subcategory=subcategory, labels=labels
    )


def reported_figures(files):
    """Mark the PNG of every figure for the report (the PDF is the same figure, kept out of it)."""
    marked = []
    for f in files:
        stem, ext = Path(f).stem, Path(f).suffix
        family = figure_family(stem)
        if ext != ".png":
            marked.append(f)
            continue
        caption, category, subcategory = (
            (f"../report/{REPORT_FIGURES[family][0]}", *REPORT_FIGURES[family][1:])
            if family
            else (None, "Other figures", readable(stem))
        )
        marked.append(
            for_report(f, caption, category, {"figure": readable(stem)}, subcategory)
        )
    return marked


def reported_tables(files, caption="../report/tables.rst", category=TABLES):
    """Mark the CSV tables for the report (offered as downloads; reported_html_tables shows the main ones)."""
    return [
        (
            for_report(
                f,
                caption,
                category,
                {"table": readable(Path(f).stem), "file": Path(f).name},
                "CSV downloads",
            )
            if f.endswith(".csv")
            else f
        )
        for f in files
    ]


def reported_claims(files, caption="../report/claims.rst", category="Claims"):
    """The claims table (CSV, its Markdown, its sortable HTML page and its LaTeX)."""
    kinds = {
        ".csv": "CSV",
        ".md": "Markdown",
        ".html": "sortable table",
        ".tex": "LaTeX (booktabs)",
    }
    return [
        for_report(
            f,
            caption,
            category,
            {"table": f"Claims: {kinds.get(Path(f).suffix, Path(f).name)}"},
            "The papers' claims tested",
        )
        for f in files
    ]


def latex_files(html_files):
    """The LaTeX (booktabs) table written beside each sortable page (figures/html_tables.py table_latex)."""
    return [str(Path(f).with_suffix(".tex")) for f in html_files]


def reported_html_tables(files, caption="../report/html_tables.rst", category=TABLES):
    """The sortable HTML pages of the summary tables (rule html_tables), opened inside the report, and their LaTeX
    (.tex, booktabs) beside them. The claims page and LaTeX join the claims; each page has its own label, since the
    report shows one result per label.
    """
    latex = "../report/latex_tables.rst"
    return [
        (
            reported_claims([f])[0]
            if Path(f).stem == "claims"
            else for_report(
                f,
                latex if f.endswith(".tex") else caption,
                category,
                {"table": readable(Path(f).stem)},
                "LaTeX (booktabs)" if f.endswith(".tex") else "Sortable tables",
            )
        )
        for f in files
    ]

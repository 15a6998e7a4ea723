"""Sortable HTML pages of the summary tables, shown inside `snakemake --report` (rule html_tables).

Snakemake's report offers a CSV only as a download, but shows an HTML file inside the report (an iframe on a data
URI). So each main table (methods, budget_table, speedup_summary, claims) becomes one self-contained page: inline
CSS and a few lines of JavaScript that sort by a clicked header, nothing fetched from a network, since the report is
read offline. The Snakemake catalog's tool for such tables, datavzrd, is a Rust binary that neither PyPI nor the
package sources this project installs from carry.

Numbers are written as the papers' tables write them: accuracy in % with its Student-t 95 % interval over seeds as
"57.6 [56.4, 58.9]", differences to uniform in points ("+1.2 [-0.3, +2.7]"), p-values to 3 significant digits, n
(seeds) in its own column. Every cell keeps its full-precision value in `data-sort`, so a column sorts by number
whatever its display; the CSV beside it holds every column this page leaves out.

    python -m sample_importance html-tables --summary results/summary --out figures/tables
"""

from __future__ import annotations

import html
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

from ..atomic import atomic_path, read_csv
from ..outputs import HTML_TABLES

log = logging.getLogger(__name__)

MISSING = "–"


# ----------------------------------------------------------------------------- cell formats


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def percent(x, signed: bool = False) -> str:
    """A fraction as % (or a difference of fractions as points), one decimal: one point of accuracy is visible."""
    return MISSING if _missing(x) else f"{100 * x:{'+' if signed else ''}.1f}"


def significant(x, digits: int = 3) -> str:
    """p-values and ratios: 3 significant digits (0.0123, 1.23e-05), as claims.md writes them."""
    return MISSING if _missing(x) else f"{x:.{digits}g}"


def interval(mean, low, high, fmt: Callable[[float], str]) -> str:
    """'57.6 [56.4, 58.9]'; the mean alone when there is no interval (one seed)."""
    if _missing(mean):
        return MISSING
    return fmt(mean) if _missing(low) or _missing(high) else f"{fmt(mean)} [{fmt(low)}, {fmt(high)}]"


def _text(x) -> str:
    return MISSING if _missing(x) else str(x)


def _count(x) -> str:
    return MISSING if _missing(x) else str(int(x))


def _flag(x) -> str:
    return "yes" if x is True or str(x).lower() == "true" else ""


# ----------------------------------------------------------------------------- columns


@dataclass(frozen=True)
class Column:
    """One displayed column: its header, the CSV columns it needs, how a row is written, the CSV column it sorts by."""

    header: str
    needs: tuple[str, ...]
    show: Callable[[dict], str]
    key: str
    title: str = ""


def text(col: str, header: str | None = None, title: str = "") -> Column:
    return Column(header or col, (col,), lambda r: _text(r[col]), col, title)


def count(col: str, header: str | None = None, title: str = "") -> Column:
    return Column(header or col, (col,), lambda r: _count(r[col]), col, title)


def flag(col: str, header: str | None = None, title: str = "") -> Column:
    return Column(header or col, (col,), lambda r: _flag(r[col]), col, title)


def number(col: str, header: str | None = None, title: str = "", fmt=significant) -> Column:
    return Column(header or col, (col,), lambda r: fmt(r[col]), col, title)


def ranged(mean: str, low: str, high: str, header: str, title: str = "", fmt=significant) -> Column:
    """A mean and its interval in one cell, sorted by the mean."""
    return Column(header, (mean, low, high), lambda r: interval(r[mean], r[low], r[high], fmt), mean, title)


def _points(x) -> str:
    return percent(x, signed=True)


P_TITLE = "paired over seeds; 3 significant digits"
ACCURACY_COLUMNS = [
    text("dataset"), text("model"), text("augmentation"),
    text("method", title="the method's label in the config"),
    text("method_name", "implementation"),
    number("budget", title="fraction of the full training's iterations"),
    count("n", title="seeds"),
    ranged("mean", "low", "high", "test accuracy % [95 % CI]", "final test accuracy, mean over seeds "
           "[Student-t 95 % interval]", percent),
    ranged("diff", "diff_low", "diff_high", "Δ vs uniform, points [95 % CI]",
           "paired difference to uniform at the same budget, by seed", _points),
    count("n_paired", "n paired", "seeds paired with uniform"),
    text("verdict", title="better / worse (one-sided paired t-test), equivalent (inside ± the accuracy margin, two "
                          "one-sided tests) or inconclusive, after correction within the budget column"),
    number("p_better", "p better", "one-sided paired t-test p (> 0), corrected within the column"),
    number("p_worse", "p worse", "one-sided paired t-test p (< 0), corrected within the column"),
    number("p_equivalent", "p equivalent", "two one-sided tests against ± the margin, corrected within the column"),
    number("mde", "MDE, points", "smallest gain the cell's test detects at power 0.8 at the column's corrected level",
           lambda x: percent(x)),
    number("seeds_needed", "seeds for margin", "seeds that would detect the accuracy margin at the observed spread"),
    count("family_size", "family", "comparisons in the corrected family (the budget column)"),
    number("diff_sd", "sd of Δ, points", "sd of the paired differences the tests use (floored at the resolution)",
           percent),
    number("sd_floor", "resolution, points", "binomial error of an accuracy on this test set: the sd floor", percent),
    flag("best", title="the top mean of its budget and better than uniform"),
    number("balanced_mean", "balanced accuracy %", "mean over seeds of the class-balanced test accuracy", percent),
    number("smoothing", title="the scores' smoothing of a staged method"),
    number("ess_fraction", "ESS / N", "effective sample size of the sampling weights, as a fraction of N"),
    number("max_min_ratio", "max / min weight", "largest over smallest sampling weight"),
]
SPEEDUP_COLUMNS = [
    text("dataset"), text("model"), text("augmentation"), text("method"),
    text("method_name", "implementation"), number("budget"), text("unit", title="the cost counted to the target"),
    number("target", "target accuracy %", "target_fraction x uniform's final accuracy at the full budget", percent),
    count("n", title="seeds"), count("n_reached", "n reached", "seeds where the method reached the target"),
    count("n_uniform_reached", "n uniform reached", "seeds where uniform reached the target"),
    count("n_exact", "n exact", "seeds whose speedup is known (both reached); the others are censored bounds"),
    number("median_low", "median ≥", "median speedup, lower bound (censored seeds at their bound)"),
    number("median_high", "median ≤", "median speedup, upper bound"),
    ranged("geometric_mean", "low", "high", "geometric mean × [95 % CI]",
           "only when every seed's speedup is known; t-interval of the log speedup"),
    number("eval_spacing", "resolution, steps", "evaluation spacing: the cost to the target is known to one spacing"),
]
CLAIMS_COLUMNS = [
    text("paper"), text("claim"), text("scope"), text("test"),
    text("unit", title="points: accuracy in percentage points; ratio: speedup"),
    ranged("effect", "low", "high", "effect [95 % CI]", "Student-t 95 % interval, uncorrected, in the row's unit"),
    count("n", title="seeds"), number("margin", title="the smallest difference that matters (config analysis.margins)"),
    number("p_support", "p support", "one-sided test for the claim, Holm-corrected within the claim"),
    number("p_contradict", "p contradict", "one-sided test against the claim (beyond the margin), Holm within the claim"),
    number("mde", "MDE", "smallest effect the row's test detects at the stated power and corrected level"),
    number("seeds_needed", "seeds for margin", "seeds that would detect the margin at the observed spread"),
    text("verdict", title="supported / contradicted / inconclusive at the corrected level"), text("why"),
]


@dataclass(frozen=True)
class Page:
    """One table's page: title, a sentence on how to read it, its columns, and columns shown once above it."""

    name: str
    title: str
    intro: str
    columns: list[Column]
    notes: tuple[str, ...] = ()
    optional: bool = False


PAGES = {page.name: page for page in (
    Page("methods", "Final test accuracy per method and budget",
         "Mean over seeds [Student-t 95 % interval] in %; every method but uniform against uniform at the same budget, "
         "paired by seed, one-sided tests corrected within each budget column, with the power of each cell (MDE); "
         "with the sampling weights' flatness of staged methods.",
         ACCURACY_COLUMNS, ("margin", "correction", "commits")),
    Page("budget_table", "Arazo et al.'s comparison: final test accuracy by budget",
         "Rows in the config's order, budgets ascending; the same statistics as the methods table.", ACCURACY_COLUMNS,
         ("margin", "correction")),
    Page("speedup_summary", "Speedup over uniform to the target accuracy",
         "Cost uniform needs to reach the target over the cost the method needs, per unit of cost. Seeds that never "
         "reached it are censored bounds, never dropped: the median lies between its bounds, and a geometric mean is "
         "given only when every seed's speedup is known.",
         SPEEDUP_COLUMNS, ("reference", "statistic", "target_fraction", "commits")),
    Page("claims", "The papers' claims, tested on this config",
         "Each testable claim with its test, effect [95 % interval], the margin, the two one-sided tests, the power "
         "(MDE, seeds for the margin) and the verdict; read the interval, not only the verdict.", CLAIMS_COLUMNS,
         optional=True),
)}


# ----------------------------------------------------------------------------- page


STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1em; color: #222; }
h1 { font-size: 1.3em; margin: 0 0 .3em; }
p { margin: .2em 0 .6em; max-width: 75em; }
.notes { color: #555; font-size: .9em; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid #ddd; padding: .25em .6em; text-align: left; vertical-align: top; }
td.num { text-align: right; white-space: nowrap; }
th { position: sticky; top: 0; background: #f3f3f3; cursor: pointer; user-select: none; vertical-align: bottom;
     max-width: 9em; }
th:hover { background: #e4e4e4; }
th[aria-sort=ascending]::after { content: " \\25B2"; }
th[aria-sort=descending]::after { content: " \\25BC"; }
tbody tr:nth-child(even) { background: #fafafa; }
"""

# Click a header: sort its column ascending, click again: descending. Numbers compare as numbers, blanks go last
# either way; Array.sort is stable, so clicking one column after another sorts by several.
SCRIPT = """
document.querySelectorAll("table.sortable th").forEach((th, col) => th.addEventListener("click", () => {
  const table = th.closest("table"), body = table.tBodies[0];
  const dir = th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
  table.querySelectorAll("th").forEach(h => h.removeAttribute("aria-sort"));
  th.setAttribute("aria-sort", dir);
  const sign = dir === "ascending" ? 1 : -1, numeric = th.dataset.type === "number";
  const key = row => row.cells[col].dataset.sort;
  const rows = Array.from(body.rows).sort((a, b) => {
    const x = key(a), y = key(b);
    if (x === "" || y === "") return (x === "") - (y === "");
    return sign * (numeric ? Number(x) - Number(y) : x.localeCompare(y));
  });
  body.append(...rows);
}));
"""


def _numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)


def _sort_value(x, numeric: bool) -> str:
    if _missing(x):
        return ""
    return repr(float(x)) if numeric else str(x)


def _notes(frame: pd.DataFrame, names: tuple[str, ...]) -> list[str]:
    """Columns with one value for the whole table (the statistic, the commits): said once above it."""
    out = []
    for name in names:
        if name in frame:
            values = [str(v).replace(";", "; ") for v in pd.unique(frame[name].dropna())]
            if values:
                out.append(f"{name}: {'; '.join(values)}")
    return out


def _cell(row: dict, column: Column, numeric: bool) -> str:
    sort = html.escape(_sort_value(row[column.key], numeric))
    return f'<td{" class=num" if numeric else ""} data-sort="{sort}">{html.escape(column.show(row))}</td>'


def table_html(frame: pd.DataFrame, columns: list[Column]) -> str:
    """A sortable <table>: the columns whose CSV columns are present (older tables lack some)."""
    shown = [c for c in columns if all(n in frame for n in c.needs)]
    kinds = {c.key: _numeric(frame[c.key]) for c in shown}
    head = "".join(f'<th data-type="{"number" if kinds[c.key] else "text"}" title="{html.escape(c.title)}">'
                   f"{html.escape(c.header)}</th>" for c in shown)
    rows = ["<tr>" + "".join(_cell(r, c, kinds[c.key]) for c in shown) + "</tr>" for r in frame.to_dict("records")]
    body = "\n".join(rows)
    return f'<table class="sortable">\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>'


def page_html(frame: pd.DataFrame, page: Page, source: str) -> str:
    notes = "".join(f'<p class="notes">{html.escape(n)}</p>' for n in _notes(frame, page.notes))
    body = table_html(frame, page.columns) if len(frame) else "<p>(no rows)</p>"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(page.title)}</title>
<style>{STYLE}</style></head>
<body>
<h1>{html.escape(page.title)}</h1>
<p>{html.escape(page.intro)} Click a column header to sort by it, again to reverse.</p>
<p class="notes">{html.escape(source)}: {len(frame)} rows; every column at full precision in the CSV.</p>
{notes}
{body}
<script>{SCRIPT}</script>
</body></html>
"""


def write_html_tables(summary_dir: str, out_dir: str, names=HTML_TABLES) -> list[Path]:
    """One page per table of `names` from summary_dir/<name>.csv; an optional table (claims) missing is skipped."""
    written = []
    for name in names:
        page, source = PAGES[name], Path(summary_dir) / f"{name}.csv"
        if page.optional and not source.exists():
            log.info("no %s: its page is left out", source)
            continue
        frame = read_csv(source)
        out = Path(out_dir) / f"{name}.html"
        with atomic_path(out) as tmp:
            tmp.write_text(page_html(frame, page, source.name), encoding="utf-8")
        tex = out.with_suffix(".tex")
        with atomic_path(tex) as tmp:
            tmp.write_text(table_latex(frame, page, source.name), encoding="utf-8")
        written += [out, tex]
    log.info("%d table pages and their LaTeX in %s", len(written) // 2, out_dir)
    return written


# ----------------------------------------------------------------------------- LaTeX

# What pdflatex cannot typeset without extra packages, after pandas has escaped the text (so `$` stays ours)
LATEX_SYMBOLS = {"Δ": r"$\Delta$", "≥": r"$\geq$", "≤": r"$\leq$", "×": r"$\times$", "·": r"$\cdot$",
                 "–": "--", "−": "-", "ε": r"$\varepsilon$", "ρ": r"$\rho$", "±": r"$\pm$"}


def table_latex(frame: pd.DataFrame, page: Page, source: str = "") -> str:
    """The page's table as LaTeX (booktabs rules, \\usepackage{booktabs}) from pandas' own writer (Styler.to_latex):
    the same columns and cell texts as the HTML page, text escaped for LaTeX, numbers right-aligned."""
    shown = [c for c in page.columns if all(n in frame for n in c.needs)]
    records = frame.to_dict("records")
    cells = pd.DataFrame({c.header: [c.show(r) for r in records] for c in shown}, columns=[c.header for c in shown])
    align = "".join("r" if _numeric(frame[c.key]) else "l" for c in shown)
    notes = "; ".join(_notes(frame, page.notes))
    caption = f"{page.title}. {page.intro}" + (f" {notes}." if notes else "")
    styler = cells.style.hide(axis="index").format(escape="latex").format_index(escape="latex", axis=1)
    body = styler.to_latex(hrules=True, column_format=align or "l", caption=_escape_latex(caption),
                           label=f"tab:{page.name}", position_float="centering", environment="table*")
    for symbol, latex in LATEX_SYMBOLS.items():
        body = body.replace(symbol, latex)
    return (f"% {page.title}: from {source} by `sample-importance html-tables` (pandas Styler.to_latex).\n"
            "% Needs \\usepackage{booktabs}; wide tables may want \\small or \\resizebox.\n" + body)


def _escape_latex(text: str) -> str:
    """Caption text escaped as pandas escapes cells (Styler leaves the caption as given)."""
    special = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
               "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
    return "".join(special.get(ch, ch) for ch in text)

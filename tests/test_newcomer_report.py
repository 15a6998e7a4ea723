"""The report's navigation a reader sees: plain category names in the menu, one Tables section, readable items."""

from __future__ import annotations

import json
import re

import pytest

from tiny import run_snakemake


@pytest.fixture(scope="module")
def categories(tiny_workflow):
    done = run_snakemake(tiny_workflow, None, "--report", "nav.html")
    assert done.returncode == 0, done.stderr[-3000:]
    html = (tiny_workflow / "nav.html").read_text(errors="replace")
    menu = json.loads(re.search(r"categories = (\{.*?\});\n", html, re.S).group(1))
    results = json.loads(re.search(r"results = (\{.*?\});\n", html, re.S).group(1))
    return menu, results


@pytest.mark.slow
def test_categories_are_words_and_tables_is_one_section(categories):
    menu, _ = categories
    assert set(menu) == {"Accuracy", "Claims", "Class balance", "Importance", "Model dependence", "Tables"}
    assert not [c for c in menu if re.match(r"\d", c)]
    assert set(menu["Tables"]) == {"Sortable tables", "LaTeX (booktabs)", "CSV downloads"}
    assert "Accuracy vs iteration" in menu["Accuracy"] and "Speedup over uniform" in menu["Accuracy"]


@pytest.mark.slow
def test_items_are_named_readably_not_by_file_stem(categories):
    _, results = categories
    names = [value for r in results.values() for value in r["labels"].values()]
    assert "Accuracy vs iteration: digits_lt" in names and "Final accuracy per method" in names
    tex = [r for r in results.values() if r["filename"].endswith(".tex")]
    assert len(tex) == 4  # methods, budget_table, speedup_summary, claims

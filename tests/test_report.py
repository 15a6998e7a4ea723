"""`snakemake --report` on a tiny config: the HTML report holds every figure and table, figures/README.md lists them.

One model only: ResNet-18 on 8x8 digits takes minutes per run on a shared 2-core CPU, so model dependence is
exercised by the DAG test in test_importance_figures.py and measured outside the test suite.
"""

import base64
import re
from pathlib import Path

import pytest

from sample_importance.outputs import (HTML_TABLES, figure_names, html_table_files, importance_figure_names,
                                       importance_files, summary_files)

from tiny import WORKFLOW as TINY
from tiny import run_snakemake


@pytest.fixture(scope="module")
def reported(tiny_workflow):
    report = run_snakemake(tiny_workflow, None, "--report", "report.html")
    assert report.returncode == 0, report.stderr[-3000:]
    return tiny_workflow


@pytest.mark.slow
def test_report_contains_every_figure_and_table(reported):
    html = (reported / "report.html").read_text(errors="replace")
    stems = figure_names(TINY["datasets"]) + importance_figure_names(TINY["datasets"])
    assert "easy_hard_digits_lt" in stems and "importance_correlation" in stems
    for stem in stems:
        assert (reported / "figures" / f"{stem}.pdf").stat().st_size > 1000, stem
        assert f"{stem}.png" in html, f"figure {stem} missing from the report"
    for table in summary_files("results") + importance_files("results"):
        if table.endswith(".csv"):
            assert Path(table).name in html, f"table {table} missing from the report"
    for caption in ("Rank correlation of the importance between warm-ups", "easiest and k hardest"):
        assert caption in html


@pytest.mark.slow
def test_report_shows_the_sortable_tables(reported):
    """Each table page is embedded in the report as an HTML result (opened in the report's frame), whole."""
    import pandas as pd

    html = (reported / "report.html").read_text(errors="replace")
    assert "Sortable table: click a column header" in html  # the pages' caption
    for name, page in zip(HTML_TABLES, html_table_files("figures")):
        embedded = re.search(rf"data:text/html;charset=[^;]+;filename={name}\.html;base64,([A-Za-z0-9+/=]+)", html)
        assert embedded, f"{page} missing from the report"
        text = base64.b64decode(embedded.group(1)).decode()
        assert text == (reported / page).read_text(encoding="utf-8")
        body = text.split("<tbody>", 1)[1]
        assert body.count("<tr>") == len(pd.read_csv(reported / "results/summary" / f"{name}.csv")) > 0, name
        assert '<table class="sortable">' in text and "<script>" in text and "http" not in text


@pytest.mark.slow
def test_figures_readme_lists_every_figure(reported):
    lines = (reported / "figures" / "README.md").read_text().splitlines()
    stems = figure_names(TINY["datasets"]) + importance_figure_names(TINY["datasets"])
    for stem in stems:
        line = next((x for x in lines if x.startswith(f"- `{stem}`")), None)
        assert line is not None and len(line) > 40, stem


@pytest.mark.slow
def test_importance_tables_from_the_tiny_run(reported):
    import pandas as pd

    corr = pd.read_csv(reported / "results/summary/importance_correlation.csv")
    assert set(corr["budget"]) == {0.5, 1.0}  # one matrix per warm-up setting
    corr = corr[corr["budget"] == 1.0]
    assert len(corr) == 4 and set(corr["pair"]) == {"same warm-up", "seed vs seed"}  # 2 seeds -> 2x2 matrix
    m = corr.pivot(index="a", columns="b", values="spearman")
    assert (m.to_numpy() == m.to_numpy().T).all() and (m.to_numpy().diagonal() == 1).all()
    off = corr[corr["pair"] == "seed vs seed"]["spearman"]
    assert ((off > -1) & (off < 1)).all()
    easy_hard = pd.read_csv(reported / "results/summary/importance_easy_hard.csv")
    assert set(easy_hard["class_index"]) == set(range(10)) and (easy_hard.groupby("class_index").size() == 8).all()
    easy = easy_hard[easy_hard["kind"] == "easy"].groupby("class_index")["score"].max()
    hard = easy_hard[easy_hard["kind"] == "hard"].groupby("class_index")["score"].min()
    assert (easy <= hard).all()

"""Every summary table that has an HTML page also as LaTeX (booktabs), from pandas' own writer, beside the page."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from sample_importance.figures import html_tables as ht
from sample_importance.outputs import HTML_TABLES

from test_html_tables import methods_frame


def test_latex_uses_booktabs_escapes_text_and_keeps_the_page_cells():
    frame = methods_frame().assign(method=["uniform", "p_sgd", "my_label"])
    tex = ht.table_latex(frame, ht.PAGES["methods"], "methods.csv")
    assert "\\toprule" in tex and "\\midrule" in tex and "\\bottomrule" in tex and "\\hline" not in tex
    assert "\\begin{table*}" in tex and "\\label{tab:methods}" in tex and "\\caption{" in tex
    assert "my\\_label" in tex and "test accuracy \\% [95 \\% CI]" in tex
    assert "57.6 [56.4, 58.9]" in tex and "$\\Delta$ vs uniform" in tex
    body = tex.split("\\midrule", 1)[1].split("\\bottomrule")[0]
    assert len([line for line in body.splitlines() if line.strip().endswith("\\\\")]) == len(frame)
    assert not re.search(r"[^\x00-\x7f]", tex), "pdflatex without extra packages needs ASCII"


def test_html_tables_writes_a_tex_beside_every_page(tmp_path):
    summary = tmp_path / "summary"
    summary.mkdir()
    for name in HTML_TABLES:
        if name != "claims":
            methods_frame().to_csv(summary / f"{name}.csv", index=False)
    written = ht.write_html_tables(str(summary), str(tmp_path / "tables"),
                                   names=[n for n in HTML_TABLES if n in ("methods", "budget_table")])
    assert sorted(p.name for p in written) == ["budget_table.html", "budget_table.tex", "methods.html", "methods.tex"]


@pytest.mark.skipif(not shutil.which("pdflatex"), reason="no pdflatex here")
def test_the_latex_compiles(tmp_path):
    tex = ht.table_latex(methods_frame(), ht.PAGES["methods"], "methods.csv")
    (tmp_path / "t.tex").write_text("\\documentclass{article}\\usepackage{booktabs}\\begin{document}\n" + tex +
                                    "\n\\end{document}\n")
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "t.tex"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:]

"""The sortable HTML pages of the summary tables (figures/html_tables.py): formats, columns, sorting in a browser.

The browser test opens a page in headless Chromium (Debian's `chromium`), clicks headers from a script added to a
copy of the page and reads the row order back from the dumped DOM; it is skipped where Chromium is not installed.
"""

import html
import json
import math
import re
import shutil
import subprocess
from html.parser import HTMLParser

import pandas as pd
import pytest

from sample_importance import cli
from sample_importance.analysis import budget_table, claims, speedup
from sample_importance.figures import html_tables as ht
from sample_importance.outputs import HTML_TABLES

CHROMIUM = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
NAN = math.nan


def methods_frame() -> pd.DataFrame:
    """Three methods whose accuracies (9.5 < 57.6 < 100.0) and p-values (1.23e-05 < 0.0123) sort differently as
    numbers and as text."""
    rows = [
        {"method": "uniform", "mean": 0.576, "low": 0.564, "high": 0.589, "diff": NAN, "diff_low": NAN,
         "diff_high": NAN, "p_better": NAN, "verdict": "", "best": False},
        {"method": "p_sgd", "mean": 0.095, "low": 0.081, "high": 0.109, "diff": -0.481, "diff_low": -0.5,
         "diff_high": -0.462, "p_better": 1.0, "p_worse": 2.46912e-05, "verdict": "worse", "best": False},
        {"method": "biased", "mean": 1.0, "low": NAN, "high": NAN, "diff": 0.012, "diff_low": -0.003,
         "diff_high": 0.027, "p_better": 0.0246912, "verdict": "better", "best": True},
    ]
    frame = pd.DataFrame(rows).assign(dataset="digits", model="cnn", augmentation="crop", budget=0.5, n=3, sd=0.01,
                                      n_paired=[0, 3, 3], sd_floor=0.005, diff_sd=[NAN, 0.01, 0.01],
                                      p_equivalent=[NAN, 1.0, 0.5], margin=0.005, mde=[NAN, 0.02, 0.02],
                                      seeds_needed=[NAN, 7, 7], family_size=2, correction="holm", balanced_mean=0.5,
                                      smoothing=[NAN, 0.5, 0.5], ess_fraction=0.8, max_min_ratio=4.0, commits="abc;def")
    return frame.assign(method_name=frame["method"])


def claims_frame() -> pd.DataFrame:
    return pd.DataFrame([{"paper": "Quercia et al. 2023", "claim": "biased is faster", "scope": "digits", "test": "t",
                          "unit": "ratio", "effect": 1.2345, "low": 0.98765, "high": 1.5, "n": 3, "margin": 0.9,
                          "p_support": 0.0412345, "p_contradict": 0.9, "mde": 0.6, "seeds_needed": 20.0,
                          "verdict": "supported", "why": "significantly above the lower margin"}])


class Cells(HTMLParser):
    """Headers and (text, data-sort) cells of the one table of a page."""

    def __init__(self):
        super().__init__()
        self.headers, self.rows, self._cell = [], [], None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        if tag in ("th", "td"):
            self._cell = [tag, "", dict(attrs).get("data-sort")]

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[1] += data

    def handle_endtag(self, tag):
        if tag in ("th", "td") and self._cell is not None:
            kind, text, sort = self._cell
            (self.headers.append(text) if kind == "th" else self.rows[-1].append((text, sort)))
            self._cell = None


def parse(page: str) -> tuple[list[str], list[dict[str, tuple[str, str]]]]:
    p = Cells()
    p.feed(page)
    return p.headers, [dict(zip(p.headers, r)) for r in p.rows if r]


def test_cell_formats():
    assert ht.interval(0.576, 0.564, 0.589, ht.percent) == "57.6 [56.4, 58.9]"
    assert ht.interval(0.012, -0.003, 0.027, lambda x: ht.percent(x, signed=True)) == "+1.2 [-0.3, +2.7]"
    assert ht.interval(0.5, NAN, NAN, ht.percent) == "50.0"  # one seed: no interval
    assert ht.interval(NAN, NAN, NAN, ht.percent) == ht.MISSING
    assert [ht.significant(x) for x in (0.0123456, 1.23456e-05, 0.5, 1.0)] == ["0.0123", "1.23e-05", "0.5", "1"]


@pytest.mark.parametrize("name, produced, left_out", [
    ("budget_table", budget_table.COLUMNS, {"sd"}),
    ("speedup_summary", speedup.SUMMARY_COLUMNS, {"label"}),  # label == method in speedup_summary
    ("claims", claims.COLUMNS, set()),
])
def test_every_column_of_the_producer_is_on_its_page(name, produced, left_out):
    page = ht.PAGES[name]
    on_page = {n for c in page.columns for n in c.needs} | set(page.notes)
    assert set(produced) - left_out <= on_page, set(produced) - left_out - on_page


def test_pages_from_the_command_line(tmp_path):
    summary, out = tmp_path / "summary", tmp_path / "tables"
    summary.mkdir()
    methods = methods_frame()
    methods.to_csv(summary / "methods.csv", index=False)
    methods[budget_table.COLUMNS].to_csv(summary / "budget_table.csv", index=False)
    pd.DataFrame(columns=speedup.SUMMARY_COLUMNS).to_csv(summary / "speedup_summary.csv", index=False)
    cli.main(["-q", "html-tables", "--summary", str(summary), "--out", str(out)])
    assert sorted(p.name for p in out.glob("*.html")) == ["budget_table.html", "methods.html", "speedup_summary.html"]

    page = (out / "methods.html").read_text()
    headers, rows = parse(page)
    assert len(rows) == 3 and "balanced accuracy %" in headers and "ESS / N" in headers
    acc, diff = "test accuracy % [95 % CI]", "Δ vs uniform, points [95 % CI]"
    assert [r[acc][0] for r in rows] == ["57.6 [56.4, 58.9]", "9.5 [8.1, 10.9]", "100.0"]
    assert [float(r[acc][1]) for r in rows] == [0.576, 0.095, 1.0]  # full precision to sort by
    assert [r[diff] for r in rows] == [(ht.MISSING, ""), ("-48.1 [-50.0, -46.2]", "-0.481"),
                                       ("+1.2 [-0.3, +2.7]", "0.012")]
    assert [r["p worse"][0] for r in rows] == [ht.MISSING, "2.47e-05", ht.MISSING]
    assert [r["n"][0] for r in rows] == ["3"] * 3 and [r["verdict"][0] for r in rows] == [ht.MISSING, "worse", "better"]
    assert "commits: abc; def" in page and "http" not in page  # offline: nothing fetched

    budget_headers, _ = parse((out / "budget_table.html").read_text())
    assert "balanced accuracy %" not in budget_headers and acc in budget_headers  # absent columns are left out
    assert "(no rows)" in (out / "speedup_summary.html").read_text()

    claims_frame().to_csv(summary / "claims.csv", index=False)
    ht.write_html_tables(str(summary), str(out), ["claims"])
    _, rows = parse((out / "claims.html").read_text())
    assert rows[0]["effect [95 % CI]"][0] == "1.23 [0.988, 1.5]" and rows[0]["p support"][0] == "0.0412"
    assert set(HTML_TABLES) == {p.stem for p in out.iterdir()}


# clicks headers as a reader would, then writes what each column shows, top to bottom, into <pre id="selftest">
SELF_TEST = """<script>
const table = document.querySelector("table"), ths = Array.from(table.tHead.rows[0].cells);
const column = header => ths.findIndex(th => th.textContent === header);
const shown = header => Array.from(table.tBodies[0].rows, r => r.cells[column(header)].textContent);
const click = header => { ths[column(header)].click(); return {acc: shown(ACC), diff: shown(DIFF),
  p: shown("p better"), method: shown("method"), sort: ths[column(header)].getAttribute("aria-sort")}; };
const out = {columns: ths.length, rows: table.tBodies[0].rows.length,
             steps: [click(ACC), click(ACC), click(DIFF), click(DIFF), click("p better"), click("method")]};
const pre = document.createElement("pre"); pre.id = "selftest"; pre.textContent = JSON.stringify(out);
document.body.append(pre);
</script>"""


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium: `apt-get install chromium` (Debian) to run the page")
def test_sorting_in_headless_chromium(tmp_path):
    acc, diff = "test accuracy % [95 % CI]", "Δ vs uniform, points [95 % CI]"
    page = ht.page_html(methods_frame(), ht.PAGES["methods"], "methods.csv")
    test = SELF_TEST.replace("ACC", json.dumps(acc)).replace("DIFF", json.dumps(diff))
    (tmp_path / "page.html").write_text(page.replace("</body>", test + "</body>"), encoding="utf-8")
    dom = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=2000",
                          "--dump-dom", (tmp_path / "page.html").as_uri()],
                         capture_output=True, text=True, timeout=60).stdout
    found = re.search(r'<pre id="selftest">(.*?)</pre>', dom, re.S)
    assert found, dom[-2000:]
    result = json.loads(html.unescape(found.group(1)))
    headers, _ = parse(page)
    assert result["columns"] == len(headers) and result["rows"] == 3
    up, down, diff_up, diff_down, by_p, by_method = result["steps"]
    assert up["acc"] == ["9.5 [8.1, 10.9]", "57.6 [56.4, 58.9]", "100.0"] and up["sort"] == "ascending"  # as numbers
    assert down["acc"] == up["acc"][::-1] and down["sort"] == "descending"
    assert diff_up["diff"] == ["-48.1 [-50.0, -46.2]", "+1.2 [-0.3, +2.7]", ht.MISSING]  # blank last...
    assert diff_down["diff"] == ["+1.2 [-0.3, +2.7]", "-48.1 [-50.0, -46.2]", ht.MISSING]  # ...either way
    assert by_p["p"] == ["0.0247", "1", ht.MISSING]  # by value, not by the text of its data-sort
    assert by_method["method"] == ["biased", "p_sgd", "uniform"] and by_method["sort"] == "ascending"

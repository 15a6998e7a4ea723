"""Figures a journal accepts: TrueType fonts in the PDF, a declared width (3.5 in column, 7 in text), fonts of at
least 7 pt at that width, intervals past 100 % drawn to the axis with a mark, and no interval drawn visibly."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from matplotlib.text import Text

from sample_importance.figures import plots
from sample_importance.figures.plots_budget import accuracy_vs_budget


def final_table() -> pd.DataFrame:
    """uniform: 100, 100, 99 % (t-interval past 100 %); biased: 98 % in every seed (no interval)."""
    rows = []
    for budget in (0.5, 1.0):
        for seed, (u, b) in enumerate([(1.0, 0.98), (1.0, 0.98), (0.99, 0.98)]):
            for method, acc in (("uniform", u), ("biased", b)):
                rows.append({"dataset": "digits", "model": "cnn", "augmentation": "crop", "method": method,
                             "method_name": method, "budget": budget, "seed": seed, "final_test_accuracy": acc,
                             "commit": "abc", "config_hash": "h"})
    return pd.DataFrame(rows)


def pdf_size(path) -> tuple[float, float]:
    box = re.search(rb"/MediaBox \[ ?([\d.]+) ([\d.]+) ([\d.]+) ([\d.]+) ?\]", path.read_bytes())
    return (float(box[3]) - float(box[1])) / 72, (float(box[4]) - float(box[2])) / 72


@pytest.fixture
def saved(tmp_path):
    final = final_table()
    style = plots.Style(final)
    fig = accuracy_vs_budget(final, style)
    plots.save(fig, str(tmp_path), "accuracy_vs_budget", style)
    return fig, tmp_path / "accuracy_vs_budget.pdf"


def test_intervals_keep_what_they_cut_and_say_when_there_is_none():
    final = final_table().assign(acc=lambda f: f["final_test_accuracy"] * 100)
    iv = plots.intervals(final, ["method", "budget"], "acc", bounds=plots.PERCENT).set_index(["method", "budget"])
    u, b = iv.loc[("uniform", 1.0)], iv.loc[("biased", 1.0)]
    assert u["high"] == 100 and u["raw_high"] > 100 and not u["undefined"]
    assert b["undefined"] and b["low"] == b["high"] == pytest.approx(98)


def test_the_pdf_embeds_truetype_fonts_only(saved):
    _, pdf = saved
    data = pdf.read_bytes()
    assert b"/FontFile2" in data and b"/Type3" not in data
    if shutil.which("pdffonts"):
        fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
        kinds = [line[37:55].strip() for line in fonts.splitlines()[2:]]
        assert kinds and all("TrueType" in k for k in kinds), fonts


def test_the_figure_is_saved_at_a_declared_width_with_fonts_of_7_pt_or_more(saved):
    fig, pdf = saved
    width, _ = pdf_size(pdf)
    assert any(abs(width - w) <= 0.05 for w in (plots.COLUMN_WIDTH, plots.TEXT_WIDTH)), width
    assert width <= plots.TEXT_WIDTH + 0.005  # never wider than declared (the PDF's own page is measured)
    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_text()]
    assert min(sizes) >= plots.MIN_FONT


def test_a_cut_interval_is_marked_on_the_axis_limit_and_a_missing_one_is_drawn(saved):
    fig, _ = saved
    assert fig._interval_marks == {plots.CUT, plots.UNDEFINED}
    title = fig._suptitle.get_text().replace("\n", " ")
    assert "past 100 %" in title and "zero spread" in title
    ax = fig.axes[0]
    top = ax.get_ylim()[1]
    # the uniform interval runs on from 100 % to the axis limit, with a triangle marker on the limit
    drawn_to_top = [line for line in ax.get_lines() if np.allclose(line.get_ydata()[-1:], top)]
    assert drawn_to_top
    assert any(line.get_marker() == "^" for line in ax.get_lines())
    # biased, whose seeds are all equal, gets the hollow diamond at its mean
    diamonds = [line for line in ax.get_lines() if line.get_marker() == "D"]
    assert diamonds and all(np.allclose(d.get_ydata(), 98) for d in diamonds)


@pytest.mark.parametrize("natural, declared", [(2.0, plots.COLUMN_WIDTH), (3.6, plots.COLUMN_WIDTH),
                                                (5.0, plots.TEXT_WIDTH), (9.0, plots.TEXT_WIDTH)])
def test_a_figure_is_fitted_to_the_column_or_the_text_width(natural, declared, tmp_path):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(natural, 2))
    ax.plot([0, 1], [0, 1])
    ax.set_title("a title", fontsize=5)
    assert plots.fit(fig) == declared
    fig.savefig(tmp_path / "f.pdf", bbox_inches="tight", pad_inches=plots.PAD)
    assert abs(pdf_size(tmp_path / "f.pdf")[0] - declared) <= 0.06
    assert ax.title.get_fontsize() == plots.MIN_FONT
    plt.close(fig)

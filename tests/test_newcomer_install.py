"""What the README's main install (`pip install -e .`, no extras) must bring: what `snakemake --report` and the
LaTeX tables import. The test extras (pytest depends on pygments) must not hide a missing runtime dependency,
so the check walks the dependency tree of pyproject.toml's own `dependencies`, not what happens to be installed."""

from __future__ import annotations

import importlib.metadata as metadata
import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_closure() -> set[str]:
    """Every distribution the main install pulls in: pyproject's dependencies (with their extras), transitively."""
    todo = [Requirement(d) for d in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]]
    seen: dict[str, set[str]] = {}
    while todo:
        req = todo.pop()
        name = _norm(req.name)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        extras = set(req.extras)
        if name in seen and extras <= seen[name]:
            continue
        seen[name] = seen.get(name, set()) | extras
        try:
            requires = metadata.requires(req.name) or []
        except metadata.PackageNotFoundError:
            continue
        for line in requires:
            sub = Requirement(line)
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in ["", *seen[name]]):
                todo.append(Requirement(str(sub).split(";")[0]))
    return set(seen)


def report_imports() -> set[str]:
    """The packages Snakemake's report says "must be installed to create reports", read from its own source."""
    root = Path(metadata.distribution("snakemake").locate_file("snakemake")) / "report"
    names = set()
    for f in root.rglob("*.py"):
        names |= set(re.findall(r"Python package (\w+) must be installed to create reports", f.read_text()))
    return {_norm(n) for n in names}


def test_the_main_install_brings_what_the_report_imports():
    needed = report_imports()
    assert "pygments" in needed  # the check reads Snakemake's source: make sure it still finds something
    missing = needed - runtime_closure()
    assert not missing, f"`snakemake --report` needs {sorted(missing)}: add them to pyproject.toml's dependencies"


def test_the_main_install_brings_what_the_latex_and_markdown_tables_import():
    closure = runtime_closure()
    for name in ("jinja2", "tabulate"):  # pandas' Styler.to_latex and DataFrame.to_markdown
        assert name in closure, f"{name} is not a runtime dependency"


def test_the_test_extra_is_not_counted():
    assert "pytest" not in runtime_closure()

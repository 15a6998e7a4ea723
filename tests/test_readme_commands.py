"""Every command the README shows, and the examples of `--help`, run by a test so the docs cannot drift.

Cheap commands run for real; workflow runs are dry runs (`-n`) of the configs named (the real
config files, in a scratch folder, so a dry run never meets another run's locks or outputs);
the report line runs on the tiny workflow; install lines are checked against pyproject.toml
and requirements.txt rather than installing (the test suite runs inside that install).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from sample_importance import cli

REPO = Path(__file__).resolve().parents[1]
SHARED_ARCHIVE = REPO.parent / "shared" / "data" / "cifar10-jpeg.tar.gz"


def readme_commands() -> list[str]:
    """The command lines of the README's ```bash blocks (continuations joined, comments dropped), config/README.md's
    too."""
    text = (REPO / "README.md").read_text() + (REPO / "config" / "README.md").read_text()
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            if line and not line.startswith("#"):
                lines.append(line)
    return list(dict.fromkeys(lines))  # each distinct command once


def parts(line: str) -> list[list[str]]:
    return [shlex.split(p) for p in line.split("&&")]


def env() -> dict:
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO / "src"), e.get("PYTHONPATH")) if p)
    return e


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    """A scratch working folder shaped like a clone: the configs and profiles (linked), ../shared beside it."""
    root = tmp_path_factory.mktemp("readme")
    work = root / "main"
    work.mkdir()
    for name in ("config.yaml", "config", "profiles"):
        (work / name).symlink_to(REPO / name)
    if (REPO.parent / "shared").exists():
        (root / "shared").symlink_to(REPO.parent / "shared")
    return work


def run(argv: list[str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    """A README argv with `.venv/bin/X` (or `python -m`) mapped to this interpreter and this checkout."""
    head = argv[0]
    if head.endswith("snakemake"):
        argv = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), *argv[1:]]
    elif head.endswith("sample-importance"):
        argv = [sys.executable, "-m", "sample_importance", *argv[1:]]
    elif head.endswith("python") or head == "python3":
        argv = [sys.executable, *argv[1:]]
    return subprocess.run(argv, cwd=cwd, env=env(), capture_output=True, text=True, timeout=timeout)


def test_the_readme_has_the_commands_this_test_knows():
    commands = readme_commands()
    assert any("spec config.yaml" in c for c in commands) and any("--report" in c for c in commands)
    known = ("python3 -m venv", ".venv/bin/pip", ".venv/bin/snakemake", ".venv/bin/sample-importance",
             ".venv/bin/python")
    for line in commands:
        assert line.startswith(known), f"a README command this test does not run: {line}"


def test_install_lines_name_extras_and_pins_that_exist():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = dict(line.split("==") for line in (REPO / "requirements.txt").read_text().splitlines()
                if line and not line.startswith("#"))
    for line in readme_commands():
        for argv in parts(line):
            if argv[:2] == [".venv/bin/pip", "install"]:
                for arg in argv[2:]:
                    extra = re.fullmatch(r"\.\[(\w+)\]", arg)
                    if extra:
                        assert extra.group(1) in project["optional-dependencies"], arg
                    elif "==" in arg:
                        name, version = arg.split("==")
                        assert pins.get(name) == version, f"{arg} in the README, {pins.get(name)} in requirements.txt"


def cheap_cli_lines() -> list[str]:
    return [c for c in readme_commands() if c.startswith(".venv/bin/sample-importance")]


@pytest.mark.parametrize("line", cheap_cli_lines())
def test_readme_cli_command_runs(line, clone):
    done = run(shlex.split(line), clone, timeout=300)
    assert done.returncode == 0, f"{line}\n{done.stdout[-1500:]}\n{done.stderr[-1500:]}"


def snakemake_lines() -> list[str]:
    lines = []
    for line in readme_commands():
        for argv in parts(line):
            if argv[0] == ".venv/bin/snakemake" and "--report" not in argv:
                lines.append(shlex.join(argv))
    return list(dict.fromkeys(lines))


@pytest.mark.slow
@pytest.mark.parametrize("line", snakemake_lines())
def test_readme_workflow_command_dry_runs(line, clone):
    if "cifar10" in line and not SHARED_ARCHIVE.exists():
        pytest.skip(f"the CIFAR-10 configs read {SHARED_ARCHIVE} (this team's machines only)")
    done = run([*shlex.split(line), "-n", "--quiet", "rules"], clone)
    assert done.returncode == 0, f"{line}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"


def test_readme_test_line_collects(clone):
    """`.venv/bin/python -m pytest`: the README's test command, collected on one file (running it would recurse)."""
    [line] = [c for c in readme_commands() if "-m pytest" in c]
    argv = parts(line)[-1]
    done = run([*argv, "--collect-only", "-q", str(REPO / "tests" / "test_newcomer_install.py")], REPO)
    assert done.returncode == 0, done.stdout[-1500:]


@pytest.mark.slow
def test_readme_report_line_on_the_tiny_workflow(tiny_workflow):
    [line] = [c for c in readme_commands() if "--report" in c]
    done = run(shlex.split(line), tiny_workflow)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tiny_workflow / "report.html").stat().st_size > 100_000


# ----------------------------------------------------------------------------- --help


def help_examples() -> list[list[str]]:
    """The example lines of `python -m sample_importance --help` (the module docstring), as argv after the prog."""
    examples = []
    for line in (cli.__doc__ or "").replace("\\\n", " ").splitlines():
        line = re.sub(r"\s+#.*$", "", line).strip()
        if line.startswith("python -m sample_importance "):
            examples.append(line.split(None, 3)[3])
    return examples


def test_every_help_example_parses():
    """Placeholders filled in, each example is accepted by the parser: no option or command it shows is gone."""
    examples = help_examples()
    assert len(examples) >= 15
    for line in examples:
        required = re.sub(r"\s*\[[^\[\]]*\]", "", line).replace(" ... ", " X ").split(" > ")[0]
        cli.build_parser().parse_args(shlex.split(required))


@pytest.mark.parametrize("line", [a for a in help_examples() if a.split()[0] in ("check-config", "runs", "methods")])
def test_look_around_help_examples_run(line, clone):
    argv = shlex.split(re.sub(r"\s*\[[^\[\]]*\]", "", line))
    done = run(["python", "-m", "sample_importance", *argv], clone, timeout=300)
    assert done.returncode == 0, done.stderr[-1500:]


def test_spec_help_example_runs(clone, tmp_path):
    """`spec config.yaml RUN_FOLDER_OR_ID > spec.json`, with a folder `runs` lists (and the README's part of one)."""
    folder = run(["python", "-m", "sample_importance", "runs", "config.yaml"], clone).stdout.splitlines()[0]
    done = run(["python", "-m", "sample_importance", "spec", "config.yaml", folder], clone)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["run_id"] in folder
    assert "--threads 1" in done.stderr  # the job's thread count (resources.cpus_per_task), as the rule passes it


# ----------------------------------------------------------------------------- spec's "by hand" command


def by_hand(work: Path, folder: str, scratch: Path) -> Path:
    """Follow `spec`'s printed instructions for `folder` (in the workflow's folder), writing to `scratch`."""
    printed = run(["python", "-m", "sample_importance", "spec", "config.yaml", folder], work)
    assert printed.returncode == 0, printed.stderr
    (work / "spec.json").write_text(printed.stdout)
    [command] = [line.split("INFO sample_importance:", 1)[1].strip() for line in printed.stderr.splitlines()
                 if " --spec @spec.json " in line]
    argv = shlex.split(command)
    argv[argv.index("--out") + 1] = str(scratch)  # not over the pipeline's own folder
    e = env()
    e.pop("OMP_NUM_THREADS", None)  # as a user's shell: torch would take every core unless told the job's count
    done = subprocess.run([sys.executable, *argv[1:]], cwd=work, env=e, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return scratch


@pytest.mark.slow
@pytest.mark.parametrize("method", ["uniform", "biased"])
def test_specs_by_hand_command_reproduces_the_pipelines_run_bit_for_bit(method, tiny_workflow, tmp_path):
    """The printed command (threads: the job's) gives the same metrics as the pipeline; for a staged method the
    one-process `train` equals the pipeline's warmup -> score -> continue."""
    import pandas as pd

    run_json = sorted((tiny_workflow / "results" / "runs" / method).rglob("run.json"))[-1]
    folder = str(run_json.parent.relative_to(tiny_workflow))
    again = by_hand(tiny_workflow, folder, tmp_path / "again")
    clock = ["wall_seconds"]
    ours = pd.read_csv(again / "metrics.csv").drop(columns=clock, errors="ignore")
    theirs = pd.read_csv(run_json.parent / "metrics.csv").drop(columns=clock, errors="ignore")
    pd.testing.assert_frame_equal(ours, theirs, check_exact=True)
    assert json.loads((again / "run.json").read_text())["final_test_accuracy"] == \
        json.loads(run_json.read_text())["final_test_accuracy"]

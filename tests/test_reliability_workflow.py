"""The results folder holds one running workflow and one config's summary (issue 21, items 1 and 4).

Two workflows naming the same output.results both ran (Snakemake locks only its own working directory), and
a summary table or figure a former config made (noise_draws.csv after the label-noise dataset left the config)
was read by the claims step as current.
"""

from __future__ import annotations

import copy
import json
import os


from sample_importance.results_folder import hold, move_stale, release, stale_files

from conftest import TINY
from tiny import run_snakemake


def uniform_only(results, figures) -> dict:
    config = copy.deepcopy(TINY)
    config["methods"] = {"uniform": {"method": "uniform"}}
    config["output"] = {"results": str(results), "figures": str(figures)}
    return config


# ---- item 4: two workflows, one results folder


def test_a_results_folder_another_workflow_holds_is_refused_before_any_job(tmp_path):
    shared = tmp_path / "shared"
    hold(shared)  # this test process plays the other workflow
    try:
        work = tmp_path / "second"
        work.mkdir()
        config = uniform_only(shared, work / "figures")
        dry = run_snakemake(work, config, "-n")
        assert dry.returncode == 0, dry.stderr[-2000:]  # a dry run writes nothing and takes no lock
        done = run_snakemake(work, config)
        assert done.returncode != 0
        line = next(l for l in done.stderr.splitlines() if "is in use by another workflow" in l)
        assert line.startswith(f"output.results {shared} is in use by another workflow (pid {os.getpid()} on ")
        assert f"in {os.getcwd()}" in line and "Fix: wait until that workflow ends, or give this config another " \
                                                "output.results." in line
        assert sorted(p.name for p in shared.iterdir()) == [".lock"]  # no job ran
    finally:
        release(shared)


def test_the_lock_is_taken_once_per_process_and_freed_with_it(tmp_path):
    assert hold(tmp_path) == hold(tmp_path)  # the same process again: no self-deadlock
    held = json.loads((tmp_path / ".lock").read_text())
    assert held["pid"] == os.getpid() and held["workdir"] == os.getcwd()
    release(tmp_path)
    import subprocess
    import sys

    other = subprocess.run([sys.executable, "-c", "import sys; from sample_importance.results_folder import hold; "
                            f"hold({str(tmp_path)!r})"], capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert other.returncode == 0, other.stderr  # freed: another process takes it
    hold(tmp_path)
    other = subprocess.run([sys.executable, "-c", "from sample_importance.results_folder import hold; "
                            f"hold({str(tmp_path)!r})"], capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert "FolderBusy" in other.stderr and f"pid {os.getpid()}" in other.stderr
    release(tmp_path)


# ---- item 1: stale tables read as current


def test_stale_files_are_those_no_rule_of_the_config_makes(tmp_path):
    results, figures = tmp_path / "results", tmp_path / "figures"
    current = [results / "summary" / "final.csv", figures / "speedup.png", figures / "tables" / "methods.html"]
    old = [results / "summary" / "noise_draws.csv", results / "summary" / "importance_agreement.csv",
           figures / "noise_draw_share.png", figures / "tables" / "old.html"]
    for path in current + old + [results / "summary" / ".final.csv.tmp-12.csv", results / "runs" / "x.csv"]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x\n")
    assert stale_files(results, figures, map(str, current)) == sorted(old[:2]) + sorted(old[2:])
    moved = move_stale(results, figures, map(str, current), stamp="T")
    stale = results / "stale" / "T"
    assert sorted(moved) == sorted([stale / "summary" / "noise_draws.csv", stale / "summary" / "importance_agreement.csv",
                                    stale / "figures" / "noise_draw_share.png", stale / "figures" / "tables" / "old.html"])
    assert all(p.exists() for p in current) and not any(p.exists() for p in old)
    assert stale_files(results, figures, map(str, current)) == []  # the stale folder itself is never rescanned


def test_a_workflow_moves_a_former_configs_tables_aside_before_its_summary_reads_them(tmp_path):
    work = tmp_path / "work"
    results = work / "results"
    config = uniform_only("results", "figures")  # no label-noise dataset, no staged method
    former = {results / "summary" / "noise_draws.csv": "dataset,method,seed,noisy_share\nnoisy,uniform,0,0.5\n",
              results / "summary" / "importance_agreement.csv": "a\n1\n",
              work / "figures" / "noise_draw_share.png": "png"}
    for path, text in former.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    done = run_snakemake(work, config, "results/summary/final.csv")
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(l for l in done.stderr.splitlines() if l.startswith("Moved "))
    assert line.startswith("Moved 3 file(s) that this config does not produce out of the summary and figure folders "
                           f"into {results / 'stale'}/")
    stamp, = (results / "stale").iterdir()
    assert {p.relative_to(stamp).as_posix() for p in stamp.rglob("*") if p.is_file()} == {
        "summary/noise_draws.csv", "summary/importance_agreement.csv", "figures/noise_draw_share.png"}
    assert not any(p.exists() for p in former) and (results / "summary" / "final.csv").exists()


def test_the_default_profile_carries_what_the_readmes_recovery_advice_assumes():
    """README: after a crash, `snakemake --unlock`, then the same line again: that line needs --rerun-incomplete
    (else IncompleteFilesException), and the same line may have no --profile, so the workflow profile sets it."""
    import yaml

    from conftest import REPO

    profile = yaml.safe_load((REPO / "profiles" / "default" / "profile.yaml").read_text())
    assert profile["rerun-incomplete"] is True
    assert "every profile sets it,\n  the default workflow profile included" in (REPO / "README.md").read_text()

"""profiles/slurm on a real single-node SLURM (scripts/slurm/start.sh): a toy 2-rule workflow.

Jobs land in SLURM with numeric ids, a failed job names its log files, and a rerun
resubmits only what failed.  Skipped only if SLURM cannot run here (not root, no apt).
About 2 minutes: the plugin polls squeue, and the profile retries a failed job once.
"""

from __future__ import annotations

import re
import textwrap

import pytest
from slurm_helpers import profile_settings, run_snakemake_slurm, slurm_cluster, squeue_state  # noqa: F401

pytestmark = pytest.mark.slurm

TOY = textwrap.dedent(
    """
    localrules: all, aggregate

    SAMPLES = ["a", "b"]

    rule all:
        input: "summary.txt"

    rule work:
        output: "out/{s}.txt"
        log: "logs/work/{s}.log"
        threads: 1
        resources: mem_mb=200, runtime=5
        shell:
            "echo $SLURM_JOB_ID > {output}; "
            "echo job=$SLURM_JOB_ID host=$(hostname) > {log}; "
            "if [ -e FAIL_{wildcards.s} ]; then echo failing on purpose >> {log}; exit 3; fi"

    rule aggregate:
        input: expand("out/{s}.txt", s=SAMPLES)
        output: "summary.txt"
        shell: "cat {input} > {output}; echo local=${{SLURM_JOB_ID:-none}} >> {output}"
    """
)


def toy(tmp_path, fail=()):
    (tmp_path / "Snakefile").write_text(TOY)
    for s in fail:
        (tmp_path / f"FAIL_{s}").touch()
    return tmp_path


def by_sample(run):
    """{sample: [slurm job ids in submission order]} from the plugin's 'submitted' lines."""
    out = {}
    for sub in run.submissions:
        sample = sub.slurm_log.parent.name  # logs/slurm/rule_work/<wildcards>/<jobid>.log
        out.setdefault(sample, []).append(sub.slurm_jobid)
    return out


def test_toy_workflow_runs_on_slurm(slurm_cluster, tmp_path):
    work = toy(tmp_path)
    run = run_snakemake_slurm(work, timeout=300)
    assert run.returncode == 0, run.tail()

    ids = by_sample(run)
    assert set(ids) == {"a", "b"}, run.tail()  # aggregate/all are local rules: not submitted
    assert run.run_id and run.run_id.startswith(profile_settings()["slurm-jobname-prefix"])
    for s, (jid,) in ids.items():
        assert re.fullmatch(r"[1-9]\d*", jid)
        assert (work / f"out/{s}.txt").read_text().strip() == jid  # $SLURM_JOB_ID inside the job
        assert f"job={jid} " in (work / f"logs/work/{s}.log").read_text()
        slurm_log = work / f"logs/slurm/rule_work/{s}/{jid}.log"  # slurm-logdir + keep-successful-logs
        assert slurm_log.is_file() and "Finished jobid" in slurm_log.read_text()
        assert squeue_state(jid) == "COMPLETED"  # what the plugin's squeue status check sees
    assert ids["a"] != ids["b"]
    assert (work / "summary.txt").read_text().splitlines() == [ids["a"][0], ids["b"][0], "local=none"]


def test_failed_job_names_its_logs_and_rerun_resumes(slurm_cluster, tmp_path):
    work = toy(tmp_path, fail=["b"])
    first = run_snakemake_slurm(work, timeout=300)
    assert first.returncode != 0 and not first.timed_out, first.tail()

    ids = by_sample(first)
    attempts = 1 + int(profile_settings().get("retries", 0))
    assert len(ids["a"]) == 1 and len(ids["b"]) == attempts, first.tail()
    failed = ids["b"][-1]
    assert re.fullmatch(r"\d+", failed) and squeue_state(failed) == "FAILED"
    # the error report names the rule log and the SLURM log of the failed job
    slurm_log = work / f"logs/slurm/rule_work/b/{failed}.log"
    assert f"SLURM-job '{failed}' failed" in first.output, first.tail()
    assert re.search(rf"log: logs/work/b\.log, {re.escape(str(slurm_log))}", first.output), first.tail()
    assert slurm_log.is_file()
    assert "failing on purpose" in (work / "logs/work/b.log").read_text()
    assert not (work / "out/b.txt").exists() and not (work / "summary.txt").exists()
    a_id = (work / "out/a.txt").read_text().strip()
    assert a_id == ids["a"][0]
    a_mtime = (work / "out/a.txt").stat().st_mtime_ns

    (work / "FAIL_b").unlink()
    second = run_snakemake_slurm(work, timeout=300)
    assert second.returncode == 0, second.tail()
    assert list(by_sample(second)) == ["b"], second.tail()  # only the failed job is resubmitted
    (b_id,) = by_sample(second)["b"]
    assert int(b_id) > int(failed)
    assert (work / "out/a.txt").stat().st_mtime_ns == a_mtime
    assert (work / "summary.txt").read_text().splitlines() == [a_id, b_id, "local=none"]

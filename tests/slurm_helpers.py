"""Helpers for tests that submit to the single-node SLURM of scripts/slurm/start.sh.

Usage in a test module (the `slurm_cluster` fixture is session-scoped; import it
so pytest sees it)::

    from slurm_helpers import run_snakemake_slurm, slurm_cluster  # noqa: F401

    @pytest.mark.slurm
    def test_x(slurm_cluster, tmp_path):
        run = run_snakemake_slurm(tmp_path, ["-s", str(REPO / "Snakefile")], timeout=600)
        assert run.returncode == 0, run.tail()
        assert run.job_ids            # numeric SLURM job ids that snakemake submitted

`run_snakemake_slurm` uses profiles/slurm with tests/slurm/testcluster.yaml on top; `ensure_slurm` starts the
cluster with the partition named in that profile, so the profile's
`slurm_partition` always exists on the test cluster (any account is accepted
there: no accounting database).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
START = REPO / "scripts" / "slurm" / "start.sh"
STOP = REPO / "scripts" / "slurm" / "stop.sh"
USER_PROFILE = REPO / "profiles" / "slurm"
TESTCLUSTER = Path(__file__).parent / "slurm" / "testcluster.yaml"


def packing_settings(profile_yaml: Path = USER_PROFILE / "profile.yaml") -> dict:
    """The packing block of profiles/slurm/profile.yaml (commented out between PACKING-BEGIN and -END), uncommented:
    the tests use exactly what the profile documents."""
    text = profile_yaml.read_text()
    block = text[text.index("# PACKING-BEGIN"):text.index("# PACKING-END")].splitlines()[1:]
    return yaml.safe_load("\n".join(line[2:] for line in block)) or {}


def _layered_profile(*extra: dict) -> Path:
    """profiles/slurm with the test cluster's settings (and `extra` layers) on top (nested keys merged), in a temp folder."""
    import tempfile

    base = yaml.safe_load((USER_PROFILE / "profile.yaml").read_text()) or {}
    for layer in ((yaml.safe_load(TESTCLUSTER.read_text()) or {}), *extra):
        for key, value in layer.items():
            base[key] = {**base.get(key, {}), **value} if isinstance(value, dict) else value
    folder = Path(tempfile.mkdtemp(prefix="slurm-test-profile-"))
    (folder / "profile.yaml").write_text(yaml.safe_dump(base, sort_keys=False))
    return folder


SLURM_PROFILE = _layered_profile()
PACKED_PROFILE = _layered_profile(packing_settings())  # + the documented job grouping: N runs per allocation
# CPUs the test node declares: a packed group of 4 one-CPU runs asks for 4 CPUs, more than a 2-core CI machine has
TEST_CPUS = os.environ.get("SLURM_TEST_CPUS") or str(max(8, os.cpu_count() or 1))
SNAKEMAKE = [sys.executable, "-m", "snakemake"]

# exit status of start.sh meaning "SLURM cannot run on this machine" (not root, no apt)
START_CANNOT = 3
# a rule's job has a number; a group job (profiles/slurm: packing) has a UUID
SUBMITTED_RE = re.compile(r"Job (\S+) has been submitted with SLURM jobid (\d+) \(log: ([^)]+)\)")
RUN_ID_RE = re.compile(r"SLURM run ID: (\S+)")


class SlurmUnavailable(Exception):
    """SLURM genuinely cannot be started here (tests skip with this reason)."""


@dataclass
class SlurmCluster:
    node: str
    partition: str
    start_log: str


@dataclass
class Submission:
    snakemake_jobid: int | str  # a group job's id is a UUID
    slurm_jobid: str
    slurm_log: Path


@dataclass
class SnakemakeRun:
    cmd: list[str]
    returncode: int
    output: str  # stdout and stderr, interleaved
    wall_s: float
    log_path: Path  # the same output, saved in the workdir
    run_id: str | None = None  # the plugin's SLURM job name (jobname-prefix_uuid)
    submissions: list[Submission] = field(default_factory=list)

    @property
    def timed_out(self) -> bool:
        return self.returncode in (-9, 124, 137)

    @property
    def job_ids(self) -> list[str]:
        return [s.slurm_jobid for s in self.submissions]

    def tail(self, n: int = 4000) -> str:
        return f"$ {' '.join(self.cmd)}\n(rc={self.returncode}, {self.wall_s:.0f}s, full log {self.log_path})\n" + self.output[-n:]


def profile_settings(profile: Path = SLURM_PROFILE) -> dict:
    """The profile's YAML as a dict (e.g. ['default-resources']['slurm_partition'], ['retries'])."""
    for name in ("profile.yaml", "config.yaml"):
        if (profile / name).exists():
            return yaml.safe_load((profile / name).read_text()) or {}
    raise FileNotFoundError(f"no profile.yaml in {profile}")


def slurm_env(extra: dict | None = None) -> dict:
    """Environment for snakemake: no inherited SLURM_* job variables, this checkout's src/ importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO / "src"), env.get("PYTHONPATH")) if p)
    env.setdefault("OMP_NUM_THREADS", "1")
    env.update(extra or {})
    return env


def ensure_slurm(profile: Path = SLURM_PROFILE, timeout: int = 900) -> SlurmCluster:
    """Run scripts/slurm/start.sh (idempotent) so that the profile's partition exists and the node is idle.

    Raises SlurmUnavailable when SLURM cannot run here (not root, packages not installable);
    raises RuntimeError when it should have started but did not (a real failure).
    """
    if not sys.platform.startswith("linux"):
        raise SlurmUnavailable("the test SLURM needs Linux")
    if os.geteuid() != 0:
        raise SlurmUnavailable("scripts/slurm/start.sh must run as root (starts munged/slurmctld/slurmd)")
    if shutil.which("apt-get") is None and shutil.which("slurmctld") is None and not Path("/usr/sbin/slurmctld").exists():
        raise SlurmUnavailable("SLURM is not installed and apt-get is unavailable")
    partition = str((profile_settings(profile).get("default-resources") or {}).get("slurm_partition") or "debug")
    env = dict(os.environ, SLURM_TEST_PARTITION=partition, SLURM_TEST_CPUS=TEST_CPUS)
    try:
        proc = subprocess.run(["bash", str(START)], env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise RuntimeError(f"{START} did not finish in {timeout}s:\n{e.stderr}") from e
    log = proc.stdout + proc.stderr
    if proc.returncode == START_CANNOT:
        raise SlurmUnavailable(log.strip().splitlines()[-1] if log.strip() else "start.sh: cannot start SLURM")
    if proc.returncode != 0:
        raise RuntimeError(f"{START} failed (rc={proc.returncode}):\n{log[-4000:]}")
    node = subprocess.run(["hostname", "-s"], capture_output=True, text=True).stdout.strip()
    return SlurmCluster(node=node, partition=partition, start_log=log)


@pytest.fixture(scope="session")
def slurm_cluster() -> SlurmCluster:
    """A running single-node SLURM (left running after the session; scripts/slurm/stop.sh stops it)."""
    try:
        return ensure_slurm()
    except SlurmUnavailable as e:
        pytest.skip(f"SLURM unavailable: {e}")


def run_snakemake_slurm(
    workdir: Path,
    extra_args: list[str] | tuple[str, ...] = (),
    timeout: int = 300,
    *,
    profile: Path = SLURM_PROFILE,
    init_seconds: int | None = 5,
    env: dict | None = None,
) -> SnakemakeRun:
    """Run snakemake in `workdir` with `--profile profiles/slurm`, hard-bounded by `timeout -s KILL`.

    extra_args: e.g. ["-s", "/path/Snakefile", "--configfile", "config.yaml", "target"].
    init_seconds: overrides the profile's --slurm-init-seconds-before-status-checks so short
    test jobs are noticed quickly (None keeps the profile's value).
    A waiting snakemake ignores SIGTERM, hence SIGKILL; jobs it left queued are scancel'led.
    The run's output is also written to workdir/snakemake-slurm-<n>.log.
    """
    workdir = Path(workdir)
    cmd = ["timeout", "-s", "KILL", str(timeout), *SNAKEMAKE, "--profile", str(profile), "--directory", str(workdir)]
    if init_seconds is not None:
        cmd += ["--slurm-init-seconds-before-status-checks", str(init_seconds)]
    cmd += [str(a) for a in extra_args]
    t0 = time.monotonic()
    try:
        proc = subprocess.run(
            cmd, cwd=workdir, env=env or slurm_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, timeout=timeout + 60,
        )
        rc, out = proc.returncode, proc.stdout
    except subprocess.TimeoutExpired as e:  # only if `timeout` itself hangs
        rc, out = -9, (e.stdout.decode() if isinstance(e.stdout, bytes) else e.stdout) or ""
    wall = time.monotonic() - t0
    n = len(list(workdir.glob("snakemake-slurm-*.log"))) + 1
    log_path = workdir / f"snakemake-slurm-{n}.log"
    log_path.write_text(out)
    run_id = m.group(1) if (m := RUN_ID_RE.search(out)) else None
    subs = [Submission(int(a) if a.isdigit() else a, b, Path(c)) for a, b, c in SUBMITTED_RE.findall(out)]
    run = SnakemakeRun(cmd=cmd, returncode=rc, output=out, wall_s=wall, log_path=log_path, run_id=run_id, submissions=subs)
    if run.timed_out and run_id:
        subprocess.run(["scancel", "--name", run_id], capture_output=True)
    return run


def squeue_records(job_ids) -> dict[str, dict]:
    """{job id: {state, cpus, name, node}} as squeue reports them (finished jobs stay for MinJobAge = 600 s;
    the test cluster has no accounting database, so sacct has no records)."""
    ids = ",".join(map(str, job_ids))
    out = subprocess.run(["squeue", "--states=all", "--noheader", "--format=%i|%T|%C|%j|%N", "-j", ids],
                         capture_output=True, text=True).stdout
    found = {}
    for line in out.splitlines():
        jid, state, cpus, name, node = (x.strip() for x in line.split("|"))
        found[jid] = {"state": state, "cpus": int(cpus), "name": name, "node": node}
    return found


def squeue_state(job_id: str) -> str | None:
    """State of a job as squeue reports it (finished jobs stay visible for MinJobAge=600 s)."""
    out = subprocess.run(
        ["squeue", "--states=all", "--noheader", "--format=%i|%T", "-j", str(job_id)], capture_output=True, text=True
    ).stdout
    for line in out.splitlines():
        jid, _, state = line.partition("|")
        if jid.strip() == str(job_id):
            return state.strip()
    return None

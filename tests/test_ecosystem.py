"""What a user meets outside Python: the conda env file, the profiles, the package metadata."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
JOB_FREE = {"snakemake", "snakemake-executor-plugin-slurm", "pytest", "snakefmt"}  # not needed inside a job


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[_norm(name)] = version
    return pins


def env_pins() -> dict[str, str]:
    env = yaml.safe_load((REPO / "envs" / "pipeline.yaml").read_text())
    pins = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for line in dep["pip"]:
                assert not line.startswith("-"), f"pip option {line!r} in envs/pipeline.yaml: it points outside the file"
                name, version = line.split("==")
                pins[_norm(name)] = version
        elif dep not in ("pip",) and not dep.startswith("python="):
            name, version = dep.split("=")
            pins[_norm(name)] = version
    return pins


def test_conda_env_pins_every_job_requirement_at_requirements_txt_versions():
    req = {k: v for k, v in requirements().items() if k not in JOB_FREE}
    assert env_pins() == req


def test_conda_env_has_no_workflow_tools_and_refers_to_no_other_file():
    text = (REPO / "envs" / "pipeline.yaml").read_text()
    assert not (set(env_pins()) & JOB_FREE)
    assert "-r " not in text and "../" not in text


def test_requirements_satisfy_pyproject_ranges():
    from packaging.requirements import Requirement

    pins = requirements()
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    for dep in deps:
        req = Requirement(dep)
        assert _norm(req.name) in pins, f"{req.name} is in pyproject.toml but not pinned in requirements.txt"
        assert req.specifier.contains(pins[_norm(req.name)]), f"{req.name}=={pins[_norm(req.name)]} outside {req.specifier}"


def _rule_names() -> set[str]:
    names = set()
    for f in [REPO / "Snakefile", *(REPO / "workflow" / "rules").glob("*.smk")]:
        names |= set(re.findall(r"^(?:rule|checkpoint) (\w+):", f.read_text(), flags=re.M))
    return names


def test_every_rule_named_in_a_profile_exists_even_in_comments():
    rules = _rule_names()
    for profile in (REPO / "profiles").glob("*/profile.yaml"):
        text = "\n".join(line.lstrip("# ") for line in profile.read_text().splitlines())
        for block in ("set-threads", "set-resources"):
            section = re.search(rf"^{block}:\n((?:[ ]+.*\n?)+)", text, flags=re.M)
            if section:
                for name in re.findall(r"^  (\w+):", section.group(1), flags=re.M):
                    assert name in rules, f"{profile.relative_to(REPO)} names rule {name!r}; rules: {sorted(rules)}"


def test_user_slurm_profile_has_no_test_cluster_settings():
    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "profile.yaml").read_text())
    assert "slurm_account" not in profile["default-resources"]
    assert "slurm_partition" not in profile["default-resources"]
    assert "slurm-status-command" not in profile


def test_min_version_agrees_with_pyproject():
    from packaging.requirements import Requirement

    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    snakemake = next(Requirement(d) for d in deps if Requirement(d).name == "snakemake")
    floor = re.search(r'min_version\("([\d.]+)"\)', (REPO / "Snakefile").read_text()).group(1)
    lower = {s.version for s in snakemake.specifier if s.operator == ">="}
    assert lower == {floor}, f"Snakefile min_version({floor!r}) vs pyproject snakemake{snakemake.specifier}"

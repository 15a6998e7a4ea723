"""What the Snakemake workflow catalog reads: .snakemake-workflow-catalog.yml, config/README.md describing every
config, and a usage section in the README."""

from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def test_catalog_file_has_the_keys_the_catalog_reads():
    usage = yaml.safe_load((REPO / ".snakemake-workflow-catalog.yml").read_text())["usage"]
    assert set(usage) <= {"mandatory-flags", "software-stack-deployment", "report"}
    assert set(usage["mandatory-flags"]) == {"desc", "flags"}
    deploy = usage["software-stack-deployment"]
    assert set(deploy) == {"conda", "apptainer", "apptainer+conda"} and deploy["conda"] is True
    assert (REPO / "envs" / "pipeline.yaml").exists()  # what conda: true promises
    assert usage["report"] is True and (REPO / "workflow" / "report" / "workflow.rst").exists()


def test_config_readme_describes_every_config():
    text = (REPO / "config" / "README.md").read_text()
    configs = ["config.yaml"] + [f"config/{p.name}" for p in sorted((REPO / "config").glob("*.yaml"))]
    missing = [c for c in configs if f"`{c}`" not in text]
    assert not missing, f"config/README.md does not describe {missing}"
    assert "--configfile" in text and "--config key=value" in text


def test_readme_has_a_usage_section_pointing_to_the_catalog_and_the_config_readme():
    readme = (REPO / "README.md").read_text()
    usage = readme.split("\n## Usage\n", 1)[1].split("\n## ", 1)[0]
    for needed in ("snakemake-workflow-catalog", "config/README.md", "--report", "--config", "--configfile", "-n"):
        assert needed in usage, needed
    assert (REPO / "Snakefile").exists() and (REPO / "config.yaml").exists()  # kept at the root

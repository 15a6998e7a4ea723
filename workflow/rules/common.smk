# Config validation, the run grid and helpers shared by the rules.
import json
import re
import shlex
import sys
from pathlib import Path

SRC = str(Path(workflow.basedir) / "src")
sys.path.insert(0, SRC)

from sample_importance.config import ConfigError, check_config, workflow_config_files
from sample_importance.grid import expand
from sample_importance.outputs import figure_files, summary_files
from sample_importance.provenance import dataset_hash

try:
    check_config(
        workflow_config_files(workflow),
        config,
        Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml",
    )
except ConfigError as error:
    raise WorkflowError(str(error)) from None

GRID = expand(config)
RESULTS, FIGURES = GRID.results, GRID.figures
FIGURE_FILES = figure_files(config, FIGURES)
SUMMARY_FILES = summary_files(RESULTS)

# Steps run as `python -m sample_importance` with the package from this checkout. Without
# --sdm conda, `python` is the interpreter running Snakemake (put first on PATH), so
# `.venv/bin/snakemake` works without activating the venv; with conda, the env's python.
_methods = {str(m).lower() for m in getattr(workflow.deployment_settings, "deployment_method", ())}
_path = "" if any("conda" in m for m in _methods) else f"export PATH={shlex.quote(str(Path(sys.executable).parent))}:$PATH; "
shell.prefix(f"export PYTHONPATH={shlex.quote(SRC)}${{{{PYTHONPATH:+:$PYTHONPATH}}}}; {_path}")
CONDA_ENV = "../../envs/pipeline.yaml"
RES = config["resources"]
NEVER = "(?!x)x"  # a wildcard constraint that matches nothing (for empty method lists)


def one_of(names):
    return "|".join(map(re.escape, names)) or NEVER


def quoted_json(obj):
    return shlex.quote(json.dumps(obj, sort_keys=True))


def scaled(base, attempt):
    """Resources double with every retry."""
    return int(base * 2 ** (attempt - 1))


def runtime_minutes(spec, attempt):
    """SLURM runtime: twice the estimated training time (+5 min), doubled per retry."""
    epochs = spec["train"]["epochs"] * spec["budget"]
    return scaled(5 + 2 * epochs * RES["minutes_per_epoch"], attempt)


def run_spec(wc):
    """The spec of a requested run folder; a folder this config does not make gets a plain message."""
    return _spec_in(GRID.runs, wc.run, "run")


def warmup_spec(wc):
    return _spec_in(GRID.warmups, wc.warmup, "warm-up")


def _spec_in(specs, run_id, what):
    if run_id not in specs:
        raise WorkflowError(
            f"{run_id!r} is not a {what} of this config: its settings (hash) or name are not in the grid. "
            "Fix: list the run folders of the config with `python -m sample_importance runs <config>`."
        )
    return specs[run_id]


def data_file(dataset):
    """The cached tensors of a dataset: named by what its images and labels are, so two configs that
    share a results folder but define `digits` differently keep two files."""
    return f"{RESULTS}/data/{dataset}-{dataset_hash(config['datasets'][dataset])}.pt"


RUN_OUTPUTS = ("metrics.csv", "per_class.csv", "class_draws.csv", "run.json")


def run_outputs(method_wildcard):
    return {name.split(".")[0]: f"{RESULTS}/runs/{method_wildcard}/{{run}}/{name}" for name in RUN_OUTPUTS}


def training_resources(spec_of):
    """Per-job resources of a training rule; `spec_of` maps wildcards to the run spec."""
    resources = dict(
        mem_mb=lambda wc, attempt: scaled(RES["mem_mb"], attempt),
        runtime=lambda wc, attempt: runtime_minutes(spec_of(wc), attempt),
        cpus_per_task=RES["cpus_per_task"],
    )
    if RES["gpu"]:  # SLURM: sbatch --gpus=1; workstation: one slot of --resources gpu=N
        resources["gpu"] = 1
    return resources


def folder_of(output_file):
    """The run folder a step writes, from one of its declared outputs."""
    return lambda wc, output: str(Path(output[output_file]).parent)

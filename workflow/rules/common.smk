# Config validation, the run grid and helpers shared by the rules.
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from snakemake_interface_executor_plugins.settings import DeploymentMethod

SRC = str(Path(workflow.basedir) / "src")
sys.path.insert(0, SRC)

from sample_importance.config import (
    ConfigError,
    check_config,
    check_device_here,
    workflow_config_files,
)
from sample_importance.data.inspect import cache_problem
from sample_importance.grid import expand
from sample_importance.outputs import figure_files, summary_files
from sample_importance.provenance import dataset_hash
from sample_importance.results_folder import (
    FolderBusy,
    hold,
    move_stale,
    workflow_outputs,
)

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

# Steps run as `exec python -m sample_importance ...`: exec makes the step the job's process, so a
# job killed through its shell's PID (Snakemake cancelling it, SLURM's scancel) takes the training
# with it instead of leaving an orphan that writes outputs after the failure was reported.
# `python` is the package from this checkout (PYTHONPATH) run by the interpreter running Snakemake,
# put first on PATH so `.venv/bin/snakemake` works without activating the venv. Not under
# `--sdm conda`: Snakemake runs `source activate ENV; <prefix><command>`, and this PATH would undo
# the activation. Snakemake documents no Snakefile-level switch for that (`workflow.use_conda` went
# with 8.0); `workflow.deployment_settings.deployment_method`, a set of DeploymentMethod, is the
# stable interface executor plugins read (snakemake-interface-executor-plugins, WorkflowExecutorInterface).
# A prefix replaces Snakemake's own bash prefix, so its strict mode is restated first.
_deployment = workflow.deployment_settings  # None only where no job runs
_conda = _deployment and DeploymentMethod.CONDA in _deployment.deployment_method
_path = (
    ""
    if _conda
    else f"export PATH={shlex.quote(str(Path(sys.executable).parent))}:$PATH; "
)
shell.prefix(
    f"set -euo pipefail; export PYTHONPATH={shlex.quote(SRC)}${{{{PYTHONPATH:+:$PYTHONPATH}}}}; {_path}"
)
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
    return {
        name.split(".")[0]: f"{RESULTS}/runs/{method_wildcard}/{{run}}/{name}"
        for name in RUN_OUTPUTS
    }


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


# Cached datasets that exist but cannot be read: found at start-up, rebuilt in data.smk's onstart.


def prepare_data_command(dataset, out):
    spec = quoted_json(config["datasets"][dataset])
    return f"python -m sample_importance prepare-data --name {shlex.quote(dataset)} --spec {spec} --out {shlex.quote(out)}"


def unreadable_caches():
    """{cache path: (dataset, problem)} for the existing caches of this config that cannot be read."""
    found = {}
    for dataset in config["datasets"]:
        path = data_file(dataset)
        problem = cache_problem(path)
        if problem:
            found[path] = (dataset, problem)
    return found


def runs_newer_cache(path, dataset):
    """Finished runs and warm-ups of `dataset` whose run.json is older than the cache at `path`: Snakemake's mtime
    trigger runs them again (an unreadable cache was usually damaged by a write, which gave it a new time).
    """
    folders = [GRID.run_dir(r) for r, s in GRID.runs.items() if s["dataset"] == dataset]
    folders += [
        GRID.warmup_dir(w) for w, s in GRID.warmups.items() if s["dataset"] == dataset
    ]
    cache_time = os.stat(path).st_mtime
    return sum(
        1
        for f in folders
        if os.path.exists(f"{f}/run.json")
        and os.stat(f"{f}/run.json").st_mtime < cache_time
    )


def repair_caches(caches):
    """Rebuild unreadable caches in place with the prepare-data step, keeping each file's mtime."""
    for path, (dataset, problem) in caches.items():
        mtime = os.stat(path).st_mtime_ns
        log = Path(RESULTS) / "logs" / "prepare_data" / f"{Path(path).stem}.repair.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        print(f"Rebuilding {path}: {problem} (log: {log})", file=sys.stderr)
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                p for p in (SRC, os.environ.get("PYTHONPATH")) if p
            ),
        }
        cmd = [
            sys.executable,
            "-m",
            "sample_importance",
            "prepare-data",
            "--name",
            dataset,
            "--spec",
            json.dumps(config["datasets"][dataset], sort_keys=True),
            "--out",
            path,
        ]
        with open(log, "w") as err:
            done = subprocess.run(cmd, stderr=err, env=env)
        if done.returncode != 0 or cache_problem(path):
            raise WorkflowError(
                f"could not rebuild {path} ({problem}); see {log}. "
                f"Fix: delete it and run snakemake again, or run `{prepare_data_command(dataset, path)}`."
            )
        os.utime(path, ns=(mtime, mtime))


# Before the first job of a real run (Snakemake calls onstart only in the main process, never in a dry run nor in
# the jobs a cluster runs, which re-read this file): hold the results folder for this process's life, so a second
# workflow naming the same output.results is refused (Snakemake locks only its own working directory); move the
# summary tables and figures a former config made out of the way (results_folder.move_stale), so no step reads
# them as current; rebuild unreadable caches (data.smk). One onstart: Snakemake keeps only the last one declared.


def on_start():
    try:  # CUDA asked for, jobs run here, no CUDA here: say so before any job (not on a cluster's head node)
        check_device_here(config, workflow.local_exec)
    except ConfigError as error:
        raise WorkflowError(str(error)) from None
    try:
        hold(RESULTS)
    except FolderBusy as error:
        raise WorkflowError(str(error)) from None
    move_stale(RESULTS, FIGURES, workflow_outputs(workflow.rules))
    repair_caches(UNREADABLE_CACHES)


onstart:
    on_start()

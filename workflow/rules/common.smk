# Config validation, the run grid and helpers shared by the rules.
import json
import re
import os
import shlex
import sys
from pathlib import Path

SRC = str(Path(workflow.basedir) / "src")
sys.path.insert(0, SRC)

from sample_importance.config import ConfigError, validate
from sample_importance.grid import expand
from sample_importance.outputs import figure_files, summary_files

try:
    validate(config, Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml")
except ConfigError as error:
    raise WorkflowError(str(error)) from None

GRID = expand(config)
RESULTS, FIGURES = GRID.results, GRID.figures
FIGURE_FILES = figure_files(config, FIGURES)
SUMMARY_FILES = summary_files(RESULTS)

# Steps run as `python -m sample_importance`: the package comes from this checkout,
# and `python` is the interpreter running Snakemake unless an env (conda) is active.
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (SRC, os.environ.get("PYTHONPATH")) if p)
os.environ["PATH"] = os.pathsep.join((str(Path(sys.executable).parent), os.environ.get("PATH", "")))
PY = "python -m sample_importance"
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


def data_file(spec):
    return f"{RESULTS}/data/{spec['dataset']}.pt"

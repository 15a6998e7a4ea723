"""Checking a configuration before any job runs.

Three passes, in one place, called by the Snakefile at start-up and by
`python -m sample_importance check-config`:
1. unknown keys, with the closest valid key suggested (a typo must not silently
   fall back to a default);
2. the JSON schema via `snakemake.utils.validate`, which also fills defaults;
3. what a schema cannot say: valid names, budgets, seeds, warm-up vs budget,
   imbalance leaving a class empty, batch size vs training set, missing paths.
Every error names the field, the value and the fix.
"""

from __future__ import annotations

import difflib
import math
import os
import sys
from pathlib import Path

import yaml

from .data.imbalance import KINDS, class_counts, stratified_subset_counts

SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"
PRECISIONS = ("auto", "fp32", "bf16")
# sections that define an experiment; one missing is filled from the schema's (paper-scale) defaults
EXPERIMENT_SECTIONS = ("datasets", "models", "methods", "budgets", "seeds", "train")
# training sizes per class of the sources whose size is known without reading them
KNOWN_TRAIN_COUNTS = {"cifar10": [5000] * 10, "cifar100": [500] * 100}
# scikit-learn's digits, all 1,797 images per class: a constant, so checking a config imports no sklearn (1 s)
DIGITS_CLASS_COUNTS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


class ConfigError(ValueError):
    """A configuration mistake; the message names the field, the value and the fix."""


def load_schema(path: str | os.PathLike = SCHEMA) -> dict:
    return yaml.safe_load(Path(path).read_text())


def load_config(path: str | os.PathLike) -> dict:
    return yaml.safe_load(Path(path).read_text()) or {}


def _suggest(key: str, valid) -> str:
    close = difflib.get_close_matches(key, list(valid), n=1, cutoff=0.5)
    return f"Did you mean {close[0]!r}? " if close else ""


def _fail(field: str, value, problem: str, fix: str) -> None:
    raise ConfigError(f"config field `{field}` = {value!r}: {problem}. Fix: {fix}")


def check_unknown_keys(config, schema: dict, where: str = "") -> None:
    """Reject keys the schema does not declare, recursively, suggesting the closest valid one."""
    if not isinstance(config, dict) or schema.get("type") != "object":
        return
    props = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    for key, value in config.items():
        field = f"{where}.{key}" if where else str(key)
        if key in props:
            check_unknown_keys(value, props[key], field)
        elif isinstance(extra, dict):
            check_unknown_keys(value, extra, field)
        elif extra is False:
            raise ConfigError(
                f"config field `{field}` is not a known key. Fix: {_suggest(str(key), props)}"
                f"Valid keys{' under ' + where if where else ''}: {', '.join(props)}."
            )


def validate(config: dict, schema_path: str | os.PathLike = SCHEMA) -> dict:
    """Check `config` in place (filling defaults) and return it; raise ConfigError on any mistake."""
    if not isinstance(config, dict):
        what = "empty" if config is None else f"a {type(config).__name__}, not a mapping of sections"
        raise ConfigError(f"config is {what}. Fix: start from config.yaml, "
                          "whose top level has keys such as datasets, models, methods, budgets, seeds and train.")
    schema = load_schema(schema_path)
    check_unknown_keys(config, schema)
    missing = [key for key in EXPERIMENT_SECTIONS if key not in config]
    if missing:  # a partial --configfile alone (without config.yaml) silently became a paper-scale grid
        print(f"warning: the config has no {', '.join(missing)}: the schema's defaults, the papers' settings "
              f"(e.g. train.epochs {schema['properties']['train']['properties']['epochs']['default']}), are used. "
              "Give them, or add config.yaml first: --configfile config.yaml yours.yaml", file=sys.stderr)
    _coerce_numbers(config, schema)
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate as snakemake_validate

    try:
        snakemake_validate(config, str(schema_path), set_default=True)
    except WorkflowError as e:
        raise ConfigError(_schema_message(e)) from e
    _fill_nested_defaults(config, schema)
    _coerce_numbers(config, schema)  # again: the schema's defaults are written as YAML reads them (ratio: 1)
    check_semantics(config)
    return config


def _schema_message(error: Exception) -> str:
    """One line naming the field, the value and the rule it breaks, from snakemake's wrapped jsonschema error."""
    cause = error.__cause__ or error.__context__
    if not hasattr(cause, "absolute_path"):
        return f"config does not match workflow/schemas/config.schema.yaml: {error}"
    field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in cause.absolute_path).lstrip(".") or "(top level)"
    rule = cause.schema if isinstance(cause.schema, dict) else {}
    limits = ", ".join(f"{k} {rule[k]!r}" for k in ("type", "minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum",
                                                     "minItems", "minProperties", "pattern", "required") if k in rule)
    value = repr(cause.instance)
    value = value if len(value) <= 120 else value[:117] + "..."
    about = f" ({rule['description'].strip().rstrip('.')})" if rule.get("description") else ""
    return (f"config field `{field}` = {value}: {cause.message}. Fix: give a value with {limits or 'the schema rule'}{about}; "
            "see workflow/schemas/config.schema.yaml")


def _as_number(value, kind: str):
    """`value` as the schema's number kind where it is one written another way, else unchanged.

    A run's id hashes its settings, so budget 1 and 1.0 must be the same value; and
    YAML 1.1 reads 5e-2 (no dot) or a `--config seeds=[0]` item as text.
    """
    if isinstance(value, bool):
        return value
    if kind == "number":
        if isinstance(value, int):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                return value
    if kind == "integer" and isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        return int(value)
    if kind == "integer" and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _coerce_numbers(obj, sch: dict):
    """Numbers as the schema types them, in place (see _as_number)."""
    kind = sch.get("type")
    if kind == "object" and isinstance(obj, dict):
        props = sch.get("properties", {})
        extra = sch.get("additionalProperties")
        for key in list(obj):
            sub = props.get(key, extra if isinstance(extra, dict) else None)
            if sub is not None:
                obj[key] = _coerce_numbers(obj[key], sub)
        return obj
    if kind == "array" and isinstance(obj, list) and isinstance(sch.get("items"), dict):
        return [_coerce_numbers(v, sch["items"]) for v in obj]
    if kind in ("number", "integer"):
        return _as_number(obj, kind)
    return obj


def _fill_nested_defaults(config: dict, schema: dict) -> None:
    """Defaults inside per-name mappings (datasets.<name>.imbalance...), which the schema validator leaves out."""

    def fill(obj, sch):
        if not isinstance(obj, dict) or sch.get("type") != "object":
            return
        for key, sub in sch.get("properties", {}).items():
            if key not in obj and "default" in sub:
                obj[key] = _copy(sub["default"])
            if key in obj:
                fill(obj[key], sub)
        extra = sch.get("additionalProperties")
        if isinstance(extra, dict):
            for key in obj:
                if key not in sch.get("properties", {}):
                    fill(obj[key], extra)

    fill(config, schema)


def _copy(value):
    return yaml.safe_load(yaml.safe_dump(value))


def resolve_method_params(label: str, entry: dict) -> dict:
    """The method's defaults overlaid with the config's values; unknown or invalid ones are errors."""
    from .methods import method_class, names

    name = entry["method"]
    if name not in names():
        _fail(f"methods.{label}.method", name, "unknown method", f"use one of {', '.join(names())}")
    cls = method_class(name)
    params = {k: v for k, v in entry.items() if k != "method"}
    for key, value in params.items():
        if key not in cls.defaults:
            valid = ", ".join(cls.defaults) or "(none)"
            raise ConfigError(
                f"config field `methods.{label}.{key}` is not a parameter of method {name!r}. "
                f"Fix: {_suggest(key, cls.defaults)}Valid parameters: {valid}."
            )
        default = cls.defaults[key]
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            value = params[key] = _as_number(value, "number" if isinstance(default, float) else "integer")
        if isinstance(default, (int, float)) and not isinstance(default, bool) and not isinstance(value, (int, float)):
            _fail(f"methods.{label}.{key}", value, f"must be a number like the default {default!r}", "write a number")
    for key, valid in getattr(cls, "choices", {}).items():
        if key in params and params[key] not in valid:
            _fail(f"methods.{label}.{key}", params[key], f"not a valid {key}", f"use one of {', '.join(valid)}")
    resolved = {**cls.defaults, **params}
    try:
        cls.check_params(resolved)
    except ValueError as e:
        _fail(f"methods.{label}", params, str(e), f"change the value (defaults: {cls.defaults})")
    return resolved


def estimated_train_counts(name: str, spec: dict) -> list[int] | None:
    """Training samples per class after subset and imbalance, when knowable without reading images."""
    source = spec["source"]
    if source == "digits":
        total = sum(DIGITS_CLASS_COUNTS)
        test = math.ceil(spec.get("test_fraction", 0.2) * total)
        counts = stratified_subset_counts(DIGITS_CLASS_COUNTS, total - test)
    elif source in KNOWN_TRAIN_COUNTS:
        counts = KNOWN_TRAIN_COUNTS[source]
    elif source == "imagefolder" and os.path.isdir(os.path.join(spec["root"], "train")):
        base = Path(spec["root"]) / "train"
        counts = [sum(1 for f in d.iterdir() if f.is_file()) for d in sorted(base.iterdir()) if d.is_dir()]
    else:
        return None
    if spec.get("train_subset"):
        if spec["train_subset"] > sum(counts):
            _fail(f"datasets.{name}.train_subset", spec["train_subset"],
                  f"larger than the {sum(counts)} training images of this source", f"use at most {sum(counts)}, or 0 for all")
        counts = stratified_subset_counts(counts, spec["train_subset"])
    imb = spec.get("imbalance", {})
    return class_counts(counts, imb.get("kind", "none"), float(imb.get("ratio", 1)), float(imb.get("step_fraction", 0.5)))


def _check_imagefolder_root(field: str, root: str) -> None:
    """A folder must hold train/ and test/; a file must be a tar archive (its images are checked by prepare_data)."""
    import tarfile

    if os.path.isdir(root):
        missing = [s for s in ("train", "test") if not os.path.isdir(os.path.join(root, s))]
        if missing:
            _fail(field, root, f"this ImageFolder has no {' or '.join(f'{s}/' for s in missing)} folder",
                  "point root to the folder that holds train/<class>/ and test/<class>/")
    elif not tarfile.is_tarfile(root):
        _fail(field, root, "this file is not a tar archive (.tar, .tar.gz, ...)",
              "point root to a .tar(.gz) of train/<class>/ and test/<class>/, or to such a folder")


def _check_dataset(name: str, spec: dict, batch_size: int) -> None:
    from .data.datasets import SOURCES

    field = f"datasets.{name}"
    if spec["source"] not in SOURCES:
        _fail(f"{field}.source", spec["source"], "unknown dataset source", f"use one of {', '.join(SOURCES)}")
    imb = spec["imbalance"]
    if imb["kind"] not in KINDS:
        _fail(f"{field}.imbalance.kind", imb["kind"], "unknown imbalance kind", f"use one of {', '.join(KINDS)}")
    if imb["ratio"] < 1:
        _fail(f"{field}.imbalance.ratio", imb["ratio"], "the imbalance ratio n_max/n_min is below 1",
              "use 1 for a balanced set or a ratio such as 10, 50 or 100")
    if imb["kind"] == "none" and imb["ratio"] != 1:
        _fail(f"{field}.imbalance.ratio", imb["ratio"], "has no effect with imbalance kind none",
              "set imbalance.kind to long_tailed or step, or drop the ratio")
    if not 0 < imb["step_fraction"] <= 1:
        _fail(f"{field}.imbalance.step_fraction", imb["step_fraction"], "must be in (0, 1]", "use e.g. 0.5 (half of the classes)")
    if spec["source"] == "imagefolder" and not os.path.exists(spec["root"]):
        _fail(f"{field}.root", spec["root"], "this ImageFolder path does not exist (relative paths start at the working directory)",
              "point root to a folder with train/<class>/ and test/<class>/ or to a .tar.gz of one")
    if spec["source"] == "imagefolder":
        _check_imagefolder_root(f"{field}.root", spec["root"])
    if spec["source"] in ("cifar10", "cifar100") and not spec["download"]:
        folder = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}[spec["source"]]
        if not os.path.isdir(os.path.join(spec["root"], folder)):
            _fail(f"{field}.root", spec["root"], f"{folder} is not in this folder and download is false",
                  f"set {field}.download: true (needs network) or point root to the folder holding {folder}")
    counts = estimated_train_counts(name, spec)
    if counts is None:
        return
    if min(counts) == 0:
        empty = [c for c, n in enumerate(counts) if n == 0]
        _fail(f"{field}.imbalance", imb, f"leaves class index(es) {empty} with zero training samples (counts {counts})",
              "lower the ratio or raise train_subset")
    if batch_size > sum(counts):
        _fail("train.batch_size", batch_size, f"larger than the {sum(counts)} training images of dataset {name!r}",
              f"use a batch size of at most {sum(counts)}")


def check_semantics(config: dict) -> None:
    from .training.augment import names as augmentation_names
    from .methods import method_class
    from .training.models import MODELS
    from .training.schedule import SCHEDULES

    train = config["train"]
    for i, model in enumerate(config["models"]):
        if model not in MODELS:
            _fail(f"models[{i}]", model, "unknown model", f"use one of {', '.join(MODELS)}")
    for i, aug in enumerate(config["augmentations"]):
        if aug not in augmentation_names():
            _fail(f"augmentations[{i}]", aug, "unknown augmentation", f"use one of {', '.join(augmentation_names())}")
    for i, b in enumerate(config["budgets"]):
        if not 0 < b <= 1:
            _fail(f"budgets[{i}]", b, "a budget is a fraction of the full schedule in (0, 1]",
                  "use e.g. 0.5 for half of the full schedule's iterations, 1.0 for all")
    if len(set(config["budgets"])) != len(config["budgets"]):
        _fail("budgets", config["budgets"], "a budget is listed twice", "list each budget once")
    for i, s in enumerate(config["seeds"]):
        if s < 0:
            _fail(f"seeds[{i}]", s, "seeds must be non-negative", "use 0, 1, 2, ...")
    if len(set(config["seeds"])) != len(config["seeds"]):
        _fail("seeds", config["seeds"], "a seed is listed twice (its runs would be the same run)", "list each seed once")
    if train["schedule"] not in SCHEDULES:
        _fail("train.schedule", train["schedule"], "unknown schedule", f"use one of {', '.join(SCHEDULES)}")
    if train["precision"] not in PRECISIONS:
        _fail("train.precision", train["precision"], "unknown precision", f"use one of {', '.join(PRECISIONS)}")
    if not (train["device"] in ("auto", "cpu", "cuda") or train["device"].startswith("cuda:")):
        _fail("train.device", train["device"], "unknown device", "use auto, cpu, cuda or cuda:N")
    if not any(entry.get("method") == "uniform" for entry in config["methods"].values()):
        _fail("methods", sorted(config["methods"]), "no method is `uniform`, the baseline that speed-ups and "
              "differences are measured against", "add `uniform: {method: uniform}` to methods")
    smallest = min(config["budgets"])
    staged = []
    for label, entry in config["methods"].items():
        entry.update(resolve_method_params(label, entry))
        if method_class(entry["method"]).staged:
            staged.append(label)
            epochs_in_budget = smallest * train["epochs"]
            if entry["warmup_epochs"] >= epochs_in_budget:
                _fail(f"methods.{label}.warmup_epochs", entry["warmup_epochs"],
                      f"the smallest budget {smallest:g} gives only {epochs_in_budget:g} epochs, so nothing is left after warm-up",
                      f"use fewer than {epochs_in_budget:g} warm-up epochs or a larger budget")
    for name, spec in config["datasets"].items():
        _check_dataset(name, spec, train["batch_size"])
    source = config["importance_from"]
    if source:
        if source not in config["models"]:
            _fail("importance_from", source, "this model is not in `models`, so it has no warm-up to take scores from",
                  f"use one of {', '.join(config['models'])} or leave it empty")
        if not staged:
            _fail("importance_from", source, "there is no staged method (biased, el2n_prune) to transfer scores to",
                  "add a biased method or leave importance_from empty")

"""Checking a configuration before any job runs: one path for the Snakefile and `check-config`.

`check_config(files, config)` is the only entry point: `python -m sample_importance
check-config A.yaml [B.yaml ...]` calls it with the files, workflow/rules/common.smk
with the files Snakemake read and the config it built from them (plus `--config`
overrides). Both therefore accept and refuse the same configs with the same messages.

1. files (`load_config`): missing, a folder, not text, not YAML, empty, not a mapping,
   a key given twice (YAML keeps the last silently) or read as a boolean/number;
2. keys: names only, none unknown (the closest valid key is suggested);
3. numbers as the schema types them, all finite (NaN passes every JSON-schema bound);
4. the JSON schema workflow/schemas/config.schema.yaml: types, enums, bounds, required
   sections; its defaults are filled in afterwards;
5. what a schema cannot say: method parameters, names across sections, budgets vs the
   datasets' sizes, imbalances that change nothing, transfer labels, the data sources.
Every error names the field (dotted path) or the file, the value and the fix.
"""

from __future__ import annotations

import difflib
import functools
import json
import math
import os
import sys
from pathlib import Path

import yaml

from .data.imbalance import class_counts, stratified_subset_counts
from .data.noise import CIFAR10_CLASSES, DIGIT_CLASSES, noisy_counts

SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"
PRECISIONS = ("auto", "fp32", "bf16")  # training/engine.py's autocast choices; the schema's enum
# training sizes per class of the sources whose size is known without reading them
KNOWN_TRAIN_COUNTS = {"cifar10": [5000] * 10, "cifar100": [500] * 100, "fashion_mnist": [6000] * 10}
# scikit-learn's digits, all 1,797 images per class: a constant, so checking a config imports no sklearn (1 s)
DIGITS_CLASS_COUNTS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
# dataset keys that only act for some sources
TORCHVISION = ("cifar10", "cifar100", "fashion_mnist", "svhn")  # data.datasets.TORCHVISION_SOURCES, without torch
# where torchvision's classes look under root (data.datasets.TORCHVISION_FILES)
TORCHVISION_FILES = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python",
                     "fashion_mnist": "FashionMNIST/raw", "svhn": "train_32x32.mat"}
SOURCE_KEYS = {"test_fraction": ("digits",), "download": TORCHVISION, "root": (*TORCHVISION, "imagefolder")}


class ConfigError(ValueError):
    """A configuration mistake; the message names the field or file, the value and the fix."""


def _fail(field: str, value, problem: str, fix: str) -> None:
    raise ConfigError(f"config field `{field}` = {value!r}: {problem}. Fix: {fix}")


def _warn(message: str) -> None:
    """A setting that is legal but probably not meant; printed, the run goes on."""
    print(f"warning: {message}", file=sys.stderr)


def _field(parts) -> str:
    """The dotted name of a place in the config: datasets.digits.imbalance.ratio, budgets[1]."""
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".")


# ----------------------------------------------------------------------------- the one entry point


def check_config(files, config: dict | None = None, schema_path: str | os.PathLike = SCHEMA) -> dict:
    """Check the config files, then `config` (default: the files merged in order); return it validated.

    Snakemake reads the files itself (silently keeping the last of two equal keys), so
    the Snakefile passes its `config` and the files are read here again only to catch
    what reading loses.
    """
    merged: dict = {}
    for path in files:
        merge(merged, load_config(path))
    return validate(merged if config is None else config, schema_path)


def workflow_config_files(workflow) -> list[str]:
    """The config files Snakemake merged into `config`, in order.

    `--configfile` files replace the Snakefile's `configfile:` under
    `replace-workflow-config` (profiles/default/profile.yaml); without it they update it.
    `--config key=value` alone updates config.yaml (the Snakefile reads it again).
    """
    settings = workflow.config_settings
    given = [str(p) for p in settings.configfiles]
    declared = [str(p) for p in workflow.configfiles[len(given):]]
    if given and settings.overwrite_config and getattr(settings, "replace_workflow_config", False):
        return given
    return declared + given


def merge(base: dict, update: dict) -> dict:
    """`update` merged into `base` in place, nested mappings key by key: snakemake.utils.update_config's rule,
    so `check-config config.yaml extra.yaml` sees what `--configfile config.yaml extra.yaml` sees."""
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = value
    return base


# ----------------------------------------------------------------------------- files


class StrictLoader(yaml.SafeLoader):
    """YAML's safe loader that refuses a key given twice (plain YAML keeps the last) and keys that are no names."""

    path = "<string>"

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if not isinstance(key, str):
                raise ConfigError(
                    f"config file {self.path}, line {line}: the key {key_node.value} is read by YAML as "
                    f"{_yaml_kind(key)}, not as a name. Fix: quote it: '{key_node.value}':")
            if key in seen:
                raise ConfigError(
                    f"config file {self.path}, line {line}: the key `{key}` is given twice in one mapping (first on "
                    f"line {seen[key]}); YAML would silently keep the last. Fix: keep one of them.")
            seen[key] = line
        return super().construct_mapping(node, deep)


def _yaml_kind(value) -> str:
    """What YAML made of an unquoted key, for a message: 'the boolean False (...)'."""
    if isinstance(value, bool):
        return f"the boolean {value} (unquoted yes, no, on, off, true and false all are booleans)"
    if value is None:
        return "null"
    return f"the number {value}" if isinstance(value, (int, float)) else f"the {type(value).__name__} {value!r}"


def load_config(path: str | os.PathLike) -> dict:
    """One config file as a mapping, or a one-line ConfigError naming the file and the fix."""
    p = Path(path)
    start = "Fix: give the path of a YAML config file such as config.yaml"
    if not p.exists():
        raise ConfigError(f"config file {path} does not exist (relative paths start at {os.getcwd()}). {start}.")
    if p.is_dir():
        inside = sorted(str(f) for f in p.glob("*.yaml"))
        raise ConfigError(f"config file {path} is a folder. {start}{', e.g. ' + inside[0] if inside else ''}.")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        text = "\0"
    except OSError as e:
        raise ConfigError(f"config file {path} cannot be read ({e.strerror}). {start} that you may read.") from None
    if "\0" in text:
        raise ConfigError(f"config file {path} is not text (not UTF-8 YAML). {start}.")
    data = _parse(text, str(path))
    if data is None:
        raise ConfigError(f"config file {path} is empty (or only comments). Fix: write the experiment into it, "
                          f"e.g. from config.yaml; it needs {', '.join(_required())}.")
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} holds a {type(data).__name__} at its top level, not a mapping of "
                          f"sections. Fix: start from config.yaml, whose top level has {', '.join(_required())}.")
    return data


def _parse(text: str, path: str):
    loader = StrictLoader(text)
    loader.path = path
    try:
        return loader.get_single_data()
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"config file {path}{where}: not valid YAML ({problem}). Fix: correct the YAML there "
                          "(indent with spaces, not tabs; quote a value that holds ': ' or starts with { or [).") from None
    finally:
        loader.dispose()


def load_schema(path: str | os.PathLike = SCHEMA) -> dict:
    """The schema as a dict (read once per process and path; callers must not change it)."""
    return _read_schema(str(path))


@functools.lru_cache(maxsize=4)
def _read_schema(path: str) -> dict:
    return yaml.safe_load(Path(path).read_text())


def _required(path: str | os.PathLike = SCHEMA) -> list[str]:
    return load_schema(path).get("required", [])


# ----------------------------------------------------------------------------- keys, numbers, schema


def validate(config: dict, schema_path: str | os.PathLike = SCHEMA) -> dict:
    """Check `config` in place (filling defaults) and return it; raise ConfigError on any mistake."""
    if not isinstance(config, dict):
        what = "empty" if config is None else f"a {type(config).__name__}, not a mapping of sections"
        raise ConfigError(f"config is {what}. Fix: start from config.yaml, whose top level has "
                          f"{', '.join(_required(schema_path))}.")
    schema = load_schema(schema_path)
    check_key_types(config)
    check_unknown_keys(config, schema)
    _coerce_numbers(config, schema)
    check_finite(config)
    check_schema(config, schema)
    _fill_nested_defaults(config, schema)
    _coerce_numbers(config, schema)  # again: the schema's defaults are written as YAML reads them (ratio: 1)
    check_semantics(config)
    return config


def check_key_types(obj, where: tuple = ()) -> None:
    """Every key a name: YAML reads `no:` as False and `1:` as 1, which no pattern of the schema looks at."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            if not isinstance(key, str):
                raise ConfigError(
                    f"config key {key!r} under `{_field(where) or '(top level)'}` is {_yaml_kind(key)}, not a name. "
                    "Fix: quote the key in the YAML file, e.g. 'no': or '1': instead of no: or 1:")
            check_key_types(value, (*where, key))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            check_key_types(value, (*where, i))


def _suggest(key: str, valid) -> str:
    close = difflib.get_close_matches(key, list(valid), n=1, cutoff=0.5)
    return f"Did you mean {close[0]!r}? " if close else ""


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


def check_finite(obj, where: tuple = ()) -> None:
    """No NaN or infinity anywhere: every comparison with NaN is false, so `minimum: 0` lets `.nan` through."""
    if isinstance(obj, float) and not math.isfinite(obj):
        _fail(_field(where), obj, "not a finite number (YAML reads .nan and .inf as numbers, and no bound "
              "check can catch a NaN)", "write a finite number")
    if isinstance(obj, dict):
        for key, value in obj.items():
            check_finite(value, (*where, key))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            check_finite(value, (*where, i))


def check_schema(config: dict, schema: dict) -> None:
    """The JSON schema; the most relevant error (jsonschema's best_match order) as one line."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import relevance

    errors = list(Draft202012Validator(schema).iter_errors(config))
    if errors:
        raise ConfigError(_schema_message(max(errors, key=relevance), schema))


BOUNDS = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}


def _schema_message(error, schema: dict) -> str:
    """One line naming the field, the value, the rule it breaks and the fix, from a jsonschema error."""
    field = _field(error.absolute_path)
    rule = error.schema if isinstance(error.schema, dict) else {}
    about = rule.get("description") or _description(schema, error.absolute_path)
    about = about.strip().rstrip(".") if about else ""
    value = repr(error.instance)
    value = value if len(value) <= 120 else value[:117] + "..."
    head = f"config field `{field}` = {value}"
    kind = error.validator
    if "propertyNames" in error.schema_path:
        return f"config field `{field}` has the name {error.instance!r}, which is not allowed. Fix: {about}"
    if kind == "required":
        return _missing_message(field, error, rule)
    if kind == "enum":
        return f"{head}: not a valid value. Fix: use one of {', '.join(map(str, error.validator_value))}"
    if kind == "anyOf":
        options = [", ".join(map(str, s["enum"])) if "enum" in s else s.get("description", str(s)) for s in rule["anyOf"]]
        return f"{head}: not a valid value. Fix: use one of {', or '.join(options)}"
    if kind == "uniqueItems":
        return f"{head}: lists a value twice, so two of its runs would be the same run. Fix: list each value once"
    if kind == "pattern":
        return f"{head}: does not match {error.validator_value!r}. Fix: {about}"
    if kind in BOUNDS:
        return f"{head}: {error.message}. Fix: give a value {BOUNDS[kind]} {error.validator_value!r} ({about})"
    if kind in ("minItems", "minProperties"):
        return f"{head}: is empty. Fix: give at least one ({about})"
    if kind == "type":
        return f"{head}: {error.message}. Fix: write a {error.validator_value} ({about})"
    return f"{head}: {error.message}. Fix: see workflow/schemas/config.schema.yaml ({about})"


def _missing_message(field: str, error, rule: dict) -> str:
    missing = [k for k in error.validator_value if k not in error.instance]
    props = rule.get("properties", {})
    examples = "; ".join(f"{k}: {_flow(props[k]['examples'][0])}" for k in missing if props.get(k, {}).get("examples"))
    names = ", ".join(f"`{k}`" for k in missing)
    if field:
        return f"config field `{field}` has no {names}. Fix: add {'it' if len(missing) == 1 else 'them'}, e.g. {examples}"
    return (f"config has no {names}, so the experiment is undefined (a --configfile replaces config.yaml; it does "
            f"not add to it). Fix: add {'it' if len(missing) == 1 else 'them'}, e.g. {examples}; or give config.yaml "
            "first: --configfile config.yaml yours.yaml")


def _flow(value) -> str:
    return yaml.safe_dump(value, default_flow_style=True, sort_keys=False).strip().removesuffix("...").strip()


def _description(schema: dict, path) -> str | None:
    """The description of the deepest schema node along `path` that has one."""
    found, node = schema.get("description"), schema
    for part in path:
        if isinstance(part, int):
            node = node.get("items", {})
        elif part in node.get("properties", {}):
            node = node["properties"][part]
        elif isinstance(node.get("additionalProperties"), dict):
            node = node["additionalProperties"]
        else:
            break
        found = node.get("description", found)
    return found


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
    """The schema's defaults, inside per-name mappings too (datasets.<name>.imbalance...)."""

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


def _default(*path: str):
    """The schema's default of datasets.<any>.<path...>."""
    node = load_schema()["properties"]["datasets"]["additionalProperties"]
    for key in path:
        node = node["properties"][key]
    return node["default"]


# ----------------------------------------------------------------------------- what a schema cannot say


def check_device_here(config: dict, jobs_run_here: bool) -> None:
    """`train.device: cuda[:N]` when the jobs run on this machine and it has no such CUDA device: refused before
    any job (from the workflow's onstart, where Snakemake knows the executor), not as a traceback inside each job.
    A head node without a GPU submitting to a cluster executor (`jobs_run_here` False) is not refused."""
    device = str(config.get("train", {}).get("device", "auto"))
    if not jobs_run_here or not device.startswith("cuda"):
        return
    import torch  # only for a CUDA config: the check costs an import of torch

    index = int(device.split(":")[1]) if ":" in device else 0
    if torch.cuda.is_available() and index < torch.cuda.device_count():
        return
    have = f"{torch.cuda.device_count()} CUDA device(s)" if torch.cuda.is_available() else "no CUDA"
    _fail("train.device", device, f"the jobs run on this machine, which has {have}",
          "use 'auto' (CUDA where present, else CPU) or 'cpu', or submit the jobs to GPU nodes "
          "(`--profile profiles/slurm` with resources.gpu: true)")


def check_semantics(config: dict) -> None:
    _check_output_folders(config)
    _check_names(config)
    staged = _check_methods(config)
    _check_transfer(config, staged)
    _check_shot_thresholds(config)
    _warn_same_experiments(config)
    for name, spec in config["datasets"].items():
        counts = _check_dataset(name, spec, config)
        if counts is not None:
            _check_budget_steps(name, counts, config)


def _check_shot_thresholds(config: dict) -> None:
    shots = config.get("analysis", {}).get("shot_thresholds", {})
    if shots.get("few", 20) > shots.get("many", 100):
        _fail("analysis.shot_thresholds", shots, "few-shot classes (fewer than `few` images) would overlap the "
              "many-shot ones (more than `many`)", "make few <= many, e.g. {many: 100, few: 20}")


def resolve_method_params(label: str, entry: dict) -> dict:
    """The method's defaults overlaid with the config's values; unknown or invalid ones are errors.

    The method's name is the schema's enum (checked before); its parameters live in its class.
    """
    from .methods import method_class

    name = entry["method"]
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
            check_finite(value, ("methods", label, key))
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


def _check_methods(config: dict) -> list[str]:
    """Parameters resolved in place, a uniform baseline, warm-ups inside the smallest budget; the staged labels."""
    from .methods import method_class

    if not any(entry.get("method") == "uniform" for entry in config["methods"].values()):
        _fail("methods", sorted(config["methods"]), "no method is `uniform`, the baseline that speed-ups and "
              "differences are measured against", "add `uniform: {method: uniform}` to methods")
    smallest, epochs = min(config["budgets"]), config["train"]["epochs"]
    staged = []
    for label, entry in config["methods"].items():
        _check_label_is_no_other_method(label, entry["method"])
        entry.update(resolve_method_params(label, entry))
        if method_class(entry["method"]).staged:
            staged.append(label)
            if entry["warmup_epochs"] >= smallest * epochs:
                _fail(f"methods.{label}.warmup_epochs", entry["warmup_epochs"],
                      f"the smallest budget {smallest:g} gives only {smallest * epochs:g} epochs, so nothing is left "
                      "after warm-up", _warmup_fixes(entry["warmup_epochs"], smallest, epochs))
    return staged


def _warmup_fixes(warmup, smallest: float, epochs: int) -> str:
    """Only the fixes that exist: fewer warm-up epochs when one (>= 1) fits, a larger smallest budget when one
    (<= 1) fits, more epochs when the schema allows them."""
    fixes = []
    fewer = math.ceil(smallest * epochs) - 1
    if fewer >= 1:
        fixes.append(f"use fewer than {smallest * epochs:g} warm-up epochs")
    if warmup < epochs:
        fixes.append(f"make the smallest of `budgets` larger than {warmup / epochs:g}")
    more = math.floor(warmup / smallest) + 1
    if more <= _schema_max_epochs():
        fixes.append(f"set train.epochs to at least {more}")
    return ", or ".join(fixes) or "use a larger budget and more epochs"


def _check_label_is_no_other_method(label: str, method: str) -> None:
    """Tables and claims show the label: `uniform` as the label of the biased method would read as uniform."""
    from .methods import names

    if label in names() and label != method:
        _fail(f"methods.{label}", {"method": method}, f"the label {label!r} is the name of another method, so the "
              f"tables and claims would call the runs of method {method!r} {label!r}",
              f"rename the label, e.g. `{method}_{label}:` or `{method}:`")


def _check_transfer(config: dict, staged: list[str]) -> None:
    """importance_from must make transfer runs, whose labels `<label>_from_<model>` (grid.expand) are new."""
    source, models = config["importance_from"], config["models"]
    if not source:
        return
    if source not in models:
        _fail("importance_from", source, "this model is not in `models`, so it has no warm-up to take scores from",
              f"use one of {', '.join(models)} or leave it empty")
    if models == [source]:
        _fail("importance_from", source, "it is the only model in `models`, so no run takes its scores from "
              "another model and no transfer run is made", "add a second model to `models` (e.g. models: "
              f"[{', '.join(dict.fromkeys([*models, 'cnn', 'resnet18']))}]) or leave importance_from empty")
    if not staged:
        _fail("importance_from", source, "there is no staged method (biased, el2n_prune) to transfer scores to",
              "add a biased method or leave importance_from empty")
    for label in staged:
        made = f"{label}_from_{source}"
        if made in config["methods"]:
            _fail(f"methods.{made}", config["methods"][made].get("method"),
                  f"this label is also the label of the transfer runs of `{label}` scored by {source} "
                  f"(`<label>_from_<model>`), so two experiments would share one name",
                  f"rename the method, e.g. `{made.replace('_from_', '_with_')}`")


def _warn_same_experiments(config: dict) -> None:
    """Two labels for one experiment give twice the runs and the same numbers: legal (a determinism
    check), so only a warning."""
    for section in ("methods", "datasets"):
        seen: dict = {}
        for name, entry in config[section].items():
            key = json.dumps(entry, sort_keys=True)
            if key in seen:
                _warn(f"config `{section}.{name}` and `{section}.{seen[key]}` are the same settings, so their runs "
                      f"repeat one experiment; drop one unless that is what you want.")
            seen.setdefault(key, name)


def _check_dataset(name: str, spec: dict, config: dict) -> list[int] | None:
    """The dataset's settings and source; its training samples per class when knowable, else None."""
    field = f"datasets.{name}"
    _check_unused_settings(field, spec)
    before = _subset_counts(name, spec, _check_source(field, spec, config["models"]))
    imb = spec["imbalance"]
    counts = None if before is None else class_counts(before, imb["kind"], imb["ratio"], imb["step_fraction"])
    if counts is not None:
        _check_imbalance_effect(field, imb, before, counts)
        _check_noise_effect(field, spec, counts)
        if config["train"]["batch_size"] > sum(counts):
            _fail("train.batch_size", config["train"]["batch_size"], f"larger than the {sum(counts)} training images "
                  f"of dataset {name!r}", f"use a batch size of at most {sum(counts)}")
    return counts


def _check_variant_amount(field: str, kind: str, key: str, amount, neutral, no_change: str, kinds: str,
                          raise_it: str) -> None:
    """A dataset variant (imbalance, label noise) whose amount and kind disagree does nothing: refuse both ways."""
    name = field.rsplit(".", 1)[1]
    if kind == "none" and amount != neutral:
        _fail(f"{field}.{key}", amount, f"has no effect with {name} kind none",
              f"set {name}.kind to {kinds}, or drop the {key}")
    if kind != "none" and amount == neutral:
        _fail(f"{field}.{key}", amount, f"{name} kind {kind} with {key} {neutral:g} {no_change}",
              f"{raise_it}, or set kind none")


def _check_unused_settings(field: str, spec: dict) -> None:
    """A setting that acts only for another source or imbalance kind, changed from its default, does nothing."""
    for key, sources in SOURCE_KEYS.items():
        if spec["source"] not in sources and spec[key] != _default(key):
            _fail(f"{field}.{key}", spec[key], f"has no effect with source {spec['source']} (only with "
                  f"{', '.join(sources)})", f"drop it, or use source {sources[0]}")
    imb, noise = spec["imbalance"], spec["label_noise"]
    _check_variant_amount(f"{field}.imbalance", imb["kind"], "ratio", imb["ratio"], 1, "changes no class",
                          "long_tailed or step", "give a ratio above 1 (e.g. 10)")
    _check_variant_amount(f"{field}.label_noise", noise["kind"], "rate", noise["rate"], 0, "changes no label",
                          "symmetric or asymmetric", "give a rate above 0 (e.g. 0.2)")
    if imb["kind"] != "step" and imb["step_fraction"] != _default("imbalance", "step_fraction"):
        _fail(f"{field}.imbalance.step_fraction", imb["step_fraction"], f"has no effect with imbalance kind {imb['kind']}",
              "set imbalance.kind to step, or drop step_fraction")


def _check_source(field: str, spec: dict, models) -> list[int] | None:
    """The source's files, before any job: per-class training counts of an ImageFolder (data/inspect.py)."""
    source, root = spec["source"], spec["root"]
    if source == "imagefolder":
        from .data.inspect import DataError, check_source

        try:
            return check_source(root, models).train_counts()
        except DataError as e:
            raise ConfigError(f"config field `{field}.root` = {root!r}: {e}") from None
    if source in TORCHVISION and not spec["download"]:
        folder = TORCHVISION_FILES[source]
        if not os.path.exists(os.path.join(root, folder)):
            _fail(f"{field}.root", root, f"{folder} is not in this folder and download is false",
                  f"set {field}.download: true (needs network) or point root to the folder holding {folder}")
    return None


def estimated_train_counts(name: str, spec: dict, source_counts: list[int] | None = None) -> list[int] | None:
    """Training samples per class after subset and imbalance, when knowable without reading images.

    `source_counts`: an ImageFolder's training images per class (data.inspect.check_source).
    """
    counts = _subset_counts(name, spec, source_counts)
    if counts is None:
        return None
    imb = spec.get("imbalance", {})
    return class_counts(counts, imb.get("kind", "none"), float(imb.get("ratio", 1)), float(imb.get("step_fraction", 0.5)))


def _subset_counts(name: str, spec: dict, source_counts: list[int] | None) -> list[int] | None:
    """Training samples per class after the stratified subset, before any imbalance."""
    source = spec["source"]
    if source == "digits":
        total = sum(DIGITS_CLASS_COUNTS)
        test = math.ceil(spec.get("test_fraction", 0.2) * total)
        n_classes = len(DIGITS_CLASS_COUNTS)
        for split, n in (("test", test), ("training", total - test)):
            if n < n_classes:  # a stratified split then leaves a class without images
                _fail(f"datasets.{name}.test_fraction", spec["test_fraction"], f"leaves {n} {split} images of the "
                      f"{total}, fewer than the {n_classes} classes", f"use a test_fraction between "
                      f"{n_classes / total:.3g} and {1 - n_classes / total:.3g} (e.g. 0.2)")
        counts = stratified_subset_counts(DIGITS_CLASS_COUNTS, total - test)
    elif source in KNOWN_TRAIN_COUNTS:
        counts = KNOWN_TRAIN_COUNTS[source]
    elif source_counts is not None:
        counts = list(source_counts)
    else:
        return None
    if spec.get("train_subset"):
        if spec["train_subset"] < len(counts):
            _fail(f"datasets.{name}.train_subset", spec["train_subset"], f"fewer images than the {len(counts)} "
                  "classes of this source, so a class would have none", f"use at least {len(counts)}, or 0 for all")
        if spec["train_subset"] > sum(counts):
            _fail(f"datasets.{name}.train_subset", spec["train_subset"],
                  f"larger than the {sum(counts)} training images of this source", f"use at most {sum(counts)}, or 0 for all")
        counts = stratified_subset_counts(counts, spec["train_subset"])
    return counts


def _check_imbalance_effect(field: str, imb: dict, before: list[int], after: list[int]) -> None:
    """An imbalance must reduce some classes, not all, and leave none empty."""
    if imb["kind"] == "none":
        return
    n_classes = len(before)
    if imb["kind"] == "step":
        n_minor = round(imb["step_fraction"] * n_classes)
        if n_minor == 0:
            _fail(f"{field}.imbalance.step_fraction", imb["step_fraction"], f"round({imb['step_fraction']:g} x "
                  f"{n_classes} classes) = 0 classes are reduced, so the set stays balanced",
                  f"use a step_fraction of at least {1 / n_classes:g} (one class of {n_classes})")
        if n_minor == n_classes:
            _fail(f"{field}.imbalance.step_fraction", imb["step_fraction"], f"all {n_classes} classes are reduced, "
                  "so the set stays balanced, only smaller", f"use at most {(n_classes - 1) / n_classes:g} (e.g. 0.5); "
                  "train_subset makes a smaller balanced set")
    if after == before:
        _fail(f"{field}.imbalance", imb, f"changes no class count ({after}): every class already holds at most "
              "its target", "raise the ratio")
    if min(after) == 0:
        empty = [c for c, n in enumerate(after) if n == 0]
        _fail(f"{field}.imbalance", imb, f"leaves class index(es) {empty} with zero training samples (counts {after})",
              "lower the ratio or raise train_subset")


def _check_noise_effect(field: str, spec: dict, counts: list[int]) -> None:
    """Label noise must change at least one label (round(rate * n) can be 0 on a small set)."""
    noise = spec["label_noise"]
    if noise["kind"] == "none":
        return
    names = {"digits": DIGIT_CLASSES, "cifar10": CIFAR10_CLASSES}  # the asymmetric pairs depend on the class names
    classes = list(names.get(spec["source"], [str(-c) for c in range(1, len(counts) + 1)]))  # else c -> c+1 mod C
    if noisy_counts(counts, classes, noise["kind"], noise["rate"]) == 0:
        _fail(f"{field}.label_noise.rate", noise["rate"], f"makes round(rate x samples) = 0 of the {sum(counts)} "
              "training labels wrong", "raise the rate")


def _check_budget_steps(name: str, counts: list[int], config: dict) -> None:
    """Each budget at least one step, and no two budgets the same number of steps (then they are one experiment)."""
    from .training.schedule import budget_steps

    train, budgets = config["train"], config["budgets"]
    full = budget_steps(1.0, train["epochs"], sum(counts), train["batch_size"])[1]
    _check_eval_resolution(name, full, config)
    where = f"on dataset {name!r} (full schedule: {train['epochs']} epochs x {full // train['epochs']} steps = {full})"
    steps = {}
    for i, b in enumerate(budgets):
        if round(b * full) < 1:
            _fail(f"budgets[{i}]", b, f"gives round({b:g} x {full}) = 0 optimizer steps {where}",
                  f"use a budget of at least {1 / full:.3g}, or more epochs")
        n = budget_steps(b, train["epochs"], sum(counts), train["batch_size"])[0]
        if n in steps:
            _fail("budgets", budgets, f"budgets {steps[n]:g} and {b:g} both give {n} optimizer steps {where}, so "
                  "their runs are one experiment under two names", "drop one, or use more train.epochs for finer budgets")
        steps[n] = b


# ----------------------------------------------------------------------------- where outputs go, names, resolution

CHECKOUT = Path(__file__).resolve().parents[2]
CODE_FOLDERS = ("src", "workflow", "profiles", "tests", "config", ".git", ".venv")  # of the checkout
RESULT_FOLDERS = ("runs", "warmups", "data", "summary", "logs", "benchmarks", "stale")  # grid.py, the rules
MAX_NAME = 100  # characters of a dataset or method name: it is a folder and a file name (255 bytes at most)


def _schema_max_epochs() -> float:
    return load_schema()["properties"]["train"]["properties"]["epochs"].get("maximum", math.inf)


def _check_output_folders(config: dict) -> None:
    """Outputs go to folders of their own: not the root, not the code (every run would be marked dirty, and a
    clean-up of outputs would delete code), not a folder that holds the checkout, not the other output's folder."""
    out = config["output"]
    where = {key: Path(os.path.abspath(out[key])).resolve() for key in ("results", "figures")}
    checkout = CHECKOUT if (CHECKOUT / "src" / "sample_importance").is_dir() else None
    for key, path in where.items():
        field, value = f"output.{key}", out[key]
        if path == Path(path.anchor):
            _fail(field, value, f"resolves to the file system's root {path}", f"name a folder of its own, e.g. {key}")
        if checkout and (path == checkout or path in checkout.parents):
            _fail(field, value, f"resolves to {path}, which holds this workflow's code ({checkout})",
                  f"name a folder of its own, e.g. {key} (inside the checkout) or a folder elsewhere")
        for code in CODE_FOLDERS if checkout else ():
            if path == checkout / code or checkout / code in path.parents:
                _fail(field, value, f"resolves to {path}, inside the checkout's {code}/ folder (code, not outputs)",
                      f"use a folder outside {code}/, e.g. {key}")
    results, figures = where["results"], where["figures"]
    if results == figures:
        _fail("output.figures", out["figures"], f"is the results folder {results}",
              "give the figures a folder of their own, e.g. figures")
    if results in figures.parents:
        inner = figures.relative_to(results).parts[0]
        if inner in RESULT_FOLDERS:
            _fail("output.figures", out["figures"], f"lies in {inner}/ of the results folder, which the workflow "
                  "fills itself", f"use another folder, e.g. figures or {out['results'].rstrip('/')}/figures")
    if figures in results.parents:
        _fail("output.results", out["results"], f"lies inside the figures folder {figures}",
              "give the results a folder of their own, e.g. results")


def _check_names(config: dict) -> None:
    """Dataset and method names are folder and file names; a long one fails deep in a job (File name too long)."""
    for section in ("datasets", "methods"):
        for name in config[section]:
            if len(name) > MAX_NAME:
                _fail(f"{section}.{name[:20]}...", name[:40] + "...", f"a name of {len(name)} characters; it names "
                      "folders and files, which hold at most 255 bytes with what the workflow adds",
                      f"use a name of at most {MAX_NAME} characters")


def _check_eval_resolution(name: str, full: int, config: dict) -> None:
    """Iterations-to-target are known only to the evaluation spacing; a speedup of the declared margin must move
    the first evaluation that crosses the target, or every speedup reads as about 1.0."""
    every = config["train"]["eval_every"]
    ratio = config.get("analysis", {}).get("margins", {}).get("speedup_ratio", 0.9)
    finest = math.floor((1 - ratio) * full)  # a 1/ratio change of a run that reaches the target at its end
    if every <= finest:
        return
    evaluations = full // every
    fix = (f"set train.eval_every to at most {finest}" if finest >= 1
           else "use more train.epochs (or a smaller batch_size) so that runs have more iterations")
    _warn(f"config field `train.eval_every` = {every}: the full schedule on dataset {name!r} has {full} iterations, "
          f"so a run is evaluated {evaluations} time(s) before its end; iterations-to-target are then known only to "
          f"within {every} iterations, too coarse to resolve the speedup margin analysis.margins.speedup_ratio = "
          f"{ratio:g} (that needs evaluations at most (1 - {ratio:g}) x {full} = {(1 - ratio) * full:.3g} iterations "
          f"apart): the speedups will mostly read 1.0. Fix: {fix}, or lower analysis.margins.speedup_ratio.")

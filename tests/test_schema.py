"""The JSON schema says what a schema can say, and its lists cannot drift from the code's registries.

Each enum of workflow/schemas/config.schema.yaml is compared with the registry the
code dispatches on; every key is described, every optional key has a default that
itself passes the schema, and every mapping refuses unknown keys.
"""

from __future__ import annotations

import copy
import itertools

import pytest
from jsonschema import Draft202012Validator

from sample_importance.config import PRECISIONS, ConfigError, load_schema, validate

SCHEMA = load_schema()
PROPS = SCHEMA["properties"]
DATASET = PROPS["datasets"]["additionalProperties"]
METHOD = PROPS["methods"]["additionalProperties"]
AUGMENTATION_ANY_OF = PROPS["augmentations"]["items"]["anyOf"]


def registries():
    from sample_importance.data.datasets import SOURCES
    from sample_importance.data.imbalance import KINDS
    from sample_importance.data.noise import KINDS as NOISE_KINDS
    from sample_importance.methods import REGISTRY
    from sample_importance.methods.importance import METRICS
    from sample_importance.training.augment import names as augmentation_names
    from sample_importance.training.models import MODELS
    from sample_importance.training.schedule import SCHEDULES

    return {
        "datasets.<name>.source": (DATASET["properties"]["source"]["enum"], SOURCES),
        "datasets.<name>.imbalance.kind": (DATASET["properties"]["imbalance"]["properties"]["kind"]["enum"], KINDS),
        "datasets.<name>.label_noise.kind": (DATASET["properties"]["label_noise"]["properties"]["kind"]["enum"],
                                             NOISE_KINDS),
        "models[]": (PROPS["models"]["items"]["enum"], MODELS),
        "methods.<label>.method": (METHOD["properties"]["method"]["enum"], list(REGISTRY)),
        "methods.<label>.metric": (METHOD["properties"]["metric"]["enum"], list(METRICS)),
        "augmentations[]": (AUGMENTATION_ANY_OF[0]["enum"], augmentation_names()),
        "train.schedule": (PROPS["train"]["properties"]["schedule"]["enum"], SCHEDULES),
        "train.precision": (PROPS["train"]["properties"]["precision"]["enum"], PRECISIONS),
    }


def test_schema_is_a_valid_draft_2020_12_schema():
    Draft202012Validator.check_schema(SCHEMA)


@pytest.mark.parametrize("field", list(registries()))
def test_each_enum_equals_the_code_registry(field):
    """Adding a model, method, augmentation, ... to the code without the schema (or back) fails here."""
    enum, registry = registries()[field]
    assert sorted(enum) == sorted(registry), f"schema enum of {field} differs from the code: {enum} vs {registry}"
    assert len(set(enum)) == len(enum)


def test_biased_metric_choices_are_the_schema_enum():
    from sample_importance.methods import method_class

    assert sorted(method_class("biased").choices["metric"]) == sorted(METHOD["properties"]["metric"]["enum"])


def test_augmentation_pattern_accepts_exactly_what_the_code_builds():
    """randaugment_n<N>_m<M> names (augment.is_known) are the schema's second branch."""
    from sample_importance.training.augment import is_known

    validator = Draft202012Validator(PROPS["augmentations"]["items"])
    names = [f"randaugment_n{n}_m{m}" for n, m in itertools.product(range(0, 13), range(0, 41))]
    names += ["randaugment_n02_m04", "randaugment_n1_m", "randaugment_n_m3", "randaugment_n1_m3x", "flip", "RandAugment"]
    disagree = [n for n in names if validator.is_valid(n) != is_known(n)]
    assert not disagree, disagree
    assert validator.is_valid("randaugment_n1_m9") and not validator.is_valid("randaugment_n0_m9")
    assert not validator.is_valid("randaugment_n2_m31")


def walk(schema, path=""):
    """(dotted path, schema, required by its parent) of every key the schema declares."""
    for key, sub in schema.get("properties", {}).items():
        where = f"{path}.{key}" if path else key
        yield where, sub, key in schema.get("required", ())
        yield from walk(sub, where)
    if isinstance(schema.get("additionalProperties"), dict):
        yield from walk(schema["additionalProperties"], f"{path}.<name>")
    if isinstance(schema.get("items"), dict):
        yield from walk(schema["items"], f"{path}[]")


KEYS = list(walk(SCHEMA))


def test_the_walk_sees_every_section():
    paths = {p for p, _, _ in KEYS}
    assert {"output.results", "datasets.<name>.imbalance.step_fraction", "methods.<name>.metric", "train.epochs",
            "importance_from", "resources.mem_mb", "analysis.speedup_target_fraction"} <= paths


@pytest.mark.parametrize("path, sub, required", KEYS, ids=[p for p, _, _ in KEYS])
def test_every_key_has_a_description_and_a_default_or_examples(path, sub, required):
    """Optional keys have a default; required ones have examples instead (a default would never apply).
    A method's parameters (metric) default to the method's own defaults (`python -m sample_importance methods`)."""
    assert sub.get("description", "").strip(), f"{path} has no description"
    if required:
        assert "default" not in sub and sub.get("examples"), f"required {path}: examples, no default"
    elif not path.startswith("methods.<name>."):
        assert "default" in sub, f"{path} has no default"


@pytest.mark.parametrize("path, sub, required", KEYS, ids=[p for p, _, _ in KEYS])
def test_every_default_and_example_passes_its_own_rule(path, sub, required):
    validator = Draft202012Validator(sub)
    for value in ([sub["default"]] if "default" in sub else []) + sub.get("examples", []):
        assert validator.is_valid(value), f"{path}: {value!r} breaks its own schema"


def objects(schema, path="(top level)"):
    if schema.get("type") == "object":
        yield path, schema
    for key, sub in schema.get("properties", {}).items():
        yield from objects(sub, key if path == "(top level)" else f"{path}.{key}")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from objects(schema["additionalProperties"], f"{path}.<name>")


def test_every_mapping_refuses_unknown_keys():
    """additionalProperties false, or a schema for name -> settings maps. The only open mapping is a
    method's entry: its other keys are that method's parameters, checked against the method's defaults."""
    open_ = [path for path, sch in objects(SCHEMA) if "additionalProperties" not in sch]
    assert open_ == ["methods.<name>"], open_


@pytest.mark.parametrize("place, rule, value", [
    (("budgets",), "exclusiveMinimum", [0.0]),
    (("budgets",), "maximum", [1.5]),
    (("budgets",), "uniqueItems", [0.5, 0.5]),
    (("seeds",), "minimum", [-1]),
    (("seeds",), "uniqueItems", [0, 0]),
    (("models",), "uniqueItems", ["cnn", "cnn"]),
    (("augmentations",), "uniqueItems", ["crop", "crop"]),
    (("datasets", "digits", "imbalance", "ratio"), "minimum", 0.5),
    (("datasets", "digits", "imbalance", "step_fraction"), "exclusiveMinimum", 0.0),
    (("train", "device"), "pattern", "gpu"),
])
def test_bounds_the_schema_states_are_enforced_by_the_schema(tiny_config, place, rule, value):
    """The range checks live in the schema (not in config.py): the error comes from that schema rule."""
    from jsonschema.exceptions import relevance

    config = tiny_config()
    node = config
    for key in place[:-1]:
        node = node.setdefault(key, {})
    node[place[-1]] = value
    errors = list(Draft202012Validator(SCHEMA).iter_errors(copy.deepcopy(config)))
    assert max(errors, key=relevance).validator == rule
    with pytest.raises(ConfigError, match=r"Fix:"):
        validate(config)

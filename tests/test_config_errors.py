"""Bad configs are rejected before any job runs, with the field, the value and the fix in the message.

Each case mutates the tiny valid config in one place and asserts the parts of
the message a user needs: which field, which value, and what to write instead.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from sample_importance.config import ConfigError, validate

REPO = Path(__file__).resolve().parents[1]


def rejected(config: dict) -> str:
    with pytest.raises(ConfigError) as info:
        validate(config)
    message = str(info.value)
    assert "Fix:" in message, message
    return message


def test_tiny_config_is_valid(tiny_config):
    config = validate(tiny_config())
    assert config["train"]["checkpoint_every"] == 0  # defaults filled in
    assert config["datasets"]["digits"]["imbalance"]["kind"] == "none"


def test_unknown_method_lists_valid_names(tiny_config):
    config = tiny_config()
    config["methods"]["mine"] = {"method": "unifrom"}
    message = rejected(config)
    assert "`methods.mine.method` = 'unifrom'" in message
    assert "uniform" in message and "biased" in message


def test_unknown_dataset_source_lists_valid_names(tiny_config):
    config = tiny_config()
    config["datasets"]["digits"]["source"] = "mnist"
    message = rejected(config)
    assert "`datasets.digits.source` = 'mnist'" in message
    assert all(name in message for name in ("digits", "cifar10", "cifar100", "imagefolder"))


def test_unknown_model_lists_valid_names(tiny_config):
    config = tiny_config()
    config["models"] = ["cnn", "resnet99"]
    message = rejected(config)
    assert "`models[1]` = 'resnet99'" in message and "cnn" in message and "resnet18" in message


def test_unknown_augmentation_lists_valid_names(tiny_config):
    config = tiny_config()
    config["augmentations"] = ["flip"]
    message = rejected(config)
    assert "`augmentations[0]` = 'flip'" in message and "crop" in message and "none" in message


def test_unknown_importance_metric_lists_valid_names(tiny_config):
    config = tiny_config()
    config["methods"]["biased"]["metric"] = "entropy"
    message = rejected(config)
    assert "`methods.biased.metric` = 'entropy'" in message
    assert all(name in message for name in ("one_minus_p", "loss", "el2n", "forgetting"))


@pytest.mark.parametrize("budget", [0, -0.5, 1.5])
def test_budget_outside_zero_one(tiny_config, budget):
    config = tiny_config()
    config["budgets"] = [1.0, budget]
    message = rejected(config)
    assert f"`budgets[1]` = {budget!r}" in message and "(0, 1]" in message


def test_warmup_not_shorter_than_smallest_budget(tiny_config):
    config = tiny_config()
    config["train"]["epochs"] = 10
    config["budgets"] = [0.3, 1.0]  # 3 epochs in the smallest budget
    config["methods"]["biased"]["warmup_epochs"] = 3
    message = rejected(config)
    assert "`methods.biased.warmup_epochs` = 3" in message
    assert "smallest budget 0.3 gives only 3 epochs" in message and "fewer than 3 warm-up epochs" in message


def test_imbalance_ratio_below_one(tiny_config):
    config = tiny_config()
    config["datasets"]["digits"]["imbalance"] = {"kind": "long_tailed", "ratio": 0.5}
    message = rejected(config)
    assert "`datasets.digits.imbalance.ratio` = 0.5" in message and "below 1" in message


def test_imbalance_leaving_a_class_empty(tiny_config):
    config = tiny_config()
    config["datasets"]["digits"]["imbalance"] = {"kind": "long_tailed", "ratio": 1000}
    message = rejected(config)
    assert "`datasets.digits.imbalance`" in message and "'ratio': 1000" in message
    assert "[7, 8, 9] with zero training samples" in message and "lower the ratio" in message


def test_batch_size_larger_than_imbalanced_training_set(tiny_config):
    config = tiny_config()
    config["datasets"]["digits"]["imbalance"] = {"kind": "long_tailed", "ratio": 10}
    config["train"]["batch_size"] = 1000  # digits has 1,437 training images, 588 once long-tailed
    message = rejected(config)
    assert "`train.batch_size` = 1000" in message and "588 training images" in message and "at most 588" in message


@pytest.mark.parametrize("seeds, field", [([0, -1], "`seeds[1]` = -1"), ([0, 1, 0], "`seeds` = [0, 1, 0]")])
def test_negative_or_duplicate_seeds(tiny_config, seeds, field):
    config = tiny_config()
    config["seeds"] = seeds
    assert field in rejected(config)


def test_missing_imagefolder_path(tiny_config, tmp_path):
    config = tiny_config()
    missing = str(tmp_path / "nowhere.tar.gz")
    config["datasets"]["mine"] = {"source": "imagefolder", "root": missing}
    message = rejected(config)
    assert f"`datasets.mine.root` = {missing!r}" in message and "does not exist" in message


def test_imagefolder_root_without_splits_or_not_an_archive(tiny_config, tmp_path):
    (tmp_path / "tree" / "train" / "a").mkdir(parents=True)
    config = tiny_config()
    config["datasets"]["mine"] = {"source": "imagefolder", "root": str(tmp_path / "tree")}
    assert "has no test/ folder" in rejected(config)
    (tmp_path / "notes.tar.gz").write_text("not an archive")
    config = tiny_config()
    config["datasets"]["mine"] = {"source": "imagefolder", "root": str(tmp_path / "notes.tar.gz")}
    assert "not a tar archive" in rejected(config)
    with tarfile.open(tmp_path / "ok.tar.gz", "w:gz"):
        pass  # a valid (empty) archive passes the config check; prepare_data judges its content
    config = tiny_config()
    config["datasets"]["mine"] = {"source": "imagefolder", "root": str(tmp_path / "ok.tar.gz")}
    validate(config)


def test_typo_at_top_level_suggests_closest_key(tiny_config):
    config = tiny_config()
    config["budget"] = config.pop("budgets")
    message = rejected(config)
    assert "`budget` is not a known key" in message and "Did you mean 'budgets'?" in message


@pytest.mark.parametrize("where, typo, suggestion", [
    (("train",), "epoch", "epochs"),
    (("datasets", "digits"), "imbalence", "imbalance"),
    (("methods", "biased"), "warmup_epoch", "warmup_epochs"),
])
def test_nested_typo_suggests_closest_key(tiny_config, where, typo, suggestion):
    config = tiny_config()
    node = config
    for key in where:
        node = node[key]
    node[typo] = 1
    message = rejected(config)
    assert f"`{'.'.join(where)}.{typo}`" in message and f"Did you mean {suggestion!r}?" in message


def test_schema_type_error_names_field_value_and_rule(tiny_config):
    config = tiny_config()
    config["train"]["lr"] = "fast"
    message = rejected(config)
    assert "`train.lr` = 'fast'" in message and "not of type 'number'" in message and "Peak learning rate" in message


def test_snakemake_dry_run_fails_before_any_job_with_the_message(tiny_config, tmp_path):
    config = tiny_config()
    config["models"] = ["resnet99"]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    snakemake = Path(sys.executable).with_name("snakemake")
    result = subprocess.run(
        [str(snakemake), "-n", "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path / "work"),
         "--configfile", str(path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120,
    )
    assert result.returncode != 0
    # snakemake prints the WorkflowError (to stdout) as: header, our one-line message, one traceback line
    tail = result.stdout.strip().splitlines()[-3:]
    assert any("`models[0]` = 'resnet99': unknown model. Fix: use one of cnn" in line for line in tail), result.stdout
    assert not re.search(r"^(rule|localrule) |^Job stats", result.stdout, re.M)  # no job was scheduled
    assert not (tmp_path / "results").exists()


def test_invalid_method_parameter_value_is_rejected_before_any_job(tiny_config):
    config = tiny_config()
    config["methods"]["prune"] = {"method": "el2n_prune", "warmup_epochs": 1, "keep": 1.5}
    message = rejected(config)
    assert "`methods.prune`" in message and "keep must be in (0, 1]" in message and "Fix:" in message


@pytest.mark.parametrize("params,expected", [
    ({"smoothing": -0.5}, "biased.smoothing must be >= 0"),
    ({"rescore_every": -1}, "biased.rescore_every must be a whole number >= 0"),
    ({"rescore_every": 1.5}, "biased.rescore_every must be a whole number >= 0"),
])
def test_invalid_biased_parameter_is_rejected_before_any_job(tiny_config, params, expected):
    """A negative smoothing gives negative draw probabilities: it used to fail only after the warm-up."""
    config = tiny_config()
    config["methods"]["bias"] = {"method": "biased", "warmup_epochs": 1, **params}
    message = rejected(config)
    assert "`methods.bias`" in message and expected in message


def test_numbers_written_differently_give_the_same_runs(tiny_config):
    """Run ids hash the settings: 1 vs 1.0, '5e-2' (text to YAML 1.1) vs 0.05, and validating twice agree."""
    import copy

    from sample_importance.grid import expand

    plain = validate(tiny_config())
    spelled = tiny_config()
    spelled["budgets"] = [int(b) if float(b).is_integer() else str(b) for b in spelled["budgets"]]
    spelled["train"]["lr"] = f"{spelled['train']['lr']:e}"
    spelled["seeds"] = [str(s) for s in spelled["seeds"]]
    ids = sorted(expand(plain).runs)
    assert sorted(expand(validate(spelled)).runs) == ids
    assert sorted(expand(validate(copy.deepcopy(plain))).runs) == ids  # idempotent


@pytest.mark.parametrize("config,expected", [(None, "config is empty"), ([1, 2], "config is a list")])
def test_a_config_that_is_not_a_mapping_is_rejected(config, expected):
    message = rejected(config)
    assert expected in message and "config.yaml" in message


def test_a_partial_config_alone_warns_that_paper_defaults_fill_it(capsys):
    validate({"budgets": [0.5], "seeds": [0]})
    err = capsys.readouterr().err
    assert "warning: the config has no datasets, models, methods, train" in err and "train.epochs 200" in err


@pytest.mark.parametrize("mutate,field,expected", [
    (lambda c: c.update(methods={"bias": {"method": "biased", "warmup_epochs": 1}}), "`methods`", "no method is `uniform`"),
    (lambda c: c["output"].update(results="my results"), "`output.results`", "does not match"),
    (lambda c: c["output"].update(results="/"), "`output.results`", "does not match"),
    (lambda c: c["datasets"]["digits"].update(imbalance={"kind": "none", "ratio": 10}), "`datasets.digits.imbalance.ratio`",
     "has no effect with imbalance kind none"),
    (lambda c: c["datasets"]["digits"].update(train_subset=100000), "`datasets.digits.train_subset`",
     "larger than the 1437 training images"),
])
def test_more_mistakes_that_used_to_fail_late(tiny_config, mutate, field, expected):
    """Each passed the check before and failed in a job, or broke a shell line, or did nothing silently."""
    config = tiny_config()
    mutate(config)
    message = rejected(config)
    assert field in message and expected in message, message


def test_a_run_folder_outside_the_grid_is_named_with_the_fix(tiny_config, tmp_path):
    """E.g. a folder from an older config, whose hash no longer matches: a plain message, not a KeyError."""
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(tiny_config()))
    snakemake = Path(sys.executable).with_name("snakemake")
    target = str(tmp_path / "results/runs/uniform/uniform/digits/cnn/crop/b1-s0-deadbeef/run.json")
    result = subprocess.run(
        [str(snakemake), "-n", "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path / "work"), target,
         "--configfile", str(path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120,
    )
    assert result.returncode != 0
    assert "'uniform/digits/cnn/crop/b1-s0-deadbeef' is not a run of this config" in result.stdout, result.stdout
    assert "python -m sample_importance runs" in result.stdout

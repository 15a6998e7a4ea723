"""Bad configs are rejected before any job runs, with the field (or file), the value and the fix in the message.

Each case mutates the tiny valid config (or writes a small YAML file) in one place and
asserts the parts of the message a user needs: which field or file, which value, and
what to write instead; and that nothing was written. `check-config` and the Snakefile
call the same function, `config.check_config`; two subprocess tests show it end to end.
"""

from __future__ import annotations

import copy
import re
import subprocess
import sys
import tarfile
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from sample_importance.config import ConfigError, check_config, validate, workflow_config_files

from conftest import REPO


@pytest.fixture(autouse=True)
def no_archive_memo(tmp_path, monkeypatch):
    """data.inspect remembers archive listings in the user's cache; keep tests off it."""
    monkeypatch.setenv("SAMPLE_IMPORTANCE_CACHE", str(tmp_path / "memo"))


def outputs(tmp_path: Path) -> list[str]:
    """What a check left behind under tmp_path, besides the inputs a test wrote (*.yaml, data/, memo/)."""
    return sorted(p.name for p in tmp_path.iterdir() if p.suffix != ".yaml" and p.name not in ("data", "memo"))


def rejected(config, tmp_path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        validate(config)
    message = str(info.value)
    assert "Fix:" in message and "\n" not in message, message
    assert outputs(tmp_path) == []
    return message


def rejected_file(tmp_path: Path, text: str | bytes, name: str = "bad.yaml") -> tuple[str, Path]:
    path = tmp_path / name
    path.write_bytes(text) if isinstance(text, bytes) else path.write_text(text)
    with pytest.raises(ConfigError) as info:
        check_config([path])
    message = str(info.value)
    assert "Fix:" in message and "\n" not in message, message
    assert outputs(tmp_path) == []
    return message, path


def tiny_yaml(tiny_config, **changes) -> str:
    return yaml.safe_dump({**tiny_config(), **changes}, sort_keys=False)


# ----------------------------------------------------------------------------- valid configs


def test_tiny_config_is_valid(tiny_config):
    config = validate(tiny_config())
    assert config["train"]["checkpoint_every"] == 0  # defaults filled in
    assert config["datasets"]["digits"]["imbalance"]["kind"] == "none"


@pytest.mark.parametrize("files", [["config.yaml"], ["config/paper.yaml"], ["config.yaml", "config/methods-digits.yaml"]])
def test_the_repository_configs_are_valid(files, monkeypatch):
    monkeypatch.chdir(REPO)
    config = check_config(files)
    assert config["methods"]["uniform"] == {"method": "uniform"}
    if len(files) == 2:  # merged as Snakemake merges --configfile files: methods added, output replaced
        first, second = (yaml.safe_load((REPO / f).read_text()) for f in files)
        assert list(config["methods"]) == list({**first["methods"], **second["methods"]})
        assert config["output"] == second["output"] and config["datasets"].keys() == first["datasets"].keys()


def test_numbers_written_differently_give_the_same_runs(tiny_config):
    """Run ids hash the settings: 1 vs 1.0, '5e-2' (text to YAML 1.1) vs 0.05, and validating twice agree."""
    from sample_importance.grid import expand

    plain = validate(tiny_config())
    spelled = tiny_config()
    spelled["budgets"] = [int(b) if float(b).is_integer() else str(b) for b in spelled["budgets"]]
    spelled["train"]["lr"] = f"{spelled['train']['lr']:e}"
    spelled["seeds"] = [str(s) for s in spelled["seeds"]]
    ids = sorted(expand(plain).runs)
    assert sorted(expand(validate(spelled)).runs) == ids
    assert sorted(expand(validate(copy.deepcopy(plain))).runs) == ids  # idempotent


# ----------------------------------------------------------------------------- one path for CLI and Snakefile


def test_check_config_and_snakemake_give_the_same_message(tiny_config, tmp_path, run_cli):
    """A results path with `{` used to pass check-config and break Snakemake with a traceback."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(tiny_yaml(tiny_config, output={"results": "res{x}", "figures": "figs"}))
    cli = run_cli("check-config", bad, cwd=tmp_path)
    assert cli.returncode != 0 and cli.stdout == ""
    [line] = cli.stderr.strip().splitlines()  # one line, no traceback
    message = line.removeprefix("error: ")
    assert message.startswith("config field `output.results` = 'res{x}': does not match") and "letters, digits" in message
    snakemake = Path(sys.executable).with_name("snakemake")
    result = subprocess.run(
        [str(snakemake), "-n", "--cores", "1", "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path / "work"),
         "--configfile", str(bad)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120,
    )
    assert result.returncode != 0
    assert message in result.stdout.splitlines(), result.stdout
    assert not re.search(r"^(rule|localrule) |^Job stats", result.stdout, re.M)  # no job was scheduled
    assert outputs(tmp_path) == ["work"] and not list((tmp_path / "work").glob("res*"))


def workflow_like(files, replace=True, declared=("config.yaml",), overwrite=True):
    """The attributes of Snakemake's `workflow` that common.smk hands to workflow_config_files."""
    settings = SimpleNamespace(configfiles=[Path(f) for f in files], overwrite_config={"x": 1} if overwrite else {},
                               replace_workflow_config=replace)
    return SimpleNamespace(config_settings=settings, configfiles=[*settings.configfiles, *declared])


def test_the_files_snakemake_merged_are_the_ones_checked():
    assert workflow_config_files(workflow_like(["/a.yaml", "/b.yaml"])) == ["/a.yaml", "/b.yaml"]
    assert workflow_config_files(workflow_like(["/a.yaml"], replace=False)) == ["config.yaml", "/a.yaml"]
    assert workflow_config_files(workflow_like([], overwrite=False)) == ["config.yaml"]


@pytest.mark.parametrize("text", [
    "budgets: [1.0]\nbudgets: [0.5]\n",                 # duplicate key: Snakemake's reader keeps the last
    "datasets:\n  1: {source: digits}\n",               # a number as a name
])
def test_the_snakefile_path_and_check_config_give_the_same_message(tiny_config, tmp_path, text):
    """common.smk calls check_config(files, config): the files are read again, so what Snakemake's reader
    loses (a duplicate key) is refused with the same message as check-config's."""
    good = yaml.safe_dump({k: v for k, v in tiny_config().items() if k not in ("budgets", "datasets")})
    message, path = rejected_file(tmp_path, good + text)
    snakemakes_config = yaml.safe_load(path.read_text())  # what Snakemake hands the Snakefile
    with pytest.raises(ConfigError) as info:
        check_config(workflow_config_files(workflow_like([path])), snakemakes_config)
    assert str(info.value) == message


# ----------------------------------------------------------------------------- the config file itself


@pytest.mark.parametrize("make, expected", [
    (lambda d: d / "missing.yaml", "missing.yaml does not exist"),
    (lambda d: d, "is a folder"),
    (lambda d: (d / "cfg.bin").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff") and d / "cfg.bin", "is not text"),
    (lambda d: (d / "t.yaml").write_text("train:\n\tepochs: 3\n") and d / "t.yaml", "t.yaml, line 2, column 1: not valid YAML"),
    (lambda d: (d / "l.yaml").write_text("- datasets\n- models\n") and d / "l.yaml", "holds a list at its top level"),
])
def test_a_config_path_that_is_no_config_file_is_one_line(tmp_path, make, expected):
    path = make(tmp_path)
    with pytest.raises(ConfigError) as info:
        check_config([path])
    message = str(info.value)
    assert expected in message and "Fix:" in message and "\n" not in message, message
    assert not (tmp_path / "results").exists()


def test_the_cli_names_a_missing_config_file_in_one_line(tmp_path, run_cli):
    result = run_cli("check-config", tmp_path / "nowhere.yaml", cwd=tmp_path)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        f"error: config file {tmp_path / 'nowhere.yaml'} does not exist (relative paths start at {tmp_path}). "
        "Fix: give the path of a YAML config file such as config.yaml."]


def test_an_empty_config_file_is_refused_not_filled_with_paper_defaults(tmp_path):
    message, path = rejected_file(tmp_path, "# nothing yet\n")
    assert message.startswith(f"config file {path} is empty")
    assert "datasets, models, methods, budgets, seeds, train" in message


@pytest.mark.parametrize("text, expected", [
    ("{}\n", "config has no `datasets`, `models`, `methods`, `budgets`, `seeds`, `train`"),
    ("budgets: [0.5]\nseeds: [0]\n", "config has no `datasets`, `models`, `methods`, `train`"),
])
def test_a_near_empty_config_names_what_is_missing(tmp_path, text, expected):
    """With replace-workflow-config a --configfile replaces config.yaml: no defaults fill a missing section."""
    message, _ = rejected_file(tmp_path, text)
    assert message.startswith(expected), message
    assert "datasets: {digits: {source: digits}}" in message and "--configfile config.yaml yours.yaml" in message


def test_a_train_section_without_epochs_is_refused(tiny_config, tmp_path):
    """The schema's default of 200 epochs would silently make a laptop config paper-sized."""
    config = tiny_config()
    del config["train"]["epochs"]
    message = rejected(config, tmp_path)
    assert message.startswith("config field `train` has no `epochs`. Fix: add it, e.g. epochs: 30")


@pytest.mark.parametrize("text, line, expected", [
    ("seeds: [0]\nseeds: [1]\n", 2, "the key `seeds` is given twice in one mapping (first on line 1)"),
    ("methods:\n  a: {method: uniform}\n  a: {method: biased}\n", 3, "the key `a` is given twice in one mapping (first on line 2)"),
])
def test_a_key_given_twice_names_key_file_and_line(tmp_path, text, line, expected):
    message, path = rejected_file(tmp_path, text)
    assert message.startswith(f"config file {path}, line {line}: {expected}") and "Fix: keep one of them" in message


@pytest.mark.parametrize("key, kind", [("no", "the boolean"), ("on", "the boolean"), ("yes", "the boolean"),
                                       ("1", "the number"), ("2.5", "the number"), ("null", "null")])
def test_a_label_yaml_reads_as_a_boolean_or_number_is_refused(tiny_config, tmp_path, key, kind):
    text = tiny_yaml(tiny_config).replace("  biased:", f"  {key}:")
    message, path = rejected_file(tmp_path, text)
    line = text.splitlines().index(f"  {key}:") + 1
    assert message.startswith(f"config file {path}, line {line}: the key {key} is read by YAML as {kind}")
    assert f"Fix: quote it: '{key}':" in message


def test_a_non_string_key_in_a_config_dict_is_refused(tiny_config, tmp_path):
    """From `--config` or Python: an integer dataset name used to pass check-config and fail in Snakemake."""
    config = tiny_config()
    config["datasets"][1] = config["datasets"].pop("digits")
    message = rejected(config, tmp_path)
    assert message.startswith("config key 1 under `datasets` is the number 1, not a name") and "'1':" in message


# ----------------------------------------------------------------------------- numbers and paths


@pytest.mark.parametrize("place, value", [
    (("train", "lr"), float("nan")),
    (("train", "momentum"), float("nan")),
    (("train", "weight_decay"), float("inf")),
    (("budgets", 0), float("nan")),
    (("datasets", "digits", "imbalance"), {"kind": "long_tailed", "ratio": float("inf")}),
    (("methods", "biased", "smoothing"), "nan"),
    (("analysis", "speedup_target_fraction"), float("nan")),
    (("resources", "minutes_per_epoch"), float("-inf")),
])
def test_non_finite_numbers_are_refused_in_every_numeric_field(tiny_config, tmp_path, place, value):
    """NaN passes every JSON-schema bound (each comparison is false); infinity passes `minimum`."""
    config = tiny_config()
    node = config
    for key in place[:-1]:
        node = node.setdefault(key, {})
    node[place[-1]] = value
    message = rejected(config, tmp_path)
    field = ".".join(str(p) for p in place).replace(".0", "[0]")
    if isinstance(value, dict):
        field += ".ratio"
    assert message.startswith(f"config field `{field}` = ") and "not a finite number" in message, message
    assert "Fix: write a finite number" in message


def test_nan_written_in_a_yaml_file_is_refused(tiny_config, tmp_path):
    message, _ = rejected_file(tmp_path, tiny_yaml(tiny_config).replace("lr: 0.05", "lr: .nan"))
    assert message.startswith("config field `train.lr` = nan: not a finite number")


@pytest.mark.parametrize("folder, path", [("results", "res{x}"), ("results", "my results"), ("figures", "it's"),
                                          ("figures", "figs/*"), ("results", "r[1]"), ("results", "/"),
                                          ("figures", 'a"b'), ("results", "a?b")])
def test_output_folders_only_take_path_and_wildcard_safe_characters(tiny_config, tmp_path, folder, path):
    config = tiny_config()
    config["output"][folder] = path
    message = rejected(config, tmp_path)
    assert message.startswith(f"config field `output.{folder}` = {path!r}: does not match")
    assert "Fix: Folder for" in message and "Use only letters, digits and . _ - /" in message


def test_output_folders_with_dots_dashes_and_slashes_are_fine(tiny_config):
    config = tiny_config()
    config["output"] = {"results": "../runs/exp-1_v2.0/", "figures": "/abs/figs"}
    validate(config)


# ----------------------------------------------------------------------------- settings that do nothing or merge


def test_a_step_imbalance_that_reduces_no_class(tiny_config, tmp_path):
    config = tiny_config()
    config["datasets"]["digits"]["imbalance"] = {"kind": "step", "ratio": 5, "step_fraction": 0.05}
    message = rejected(config, tmp_path)
    assert message.startswith("config field `datasets.digits.imbalance.step_fraction` = 0.05: round(0.05 x 10 classes) "
                              "= 0 classes are reduced") and "Fix: use a step_fraction of at least 0.1" in message


def test_a_step_imbalance_that_reduces_every_class(tiny_config, tmp_path):
    config = tiny_config()
    config["datasets"]["digits"]["imbalance"] = {"kind": "step", "ratio": 5, "step_fraction": 1.0}
    message = rejected(config, tmp_path)
    assert "`datasets.digits.imbalance.step_fraction` = 1.0: all 10 classes are reduced" in message
    assert "use at most 0.9" in message


@pytest.mark.parametrize("imbalance, field, expected", [
    # the last 3 classes hold 143, 139 and 144 images, all below floor(146 / 1.01) = 144
    ({"kind": "step", "ratio": 1.01, "step_fraction": 0.3}, "`datasets.digits.imbalance`", "changes no class count"),
    ({"kind": "step", "ratio": 1}, "`datasets.digits.imbalance.ratio` = 1.0", "with ratio 1 changes no class"),
    ({"kind": "none", "ratio": 10}, "`datasets.digits.imbalance.ratio` = 10.0", "has no effect with imbalance kind none"),
    ({"kind": "long_tailed", "ratio": 10, "step_fraction": 0.3}, "`datasets.digits.imbalance.step_fraction` = 0.3",
     "has no effect with imbalance kind long_tailed"),
])
def test_an_imbalance_setting_that_does_nothing(tiny_config, tmp_path, imbalance, field, expected):
    config = tiny_config()
    config["datasets"]["digits"]["imbalance"] = imbalance
    message = rejected(config, tmp_path)
    assert field in message and expected in message, message


@pytest.mark.parametrize("key, value", [("download", True), ("root", "elsewhere")])
def test_a_source_setting_for_another_source_does_nothing(tiny_config, tmp_path, key, value):
    config = tiny_config()
    config["datasets"]["digits"][key] = value
    message = rejected(config, tmp_path)
    assert message.startswith(f"config field `datasets.digits.{key}` = {value!r}: has no effect with source digits")


def test_budgets_that_round_to_the_same_number_of_steps(tiny_config, tmp_path):
    """Digits (1,437 training images), batch 64, 2 epochs: 46 steps; 0.5 and 0.51 both give 23."""
    config = tiny_config()
    config["methods"] = {"uniform": {"method": "uniform"}}
    config["budgets"] = [0.5, 0.51, 1.0]
    message = rejected(config, tmp_path)
    assert message.startswith("config field `budgets` = [0.5, 0.51, 1.0]: budgets 0.5 and 0.51 both give 23 optimizer "
                              "steps on dataset 'digits' (full schedule: 2 epochs x 23 steps = 46)")
    assert "drop one" in message


def test_a_budget_below_one_step(tiny_config, tmp_path):
    config = tiny_config()
    config["methods"] = {"uniform": {"method": "uniform"}}
    config["budgets"] = [0.01, 1.0]
    message = rejected(config, tmp_path)
    assert message.startswith("config field `budgets[0]` = 0.01: gives round(0.01 x 46) = 0 optimizer steps")
    assert "at least 0.0217" in message


def test_a_method_label_that_collides_with_a_transfer_label(tiny_config, tmp_path):
    config = tiny_config()
    config["models"] = ["cnn", "resnet18"]
    config["importance_from"] = "cnn"
    config["methods"]["biased_from_cnn"] = {"method": "uniform"}
    message = rejected(config, tmp_path)
    assert message.startswith("config field `methods.biased_from_cnn` = 'uniform': this label is also the label of the "
                              "transfer runs of `biased` scored by cnn") and "biased_with_cnn" in message


def test_importance_from_the_only_model_makes_no_transfer_run(tiny_config, tmp_path):
    config = tiny_config()
    config["importance_from"] = "cnn"
    message = rejected(config, tmp_path)
    assert message.startswith("config field `importance_from` = 'cnn': it is the only model in `models`")
    assert "models: [cnn, resnet18]" in message and "leave importance_from empty" in message


def test_two_labels_for_one_experiment_warn(tiny_config, capsys):
    """Legal (e.g. to see that a seed reproduces), so a warning, not an error."""
    config = tiny_config()
    config["methods"]["uniform_again"] = {"method": "uniform"}
    validate(config)
    assert "warning: config `methods.uniform_again` and `methods.uniform` are the same settings" in capsys.readouterr().err


# ----------------------------------------------------------------------------- names, ranges, method parameters


def test_unknown_method_lists_valid_names(tiny_config, tmp_path):
    config = tiny_config()
    config["methods"]["mine"] = {"method": "unifrom"}
    message = rejected(config, tmp_path)
    assert message.startswith("config field `methods.mine.method` = 'unifrom': not a valid value. Fix: use one of uniform, biased")


def test_unknown_dataset_source_lists_valid_names(tiny_config, tmp_path):
    config = tiny_config()
    config["datasets"]["digits"]["source"] = "mnist"
    message = rejected(config, tmp_path)
    assert "`datasets.digits.source` = 'mnist'" in message
    assert "use one of digits, cifar10, cifar100, fashion_mnist, svhn, imagefolder" in message


def test_unknown_model_lists_valid_names(tiny_config, tmp_path):
    config = tiny_config()
    config["models"] = ["cnn", "resnet99"]
    assert "`models[1]` = 'resnet99': not a valid value. Fix: use one of cnn, resnet18" in rejected(config, tmp_path)


def test_unknown_augmentation_lists_valid_names_and_the_randaugment_form(tiny_config, tmp_path):
    config = tiny_config()
    config["augmentations"] = ["flip"]
    message = rejected(config, tmp_path)
    assert "`augmentations[0]` = 'flip'" in message and "none, crop, standard" in message
    assert "randaugment_n<N>_m<M>" in message


def test_unknown_importance_metric_lists_valid_names(tiny_config, tmp_path):
    config = tiny_config()
    config["methods"]["biased"]["metric"] = "entropy"
    message = rejected(config, tmp_path)
    assert "`methods.biased.metric` = 'entropy'" in message
    assert all(name in message for name in ("one_minus_p", "loss", "el2n", "forgetting"))


@pytest.mark.parametrize("budget", [0, -0.5, 1.5])
def test_budget_outside_zero_one(tiny_config, tmp_path, budget):
    config = tiny_config()
    config["budgets"] = [1.0, budget]
    message = rejected(config, tmp_path)
    assert f"`budgets[1]` = {float(budget)!r}" in message and "(0, 1]" in message


@pytest.mark.parametrize("seeds, expected", [([0, -1], "`seeds[1]` = -1: -1 is less than the minimum of 0"),
                                             ([0, 1, 0], "`seeds` = [0, 1, 0]: lists a value twice")])
def test_negative_or_duplicate_seeds(tiny_config, tmp_path, seeds, expected):
    config = tiny_config()
    config["seeds"] = seeds
    assert expected in rejected(config, tmp_path)


def test_imbalance_ratio_below_one(tiny_config, tmp_path):
    config = tiny_config()
    config["datasets"]["digits"]["imbalance"] = {"kind": "long_tailed", "ratio": 0.5}
    message = rejected(config, tmp_path)
    assert "`datasets.digits.imbalance.ratio` = 0.5" in message and "Fix: give a value >= 1" in message


def test_a_bad_dataset_name_names_the_rule(tiny_config, tmp_path):
    config = tiny_config()
    config["datasets"]["my set"] = config["datasets"].pop("digits")
    message = rejected(config, tmp_path)
    assert message == ("config field `datasets` has the name 'my set', which is not allowed. "
                       "Fix: Use letters, digits, '_' and '-' only")


def test_warmup_not_shorter_than_smallest_budget(tiny_config, tmp_path):
    config = tiny_config()
    config["train"]["epochs"] = 10
    config["budgets"] = [0.3, 1.0]  # 3 epochs in the smallest budget
    config["methods"]["biased"]["warmup_epochs"] = 3
    message = rejected(config, tmp_path)
    assert "`methods.biased.warmup_epochs` = 3" in message
    assert "smallest budget 0.3 gives only 3 epochs" in message and "fewer than 3 warm-up epochs" in message


def test_imbalance_leaving_a_class_empty(tiny_config, tmp_path):
    config = tiny_config()
    config["datasets"]["digits"]["imbalance"] = {"kind": "long_tailed", "ratio": 1000}
    message = rejected(config, tmp_path)
    assert "`datasets.digits.imbalance`" in message and "'ratio': 1000" in message
    assert "[7, 8, 9] with zero training samples" in message and "lower the ratio" in message


def test_batch_size_larger_than_imbalanced_training_set(tiny_config, tmp_path):
    config = tiny_config()
    config["datasets"]["digits"]["imbalance"] = {"kind": "long_tailed", "ratio": 10}
    config["train"]["batch_size"] = 1000  # digits has 1,437 training images, 588 once long-tailed
    message = rejected(config, tmp_path)
    assert "`train.batch_size` = 1000" in message and "588 training images" in message and "at most 588" in message


def test_typo_at_top_level_suggests_closest_key(tiny_config, tmp_path):
    config = tiny_config()
    config["budget"] = config.pop("budgets")
    message = rejected(config, tmp_path)
    assert "`budget` is not a known key" in message and "Did you mean 'budgets'?" in message


@pytest.mark.parametrize("where, typo, suggestion", [
    (("train",), "epoch", "epochs"),
    (("datasets", "digits"), "imbalence", "imbalance"),
    (("methods", "biased"), "warmup_epoch", "warmup_epochs"),
])
def test_nested_typo_suggests_closest_key(tiny_config, tmp_path, where, typo, suggestion):
    config = tiny_config()
    node = config
    for key in where:
        node = node[key]
    node[typo] = 1
    message = rejected(config, tmp_path)
    assert f"`{'.'.join(where)}.{typo}`" in message and f"Did you mean {suggestion!r}?" in message


def test_schema_type_error_names_field_value_and_rule(tiny_config, tmp_path):
    config = tiny_config()
    config["train"]["lr"] = "fast"
    message = rejected(config, tmp_path)
    assert "`train.lr` = 'fast'" in message and "not of type 'number'" in message and "Peak learning rate" in message


def test_invalid_method_parameter_value_is_rejected_before_any_job(tiny_config, tmp_path):
    config = tiny_config()
    config["methods"]["prune"] = {"method": "el2n_prune", "warmup_epochs": 1, "keep": 1.5}
    message = rejected(config, tmp_path)
    assert "`methods.prune`" in message and "keep must be in (0, 1]" in message


@pytest.mark.parametrize("params,expected", [
    ({"smoothing": -0.5}, "biased.smoothing must be >= 0"),
    ({"rescore_every": -1}, "biased.rescore_every must be a whole number >= 0"),
    ({"rescore_every": 1.5}, "biased.rescore_every must be a whole number >= 0"),
])
def test_invalid_biased_parameter_is_rejected_before_any_job(tiny_config, tmp_path, params, expected):
    """A negative smoothing gives negative draw probabilities: it used to fail only after the warm-up."""
    config = tiny_config()
    config["methods"]["bias"] = {"method": "biased", "warmup_epochs": 1, **params}
    message = rejected(config, tmp_path)
    assert "`methods.bias`" in message and expected in message


@pytest.mark.parametrize("config,expected", [(None, "config is empty"), ([1, 2], "config is a list")])
def test_a_config_that_is_not_a_mapping_is_rejected(config, expected, tmp_path):
    message = rejected(config, tmp_path)
    assert expected in message and "config.yaml" in message


@pytest.mark.parametrize("mutate,field,expected", [
    (lambda c: c.update(methods={"bias": {"method": "biased", "warmup_epochs": 1}}), "`methods`", "no method is `uniform`"),
    (lambda c: c["datasets"]["digits"].update(train_subset=100000), "`datasets.digits.train_subset`",
     "larger than the 1437 training images"),
    (lambda c: c["train"].update(device="gpu"), "`train.device` = 'gpu'", "auto (CUDA when present"),
])
def test_more_mistakes_that_used_to_fail_late(tiny_config, tmp_path, mutate, field, expected):
    config = tiny_config()
    mutate(config)
    message = rejected(config, tmp_path)
    assert field in message and expected in message, message


# ----------------------------------------------------------------------------- what an ImageFolder holds


def test_missing_imagefolder_path(tiny_config, tmp_path):
    config = tiny_config()
    missing = str(tmp_path / "nowhere.tar.gz")
    config["datasets"]["mine"] = {"source": "imagefolder", "root": missing}
    message = rejected(config, tmp_path)
    assert f"`datasets.mine.root` = {missing!r}" in message and "does not exist" in message


def test_imagefolder_content_is_checked_before_any_job(tiny_config, tmp_path):
    """Tree without test/, a file that is no archive, an archive without images (data/inspect.py's checks)."""
    (tmp_path / "data" / "tree" / "train" / "a").mkdir(parents=True)
    config = tiny_config()
    config["datasets"]["mine"] = {"source": "imagefolder", "root": str(tmp_path / "data" / "tree")}
    assert "`datasets.mine.root`" in (m := rejected(config, tmp_path)) and "has no test/" in m
    (tmp_path / "data" / "notes.tar.gz").write_text("not an archive")
    config["datasets"]["mine"]["root"] = str(tmp_path / "data" / "notes.tar.gz")
    assert "tar archive" in rejected(config, tmp_path)
    with tarfile.open(tmp_path / "data" / "empty.tar.gz", "w:gz"):
        pass
    config["datasets"]["mine"]["root"] = str(tmp_path / "data" / "empty.tar.gz")
    assert "has no train/" in rejected(config, tmp_path)


def test_imagefolder_counts_feed_the_budget_and_imbalance_checks(tiny_config, tmp_path):
    """A valid tree of 2 classes x 6 images: its size is known before any job, so budgets are checked on it."""
    from PIL import Image

    for split in ("train", "test"):
        for cls in ("a", "b"):
            folder = tmp_path / "data" / "tree" / split / cls
            folder.mkdir(parents=True)
            for i in range(6):
                Image.new("L", (8, 8), 40 * i).save(folder / f"{i}.png")
    config = tiny_config()
    config["datasets"] = {"mine": {"source": "imagefolder", "root": str(tmp_path / "data" / "tree")}}
    config["train"]["batch_size"] = 4
    config["budgets"] = [0.6, 1.0]  # 2 epochs x 3 steps = 6; 0.6 -> 4 steps
    validate(copy.deepcopy(config))
    config["budgets"] = [0.95, 1.0]  # round(5.7) = 6 steps, as 1.0
    assert "both give 6 optimizer steps on dataset 'mine'" in rejected(config, tmp_path)


# ----------------------------------------------------------------------------- Snakemake end to end


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

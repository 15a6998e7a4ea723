"""Configs refused (or warned about) before any job, in one line naming the field, the value and a fix that exists.

Issue 21: output folders at the root or in the code (item 6), evaluations too sparse to resolve the speedup margin
(item 5), and the numbers, names and warm-ups that passed the check and then failed inside a job.
"""

from __future__ import annotations

import pytest
import yaml

from sample_importance.config import ConfigError, check_config

from conftest import REPO


def checked(tmp_path, config: dict) -> dict:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return check_config([path])


def refusal(tmp_path, config: dict) -> str:
    with pytest.raises(ConfigError) as info:
        checked(tmp_path, config)
    message = str(info.value)
    assert "\n" not in message and "Fix:" in message
    return message


# ---- item 6: results written anywhere


@pytest.mark.parametrize("results, problem", [
    ("/.", "resolves to the file system's root /"),
    (str(REPO / "src" / "sample_importance"), "inside the checkout's src/ folder"),
    (str(REPO / "workflow" / "out"), "inside the checkout's workflow/ folder"),
    (str(REPO.parent), "which holds this workflow's code"),
])
def test_a_results_folder_at_the_root_or_in_the_code_is_refused(tiny_config, tmp_path, results, problem):
    config = tiny_config()
    config["output"]["results"] = results
    message = refusal(tmp_path, config)
    assert message.startswith(f"config field `output.results` = {results!r}: ") and problem in message
    assert "Fix: " in message


def test_figures_in_the_results_folder_itself_or_its_runs_are_refused(tiny_config, tmp_path):
    config = tiny_config()
    config["output"]["figures"] = config["output"]["results"] + "/"
    assert "is the results folder" in refusal(tmp_path, config)
    config["output"]["figures"] = config["output"]["results"] + "/summary"
    assert "lies in summary/ of the results folder" in refusal(tmp_path, config)
    config["output"]["figures"] = config["output"]["results"] + "/figures"
    checked(tmp_path, config)  # a folder of its own inside results is fine


# ---- item 5: a speedup the evaluations cannot resolve


def test_evaluations_too_sparse_for_the_speedup_margin_are_warned_about_with_a_fix(tiny_config, tmp_path, capsys):
    config = tiny_config()  # digits, 2 epochs of 23 steps: 46 iterations
    config["train"]["eval_every"] = 1000
    checked(tmp_path, config)
    err = capsys.readouterr().err
    assert "warning: config field `train.eval_every` = 1000: the full schedule on dataset 'digits' has 46 iterations" in err
    assert "analysis.margins.speedup_ratio = 0.9" in err and "Fix: set train.eval_every to at most 4" in err
    config["train"]["eval_every"] = 4
    checked(tmp_path, config)
    assert "train.eval_every" not in capsys.readouterr().err
    config["train"]["eval_every"] = 10
    config["analysis"] = {"margins": {"speedup_ratio": 0.5}}  # a coarser margin: 10 <= 0.5 x 46
    checked(tmp_path, config)
    assert "train.eval_every" not in capsys.readouterr().err


# ---- weak: numbers the schema let through and that failed inside a job


@pytest.mark.parametrize("edit, field, fix", [
    (lambda c: c.update(seeds=[2 ** 64]), "seeds[0]", "<= 2147483647"),
    (lambda c: c["datasets"]["digits"].update(data_seed=2 ** 64), "datasets.digits.data_seed", "<= 2147483647"),
    (lambda c: c["train"].update(epochs=10 ** 9), "train.epochs", "<= 10000"),
    (lambda c: c["datasets"]["digits"].update(test_fraction=1e-9), "datasets.digits.test_fraction",
     "use a test_fraction between 0.00556 and 0.994"),
    (lambda c: c["datasets"]["digits"].update(train_subset=5), "datasets.digits.train_subset", "use at least 10"),
])
def test_numbers_that_failed_inside_a_job_are_refused_by_the_check(tiny_config, tmp_path, edit, field, fix):
    config = tiny_config()
    edit(config)
    message = refusal(tmp_path, config)
    assert message.startswith(f"config field `{field}` = ") and fix in message


def test_a_name_too_long_for_a_folder_is_refused(tiny_config, tmp_path):
    config = tiny_config()
    config["methods"]["b" * 300] = config["methods"].pop("biased")
    message = refusal(tmp_path, config)
    assert message.startswith("config field `methods.bbbbbbbbbbbbbbbbbbbb...`") and "300 characters" in message
    assert "at most 100 characters" in message


def test_a_warm_up_too_long_for_the_smallest_budget_names_only_fixes_that_exist(tiny_config, tmp_path):
    config = tiny_config()
    config["budgets"] = [0.4, 1.0]  # 0.8 epochs: no warm-up of >= 1 epoch fits
    message = refusal(tmp_path, config)
    assert message.startswith("config field `methods.biased.warmup_epochs` = 1: ")
    assert "warm-up epochs" not in message.split("Fix:")[1]
    assert "make the smallest of `budgets` larger than 0.5, or set train.epochs to at least 3" in message
    config["budgets"], config["train"]["epochs"], config["methods"]["biased"]["warmup_epochs"] = [0.5, 1.0], 4, 3
    assert "Fix: use fewer than 2 warm-up epochs, or make the smallest of `budgets` larger than 0.75, or set " \
           "train.epochs to at least 7" in refusal(tmp_path, config)


def test_a_label_that_is_another_methods_name_is_refused(tiny_config, tmp_path):
    config = tiny_config()
    config["methods"] = {"base": {"method": "uniform"}, "uniform": {"method": "biased", "warmup_epochs": 1}}
    message = refusal(tmp_path, config)
    assert message.startswith("config field `methods.uniform` = {'method': 'biased'}: the label 'uniform' is the "
                              "name of another method")
    assert "Fix: rename the label, e.g. `biased_uniform:`" in message

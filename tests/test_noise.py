"""Label noise as a dataset variant (data/noise.py), what the runs record of it, its analysis, claims and figure."""

from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from sample_importance import provenance
from sample_importance.analysis import claims as cl
from sample_importance.analysis import noise as an
from sample_importance.config import ConfigError, check_config, validate
from sample_importance.data import datasets as data
from sample_importance.data.imbalance import class_counts
from sample_importance.data.noise import CIFAR10_CLASSES, apply_label_noise, noisy_counts, pair_map
from sample_importance.training.engine import Trainer

from tiny import REPO, spec

SYM = {"kind": "symmetric", "rate": 0.2}


def digits(**extra) -> data.Dataset:
    return data.build("dn", {"source": "digits", **extra})


@pytest.fixture(scope="module")
def clean():
    return digits()


@pytest.fixture(scope="module")
def noisy():
    return digits(label_noise=SYM)


# ----------------------------------------------------------------------------- the variant


def test_symmetric_flips_exactly_round_rate_n_labels_to_other_classes(clean, noisy):
    n = len(noisy.train.y)
    assert int(noisy.noisy.sum()) == round(0.2 * n) == 287
    changed = noisy.train.y != noisy.clean_labels
    assert torch.equal(changed, noisy.noisy)  # every chosen label changed, no other did
    assert torch.equal(noisy.clean_labels, clean.train.y)
    # the new class is uniform over the 9 others: each offset 1..9 about 287 / 9 = 32 times
    offsets = (noisy.train.y - noisy.clean_labels)[noisy.noisy] % 10
    counts = torch.bincount(offsets, minlength=10)
    assert counts[0] == 0 and counts[1:].min() >= 15 and counts[1:].max() <= 52


def test_test_split_and_images_are_untouched(clean, noisy):
    assert torch.equal(noisy.test.x, clean.test.x) and torch.equal(noisy.test.y, clean.test.y)
    assert torch.equal(noisy.train.x, clean.train.x)
    assert torch.equal(noisy.train_source_index, clean.train_source_index)
    assert not clean.has_noise and int(clean.noisy.sum()) == 0


def test_noise_is_determined_by_data_seed(noisy):
    again = digits(label_noise=SYM)
    other = digits(label_noise=SYM, data_seed=1)
    assert torch.equal(again.noisy, noisy.noisy) and torch.equal(again.train.y, noisy.train.y)
    assert not torch.equal(other.noisy, noisy.noisy)
    assert int(other.noisy.sum()) == int(noisy.noisy.sum())


def test_cifar10_asymmetric_pairs_of_patrini_et_al():
    names = dict(enumerate(CIFAR10_CLASSES))
    assert {names[a]: names[b] for a, b in pair_map(list(CIFAR10_CLASSES)).items()} == {
        "truck": "automobile", "bird": "airplane", "deer": "horse", "cat": "dog", "dog": "cat"}
    assert pair_map([str(d) for d in range(10)]) == {2: 7, 3: 8, 5: 6, 6: 5, 7: 1}  # MNIST map, same paper
    assert pair_map(["a", "b", "c"]) == {0: 1, 1: 2, 2: 0}  # any other classes: c -> c + 1 mod C


def test_asymmetric_flips_round_rate_n_c_of_each_source_class_to_its_pair():
    y = torch.arange(10).repeat_interleave(torch.tensor([50, 41, 33, 60, 47, 52, 30, 44, 25, 39]))
    noisy, mask = apply_label_noise(y, list(CIFAR10_CLASSES), "asymmetric", 0.4, torch.Generator().manual_seed(0))
    pairs = pair_map(list(CIFAR10_CLASSES))
    for c in range(10):
        members = y == c
        flipped = mask & members
        expected = round(0.4 * int(members.sum())) if c in pairs else 0
        assert int(flipped.sum()) == expected, c
        if expected:
            assert set(noisy[flipped].tolist()) == {pairs[c]}
    assert torch.equal(noisy[~mask], y[~mask])
    assert int(mask.sum()) == noisy_counts(torch.bincount(y).tolist(), list(CIFAR10_CLASSES), "asymmetric", 0.4)


def test_noise_after_imbalance_counts_as_the_formulas_say():
    imb = {"kind": "long_tailed", "ratio": 10}
    only_imb = digits(imbalance=imb)
    both = digits(imbalance=imb, label_noise={"kind": "symmetric", "rate": 0.3})
    before = torch.bincount(digits().train.y, minlength=10).tolist()
    target = class_counts(before, "long_tailed", 10, 0.5)
    assert torch.bincount(both.clean_labels, minlength=10).tolist() == target  # the imbalance saw clean labels
    assert torch.equal(both.train_source_index, only_imb.train_source_index)  # and drew the same samples
    assert int(both.noisy.sum()) == round(0.3 * sum(target))
    asym = digits(imbalance=imb, label_noise={"kind": "asymmetric", "rate": 0.3})
    assert int(asym.noisy.sum()) == sum(round(0.3 * target[c]) for c in (2, 3, 5, 6, 7))


# ----------------------------------------------------------------------------- cache and identity


def test_cache_keeps_mask_and_clean_labels_and_checks_them(tmp_path, noisy):
    path = tmp_path / "dn.pt"
    data.save(noisy, path)
    back = data.load(path)
    assert torch.equal(back.noisy, noisy.noisy) and torch.equal(back.clean_labels, noisy.clean_labels)
    assert torch.equal(back.train.y, noisy.train.y)
    d = torch.load(path, weights_only=True)
    d["train_noisy"] = ~d["train_noisy"]
    torch.save(d, tmp_path / "bad.pt")
    with pytest.raises(data.DataError, match="train_noisy"):
        data.load(tmp_path / "bad.pt")
    old = {k: v for k, v in torch.load(path, weights_only=True).items() if k not in data.NOISE_TENSORS}
    old["checksum"] = {k: v for k, v in old["checksum"].items() if k not in data.NOISE_TENSORS}
    torch.save(old, tmp_path / "old.pt")
    assert data.load(tmp_path / "old.pt").noisy is None  # a cache from before label noise: read as clean


def test_dataset_identity_covers_label_noise():
    base = {"source": "digits"}
    assert provenance.dataset_hash({**base, "label_noise": SYM}) != provenance.dataset_hash(base)
    assert provenance.dataset_hash({**base, "label_noise": SYM}) != provenance.dataset_hash(
        {**base, "label_noise": {"kind": "symmetric", "rate": 0.4}})


# ----------------------------------------------------------------------------- config


def _config(label_noise: dict) -> dict:
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["datasets"] = {"dn": {"source": "digits", "label_noise": label_noise}}
    return cfg


@pytest.mark.parametrize("noise, message", [
    ({"kind": "none", "rate": 0.2}, "no effect with label_noise kind none"),
    ({"kind": "symmetric"}, "rate 0 changes no label"),
    ({"kind": "symmetric", "rate": 1.0}, "< 1"),
    ({"kind": "symmetric", "rate": 0.0001}, "= 0 of the 1437"),
    ({"kind": "flip", "rate": 0.2}, "none, symmetric, asymmetric"),
])
def test_config_refuses_noise_that_does_nothing_or_is_invalid(noise, message):
    with pytest.raises(ConfigError, match=message):
        validate(_config(noise))


def test_noise_digits_config_is_valid():
    cfg = check_config([REPO / "config.yaml", REPO / "config" / "noise-digits.yaml"])
    noisy = {k: v["label_noise"] for k, v in cfg["datasets"].items() if v["label_noise"]["kind"] != "none"}
    assert noisy == {"digits_noise20": SYM, "digits_noise40": {"kind": "symmetric", "rate": 0.4}}
    assert {m["method"] for m in cfg["methods"].values()} == {"uniform", "biased", "p_sgd", "infobatch", "rho_loss"}
    assert cfg["seeds"] == [0, 1, 2] and cfg["budgets"] == [0.3, 1.0]


# ----------------------------------------------------------------------------- draws on noisy samples


def test_uniform_draws_every_noisy_sample_once_an_epoch(noisy, clean):
    t = Trainer(spec("uniform", epochs=2, width=4), noisy, progress=False)
    t.run()
    rows = pd.DataFrame(t.class_draws)
    per_epoch = rows.groupby("epoch")[["draws", "noisy_draws"]].sum()
    assert per_epoch["noisy_draws"].tolist() == [287, 287] and per_epoch["draws"].tolist() == [1437, 1437]
    noisy_per_class = torch.bincount(noisy.train.y[noisy.noisy], minlength=10).tolist()
    assert rows[rows["epoch"] == 0]["noisy_draws"].tolist() == noisy_per_class  # by the label drawn
    c = Trainer(spec("uniform", epochs=1, width=4), clean, progress=False)
    c.run()
    assert all(r["noisy_draws"] == 0 for r in c.class_draws)


# ----------------------------------------------------------------------------- analysis, claims, figure


def draws_table(shares: dict[str, list[float]], data_share=0.2, n=1000, epochs=3) -> pd.DataFrame:
    """A summary draws table: method -> per-seed share of draws on noisy samples, two classes."""
    rows = []
    for method, per_seed in shares.items():
        for seed, share in enumerate(per_seed):
            for epoch in range(epochs):
                noisy = round(share * n)
                for c, (k, m) in enumerate(((noisy // 2, n // 2), (noisy - noisy // 2, n - n // 2))):
                    rows.append({"dataset": "dn", "model": "cnn", "augmentation": "crop", "method": method,
                                 "method_name": method, "budget": 1.0, "seed": seed, "epoch": epoch,
                                 "class_index": c, "draws": m, "noisy_draws": k})
    return pd.DataFrame(rows)


def final_table(acc: dict[str, list[float]]) -> pd.DataFrame:
    return pd.DataFrame([{"dataset": "dn", "model": "cnn", "augmentation": "crop", "method": m, "method_name": m,
                          "budget": 1.0, "seed": s, "final_test_accuracy": a, "commit": "x", "config_hash": "y"}
                         for m, per_seed in acc.items() for s, a in enumerate(per_seed)])


def noise_of(share=0.2, n=1000) -> dict[str, an.Noise]:
    mask = np.zeros(n, dtype=bool)
    mask[: round(share * n)] = True
    return {"dn": an.Noise("dn", mask)}


def test_draw_share_table_per_run_and_epoch():
    table = an.draw_share_table(draws_table({"uniform": [0.2] * 3, "biased": [0.3, 0.32, 0.35]}), noise_of())
    assert len(table) == 2 * 3 * 3
    b = table[(table["method"] == "biased") & (table["seed"] == 1)]
    assert np.allclose(b["draw_share"], 0.32) and np.allclose(b["data_share"], 0.2)
    assert (table["n_noisy"] == 200).all() and (table["n_train"] == 1000).all()
    assert sorted(b["trained_epochs"]) == [1.0, 2.0, 3.0]  # draws so far / N
    assert an.draw_share_table(draws_table({"uniform": [0.2]}), {}).empty  # no noisy dataset: nothing


def test_noise_claim_rows_and_verdicts():
    draws = an.draw_share_table(draws_table({"uniform": [0.2] * 3, "biased": [0.30, 0.32, 0.35]}), noise_of())
    accuracy = final_table({"uniform": [0.90, 0.91, 0.92], "biased": [0.85, 0.87, 0.86]})
    table = cl.finish(cl.noise_claims(draws, accuracy))
    share = table[table["claim"] == cl.NOISE_SHARE].iloc[0]
    acc = table[table["claim"] == cl.NOISE_ACCURACY].iloc[0]
    assert share["verdict"] == "supported" and math.isclose(share["effect"], (0.10 + 0.12 + 0.15) / 3)
    assert share["n"] == 3 and "biased" in share["scope"]
    assert math.isclose(acc["effect"], 5.0) and acc["verdict"] == "supported"  # points
    below = an.draw_share_table(draws_table({"uniform": [0.2] * 3, "rho": [0.01, 0.02, 0.0]}), noise_of())
    rows = cl.finish(cl.noise_claims(below, final_table({"uniform": [0.9] * 3, "rho": [0.95, 0.96, 0.97]})))
    assert set(rows["verdict"]) == {"contradicted"}
    none = cl.finish(cl.noise_claims(None, final_table({"uniform": [0.9]})))
    assert set(none["verdict"]) == {"not testable"} and "label_noise" in none["why"].iloc[0]


def test_importance_of_clean_vs_noisy_samples():
    class W:  # a warm-up's records: noisy samples have a low p_true
        spec = {"dataset": "dn", "model": "cnn", "augmentation": "crop", "budget": 1.0, "seed": 0}
        labels = np.zeros(10, dtype=int)
        coords = {**spec, "warmup_epochs": 2}

        def score(self, metric):
            return np.r_[np.linspace(0.0, 0.2, 8), [0.9, 0.7]]

    mask = np.zeros(10, dtype=bool)
    mask[8:] = True
    t = an.importance_table([W()], {"dn": an.Noise("dn", mask)}).set_index("group")
    assert t.loc["noisy", "n"] == 2 and t.loc["clean", "n"] == 8
    assert math.isclose(t.loc["noisy", "mean"], 0.8) and t.loc["noisy", "auc_noisy_above"] == 1.0
    assert math.isclose(t.loc["clean", "q50"], 0.1)


def test_draw_share_figure_has_the_data_share_line(tmp_path):
    from sample_importance.figures import plots_noise

    draws = an.draw_share_table(draws_table({"uniform": [0.2] * 3, "biased": [0.30, 0.32, 0.35]}), noise_of())
    draws.to_csv(tmp_path / "noise_draws.csv", index=False)
    final_table({"uniform": [0.9] * 3, "biased": [0.9] * 3}).to_csv(tmp_path / "final.csv", index=False)
    fig = plots_noise.draw_share_figure(draws, plots_noise.Style(pd.read_csv(tmp_path / "final.csv")))
    ax = fig.axes[0]
    lines = {line.get_label(): line.get_ydata() for line in ax.get_lines()}
    assert np.allclose(lines["share of the data"], 20) and np.allclose(lines["biased"], (30 + 32 + 35) / 3)
    assert plots_noise.plot_noise(str(tmp_path), str(tmp_path)) == ["noise_draw_share"]
    assert (tmp_path / "noise_draw_share.png").stat().st_size > 0 and (tmp_path / "noise_draw_share.pdf").exists()


def test_outputs_only_for_configs_with_noise():
    from sample_importance.outputs import noise_figure_files, noise_files

    cfg = {"datasets": {"d": {"source": "digits", "label_noise": {"kind": "none", "rate": 0.0}}}}
    assert noise_files(cfg, "r") == [] and noise_figure_files(cfg, "f") == []
    cfg2 = copy.deepcopy(cfg)
    cfg2["datasets"]["d"]["label_noise"] = SYM
    assert noise_files(cfg2, "r") == ["r/summary/noise_draws.csv", "r/summary/noise_importance.csv"]
    assert noise_figure_files(cfg2, "f") == ["f/noise_draw_share.png", "f/noise_draw_share.pdf"]


def test_no_noise_keeps_the_dataset_ids_of_before():
    """The schema fills label_noise {kind: none, rate: 0} into every dataset; that must not change the cache
    names and run ids of datasets made before label_noise existed (provenance.dataset_hash drops it)."""
    old = {"source": "digits", "root": "data", "download": False, "test_fraction": 0.2, "train_subset": 0,
           "imbalance": {"kind": "none", "ratio": 1.0, "step_fraction": 0.5}, "data_seed": 0}
    assert provenance.dataset_hash({**old, "label_noise": {"kind": "none", "rate": 0.0}}) == provenance.dataset_hash(old)

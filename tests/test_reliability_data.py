"""ImageFolder images as a viewer shows them, and empty files named before any job (issue 21, weak items)."""

from __future__ import annotations

import tarfile

import numpy as np
import pytest
from PIL import Image

from sample_importance.config import ConfigError, check_config
from sample_importance.data import datasets as data

from conftest import TINY


def tree(root, fmt="PNG"):
    for split in ("train", "test"):
        for c, cls in enumerate(("a", "b")):
            for i in range(2):
                (root / split / cls).mkdir(parents=True, exist_ok=True)
                Image.new("L", (8, 8), 40 * i + 100 * c).save(root / split / cls / f"{i}.png")
    return root


def test_a_jpeg_with_exif_orientation_6_is_loaded_upright(tmp_path):
    root = tree(tmp_path / "tree")
    stored = np.zeros((6, 8, 3), dtype=np.uint8)  # as the sensor read it: 8 wide, 6 high, a bright top row
    stored[0] = 255
    exif = Image.Exif()
    exif[274] = 6  # rotate 90 degrees clockwise to view
    for split in ("train", "test"):  # every image of a set has one size: all of them rotated
        for cls in ("a", "b"):
            for i in range(2):
                (root / split / cls / f"{i}.png").unlink()
                Image.fromarray(stored).save(root / split / cls / f"{i}.jpg", exif=exif, quality=100)
    ds = data.build("t", {"source": "imagefolder", "root": str(root)})
    image = ds.train.x[0].numpy()
    assert image.shape == (3, 8, 6)  # 6 wide and 8 high, as a viewer shows it
    assert image[:, :, -1].mean() > 200 and image[:, :, 0].mean() < 50  # the bright row is now the right column


def config_with(root, tmp_path) -> dict:
    config = {**TINY, "datasets": {"tree": {"source": "imagefolder", "root": str(root)}},
              "methods": {"uniform": {"method": "uniform"}},
              "output": {"results": str(tmp_path / "results"), "figures": str(tmp_path / "figures")}}
    config["train"] = {**TINY["train"], "batch_size": 2}
    return config


def test_a_zero_byte_image_in_a_tree_is_named_by_the_config_check(tmp_path):
    root = tree(tmp_path / "tree")
    (root / "train" / "b" / "1.png").write_bytes(b"")
    with pytest.raises(ConfigError) as info:
        check_config([], config_with(root, tmp_path))
    message = str(info.value)
    assert message.startswith(f"config field `datasets.tree.root` = {str(root)!r}: 1 image file(s) in {root} are "
                              f"empty (0 bytes): {root / 'train' / 'b' / '1.png'}. Fix: copy them again")


def test_a_zero_byte_image_in_an_archive_is_named_by_the_config_check(tmp_path, monkeypatch):
    monkeypatch.setenv("SAMPLE_IMPORTANCE_CACHE", "")
    root = tree(tmp_path / "tree")
    (root / "test" / "a" / "0.png").write_bytes(b"")
    archive = tmp_path / "tree.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(root, arcname="tree")
    with pytest.raises(ConfigError) as info:
        check_config([], config_with(archive, tmp_path))
    assert "1 image file(s) in" in str(info.value) and "tree/test/a/0.png" in str(info.value)

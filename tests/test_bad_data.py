"""Bad data files: a clear DataError naming the file, and no cached output left behind.

The bad files are made here: small PNGs written with PIL in an ImageFolder tree
or a tar.gz of one, then broken in one way per test.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sample_importance import steps
from sample_importance.data import datasets as data
from sample_importance.data.datasets import DataError


def png(path: Path, size=(8, 8), value: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full(size[::-1], value, dtype=np.uint8), mode="L").save(path)


def make_tree(root: Path) -> Path:
    """train/ and test/ with classes a and b, two 8x8 grey images each."""
    for split in ("train", "test"):
        for cls in ("a", "b"):
            for i in range(2):
                png(root / split / cls / f"{i}.png", value=40 * i + (100 if cls == "b" else 0))
    return root


def make_archive(path: Path, tree: Path) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        tar.add(tree, arcname="tiny")
    return path


def prepare_fails(root, out: Path) -> str:
    """prepare_data on an ImageFolder root must raise DataError and leave nothing in out's folder."""
    with pytest.raises(DataError) as info:
        steps.prepare_data("tiny", {"source": "imagefolder", "root": str(root)}, str(out))
    assert not out.exists()
    assert not out.parent.exists() or not any(out.parent.iterdir()), list(out.parent.iterdir())
    return str(info.value)


def test_good_tree_prepares(tmp_path):
    out = tmp_path / "out" / "tiny.pt"
    steps.prepare_data("tiny", {"source": "imagefolder", "root": str(make_tree(tmp_path / "tree"))}, str(out))
    ds = data.load(out)
    assert ds.classes == ["a", "b"] and ds.train.x.shape == (4, 1, 8, 8)


def test_truncated_archive(tmp_path):
    archive = make_archive(tmp_path / "tiny.tar.gz", make_tree(tmp_path / "tree"))
    whole = archive.read_bytes()
    archive.write_bytes(whole[: len(whole) // 2])
    message = prepare_fails(archive, tmp_path / "out" / "tiny.pt")
    assert str(archive) in message and "truncated or corrupt" in message


def test_corrupt_archive(tmp_path):
    archive = tmp_path / "tiny.tar.gz"
    archive.write_bytes(b"\x1f\x8b" + bytes(range(256)) * 4)  # a gzip magic number, then noise
    message = prepare_fails(archive, tmp_path / "out" / "tiny.pt")
    assert str(archive) in message and "truncated or corrupt" in message


def test_unreadable_image_in_tree(tmp_path):
    tree = make_tree(tmp_path / "tree")
    bad = tree / "train" / "b" / "1.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png")
    message = prepare_fails(tree, tmp_path / "out" / "tiny.pt")
    assert f"cannot decode image {bad}" in message


def test_unreadable_image_in_archive(tmp_path):
    tree = make_tree(tmp_path / "tree")
    (tree / "test" / "a" / "0.png").write_bytes(b"garbage")
    archive = make_archive(tmp_path / "tiny.tar.gz", tree)
    message = prepare_fails(archive, tmp_path / "out" / "tiny.pt")
    assert f"{archive}:tiny/test/a/0.png" in message


def test_images_of_mixed_sizes(tmp_path):
    tree = make_tree(tmp_path / "tree")
    png(tree / "train" / "b" / "1.png", size=(10, 8))
    message = prepare_fails(tree, tmp_path / "out" / "tiny.pt")
    assert "b/1.png is 10x8 pixels (width x height)" in message and "a/0.png is 8x8" in message
    assert "channel" not in message


def test_class_folder_without_images(tmp_path):
    tree = make_tree(tmp_path / "tree")
    for split in ("train", "test"):
        (tree / split / "c").mkdir()
        (tree / split / "c" / "README.txt").write_text("no images here")
    message = prepare_fails(tree, tmp_path / "out" / "tiny.pt")
    assert "class folder train/c has no images" in message and str(tree) in message


def test_cached_file_with_labels_out_of_range(tmp_path):
    path = tmp_path / "digits.pt"
    steps.prepare_data("digits", {"source": "digits"}, str(path))
    saved = torch.load(path, weights_only=True)
    saved["train_y"] = saved["train_y"].clone()
    saved["train_y"][5] = 10  # digits has classes 0..9
    torch.save(saved, path)
    with pytest.raises(DataError, match="checksum of train_y does not match"):
        data.load(path)  # the stored checksum catches the edit first
    del saved["checksum"]  # a file from before checksums: the label check still guards it
    torch.save(saved, path)
    with pytest.raises(DataError) as info:
        data.load(path)
    assert str(path) in str(info.value) and "labels span [0, 10] but there are 10 classes" in str(info.value)


def test_corrupt_cached_file_fails_a_run_without_outputs(tmp_path, tiny_config):
    path = tmp_path / "digits.pt"
    path.write_bytes(b"PK\x03\x04 half a zip")
    from sample_importance.config import validate
    from sample_importance.grid import expand

    spec = next(iter(expand(validate(tiny_config())).runs.values()))
    out = tmp_path / "run"
    with pytest.raises(DataError, match=f"cached dataset {path} cannot be read"):
        steps.train(spec, str(path), str(out), progress=False)
    assert not out.exists() or not any(out.iterdir())


def test_cli_prepare_data_reports_the_file_and_writes_nothing(tmp_path, run_cli):
    archive = make_archive(tmp_path / "tiny.tar.gz", make_tree(tmp_path / "tree"))
    archive.write_bytes(archive.read_bytes()[:-40])
    out = tmp_path / "out" / "tiny.pt"
    result = run_cli("prepare-data", "--name", "tiny", "--spec", f'{{"source": "imagefolder", "root": "{archive}"}}',
                     "--out", out)
    assert result.returncode != 0
    assert str(archive) in result.stderr.strip().splitlines()[-1]
    assert not out.exists()


# --------------------------------------------------------------------------- image modes decoded or refused


def _tree_of(tmp_path: Path, images: dict[str, "Image.Image"], fmt: str = "PNG") -> Path:
    """train/ and test/ with classes a and b; `images` maps a file name in train/a to an image, the rest is grey."""
    root = make_tree(tmp_path / "tree")
    for name, img in images.items():
        img.save(root / "train" / "a" / name, format=fmt)
    return root


def _decoded(root: Path, name: str) -> np.ndarray:
    ds = data.build("t", {"source": "imagefolder", "root": str(root)})
    names = sorted(p.name for p in (root / "train" / "a").iterdir() if not p.name.startswith("."))
    return ds.train.x[names.index(name)].numpy()


def test_16_bit_png_is_scaled_not_clipped(tmp_path):
    values = np.tile(np.array([[0, 257, 32768, 65535]], dtype=np.uint16), (8, 2))  # 8x8
    deep = Image.fromarray(values)
    assert deep.mode == "I;16" and deep.convert("L").getpixel((2, 0)) == 255  # Pillow's own conversion clips
    root = _tree_of(tmp_path, {"deep.png": deep})
    x = _decoded(root, "deep.png")
    assert x.shape == (1, 8, 8)
    assert x[0, 0, :4].tolist() == [0, 1, 128, 255]  # round(v * 255 / 65535), never all white


def test_palette_alpha_and_cmyk_images_decode_to_their_colours(tmp_path):
    palette = Image.new("P", (8, 8))
    palette.putpalette([10, 20, 30] + [200, 100, 0] + [0] * (254 * 3))
    palette.paste(1, (0, 0, 8, 4))  # top half colour 1, bottom half colour 0
    rgba = Image.new("RGBA", (8, 8), (200, 100, 50, 128))
    la = Image.new("LA", (8, 8), (90, 0))  # fully transparent grey
    cmyk = Image.new("CMYK", (8, 8), (255, 0, 0, 0))  # cyan
    root = _tree_of(tmp_path, {"p.png": palette, "rgba.png": rgba, "la.png": la})
    cmyk.save(root / "train" / "a" / "cmyk.jpg", format="JPEG", quality=100)
    ds = data.build("t", {"source": "imagefolder", "root": str(root)})
    names = sorted(p.name for p in (root / "train" / "a").iterdir())
    x = {n: ds.train.x[i] for i, n in enumerate(names)}
    assert ds.train.x.shape[1] == 3  # colour present: every image is RGB (grey ones replicated)
    assert x["p.png"][:, 0, 0].tolist() == [200, 100, 0] and x["p.png"][:, 7, 0].tolist() == [10, 20, 30]
    assert x["rgba.png"][:, 3, 3].tolist() == [100, 50, 25]  # composited on black: round(c * 128 / 255)
    assert x["la.png"].eq(0).all()  # transparent -> black
    assert (x["cmyk.jpg"][:, 4, 4].int() - torch.tensor([0, 255, 255])).abs().max() <= 3
    assert x["0.png"].eq(0).all() and x["1.png"].eq(40).all()  # grey 40 replicated to (40, 40, 40)


def test_grey_and_colour_mix_is_made_rgb_with_a_channel_message(tmp_path, caplog):
    root = _tree_of(tmp_path, {"colour.png": Image.new("RGB", (8, 8), (1, 2, 3))})
    with caplog.at_level("WARNING"):
        ds = data.build("t", {"source": "imagefolder", "root": str(root)})
    assert ds.train.x.shape[1:] == (3, 8, 8) and ds.test.x.shape[1:] == (3, 8, 8)
    assert "greyscale" in caplog.text and "RGB" in caplog.text and "size" not in caplog.text


def test_float_image_is_refused_by_name(tmp_path):
    root = make_tree(tmp_path / "tree")
    bad = root / "train" / "b" / "f.tif"
    Image.fromarray(np.full((8, 8), 0.5, dtype=np.float32), mode="F").save(bad)
    message = prepare_fails(root, tmp_path / "out" / "tiny.pt")
    assert f"cannot decode image {bad}" in message and "mode F" in message and "Fix:" in message


def test_hidden_files_are_skipped_in_trees_and_archives(tmp_path):
    tree = make_tree(tmp_path / "tree")
    (tree / "train" / "a" / "._0.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble resource fork")
    (tree / "train" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (tree / "test" / "b" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (tree / "train" / ".hidden_class").mkdir()
    png(tree / "train" / ".hidden_class" / "x.png")
    archive = make_archive(tmp_path / "tiny.tar.gz", tree)
    with tarfile.open(tmp_path / "mac.tar", "w") as tar:
        tar.add(tree, arcname="tiny")
        tar.add(tree / "train" / "a" / "0.png", arcname="__MACOSX/tiny/train/a/._0.png")
    for root in (tree, archive, tmp_path / "mac.tar"):
        ds = data.build("t", {"source": "imagefolder", "root": str(root)})
        assert ds.classes == ["a", "b"] and ds.train.y.tolist() == [0, 0, 1, 1] and len(ds.test.y) == 4

"""RandAugment against PIL: each batched op equals the PIL transformation Arazo et al.'s code applies.

The reference (EricArazo/ImportanceSampling, utils_train/randAugm.py) runs PIL ImageOps,
ImageEnhance, Image.rotate / Image.transform(AFFINE) and ImageDraw on 8-bit images. The
PIL calls are written out here from its op list (its code is not imported); our ops work
on grey levels in float32 and must give the same 8-bit images. Tolerance: none. Every op,
geometric ones included, reproduces PIL's integer arithmetic (nearest sampling in PIL's
16.16 fixed point), so the images are asserted equal to the grey level.
"""

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageEnhance, ImageOps

from sample_importance.training import augment
from sample_importance.training.augment import OP, RA_OPS, RandAugmentTables, build_augmentation

# the reference's augment_list, (op, min, max), in its order
REFERENCE_LIST = [
    ("auto_contrast", 0, 1), ("equalize", 0, 1), ("invert", 0, 1), ("rotate", 0, 30), ("posterize", 0, 4),
    ("solarize", 0, 256), ("solarize_add", 0, 110), ("color", 0.1, 1.9), ("contrast", 0.1, 1.9),
    ("brightness", 0.1, 1.9), ("sharpness", 0.1, 1.9), ("shear_x", 0.0, 0.3), ("shear_y", 0.0, 0.3),
    ("cutout", 0, 40), ("translate_x", 0.0, 100), ("translate_y", 0.0, 100),
]
RANGES = {name: (lo, hi) for name, lo, hi in REFERENCE_LIST}
SIZE = 32


def value(name, m):
    lo, hi = RANGES[name]
    return (float(m) / 30) * float(hi - lo) + lo


def pil_op(img: Image.Image, name: str, m: int, negative: bool, corner: tuple[float, float]) -> Image.Image:
    """What the reference does to a PIL image for op `name` at magnitude m (sign and cutout draw given)."""
    v = value(name, m)
    v = -v if negative and name in ("rotate", "shear_x", "shear_y", "translate_x", "translate_y") else v
    affine = {"shear_x": (1, v, 0, 0, 1, 0), "shear_y": (1, 0, 0, v, 1, 0),
              "translate_x": (1, 0, v, 0, 1, 0), "translate_y": (1, 0, 0, 0, 1, v)}
    enhance = {"color": ImageEnhance.Color, "contrast": ImageEnhance.Contrast,
               "brightness": ImageEnhance.Brightness, "sharpness": ImageEnhance.Sharpness}
    if name in affine:
        return img.transform(img.size, Image.AFFINE, affine[name])
    if name in enhance:
        return enhance[name](img).enhance(v)
    if name == "rotate":
        return img.rotate(v)
    if name == "auto_contrast":
        return ImageOps.autocontrast(img)
    if name == "equalize":
        return ImageOps.equalize(img)
    if name == "invert":
        return ImageOps.invert(img)
    if name == "posterize":
        return ImageOps.posterize(img, max(1, int(v)))
    if name == "solarize":
        return ImageOps.solarize(img, v)
    if name == "solarize_add":
        added = np.clip(np.array(img).astype(np.int64) + v, 0, 255).astype(np.uint8)
        return ImageOps.solarize(Image.fromarray(added), 128)
    assert name == "cutout"
    w, h = img.size
    x0, y0 = int(max(0, corner[0] - v / 2.0)), int(max(0, corner[1] - v / 2.0))
    img = img.copy()
    colour = (125, 123, 114) if img.mode == "RGB" else 123  # PIL takes no RGB colour on an L image
    ImageDraw.Draw(img).rectangle((x0, y0, min(w, x0 + v), min(h, y0 + v)), colour)
    return img


def fixed_images(channels: int) -> torch.Tensor:
    """Six 8-bit images [6, C, 32, 32]: noise, low-contrast noise, a smooth gradient, bands (few levels),
    noise in a random range per channel, and a constant (the identity branches of AutoContrast and Equalize)."""
    gen = torch.Generator().manual_seed(0)
    noise = torch.randint(0, 256, (channels, SIZE, SIZE), generator=gen)
    low = torch.randint(40, 171, (channels, SIZE, SIZE), generator=gen)
    ramp = torch.arange(SIZE)[None, :] * 5 + torch.arange(SIZE)[:, None] * 3
    gradient = torch.stack([(ramp + 20 * c) % 256 for c in range(channels)])
    bands = torch.stack([(torch.arange(SIZE)[:, None] // 8 * (60 + 10 * c)).expand(SIZE, SIZE) for c in range(channels)])
    lo = torch.randint(0, 100, (channels, 1, 1), generator=gen)
    spread = torch.randint(1, 150, (channels, 1, 1), generator=gen)
    ranged = lo + (torch.rand(channels, SIZE, SIZE, generator=gen) * spread).long()
    constant = torch.full((channels, SIZE, SIZE), 77)
    return torch.stack([noise, low, gradient, bands, ranged, constant]).to(torch.uint8)


def to_pil(image: torch.Tensor) -> Image.Image:
    array = image.permute(1, 2, 0).numpy()
    return Image.fromarray(array[..., 0] if array.shape[2] == 1 else array)


def from_pil(img: Image.Image, channels: int) -> torch.Tensor:
    return torch.from_numpy(np.array(img)).reshape(SIZE, SIZE, channels).permute(2, 0, 1)


def batched(images: torch.Tensor, names: list[str], m: int, negative: list[bool], corners: torch.Tensor) -> torch.Tensor:
    op = torch.tensor([OP[n] for n in names])
    out = augment.randaugment_ops(images.float(), op, torch.tensor(negative), corners, RandAugmentTables(m, SIZE))
    assert torch.equal(out, out.round()), "ops must return whole grey levels"
    return out.to(torch.uint8)


def test_the_sixteen_ops_and_ranges_are_the_references():
    assert [(n, float(lo), float(hi)) for n, lo, hi in RA_OPS] == [(n, float(lo), float(hi)) for n, lo, hi in REFERENCE_LIST]


@pytest.mark.parametrize("channels", [3, 1])
@pytest.mark.parametrize("m", [0, 4, 9, 17, 30])
def test_every_op_in_one_batch_equals_pil(m, channels):
    """All 16 ops x 6 images x both signs in one batch: every image must equal PIL's output exactly."""
    images = fixed_images(channels)
    names, negative, sources = [], [], []
    for name, _, _ in REFERENCE_LIST:
        for k in range(len(images)):
            for neg in (False, True):
                names.append(name), negative.append(neg), sources.append(k)
    gen = torch.Generator().manual_seed(m)
    corners = SIZE + (1 - SIZE) * torch.rand(len(names), 2, generator=gen, dtype=torch.float64)
    ours = batched(images[sources], names, m, negative, corners)
    for i, (name, neg, k) in enumerate(zip(names, negative, sources)):
        expected = from_pil(pil_op(to_pil(images[k]), name, m, neg, tuple(corners[i].tolist())), channels)
        diff = (ours[i].int() - expected.int()).abs().max()
        assert int(diff) == 0, f"{name} (M={m}, negative={neg}, image {k}, C={channels}) differs by {int(diff)} levels"


def test_reference_magnitudes_at_m4_are_strong():
    """At Arazo's M=4 (train.py --randaugm_M 4): 13 px translation, 1-bit posterize, factors 0.34, solarize at 34."""
    assert round(augment.ra_value("translate_x", 4), 2) == 13.33
    assert max(1, int(augment.ra_value("posterize", 4))) == 1
    assert round(augment.ra_value("color", 4), 2) == 0.34
    assert round(augment.ra_value("solarize", 4), 2) == 34.13
    assert augment.ra_value("rotate", 4) == 4.0 and round(augment.ra_value("shear_x", 4), 3) == 0.04
    assert round(augment.ra_value("cutout", 4), 2) == 5.33
    # pixel magnitudes follow the image side away from 32x32 (the reference only saw 32 and 84 px)
    assert augment.ra_value("translate_y", 4, image_size=8) == pytest.approx(13.333333 / 4)
    assert augment.ra_value("rotate", 4, image_size=8) == 4.0


def test_translation_moves_whole_pixels_and_fills_black():
    images = fixed_images(3)[:1].expand(2, -1, -1, -1)
    out = batched(images, ["translate_x", "translate_x"], 4, [False, True], torch.ones(2, 2, dtype=torch.float64))
    assert torch.equal(out[0, :, :, :SIZE - 13], images[0, :, :, 13:]) and int(out[0, :, :, SIZE - 13:].max()) == 0
    assert torch.equal(out[1, :, :, 13:], images[0, :, :, :SIZE - 13]) and int(out[1, :, :, :13].max()) == 0


def draws(gen: torch.Generator, b: int, n_ops: int):
    """The draws rand_augment makes, in its order: per round, op, sign and CutoutAbs's corner."""
    rounds = []
    for _ in range(n_ops):
        op = torch.randint(0, 16, (b,), generator=gen)
        negative = torch.rand(b, generator=gen) < 0.5
        corner = SIZE + (1 - SIZE) * torch.rand(b, 2, generator=gen, dtype=torch.float64)
        rounds.append((op, negative, corner))
    return rounds


def test_rand_augment_applies_n_ops_drawn_per_image():
    x = fixed_images(3).repeat(16, 1, 1, 1)  # 64 images
    tables = RandAugmentTables(4, SIZE)
    out = augment.rand_augment(x.float() / 255, torch.Generator().manual_seed(3), 2, tables)
    rounds = draws(torch.Generator().manual_seed(3), len(x), 2)
    expected = x.float()
    for op, negative, corner in rounds:
        expected = augment.randaugment_ops(expected, op, negative, corner, tables)
    assert torch.equal(out, expected / 255)
    ops = torch.stack([r[0] for r in rounds])
    assert len(set(ops.flatten().tolist())) >= 12  # ops vary across images (64 x 2 draws of 16)
    assert bool((ops[0] == ops[1]).any())  # with replacement, as random.choices


def test_randaugment_runs_before_crop_and_flip_with_arazos_n_and_m():
    x = fixed_images(3).repeat(4, 1, 1, 1).float() / 255
    y = torch.zeros(len(x), dtype=torch.long)
    got = build_augmentation("randaugment", SIZE, 10)(x, y, torch.Generator().manual_seed(5))
    gen = torch.Generator().manual_seed(5)
    augmented = augment.rand_augment(x, gen, 2, RandAugmentTables(4, SIZE))
    expected = augment.make_standard(SIZE)(augmented, y, gen).x
    assert torch.equal(got.x, expected) and got.soft_targets is None and torch.equal(got.y, y)


def test_other_n_and_m_by_name():
    x = fixed_images(3).float() / 255
    y = torch.zeros(len(x), dtype=torch.long)
    got = build_augmentation("randaugment_n1_m9", SIZE, 10)(x, y, torch.Generator().manual_seed(2))
    expected = augment.make_randaugment(SIZE, 1, 9)(x, y, torch.Generator().manual_seed(2))
    assert torch.equal(got.x, expected.x)
    assert augment.is_known("randaugment_n3_m30") and augment.is_known("randaugment_tv")
    for bad in ("randaugment_n2_m31", "randaugment_n0_m4", "randaugment_n2", "randaugment_m4"):
        assert not augment.is_known(bad)
        with pytest.raises(ValueError, match="randaugment_n<N>_m<M>"):
            build_augmentation(bad, SIZE, 10)

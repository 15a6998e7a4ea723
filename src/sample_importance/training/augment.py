"""Batched data augmentation on the training device.

Every augmentation takes a float batch in [0, 1] of shape [B, C, H, W], its
labels and the run's generator, and returns the augmented batch, soft targets
(None unless labels are mixed) and the *dominant* label of each output image.
The engine records p_true for the dominant label, so per-sample importance stays
defined under mixing: for mixup/cutmix/ricap it is the probability of the class
that covers the larger share of the image (ties go to the image's own label).
The mixing ones are arranged so that training sample i covers the largest part
of output image i (at least half for mixup and cutmix, the largest of the four
patches for ricap), so that label is almost always sample i's own; the soft
targets are the shares themselves (rows sum to 1; for cutmix and ricap the
exact pixel-area shares).

Config names:
    none         the images as they are
    crop         random crop only (zero padding of image_size/8: 4 px on 32x32)
    standard     random crop + horizontal flip (the CIFAR standard)
    randaugment  RandAugment as Arazo et al.'s code (N=2 ops per image of its 16, M=4), then standard
    randaugment_n<N>_m<M>  the same with other N and M (M in 0..30, the reference's scale)
    randaugment_tv  standard, then torchvision v2's RandAugment N=2, M=4 (31-bin scale), per batch chunk
    mixup        standard, then mixup with lambda ~ Beta(0.3, 0.3) (torchvision v2 MixUp)
    cutmix       standard, then CutMix with lambda ~ Beta(1, 1) (torchvision v2 CutMix)
    ricap        standard, then RICAP with boundary ~ Beta(0.3, 0.3) (Takahashi et al. 2019)
    cutout       standard, then one square hole of side image_size/2 (16 px on 32x32, DeVries & Taylor 2017)
Like Arazo et al. (2021), every extra augmentation comes with the standard crop + flip:
after it for the mixing ones and cutout, before it for RandAugment (the reference's order).
Channels: all of them work on 1-channel (digits) and 3-channel images (RandAugment's
colour op is a no-op on one channel, as PIL's on an L image).

No per-sample Python: random offsets and masks are drawn for the whole batch
from the run's generator, so a seed reproduces the augmentation exactly.
torchvision v2 transforms draw from torch's global CPU generator instead; they
run inside `global_rng_from(gen)`, which forks that generator and seeds it from
the run's generator (one draw, and so one device sync, per step), so they too
are reproducible under the run's seed and leave the global state untouched.
"""

from __future__ import annotations

import math
import re
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

import torch


@dataclass
class Augmented:
    x: torch.Tensor
    soft_targets: torch.Tensor | None  # [B, n_classes] rows summing to 1, or None for hard labels
    y: torch.Tensor  # dominant label per image


Augmentation = Callable[[torch.Tensor, torch.Tensor, torch.Generator], Augmented]


def crop_padding(image_size: int) -> int:
    """Padding of the random crop, sized to the image: 4 pixels on 32x32 (the CIFAR standard), 1 on 8x8."""
    return max(1, round(image_size / 8))


def random_crop(x: torch.Tensor, padding: int, gen: torch.Generator) -> torch.Tensor:
    """Zero-pad by `padding` and crop back to size at a random offset per image, in one gather."""
    b, c, h, w = x.shape
    padded = torch.nn.functional.pad(x, (padding,) * 4)
    dy = torch.randint(0, 2 * padding + 1, (b,), generator=gen, device=gen.device).to(x.device)
    dx = torch.randint(0, 2 * padding + 1, (b,), generator=gen, device=gen.device).to(x.device)
    return crop_at(padded, dy, dx, h, w)


def crop_at(padded: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Crop an [h, w] window at per-image offsets (dy, dx) of a padded batch.

    `unfold` views every window without copying ([B, C, rows, cols, h, w]); one
    index picks each image's window. About 7x faster on a CPU than indexing with
    four broadcast index tensors (which computes an index per output element).
    """
    windows = padded.unfold(2, h, 1).unfold(3, w, 1)
    return windows[torch.arange(padded.shape[0], device=padded.device), :, dy, dx]


def random_flip(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Mirror a random half of the images left-right.

    One gather with a per-image column order (reversed for flipped images): a
    single pass over the batch, several times faster on a CPU than
    `torch.where(flip, x.flip(3), x)`, and no device sync (no boolean indexing).
    """
    b, w = x.shape[0], x.shape[3]
    flip = torch.rand(b, generator=gen, device=gen.device).to(x.device) < 0.5
    cols = torch.arange(w, device=x.device)
    cols = torch.where(flip[:, None], w - 1 - cols, cols)
    return x.gather(3, cols[:, None, None, :].expand_as(x))


def none(x, y, gen) -> Augmented:
    return Augmented(x, None, y)


def make_crop(image_size: int) -> Augmentation:
    pad = crop_padding(image_size)
    return lambda x, y, gen: Augmented(random_crop(x, pad, gen), None, y)


def make_standard(image_size: int) -> Augmentation:
    pad = crop_padding(image_size)
    return lambda x, y, gen: Augmented(random_flip(random_crop(x, pad, gen), gen), None, y)


# ----------------------------------------------------------------------------- settings (Arazo et al. 2021)
RANDAUGMENT_OPS = 2  # N: ops per image (train.py --randaugm_N)
RANDAUGMENT_MAGNITUDE = 4  # M of 30 (train.py --randaugm_M): rotate 4 deg, translate 13 px, posterize 1 bit, factors 0.34
RANDAUGMENT_CHUNKS = 8  # randaugment_tv: batch chunks with independent ops (see make_randaugment_tv)
MIXUP_ALPHA = 0.3  # train.py --alpha
CUTMIX_ALPHA = 1.0  # Yun et al. 2019
RICAP_ALPHA = 0.3  # train.py --alpha, shared with mixup (utils_train.py, ricap_data_original)


def cutout_size(image_size: int) -> int:
    """Side of the cutout square: half the image, DeVries & Taylor's 16 px on 32x32 CIFAR-10 (4 px on 8x8 digits)."""
    return max(1, image_size // 2)


# ----------------------------------------------------------------------------- helpers


@contextmanager
def global_rng_from(gen: torch.Generator) -> Iterator[None]:
    """Seed torch's global CPU generator from the run's generator for the block, then restore it.

    torchvision v2 transforms (and torch.distributions) take no generator and
    draw on the CPU, so forking the CPU generator alone suffices on any device.
    """
    seed = int(torch.randint(0, 2**62, (1,), generator=gen, device=gen.device))
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        yield


def dominant_label(soft: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The class with the largest share of each mixed image; the image's own label wins ties."""
    own = soft.gather(1, y[:, None]).squeeze(1)
    return torch.where(own >= soft.max(1).values, y, soft.argmax(1))


def _mixed(x: torch.Tensor, soft: torch.Tensor, y: torch.Tensor) -> Augmented:
    soft = soft.float()
    return Augmented(x, soft, dominant_label(soft, y))


# ----------------------------------------------------------------------------- mixing and masking (batch level)


def mixup(x: torch.Tensor, y: torch.Tensor, gen: torch.Generator, n_classes: int, alpha: float = MIXUP_ALPHA) -> Augmented:
    """Mixup (Zhang et al. 2018) with torchvision v2's MixUp: one lambda per batch, image i mixed with image i-1.

    Pairing neighbours is a random pairing, since batches come in random order.
    lambda is folded to max(lambda, 1 - lambda) (as MixMatch does), so image i is
    mostly sample i and the p_true the engine records for sample i is that of its
    own label; with random pairs this leaves the distribution of mixed images unchanged.
    """
    from torchvision.transforms import v2

    mix = v2.MixUp(alpha=alpha, num_classes=n_classes)
    with global_rng_from(gen):
        lam = mix.make_params([x])["lam"]
    params = {"lam": max(lam, 1.0 - lam), "labels": y, "batch_size": len(y)}
    return _mixed(mix.transform(x, params), mix.transform(y, params), y)


def cutmix(x: torch.Tensor, y: torch.Tensor, gen: torch.Generator, n_classes: int, alpha: float = CUTMIX_ALPHA) -> Augmented:
    """CutMix (Yun et al. 2019) with torchvision v2's CutMix: one box per batch; shares = exact pixel areas.

    v2 pastes the box from image i-1 into image i. When the box covers more than
    half of the image, image i is pasted into image i+1 instead (same box), so
    that, as for mixup, image i is mostly sample i.
    """
    from torchvision.transforms import v2

    mix = v2.CutMix(alpha=alpha, num_classes=n_classes)
    with global_rng_from(gen):
        params = mix.make_params([x])
    x_src, y_src = (x, y) if params["lam_adjusted"] >= 0.5 else (x.roll(-1, 0), y.roll(-1, 0))
    params = {**params, "labels": y_src, "batch_size": len(y)}
    return _mixed(mix.transform(x_src, params), mix.transform(y_src, params), y)


def ricap(x: torch.Tensor, y: torch.Tensor, gen: torch.Generator, n_classes: int, alpha: float = RICAP_ALPHA) -> Augmented:
    """RICAP (Takahashi et al. 2019): each output tiles 4 crops taken from 4 shuffled copies of the batch.

    The boundary point (w, h) is drawn once per batch, w = round(W * Beta(alpha, alpha)),
    h likewise, giving patches of sizes (h, w), (h, W-w), (H-h, w), (H-h, W-w); the label
    shares are the patch areas. Departures from the reference code, neither of which
    changes the distribution of outputs (batches come in random order): the largest
    patch of image i is cropped from sample i itself (the other three from shuffled
    copies), so image i is mostly sample i; crop offsets are drawn per image, not per batch.
    """
    b, _, h, w = x.shape
    with global_rng_from(gen):
        fw, fh = torch.distributions.Beta(float(alpha), float(alpha)).sample((2,)).tolist()
    bw, bh = round(w * fw), round(h * fh)
    sizes = [(bh, bw), (bh, w - bw), (h - bh, bw), (h - bh, w - bw)]
    largest = max(range(4), key=lambda k: sizes[k][0] * sizes[k][1])
    patches = []
    soft = torch.zeros(b, n_classes, device=x.device)
    for k, (ph, pw) in enumerate(sizes):
        order = torch.arange(b, device=x.device) if k == largest else \
            torch.randperm(b, generator=gen, device=gen.device).to(x.device)
        dy = torch.randint(0, h - ph + 1, (b,), generator=gen, device=gen.device).to(x.device)
        dx = torch.randint(0, w - pw + 1, (b,), generator=gen, device=gen.device).to(x.device)
        patches.append(crop_at(x[order], dy, dx, ph, pw))
        soft.scatter_add_(1, y[order][:, None], torch.full((b, 1), ph * pw / (h * w), device=x.device))
    top = torch.cat(patches[:2], dim=3)
    bottom = torch.cat(patches[2:], dim=3)
    return _mixed(torch.cat([top, bottom], dim=2), soft, y)


def cutout(x: torch.Tensor, size: int, gen: torch.Generator) -> torch.Tensor:
    """Cutout (DeVries & Taylor 2017): a size x size square at a uniform random centre per image, clipped at the border.

    The hole is filled with the batch's per-channel mean: DeVries & Taylor zero it
    after normalisation, i.e. fill it with the dataset mean; here augmentation
    comes before normalisation, and the batch mean is that mean's estimate.
    """
    b, _, h, w = x.shape
    cy = torch.randint(0, h, (b,), generator=gen, device=gen.device).to(x.device)
    cx = torch.randint(0, w, (b,), generator=gen, device=gen.device).to(x.device)
    top, left = cy - size // 2, cx - size // 2
    rows = torch.arange(h, device=x.device)[None, :]
    cols = torch.arange(w, device=x.device)[None, :]
    in_rows = (rows >= top[:, None]) & (rows < top[:, None] + size)
    in_cols = (cols >= left[:, None]) & (cols < left[:, None] + size)
    hole = (in_rows[:, :, None] & in_cols[:, None, :])[:, None]
    return torch.where(hole, x.mean(dim=(0, 2, 3), keepdim=True), x)


# ----------------------------------------------------------------------------- RandAugment as Arazo et al. (2021)
#
# EricArazo/ImportanceSampling, utils_train/randAugm.py (`augment_list`, `RandAugment.__call__`; adapted there
# from ildoonet/pytorch-randaugment): per image, N ops drawn with replacement from 16, each at the value
# (M / 30) * (max - min) + min of its range; rotate, shear and translate take a random sign. The reference
# applies it to the PIL image before RandomCrop(32, padding=4) and the flip (dataset/load_dataset.py,
# `data_config`). Here each op runs on the whole batch at once, on grey levels 0..255 held in float32, and
# reproduces PIL's integer arithmetic (lookup tables, truncations, 16.16 fixed-point nearest sampling), so an
# op matches PIL on 8-bit images to the grey level (tests/test_randaugment_reference.py).

RA_OPS: tuple[tuple[str, float, float], ...] = (  # (name, min, max): the reference's augment_list, in its order
    ("auto_contrast", 0, 1), ("equalize", 0, 1), ("invert", 0, 1), ("rotate", 0, 30),
    ("posterize", 0, 4), ("solarize", 0, 256), ("solarize_add", 0, 110), ("color", 0.1, 1.9),
    ("contrast", 0.1, 1.9), ("brightness", 0.1, 1.9), ("sharpness", 0.1, 1.9), ("shear_x", 0.0, 0.3),
    ("shear_y", 0.0, 0.3), ("cutout", 0, 40), ("translate_x", 0.0, 100), ("translate_y", 0.0, 100),
)
OP = {name: i for i, (name, _, _) in enumerate(RA_OPS)}
ENHANCE_OPS = ("color", "contrast", "brightness", "sharpness")
GEOMETRIC_OPS = ("rotate", "shear_x", "shear_y", "translate_x", "translate_y")
PIXEL_OPS = ("cutout", "translate_x", "translate_y")  # magnitudes in pixels of the reference's 32x32 images
REFERENCE_SIZE = 32
CUTOUT_FILL = (125, 123, 114)  # the reference's CutoutAbs colour (RGB grey levels)
MAX_MAGNITUDE = 30  # the reference's scale: M / 30 of each range; its asserts reject more


def ra_value(name: str, magnitude: float, image_size: int = REFERENCE_SIZE) -> float:
    """The reference's value of an op at magnitude M, (M / 30) * (max - min) + min, in the same float arithmetic.

    Pixel magnitudes (translate, cutout) are absolute in the reference (13 px at M=4 on 32x32); on other
    image sizes they scale with the side, so an 8x8 digit is not translated off its canvas.
    """
    _, lo, hi = RA_OPS[OP[name]]
    value = (float(magnitude) / 30) * float(hi - lo) + lo
    if name in PIXEL_OPS and image_size != REFERENCE_SIZE:
        value *= image_size / REFERENCE_SIZE
    return value


def _solarize(levels: torch.Tensor, threshold: float) -> torch.Tensor:
    """PIL ImageOps.solarize: levels at or above the threshold are inverted."""
    return torch.where(levels < threshold, levels, 255 - levels)


def _static_luts(magnitude: float) -> torch.Tensor:
    """[16, 256] lookup table per op; the identity for ops whose table depends on the image (or that are no LUT)."""
    i = torch.arange(256, dtype=torch.float64)
    luts = i.repeat(len(RA_OPS), 1)
    luts[OP["invert"]] = 255 - i
    bits = max(1, int(ra_value("posterize", magnitude)))  # M=4: 1 bit (the reference's range is 0..4 bits)
    luts[OP["posterize"]] = (i.long() & ~(2 ** (8 - bits) - 1)).double()
    luts[OP["solarize"]] = _solarize(i, ra_value("solarize", magnitude))
    # SolarizeAdd: numpy adds the float, clips to 0..255 and truncates to uint8, then solarizes at 128
    luts[OP["solarize_add"]] = _solarize((i + ra_value("solarize_add", magnitude)).clamp(0, 255).floor(), 128)
    return luts.float()


def _fix(value: float) -> int:
    """PIL's 16.16 fixed point (libImaging/Geometry.c, affine_fixed): FLOOR(v * 65536 + 0.5)."""
    return math.floor(value * 65536.0 + 0.5)


def _pil_affine_fixed(a: tuple[float, ...]) -> list[int]:
    """The integer coefficients PIL's nearest-neighbour affine transform samples with, for PIL's `data` a.

    Output pixel (x, y) reads input (X >> 16, Y >> 16), X = A2 + y*A1 + x*A0, Y = A5 + y*A4 + x*A3 (pixel
    centres folded into A2, A5). PIL takes another path for pure translations (ImagingScaleAffine,
    floor(a2 + 0.5 + x) in double); its integer form is used for those so both paths match exactly.
    """
    if a[0] == 1 and a[1] == 0 and a[3] == 0 and a[4] == 1:
        return [65536, 0, math.floor(a[2] + 0.5) << 16, 0, 65536, math.floor(a[5] + 0.5) << 16]
    return [_fix(a[0]), _fix(a[1]), _fix(a[2] + a[0] * 0.5 + a[1] * 0.5),
            _fix(a[3]), _fix(a[4]), _fix(a[5] + a[3] * 0.5 + a[4] * 0.5)]


def _pil_rotation(degrees: float, w: int, h: int) -> tuple[float, ...]:
    """PIL Image.rotate's inverse matrix (about the centre (w/2, h/2), no expand), in its float arithmetic."""
    angle = -math.radians(degrees % 360.0)
    a, b = round(math.cos(angle), 15), round(math.sin(angle), 15)
    d, e = round(-math.sin(angle), 15), round(math.cos(angle), 15)
    cx, cy = w / 2, h / 2
    return a, b, a * -cx + b * -cy + 0.0 + cx, d, e, d * -cx + e * -cy + 0.0 + cy


def _geometry_table(magnitude: float, image_size: int) -> torch.Tensor:
    """[11, 6] fixed-point coefficients: row 0 the identity, then each geometric op at +value and at -value."""
    s = image_size
    matrices: dict[str, Callable[[float], tuple[float, ...]]] = {
        "rotate": lambda v: _pil_rotation(v, s, s),
        "shear_x": lambda v: (1, v, 0, 0, 1, 0),
        "shear_y": lambda v: (1, 0, 0, v, 1, 0),
        "translate_x": lambda v: (1, 0, v, 0, 1, 0),
        "translate_y": lambda v: (1, 0, 0, 0, 1, v),
    }
    rows = [_pil_affine_fixed((1, 0, 0, 0, 1, 0))]
    for name in GEOMETRIC_OPS:
        value = ra_value(name, magnitude, image_size)
        rows += [_pil_affine_fixed(matrices[name](value)), _pil_affine_fixed(matrices[name](-value))]
    return torch.tensor(rows, dtype=torch.int64)


class RandAugmentTables:
    """Everything about the ops that depends on M and the image size alone, built once, copied once per device."""

    def __init__(self, magnitude: float, image_size: int):
        if not 0 <= magnitude <= MAX_MAGNITUDE:
            raise ValueError(f"RandAugment magnitude {magnitude} outside the reference's 0..{MAX_MAGNITUDE}")
        self.magnitude, self.image_size = magnitude, image_size
        factors = torch.ones(len(RA_OPS))
        for name in ENHANCE_OPS:
            factors[OP[name]] = ra_value(name, magnitude)  # float32, as PIL's Image.blend takes it
        geometric = torch.full((len(RA_OPS),), -1, dtype=torch.int64)
        for k, name in enumerate(GEOMETRIC_OPS):
            geometric[OP[name]] = k
        self.cpu = {"luts": _static_luts(magnitude), "factors": factors, "geometric": geometric,
                    "affine": _geometry_table(magnitude, image_size)}
        self._on: dict[torch.device, dict[str, torch.Tensor]] = {}

    def on(self, device: torch.device) -> dict[str, torch.Tensor]:
        if device not in self._on:
            self._on[device] = {k: t.to(device) for k, t in self.cpu.items()}
        return self._on[device]


def _histograms(levels: torch.Tensor) -> torch.Tensor:
    """[B, C, 256] counts of each grey level, per image and channel; levels: int64 [B, C, H*W]."""
    hist = torch.zeros(*levels.shape[:2], 256, dtype=torch.int64, device=levels.device)
    return hist.scatter_add_(2, levels, torch.ones_like(levels))


def _autocontrast_luts(v: torch.Tensor) -> torch.Tensor:
    """PIL ImageOps.autocontrast (cutoff 0) per image and channel: [lo, hi] -> [0, 255], int() truncation, in double."""
    lo, hi = v.amin((2, 3)).double(), v.amax((2, 3)).double()
    scale = torch.full_like(hi, 255.0) / (hi - lo).clamp(min=1)  # not 255.0 / t: torch takes a reciprocal then
    i = torch.arange(256, dtype=torch.float64, device=v.device)
    lut = (i * scale[..., None] + (-lo * scale)[..., None]).trunc().clamp(0, 255)
    return torch.where((hi > lo)[..., None], lut, i).float()


def _equalize_luts(hist: torch.Tensor) -> torch.Tensor:
    """PIL ImageOps.equalize per image and channel: step = (n - count of the top level) // 255, lut = cumulative // step."""
    i = torch.arange(256, device=hist.device)
    top = 255 - (hist.flip(-1) > 0).int().argmax(-1, keepdim=True)
    step = (hist.sum(-1, keepdim=True) - hist.gather(2, top)) // 255
    lut = (step // 2 + hist.cumsum(-1) - hist) // step.clamp(min=1)
    identity = ((hist > 0).sum(-1, keepdim=True) <= 1) | (step == 0)
    return torch.where(identity, i, lut.clamp(max=255)).float()


def _lut_ops(v: torch.Tensor, op: torch.Tensor, t: dict[str, torch.Tensor]) -> torch.Tensor:
    """AutoContrast, Equalize, Invert, Posterize, Solarize, SolarizeAdd: one table lookup per image and channel."""
    b, c = v.shape[:2]
    levels = v.long().flatten(2)
    luts = t["luts"][op][:, None].expand(b, c, 256)
    luts = torch.where((op == OP["auto_contrast"])[:, None, None], _autocontrast_luts(v), luts)
    luts = torch.where((op == OP["equalize"])[:, None, None], _equalize_luts(_histograms(levels)), luts)
    return luts.gather(2, levels).view_as(v)


def _grey(v: torch.Tensor) -> torch.Tensor:
    """PIL's RGB -> L conversion (ITU-R 601-2 luma in 16-bit fixed point), [B, 1, H, W]; exact in float32 (< 2^24)."""
    if v.shape[1] == 1:
        return v
    return ((v[:, 0:1] * 19595 + v[:, 1:2] * 38470 + v[:, 2:3] * 7471 + 32768) / 65536).floor()


def _smooth(v: torch.Tensor) -> torch.Tensor:
    """PIL ImageFilter.SMOOTH ([[1,1,1],[1,5,1],[1,1,1]] / 13, rounded), borders left as they are (as PIL does)."""
    b, c, h, w = v.shape
    kernel = torch.tensor([[1.0, 1, 1], [1, 5, 1], [1, 1, 1]], device=v.device).view(1, 1, 3, 3)
    inner = torch.nn.functional.conv2d(v.reshape(b * c, 1, h, w), kernel).view(b, c, h - 2, w - 2)
    out = v.clone()
    out[:, :, 1:-1, 1:-1] = (inner / 13 + 0.5).floor()
    return out


def _has(op: torch.Tensor, name: str) -> torch.Tensor:
    """[B, 1, 1, 1] mask of the images whose op is `name`."""
    return (op == OP[name])[:, None, None, None]


def _enhance_ops(v: torch.Tensor, op: torch.Tensor, t: dict[str, torch.Tensor]) -> torch.Tensor:
    """Color, Contrast, Brightness, Sharpness: PIL ImageEnhance, i.e. Image.blend(degenerate, image, factor).

    Blend computes degenerate + factor * (image - degenerate) in float32 and truncates to 0..255; with
    factor 1 (every other op) that is the image itself, exactly.
    """
    grey = _grey(v)
    n = grey[0].numel()
    mean = (2 * grey.long().sum((1, 2, 3)) + n) // (2 * n)  # Contrast: int(mean of the L image + 0.5), exactly
    degenerate = torch.where(_has(op, "color"), grey, v)
    degenerate = torch.where(_has(op, "contrast"), mean[:, None, None, None].float(), degenerate)
    degenerate = torch.where(_has(op, "brightness"), torch.zeros((), device=v.device), degenerate)
    degenerate = torch.where(_has(op, "sharpness"), _smooth(v), degenerate)
    factor = t["factors"][op][:, None, None, None]
    return (degenerate + factor * (v - degenerate)).clamp(0, 255).floor()


def _geometric_ops(v: torch.Tensor, op: torch.Tensor, negative: torch.Tensor, t: dict[str, torch.Tensor]) -> torch.Tensor:
    """Rotate, ShearX/Y, TranslateX/Y: PIL's nearest-neighbour affine transform with black fill, as one gather."""
    b, c, h, w = v.shape
    k = t["geometric"][op]
    coeffs = t["affine"][torch.where(k >= 0, 1 + 2 * k + negative.long(), 0)]  # [B, 6]
    a0, a1, a2, a3, a4, a5 = (coeffs[:, j, None, None] for j in range(6))
    ys = torch.arange(h, device=v.device)[None, :, None]
    xs = torch.arange(w, device=v.device)[None, None, :]
    x_in = (a2 + ys * a1 + xs * a0) >> 16
    y_in = (a5 + ys * a4 + xs * a3) >> 16
    inside = (x_in >= 0) & (x_in < w) & (y_in >= 0) & (y_in < h)
    index = (y_in.clamp(0, h - 1) * w + x_in.clamp(0, w - 1)).flatten(1)
    sampled = v.flatten(2).gather(2, index[:, None].expand(b, c, h * w)).view_as(v)
    return torch.where(inside[:, None], sampled, torch.zeros((), device=v.device))


def _cutout_op(v: torch.Tensor, op: torch.Tensor, corner: torch.Tensor, side: float) -> torch.Tensor:
    """CutoutAbs: a (side+1)-pixel square (PIL's rectangle includes both corners) in the reference's grey.

    `corner` [B, 2] holds the reference's x0, y0 draws, np.random.uniform(w) (numpy's low=w, high=1: a
    value in (1, w]); the top-left corner is int(max(0, x0 - side / 2)), the far side min(w, corner + side),
    truncated by PIL's draw. One-channel images get the colour's luma (123); PIL refuses an RGB colour there.
    """
    b, c, h, w = v.shape
    start = (corner - side / 2).clamp(min=0).floor()
    end = torch.minimum(start + side, torch.tensor([w, h], dtype=start.dtype, device=v.device)).floor()
    cols, rows = torch.arange(w, device=v.device), torch.arange(h, device=v.device)
    in_cols = (cols >= start[:, 0:1]) & (cols <= end[:, 0:1])
    in_rows = (rows >= start[:, 1:2]) & (rows <= end[:, 1:2])
    hole = (in_rows[:, :, None] & in_cols[:, None, :])[:, None] & _has(op, "cutout")
    fill = torch.tensor(CUTOUT_FILL, dtype=v.dtype, device=v.device)
    fill = fill.view(1, 3, 1, 1) if c == 3 else _grey(fill.view(1, 3, 1, 1)).expand(1, c, 1, 1)
    return torch.where(hole, fill, v)


def randaugment_ops(v: torch.Tensor, op: torch.Tensor, negative: torch.Tensor, corner: torch.Tensor,
                    tables: RandAugmentTables) -> torch.Tensor:
    """Apply op[i] (an index into RA_OPS) to image i of v (grey levels 0..255, float32) in one batched pass.

    negative[i] flips the sign of a geometric op's value; corner[i] ([B, 2], float64) is CutoutAbs's
    draw. Each stage leaves the images whose op belongs to another stage exactly as they are.
    """
    t = tables.on(v.device)
    v = _lut_ops(v, op, t)
    v = _enhance_ops(v, op, t)
    v = _geometric_ops(v, op, negative, t)
    return _cutout_op(v, op, corner, ra_value("cutout", tables.magnitude, tables.image_size))


def rand_augment(x: torch.Tensor, gen: torch.Generator, n_ops: int, tables: RandAugmentTables) -> torch.Tensor:
    """RandAugment as the reference: n_ops rounds, each applying to every image an op drawn uniformly from the 16."""
    b, _, h, w = x.shape
    v = x.mul(255).round()

    def draw(fn, *args, **kw):
        return fn(*args, generator=gen, device=gen.device, **kw).to(x.device)

    for _ in range(n_ops):
        op = draw(torch.randint, 0, len(RA_OPS), (b,))
        negative = draw(torch.rand, b) < 0.5
        extent = torch.tensor([w, h], dtype=torch.float64, device=x.device)
        corner = extent + (1 - extent) * draw(torch.rand, b, 2, dtype=torch.float64)
        v = randaugment_ops(v, op, negative, corner, tables)
    return v.div_(255)


# ----------------------------------------------------------------------------- factories


def make_randaugment(image_size: int, n_ops: int = RANDAUGMENT_OPS,
                     magnitude: float = RANDAUGMENT_MAGNITUDE) -> Augmentation:
    """RandAugment as Arazo et al. (N ops per image from the reference's 16, at magnitude M), then crop + flip.

    The reference's order: dataset/load_dataset.py (`data_config`) inserts RandAugment before
    RandomCrop and RandomHorizontalFlip.
    """
    standard = make_standard(image_size)
    tables = RandAugmentTables(magnitude, image_size)
    return lambda x, y, gen: Augmented(standard(rand_augment(x, gen, n_ops, tables), y, gen).x, None, y)


def make_randaugment_tv(image_size: int, chunks: int = RANDAUGMENT_CHUNKS) -> Augmentation:
    """Standard crop + flip, then torchvision v2's RandAugment (N=2, M=4 of its 31 bins), per chunk of the batch.

    The project's RandAugment before it followed Arazo's: kept to compare with, and for the
    numbers of earlier runs. v2.RandAugment applies one op sequence to a whole batch tensor; to
    keep ops varied without per-sample Python, the batch is cut into `chunks` chunks (random
    groups, as batches come in random order), each with its own N ops and signs.
    The ops run on uint8 images, RandAugment's native input (lossless here: the
    images are 8-bit, and the crop pads with zeros).
    """
    from torchvision.transforms import v2

    standard = make_standard(image_size)
    rand_augment_tv = v2.RandAugment(num_ops=RANDAUGMENT_OPS, magnitude=RANDAUGMENT_MAGNITUDE)

    def apply(x, y, gen):
        x = standard(x, y, gen).x
        as_uint8 = x.mul(255).round_().to(torch.uint8)
        with global_rng_from(gen):
            parts = [rand_augment_tv(part) for part in torch.tensor_split(as_uint8, min(chunks, len(x)))]
        return Augmented(torch.cat(parts).float().div_(255), None, y)

    return apply


def make_mixing(image_size: int, n_classes: int, mix: Callable[..., Augmented]) -> Augmentation:
    """Standard crop + flip, then a label-mixing augmentation (mixup, cutmix, ricap)."""
    standard = make_standard(image_size)
    return lambda x, y, gen: mix(standard(x, y, gen).x, y, gen, n_classes)


def make_cutout(image_size: int) -> Augmentation:
    standard = make_standard(image_size)
    size = cutout_size(image_size)
    return lambda x, y, gen: Augmented(cutout(standard(x, y, gen).x, size, gen), None, y)


# name -> factory(image_size, n_classes); each entry documents itself in its factory
FACTORIES: dict[str, Callable[[int, int], Augmentation]] = {
    "none": lambda size, n_classes: none,
    "crop": lambda size, n_classes: make_crop(size),  # random crop only: for data that is not mirror-symmetric (digits)
    "standard": lambda size, n_classes: make_standard(size),
    "randaugment": lambda size, n_classes: make_randaugment(size),  # Arazo's: N=2, M=4; randaugment_n<N>_m<M> for others
    "randaugment_tv": lambda size, n_classes: make_randaugment_tv(size),
    "mixup": lambda size, n_classes: make_mixing(size, n_classes, mixup),
    "cutmix": lambda size, n_classes: make_mixing(size, n_classes, cutmix),
    "ricap": lambda size, n_classes: make_mixing(size, n_classes, ricap),
    "cutout": lambda size, n_classes: make_cutout(size),
}


def names() -> list[str]:
    return sorted(FACTORIES)


RANDAUGMENT_NAME = re.compile(r"randaugment_n(\d+)_m(\d+)")


def _randaugment_setting(name: str) -> tuple[int, int] | None:
    """(N, M) of a name `randaugment_n<N>_m<M>` with N >= 1 and M in the reference's 0..30, else None."""
    match = RANDAUGMENT_NAME.fullmatch(name)
    if match is None:
        return None
    n_ops, magnitude = int(match[1]), int(match[2])
    return (n_ops, magnitude) if n_ops >= 1 and magnitude <= MAX_MAGNITUDE else None


def is_known(name: str) -> bool:
    """A registered name, or RandAugment with its own N and M (e.g. randaugment_n1_m9)."""
    return name in FACTORIES or _randaugment_setting(name) is not None


def build_augmentation(name: str, image_size: int, n_classes: int) -> Augmentation:
    setting = _randaugment_setting(name)
    if setting is not None:
        return make_randaugment(image_size, *setting)
    if name not in FACTORIES:
        raise ValueError(f"unknown augmentation {name!r}; valid: {', '.join(sorted(FACTORIES))}, "
                         f"or randaugment_n<N>_m<M> (N >= 1, M in 0..{MAX_MAGNITUDE})")
    return FACTORIES[name](image_size, n_classes)

"""Batched data augmentation on the training device.

Every augmentation takes a float batch in [0, 1] of shape [B, C, H, W], its
labels and the run's generator, and returns the augmented batch, soft targets
(None unless labels are mixed) and the *dominant* label of each output image.
The engine records p_true for the dominant label, so per-sample importance stays
defined under mixing: for mixup/cutmix/ricap it is the probability of the label
that covers the larger share of the image (for mixup: the larger lambda).

No per-sample Python: random offsets and masks are drawn for the whole batch
from the run's generator, so a seed reproduces the augmentation exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

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
    """Crop an [h, w] window at per-image offsets (dy, dx) of a padded batch."""
    rows = (dy[:, None] + torch.arange(h, device=padded.device))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w, device=padded.device))[:, None, None, :]
    batch = torch.arange(padded.shape[0], device=padded.device)[:, None, None, None]
    chans = torch.arange(padded.shape[1], device=padded.device)[None, :, None, None]
    return padded[batch, chans, rows, cols]


def random_flip(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Mirror a random half of the images left-right."""
    flip = torch.rand(x.shape[0], generator=gen, device=gen.device).to(x.device) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def none(x, y, gen) -> Augmented:
    return Augmented(x, None, y)


def make_crop(image_size: int) -> Augmentation:
    pad = crop_padding(image_size)
    return lambda x, y, gen: Augmented(random_crop(x, pad, gen), None, y)


def make_standard(image_size: int) -> Augmentation:
    pad = crop_padding(image_size)
    return lambda x, y, gen: Augmented(random_flip(random_crop(x, pad, gen), gen), None, y)


# name -> factory(image_size, n_classes); each entry documents itself in its factory
FACTORIES: dict[str, Callable[[int, int], Augmentation]] = {
    "none": lambda size, n_classes: none,
    "crop": lambda size, n_classes: make_crop(size),  # random crop only: for data that is not mirror-symmetric (digits)
    "standard": lambda size, n_classes: make_standard(size),
}


def names() -> list[str]:
    return sorted(FACTORIES)


def build_augmentation(name: str, image_size: int, n_classes: int) -> Augmentation:
    if name not in FACTORIES:
        raise ValueError(f"unknown augmentation {name!r}; valid: {', '.join(sorted(FACTORIES))}")
    return FACTORIES[name](image_size, n_classes)

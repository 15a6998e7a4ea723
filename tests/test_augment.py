"""Batched augmentations: shapes, ranges, label mixing, seeds, and crop/flip against reference loops."""

import pytest
import torch

from sample_importance.training import augment
from sample_importance.training.augment import build_augmentation, names

N_CLASSES = 10
MIXING = ("mixup", "cutmix", "ricap")


def batch(channels=3, size=32, b=16, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (b, channels, size, size), generator=gen).float() / 255
    y = torch.randint(0, N_CLASSES, (b,), generator=gen)
    return x, y


def constant_batch(b=10, size=16):
    """Image i is the constant (i + 1) / (b + 1) and has label i: every pixel says where it came from."""
    values = (torch.arange(b, dtype=torch.float32) + 1) / (b + 1)
    return values[:, None, None, None].expand(b, 3, size, size).contiguous(), torch.arange(b), values


def test_all_issue_augmentations_are_registered():
    assert {"none", "crop", "standard", "randaugment", "randaugment_tv", "mixup", "cutmix", "ricap", "cutout"} <= set(names())
    with pytest.raises(ValueError, match="valid: .*randaugment"):
        build_augmentation("randaugmnt", 32, N_CLASSES)


@pytest.mark.parametrize("channels,size", [(3, 32), (1, 8)])
@pytest.mark.parametrize("name", sorted(names()))
def test_shape_dtype_range_and_targets(name, channels, size):
    x, y = batch(channels, size)
    out = build_augmentation(name, size, N_CLASSES)(x, y, torch.Generator().manual_seed(1))
    assert out.x.shape == x.shape and out.x.dtype == torch.float32
    assert float(out.x.min()) >= 0.0 and float(out.x.max()) <= 1.0
    assert out.y.shape == y.shape and out.y.dtype == torch.int64
    if name in MIXING:
        assert out.soft_targets.shape == (len(y), N_CLASSES)
        assert torch.allclose(out.soft_targets.sum(1), torch.ones(len(y)))
        assert float(out.soft_targets.min()) >= 0.0
        # the dominant label carries the largest share
        share = out.soft_targets.gather(1, out.y[:, None]).squeeze(1)
        assert torch.equal(share, out.soft_targets.max(1).values)
    else:
        assert out.soft_targets is None
        assert torch.equal(out.y, y)


@pytest.mark.parametrize("name", sorted(names()))
def test_reproducible_under_a_seed_and_global_rng_untouched(name):
    x, y = batch()
    aug = build_augmentation(name, 32, N_CLASSES)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = aug(x, y, torch.Generator().manual_seed(7))
    assert torch.equal(torch.get_rng_state(), before), "augmentation must not consume torch's global RNG"
    torch.manual_seed(999)  # another global state: must not matter
    b = aug(x, y, torch.Generator().manual_seed(7))
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    if a.soft_targets is not None:
        assert torch.equal(a.soft_targets, b.soft_targets)
    if name != "none":
        c = aug(x, y, torch.Generator().manual_seed(8))
        assert not torch.equal(a.x, c.x)


def test_mixup_mixes_each_image_with_its_neighbour_and_keeps_its_own_label_dominant():
    for seed in range(5):
        x, y, values = constant_batch()
        out = augment.mixup(x, y, torch.Generator().manual_seed(seed), n_classes=len(y))
        lam = out.soft_targets[torch.arange(len(y)), y]
        assert bool((lam >= 0.5).all())
        assert torch.allclose(out.soft_targets[torch.arange(len(y)), y.roll(1)], 1 - lam)
        assert torch.allclose(out.x[:, 0, 0, 0], lam * values + (1 - lam) * values.roll(1))
        assert torch.equal(out.y, y)


@pytest.mark.parametrize("mix", [augment.cutmix, augment.ricap])
def test_cut_and_paste_shares_equal_pixel_areas(mix):
    for seed in range(8):
        x, y, values = constant_batch()
        out = mix(x, y, torch.Generator().manual_seed(seed), n_classes=len(y))
        # which source image each output pixel came from
        source = (out.x[:, 0] * (len(y) + 1)).round().long() - 1
        assert source.min() >= 0 and source.max() < len(y)
        area = torch.stack([torch.bincount(s.flatten(), minlength=len(y)) for s in source]).float() / source[0].numel()
        assert torch.allclose(out.soft_targets, area, atol=1e-6)
        # sample i covers the largest part of image i (labels are distinct here), so it is the dominant label
        assert bool((area[torch.arange(len(y)), y] >= area.max(1).values).all())
        assert torch.equal(out.y, y)
        if mix is augment.cutmix:
            assert bool((area[torch.arange(len(y)), y] >= 0.5).all())
            assert int((area > 0).sum(1).max()) <= 2


def test_ricap_tiles_at_most_four_sources():
    x, y, _ = constant_batch(b=12, size=32)
    out = augment.ricap(x, y, torch.Generator().manual_seed(0), n_classes=12)
    assert int((out.soft_targets > 0).sum(1).max()) <= 4


def test_dominant_label_is_the_largest_class_share_with_ties_to_the_own_label():
    soft = torch.tensor([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5], [0.1, 0.6, 0.3]])
    assert augment.dominant_label(soft, torch.tensor([1, 0, 1])).tolist() == [1, 2, 1]


def test_mixing_factories_apply_standard_crop_flip_first():
    x, y = batch()
    for name, mix in (("mixup", augment.mixup), ("cutmix", augment.cutmix), ("ricap", augment.ricap)):
        gen = torch.Generator().manual_seed(5)
        expected_gen = torch.Generator().manual_seed(5)
        standard = augment.make_standard(32)(x, y, expected_gen).x
        expected = mix(standard, y, expected_gen, N_CLASSES)
        got = build_augmentation(name, 32, N_CLASSES)(x, y, gen)
        assert torch.equal(got.x, expected.x) and torch.equal(got.soft_targets, expected.soft_targets)


def test_cutout_masks_one_clipped_square_of_half_the_image():
    assert augment.cutout_size(32) == 16 and augment.cutout_size(8) == 4
    x = torch.ones(64, 3, 32, 32)
    x[:, :, 0, 0] = 0.0  # so the fill value (the batch mean) differs from 1
    out = augment.cutout(x, 16, torch.Generator().manual_seed(0))
    hole = (out != x).any(1)  # [B, H, W]
    for h in hole:
        rows, cols = h.any(1).nonzero().flatten(), h.any(0).nonzero().flatten()
        assert len(rows) <= 16 and len(cols) <= 16 and len(rows) >= 8 and len(cols) >= 8  # centre inside: >= half of each side
        assert bool(h[rows.min():rows.max() + 1, cols.min():cols.max() + 1].all())  # a full rectangle
        assert int(h.sum()) == len(rows) * len(cols)
    assert bool((hole.sum((1, 2)) == 256).any())  # unclipped squares occur


def test_randaugment_tv_changes_images_chunkwise_and_handles_one_channel():
    x, y = batch(b=32)
    out = build_augmentation("randaugment_tv", 32, N_CLASSES)(x, y, torch.Generator().manual_seed(0))
    standard = augment.make_standard(32)(x, y, torch.Generator().manual_seed(0)).x
    changed = (out.x - standard).abs().amax((1, 2, 3)) > 1e-6
    assert bool(changed.any())
    x1, y1 = batch(channels=1, size=8)
    assert build_augmentation("randaugment_tv", 8, N_CLASSES)(x1, y1, torch.Generator().manual_seed(0)).x.shape == x1.shape


def test_randaugment_changes_almost_every_image_and_keeps_8_bit_levels():
    """Arazo's RandAugment at M=4: every one of its 16 ops changes a noise image (no Identity among them)."""
    x, y = batch(b=64)
    gen = torch.Generator().manual_seed(0)
    out = augment.rand_augment(x, gen, 2, augment.RandAugmentTables(4, 32))
    changed = (out - x).abs().amax((1, 2, 3)) > 1e-6
    assert int(changed.sum()) >= 60  # two ops can undo each other (invert twice), rarely
    assert torch.allclose(out * 255, (out * 255).round(), atol=1e-4)
    x1, y1 = batch(channels=1, size=8)
    assert build_augmentation("randaugment", 8, N_CLASSES)(x1, y1, torch.Generator().manual_seed(0)).x.shape == x1.shape


def test_crop_at_equals_slicing_loop():
    x, _ = batch(b=6, size=8)
    pad = 2
    padded = torch.nn.functional.pad(x, (pad,) * 4)
    dy = torch.tensor([0, 1, 2, 3, 4, 0])
    dx = torch.tensor([4, 3, 2, 1, 0, 0])
    expected = torch.stack([padded[i, :, dy[i]:dy[i] + 8, dx[i]:dx[i] + 8] for i in range(6)])
    assert torch.equal(augment.crop_at(padded, dy, dx, 8, 8), expected)


def test_random_crop_and_flip_equal_reference_loops_with_the_same_draws():
    x, _ = batch(b=8, size=8)
    pad = augment.crop_padding(8)
    gen = torch.Generator().manual_seed(4)
    ref_gen = torch.Generator().manual_seed(4)
    cropped = augment.random_crop(x, pad, gen)
    dy = torch.randint(0, 2 * pad + 1, (8,), generator=ref_gen)
    dx = torch.randint(0, 2 * pad + 1, (8,), generator=ref_gen)
    padded = torch.nn.functional.pad(x, (pad,) * 4)
    assert torch.equal(cropped, torch.stack([padded[i, :, dy[i]:dy[i] + 8, dx[i]:dx[i] + 8] for i in range(8)]))
    flipped = augment.random_flip(cropped, gen)
    flip = torch.rand(8, generator=ref_gen) < 0.5
    assert torch.equal(flipped, torch.stack([c.flip(2) if f else c for c, f in zip(cropped, flip)]))
    assert 0 < int(flip.sum()) < 8  # both branches exercised


def test_ricap_with_a_boundary_on_the_edge_keeps_one_whole_image(monkeypatch):
    """Beta(0.3, 0.3) often draws near 0 or 1: zero-width patches must vanish cleanly."""
    monkeypatch.setattr(torch.distributions.Beta, "sample", lambda self, shape=(): torch.tensor([0.0, 1.0]))
    x, y, _ = constant_batch(b=6, size=8)
    out = augment.ricap(x, y, torch.Generator().manual_seed(0), n_classes=6)
    assert torch.equal(out.soft_targets, torch.eye(6)) and torch.equal(out.y, y)
    assert torch.equal(out.x, x)  # the largest (whole-image) patch is each sample itself, uncropped

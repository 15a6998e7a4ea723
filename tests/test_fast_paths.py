"""The fast paths compute what the simple ones do: crop/flip, batch gathering, draw counts, bf16, channels_last.

No timing here (benchmarks/ measures speed); these pin down that the
vectorised code the benchmarks time is the same computation as a plain loop,
and that the GPU-oriented paths (bf16 autocast, channels_last, no host syncs)
run wherever the hardware supports them, skipped with the reason elsewhere.
"""

import numpy as np
import pytest
import torch

from sample_importance.training import augment
from sample_importance.training.engine import Trainer

from tiny import blobs, spec


def images(b=12, c=3, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (b, c, size, size), generator=g).float().div_(255)


# ----------------------------------------------------------------------------- crop and flip


@pytest.mark.parametrize("h,w", [(32, 32), (20, 9), (1, 32), (0, 5)])
def test_crop_at_equals_slicing_loop_for_fixed_offsets(h, w):
    padded = torch.nn.functional.pad(images(), (4,) * 4)
    dy = torch.tensor([0, 8, 3, 1, 40 - h, 0, 2, 7, 5, 4, 6, 8]).clamp(max=40 - h)
    dx = torch.tensor([8, 0, 3, 40 - w, 0, 1, 6, 2, 4, 5, 7, 0]).clamp(max=40 - w)
    expected = torch.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(len(dy))])
    got = augment.crop_at(padded, dy, dx, h, w)
    assert got.shape == (12, 3, h, w)
    assert torch.equal(got, expected)


def test_crop_at_handles_channels_last_and_uint8_input():
    x = (images() * 255).to(torch.uint8)
    padded = torch.nn.functional.pad(x, (4,) * 4).contiguous(memory_format=torch.channels_last)
    dy = torch.arange(12) % 9
    dx = (torch.arange(12) * 5) % 9
    expected = torch.stack([padded[i, :, dy[i]:dy[i] + 32, dx[i]:dx[i] + 32] for i in range(12)])
    assert torch.equal(augment.crop_at(padded, dy, dx, 32, 32), expected)


def test_random_crop_equals_padding_and_slicing_with_the_same_draws():
    x = images()
    got = augment.random_crop(x, 4, torch.Generator().manual_seed(3))
    ref_gen = torch.Generator().manual_seed(3)
    dy = torch.randint(0, 9, (12,), generator=ref_gen)
    dx = torch.randint(0, 9, (12,), generator=ref_gen)
    padded = torch.zeros(12, 3, 40, 40)
    padded[:, :, 4:36, 4:36] = x
    expected = torch.stack([padded[i, :, dy[i]:dy[i] + 32, dx[i]:dx[i] + 32] for i in range(12)])
    assert torch.equal(got, expected)


def test_random_flip_equals_manual_flip_with_the_same_draws():
    x = images()
    got = augment.random_flip(x, torch.Generator().manual_seed(5))
    flip = torch.rand(12, generator=torch.Generator().manual_seed(5)) < 0.5
    expected = torch.stack([x[i].flip(2) if flip[i] else x[i] for i in range(12)])
    assert 0 < int(flip.sum()) < 12  # both branches are exercised
    assert torch.equal(got, expected)


# ----------------------------------------------------------------------------- engine gathering and counting


def test_train_images_equal_plain_indexing_scaled_to_unit_range():
    t = Trainer(spec(), blobs(), progress=False)
    idx = torch.tensor([5, 0, 127, 5, 64])
    assert torch.equal(t.train_images(idx), t.data.train.x[idx].float() / 255)


def test_class_draws_count_every_example_of_an_epoch_once():
    data = blobs(n_per_class=24)
    t = Trainer(spec(), data, progress=False)
    t.run(until_epoch=2)
    for epoch in (0, 1):
        draws = [row["draws"] for row in t.class_draws if row["epoch"] == epoch]
        assert draws == np.bincount(data.train.y.numpy()).tolist()


# ----------------------------------------------------------------------------- bf16 and channels_last


def cpu_bf16_supported() -> bool:
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = torch.nn.functional.conv2d(torch.rand(1, 1, 4, 4), torch.rand(1, 1, 3, 3))
        return out.dtype == torch.bfloat16
    except RuntimeError:
        return False


@pytest.mark.skipif(not cpu_bf16_supported(), reason="this torch build has no bf16 autocast for CPU convolutions")
def test_bf16_autocast_trains_on_cpu_with_finite_loss():
    t = Trainer(spec(precision="bf16", epochs=6, eval_every=1000), blobs(), progress=False)
    with t.autocast():
        assert t.forward(t.normalize(t.train_images(torch.arange(4)))).dtype == torch.bfloat16
    t.run()
    losses = [m["train_loss"] for m in t.metrics if np.isfinite(m["train_loss"])]
    assert losses and all(np.isfinite(losses))
    assert t.metrics[-1]["test_accuracy"] > 0.5  # 4 separable classes: chance is 0.25


def test_channels_last_model_computes_what_the_contiguous_one_does():
    """The engine's channels_last path (used on CUDA) on a CPU: same logits, then same training steps."""
    t = Trainer(spec(eval_every=1000), blobs(), progress=False)
    reference = Trainer(spec(eval_every=1000), blobs(), progress=False)
    t.memory_format = torch.channels_last
    t.model.to(memory_format=torch.channels_last)
    x = t.normalize(t.train_images(torch.arange(16)))
    assert x.is_contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        torch.testing.assert_close(t.model(x), reference.model(x.contiguous()), rtol=1e-4, atol=1e-5)
    t.run(until_epoch=1)
    reference.run(until_epoch=1)
    for a, b in zip(t.model.parameters(), reference.model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4)


# ----------------------------------------------------------------------------- CUDA only


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")


@cuda
def test_cuda_train_steps_make_no_host_device_sync():
    """Between the finite-loss checks (every 50 steps) a step queues work and never waits for the GPU."""
    t = Trainer(spec(device="cuda", eval_every=1000, epochs=50), blobs(), progress=False)
    t.run(until_epoch=1)  # first epoch: allocations, cudnn autotuning
    t.method.start_epoch(t.epoch)
    assert t.step % 50 < 47  # the next three steps do not reach the periodic finite-loss check
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(3):
            t.train_step(t.method.next_batch())
    finally:
        torch.cuda.set_sync_debug_mode("default")


@cuda
def test_cuda_bf16_channels_last_path_learns():
    t = Trainer(spec(device="cuda", epochs=6, eval_every=1000), blobs(), progress=False)
    assert t.memory_format == torch.channels_last
    t.run()
    assert t.metrics[-1]["test_accuracy"] > 0.5

"""Model shapes: the small CNN on any image size, CIFAR ResNet-18 with its 3x3 stem and no max-pool."""

import torch
from torch import nn

from sample_importance.training.models import build_model


def test_small_cnn_shapes():
    for size, ch in ((8, 1), (32, 3)):
        assert build_model("cnn", ch, 10, width=8)(torch.zeros(2, ch, size, size)).shape == (2, 10)


def test_cifar_resnet18_stem():
    m = build_model("resnet18", 3, 100)
    assert m.conv1.kernel_size == (3, 3) and m.conv1.stride == (1, 1) and isinstance(m.maxpool, nn.Identity)
    assert m(torch.zeros(2, 3, 32, 32)).shape == (2, 100)
    assert sum(p.numel() for p in m.parameters()) == 11_220_132

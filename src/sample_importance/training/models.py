"""The two models of the papers' experiments, built from torch/torchvision parts."""

from __future__ import annotations

from torch import nn

MODELS = ("cnn", "resnet18")


def _conv_bn(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


def small_cnn(in_channels: int, n_classes: int, width: int = 32) -> nn.Module:
    """Three conv-BN-ReLU blocks, two 2x2 poolings, global average pooling, a linear head.

    Sized so an 8x8 digits epoch takes well under a second and a 32x32 CIFAR epoch
    a few seconds on a laptop CPU with width 16; works for any image size >= 4.
    """
    return nn.Sequential(
        _conv_bn(in_channels, width),
        nn.MaxPool2d(2),
        _conv_bn(width, 2 * width),
        nn.MaxPool2d(2),
        _conv_bn(2 * width, 4 * width),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4 * width, n_classes),
    )


def resnet18_cifar(in_channels: int, n_classes: int) -> nn.Module:
    """torchvision's ResNet-18 with the CIFAR stem (He et al. 2016, sec. 4.2): 3x3 stride-1 conv, no max-pool."""
    from torchvision.models import resnet18

    model = resnet18(num_classes=n_classes)
    model.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()
    return model


def build_model(name: str, in_channels: int, n_classes: int, width: int = 32) -> nn.Module:
    if name == "cnn":
        return small_cnn(in_channels, n_classes, width)
    if name == "resnet18":
        return resnet18_cifar(in_channels, n_classes)
    raise ValueError(f"unknown model {name!r}; valid: {', '.join(MODELS)}")


def last_linear(model: nn.Module) -> nn.Linear:
    """The classifier layer (its inputs are the features some methods score by)."""
    layers = [m for m in model.modules() if isinstance(m, nn.Linear)]
    return layers[-1]



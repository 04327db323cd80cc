"""Models for CIFAR-10. Inputs are images in [0, 1]; normalization happens inside the model
(the convention of torchattacks, AutoAttack and RobustBench).

Every model exposes `features(x)` (the penultimate embedding, shape (B, embedding_dim)) and
`linear` (the last layer), with `forward(x) == linear(features(x))`.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING

import torch
import torch.nn as nn
import torch.nn.functional as F

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2471, 0.2435, 0.2616)


class Normalize(nn.Module):
    """(x - mean) / std per channel, as the first layer of the model."""

    def __init__(self, mean: Sequence[float] = CIFAR10_MEAN, std: Sequence[float] = CIFAR10_STD):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(x − mean) / std per channel: inputs stay in [0, 1] outside the model."""
        return (x - self.mean) / self.std


class Classifier(nn.Module):
    """Base class: normalize → `body` → flatten → `linear`."""

    embedding_dim: int

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate features (what `evaluate.embed` returns)."""
        return self.body(self.normalize(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The logits."""
        return self.linear(self.features(x))


def _conv_bn(cin, cout, pool=True):
    layers = [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
    if pool:
        layers.append(nn.MaxPool2d(2))
    return layers


class SmallCNN(Classifier):
    """A 4-convolution network for the CPU profiles: conv3×3-BN-ReLU blocks of 32, 64, 128 and 256
    channels, 2×2 max-pooling after the first three, global max-pooling, a linear layer (0.39 M parameters)."""

    def __init__(self, num_classes: int = 10, widths: Sequence[int] = (32, 64, 128, 256)):
        super().__init__()
        w1, w2, w3, w4 = widths
        self.normalize = Normalize()
        self.body = nn.Sequential(
            *_conv_bn(3, w1), *_conv_bn(w1, w2), *_conv_bn(w2, w3),
            *_conv_bn(w3, w4, pool=False), nn.AdaptiveMaxPool2d(1), nn.Flatten())
        self.embedding_dim = w4
        self.linear = nn.Linear(w4, num_classes)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Two 3×3 convolutions with batch norm and a residual connection."""
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet18(Classifier):
    """CIFAR ResNet-18 (He et al. 2016, the CIFAR variant: 3×3 stem, stride 1, no max-pool), 11.2 M parameters."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.normalize = Normalize()
        layers, cin = [], 64
        for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            layers += [BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)]
            cin = cout
        self.body = nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
                                  *layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.embedding_dim = 512
        self.linear = nn.Linear(512, num_classes)


@contextmanager
def eval_mode(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Switch to eval mode for the block and restore the previous mode afterwards."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def linear_gradients(residual: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """Per-sample gradients of a loss with respect to a linear layer z = W h + b, from the logit residual
    ∂ℓ/∂z (N, C) and the layer's input h (N, D): residual ⊗ [h, 1], flattened to (N, C·(D + 1)) (weight rows
    followed by the bias, class by class)."""
    with_bias = torch.cat([h, torch.ones(len(h), 1, device=h.device, dtype=h.dtype)], dim=1)
    return (residual[:, :, None] * with_bias[:, None, :]).flatten(1)


MODELS = {"small_cnn": SmallCNN, "resnet18": ResNet18}


def build_model(name: str, num_classes: int = 10, seed: int = 0, device: torch.device | str = "cpu",
                channels_last: bool = True) -> Classifier:
    """A freshly initialised model; the same `seed` gives the same weights (the global RNG is left untouched)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MODELS[name](num_classes=num_classes)
    model = model.to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


__all__ = ["BasicBlock", "build_model", "CIFAR10_MEAN", "CIFAR10_STD", "Classifier", "eval_mode", "linear_gradients",
           "MODELS", "Normalize", "ResNet18", "SmallCNN"]

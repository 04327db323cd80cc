"""Shared fixtures: small synthetic problems that are fast and have known answers."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
import torch.nn as nn

from corelib.data import FOLDER, Pool
from corelib.models import Classifier, Normalize

torch.set_num_threads(max(1, min(2, torch.get_num_threads())))


class TinyNet(Classifier):
    """normalize → conv → ReLU → mean-pool → linear. No BatchNorm, so samples never interact."""

    def __init__(self, num_classes=4, width=8, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.normalize = Normalize()
        self.body = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten())
        self.embedding_dim = 4 * width
        self.linear = nn.Linear(4 * width, num_classes)


def synthetic_pool(n=64, num_classes=4, size=8, seed=0, noise=0.15) -> Pool:
    """Learnable images: each class is a fixed random colour pattern, plus noise. Dataset indices are
    deliberately non-contiguous (3·i + 7) so code that confuses positions and indices fails."""
    g = torch.Generator().manual_seed(seed)
    patterns = torch.rand(num_classes, 3, size, size, generator=g)
    labels = torch.arange(n) % num_classes
    images = patterns[labels] * 0.6 + 0.2 + noise * torch.randn(n, 3, size, size, generator=g)
    images = (images.clamp(0, 1) * 255).round().to(torch.uint8)
    return Pool(images, labels, 3 * torch.arange(n) + 7, "train", "synthetic", num_classes)


@pytest.fixture
def pool():
    return synthetic_pool()


@pytest.fixture
def tiny_model():
    return TinyNet()


@pytest.fixture(scope="session")
def trained_tiny():
    """A TinyNet trained to high clean accuracy on a synthetic pool (a second of CPU)."""
    from corelib.train import TrainConfig, train

    pool = synthetic_pool(n=256, seed=1)
    model = TinyNet(seed=1)
    train(model, pool, TrainConfig(epochs=15, lr=0.05, batch_size=32, augment=False, channels_last=False))
    return model.eval(), pool


def write_fake_cifar(root, n_train_per_batch=20, n_test=30, seed=0):
    """A tiny folder in torchvision's cifar-10-batches-py layout (random pixels, labels i % 10)."""
    folder = root / FOLDER
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for name, n in [(f"data_batch_{i}", n_train_per_batch) for i in range(1, 6)] + [("test_batch", n_test)]:
        entry = {"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), "labels": [i % 10 for i in range(n)]}
        with open(folder / name, "wb") as f:
            pickle.dump(entry, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": ["c"] * 10}, f)
    return root


def toy_benchmark(pool, test, config, pgd, autoattack=None, track="standard", acs=None, epochs=4, min_steps=8):
    """A `Benchmark` on synthetic pools: the small CNN, one selection epoch, FGSM at 8/255, PGD (and AutoAttack) on
    the test pool."""
    from corelib.experiments import Benchmark, EvaluationSuite

    suite = EvaluationSuite.of(test, test, fgsm_eps=[8 / 255], pgd=pgd, autoattack=autoattack, always_autoattack=True)
    extra = {} if acs is None else {"acs": acs}
    return Benchmark(pool, "small_cnn", config, suite, epochs, min_steps, 1, track,
                     sizes={"test_size": len(test), "robust_size": len(test)}, **extra)

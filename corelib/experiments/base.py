"""What every chapter starts from: the profile's data (a class-balanced train pool and test set on the device)
and the base model of chapter 1, trained once and cached, with EasyCore's AIGN recorded along the way.

    setup = corelib.experiments.base_setup(Settings.from_mapping(load_profile("ci")))
    setup.train_pool, setup.test_pool, setup.model, setup.run.history
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..attacks import AutoAttack
from ..cache import ArtifactCache
from ..data import Pool
from ..device import resolve_device
from ..easycore import AIGN
from ..sampling import load_pools
from ..settings import DataSettings, Settings
from ..train import TrainConfig, TrainResult, fit


def profile_pools(data: DataSettings) -> tuple[Pool, Pool]:
    """The train pool and test set of the data settings: train_size, test_size, pool_seed, data_root and device
    ('auto' picks CUDA when available)."""
    return load_pools(data.train_size, data.test_size, seed=data.pool_seed, root=data.data_root,
                      device=resolve_device(data.device))


def autoattack_for(settings: Settings) -> AutoAttack | None:
    """The settings' AutoAttack (`autoattack_version`: 'ci', 'standard' or 'none', which gives None;
    `autoattack_steps`, `autoattack_targets`, `autoattack_queries`; ε = eps_255/255, seeded by `seed`): the
    yardstick the EasyCore, ACS and benchmark tables report beside PGD."""
    ev = settings.evaluation
    if ev.autoattack_version == "none":
        return None
    return AutoAttack(eps=ev.eps, version=ev.autoattack_version, steps=ev.autoattack_steps,
                      targets=ev.autoattack_targets, queries=ev.autoattack_queries, seed=settings.data.seed)


def train_baseline(settings: Settings, train_pool: Pool, test_pool: Pool, cache: ArtifactCache | None = None,
                   progress: bool = True) -> TrainResult:
    """The settings' base model: `model_name` trained on the whole train pool with the standard objective and the
    base training settings (`settings.base`), cached, so every chapter that asks with the same settings gets the
    same model without retraining. With `base_aign_every`, the run also records EasyCore's AIGN in both modes
    (`result.tables['aign_in_training']` and `['aign_exact']`, the exact one from a clean pass every
    `base_aign_every` epochs)."""
    base, data = settings.base, settings.data
    config = TrainConfig(epochs=base.epochs, lr=base.lr, batch_size=base.batch_size, warmup_epochs=base.warmup_epochs,
                         weight_decay=base.weight_decay, seed=data.seed, precision=data.precision, progress=progress)
    recorders = None if base.aign_every is None else {"aign_in_training": AIGN("in_training"),
                                                      "aign_exact": AIGN("exact", every=base.aign_every)}
    return fit(data.model_name, train_pool, config, eval_pool=test_pool, recorders=recorders,
               cache=ArtifactCache() if cache is None else cache)


@dataclass
class BaseSetup:
    """A chapter's starting point: the device, the pools and the base model's training run."""

    device: torch.device
    train_pool: Pool
    test_pool: Pool
    run: TrainResult

    @property
    def model(self) -> torch.nn.Module:
        """The trained base model."""
        return self.run.model

    @property
    def test_acc(self) -> float:
        """The base model's clean test accuracy after its last epoch."""
        return float(self.run.history["test_acc"].iloc[-1])

    def __str__(self) -> str:
        return (f"base model: {type(self.model).__name__} trained on {len(self.train_pool):,} images, test accuracy "
                f"{self.test_acc:.3f} on {len(self.test_pool):,} (cached from the baseline chapter); device {self.device}")


def base_setup(settings: Settings, cache: ArtifactCache | None = None, progress: bool = True) -> BaseSetup:
    """The pools and the (cached) base model of the settings (`Settings.from_mapping` of a chapter's parameters or
    a profile): the data settings and the base model's training (`settings.base`)."""
    train_pool, test_pool = profile_pools(settings.data)
    run = train_baseline(settings, train_pool, test_pool, cache=cache, progress=progress)
    return BaseSetup(train_pool.device, train_pool, test_pool, run)


__all__ = ["autoattack_for", "base_setup", "BaseSetup", "profile_pools", "train_baseline"]

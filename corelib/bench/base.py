"""What every chapter starts from: the profile's data (a class-balanced train pool and test set on the device)
and the base model of chapter 1, trained once and cached, with EasyCore's AIGN recorded along the way.

    setup = corelib.bench.base_setup(globals())   # in a chapter: its parameters
    setup.train_pool, setup.test_pool, setup.model, setup.run.history
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import torch

from ..attacks import AutoAttack
from ..cache import ArtifactCache
from ..data import Pool
from ..hardness import AIGN
from ..sampling import load_pools
from ..train import TrainConfig, TrainResult, fit
from ..utils import resolve_device


def profile_pools(params: Mapping) -> tuple[Pool, Pool]:
    """The train pool and test set of a profile's (or a chapter's) parameters: train_size, test_size, pool_seed,
    data_root and device ('auto' picks CUDA when available)."""
    device = resolve_device(params.get("device", "auto"))
    return load_pools(params["train_size"], params["test_size"], seed=params["pool_seed"],
                      root=params.get("data_root"), device=device)


def autoattack_from_params(params: Mapping) -> AutoAttack | None:
    """The profile's AutoAttack (`autoattack_version`: 'ci', 'standard' or 'none', which gives None;
    `autoattack_steps`, `autoattack_targets`, `autoattack_queries`; ε = eps_255/255, seeded by `seed`): the
    yardstick the EasyCore, ACS and benchmark tables report beside PGD."""
    version = params.get("autoattack_version", "ci")
    if version == "none":
        return None
    return AutoAttack(eps=params["eps_255"] / 255, version=version, steps=int(params.get("autoattack_steps", 100)),
                      targets=params.get("autoattack_targets"), queries=int(params.get("autoattack_queries", 5000)),
                      seed=params["seed"])


def train_baseline(model_name: str, train_pool: Pool, test_pool: Pool, *, epochs: int, lr: float, batch_size: int,
                   warmup_epochs: float, weight_decay: float, seed: int, aign_every: int | None = None, cache=None,
                   progress: bool = True, precision: str = "auto") -> TrainResult:
    """The profile's base model: `model_name` trained on the whole train pool with the standard objective,
    cached, so every chapter that asks with the same parameters gets the same model without retraining.
    With `aign_every`, the run also records EasyCore's AIGN in both modes (`result.tables['aign_in_training']`
    and `['aign_exact']`, the exact one from a clean pass every `aign_every` epochs)."""
    config = TrainConfig(epochs=epochs, lr=lr, batch_size=batch_size, warmup_epochs=warmup_epochs,
                         weight_decay=weight_decay, seed=seed, precision=precision)
    recorders = None if aign_every is None else {"aign_in_training": AIGN("in_training"),
                                                 "aign_exact": AIGN("exact", every=aign_every)}
    return fit(model_name, train_pool, config, model_seed=seed, eval_pool=test_pool, recorders=recorders,
               cache=ArtifactCache() if cache is None else cache, progress=progress)


@dataclass
class BaseSetup:
    """A chapter's starting point: the device, the pools and the base model's training run."""

    device: torch.device
    train_pool: Pool
    test_pool: Pool
    run: TrainResult

    @property
    def model(self) -> torch.nn.Module:
        return self.run.model

    @property
    def test_acc(self) -> float:
        return float(self.run.history["test_acc"].iloc[-1])

    def __str__(self) -> str:
        return (f"base model: {type(self.model).__name__} trained on {len(self.train_pool):,} images, test accuracy "
                f"{self.test_acc:.3f} on {len(self.test_pool):,} (cached from the baseline chapter); device {self.device}")


def base_setup(params: Mapping, cache=None, progress: bool = True) -> BaseSetup:
    """The pools and the (cached) base model of a chapter's parameters (`globals()` in a chapter, or a profile):
    train_size, test_size, pool_seed, data_root, device, model, seed, base_epochs, base_lr, base_batch_size,
    base_warmup_epochs, weight_decay, base_aign_every and precision (default 'auto')."""
    train_pool, test_pool = profile_pools(params)
    run = train_baseline(params["model"], train_pool, test_pool, epochs=params["base_epochs"], lr=params["base_lr"],
                         batch_size=params["base_batch_size"], warmup_epochs=params["base_warmup_epochs"],
                         weight_decay=params["weight_decay"], seed=params["seed"],
                         aign_every=params.get("base_aign_every"), cache=cache, progress=progress,
                         precision=params.get("precision", "auto"))
    return BaseSetup(train_pool.device, train_pool, test_pool, run)

"""Training on a selection: a fresh model on the coreset (weighted if the selection has weights) for a fixed
number of epochs (DeepCore's semantics) but at least a minimum number of SGD steps, then evaluated; and grids of
such runs over (method, keep, fraction, seed, objective) cells."""
from __future__ import annotations

import math
import time
from dataclasses import replace
from typing import Callable

import pandas as pd

from ..data import Pool
from ..evaluate import accuracy_and_top_share, robust_accuracy
from ..select import Selection
from ..train import TrainConfig, fit
from ..utils import code_hash, config_hash
from .grid import CELL_KEYS, cell_attack, run_grid


def coreset_config(config: TrainConfig, size: int, epochs: int, min_steps: int = 0) -> TrainConfig:
    """The training run for a coreset of `size` samples: `epochs` passes over it (DeepCore semantics), but
    at least `min_steps` SGD steps, so a tiny coreset is not trained for a handful of steps only."""
    steps_per_epoch = math.ceil(size / config.batch_size)
    epochs = max(int(epochs), math.ceil(min_steps / steps_per_epoch))
    return replace(config, epochs=epochs, warmup_epochs=min(config.warmup_epochs, epochs / 4))


def train_on_selection(selection: Selection, pool: Pool, test_pool: Pool, model_name: str, config: TrainConfig,
                       epochs: int, min_steps: int, seed: int, cache=None, attack=None, robust_pool: Pool | None = None,
                       autoattack=None) -> dict:
    """Train a fresh model on the selected samples (weighted if the selection has weights) and return
    size, epochs, test accuracy, training and selection time, and with an `attack` the robust accuracy
    on `robust_pool` (default: the test pool); with `autoattack` also `autoattack_acc` there."""
    run_config = replace(coreset_config(config, len(selection), epochs, min_steps), seed=seed)
    result = fit(model_name, pool, run_config, model_seed=seed, subset=selection.indices, weights=selection.weights,
                 cache=cache, progress=False)
    row = {"size": len(selection), "epochs": run_config.epochs}
    row["test_acc"], row["top_class_share"] = accuracy_and_top_share(result.model, test_pool)
    if attack is not None:
        row["robust_acc"] = robust_accuracy(result.model, robust_pool or test_pool, attack)
    if autoattack is not None:
        row["autoattack_acc"] = robust_accuracy(result.model, robust_pool or test_pool, autoattack)
    row.update(train_seconds=round(result.seconds, 2), select_seconds=round(selection.seconds, 3))
    return row


def selection_grid(cells: list[dict], select: Callable[[dict], Selection], pool: Pool, test_pool: Pool,
                   model_name: str, configs: dict[str, TrainConfig], epochs: dict[str, int], min_steps: int, path,
                   cache=None, attack=None, robust_pool: Pool | None = None, scores: dict | None = None,
                   autoattack=None) -> pd.DataFrame:
    """Run a grid of cells (method, keep, fraction, seed, objective): `select(cell)` makes the coreset, which is
    trained with `configs[objective]` for `epochs[objective]` epochs and evaluated (see `train_on_selection`).
    `scores` (named Series the selections use) enter the grid's configuration, with everything else shared."""
    shared = {"model": model_name, "pool": pool.fingerprint(), "test_pool": test_pool.fingerprint(),
              "robust_pool": None if robust_pool is None else robust_pool.fingerprint(),
              "attack": None if attack is None else attack.config(),
              "configs": {k: v.to_dict() for k, v in configs.items()}, "epochs": epochs, "min_steps": min_steps,
              "scores": {k: config_hash({"v": [round(float(x), 9) for x in v.to_numpy()],
                                         "i": [int(i) for i in v.index]}) for k, v in (scores or {}).items()},
              "code": code_hash(selection_grid)}
    if autoattack is not None:  # only then: the configuration of a grid without AutoAttack keeps its hash
        shared["autoattack"] = autoattack.config()

    def run(cell):
        start = time.perf_counter()
        selection = select(cell)
        selection.seconds = time.perf_counter() - start
        objective = cell.get("objective", "standard")
        return train_on_selection(selection, pool, test_pool, model_name, configs[objective], epochs[objective],
                                  min_steps, cell["seed"], cache, None if attack is None else cell_attack(attack, cell),
                                  robust_pool, None if autoattack is None else cell_attack(autoattack, cell))

    return run_grid(cells, run, path, keys=(*CELL_KEYS, "objective"), config=shared)

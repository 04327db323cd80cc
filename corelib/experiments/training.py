"""Training on a selection: a fresh model on the coreset (weighted if the selection has weights) for a fixed
number of epochs (DeepCore's semantics) but at least a minimum number of SGD steps, then evaluated; and grids of
such runs over (method, keep, fraction, seed, objective) cells."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import Callable, TYPE_CHECKING

import pandas as pd

from ..data import Pool
from ..hashing import code_hash, config_hash
from ..select import Selection
from ..train import TrainConfig, fit
from .grid import run_grid
from .results_table import CELL_KEYS
from .suite import EvaluationSuite

if TYPE_CHECKING:
    from pathlib import Path
    from ..cache import ArtifactCache


def coreset_config(config: TrainConfig, size: int, epochs: int, min_steps: int = 0) -> TrainConfig:
    """The training run for a coreset of `size` samples: `epochs` passes over it (DeepCore semantics), but
    at least `min_steps` SGD steps, so a tiny coreset is not trained for a handful of steps only."""
    steps_per_epoch = math.ceil(size / config.batch_size)
    epochs = max(int(epochs), math.ceil(min_steps / steps_per_epoch))
    return replace(config, epochs=epochs, warmup_epochs=min(config.warmup_epochs, epochs / 4))


@dataclass(frozen=True)
class CoresetRuns:
    """How a grid trains and measures its coresets: the pool they index, the model, a training configuration and
    an epoch count per objective (`epochs` passes over the coreset, but at least `min_steps` SGD steps) and the
    evaluation suite every trained model gets."""

    pool: Pool
    model_name: str
    configs: dict[str, TrainConfig]
    epochs: dict[str, int]
    min_steps: int
    suite: EvaluationSuite

    def config(self) -> dict:
        """What every cell shares, for the grid's configuration hash."""
        return {"model": self.model_name, "pool": self.pool.fingerprint(), "suite": self.suite.config(),
                "configs": {k: v.to_dict() for k, v in self.configs.items()}, "epochs": self.epochs,
                "min_steps": self.min_steps}


def train_on_selection(selection: Selection, runs: CoresetRuns, cell: dict, cache: ArtifactCache | None = None) -> dict:
    """Train a fresh model on the selected samples (weighted if the selection has weights) with the cell's
    objective and seed, and return size, epochs, the suite's measurements (`test_acc`, `pgd_acc`, … for the cell),
    training and selection time."""
    objective = cell.get("objective", "standard")
    run_config = replace(coreset_config(runs.configs[objective], len(selection), runs.epochs[objective],
                                        runs.min_steps), seed=cell["seed"], progress=False)
    result = fit(runs.model_name, runs.pool, run_config, subset=selection.indices,
                 weights=selection.weights, cache=cache)
    row = {"size": len(selection), "epochs": run_config.epochs, **runs.suite.run(result.model, cell)}
    row.update(train_seconds=round(result.seconds, 2), select_seconds=round(selection.seconds, 3))
    return row


def selection_grid(cells: list[dict], select: Callable[[dict], Selection], runs: CoresetRuns, path: str | Path,
                   cache: ArtifactCache | None = None, scores: dict | None = None) -> pd.DataFrame:
    """Run a grid of cells (method, keep, fraction, seed, objective): `select(cell)` makes the coreset, which is
    trained and measured as `runs` says (see `train_on_selection`). `scores` (named Series the selections use)
    enter the grid's configuration, with everything else shared."""
    shared = {**runs.config(),
              "scores": {k: config_hash({"v": [round(float(x), 9) for x in v.to_numpy()],
                                         "i": [int(i) for i in v.index]}) for k, v in (scores or {}).items()},
              "code": code_hash(selection_grid)}

    def run(cell):
        start = time.perf_counter()
        selection = select(cell)
        selection.seconds = time.perf_counter() - start
        return train_on_selection(selection, runs, cell, cache)

    return run_grid(cells, run, path, keys=(*CELL_KEYS, "objective"), config=shared,
                    accuracies=runs.suite.accuracy_columns)


__all__ = ["coreset_config", "CoresetRuns", "selection_grid", "train_on_selection"]

"""EasyCore sample hardness ("The Easy Path to Robustness: Coreset Selection using Sample Hardness",
arXiv 2510.11018): the average input-gradient norm over training,

    AIGN(x) = (1/E) Σₑ ‖∇ₓ ℓ(f_θₑ(x), y)‖₂,

and the distance of each sample to the decision boundary. EasyCore keeps the lowest-AIGN samples.
"""
from __future__ import annotations

import pandas as pd
import torch

from .attacks import PGD, input_gradient
from .checks import check_integer, check_number
from .data import Pool, pool_batches
from .models import eval_mode
from .select import Selection, select_by_score
from .train import EpochRecord, Hook, TrainState

MODES = ("in_training", "exact")


def input_gradient_norms(model: torch.nn.Module, pool: Pool, batch_size: int = 256) -> torch.Tensor:
    """‖∇ₓ CE(f(x), y)‖₂ per sample at the clean, unaugmented input, in eval mode (samples independent)."""
    batch_size = check_integer("batch_size", batch_size, minimum=1, hint="samples per gradient batch")
    norms = []
    with eval_mode(model):
        for x, y in pool_batches(pool, batch_size):
            grad, _ = input_gradient(model, x, y)
            norms.append(grad.flatten(1).norm(dim=1))
    return torch.cat(norms)


class AIGN(Hook):
    """Records AIGN during training, keyed by dataset index.

    mode 'in_training': ‖∇ₓ CE(f(x̃), y)‖₂ of the training step with respect to the (augmented) clean input x,
    train-mode BatchNorm, any adversarial perturbation x̃ − x held fixed (x̃ = x for standard training and for
    TRADES, whose β·KL term is not part of the definition): read off the backward pass the step already does, at
    almost no cost (TRADES needs one extra backward through its clean branch). mode 'exact': ‖∇ₓ CE(f(x), y)‖₂ at the clean
    input in eval mode, from a separate pass over the pool every `every` epochs and after the last one.
    `table` has one row per sample seen: index, label, aign, passes (how many epochs were averaged)."""

    def __init__(self, mode: str = "in_training", every: int = 1, batch_size: int = 256):
        if mode not in MODES:
            raise ValueError(f"unknown AIGN mode {mode!r}; choose 'in_training' (free, from the training step) "
                             "or 'exact' (a separate clean eval-mode pass every N epochs)")
        every = check_integer("every", every, minimum=1, hint="epochs between exact AIGN passes")
        batch_size = check_integer("batch_size", batch_size, minimum=1, hint="samples per exact-pass batch")
        self.mode, self.every, self.batch_size = mode, every, batch_size
        self.needs_input_grad = mode == "in_training"
        self._sums = self._counts = self._pool = None

    def config(self) -> dict:
        return {**super().config(), "mode": self.mode, "every": self.every}

    def __repr__(self):
        return f"AIGN(mode={self.mode!r}, every={self.every})"

    def on_epoch_end(self, state: TrainState, record: EpochRecord) -> None:
        pool = state.pool
        if self._sums is None:
            self._pool = pool
            self._sums = torch.zeros(len(pool), dtype=torch.float64)
            self._counts = torch.zeros(len(pool), dtype=torch.int64)
        if self.mode == "in_training":
            pos = pool.positions(record.indices).cpu()
            self._sums.index_add_(0, pos, record.input_grad_norm.detach().double().cpu())
            self._counts.index_add_(0, pos, torch.ones_like(pos))
        elif (state.epoch + 1) % self.every == 0 or state.epoch + 1 == state.config.epochs:
            self._sums += input_gradient_norms(state.model, pool, self.batch_size).double().cpu()
            self._counts += 1

    @property
    def table(self) -> pd.DataFrame:
        """The hardness table: index, label, AIGN (the mean input-gradient norm) and how many passes it averages."""
        if self._sums is None:
            raise ValueError("AIGN has recorded nothing yet: pass it to corelib.train as a hook")
        seen = self._counts > 0
        return pd.DataFrame({"index": self._pool.indices.cpu()[seen].numpy(),
                             "label": self._pool.labels.cpu()[seen].numpy(),
                             "aign": (self._sums[seen] / self._counts[seen]).numpy(),
                             "passes": self._counts[seen].numpy()})


def aign_series(table: pd.DataFrame) -> pd.Series:
    """The AIGN column of a hardness table as a Series indexed by dataset index."""
    return table.set_index("index")["aign"].rename("aign")


def easycore(pool: Pool, aign: pd.Series, fraction: float, seed: int = 0, class_balanced: bool = True) -> Selection:
    """EasyCore: keep the lowest-AIGN (easiest) samples, class-balanced by default."""
    return select_by_score(pool, aign, fraction, keep="bottom", seed=seed, class_balanced=class_balanced,
                           method="easycore")


def boundary_distance(model: torch.nn.Module, pool: Pool, eps_max: float = 32 / 255, iterations: int = 6,
                      steps: int = 5, batch_size: int = 500) -> pd.DataFrame:
    """The smallest ℓ∞ budget at which PGD flips each sample's prediction, by batched bisection on
    [0, eps_max] (every sample of a batch bisects its own interval at once). Misclassified samples have
    distance 0; samples PGD cannot flip at eps_max are censored (distance = eps_max, censored = True).
    PGD here: `steps` steps of size 2.5·ε/steps from the clean input (no random start)."""
    check_number("eps_max", eps_max, low=0, low_open=True, hint="the largest ℓ∞ budget bisected, e.g. 32/255")
    iterations = check_integer("iterations", iterations, minimum=0,
                               hint="bisection steps: the distance is exact to eps_max / 2^iterations")
    steps = check_integer("steps", steps, minimum=1, hint="PGD steps per probe")
    batch_size = check_integer("batch_size", batch_size, minimum=1, hint="samples bisected at once")
    parts = []
    with eval_mode(model):
        for x, y in pool_batches(pool, batch_size):

            def flipped(eps):
                x_adv = PGD(eps=eps, alpha=2.5 * eps / steps, steps=steps, random_start=False)(model, x, y)
                with torch.no_grad():
                    return model(x_adv).argmax(1) != y

            with torch.no_grad():
                wrong = model(x).argmax(1) != y
            lo = torch.zeros(len(y), device=x.device)
            hi = torch.full((len(y),), float(eps_max), device=x.device)
            censored = ~flipped(hi) & ~wrong
            for _ in range(iterations):
                mid = (lo + hi) / 2
                f = flipped(mid)
                hi, lo = torch.where(f, mid, hi), torch.where(f, lo, mid)
            parts.append(torch.stack([torch.where(wrong, torch.zeros_like(hi), hi), censored.float(),
                                      (~wrong).float()]).cpu())
    distance, censored, correct = torch.cat(parts, dim=1)
    return pd.DataFrame({"index": pool.indices.cpu().numpy(), "distance": distance.numpy(),
                         "censored": censored.bool().numpy(), "clean_correct": correct.bool().numpy()})


__all__ = ["AIGN", "aign_series", "boundary_distance", "easycore", "input_gradient_norms", "MODES"]

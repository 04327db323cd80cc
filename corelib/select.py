"""Coreset selections: indices into the original dataset, optional weights, per-sample scores.

Every selection method returns a `Selection`. Class balance follows one rule everywhere
(`sampling.balanced_counts`): each class contributes in proportion to its size, and the remainders are
distributed so that the total is exactly round(fraction · n). Every method of the book, by name, is
`corelib.select_coreset` (the baselines package).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import torch

from .data import Pool
from .files import atomic_save_csv, atomic_write_text
from .sampling import balanced_sample, coreset_size

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

KEEP = ("top", "bottom")


@dataclass
class Selection:
    """A coreset: `indices` (original dataset indices, ascending), optional `weights` (one per index),
    `scores` of every pool sample (aligned with `pool_indices`), and the configuration that made it."""

    indices: torch.Tensor
    weights: torch.Tensor | None = None
    pool_indices: torch.Tensor | None = None
    scores: torch.Tensor | None = None
    method: str = ""
    config: dict = field(default_factory=dict)
    seconds: float = 0.0

    def __post_init__(self):
        indices = torch.as_tensor(self.indices).reshape(-1)
        values, counts = torch.unique(indices, return_counts=True)
        if (counts > 1).any():
            twice = values[counts > 1]
            raise ValueError(f"a selection holds each dataset index at most once, but {len(twice)} "
                             f"ind{'ex appears' if len(twice) == 1 else 'ices appear'} more than once (e.g. "
                             f"{twice[:5].tolist()}); give a weight to count a sample more")
        if self.weights is not None and torch.as_tensor(self.weights).numel() != indices.numel():
            raise ValueError(f"{torch.as_tensor(self.weights).numel()} weights for {indices.numel()} selected indices; "
                             "give one weight per index (or weights=None)")

    def __len__(self) -> int:
        return self.indices.numel()

    def subset(self, pool: Pool) -> Pool:
        """The selected samples of `pool` as a Pool."""
        return pool.subset(self.indices)

    def torch_subset(self, dataset: torch.utils.data.Dataset) -> torch.utils.data.Subset:
        """A `torch.utils.data.Subset` of a dataset indexed by original dataset index (e.g. torchvision's CIFAR10)."""
        return torch.utils.data.Subset(dataset, self.indices.cpu().tolist())

    def to_frame(self) -> pd.DataFrame:
        """One row per selected sample: index (original dataset index) and weight (1 where unweighted)."""
        weights = torch.ones(len(self)) if self.weights is None else self.weights
        return pd.DataFrame({"index": self.indices.cpu().numpy(), "weight": weights.cpu().float().numpy()})

    def scores_frame(self) -> pd.DataFrame:
        """Every pool sample's score and whether it was selected."""
        if self.scores is None:
            raise ValueError(f"selection {self.method!r} has no per-sample scores")
        chosen = torch.isin(self.pool_indices.cpu(), self.indices.cpu())
        return pd.DataFrame({"index": self.pool_indices.cpu().numpy(), "score": self.scores.cpu().double().numpy(),
                             "selected": chosen.numpy()})

    def save(self, path: str | Path) -> Path:
        """Write the selection as CSV (index, weight) and its configuration as JSON beside it, atomically."""
        path = Path(path)
        atomic_save_csv(self.to_frame(), path)
        atomic_write_text(path.with_suffix(".json"), json.dumps(
            {"method": self.method, "config": self.config, "seconds": self.seconds, "size": len(self)}, indent=1,
            default=str))
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Selection":
        """A selection saved with `save`, read back."""
        path = Path(path)
        frame = pd.read_csv(path)
        meta = json.loads(path.with_suffix(".json").read_text()) if path.with_suffix(".json").exists() else {}
        return cls(torch.tensor(frame["index"].to_numpy()), torch.tensor(frame["weight"].to_numpy()),
                   method=meta.get("method", ""), config=meta.get("config", {}), seconds=meta.get("seconds", 0.0))


def align_scores(scores: pd.Series | torch.Tensor | ArrayLike, pool: Pool) -> torch.Tensor:
    """Scores as a tensor aligned with the pool: a pandas Series is matched by original dataset index (every
    pool sample must have a score); anything else must already hold one score per pool sample, in pool order."""
    if isinstance(scores, pd.Series):
        wanted = pd.Index(pool.indices.cpu().numpy())
        missing = wanted[~wanted.isin(scores.index)]
        if len(missing):
            raise ValueError(f"the scores miss {len(missing)} of the pool's {len(pool)} samples (e.g. dataset indices "
                             f"{missing[:5].tolist()}); compute them for the whole pool")
        aligned = scores.reindex(wanted)
        nan = aligned.index[aligned.isna()]
        if len(nan):
            raise ValueError(f"{len(nan)} of the pool's {len(pool)} scores are NaN (dataset indices "
                             f"{nan[:5].tolist()}{', …' if len(nan) > 5 else ''}); a NaN cannot be ranked: fix the "
                             "score computation (e.g. a diverged model or a 0/0)")
        return torch.tensor(aligned.to_numpy(dtype="float64"))
    return torch.as_tensor(scores).reshape(-1)


def check_scores(scores: torch.Tensor, pool: Pool, keep: str) -> None:
    """Scores must be numbers a ranking can order: never NaN (it sorts as the largest value, so `keep='top'` would
    keep it first), and infinite only at the end of the ranking it is kept from (+inf with `keep='bottom'`, −inf with
    `keep='top'`: e.g. DeepFool's +inf for a sample it never flips, ranked last)."""
    if scores.is_floating_point():
        values = scores.detach().cpu()
        unwanted = {"NaN": torch.isnan(values),
                    "+inf": torch.isposinf(values) if keep == "top" else torch.zeros_like(values, dtype=torch.bool),
                    "-inf": torch.isneginf(values) if keep == "bottom" else torch.zeros_like(values, dtype=torch.bool)}
        found = {kind: mask for kind, mask in unwanted.items() if mask.any()}
        if found:
            indices = pool.indices.cpu()
            parts = [f"{int(mask.sum())} {kind} (dataset indices {indices[mask][:5].tolist()}"
                     f"{', …' if int(mask.sum()) > 5 else ''})" for kind, mask in found.items()]
            raise ValueError(f"{sum(int(m.sum()) for m in found.values())} of {len(values)} scores cannot be ranked "
                             f"with keep={keep!r}: {'; '.join(parts)}; a NaN or an infinity at the kept end would be "
                             "selected first. Fix the score computation (e.g. a diverged model or a 0/0) or drop those "
                             "samples from the pool")


def select_by_score(pool: Pool, scores: torch.Tensor, fraction: float, keep: str = "top", seed: int = 0,
                    class_balanced: bool = True, method: str = "score") -> Selection:
    """Keep the highest (`keep='top'`) or lowest (`'bottom'`) scores, class-balanced by default; ties are
    broken at random by `seed`. `scores`: a Series indexed by dataset index, or one value per pool sample."""
    if keep not in KEEP:
        raise ValueError(f"unknown keep={keep!r}; choose 'top' (highest scores) or 'bottom' (lowest)")
    scores = align_scores(scores, pool)
    if scores.numel() != len(pool):
        raise ValueError(f"{scores.numel()} scores for a pool of {len(pool)} samples; give one score per sample")
    check_scores(scores, pool, keep)
    k = coreset_size(len(pool), fraction)
    if class_balanced:
        pos = balanced_sample(pool.labels, k, seed, scores=scores, descending=keep == "top")
    else:
        noise = torch.rand(len(pool), generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64)
        order = torch.argsort(noise)
        order = order[torch.sort(scores.cpu().double()[order], descending=keep == "top", stable=True).indices]
        pos = order[:k].sort().values
    indices = pool.indices.cpu()[pos]
    return Selection(indices, None, pool.indices.cpu(), scores.cpu(), method,
                     {"fraction": fraction, "keep": keep, "seed": seed, "class_balanced": class_balanced})


def random_selection(pool: Pool, fraction: float, seed: int = 0, class_balanced: bool = True) -> Selection:
    """A uniformly random coreset (class-balanced by default) of round(fraction · n) samples."""
    k = coreset_size(len(pool), fraction)
    if class_balanced:
        pos = balanced_sample(pool.labels, k, seed)
    else:
        pos = torch.randperm(len(pool), generator=torch.Generator().manual_seed(seed))[:k].sort().values
    return Selection(pool.indices.cpu()[pos], method="random",
                     config={"fraction": fraction, "seed": seed, "class_balanced": class_balanced})


__all__ = ["align_scores", "check_scores", "KEEP", "random_selection", "select_by_score", "Selection"]

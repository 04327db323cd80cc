"""Class-balanced sampling: the one rule every coreset in the book follows, and the pools the chapters use.

A coreset of `fraction` of n samples has exactly round(fraction · n) members (at least 1). Class balance
follows one rule (`balanced_counts`): each class contributes in proportion to its size, and the remainders go
to the classes with the largest fractional parts, ties broken by the seed. `by_class` runs any per-class choice
(a random draw, a score ranking, a greedy solver) under that rule, one class at a time.
"""
from __future__ import annotations

import numbers
from typing import TYPE_CHECKING, Callable, Optional

import torch

from .data import SPLIT_SIZES, Pool, load_cifar10

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

# A per-class choice: (class member positions, k, generator) -> (chosen positions among them, weights or None).
Chooser = Callable[[torch.Tensor, int, torch.Generator], tuple[torch.Tensor, Optional[torch.Tensor]]]


def check_fraction(fraction: float) -> float:
    """A coreset fraction must lie in (0, 1] (a number, not True or False)."""
    if isinstance(fraction, bool):
        raise ValueError(f"fraction={fraction!r} is not a number; give a fraction in (0, 1], e.g. 0.1 for 10 %")
    try:
        f = float(fraction)
    except (TypeError, ValueError):
        raise ValueError(f"fraction {fraction!r} is not a number; give a fraction in (0, 1], e.g. 0.1 for 10 %") from None
    if not 0 < f <= 1:
        raise ValueError(f"fraction {fraction!r} is outside (0, 1]; give e.g. 0.1 for 10 % of the pool")
    return f


def coreset_size(n: int, fraction: float) -> int:
    """round(fraction · n), and at least 1."""
    return max(1, int(round(check_fraction(fraction) * n)))


def balanced_counts(labels: torch.Tensor, total: int, seed: int, num_classes: int | None = None) -> torch.Tensor:
    """How many samples each class contributes to a class-balanced subset of exactly `total` samples.

    Each class gets total·n_c/N rounded down; the remaining samples go to the classes with the largest
    fractional parts (largest-remainder rounding), ties broken by a random order drawn from `seed`.
    """
    labels = labels.detach().cpu()
    num_classes = num_classes or int(labels.max()) + 1
    n_c = torch.bincount(labels, minlength=num_classes).double()
    n = int(n_c.sum())
    if not 0 <= total <= n:
        raise ValueError(f"cannot take {total} samples from {n}; choose a size between 1 and {n}")
    quota = total * n_c / n
    counts = quota.floor().long()
    left = total - int(counts.sum())
    if left:
        g = torch.Generator().manual_seed(seed)
        tiebreak = torch.rand(num_classes, generator=g, dtype=torch.float64) * 1e-9
        order = torch.argsort(quota - counts + tiebreak, descending=True)
        counts[order[:left]] += 1
    return counts


def class_members(labels: torch.Tensor) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield (class, positions of its members) for every class present in `labels` (CPU, ascending class)."""
    labels = labels.detach().cpu()
    for c in labels.unique().tolist():
        yield c, torch.nonzero(labels == c).flatten()


def by_class(labels: torch.Tensor, total: int, seed: int,
             choose: Chooser,
             num_classes: int | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A class-balanced subset of `total` samples chosen one class at a time (sizes by `balanced_counts`):
    `choose(members, k, generator)` returns (positions into `members` of the k it keeps, weights or None), with
    one CPU generator seeded by `seed` shared by the classes in order. Returns the chosen positions into
    `labels`, class by class, and the concatenated weights (None if any class gave none)."""
    counts = balanced_counts(labels, total, seed, num_classes)
    generator = torch.Generator().manual_seed(seed)
    positions, weights = [], []
    for c, members in class_members(labels):
        k = int(counts[c])
        if k == 0:
            continue
        chosen, w = choose(members, min(k, len(members)), generator)
        positions.append(members[chosen])
        weights.append(w)
    if not positions:
        return torch.empty(0, dtype=torch.long), None
    return torch.cat(positions), None if any(w is None for w in weights) else torch.cat(weights)


def balanced_sample(labels: torch.Tensor, total: int, seed: int, scores: torch.Tensor | None = None,
                    descending: bool = True, num_classes: int | None = None) -> torch.Tensor:
    """Positions of a class-balanced subset of `total` samples (ascending).

    Without `scores` the members of each class are drawn at random; with `scores` each class keeps
    its highest (`descending=True`) or lowest scores, ties broken at random. Everything depends on `seed` alone.
    """
    noise = torch.rand(len(labels), generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64)
    values = None if scores is None else scores.detach().cpu().double()

    def choose(members, k, _):
        order = torch.argsort(noise[members])
        if values is not None:  # lexicographic: by score (in the chosen direction), then by the random tie-breaker
            order = order[torch.sort(values[members][order], descending=descending, stable=True).indices]
        return order[:k], None

    return by_class(labels, total, seed, choose, num_classes)[0].sort().values


def uniform_random(labels: torch.Tensor, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A class-balanced random subset with uniform weights n/k (the unbiased reweighting of a random sample):
    (positions, weights)."""
    n = len(labels)
    positions = balanced_sample(labels.cpu(), coreset_size(n, fraction), seed)
    return positions, torch.full((len(positions),), n / len(positions), dtype=torch.float64)


def class_balanced_pool(pool: Pool, size: int, seed: int, name: str = "size") -> Pool:
    """A deterministic class-balanced random subset of `pool` with exactly `size` samples. A size larger than
    the pool is an error naming the setting `name` (never silently clamped)."""
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or not 1 <= size <= len(pool):
        raise ValueError(f"{name}={size!r} is not possible: the {pool.split} pool it is drawn from has {len(pool)} "
                         f"samples; choose an integer between 1 and {len(pool)}"
                         + (" (or raise train_size / test_size)" if name != "size" else ""))
    return pool.take(balanced_sample(pool.labels, size, seed).to(pool.device))


def load_pools(train_size: int, test_size: int, seed: int = 0, root: str | Path | None = None,
               device: torch.device | str = "cpu") -> tuple[Pool, Pool]:
    """The class-balanced train pool and test set a profile uses (sizes up to 50,000 and 10,000)."""
    for name, size in (("train_size", train_size), ("test_size", test_size)):
        split = name.split("_")[0]
        if not 1 <= int(size) <= SPLIT_SIZES[split]:
            raise ValueError(f"{name}={size} is larger than CIFAR-10's {split} split ({SPLIT_SIZES[split]} images) "
                             f"or not positive; choose 1 ≤ {name} ≤ {SPLIT_SIZES[split]}")
    train = class_balanced_pool(load_cifar10("train", root, device), int(train_size), seed)
    test = class_balanced_pool(load_cifar10("test", root, device), int(test_size), seed)
    return train, test


__all__ = ["balanced_counts", "balanced_sample", "by_class", "check_fraction", "class_balanced_pool", "class_members",
           "Chooser", "coreset_size", "load_pools", "uniform_random"]

"""The registry of selection methods: every method is a function registered under its DeepCore name with what a
reader needs to compare it with the others (its family, what it keeps, what it reads, one line on how, and the
paper it comes from). `corelib.baselines.select_coreset(name, ...)` calls it; `describe()` prints the registry.

A method is called as `method(proxy, fraction, seed, passes, class_balanced, **params)` and returns
(dataset indices, weights or None, per-sample scores or None); `passes` (a `proxy.Passes`) counts the model
evaluations it makes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..select import random_selection

KEEPS = ("top", "bottom", "cover", "sample")  # highest scores, lowest scores, a set chosen jointly, a random draw


@dataclass(frozen=True)
class Method:
    """A registered selection method and what it is."""

    name: str
    select: Callable
    family: str
    keeps: str
    reads: str
    description: str
    paper: str


METHODS: dict[str, Method] = {}


def register(name: str, *, family: str, keeps: str, reads: str, description: str, paper: str):
    """Decorator: register `fn` as selection method `name` with its metadata (`keeps` one of KEEPS)."""
    if keeps not in KEEPS:
        raise ValueError(f"keeps={keeps!r} for method {name!r}; choose one of {KEEPS}")

    def decorate(fn: Callable) -> Callable:
        if name in METHODS:
            raise ValueError(f"selection method {name!r} is registered twice")
        METHODS[name] = Method(name, fn, family, keeps, reads, description, paper)
        return fn

    return decorate


@register("random", family="random", keeps="sample", reads="nothing",
          description="a uniform class-balanced sample: the reference every method must beat",
          paper="DeepCore (Guo, Zhao & Bai 2022)")
def random(proxy, fraction, seed, passes, class_balanced, **_):
    return random_selection(proxy.pool, fraction, seed, class_balanced).indices, None, None

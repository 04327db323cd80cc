"""The registry of selection methods: every method is a function registered under its DeepCore name with what a
reader needs to compare it with the others (its family, what it keeps, what it reads, one line on how, and the
paper it comes from). `corelib.methods.select_coreset(name, ...)` calls it; `describe()` prints the registry.

A method is called as `method(proxy, fraction, seed, passes, class_balanced, **params)` and returns
(dataset indices, weights or None, per-sample scores or None); `passes` (a `proxy.Passes`) counts the model
evaluations it makes. `Method.params` names the keyword parameters it accepts (read from its signature, or given
to `register` for a method that forwards them); `select_coreset` refuses any other.
"""
from __future__ import annotations

import difflib
import inspect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, TypeVar

from ..select import random_selection

if TYPE_CHECKING:
    from .proxy import MethodResult, Passes, Proxy

F = TypeVar("F", bound=Callable)

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
    params: tuple = ()  # the keyword parameters it accepts beyond the shared ones (SHARED)

    def check_params(self, params: dict) -> None:
        """Refuse keyword parameters this method does not take (a typo would otherwise be silently ignored)."""
        unknown = [k for k in params if k not in self.params]
        if unknown:
            hints = [f" (did you mean {close[0]!r}?)" if (close := difflib.get_close_matches(k, self.params, 1)) else ""
                     for k in unknown]
            named = ", ".join(f"{k}={params[k]!r}{hint}" for k, hint in zip(unknown, hints))
            takes = (f"it takes {', '.join(self.params)}" if self.params else "it takes no parameters of its own")
            raise ValueError(f"selection method {self.name!r} does not take {named}: {takes} (besides the shared "
                             f"{', '.join(SHARED)})")


@dataclass(frozen=True)
class TrainingMethod:
    """A registered method that trains as it selects (Algorithm 1 of adversarial coreset selection): a grid cell
    calls `train(model_name, pool, config, fraction, seed, cache, schedule)` instead of selecting once and training
    on the selection. It runs only in the tracks it names."""

    name: str
    train: Callable
    family: str
    reads: str
    description: str
    paper: str
    tracks: tuple = ("adversarial",)
    keeps: str = "cover"


@dataclass(frozen=True)
class Deviation:
    """One way a method's default here differs from the reference code its published numbers come from (DeepCore's
    for the baselines): what (`aspect`), what corelib does, what the reference does, and why. `definition`: the
    difference changes what the method computes (another score or rule), so its rows measure another method than
    the published one and are left out of rank comparisons with it; otherwise an implementation detail."""

    method: str
    aspect: str
    corelib: str
    reference: str
    why: str
    definition: bool = False
    reference_code: str = "DeepCore"


ADVERSARIAL_ONLY: set[str] = set()  # selecting methods that read an adversarially trained proxy: adversarial track only
DEVIATIONS: list[Deviation] = []  # every registered method's deviations, in registration order


def deviates(method: str, aspect: str, corelib: str, reference: str, why: str, definition: bool = False,
             reference_code: str = "DeepCore") -> None:
    """Record that `method`'s default differs from `reference_code` (DeepCore's, or the authors' where DeepCore has
    no such method) in `aspect` (`Deviation`; `definition`: it computes another score or rule). Chapter 8's list of differences is computed from these records
    (`methods.deviations`), never hand-kept."""
    DEVIATIONS.append(Deviation(method, aspect, corelib, reference, why, definition, reference_code))


SHARED = ("fraction", "seed", "class_balanced")  # what select_coreset passes every method (with proxy and passes)
POSITIONAL = ("proxy", "fraction", "seed", "passes", "class_balanced")
METHODS: dict[str, Method] = {}
TRAINING_METHODS: dict[str, TrainingMethod] = {}  # methods that train as they select (kind 'trains')


def signature_params(fn: Callable) -> tuple:
    """The keyword parameters `fn` names after the five every method takes (not its **kwargs)."""
    ordinary = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return tuple(p.name for p in list(inspect.signature(fn).parameters.values())[len(POSITIONAL):]
                 if p.kind in ordinary)


def register(name: str, *, family: str, keeps: str, reads: str, description: str, paper: str,
             params: tuple | None = None) -> Callable[[F], F]:
    """Decorator: register `fn` as selection method `name` with its metadata (`keeps` one of KEEPS). `params`: the
    keyword parameters it accepts, when it forwards some through **kwargs (default: those its signature names)."""
    if keeps not in KEEPS:
        raise ValueError(f"keeps={keeps!r} for method {name!r}; choose one of {KEEPS}")

    def decorate(fn: Callable) -> Callable:
        if name in METHODS:
            raise ValueError(f"selection method {name!r} is registered twice")
        accepted = signature_params(fn) if params is None else tuple(params)
        METHODS[name] = Method(name, fn, family, keeps, reads, description, paper, accepted)
        return fn

    return decorate


def register_training(name: str, *, family: str, reads: str, description: str, paper: str,
                      tracks: tuple = ("adversarial",)) -> Callable[[F], F]:
    """Decorator: register `fn` as a method that trains as it selects (`TrainingMethod`), runnable in `tracks`."""
    def decorate(fn: Callable) -> Callable:
        if name in METHODS or name in TRAINING_METHODS:
            raise ValueError(f"method {name!r} is registered twice")
        TRAINING_METHODS[name] = TrainingMethod(name, fn, family, reads, description, paper, tuple(tracks))
        return fn

    return decorate


def method_names(track: str | None = None) -> list[str]:
    """Every selecting method, then (for `track`, or every track when None) every method that trains as it
    selects: what 'all' means in a grid of that track."""
    training = [m for m, e in sorted(TRAINING_METHODS.items()) if track is None or track in e.tracks]
    return [m for m in sorted(METHODS) if track != "standard" or m not in ADVERSARIAL_ONLY] + training


@register("random", family="random", keeps="sample", reads="nothing",
          description="a uniform class-balanced sample: the reference every method must beat",
          paper="DeepCore (Guo, Zhao & Bai 2022)")
def random(proxy: Proxy, fraction: float, seed: int, passes: Passes, class_balanced: bool) -> MethodResult:
    """A uniform random class-balanced sample (the baseline every method is compared with)."""
    return random_selection(proxy.pool, fraction, seed, class_balanced).indices, None, None


__all__ = ["ADVERSARIAL_ONLY", "Deviation", "DEVIATIONS", "deviates", "KEEPS", "Method", "METHODS", "POSITIONAL", "random", "register", "SHARED", "signature_params"]

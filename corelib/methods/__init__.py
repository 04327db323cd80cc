"""The DeepCore baselines (Guo, Zhao & Bai 2022, "DeepCore: A Comprehensive Library for Coreset Selection in
Deep Learning") and the book's own methods behind one call:

    proxy = train_proxy("small_cnn", pool, epochs=4, seed=0)
    selection = select_coreset("kcenter", proxy, fraction=0.1, seed=0)

Every method reads a `Proxy` (`proxy.py`) and is registered with its metadata (`registry.py`); the methods live
one module per family: uncertainty, geometry, decision boundary, training dynamics, gradient matching, and the
sensitivity / hardness scores. Selections are class-balanced by default (the project's rule,
`sampling.balanced_counts`); pairwise methods compare samples of one class at a time, so no n×n matrix over the
whole pool is ever formed. Every selection records its wall time and the forward and backward passes it took (in
samples, and in passes over the pool), on top of the proxy.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pandas as pd
import torch

from ..checks import check_integer
from ..sampling import check_fraction
from ..select import Selection
from . import (adversarial_training, boundary, geometry, gradient_matching, pruning, robustness_aware,
               training_dynamics, uncertainty)
from .proxy import Passes, Proxy, train_proxy
from .registry import (ADVERSARIAL_ONLY, DEVIATIONS, METHODS, TRAINING_METHODS, Deviation, Method, TrainingMethod, method_names, register,
                       register_training)

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any


def check_method(method: str, track: str | None = None) -> str:
    """`method` if it is a registered method (of `track`, where one is given: a method that trains as it selects
    runs only in the tracks it names), else a ValueError listing them."""
    if method in TRAINING_METHODS:
        if track is not None and track not in TRAINING_METHODS[method].tracks:
            raise ValueError(f"{method} is Algorithm 1 (adversarial coreset training): run it with track='adversarial'")
        return method
    if method not in METHODS:
        raise ValueError(f"unknown selection method {method!r}; choose one of {sorted(METHODS)}")
    if track == "standard" and method in ADVERSARIAL_ONLY:
        raise ValueError(f"{method} reads an adversarially trained proxy: run it with track='adversarial'")
    return method


def select_coreset(method: str, proxy: Proxy, fraction: float, seed: int = 0, class_balanced: bool = True,
                   **params: Any) -> Selection:
    """The coreset of `method` (a name in `METHODS`) with round(fraction · n) samples of the proxy's pool.
    `config` records the fraction, seed, the wall time and the forward / backward passes the selection took
    (samples, and passes over the pool), apart from training the proxy. Artifacts shared with other selections of
    the same proxy are computed once, but their cost is charged to every selection that reads them. `params` are the
    method's own keyword parameters (`METHODS[method].params`): any other, e.g. a misspelt one, is an error."""
    if method in TRAINING_METHODS:
        raise ValueError(f"{method} trains as it selects (Algorithm 1): run it in a grid's adversarial track "
                         "(`python -m corelib bench --track adversarial`), not through select_coreset")
    check_method(method)
    fraction = check_fraction(fraction)
    check_integer("seed", seed, minimum=0, hint="seeds are integers ≥ 0")
    if len(proxy.pool) == 0:
        raise ValueError("the proxy's pool is empty: there is nothing to select from")
    if class_balanced not in (True, False):
        raise ValueError(f"class_balanced={class_balanced!r} must be True or False")
    METHODS[method].check_params(params)  # a misspelt parameter is an error, not silently ignored
    passes = Passes()
    start = time.perf_counter()
    indices, weights, scores = METHODS[method].select(proxy, fraction, seed, passes, class_balanced, **params)
    seconds = time.perf_counter() - start + passes.reused_seconds
    order = torch.argsort(indices)
    n = len(proxy.pool)
    config = {"fraction": fraction, "seed": seed, "class_balanced": class_balanced, **params,
              "forward": passes.forward, "backward": passes.backward,
              "forward_passes": passes.forward / n, "backward_passes": passes.backward / n}
    return Selection(indices[order], None if weights is None else weights[order],
                     proxy.pool.indices.cpu() if scores is not None else None, scores, method, config, seconds)


def describe(methods: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per method: family, what it keeps (top / bottom scores, a cover, a random sample), what it reads
    from the proxy, how it chooses, and its paper."""
    methods = sorted(METHODS) if methods is None else methods
    entries = {**METHODS, **TRAINING_METHODS}
    rows = [{"method": m, "family": entries[m].family, "keeps": entries[m].keeps, "reads": entries[m].reads,
             "how": entries[m].description, "paper": entries[m].paper} for m in map(check_method, methods)]
    return pd.DataFrame(rows).set_index("method")


def deviations(methods: Sequence[str] | None = None) -> pd.DataFrame:
    """Every recorded way a method's default differs from the reference code its published rows come from
    (DeepCore's, or the authors' for methods DeepCore lacks), one row each: method, aspect, what corelib does, what
    the reference does, which code that is, and why (`deviates` records them beside each method). Methods not listed follow the reference code in what they compute."""
    rows = [d for d in DEVIATIONS if methods is None or d.method in methods]
    return pd.DataFrame([{"method": d.method, "aspect": d.aspect, "corelib": d.corelib, "reference": d.reference,
                          "reference code": d.reference_code, "why": d.why, "definition": d.definition} for d in rows],
                        columns=["method", "aspect", "corelib", "reference", "reference code", "why", "definition"])


def other_definitions() -> list[str]:
    """The methods whose default computes another score or rule than DeepCore's code (a `Deviation` with
    `definition`): their rows measure another method than the published rows of the same name."""
    return sorted({d.method for d in DEVIATIONS if d.definition})


__all__ = ["adversarial_training", "boundary", "check_method", "describe", "Deviation", "deviations", "DEVIATIONS",
           "geometry", "gradient_matching", "Method", "method_names", "METHODS", "other_definitions", "Passes", "pruning", "Proxy", "register",
           "register_training", "robustness_aware", "select_coreset", "train_proxy", "training_dynamics",
           "TRAINING_METHODS", "TrainingMethod", "uncertainty"]

"""The experiments of the three score chapters (ISEF, FGSM-CS, PSS): how the schemes agree, and top- versus
bottom-ranked coresets against random ones."""
from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from ..scores import all_scores
from ..select import random_selection, select_by_score
from .training import CoresetRuns, selection_grid

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path
    from ..cache import ArtifactCache


def score_agreement(table: pd.DataFrame, ks: Sequence[int], top: float = 0.1) -> pd.DataFrame:
    """How the three schemes agree on a sensitivity table: Spearman rank correlation between their scores over
    the pool, and the overlap of their top-`top` sets (the share of one scheme's top set that another scheme also
    puts in its top set)."""
    everything = all_scores(table, ks=ks)
    top_sets = {c: set(everything[c].nlargest(int(len(everything) * top + 1e-9)).index) for c in everything}
    overlap = pd.DataFrame({a: {b: len(top_sets[a] & top_sets[b]) / len(top_sets[a]) for b in top_sets}
                            for a in top_sets})
    return pd.concat({"Spearman ρ": everything.corr(method="spearman"),
                      f"top-{100 * top:g} % overlap": overlap}, axis=1)


def score_coreset_grid(runs: CoresetRuns, scores: dict[str, pd.Series], fractions: Sequence[float],
                       seeds: Sequence[int], path: str | Path, keeps: Sequence[str] = ("top", "bottom"),
                       random_baseline: bool = True, cache: ArtifactCache | None = None) -> pd.DataFrame:
    """Train on class-balanced top/bottom coresets of each score (and random ones) at every fraction and seed,
    with the standard objective (`runs.configs['standard']`). Rows: method, keep, fraction, seed, objective, size,
    epochs, the suite's columns (test_acc, top_class_share, …), train_seconds, select_seconds, cell_seconds."""
    pool = runs.pool
    cells = [{"method": m, "keep": k, "fraction": f, "seed": s, "objective": "standard"}
             for m in scores for k in keeps for f in fractions for s in seeds]
    if random_baseline:
        cells += [{"method": "random", "keep": "random", "fraction": f, "seed": s, "objective": "standard"}
                  for f in fractions for s in seeds]

    def select(cell):
        if cell["method"] == "random":
            return random_selection(pool, cell["fraction"], seed=cell["seed"])
        return select_by_score(pool, scores[cell["method"]], cell["fraction"], cell["keep"], seed=cell["seed"],
                               method=cell["method"])

    return selection_grid(cells, select, runs, path, cache, scores=scores)


__all__ = ["score_agreement", "score_coreset_grid"]

"""The EasyCore experiment (chapter 6): EasyCore (lowest AIGN), random and hardest-first coresets trained under
each objective, with clean and robust accuracy."""
from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from ..checks import check_integer, check_number
from ..easycore import easycore
from ..select import random_selection, select_by_score
from .training import CoresetRuns, selection_grid

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path
    from ..cache import ArtifactCache


def easycore_grid(runs: CoresetRuns, aign: dict, fractions: Sequence[float], seeds: Sequence[int], path: str | Path,
                  cache: ArtifactCache | None = None) -> pd.DataFrame:
    """EasyCore (lowest AIGN), random and hardest-first (highest AIGN) coresets, class-balanced, for every
    objective in `runs.configs` (e.g. 'standard', 'trades'), fraction and seed. Each objective selects with the
    AIGN measured under that objective (`aign[objective]`, a Series by dataset index). Rows carry the suite's
    columns (clean `test_acc`, `pgd_acc`, `autoattack_acc` where the suite has AutoAttack)."""
    pool = runs.pool
    methods = (("easycore", "bottom"), ("random", "random"), ("hardest", "top"))
    cells = [{"method": m, "keep": k, "fraction": f, "seed": s, "objective": o}
             for o in runs.configs for m, k in methods for f in fractions for s in seeds]

    def select(cell):
        if cell["method"] == "random":
            return random_selection(pool, cell["fraction"], seed=cell["seed"])
        if cell["method"] == "easycore":
            return easycore(pool, aign[cell["objective"]], cell["fraction"], seed=cell["seed"])
        return select_by_score(pool, aign[cell["objective"]], cell["fraction"], cell["keep"], seed=cell["seed"],
                               method=cell["method"])

    return selection_grid(cells, select, runs, path, cache, scores=aign)


QUINTILE_LABELS = ("1 (easiest)", "2", "3", "4", "5 (hardest)")


def robustness_by_hardness(distance: pd.DataFrame, eps: float, bins: int = 5) -> pd.DataFrame:
    """Robustness by AIGN quantile among the correctly classified samples of a `boundary_distance` table with an
    `aign` column: per quantile (1 = easiest), the number of samples, the median distance to the boundary (× 1/255)
    and the share PGD cannot flip at `eps` (distance > eps). Quantiles are of AIGN's rank (ties in dataset order), so
    every bin holds the same number of samples (±1).

    With fewer correctly classified samples than `bins` (a tiny or untrained model) it uses as many bins as there
    are distinct AIGN values; with none it returns an empty table of the same columns, so a caller's "easiest vs
    hardest" reads NaN instead of failing."""
    bins = check_integer("bins", bins, minimum=1, hint="the number of AIGN quantiles, e.g. 5")
    check_number("eps", eps, low=0, hint="the ℓ∞ budget in [0, 1] units, e.g. 8/255")
    missing = {"aign", "distance", "clean_correct", "index"} - set(distance.columns)
    if missing:
        raise ValueError(f"distance table lacks the column(s) {sorted(missing)}: pass boundary_distance(...) with "
                         f"an 'aign' column added (distance['aign'] = aign.reindex(distance['index']).to_numpy())")
    right = distance[distance.clean_correct & distance.aign.notna()]
    columns = ["samples", "median_distance_255", "robust_at_eps"]
    n_bins = min(bins, right.aign.nunique())
    if n_bins == 0:
        return pd.DataFrame(columns=columns, index=pd.Index([], name="aign_quantile")).astype(float)
    labels = list(QUINTILE_LABELS) if n_bins == 5 else [str(i + 1) for i in range(n_bins)]
    quantile = pd.qcut(right.aign.rank(method="first"), n_bins, labels=labels)
    right = right.assign(robust=right.distance > eps, distance_255=255 * right.distance, aign_quantile=quantile)
    return right.groupby("aign_quantile", observed=True).agg(samples=("index", "size"),
                                                           median_distance_255=("distance_255", "median"),
                                                           robust_at_eps=("robust", "mean"))


__all__ = ["easycore_grid", "QUINTILE_LABELS", "robustness_by_hardness"]

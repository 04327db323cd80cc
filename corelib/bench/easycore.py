"""The EasyCore experiment (chapter 6): EasyCore (lowest AIGN), random and hardest-first coresets trained under
each objective, with clean and robust accuracy."""
from __future__ import annotations

import pandas as pd

from ..data import Pool
from ..select import random_selection, select_by_score
from .training import selection_grid


def easycore_grid(pool: Pool, test_pool: Pool, robust_pool: Pool, aign: dict, fractions, seeds, model_name: str,
                  configs: dict, epochs: dict, min_steps: int, attack, path, cache=None, autoattack=None) -> pd.DataFrame:
    """EasyCore (lowest AIGN), random and hardest-first (highest AIGN) coresets, class-balanced, for every
    objective in `configs` (e.g. 'standard', 'trades'), fraction and seed. Each objective selects with the AIGN
    measured under that objective (`aign[objective]`, a Series by dataset index). Rows carry clean test accuracy
    and robust accuracy under `attack` on `robust_pool` (and under `autoattack`, an `attacks.AutoAttack`, if given)."""
    methods = (("easycore", "bottom"), ("random", "random"), ("hardest", "top"))
    cells = [{"method": m, "keep": k, "fraction": f, "seed": s, "objective": o}
             for o in configs for m, k in methods for f in fractions for s in seeds]

    def select(cell):
        if cell["method"] == "random":
            return random_selection(pool, cell["fraction"], seed=cell["seed"])
        return select_by_score(pool, aign[cell["objective"]], cell["fraction"], cell["keep"], seed=cell["seed"],
                               method=cell["method"])

    return selection_grid(cells, select, pool, test_pool, model_name, configs, epochs, min_steps, path, cache,
                          attack, robust_pool, scores=aign, autoattack=autoattack)

"""Baselines that read how training went: forgetting events over the proxy's epochs (Toneva et al.) and the
gradient norm early in training (GraNd, Paul et al.)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from ..checks import check_integer
from .proxy import charged, pool_scores, proxy_gradients, ranked, shared
from .registry import deviates, register

if TYPE_CHECKING:
    from .proxy import MethodResult, Passes, Proxy


NEVER_LEARNED = ("deepcore", "toneva")  # what a sample never classified correctly counts as


def forgetting_events(per_sample: pd.DataFrame, never_learned: str = "deepcore") -> pd.Series:
    """Forgetting events (Toneva et al. 2019, Section 3): per sample, the number of times it goes from correct to
    incorrect between consecutive epochs of training (`per_sample`: epoch, index, correct, in any row order).

    `never_learned` decides the samples never classified correctly, which have no event to count:
    - 'deepcore' (default): 0 events, as DeepCore's `forgetting.py` counts them (its counters start at zero), so they
      rank with the unforgettable samples. The sparse-FGSM paper's Forgetting row comes from DeepCore's code.
    - 'toneva': more events than any other sample (max + 1), Toneva et al.'s convention ("examples that are never
      learned are considered forgotten an infinite number of times"), so they rank first. With a short proxy run
      many samples are never learned and this convention fills the coreset with them."""
    if never_learned not in NEVER_LEARNED:
        raise ValueError(f"never_learned={never_learned!r}; choose 'deepcore' (never-learned samples count 0 "
                         "events) or 'toneva' (they count more than any other)")
    table = per_sample.sort_values(["index", "epoch"])
    correct = table["correct"].astype(bool).to_numpy()
    same = table["index"].to_numpy()
    prev_correct = pd.Series(correct).shift(1, fill_value=False).to_numpy()
    prev_same = pd.Series(same).shift(1).to_numpy() == same
    events = pd.Series((prev_same & prev_correct & ~correct).astype(int), index=table["index"]).groupby(level=0).sum()
    learned = pd.Series(correct, index=table["index"]).groupby(level=0).any()
    if never_learned == "toneva":
        events = events.where(learned, events.max() + 1)
    return events.astype(float).rename("forgetting")


@register("forgetting", family="training dynamics", keeps="top", reads="per-epoch correctness",
          description="the most forgetting events (correct → wrong) while the proxy trained", paper="Toneva et al. 2019")
def forgetting(proxy: Proxy, fraction: float, seed: int, passes: Passes, class_balanced: bool,
               never_learned: str = "deepcore") -> MethodResult:
    """Forgetting events (Toneva et al. 2019): the samples forgotten most often during the proxy's training
    (`forgetting_events`; `never_learned` 'deepcore', the default, or 'toneva')."""
    events = forgetting_events(proxy.per_sample, never_learned)
    return ranked(proxy, events, fraction, seed, "top", class_balanced, "forgetting")


GRAND_REPEATS = 2  # proxies GraNd averages over by default; DeepCore (and the paper profile) use 10


@register("grand", family="error / gradient", keeps="top", reads="last-layer gradients",
          description="the largest last-layer gradient norm, averaged over independently initialised proxies",
          paper="Paul, Ganguli & Dziugaite 2021")
def grand(proxy: Proxy, fraction: float, seed: int, passes: Passes, class_balanced: bool,
          repeats: int = GRAND_REPEATS) -> MethodResult:
    """GraNd (Paul et al. 2021): E_θ‖∇_θ ℓ(x, y; θ)‖ over initialisations, here over `repeats` proxies trained
    like this one (the proxy itself and `repeats − 1` siblings from seeds proxy-seed + 1000·r), on the last layer
    as DeepCore computes it (DeepCore averages 10 models). The siblings' training is charged to the selection."""
    repeats = check_integer("repeats", repeats, minimum=1,
                            hint="GraNd averages this many proxies; DeepCore averages 10 models")

    def compute(own):
        total = proxy_gradients(proxy, own).norm(dim=1).double()
        for r in range(1, int(repeats)):
            sibling = charged(own, lambda r=r: proxy.sibling(proxy.seed + 1000 * r))
            total += proxy_gradients(sibling, own).norm(dim=1).double()
        return total / int(repeats)

    norms = shared(proxy, passes, ("grand", int(repeats)), compute)
    return ranked(proxy, pool_scores(proxy, norms), fraction, seed, "top", class_balanced, "grand")


deviates("grand", "models averaged", "`grand_repeats` proxies (2 in the ci and cpu_full profiles, 10 in paper)",
         "10 models", "the budget of the CPU profiles; the paper profile matches DeepCore")


__all__ = ["forgetting", "forgetting_events", "grand", "GRAND_REPEATS", "NEVER_LEARNED"]

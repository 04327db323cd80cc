"""Geometry baselines: cover or summarise each class in the proxy's embedding (or prediction) space."""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from ..coreset_solvers import herding, k_center
from ..sampling import class_members
from .proxy import class_by_class, embeddings_and_probabilities, pool_scores, ranked, require_class_balance
from .registry import deviates, register

if TYPE_CHECKING:
    from .proxy import MethodResult, Passes, Proxy


@register("herding", family="geometry", keeps="cover", reads="embeddings",
          description="samples whose running mean tracks the class mean", paper="Welling 2009")
def herding_method(proxy: Proxy, fraction: float, seed: int, passes: Passes, class_balanced: bool) -> MethodResult:
    """Herding (Welling 2009; DeepCore's Herding): greedily keep the sample that brings the selection's mean embedding
    closest to the class mean."""
    require_class_balance("herding", class_balanced)
    feats, _ = embeddings_and_probabilities(proxy, passes)
    return class_by_class(proxy, fraction, seed, lambda members, k, generator: (herding(feats[members], k), None))


def _first(members, generator) -> int:
    return int(torch.randint(len(members), (1,), generator=generator))


@register("kcenter", family="geometry", keeps="cover", reads="embeddings",
          description="the farthest-first cover of each class", paper="Sener & Savarese 2018")
def kcenter(proxy: Proxy, fraction: float, seed: int, passes: Passes, class_balanced: bool) -> MethodResult:
    """k-Center greedy (Sener & Savarese 2018): repeatedly add the sample farthest from the selection, in the proxy's
    embedding, per class."""
    require_class_balance("kcenter", class_balanced)
    feats, _ = embeddings_and_probabilities(proxy, passes)

    def choose(members, k, generator):
        first = _first(members, generator)
        f = feats[members].double()
        return k_center(lambda j: (f - f[j]).norm(dim=1), len(members), k, first), None

    return class_by_class(proxy, fraction, seed, choose)


@register("contextual_diversity", family="geometry", keeps="cover", reads="predictions",
          description="k-center on the symmetric KL divergence between predictions", paper="Agarwal et al. 2020")
def contextual_diversity(proxy: Proxy, fraction: float, seed: int, passes: Passes,
                         class_balanced: bool) -> MethodResult:
    """Contextual diversity (Agarwal et al. 2020): k-center greedy on the proxy's softmax outputs with a KL-type
    distance."""
    require_class_balance("contextual_diversity", class_balanced)
    _, p = embeddings_and_probabilities(proxy, passes)
    log_p = p.double().clamp_min(1e-12).log()

    def choose(members, k, generator):
        first = _first(members, generator)
        q, lq = p[members].double(), log_p[members]
        return k_center(lambda j: ((q - q[j]) * (lq - lq[j])).sum(1), len(members), k, first), None

    return class_by_class(proxy, fraction, seed, choose)


@register("moderate", family="geometry", keeps="bottom", reads="embeddings",
          description="distances to the class centre nearest the class's median distance", paper="Xia et al. 2023")
def moderate(proxy: Proxy, fraction: float, seed: int, passes: Passes, class_balanced: bool) -> MethodResult:
    """Moderate-DS (Xia et al. 2023): keep the samples whose distance to their class centre is closest to the
    class's median distance."""
    feats, _ = embeddings_and_probabilities(proxy, passes)
    score = torch.empty(len(proxy.pool), dtype=torch.float64)
    for _, members in class_members(proxy.pool.labels):
        d = (feats[members] - feats[members].mean(0)).double().norm(dim=1)
        score[members] = (d - d.median()).abs()
    return ranked(proxy, pool_scores(proxy, score), fraction, seed, "bottom", class_balanced, "moderate")


deviates("herding", "greedy step", "adds the sample that brings the running mean closest to the class mean (Welling)",
         "takes the argmax of that distance", "a bug in DeepCore's herding.py; the paper's definition",
         definition=True)
deviates("kcenter", "features", "the proxy's penultimate features", "pretrained features by default",
         "offline there are no pretrained weights, and every baseline reads the one proxy (DeepCore's selection model)")


__all__ = ["contextual_diversity", "herding_method", "kcenter", "moderate"]

"""Uncertainty baselines: keep the samples the proxy is least sure about (Settles 2009's scores; higher = more
uncertain for all three), computed from softmax probabilities.

Least confidence is 1 − max softmax probability, Settles' definition. DeepCore ranks by the largest raw logit
instead. That order differs whenever logit scales differ between samples, because softmax is invariant to a shift
of the logits but the raw maximum is not. Entropy and margin are as in DeepCore."""
from __future__ import annotations

import torch

from .proxy import embeddings_and_probabilities, pool_scores, ranked
from .registry import deviates, register

SCORES = {  # name: (score from softmax outputs p (n, C), description)
    "least_confidence": (lambda p, top2: 1 - top2[:, 0], "the lowest top-class probability (1 − max p)"),
    "entropy": (lambda p, top2: -torch.xlogy(p, p).sum(1), "the highest predictive entropy"),
    "margin": (lambda p, top2: -(top2[:, 0] - top2[:, 1]), "the smallest top-1 − top-2 probability margin"),
}


def _uncertainty(kind):
    def method(proxy, fraction, seed, passes, class_balanced):
        _, p = embeddings_and_probabilities(proxy, passes)
        top2 = p.topk(2, dim=1).values
        score = SCORES[kind][0](p, top2)
        return ranked(proxy, pool_scores(proxy, score), fraction, seed, "top", class_balanced, kind)
    return method


for _kind, (_, _description) in SCORES.items():
    register(_kind, family="uncertainty", keeps="top", reads="predictions", description=_description,
             paper="Coleman et al. 2020 (selection via proxy), after Settles 2009")(_uncertainty(_kind))


deviates("least_confidence", "score", "1 − the largest softmax probability (Settles)", "the largest raw logit",
         "the paper's definition; the two orders differ when the logits' scales differ between samples",
         definition=True)


__all__ = ["SCORES"]

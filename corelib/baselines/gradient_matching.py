"""Gradient-based baselines: match or cover the pool's last-layer gradients. CRAIG and GradMatch (weighted
coresets whose gradient sum matches the class's), Glister (greedy gains on a look-ahead validation loss),
facility location and graph cut (submodular covers on cosine similarities), and the adversarial CRAIG / GradMatch
selection of Dolatabadi et al. run once on the proxy (gradients at PGD examples, Eq. 18)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..coreset_solvers import cosine_similarity_matrix, facility_location_greedy, graph_cut_greedy, per_class
from ..models import linear_gradients
from .proxy import class_by_class, embeddings_and_probabilities, proxy_gradients, require_class_balance
from .registry import register

ADVERSARIAL_PGD = {"eps": 8 / 255, "alpha": 2 / 255, "steps": 3}  # the default attack of adv_craig / adv_gradmatch


def _matching(solver, adversarial: bool):
    def method(proxy, fraction, seed, passes, class_balanced, pgd: dict | None = None, **params):
        require_class_balance(solver, class_balanced)
        grads = proxy_gradients(proxy, passes, (pgd or ADVERSARIAL_PGD) if adversarial else None)
        positions, weights = per_class(grads, proxy.pool.labels.cpu(), fraction, solver, seed, **params)
        keep = weights > 0
        return proxy.pool.indices.cpu()[positions[keep]], weights[keep].float(), None
    return method


MATCHING = (  # name, solver, at PGD examples?, family, description, paper
    ("craig", "craig", False, "gradient matching", "a weighted facility-location cover of the class's gradients",
     "Mirzasoleiman, Bilmes & Leskovec 2020"),
    ("gradmatch", "gradmatch", False, "gradient matching", "weighted orthogonal matching pursuit on the class gradient",
     "Killamsetty et al. 2021 (GradMatch)"),
    ("adv_craig", "craig", True, "adversarial gradient matching",
     "CRAIG on gradients at PGD examples, selected once on the proxy", "Dolatabadi, Erfani & Leckie 2023"),
    ("adv_gradmatch", "gradmatch", True, "adversarial gradient matching",
     "GradMatch on gradients at PGD examples, selected once on the proxy", "Dolatabadi, Erfani & Leckie 2023"),
)
for _name, _solver, _adversarial, _family, _description, _paper in MATCHING:
    register(_name, family=_family, keeps="cover", reads="PGD + last layer" if _adversarial else "last-layer gradients",
             description=_description, paper=_paper)(_matching(_solver, _adversarial))


def _submodular(kind):
    def method(proxy, fraction, seed, passes, class_balanced, lam: float = 1.0, **_):
        require_class_balance(kind, class_balanced)
        grads = proxy_gradients(proxy, passes)

        def choose(members, k, generator):
            sim = cosine_similarity_matrix(grads[members])
            if kind == "facility_location":
                return facility_location_greedy(sim, k), None
            return graph_cut_greedy(sim, k, lam), None

        return class_by_class(proxy, fraction, seed, choose)
    return method


register("facility_location", family="submodular", keeps="cover", reads="last-layer gradients",
         description="a facility-location cover (cosine similarity of gradients)",
         paper="Iyer et al. 2021 (submodular selection)")(_submodular("facility_location"))
register("graph_cut", family="submodular", keeps="cover", reads="last-layer gradients",
         description="a graph-cut trade-off of coverage and diversity",
         paper="Iyer et al. 2021 (submodular selection)")(_submodular("graph_cut"))


@register("glister", family="bilevel", keeps="cover", reads="embeddings, last layer",
          description="greedy gains on the validation loss after a look-ahead step", paper="Killamsetty et al. 2021 (Glister)")
def glister(proxy, fraction, seed, passes, class_balanced, eta: float = 0.1, **_):
    """Glister (Killamsetty et al. 2021), last-layer form as in DeepCore: per class, greedily add the sample whose
    gradient best aligns with the gradient of the (class's) validation loss at the parameters after a step of size
    η on the samples chosen so far: argmaxⱼ ⟨gⱼ, ∇L_val(θ − η Σ_S gᵢ)⟩. The validation set is the class's own
    training samples (DeepCore's default); the update is exact for the last layer, whose inputs h stay fixed."""
    require_class_balance("glister", class_balanced)
    feats, _ = embeddings_and_probabilities(proxy, passes)
    weight = proxy.model.linear.weight.detach().double().cpu()
    bias = proxy.model.linear.bias.detach().double().cpu()
    labels = proxy.pool.labels.cpu()
    num_classes = weight.shape[0]

    def gradients(h, y, w, b):
        return linear_gradients(F.softmax(h @ w.T + b, 1) - F.one_hot(y, num_classes).double(), h)

    def choose(members, k, generator):
        h, y = feats[members].double(), labels[members]
        g = gradients(h, y, weight, bias)
        w, b = weight.clone(), bias.clone()
        available = torch.ones(len(members), dtype=torch.bool)
        chosen = []
        for _ in range(k):
            val = gradients(h, y, w, b).mean(0)
            gains = g @ val
            gains[~available] = -math.inf
            j = int(torch.argmax(gains))
            chosen.append(j)
            available[j] = False
            step = (eta * g[j]).view(num_classes, -1)
            w, b = w - step[:, :-1], b - step[:, -1]
        return torch.tensor(chosen, dtype=torch.long), None

    return class_by_class(proxy, fraction, seed, choose)

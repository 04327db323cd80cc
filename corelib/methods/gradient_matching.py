"""Gradient-based baselines: match or cover the pool's last-layer gradients. CRAIG and GradMatch (weighted
coresets whose gradient sum matches the class's), Glister (greedy gains on a look-ahead validation loss),
facility location and graph cut (submodular covers on cosine similarities), and `craig_at_pgd` /
`gradmatch_at_pgd`: the selection step of Dolatabadi et al. (gradients at PGD examples, Eq. 18) run once on the
proxy, followed, like every benchmark method, by clean training on the weighted coreset. They are *not* adversarial
coreset selection, which is Algorithm 1 (weighted adversarial training with renewals, `corelib.adversarial_coreset`),
and the book never reports them as such."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from ..checks import check_number
from ..coreset_solvers import cosine_similarity_matrix, facility_location_greedy, graph_cut_greedy, per_class
from ..device import one_thread
from ..models import linear_gradients
from ..objectives import build_objective
from .proxy import class_by_class, embeddings_and_probabilities, proxy_gradients, require_class_balance
from .registry import deviates, register

if TYPE_CHECKING:
    from .proxy import MethodResult, Passes, Proxy

ADVERSARIAL_PGD = {"eps": 8 / 255, "alpha": 2 / 255, "steps": 3}  # the attack of craig_at_pgd / gradmatch_at_pgd
DEEPCORE_GRADMATCH_LAMBDA = 1.0  # DeepCore's GradMatch ridge; the ACS configurations (and the solver's default) use 0


SOLVER_PARAMS = {"craig": (), "gradmatch": ("lam", "tol")}  # what a method passes on to its solver, per class


def _matching(solver, adversarial: bool):
    def method(proxy, fraction, seed, passes, class_balanced, pgd: dict | None = None, **params):
        require_class_balance(solver, class_balanced)
        if pgd is not None:
            if not isinstance(pgd, dict):
                raise ValueError(f"pgd={pgd!r} must be a dict of PGD settings, e.g. {ADVERSARIAL_PGD}")
            build_objective("pgd", **pgd)  # unknown or invalid PGD settings fail here, before any gradient
        for name in ("lam", "tol"):
            if name in params:
                check_number(name, params[name], low=0,
                             hint="GradMatch's ridge λ" if name == "lam" else "GradMatch's residual tolerance")
        if solver == "gradmatch" and not adversarial:
            params.setdefault("lam", DEEPCORE_GRADMATCH_LAMBDA)
        grads = proxy_gradients(proxy, passes, (pgd or ADVERSARIAL_PGD) if adversarial else None)
        positions, weights = per_class(grads, proxy.pool.labels.cpu(), fraction, solver, seed, **params)
        keep = weights > 0
        return proxy.pool.indices.cpu()[positions[keep]], weights[keep].float(), None
    return method


MATCHING = (  # name, solver, at PGD examples?, family, description, paper
    ("craig", "craig", False, "gradient matching", "a weighted facility-location cover of the class's gradients",
     "Mirzasoleiman, Bilmes & Leskovec 2020"),
    ("gradmatch", "gradmatch", False, "gradient matching",
     "weighted orthogonal matching pursuit on the class gradient (ridge λ = 1, as DeepCore)",
     "Killamsetty et al. 2021 (GradMatch)"),
    ("craig_at_pgd", "craig", True, "gradient matching at PGD examples",
     "CRAIG on gradients at PGD examples (ACS's Eq. 18), selected once on the proxy, then clean training: not "
     "Algorithm 1", "selection step of Dolatabadi, Erfani & Leckie 2023"),
    ("gradmatch_at_pgd", "gradmatch", True, "gradient matching at PGD examples",
     "GradMatch (λ = 0, as ACS) on gradients at PGD examples, selected once on the proxy, then clean training: not "
     "Algorithm 1", "selection step of Dolatabadi, Erfani & Leckie 2023"),
)
for _name, _solver, _adversarial, _family, _description, _paper in MATCHING:
    register(_name, family=_family, keeps="cover", reads="PGD + last layer" if _adversarial else "last-layer gradients",
             description=_description, paper=_paper,
             params=(("pgd",) if _adversarial else ()) + SOLVER_PARAMS[_solver])(_matching(_solver, _adversarial))


def _submodular(kind):
    def method(proxy, fraction, seed, passes, class_balanced, lam: float = 1.0):
        require_class_balance(kind, class_balanced)
        check_number("lam", lam, low=0, hint="graph cut's trade-off of coverage and diversity, e.g. 1.0")
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
         paper="Iyer et al. 2021 (submodular selection)", params=())(_submodular("facility_location"))  # no λ
register("graph_cut", family="submodular", keeps="cover", reads="last-layer gradients",
         description="a graph-cut trade-off of coverage and diversity",
         paper="Iyer et al. 2021 (submodular selection)", params=("lam",))(_submodular("graph_cut"))


@one_thread
def glister_greedy(h: torch.Tensor, y: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, k: int,
                   eta: float = 0.1, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Glister's greedy loop on the last layer (W, b) for penultimate features h (n, D) and labels y, validation
    set = the same samples: add argmaxⱼ ⟨gⱼ, ∇L_val(θ_S)⟩ with the look-ahead θ_S = θ − η·mean_{i∈S} gᵢ, as
    DeepCore steps (the mean, so the step does not grow with |S|). Returns positions in selection order, computed
    in `dtype`."""
    h, weight, bias = h.to(dtype), weight.to(dtype), bias.to(dtype)
    num_classes = weight.shape[0]

    def gradients(w, b):
        return linear_gradients(F.softmax(h @ w.T + b, 1) - F.one_hot(y, num_classes).to(dtype), h)

    g = gradients(weight, bias)
    w, b, total = weight, bias, torch.zeros(g.shape[1], dtype=dtype)
    available = torch.ones(len(h), dtype=torch.bool)
    chosen = []
    for _ in range(k):
        gains = g @ gradients(w, b).mean(0)
        gains[~available] = -math.inf
        j = int(torch.argmax(gains))
        chosen.append(j)
        available[j] = False
        total += g[j]
        step = (eta * total / len(chosen)).view(num_classes, -1)
        w, b = weight - step[:, :-1], bias - step[:, -1]
    return torch.tensor(chosen, dtype=torch.long)


@register("glister", family="bilevel", keeps="cover", reads="embeddings, last layer",
          description="greedy gains on the validation loss after a look-ahead step", paper="Killamsetty et al. 2021 (Glister)")
def glister(proxy: Proxy, fraction: float, seed: int, passes: Passes, class_balanced: bool,
            eta: float = 0.1) -> MethodResult:
    """Glister (Killamsetty et al. 2021), last-layer form as in DeepCore: per class, greedily add the sample whose
    gradient best aligns with the gradient of the (class's) validation loss at the parameters after a step of size
    η along the mean gradient of the samples chosen so far (`glister_greedy`). The validation set is the class's own
    training samples (DeepCore's default); the update is exact for the last layer, whose inputs h stay fixed."""
    require_class_balance("glister", class_balanced)
    check_number("eta", eta, low=0, hint="Glister's look-ahead step size, e.g. 0.1")
    feats, _ = embeddings_and_probabilities(proxy, passes)
    weight = proxy.model.linear.weight.detach().cpu()
    bias = proxy.model.linear.bias.detach().cpu()
    labels = proxy.pool.labels.cpu()

    def choose(members, k, generator):
        return glister_greedy(feats[members], labels[members], weight, bias, k, eta), None

    return class_by_class(proxy, fraction, seed, choose)


deviates("craig", "weights", "the cluster size (the samples whose nearest chosen element it is; they sum to n)",
         "the cluster size + 1", "CRAIG's definition, under which the weighted gradient estimates the full sum")
deviates("craig", "gradients", "last-layer gradients of the cross-entropy of the logits",
         "of the cross-entropy of the softmax output (a softmax applied twice)", "the training loss's gradient")
deviates("glister", "greedy", "plain greedy: every gain recomputed at every step", "lazy greedy (stale upper bounds)",
         "Glister's gains change with the look-ahead step, so they are not submodular and a lazy greedy can pick "
         "differently")


__all__ = ["ADVERSARIAL_PGD", "DEEPCORE_GRADMATCH_LAMBDA", "glister", "glister_greedy", "MATCHING", "SOLVER_PARAMS"]

"""Greedy coreset solvers: the gradient-matching solvers of adversarial coreset selection (Dolatabadi, Erfani &
Leckie), CRAIG (Mirzasoleiman et al. 2020) and GradMatch (Killamsetty et al. 2021), and every greedy primitive
the DeepCore baselines share: facility location, graph cut, herding and k-center greedy.

Each takes the vectors (or a similarity matrix) of one class or one group and returns positions into them, in
selection order (CRAIG and GradMatch also non-negative weights). None ever forms an n×n matrix over the whole
pool: `per_class` runs a solver class by class, and `batchwise` runs it on mini-batch mean gradients. The greedy
loops run on one thread (`utils.one_thread`): thousands of tiny operations, whose time would otherwise depend on
how busy the other cores are.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import nnls

from .device import one_thread
from .sampling import by_class, coreset_size

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any


def craig(gradients: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """CRAIG: greedy facility location on gradient distances.

    Maximises F(S) = Σᵢ maxⱼ∈S (c − ‖gᵢ − gⱼ‖₂) with c = the largest pairwise distance, one element at a
    time (greedy; F is monotone submodular, so F(S) ≥ (1 − 1/e)·OPT). The weight of a chosen j is the number
    of samples whose nearest chosen element is j (the cluster size), so the weights sum to n.
    Returns (positions in selection order, weights)."""
    k = _check_k(k, gradients.shape[0])
    dist = torch.cdist(gradients.double(), gradients.double())  # (n, n) for this class only
    c = dist.max()
    sim = dist.neg_().add_(c)  # c − dist in place (the same numbers: c − d is c + (−d) in IEEE arithmetic)
    chosen = facility_location_greedy(sim, k)
    nearest = torch.argmax(sim[:, chosen], dim=1)
    weights = torch.bincount(nearest, minlength=len(chosen)).double()
    return chosen, weights


@one_thread
def facility_location_greedy(sim: torch.Tensor, k: int, block: int = 64) -> torch.Tensor:
    """argmax F(S) = Σᵢ max_{j∈S} sim(i, j) over |S| = k, greedily, for non-negative similarities (monotone
    submodular: F(S) ≥ (1 − 1/e)·OPT). Returns positions in selection order.

    Lazy greedy (Minoux 1978): the gain of adding j, Σᵢ max(sim(i, j) − bestᵢ, 0), can only shrink as the chosen
    set grows, so a gain computed at an earlier step bounds it from above. Each step re-evaluates the `block`
    candidates with the highest bounds until no stale bound reaches the best fresh gain, then takes the first
    position with that gain: the same choice, tie-breaking included, as evaluating every candidate at every step
    (a test checks it on tied and untied similarities), at a few blocks of n per step instead of n². The gains
    are summed over each column of `sim` as one contiguous row of its transpose, the same additions in the same
    order for a block as for all n (floating-point addition in a fixed order is monotone, so the bounds stay
    bounds). Memory: the n × n matrix and its transpose (a class of 5,000 at the full pool: 2 × 200 MB in
    float64)."""
    n = len(sim)
    columns = sim.T.contiguous()  # columns[j] = sim(·, j); sim need not be symmetric
    best = torch.zeros(n, dtype=sim.dtype)  # current max similarity of every sample to the chosen set

    def gains(rows: torch.Tensor) -> torch.Tensor:  # the gains of the candidates whose columns these are, now
        return (rows - best).clamp_min(0).sum(1)

    bound = gains(columns)  # every gain, fresh at the first step
    fresh = torch.ones(n, dtype=torch.bool)
    available = torch.ones(n, dtype=torch.bool)
    chosen = []
    for _ in range(k):
        while True:
            top_fresh = torch.where(available & fresh, bound, -math.inf).max()
            stale = torch.where(available & ~fresh, bound, -math.inf)
            top_stale = stale.max()
            if top_stale == -math.inf or top_stale < top_fresh:
                break
            js = stale.topk(min(block, int(torch.isfinite(stale).sum()))).indices
            bound[js] = gains(columns[js])
            fresh[js] = True
        j = int(torch.argmax(torch.where(available & fresh, bound, -math.inf)))
        chosen.append(j)
        available[j] = False
        best = torch.maximum(best, columns[j])
        fresh.zero_()
    return torch.tensor(chosen, dtype=torch.long)


@one_thread
def graph_cut_greedy(sim: torch.Tensor, k: int, lam: float = 1.0) -> torch.Tensor:
    """argmax F(S) = λ Σ_{i∈V, j∈S} sim(i, j) − Σ_{i, j∈S} sim(i, j), greedily, in DeepCore's parameterisation
    (λ weights coverage: a larger λ favours representative samples, a smaller one diversity): the gain of j is
    λ Σᵢ sim(i, j) − 2 Σ_{s∈S} sim(s, j) − sim(j, j). DeepCore's gain leaves out sim(j, j), which is the same for
    every j on cosine similarities (so the picks agree). Returns positions in selection order."""
    coverage = sim.sum(0)
    inside = torch.zeros(len(sim), dtype=sim.dtype)
    available = torch.ones(len(sim), dtype=torch.bool)
    chosen = []
    for _ in range(k):
        gains = lam * coverage - (2 * inside + sim.diagonal())
        gains[~available] = -math.inf
        j = int(torch.argmax(gains))
        chosen.append(j)
        available[j] = False
        inside += sim[j]
    return torch.tensor(chosen, dtype=torch.long)


def cosine_similarity_matrix(g: torch.Tensor) -> torch.Tensor:
    """Pairwise cosine similarities of one class's vectors, shifted to [0, 2] so every entry is non-negative."""
    g = F.normalize(g.double(), dim=1)
    return g @ g.T + 1


@one_thread
def herding(features: torch.Tensor, k: int) -> torch.Tensor:
    """Herding (Welling 2009): greedily add the sample that brings the mean of the chosen set closest to the
    mean μ of all: argminⱼ ‖μ − (Σ_S eᵢ + eⱼ)/(|S| + 1)‖. Returns positions in selection order. DeepCore's
    `herding.py` takes the argmax of this distance (a bug: it moves the mean away); the sparse-FGSM paper's Herding
    row comes from that code."""
    f = features.double()
    mu, total = f.mean(0), torch.zeros(f.shape[1], dtype=torch.float64)
    available = torch.ones(len(f), dtype=torch.bool)
    chosen = []
    for i in range(k):
        dist = (mu - (total + f) / (i + 1)).norm(dim=1)
        dist[~available] = math.inf
        j = int(torch.argmin(dist))
        chosen.append(j)
        available[j] = False
        total += f[j]
    return torch.tensor(chosen, dtype=torch.long)


@one_thread
def k_center(distance_to: Callable[[int], torch.Tensor], n: int, k: int, first: int) -> torch.Tensor:
    """k-Center Greedy (Sener & Savarese 2018): start at `first`, then repeatedly add the sample farthest from
    the chosen set. `distance_to(j)` returns the distances (n,) of every sample to sample j, so only one row of
    distances is ever held. Returns positions in selection order."""
    chosen = [int(first)]
    nearest = distance_to(first).double()
    for _ in range(k - 1):
        nearest[chosen] = -math.inf
        j = int(torch.argmax(nearest))
        chosen.append(j)
        nearest = torch.minimum(nearest, distance_to(j).double())
    return torch.tensor(chosen, dtype=torch.long)


def facility_location(gradients: torch.Tensor, positions: Iterable[int]) -> float:
    """F(S) of `craig` for a set of positions (for tests and diagnostics)."""
    dist = torch.cdist(gradients.double(), gradients.double())
    sim = dist.max() - dist
    return float(sim[:, torch.as_tensor(list(positions))].max(1).values.sum())


def _nonnegative_ridge(atoms: np.ndarray, target: np.ndarray, lam: float) -> np.ndarray:
    """argmin_{w ≥ 0} ‖atoms·w − target‖² + λ‖w‖², as an m×m NNLS: with AᵀA + λI = LLᵀ (Cholesky) the objective
    equals ‖Lᵀw − L⁻¹Aᵀt‖² up to a constant, so the solver never sees the d-dimensional gradients."""
    m = atoms.shape[1]
    gram = atoms.T @ atoms + lam * np.eye(m)
    try:
        chol = np.linalg.cholesky(gram)
    except np.linalg.LinAlgError:  # singular without a ridge (repeated atoms): fall back to the full system
        return nnls(atoms, target)[0]
    rhs = np.linalg.solve(chol, atoms.T @ target)
    return nnls(chol.T, rhs)[0]


@one_thread
def gradmatch(gradients: torch.Tensor, k: int, lam: float = 0.0, target: torch.Tensor | None = None,
              tol: float = 1e-100, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """GradMatch (Killamsetty et al. 2021, as adversarial coreset selection runs it): orthogonal matching pursuit
    with non-negative weights, then a random fill up to exactly k samples.

    Greedily chooses the sample whose gradient best matches the residual r = t − Σⱼ∈S wⱼ gⱼ (largest ⟨gⱼ, r⟩),
    then re-solves min_{w ≥ 0} ‖Σⱼ∈S wⱼ gⱼ − t‖² + λ‖w‖² on the chosen set. The target t is the sum of all
    gradients, so the weighted coreset gradient approximates the full one and the weights are on the scale of n.
    Pursuit stops early when no sample's score exceeds `tol` (the residual is matched). Samples whose weight came
    out 0 are dropped, and the shortfall is filled with samples drawn uniformly (by `generator`) from the rest, each
    with weight 1, as the authors' code does, so a coreset always has exactly k samples.

    λ: 0 by default, as in the ACS authors' configurations (`lam=0`); DeepCore's GradMatch uses λ = 1. The ridge
    acts on the absolute scale of the gradients (a sum of n of them is the target), so a λ > 0 means different
    things for different models and pool sizes. Returns (positions, weights), weights ≥ 0, exactly k of each."""
    n = gradients.shape[0]
    k = _check_k(k, n)
    g = gradients.double().numpy()
    t = g.sum(0) if target is None else target.double().numpy()
    chosen: list[int] = []
    weights = np.zeros(0)
    residual = t.copy()
    for _ in range(k):
        scores = g @ residual
        scores[chosen] = -np.inf
        j = int(np.argmax(scores))
        if scores[j] <= tol:
            break
        chosen.append(j)
        weights = _nonnegative_ridge(g[chosen].T, t, lam)
        residual = t - g[chosen].T @ weights
    positions = torch.tensor(chosen, dtype=torch.long)[torch.as_tensor(weights > 0, dtype=torch.bool)]
    weights = torch.as_tensor(weights, dtype=torch.float64)[weights > 0]
    if len(positions) < k:  # the authors' fill: random unchosen samples with weight 1
        rest = torch.ones(n, dtype=torch.bool)
        rest[positions] = False
        candidates = torch.nonzero(rest).flatten()
        fill = candidates[torch.randperm(len(candidates), generator=generator)[:k - len(positions)]]
        positions = torch.cat([positions, fill])
        weights = torch.cat([weights, torch.ones(len(fill), dtype=torch.float64)])
    return positions, weights


def _check_k(k, n) -> int:
    if not 1 <= int(k) <= n:
        raise ValueError(f"coreset size k={k} must be between 1 and the number of candidates ({n})")
    return int(k)


SOLVERS = {"craig": craig, "gradmatch": gradmatch}


@one_thread
def per_class(gradients: torch.Tensor, labels: torch.Tensor, fraction: float, solver: str = "craig", seed: int = 0,
              **params: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Run `solver` class by class with class-balanced sizes (the project's rule, `sampling.by_class`), so
    only one class's gradients are compared at a time. Returns (positions into `gradients`, weights)."""
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; choose one of {sorted(SOLVERS)}")
    def choose(members, k, generator):
        if solver == "gradmatch":
            return gradmatch(gradients[members].cpu(), k, generator=generator, **params)
        return craig(gradients[members].cpu(), k, **params)

    return by_class(labels.cpu(), coreset_size(len(labels), fraction), seed, choose)


def batchwise(gradients: torch.Tensor, batch_size: int, fraction: float, solver: str = "craig", seed: int = 0,
              **params: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Batch-wise selection: split the samples into random mini-batches (by `seed`), run `solver` on the
    batches' mean gradients, and return every member of each chosen batch with its batch's weight. CRAIG's
    batch weight counts the batches a chosen batch represents; GradMatch matches Σᵢ gᵢ / batch_size (the sum
    of the batch means), so in both cases the per-sample weights sum to about n."""
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; choose one of {sorted(SOLVERS)}")
    n = gradients.shape[0]
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    batches = list(order.split(batch_size))
    means = torch.stack([gradients[b].double().mean(0) for b in batches])
    k = max(1, round(coreset_size(n, fraction) / batch_size))
    if solver == "gradmatch":
        params.setdefault("target", gradients.double().sum(0) / batch_size)
        params.setdefault("generator", torch.Generator().manual_seed(seed + 1))
    chosen, w = SOLVERS[solver](means, min(k, len(batches)), **params)
    positions = torch.cat([batches[int(j)] for j in chosen])
    weights = torch.cat([torch.full((len(batches[int(j)]),), float(wj)) for j, wj in zip(chosen, w)])
    return positions, weights


__all__ = ["batchwise", "cosine_similarity_matrix", "craig", "facility_location", "facility_location_greedy",
           "gradmatch", "graph_cut_greedy", "herding", "k_center", "per_class", "SOLVERS"]

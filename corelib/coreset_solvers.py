"""Greedy gradient-matching coreset solvers (groundwork for adversarial coreset selection, Dolatabadi,
Erfani & Leckie): CRAIG (Mirzasoleiman et al. 2020) and GradMatch (Killamsetty et al. 2021).

Both take per-sample gradient vectors G (n, d) of one class (or one group) and return positions into
G with non-negative weights. Neither ever forms an n×n matrix over the whole pool: `per_class` runs a
solver class by class, and `batchwise` runs it on mini-batch mean gradients.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import nnls


def craig(gradients: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """CRAIG: greedy facility location on gradient distances.

    Maximises F(S) = Σᵢ maxⱼ∈S (c − ‖gᵢ − gⱼ‖₂) with c = the largest pairwise distance, one element at a
    time (greedy; F is monotone submodular, so F(S) ≥ (1 − 1/e)·OPT). The weight of a chosen j is the number
    of samples whose nearest chosen element is j (the cluster size), so the weights sum to n.
    Returns (positions in selection order, weights)."""
    k = _check_k(k, gradients.shape[0])
    dist = torch.cdist(gradients.double(), gradients.double())  # (n, n) for this class only
    sim = dist.max() - dist
    chosen = facility_location_greedy(sim, k)
    nearest = torch.argmax(sim[:, chosen], dim=1)
    weights = torch.bincount(nearest, minlength=len(chosen)).double()
    return chosen, weights


def facility_location_greedy(sim: torch.Tensor, k: int) -> torch.Tensor:
    """argmax F(S) = Σᵢ max_{j∈S} sim(i, j) over |S| = k, greedily, for non-negative similarities (monotone
    submodular: F(S) ≥ (1 − 1/e)·OPT). Returns positions in selection order."""
    best = torch.zeros(len(sim), dtype=sim.dtype)  # current max similarity of every sample to the chosen set
    available = torch.ones(len(sim), dtype=torch.bool)
    chosen = []
    for _ in range(k):
        gains = (sim - best[:, None]).clamp_min(0).sum(0)  # marginal gain of adding each column j
        gains[~available] = -1
        j = int(torch.argmax(gains))
        chosen.append(j)
        available[j] = False
        best = torch.maximum(best, sim[:, j])
    return torch.tensor(chosen, dtype=torch.long)


def facility_location(gradients: torch.Tensor, positions) -> float:
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


def gradmatch(gradients: torch.Tensor, k: int, lam: float = 0.5, target: torch.Tensor | None = None,
              tol: float = 1e-9) -> tuple[torch.Tensor, torch.Tensor]:
    """GradMatch: orthogonal matching pursuit with non-negative weights and a ridge term.

    Greedily chooses the sample whose gradient best matches the residual r = t − Σⱼ∈S wⱼ gⱼ (largest ⟨gⱼ, r⟩),
    then re-solves min_{w ≥ 0} ‖Σⱼ∈S wⱼ gⱼ − t‖² + λ‖w‖² on the chosen set. The target t is the sum of all
    gradients, so the weighted coreset gradient approximates the full one and the weights are on the scale
    of n. Stops early when no sample reduces the residual. Returns (positions, weights), weights ≥ 0."""
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
    return torch.tensor(chosen, dtype=torch.long), torch.tensor(weights)


def _check_k(k, n) -> int:
    if not 1 <= int(k) <= n:
        raise ValueError(f"coreset size k={k} must be between 1 and the number of candidates ({n})")
    return int(k)


SOLVERS = {"craig": craig, "gradmatch": gradmatch}


def per_class(gradients: torch.Tensor, labels: torch.Tensor, fraction: float, solver: str = "craig", seed: int = 0,
              **params) -> tuple[torch.Tensor, torch.Tensor]:
    """Run `solver` class by class with class-balanced sizes (the project's rule, `data.balanced_counts`), so
    only one class's gradients are compared at a time. Returns (positions into `gradients`, weights)."""
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; choose one of {sorted(SOLVERS)}")
    return by_class(labels, fraction, seed,
                    lambda members, k, _: SOLVERS[solver](gradients[members].cpu(), k, **params))


def by_class(labels: torch.Tensor, fraction: float, seed: int, choose) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Class-balanced selection one class at a time (sizes by `data.balanced_counts`): `choose(members, k,
    generator)` returns (chosen positions into `members`, weights or None). Returns pool positions and the
    concatenated weights (None if any class gave none)."""
    from .data import balanced_counts
    from .select import coreset_size

    labels = labels.cpu()
    counts = balanced_counts(labels, coreset_size(len(labels), fraction), seed)
    generator = torch.Generator().manual_seed(seed)
    positions, weights = [], []
    for c, k in enumerate(counts.tolist()):
        members = torch.nonzero(labels == c).flatten()
        if k == 0 or len(members) == 0:
            continue
        chosen, w = choose(members, min(k, len(members)), generator)
        positions.append(members[chosen])
        weights.append(w)
    return torch.cat(positions), None if any(w is None for w in weights) else torch.cat(weights)


def batchwise(gradients: torch.Tensor, batch_size: int, fraction: float, solver: str = "craig", seed: int = 0,
              **params) -> tuple[torch.Tensor, torch.Tensor]:
    """Batch-wise selection: split the samples into random mini-batches (by `seed`), run `solver` on the
    batches' mean gradients, and return every member of each chosen batch with its batch's weight. CRAIG's
    batch weight counts the batches a chosen batch represents; GradMatch matches Σᵢ gᵢ / batch_size (the sum
    of the batch means), so in both cases the per-sample weights sum to about n."""
    from .select import coreset_size

    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; choose one of {sorted(SOLVERS)}")
    n = gradients.shape[0]
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    batches = list(order.split(batch_size))
    means = torch.stack([gradients[b].double().mean(0) for b in batches])
    k = max(1, round(coreset_size(n, fraction) / batch_size))
    if solver == "gradmatch":
        params.setdefault("target", gradients.double().sum(0) / batch_size)
    chosen, w = SOLVERS[solver](means, min(k, len(batches)), **params)
    positions = torch.cat([batches[int(j)] for j in chosen])
    weights = torch.cat([torch.full((len(batches[int(j)]),), float(wj)) for j, wj in zip(chosen, w)])
    return positions, weights

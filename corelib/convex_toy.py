"""A convex toy on which Theorem 1 of Dolatabadi, Erfani & Leckie can be evaluated exactly.

Multinomial logistic regression θ = (W, b) on fixed feature vectors x ∈ ℝᵈ against an ℓ∞ adversary of radius ε
that may pick a different perturbation for every wrong class. For a linear model the worst case of each margin
is closed-form, so the robust per-sample loss is

    ℓ(θ; x, y) = log Σⱼ exp(zⱼ − z_y + ε‖wⱼ − w_y‖₁),   z = W x + b,

convex in θ (a log-sum-exp of convex functions), with exact (sub)gradients. L(θ) = (1/n) Σᵢ ℓᵢ.

Projected subgradient descent on the ball ‖θ‖ ≤ R with the coreset gradient ∇L_γ^S = (1/n) Σ_{j∈S} γⱼ ∇ℓⱼ and
step η = D/(σ√T) (D = 2R bounds ‖θₜ − θ*‖, σ bounds every gradient norm) satisfies Theorem 1 (Lipschitz case):

    min_{t<T} L(θₜ) − L(θ*) ≤ Dσ/√T + (D/T) Σₜ Γₜ,   Γₜ = ‖∇L(θₜ) − ∇L_γ^S(θₜ)‖.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from .coreset_solvers import per_class
from .sampling import check_fraction, uniform_random

if TYPE_CHECKING:
    from collections.abc import Sequence

TOY_METHODS = ("full", "craig", "gradmatch", "random")


@dataclass(frozen=True)
class RobustProblem:
    """The toy's data and adversary: features `x` (n, d), labels `y`, the number of classes, the ℓ∞ radius `eps` of
    the adversary in feature space, and the radius R of the parameter ball (D = 2R)."""

    x: torch.Tensor
    y: torch.Tensor
    num_classes: int
    eps: float
    radius: float


def robust_losses(theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    """Per-sample robust loss ℓ(θ; x, y) for θ of shape (C, d + 1) (weights and bias)."""
    w, b = theta[:, :-1], theta[:, -1]
    z = x @ w.T + b
    zy = z.gather(1, y[:, None])
    spread = (w[None, :, :] - w[y][:, None, :]).abs().sum(2)  # ‖wⱼ − w_y‖₁, zero for j = y
    return torch.logsumexp(z - zy + eps * spread, dim=1)


def per_sample_gradients(theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    """Exact per-sample gradients (n, C·(d+1)) of `robust_losses` (the ℓ1 kink takes sign(0) = 0)."""
    theta = theta.detach().requires_grad_(True)
    jac = torch.func.vmap(torch.func.grad(lambda t, xi, yi: robust_losses(t, xi[None], yi[None], eps)[0]),
                          in_dims=(None, 0, 0))(theta, x, y)
    return jac.flatten(1).detach()


def gradient_bound(x: torch.Tensor, eps: float) -> float:
    """σ with ‖∇ℓᵢ(θ)‖ ≤ σ for every θ and i: each margin's gradient has norm √2·√(‖x + ε·s‖² + 1) ≤
    √2·√((‖x‖ + ε√d)² + 1), and ∇ℓ is a convex combination of margin gradients."""
    d = x.shape[1]
    return float(math.sqrt(2) * torch.sqrt((x.norm(dim=1) + eps * math.sqrt(d)) ** 2 + 1).max())


def _project(theta: torch.Tensor, radius: float) -> torch.Tensor:
    norm = theta.norm()
    return theta * (radius / norm) if norm > radius else theta


def solve(x: torch.Tensor, y: torch.Tensor, num_classes: int, eps: float, radius: float, iterations: int = 3000,
          lr: float = 2.0) -> tuple[torch.Tensor, float]:
    """θ* and L(θ*) on the ball: projected full-gradient descent with step lr/√(t+1), keeping the best iterate."""
    theta = torch.zeros(num_classes, x.shape[1] + 1, dtype=torch.float64)
    best, best_loss = theta.clone(), float("inf")
    for t in range(iterations):
        theta.requires_grad_(True)
        loss = robust_losses(theta, x, y, eps).mean()
        (grad,) = torch.autograd.grad(loss, theta)
        if loss.item() < best_loss:
            best, best_loss = theta.detach().clone(), loss.item()
        theta = _project(theta.detach() - lr / math.sqrt(t + 1) * grad, radius)
    return best, best_loss


def coreset_descent(problem: RobustProblem, horizon: int, method: str = "full", fraction: float = 0.1,
                    period: int = 1, seed: int = 0, sigma: float | None = None) -> pd.DataFrame:
    """Projected subgradient descent for `horizon` steps with step D/(σ√T), on the full gradient or on a weighted
    coreset renewed every `period` steps ('craig', 'gradmatch' per class; 'random' class-balanced with uniform
    weights n/k). Returns one row per step: t, loss L(θₜ), gamma Γₜ, grad_norm ‖∇L_γ^S(θₜ)‖."""
    if method not in TOY_METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {TOY_METHODS}")
    check_fraction(fraction)
    if int(period) < 1:
        raise ValueError(f"renewal period {period} must be at least 1 step")
    x, y, num_classes, eps, radius = problem.x, problem.y, problem.num_classes, problem.eps, problem.radius
    n, diameter = len(x), 2 * radius
    sigma = gradient_bound(x, eps) if sigma is None else sigma
    step = diameter / (sigma * math.sqrt(horizon))
    theta = torch.zeros(num_classes, x.shape[1] + 1, dtype=torch.float64)
    rows, positions, weights = [], None, None
    for t in range(horizon):
        grads = per_sample_gradients(theta, x, y, eps)
        full = grads.mean(0)
        if method == "full":
            approx = full
        else:
            if t % period == 0:
                if method == "random":
                    positions, weights = uniform_random(y, fraction, seed + t)
                else:
                    positions, weights = per_class(grads, y, fraction, method, seed + t)
            approx = (weights.double()[:, None] * grads[positions]).sum(0) / n
        loss = float(robust_losses(theta, x, y, eps).mean().detach())
        rows.append({"t": t, "loss": loss, "gamma": float((full - approx).norm()), "grad_norm": float(approx.norm())})
        theta = _project(theta - step * approx.view_as(theta), radius)
    return pd.DataFrame(rows)


def theorem_bound(trace: pd.DataFrame, radius: float, sigma: float) -> float:
    """Theorem 1's right-hand side Dσ/√T + (D/T) Σₜ Γₜ for a run of T = len(trace) steps."""
    horizon, diameter = len(trace), 2 * radius
    return diameter * sigma / math.sqrt(horizon) + diameter * float(trace["gamma"].sum()) / horizon


def bound_table(problem: RobustProblem, horizons: Sequence[int], methods: Sequence[str] = TOY_METHODS,
                fraction: float = 0.1, period: int = 1, seed: int = 0,
                solve_iterations: int = 3000) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run every method for every horizon T. Returns (summary: method, T, observed = min_t L(θₜ) − L(θ*),
    bound, sigma_term, gamma_term, mean_gamma; traces: the per-step rows with method and T)."""
    radius = problem.radius
    _, optimum = solve(problem.x, problem.y, problem.num_classes, problem.eps, radius, solve_iterations)
    sigma, diameter = gradient_bound(problem.x, problem.eps), 2 * radius
    runs = [(m, int(h), coreset_descent(problem, int(h), m, fraction, period, seed, sigma))
            for m in methods for h in horizons]
    optimum = min([optimum] + [float(trace["loss"].min()) for *_, trace in runs])  # never above a point we reached
    summary, traces = [], []
    for method, horizon, trace in runs:
        summary.append({"method": method, "T": horizon, "observed": float(trace["loss"].min()) - optimum,
                        "bound": theorem_bound(trace, radius, sigma), "sigma_term": diameter * sigma / math.sqrt(horizon),
                        "gamma_term": diameter * float(trace["gamma"].sum()) / horizon,
                        "mean_gamma": float(trace["gamma"].mean())})
        traces.append(trace.assign(method=method, T=horizon))
    return pd.DataFrame(summary), pd.concat(traces, ignore_index=True)


def toy_features(features: torch.Tensor, dims: int = 16) -> torch.Tensor:
    """Fixed features for the toy (e.g. a trained model's penultimate features, `evaluate.embed`): centre,
    project on the top `dims` principal directions, and scale so the largest feature vector has norm 1 (which
    keeps σ small and the bound readable)."""
    f = features.double()
    f = f - f.mean(0)
    _, _, v = torch.linalg.svd(f, full_matrices=False)
    z = f @ v[:dims].T
    return z / z.norm(dim=1).max()


def check_bound(summary: pd.DataFrame) -> bool:
    """Whether every run's observed suboptimality lies below its bound (it must, up to θ*'s accuracy)."""
    return bool(np.all(summary["observed"] <= summary["bound"] + 1e-9))


__all__ = ["bound_table", "check_bound", "coreset_descent", "gradient_bound", "per_sample_gradients", "robust_losses",
           "RobustProblem", "solve", "theorem_bound", "toy_features", "TOY_METHODS"]

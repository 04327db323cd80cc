"""Adversarial coreset selection (Dolatabadi, Erfani & Leckie, "Adversarial Coreset Selection for
Efficient Robust Training"), Algorithm 1: train on the full data for a warm start, then every T
epochs select a weighted coreset from gradients at adversarial examples and train on it only.

Selection gradients are the paper's last-layer approximation of ∇_θ Φ(x, y; θ):
- PGD / FGSM-RS objectives (Eq. 18): ∇_{W,b} CE(f(x̃), y) at the objective's adversarial example x̃;
- TRADES, loss CE(f(x), y) + β·KL(p ‖ q) with p = softmax f(x), q = softmax f(x̃): either its exact last-layer
  gradient (the default), or the paper's Eq. 22 as printed, ∇CE(f(x), y) + (1/λ)[∇CE(f(x̃), freeze(f(x))) +
  ∇CE(freeze(f(x̃)), f(x))] with 1/λ = β (applied once) and the paper's convention CE(logits, target) (Eqs. 2, 4):
  the second term differentiates through its soft target p, giving p ⊙ (Σ p log q − log q) where the KL's exact
  gradient through p is p ⊙ (log p − log q − KL); Eq. 22 drops the entropy part (log p − Σ p log p).
The gradient approximation error of Theorem 1 is Γ = ‖∇L(θ) − ∇L_γ^S(θ)‖ with ∇L = (1/n) Σᵢ gᵢ and
∇L_γ^S = (1/n) Σ_{j∈S} γⱼ gⱼ (weights on the scale of n).
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import pandas as pd
import torch
import torch.nn.functional as F

from .coreset_solvers import SOLVERS, batchwise, per_class
from .data import Pool, pool_batches
from .models import eval_mode, linear_gradients
from .objectives import OBJECTIVES, build_objective
from .sampling import check_fraction, uniform_random
from .train import Hook, TrainConfig, TrainState, fit

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any
    from .cache import ArtifactCache
    from .train import TrainResult

TRADES_FORMS = ("exact", "eq22")
METHODS = ("full", "craig", "gradmatch", "random")


def trades_last_layer_gradient(model: torch.nn.Module, x: torch.Tensor, x_adv: torch.Tensor, y: torch.Tensor,
                               beta: float, form: str = "exact") -> torch.Tensor:
    """Per-sample gradient of the TRADES loss CE(f(x), y) + β·KL(p ‖ q) with respect to the last linear layer,
    with the adversarial example x_adv held fixed. `form='exact'`: ∂/∂z = p − y + β·p ⊙ (log p − log q − KL)
    and ∂/∂z̃ = β(q − p); `form='eq22'`: the paper's Eq. 22 as printed, ∂/∂z = p − y + β·p ⊙ (Σ p log q − log q)
    (the gradient of CE(freeze(f(x̃)), f(x)) through its target) and ∂/∂z̃ = β(q − p)."""
    if form not in TRADES_FORMS:
        raise ValueError(f"unknown TRADES gradient form {form!r}; choose one of {TRADES_FORMS}")
    with torch.no_grad():
        h, h_adv = model.features(x).float(), model.features(x_adv).float()
        z, z_adv = model.linear(h).float(), model.linear(h_adv).float()
        log_p, log_q = F.log_softmax(z, 1), F.log_softmax(z_adv, 1)
        p, q = log_p.exp(), log_q.exp()
        onehot = F.one_hot(y, z.shape[1]).float()
        if form == "exact":
            kl = (p * (log_p - log_q)).sum(1, keepdim=True)
            clean = p - onehot + beta * p * (log_p - log_q - kl)
        else:
            clean = p - onehot + beta * p * ((p * log_q).sum(1, keepdim=True) - log_q)
        return linear_gradients(clean, h) + linear_gradients(beta * (q - p), h_adv)


def selection_gradients(model: torch.nn.Module, pool: Pool, objective: str = "pgd",
                        objective_params: dict | None = None, seed: int = 0, trades_form: str = "exact",
                        batch_size: int = 256) -> torch.Tensor:
    """Last-layer per-sample gradients of the training objective's loss, in eval mode, on the CPU:
    Eq. 18 at the objective's adversarial example (CE at the clean input for 'standard'), Eq. 22 (or the exact
    TRADES gradient) for 'trades'. Returns (N, classes · (embedding_dim + 1)) in pool order."""
    obj = build_objective(objective, seed=seed, **(objective_params or {}))
    if objective != "trades":
        return last_layer_gradients(model, pool, obj.adversarial, batch_size)
    rows = []
    with eval_mode(model):
        for x, y in pool_batches(pool, batch_size):
            x_adv = obj.adversarial(model, x, y).detach()
            rows.append(trades_last_layer_gradient(model, x, x_adv, y, obj.beta, trades_form).cpu())
    return torch.cat(rows)


def last_layer_gradients(model: torch.nn.Module, pool: Pool, attack: Callable[..., torch.Tensor] | None = None,
                         batch_size: int = 256) -> torch.Tensor:
    """Per-sample gradient of CE(f(x̃), y) with respect to the last linear layer (weight and bias), where
    x̃ = attack(model, x, y) (any callable, e.g. an Attack or an objective's `adversarial`; x without one): for
    logits z = W h + b it is (softmax(z) − onehot(y)) ⊗ [h, 1]. Returns (N, classes · (embedding_dim + 1)),
    computed in eval mode."""
    rows = []
    with eval_mode(model):
        for x, y in pool_batches(pool, batch_size):
            if attack is not None:
                x = attack(model, x, y)
            with torch.no_grad():
                h = model.features(x).float()
                residual = F.softmax(model.linear(h).float(), 1) - F.one_hot(y, model.linear.out_features).float()
                rows.append(linear_gradients(residual, h).cpu())
    return torch.cat(rows)


def gradient_error(gradients: torch.Tensor, positions: torch.Tensor, weights: torch.Tensor) -> float:
    """Γ = ‖(1/n) Σᵢ gᵢ − (1/n) Σ_{j∈S} γⱼ gⱼ‖₂ for per-sample gradients (n, d), chosen positions and weights."""
    g = gradients.double()
    approx = (weights.double()[:, None] * g[positions]).sum(0)
    return float((g.sum(0) - approx).norm() / len(g))


def coreset_start(epochs: int, warm_start: float) -> int:
    """K = ⌊κE⌋, the first epoch (from 0) trained on a coreset (`int(κ·E)` in the authors' code; rounded to 9
    digits first so that, e.g., κ = 0.29 and E = 100 give 29, not 28)."""
    return int(round(warm_start * epochs, 9))


def warm_epochs(epochs: int, warm_start: float, fraction: float) -> int:
    """W = round(K·k), the warm-start epochs on the full data (T_warm = κ·E·k; Python's `round`, as the authors')."""
    return round(coreset_start(epochs, warm_start) * fraction)


def smallest_warm_start(epochs: int, fraction: float) -> float:
    """The smallest κ whose schedule trains at least one warm-start epoch on the full data (W = round(⌊κE⌋·k) ≥ 1)
    for an E-epoch run at fraction k; 1.0 when no κ < 1 does."""
    for first in range(1, epochs):
        if round(first * fraction) >= 1:
            return first / epochs
    return 1.0


def check_schedule(epochs: int, warm_start: float, fraction: float) -> None:
    """Warn when κ > 0 yet the warm start rounds to zero epochs (W = round(⌊κE⌋·k) = 0): Algorithm 1 then skips the
    K = ⌊κE⌋ first epochs and picks the first coreset with the untrained model's gradients, which is rarely what
    a κ > 0 was meant to do (a κ too small for E and k, e.g. κ = 0.025 at E = 40, k = 0.5)."""
    first = coreset_start(epochs, warm_start)
    if first > 0 and warm_epochs(epochs, warm_start, fraction) == 0:
        smallest = smallest_warm_start(epochs, fraction)
        fix = (f"use κ ≥ {smallest:.3g} for one warm-start epoch, or κ = 0 for none" if smallest < 1 else
               "no κ < 1 gives a warm-start epoch at this E and k: train more epochs, or use κ = 0 for none")
        warnings.warn(f"warm-start coefficient κ = {warm_start} gives no warm-start epoch at E = {epochs}, "
                      f"k = {fraction} (W = round({first}·{fraction}) = 0): the first {first} epoch(s) are skipped and "
                      f"the first coreset is chosen by the untrained model; {fix}",
                      stacklevel=3)


RENEWALS = ("authors", "from_start")  # when coresets are renewed: see `first_renewal`


def first_renewal(epochs: int, warm_start: float, period: int, renewal: str = "authors") -> int:
    """The epoch of the first coreset selection. 'authors' (the authors' code, and the default): renewals fall on
    the epochs that are multiples of T = `period` and ≥ K = ⌊κE⌋, so the first is the first multiple of T ≥ K; the
    epochs from K up to it train on a class-balanced uniform random subset of the coreset's size, drawn once (the
    authors' initial random subset). 'from_start': at K itself, then every T epochs (K + jT). The two agree when T
    divides K."""
    if renewal not in RENEWALS:
        raise ValueError(f"renewal={renewal!r}; choose 'authors' (epochs that are multiples of the period, from "
                         "⌊κE⌋ on) or 'from_start' (⌊κE⌋ and every period after it)")
    first = coreset_start(epochs, warm_start)
    return first if renewal == "from_start" else -(-first // int(period)) * int(period)


def renewal_count(epochs: int, warm_start: float, period: int, renewal: str = "authors") -> int:
    """R, the coreset renewals of an E-epoch run: from `first_renewal` on, every `period` epochs."""
    return len(range(first_renewal(epochs, warm_start, period, renewal), epochs, period))


def schedule_phase(epoch: int, epochs: int, schedule: Schedule, fraction: float) -> str:
    """Algorithm 1's phase of epoch `epoch` (from 0): 'full' (warm start), 'skip' ("Continue"), 'random' (the
    authors' initial random subset, between K and the first renewal) or 'coreset'."""
    if epoch < warm_epochs(epochs, schedule.warm_start, fraction):
        return "full"
    if epoch < coreset_start(epochs, schedule.warm_start):
        return "skip"
    return "random" if epoch < schedule.first_renewal(epochs) else "coreset"


@dataclass(frozen=True)
class Schedule:
    """Algorithm 1's schedule: the warm-start coefficient κ (`warm_start`, the share of the epochs before the first
    coreset), the renewal `period` T in epochs, `batch_wise` (None: per class; N: mini-batches of N samples), and
    `renewal`, when coresets are renewed ('authors' or 'from_start', `first_renewal`).

    The defaults are the paper's: κ = 0.6 reproduces the warm-start epochs of its Tables C2/C3 (e.g. 30 of 100 at
    k = 50 %, 22 of 120 at k = 30 %) and is the value of the authors' configuration files; T = 20; renewals on the
    authors' code's epochs."""

    warm_start: float = 0.6
    period: int = 20
    batch_wise: int | None = None
    renewal: str = "authors"

    def first_renewal(self, epochs: int) -> int:
        """The epoch of the first coreset selection of an `epochs`-epoch run (`first_renewal`)."""
        return first_renewal(epochs, self.warm_start, self.period, self.renewal)


class AdversarialCoreset(Hook):
    """Algorithm 1 as a training hook, on the paper's schedule (and the authors' code) for E epochs, warm-start
    coefficient κ (`warm_start`) and coreset fraction k: with K = ⌊κE⌋,

    - epochs 0 … W − 1 train on the full data (the warm start, W = round(K·k), so it costs what K epochs on
      coresets would: T_warm = κ·E·k);
    - epochs W … K − 1 train nothing (Algorithm 1's "Continue": the learning-rate schedule still advances);
    - from epoch K on, every epoch trains on a subset of fraction k: the weighted coreset, renewed every `period`
      epochs T. With `renewal='authors'` (the default, the authors' code) renewals fall on the multiples of T, so
      when T does not divide K the epochs from K to the first multiple of T train on a uniform class-balanced random
      subset drawn once (the authors' initial subset; e.g. E = 120, κ = 0.6, T = 20: K = 72, random 72–79, coresets
      from 80 and 100). `renewal='from_start'` renews at K + jT instead.

    So a run costs about k·E epochs of full training plus R renewals, and its speed-up tends to 1/k.

    A renewal picks `fraction` of the pool by `solver` ('craig', 'gradmatch' or 'random' with uniform weights) on
    last-layer selection gradients of the training objective (or of `objective`, e.g. a cheaper attack), per class
    or in mini-batches of `batch_wise` samples. `table` has one row per renewal: epoch, size, weight_sum, seconds, Γ
    of the new coreset (`gamma`), of a random class-balanced uniform subset of the same size on the same gradients
    (`gamma_random`), and of the previous coreset at the new parameters (`gamma_stale`: the error it had grown to by
    the end of its use)."""

    def __init__(self, fraction: float, solver: str = "craig", schedule: Schedule = Schedule(),
                 objective: str | None = None, objective_params: dict | None = None, trades_form: str = "exact",
                 seed: int = 0, **solver_params: Any):
        warm_start, period, batch_wise = schedule.warm_start, schedule.period, schedule.batch_wise
        first_renewal(1, 0.0, 1, schedule.renewal)  # refuses an unknown renewal rule
        self.fraction = check_fraction(fraction)
        if solver not in (*SOLVERS, "random"):
            raise ValueError(f"unknown solver {solver!r}; choose one of {sorted((*SOLVERS, 'random'))}")
        if objective is not None and objective not in OBJECTIVES:
            raise ValueError(f"unknown objective {objective!r}; choose one of {sorted(OBJECTIVES)}")
        if trades_form not in TRADES_FORMS:
            raise ValueError(f"unknown TRADES gradient form {trades_form!r}; choose one of {TRADES_FORMS}")
        if not 0 <= warm_start < 1:
            raise ValueError(f"warm-start coefficient κ = {warm_start} must lie in [0, 1): the share of the epochs "
                             "before the first coreset")
        if int(period) < 1:
            raise ValueError(f"renewal period {period} must be at least 1 epoch")
        self.solver, self.warm_start, self.period = solver, float(warm_start), int(period)
        self.renewal, self.timing = schedule.renewal, replace(schedule, period=int(period))
        self.initial: tuple[torch.Tensor, torch.Tensor] | None = None  # the authors' initial random subset
        self.objective, self.objective_params = objective, dict(objective_params or {})
        self.batch_wise, self.trades_form, self.seed = batch_wise or None, trades_form, int(seed)
        self.solver_params = solver_params
        self.selections: list[dict] = []

    def config(self) -> dict:
        return {**super().config(), "fraction": self.fraction, "solver": self.solver, "warm_start": self.warm_start,
                "period": self.period, "renewal": self.renewal, "objective": self.objective, "objective_params": self.objective_params,
                "batch_wise": self.batch_wise, "trades_form": self.trades_form, "seed": self.seed,
                "solver_params": self.solver_params}

    def __repr__(self) -> str:
        return (f"AdversarialCoreset(fraction={self.fraction}, solver={self.solver!r}, warm_start={self.warm_start}, "
                f"period={self.period}, renewal={self.renewal!r}, objective={self.objective!r}, objective_params={self.objective_params}, "
                f"batch_wise={self.batch_wise}, trades_form={self.trades_form!r}, seed={self.seed}, "
                f"solver_params={self.solver_params})")

    def phase(self, epoch: int, epochs: int) -> str:
        """'full', 'skip', 'random' or 'coreset': what epoch `epoch` (from 0) of an `epochs`-epoch run trains on."""
        return schedule_phase(epoch, epochs, self.timing, self.fraction)

    def renews_at(self, epoch: int, epochs: int) -> bool:
        """Whether a new coreset is selected at the start of `epoch` of an `epochs`-epoch run."""
        first = self.timing.first_renewal(epochs)
        return epoch >= first and (epoch - first) % self.period == 0

    def schedule(self, epochs: int) -> pd.DataFrame:
        """The run's plan, one row per epoch: epoch (from 0), phase, and whether the coreset is renewed."""
        return pd.DataFrame([{"epoch": e, "phase": self.phase(e, epochs), "renew": self.renews_at(e, epochs)}
                             for e in range(epochs)])

    def select(self, gradients: torch.Tensor, labels: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(positions, weights) of one renewal on per-sample gradients."""
        if self.solver == "random":
            return uniform_random(labels, self.fraction, seed)
        if self.batch_wise:
            return batchwise(gradients, self.batch_wise, self.fraction, self.solver, seed, **self.solver_params)
        return per_class(gradients, labels, self.fraction, self.solver, seed, **self.solver_params)

    def on_epoch_start(self, state: TrainState) -> None:
        phase = self.phase(state.epoch, state.config.epochs)
        if phase in ("full", "skip"):
            state.subset, state.weights, state.skip = None, None, phase == "skip"
            return
        if phase == "random":
            if self.initial is None:
                pos, weights = uniform_random(state.pool.labels.cpu(), self.fraction, self.seed + state.epoch)
                self.initial = (state.pool.indices.cpu()[pos], weights.float())
            state.subset, state.weights = self.initial
            return
        if not self.renews_at(state.epoch, state.config.epochs):
            return
        start = time.perf_counter()
        pool, labels = state.pool, state.pool.labels.cpu()
        objective = self.objective or state.config.objective
        params = self.objective_params if self.objective else state.config.objective_params
        seed = self.seed + state.epoch
        grads = selection_gradients(state.model, pool, objective, params, seed, self.trades_form)
        pos, weights = self.select(grads, labels, seed)
        keep = weights > 0
        pos, weights = pos[keep], weights[keep]
        state.subset, state.weights = pool.indices.cpu()[pos], weights.float()
        seconds = time.perf_counter() - start
        rand_pos, rand_w = uniform_random(labels, len(pos) / len(pool), seed + 10_000)
        previous = self.selections[-1] if self.selections else None
        stale = (gradient_error(grads, previous["positions"], previous["weights"].double()) if previous is not None
                 else float("nan"))
        self.selections.append({"positions": pos, "stale": stale, "epoch": state.epoch, "indices": state.subset,
                                "weights": state.weights,
                                "seconds": seconds, "gamma": gradient_error(grads, pos, weights),
                                "gamma_random": gradient_error(grads, rand_pos, rand_w)})

    @property
    def table(self) -> pd.DataFrame:
        """One row per renewal: epoch, size, weight sum, seconds and the gradient errors Γ."""
        return pd.DataFrame([{"epoch": s["epoch"], "size": len(s["indices"]), "weight_sum": float(s["weights"].sum()),
                              "seconds": s["seconds"], "gamma": s["gamma"], "gamma_random": s["gamma_random"],
                              "gamma_stale": s["stale"]} for s in self.selections],
                            columns=["epoch", "size", "weight_sum", "seconds", "gamma", "gamma_random", "gamma_stale"])


def speedup_model(epochs: int, fraction: float, warm_start: float, period: int, selection_cost: float,
                  renewal: str = "authors") -> float:
    """Predicted speed-up of Algorithm 1 over full training: E / (W + (E − K)·k + R·s), with W warm-start epochs on
    the full data, K = ⌊κE⌋ the first coreset epoch, R renewals each costing `selection_cost` s epochs of full
    training. With s = 0 it tends to 1/k as E grows (W + (E − K)·k ≈ κEk + (1 − κ)Ek = kE)."""
    first = coreset_start(epochs, warm_start)
    return epochs / (warm_epochs(epochs, warm_start, fraction) + (epochs - first) * fraction
                     + renewal_count(epochs, warm_start, period, renewal) * selection_cost)


def train_adversarial_coreset(model_name: str, pool: Pool, config: TrainConfig, method: str, fraction: float = 1.0,
                              schedule: Schedule = Schedule(), seed: int = 0, cache: ArtifactCache | None = None,
                              **hook_params: Any) -> TrainResult:
    """Train `model_name` with `config` (objective pgd / trades / fgsm_rs / standard) on the full pool
    (`method='full'`) or with Algorithm 1 (`'craig'`, `'gradmatch'`, `'random'`). Cached through `fit`; the
    renewal table is `result.tables['coreset']` (empty for 'full'). `result.seconds` includes selection time."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
    config = replace(config, seed=seed)
    recorders = {}
    if method != "full":
        check_schedule(config.epochs, schedule.warm_start, fraction)
        recorders["coreset"] = AdversarialCoreset(fraction, method, schedule, seed=seed, **hook_params)
    return fit(model_name, pool, replace(config, progress=False), recorders=recorders, cache=cache)


__all__ = ["AdversarialCoreset", "Schedule", "check_schedule", "coreset_start", "first_renewal", "gradient_error",
           "last_layer_gradients", "METHODS", "renewal_count", "RENEWALS", "schedule_phase", "selection_gradients",
           "smallest_warm_start", "speedup_model", "TRADES_FORMS", "trades_last_layer_gradient",
           "train_adversarial_coreset", "warm_epochs"]

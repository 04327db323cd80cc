"""Training objectives. Each returns per-sample losses, so the trainer can weight them (Σγℓ/Σγ) and
record them per dataset index.

The adversarial ones build x_adv = x + δ with δ detached: the gradient that reaches the clean input x
is the gradient of the training loss at the perturbed point, which is what in-training input-gradient
statistics (e.g. EasyCore's AIGN) read off for free.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from .attacks import PGD, input_gradient
from .models import eval_mode

if TYPE_CHECKING:
    from typing import Any


class Objective:
    name = "base"

    def adversarial(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The input the loss is evaluated at (the clean batch for non-adversarial objectives)."""
        return x.detach()

    def __call__(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(per-sample loss (B,), logits (B, classes) used for the correctness statistic)."""
        raise NotImplementedError


class Standard(Objective):
    """Cross-entropy on clean inputs (optionally label-smoothed)."""

    name = "standard"

    def __init__(self, label_smoothing: float = 0.0, seed: int = 0):
        self.label_smoothing = float(label_smoothing)

    def __call__(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = model(x)
        return F.cross_entropy(logits.float(), y, reduction="none", label_smoothing=self.label_smoothing), logits


class FGSMRS(Objective):
    """Fast adversarial training (Wong, Rice & Kolter 2020): δ ~ U(−ε, ε), one signed step of size α
    (default 1.25ε), δ clipped to the ε-ball and x + δ to [0, 1]; the loss is CE at x + δ."""

    name = "fgsm_rs"

    def __init__(self, eps: float = 8 / 255, alpha: float | None = None, seed: int = 0):
        self.eps = float(eps)
        self.alpha = 1.25 * self.eps if alpha is None else float(alpha)
        self._generator = torch.Generator().manual_seed(seed)

    def adversarial(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The FGSM-RS example: a uniform random start in the ε-ball, then one signed step of 1.25 ε, clipped."""
        noise = torch.rand(x.shape, generator=self._generator).to(x.device, x.dtype)
        x0 = x.detach()
        start = (x0 + (2 * noise - 1) * self.eps).clamp(0, 1)
        grad, _ = input_gradient(model, start, y)
        delta = (start + self.alpha * grad.sign() - x0).clamp(-self.eps, self.eps)
        return (x0 + delta).clamp(0, 1)

    def __call__(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x_adv = self.adversarial(model, x, y)
        logits = model(x + (x_adv - x.detach()))
        return F.cross_entropy(logits.float(), y, reduction="none"), logits


class PGDTraining(Objective):
    """PGD adversarial training (Madry et al. 2018): CE at the PGD example (ℓ∞ or ℓ2). The attack runs
    in the model's training mode, as in Madry et al. and Rice et al."""

    name = "pgd"

    def __init__(self, eps: float = 8 / 255, alpha: float = 2 / 255, steps: int = 10, norm: str = "linf",
                 random_start: bool = True, seed: int = 0):
        self.attack = PGD(eps=eps, alpha=alpha, steps=steps, norm=norm, random_start=random_start, seed=seed)

    def adversarial(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The PGD example the training step fits (random start, `steps` signed steps, projected)."""
        return self.attack(model, x.detach(), y)

    def __call__(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x_adv = self.adversarial(model, x, y)
        logits = model(x + (x_adv - x.detach()))
        return F.cross_entropy(logits.float(), y, reduction="none"), logits


class TRADES(Objective):
    """TRADES (Zhang et al. 2019): CE(f(x), y) + β·KL(softmax f(x) ‖ softmax f(x_adv)) per sample, with
    x_adv from `steps` signed ascent steps on the KL, started at x + 0.001·N(0, I), in eval mode (as the
    official code). Correctness is read from the clean logits. One difference from the official code: the KL is
    computed from log-probabilities (`log_target=True`), same value, but its gradient stays finite when a clean
    probability underflows to 0, where the official `kl_div(log q, softmax(z))` gives NaN (seen here: a TRADES
    coreset run of chapter 6 at lr 0.05 diverged to NaN in its second epoch)."""

    name = "trades"

    def __init__(self, beta: float = 6.0, eps: float = 8 / 255, alpha: float = 2 / 255, steps: int = 10, seed: int = 0):
        self.beta, self.eps, self.alpha, self.steps = float(beta), float(eps), float(alpha), int(steps)
        self._generator = torch.Generator().manual_seed(seed)

    def adversarial(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The KL-ascent example (labels unused: TRADES's inner maximisation needs none)."""
        x0 = x.detach()
        with eval_mode(model), torch.enable_grad():
            p_clean = F.softmax(model(x0).float(), dim=1).detach()
            noise = torch.randn(x.shape, generator=self._generator).to(x.device, x.dtype)
            x_adv = (x0 + 0.001 * noise).clamp(0, 1)
            for _ in range(self.steps):
                x_adv.requires_grad_(True)
                kl = F.kl_div(F.log_softmax(model(x_adv).float(), dim=1), p_clean, reduction="sum")
                (grad,) = torch.autograd.grad(kl, x_adv)
                x_adv = torch.min(torch.max(x_adv.detach() + self.alpha * grad.sign(), x0 - self.eps), x0 + self.eps)
                x_adv = x_adv.clamp(0, 1)
        return x_adv.detach()

    def __call__(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x_adv = self.adversarial(model, x)
        logits = model(x)
        logits_adv = model(x + (x_adv - x.detach()))
        natural = F.cross_entropy(logits.float(), y, reduction="none")
        # KL(p ‖ q) from log-probabilities: with p = softmax(logits) as the target, a probability that underflows
        # to exactly 0 (a logit gap above ~100) gives log 0 = −inf in kl_div's gradient through its target and
        # turns the step into NaN; Σ exp(log p)(log p − log q) has the same value and a finite gradient.
        robust = F.kl_div(F.log_softmax(logits_adv.float(), dim=1), F.log_softmax(logits.float(), dim=1),
                          reduction="none", log_target=True).sum(1)
        return natural + self.beta * robust, logits


OBJECTIVES = {cls.name: cls for cls in (Standard, FGSMRS, PGDTraining, TRADES)}


def build_objective(name: str, seed: int = 0, **params: Any) -> Objective:
    """An objective by name: 'standard', 'fgsm_rs', 'pgd' or 'trades', with its keyword parameters."""
    if name not in OBJECTIVES:
        raise ValueError(f"unknown objective {name!r}; choose one of {sorted(OBJECTIVES)}")
    try:
        return OBJECTIVES[name](seed=seed, **params)
    except TypeError as err:
        raise ValueError(f"bad parameters {params} for objective {name!r}: {err}") from None


__all__ = ["build_objective", "FGSMRS", "Objective", "OBJECTIVES", "PGDTraining", "Standard", "TRADES"]

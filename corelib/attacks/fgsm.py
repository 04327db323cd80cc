"""FGSM (Goodfellow, Shlens & Szegedy, ICLR 2015, "Explaining and Harnessing Adversarial Examples")."""
from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Attack, _check_eps, _input_gradient, check_inputs

if TYPE_CHECKING:
    import torch


class FGSM(Attack):
    """Fast Gradient Sign Method (Goodfellow et al. 2015), ℓ∞:  x_adv = clip(x + ε·sign(∇ₓ CE(f(x), y)), 0, 1).

    >>> x_adv = FGSM(eps=8/255)(model, x, y)
    """

    def __init__(self, eps: float = 8 / 255):
        self.eps = _check_eps(eps)

    def perturb(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        check_inputs(x, y)
        grad, _ = _input_gradient(model, x, y)
        return (x + self.eps * grad.sign()).clamp_(0, 1).detach()


__all__ = ["FGSM"]

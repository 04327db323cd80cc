"""PGD (Madry et al., ICLR 2018, "Towards Deep Learning Models Resistant to Adversarial Attacks"), ℓ∞ and ℓ2."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..checks import check_integer
from .base import NORMS, Attack, _check_alpha, _check_eps, _check_per_sample, _input_gradient, _per_sample, check_inputs


class PGD(Attack):
    """Projected Gradient Descent (Madry et al. 2018) in ℓ∞ or ℓ2, with random start and restarts.

    ℓ∞ step: x ← Π_{‖x−x₀‖∞≤ε}(x + α·sign(g)); ℓ2 step: x ← Π_{‖x−x₀‖₂≤ε}(x + α·g/‖g‖₂); then clip to [0, 1].
    In ℓ∞ the two clips are one clamp to [max(x₀ − ε, 0), min(x₀ + ε, 1)], bounds computed once per batch (equal
    to torchattacks' separate clamps up to the rounding of x₀ + (x − x₀)).
    Random start: uniform in the ℓ∞ ball, or a uniform direction with radius U(0, ε) in ℓ2 (as torchattacks).
    With `restarts` > 1 each sample keeps the restart that fools the model, else the one of highest loss.
    `eps` and `alpha` may also be tensors with one value per sample (used for boundary-distance bisection).

    >>> x_adv = PGD(eps=8/255, alpha=2/255, steps=10)(model, x, y)
    """

    def __init__(self, eps: float = 8 / 255, alpha: float = 2 / 255, steps: int = 10, norm: str = "linf",
                 random_start: bool = True, restarts: int = 1, seed: int = 0):
        if norm not in NORMS:
            raise ValueError(f"unknown norm {norm!r}; choose one of {NORMS}")
        steps = check_integer("steps", steps, minimum=1, hint="PGD steps, e.g. 10")
        restarts = check_integer("restarts", restarts, minimum=1, hint="random restarts; 1 is a single run")
        self.eps, self.alpha, self.steps, self.norm = _check_eps(eps), _check_alpha(alpha), steps, norm
        self.random_start, self.restarts = bool(random_start), restarts
        self.seed = check_integer("seed", seed)
        self._generator = torch.Generator().manual_seed(self.seed)

    def _start(self, x):
        if not self.random_start:
            return x.clone()
        eps = _per_sample(self.eps, x)
        noise = torch.rand(x.shape, generator=self._generator).to(x.device, x.dtype)
        if self.norm == "linf":
            delta = (2 * noise - 1) * eps
        else:
            direction = torch.randn(x.shape, generator=self._generator).to(x.device, x.dtype)
            direction = direction / direction.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
            radius = noise.flatten(1)[:, :1].view(-1, 1, 1, 1)
            delta = direction * radius * eps
        return (x + delta).clamp(0, 1)

    def _project(self, x, x_adv):
        eps = _per_sample(self.eps, x)
        if self.norm == "linf":
            delta = (x_adv - x).clamp(-eps, eps)
        else:
            delta = x_adv - x
            norms = delta.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
            delta = delta * torch.clamp(eps / norms.clamp_min(1e-12), max=1.0)
        return (x + delta).clamp(0, 1)

    def _run(self, model, x, y):
        x_adv = self._start(x)
        alpha = _per_sample(self.alpha, x)
        if self.norm == "linf":  # the ε-ball ∩ [0, 1] as two bounds, computed once: one clamp per step
            eps = _per_sample(self.eps, x)
            low, high = (x - eps).clamp_(0, 1), (x + eps).clamp_(0, 1)
            for step in range(self.steps):
                grad, _ = _input_gradient(model, x_adv, y)
                if step == 0:  # work in the memory format the model's gradient comes back in (channels_last for a
                    # channels_last model): the update and the clamp then never mix layouts; values are unchanged
                    fmt = torch.channels_last if grad.is_contiguous(memory_format=torch.channels_last) \
                        and not grad.is_contiguous() else torch.contiguous_format
                    x_adv, low, high = (t.contiguous(memory_format=fmt) for t in (x_adv, low, high))
                x_adv = torch.clamp(x_adv.detach() + alpha * grad.sign_(), low, high)
            return x_adv
        for _ in range(self.steps):
            grad, _ = _input_gradient(model, x_adv, y)
            step = grad / grad.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
            x_adv = self._project(x, x_adv + alpha * step).detach()
        return x_adv

    def perturb(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        check_inputs(x, y)
        _check_per_sample(self.eps, "eps", x)
        _check_per_sample(self.alpha, "alpha", x)
        x = x.detach()
        best = self._run(model, x, y)
        if self.restarts == 1:
            return best
        with torch.no_grad():
            logits = model(best).float()
            best_fooled = logits.argmax(1) != y
            best_loss = F.cross_entropy(logits, y, reduction="none")
        for _ in range(self.restarts - 1):
            cand = self._run(model, x, y)
            with torch.no_grad():
                logits = model(cand).float()
                fooled = logits.argmax(1) != y
                loss = F.cross_entropy(logits, y, reduction="none")
            better = (fooled & ~best_fooled) | ((fooled == best_fooled) & (loss > best_loss))
            best = torch.where(better.view(-1, 1, 1, 1), cand, best)
            best_fooled, best_loss = best_fooled | fooled, torch.where(better, loss, best_loss)
        return best


__all__ = ["PGD"]

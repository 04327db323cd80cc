"""White-box evasion attacks with a torchattacks-like call: `attack(model, x, y) -> x_adv`.

Conventions: x is a float batch (B, C, H, W) in [0, 1]; eps and step sizes are in the same pixel
units (8/255 is the usual ℓ∞ budget); the model is used in whatever mode the caller left it
(`evaluate` switches to eval mode). Random starts draw from a CPU generator seeded at construction,
so a fixed seed and call order give the same adversarial examples on every device.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

NORMS = ("linf", "l2")


def input_gradient(model, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(∇ₓ Σᵢ CE(f(xᵢ), yᵢ), logits). Summing makes each sample's gradient independent of the batch size
    (in eval mode); only the input receives a gradient, the parameters' .grad are left untouched."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = model(x)
        loss = F.cross_entropy(logits.float(), y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, x)
    return grad, logits.detach()


def _check_eps(eps):
    """A budget ≥ 0: a float, or for PGD a tensor of one budget per sample."""
    if isinstance(eps, torch.Tensor):
        if not bool((eps >= 0).all()):
            raise ValueError(f"every eps must be ≥ 0, got a minimum of {float(eps.min())}")
        return eps.detach().float()
    if not eps >= 0:
        raise ValueError(f"eps={eps} must be ≥ 0 (pixel units: 8/255 is the usual ℓ∞ budget)")
    return float(eps)


def _per_sample(value, x):
    """A float, or a (B,) tensor viewed as (B, 1, 1, 1), on x's device."""
    if isinstance(value, torch.Tensor):
        return value.to(x.device, x.dtype).view(-1, *([1] * (x.dim() - 1)))
    return value


class Attack:
    """Base class: `attack(model, x, y)` returns the adversarial batch, detached, in [0, 1]."""

    def __call__(self, model, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.perturb(model, x, y)

    def perturb(self, model, x, y):  # pragma: no cover - abstract
        raise NotImplementedError

    def config(self) -> dict:
        """The attack's settings at full precision (what a cache key or a results grid records)."""
        return {"attack": type(self).__name__,
                **{k: v.tolist() if isinstance(v, torch.Tensor) else v for k, v in vars(self).items()
                   if not k.startswith("_")}}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v!r}"
                         for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


class FGSM(Attack):
    """Fast Gradient Sign Method (Goodfellow et al. 2015), ℓ∞:  x_adv = clip(x + ε·sign(∇ₓ CE(f(x), y)), 0, 1).

    >>> x_adv = FGSM(eps=8/255)(model, x, y)
    """

    def __init__(self, eps: float = 8 / 255):
        self.eps = _check_eps(eps)

    def perturb(self, model, x, y):
        grad, _ = input_gradient(model, x, y)
        return (x + self.eps * grad.sign()).clamp_(0, 1).detach()


class PGD(Attack):
    """Projected Gradient Descent (Madry et al. 2018) in ℓ∞ or ℓ2, with random start and restarts.

    ℓ∞ step: x ← Π_{‖x−x₀‖∞≤ε}(x + α·sign(g)); ℓ2 step: x ← Π_{‖x−x₀‖₂≤ε}(x + α·g/‖g‖₂); then clip to [0, 1].
    Random start: uniform in the ℓ∞ ball, or a uniform direction with radius U(0, ε) in ℓ2 (as torchattacks).
    With `restarts` > 1 each sample keeps the restart that fools the model, else the one of highest loss.
    `eps` and `alpha` may also be tensors with one value per sample (used for boundary-distance bisection).

    >>> x_adv = PGD(eps=8/255, alpha=2/255, steps=10)(model, x, y)
    """

    def __init__(self, eps: float = 8 / 255, alpha: float = 2 / 255, steps: int = 10, norm: str = "linf",
                 random_start: bool = True, restarts: int = 1, seed: int = 0):
        if norm not in NORMS:
            raise ValueError(f"unknown norm {norm!r}; choose one of {NORMS}")
        if steps < 1 or restarts < 1:
            raise ValueError(f"steps={steps} and restarts={restarts} must both be ≥ 1")
        alpha = alpha.detach().float() if isinstance(alpha, torch.Tensor) else float(alpha)
        self.eps, self.alpha, self.steps, self.norm = _check_eps(eps), alpha, int(steps), norm
        self.random_start, self.restarts, self.seed = bool(random_start), int(restarts), int(seed)
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
        for _ in range(self.steps):
            grad, _ = input_gradient(model, x_adv, y)
            if self.norm == "linf":
                step = grad.sign()
            else:
                step = grad / grad.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
            x_adv = self._project(x, x_adv + alpha * step).detach()
        return x_adv

    def perturb(self, model, x, y):
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


UNITS = ("feature", "pixel")


def _check_levels(ks, x_shape, unit) -> list[int]:
    if unit not in UNITS:
        raise ValueError(f"unknown unit {unit!r}; choose 'feature' (single input dimensions) or 'pixel' "
                         "(spatial locations, all channels)")
    c, h, w = x_shape[1:]
    n = c * h * w if unit == "feature" else h * w
    ks = [int(k) for k in ks]
    for k in ks:
        if k <= 0:
            raise ValueError(f"k={k} must be ≥ 1: sparse FGSM perturbs the k largest-gradient {unit}s")
        if k > n:
            raise ValueError(f"k={k} is larger than the input: a {c}×{h}×{w} image has {n} {unit}s; choose k ≤ {n}")
    return ks


def sparse_masks(grad: torch.Tensor, ks, unit: str = "feature") -> torch.Tensor:
    """Boolean masks (len(ks), B, C, H, W) of the k largest-|g| input dimensions ('feature') or spatial
    locations by channel-summed |g| ('pixel', all channels there), for every k at once: one top-k for the
    largest k, and each smaller k takes a prefix of that ranking."""
    ks = _check_levels(ks, grad.shape, unit)
    b, c, h, w = grad.shape
    magnitude = grad.abs().flatten(1) if unit == "feature" else grad.abs().sum(1).flatten(1)
    top = torch.topk(magnitude, max(ks), dim=1, sorted=True).indices  # (B, kmax), largest first
    rank = torch.full_like(magnitude, magnitude.shape[1], dtype=torch.int64)
    rank.scatter_(1, top, torch.arange(max(ks), device=grad.device).expand(b, -1))
    masks = torch.stack([rank < k for k in ks])  # (L, B, n)
    if unit == "feature":
        return masks.view(len(ks), b, c, h, w)
    return masks.view(len(ks), b, 1, h, w).expand(len(ks), b, c, h, w)


def sparse_fgsm_levels(model, x: torch.Tensor, y: torch.Tensor, ks, eps: float = 1.0, unit: str = "feature"):
    """Sparse FGSM at every k from one gradient: returns (x_adv of shape (len(ks), B, C, H, W), clean logits).

    x_adv_i = clip(x_i + ε·sign(g_i), 0, 1) for the k top dimensions i, x_i elsewhere (Shinde & Madabhushi, Eq. 1),
    with g = ∇ₓ CE(f(x), y). The clean logits come from the same forward pass as the gradient."""
    eps = _check_eps(eps)
    ks = _check_levels(ks, x.shape, unit)
    grad, logits = input_gradient(model, x, y)
    return sparse_from_gradient(x, grad, ks, eps, unit), logits


def sparse_from_gradient(x: torch.Tensor, grad: torch.Tensor, ks, eps: float, unit: str = "feature") -> torch.Tensor:
    """The sparse FGSM inputs (len(ks), B, C, H, W) for a gradient already computed (so sweeps over ε and
    unit reuse one gradient)."""
    masks = sparse_masks(grad, ks, unit)
    return torch.where(masks, (x.detach() + eps * grad.sign()).clamp(0, 1), x.detach())


class SparseFGSM(Attack):
    """Sparse FGSM (Shinde & Madabhushi): FGSM on only the k input dimensions with the largest |∇ₓ CE|,
    x_adv_i = clip(x_i + ε·sign(g_i), 0, 1) for i in the top k, unchanged elsewhere. `unit='pixel'` ranks
    spatial locations by channel-summed |g| and perturbs every channel there. ε = 1 saturates the chosen
    dimensions (each goes to 0 or 1), as L0 attacks do; k = n (every dimension) is FGSM.

    >>> x_adv = SparseFGSM(k=16, eps=1.0)(model, x, y)
    """

    def __init__(self, k: int = 16, eps: float = 1.0, unit: str = "feature"):
        if unit not in UNITS:
            raise ValueError(f"unknown unit {unit!r}; choose one of {UNITS}")
        self.k, self.eps, self.unit = int(k), _check_eps(eps), unit

    def perturb(self, model, x, y):
        return sparse_fgsm_levels(model, x, y, [self.k], self.eps, self.unit)[0][0]

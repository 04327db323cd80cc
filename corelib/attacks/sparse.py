"""Sparse FGSM: the sign step on the k input dimensions (or pixels) of largest |gradient|, every k from one gradient."""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from ..checks import check_integer
from .base import Attack, _check_eps, _input_gradient, check_inputs

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

UNITS = ("feature", "pixel")



def check_ks(ks: Iterable[int], unit: str = "feature") -> list[int]:
    """Sparse-FGSM levels: a non-empty sequence of integers k ≥ 1 (2.7 is refused, not truncated)."""
    if isinstance(ks, (str, bytes)) or not hasattr(ks, "__iter__"):
        raise ValueError(f"ks={ks!r} must be a list of integers k ≥ 1, e.g. [1, 4, 16, 64] (or [{ks!r}] for one level)")
    ks = list(ks)
    if not ks:
        raise ValueError("ks=[] is empty: give at least one level k ≥ 1, e.g. ks=[1, 4, 16, 64]")
    return [check_integer("k", k, minimum=1, hint=f"sparse FGSM perturbs the k largest-gradient {unit}s")
            for k in ks]



def _check_levels(ks, x_shape, unit) -> list[int]:
    if unit not in UNITS:
        raise ValueError(f"unknown unit {unit!r}; choose 'feature' (single input dimensions) or 'pixel' "
                         "(spatial locations, all channels)")
    if len(x_shape) != 4:
        raise ValueError(f"inputs must be 4-D (B, C, H, W), got shape {tuple(x_shape)}")
    c, h, w = x_shape[1:]
    n = c * h * w if unit == "feature" else h * w
    ks = check_ks(ks, unit)
    for k in ks:
        if k > n:
            raise ValueError(f"k={k} is larger than the input: a {c}×{h}×{w} image has {n} {unit}s; choose k ≤ {n}")
    return ks



def sparse_masks(grad: torch.Tensor, ks: Sequence[int], unit: str = "feature") -> torch.Tensor:
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



def sparse_fgsm_levels(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, ks: Sequence[int], eps: float = 1.0,
                       unit: str = "feature") -> tuple[torch.Tensor, torch.Tensor]:
    """Sparse FGSM at every k from one gradient: returns (x_adv of shape (len(ks), B, C, H, W), clean logits).

    x_adv_i = clip(x_i + ε·sign(g_i), 0, 1) for the k top dimensions i, x_i elsewhere (Shinde & Madabhushi, Eq. 1),
    with g = ∇ₓ CE(f(x), y). The clean logits come from the same forward pass as the gradient."""
    eps = _check_eps(eps)
    check_inputs(x, y)
    ks = _check_levels(ks, x.shape, unit)
    grad, logits = _input_gradient(model, x, y)
    return _sparse_from_gradient(x, grad, ks, eps, unit), logits



def sparse_from_gradient(x: torch.Tensor, grad: torch.Tensor, ks: Sequence[int], eps: float,
                         unit: str = "feature") -> torch.Tensor:
    """The sparse FGSM inputs (len(ks), B, C, H, W) for a gradient already computed (so sweeps over ε and
    unit reuse one gradient)."""
    eps = _check_eps(eps)
    check_inputs(x)
    if grad.shape != x.shape:
        raise ValueError(f"the gradient's shape {tuple(grad.shape)} differs from the inputs' {tuple(x.shape)}; pass "
                         "∇ₓ of these inputs (input_gradient(model, x, y))")
    return _sparse_from_gradient(x, grad, ks, eps, unit)



def _sparse_from_gradient(x, grad, ks, eps, unit):
    """Every level's input without building masks: one top-k, then each level scatters the perturbed values of its
    prefix of the ranking into a copy of x (the same values as `torch.where(sparse_masks(...), ...)`)."""
    x = x.detach()
    perturbed = (x + eps * grad.sign()).clamp(0, 1)
    b, c, h, w = x.shape
    if unit == "feature":
        top = torch.topk(grad.abs().flatten(1), max(ks), dim=1, sorted=True).indices  # (B, kmax), largest first
        values = perturbed.flatten(1).gather(1, top)
        out = x.flatten(1).unsqueeze(0).repeat(len(ks), 1, 1)  # (L, B, C·H·W)
        for level, k in zip(out, ks):
            level.scatter_(1, top[:, :k], values[:, :k])
        return out.view(len(ks), b, c, h, w)
    top = torch.topk(grad.abs().sum(1).flatten(1), max(ks), dim=1, sorted=True).indices  # (B, kmax) locations
    values = perturbed.flatten(2).gather(2, top[:, None].expand(b, c, -1))  # (B, C, kmax)
    out = x.flatten(2).unsqueeze(0).repeat(len(ks), 1, 1, 1)  # (L, B, C, H·W)
    for level, k in zip(out, ks):
        level.scatter_(2, top[:, None, :k].expand(b, c, k), values[:, :, :k])
    return out.view(len(ks), b, c, h, w)



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
        k = check_ks([k], unit)[0]
        self.k, self.eps, self.unit = k, _check_eps(eps), unit

    def perturb(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return sparse_fgsm_levels(model, x, y, [self.k], self.eps, self.unit)[0][0]


__all__ = ["check_ks", "sparse_fgsm_levels", "sparse_from_gradient", "sparse_masks", "SparseFGSM", "UNITS"]

"""What every attack shares: `Attack` (the call `attack(model, x, y) -> x_adv`, a seeded CPU generator for random
starts, `config()`), the checks of inputs and budgets, and the input gradient."""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from ..checks import check_number

NORMS = ("linf", "l2")



# Checks of numeric settings, shared by the modules above this one (the trainer, the selections, the baselines): an
# integer is never silently truncated, a real number is finite and in range, and the message names the value, what is
# allowed and what the setting is.
def check_inputs(x: torch.Tensor, y: torch.Tensor | None = None) -> None:
    """The attacks' input contract, checked before any work: x a floating-point (B, C, H, W) tensor with every value
    in [0, 1] (one min / max over the batch), y (if given) B integer class labels."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"inputs must be a torch.Tensor of shape (B, C, H, W), got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(f"inputs must be 4-D (B, C, H, W), got shape {tuple(x.shape)}; add the batch dimension "
                         "with x.unsqueeze(0) for one image")
    if not x.is_floating_point():
        raise ValueError(f"inputs must be floating point in [0, 1], got dtype {x.dtype}; convert uint8 images with "
                         "x.float() / 255")
    if x.numel():
        lo, hi = (float(v) for v in torch.aminmax(x.detach()))
        if not (lo >= 0 and hi <= 1):
            raise ValueError(f"inputs must be in [0, 1], got values in [{lo:.4g}, {hi:.4g}]: pass unnormalised images "
                             "and normalise inside the model (corelib.models.Normalize); eps is in these pixel units")
    if y is not None:
        if not isinstance(y, torch.Tensor) or y.dim() != 1 or len(y) != len(x):
            shape = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
            raise ValueError(f"labels must be a 1-D tensor of {len(x)} class indices (one per input), got {shape}")
        if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
            raise ValueError(f"labels must be integer class indices, got dtype {y.dtype}; use y.long()")



def _input_gradient(model, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """`input_gradient` without the input checks (the attacks' inner steps, on inputs already checked)."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = model(x)
        loss = F.cross_entropy(logits.float(), y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, x)
    return grad, logits.detach()



def input_gradient(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(∇ₓ Σᵢ CE(f(xᵢ), yᵢ), logits). Summing makes each sample's gradient independent of the batch size
    (in eval mode); only the input receives a gradient, the parameters' .grad are left untouched. x: a float
    (B, C, H, W) batch in [0, 1] (`check_inputs`)."""
    check_inputs(x, y)
    return _input_gradient(model, x, y)



def _check_eps(eps, name: str = "eps"):
    """A finite budget ≥ 0: a float, or for PGD a tensor of one budget per sample."""
    if isinstance(eps, torch.Tensor):
        eps = eps.detach().float()
        finite = torch.isfinite(eps)
        if not bool(finite.all()):
            raise ValueError(f"every {name} must be finite: {int((~finite).sum())} of {eps.numel()} are NaN or ±inf "
                             f"(e.g. position {int((~finite).reshape(-1).nonzero()[0, 0])})")
        if not bool((eps >= 0).all()):
            raise ValueError(f"every {name} must be ≥ 0, got a minimum of {float(eps.min())}")
        return eps
    eps = check_number(name, eps, low=0, hint="pixel units: 8/255 is the usual ℓ∞ budget")
    if eps > 1:
        raise ValueError(f"{name}={eps:g} is larger than the whole pixel range [0, 1]: every pixel would saturate; "
                         f"budgets are in [0, 1] pixel units, so {eps:g}/255 = {eps / 255:.4f} was almost surely meant")
    return eps



def _check_alpha(alpha):
    """A finite step size > 0: a float, or a tensor of one step size per sample."""
    if isinstance(alpha, torch.Tensor):
        alpha = alpha.detach().float()
        good = torch.isfinite(alpha) & (alpha > 0)
        if not bool(good.all()):
            i = int((~good).reshape(-1).nonzero()[0, 0])
            raise ValueError(f"every alpha must be finite and > 0: {int((~good).sum())} of {alpha.numel()} are not "
                             f"(e.g. alpha[{i}]={float(alpha.reshape(-1)[i]):.6g}); alpha is the step size in pixel "
                             "units, e.g. 2/255")
        return alpha
    alpha = check_number("alpha", alpha, low=0, low_open=True, hint="step size in pixel units, e.g. 2/255")
    if alpha > 1:
        raise ValueError(f"alpha={alpha:g} is larger than the whole pixel range [0, 1]; step sizes are in [0, 1] pixel "
                         f"units, so {alpha:g}/255 = {alpha / 255:.4f} was almost surely meant")
    return alpha



def _check_per_sample(value, name, x):
    """A per-sample eps / alpha tensor must hold one value per input."""
    if isinstance(value, torch.Tensor) and value.numel() not in (1, len(x)):
        raise ValueError(f"{name} holds {value.numel()} per-sample values for a batch of {len(x)} inputs; give one "
                         "per input, or a float")



def _per_sample(value, x):
    """A float, or a (B,) tensor viewed as (B, 1, 1, 1), on x's device."""
    if isinstance(value, torch.Tensor):
        return value.to(x.device, x.dtype).view(-1, *([1] * (x.dim() - 1)))
    return value



class Attack:
    """Base class: `attack(model, x, y)` returns the adversarial batch, detached, in [0, 1]."""

    def __call__(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.perturb(model, x, y)

    def perturb(self, model: torch.nn.Module, x: torch.Tensor,
                y: torch.Tensor) -> torch.Tensor: # pragma: no cover - abstract
        raise NotImplementedError

    def reseeded(self, seed: int) -> "Attack":
        """A copy whose random starts begin afresh from `seed` (an attack without randomness is simply copied). Give
        each grid cell its own, so a cell's result does not depend on which cells the process evaluated before it:
        a resumed, a sharded and an uninterrupted grid then give the same table."""
        new = copy.copy(self)
        if hasattr(self, "seed"):  # attacks seeded by a number (AutoAttack) or by a generator made from it (PGD)
            new.seed = int(seed)
        if hasattr(self, "_generator"):
            new._generator = torch.Generator().manual_seed(new.seed)
        return new

    def config(self) -> dict:
        """The attack's settings at full precision (what a cache key or a results grid records)."""
        return {"attack": type(self).__name__,
                **{k: v.tolist() if isinstance(v, torch.Tensor) else v for k, v in vars(self).items()
                   if not k.startswith("_")}}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v!r}"
                         for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


__all__ = ["Attack", "check_inputs", "input_gradient", "NORMS"]

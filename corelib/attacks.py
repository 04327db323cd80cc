"""White-box evasion attacks with a torchattacks-like call: `attack(model, x, y) -> x_adv`.

Conventions: x is a float batch (B, C, H, W) in [0, 1]; eps and step sizes are in the same pixel
units (8/255 is the usual ℓ∞ budget); the model is used in whatever mode the caller left it
(`evaluate` switches to eval mode). Random starts draw from a CPU generator seeded at construction,
so a fixed seed and call order give the same adversarial examples on every device.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from .utils import check_integer, check_number

NORMS = ("linf", "l2")


# Checks of numeric settings, shared by the modules above this one (the trainer, the selections, the baselines): an
# integer is never silently truncated, a real number is finite and in range, and the message names the value, what is
# allowed and what the setting is.
def check_inputs(x, y=None) -> None:
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


def input_gradient(model, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
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
    return check_number(name, eps, low=0, hint="pixel units: 8/255 is the usual ℓ∞ budget")


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
    return check_number("alpha", alpha, low=0, low_open=True, hint="step size in pixel units, e.g. 2/255")


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

    def __call__(self, model, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.perturb(model, x, y)

    def perturb(self, model, x, y):  # pragma: no cover - abstract
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


class FGSM(Attack):
    """Fast Gradient Sign Method (Goodfellow et al. 2015), ℓ∞:  x_adv = clip(x + ε·sign(∇ₓ CE(f(x), y)), 0, 1).

    >>> x_adv = FGSM(eps=8/255)(model, x, y)
    """

    def __init__(self, eps: float = 8 / 255):
        self.eps = _check_eps(eps)

    def perturb(self, model, x, y):
        check_inputs(x, y)
        grad, _ = _input_gradient(model, x, y)
        return (x + self.eps * grad.sign()).clamp_(0, 1).detach()


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

    def perturb(self, model, x, y):
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


UNITS = ("feature", "pixel")


def check_ks(ks, unit: str = "feature") -> list[int]:
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
    check_inputs(x, y)
    ks = _check_levels(ks, x.shape, unit)
    grad, logits = _input_gradient(model, x, y)
    return _sparse_from_gradient(x, grad, ks, eps, unit), logits


def sparse_from_gradient(x: torch.Tensor, grad: torch.Tensor, ks, eps: float, unit: str = "feature") -> torch.Tensor:
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

    def perturb(self, model, x, y):
        return sparse_fgsm_levels(model, x, y, [self.k], self.eps, self.unit)[0][0]


AUTOATTACK_VERSIONS = {"standard": ("apgd-ce", "apgd-t", "fab-t", "square"), "ci": ("apgd-ce", "apgd-t")}


class AutoAttack(Attack):
    """AutoAttack (Croce & Hein, *Reliable evaluation of adversarial robustness with an ensemble of diverse
    parameter-free attacks*, ICML 2020), ℓ∞, from the implementations torchattacks ships (APGD, APGD-T, FAB, Square):
    the yardstick for robust accuracy, since PGD's number can be inflated by gradient masking.

    Per-image worst case: the attacks run in order, each on the images every earlier one failed to fool (the ones
    misclassified without attack are never attacked), and an image counts as robust only if it survives all of
    them; the returned batch holds, per image, the first adversarial example that fooled the model (the clean
    image where none did). `version='standard'` is AutoAttack's standard ensemble (APGD-CE, APGD-T, FAB-T, Square
    with `queries` queries); `version='ci'` the cheaper APGD-CE + APGD-T the `ci` profile affords. `steps` is the
    APGD / FAB iteration count (AutoAttack's standard: 100), `targets` the target classes of APGD-T / FAB-T
    (None, the standard: every other class, 9 on CIFAR-10; fewer is cheaper and weaker). The number of classes is
    read from the model's output.

    Differences from the authors' `autoattack` package and torchattacks' `AutoAttack`: none in the attacks (they are
    torchattacks' own); `steps`, `targets` and `queries` are settings here (the authors fix 100 / 9 / 5,000 in the
    standard version), the version name 'ci' is ours, and the global RNG, which torchattacks reseeds inside every
    attack, is restored afterwards (the attacks are seeded by `seed`, so the same seed gives the same examples).

    >>> x_adv = AutoAttack(eps=8/255, version="ci", steps=20)(model, x, y)
    """

    def __init__(self, eps: float = 8 / 255, version: str = "standard", steps: int = 100, targets: int | None = None,
                 queries: int = 5000, seed: int = 0):
        if version not in AUTOATTACK_VERSIONS:
            raise ValueError(f"version={version!r}; choose 'standard' (APGD-CE, APGD-T, FAB-T, Square) or 'ci' "
                             "(APGD-CE and APGD-T)")
        self.eps = _check_eps(eps)
        self.version = version
        self.steps = check_integer("steps", steps, minimum=1, hint="APGD iterations per attack, e.g. 100")
        self.targets = None if targets is None else check_integer(
            "targets", targets, minimum=1, hint="target classes of APGD-T and FAB-T; None: every other class")
        self.queries = check_integer("queries", queries, minimum=1, hint="Square's query budget, e.g. 5000")
        self.seed = check_integer("seed", seed)

    def components(self, model, num_classes: int = 10) -> list:
        """The torchattacks attacks of this version for a model of `num_classes` classes, in the order they run."""
        import torchattacks

        targets = num_classes - 1 if self.targets is None else self.targets
        if targets > num_classes - 1:
            raise ValueError(f"targets={targets} but the model has {num_classes} classes: at most {num_classes - 1} "
                             "other classes can be targets")

        made = {
            "apgd-ce": lambda: torchattacks.APGD(model, eps=self.eps, steps=self.steps, seed=self.seed, loss="ce"),
            "apgd-t": lambda: _targeted(torchattacks.APGDT(model, eps=self.eps, steps=self.steps, seed=self.seed,
                                                           n_classes=num_classes), targets),
            "fab-t": lambda: _targeted(torchattacks.FAB(_ContiguousInputGrad(model), eps=self.eps, steps=self.steps, seed=self.seed,
                                                        multi_targeted=True, n_classes=num_classes), targets),
            "square": lambda: torchattacks.Square(model, eps=self.eps, n_queries=self.queries, seed=self.seed),
        }
        return [made[name]() for name in AUTOATTACK_VERSIONS[self.version]]

    def perturb(self, model, x, y):
        import torchattacks

        check_inputs(x, y)
        adv = x.detach().clone()
        devices = [x.device.index or 0] if x.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            with torch.no_grad():
                logits = model(x)
            robust = logits.argmax(1) == y
            for attack in self.components(model, logits.shape[1]):
                todo = robust.nonzero().flatten()
                if not len(todo):
                    break
                inputs = x[todo]
                if isinstance(attack, torchattacks.FAB):
                    # NCHW-contiguous inputs: FAB-T `.view`s the input gradient, whose layout follows the input's (a
                    # channels_last batch gives a channels_last gradient whatever the model does); values unchanged
                    inputs = inputs.contiguous()
                out = attack(inputs, y[todo])
                with torch.no_grad():
                    fooled = model(out).argmax(1) != y[todo]
                adv[todo[fooled]] = out[fooled].to(adv.dtype)
                robust[todo[fooled]] = False
        return adv


class _ContiguousGradient(torch.autograd.Function):
    """Identity whose backward hands the gradient back in the default (NCHW-contiguous) layout."""

    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return grad.contiguous()


class _ContiguousInputGrad(torch.nn.Module):
    """`model` with its input gradient in the default layout. torchattacks' FAB reshapes input gradients with
    `.view`, which fails on the channels_last gradient of a channels_last model (every corelib model by default);
    values are unchanged, only the layout. Follows `model`'s train / eval mode."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.train(model.training)

    def forward(self, x):
        return self.model(_ContiguousGradient.apply(x))


def _targeted(attack, targets: int):
    attack.n_target_classes = targets
    return attack

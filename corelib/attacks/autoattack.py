"""AutoAttack (Croce & Hein, ICML 2020): torchattacks' APGD-CE, APGD-T, FAB-T and Square with the per-image worst case."""
from __future__ import annotations

import torch

from ..checks import check_integer
from .base import Attack, _check_eps, check_inputs
from .sanity import CheckReport, model_checks

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

    It runs the reference's sanity checks (`attacks.sanity`): on the first batch it attacks, whether the model is in
    training mode, random, outputs probabilities or has zero input gradients; over every batch, whether Square fools
    images the white-box attacks missed. `checks()` returns the flags raised ('none' when none).

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
        self._report = CheckReport()

    def reseeded(self, seed: int) -> "AutoAttack":
        """A copy seeded afresh (`Attack.reseeded`) with its own, empty check report."""
        new = super().reseeded(seed)
        new._report = CheckReport()
        return new

    def checks(self) -> str:
        """What AutoAttack's sanity checks (`attacks.sanity`) found over everything this instance attacked: the
        flags, ';'-separated ('none' when every check passed)."""
        return self._report.summary()

    def components(self, model: torch.nn.Module, num_classes: int = 10) -> list:
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

    def perturb(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        import torchattacks

        check_inputs(x, y)
        if not self._report.checked:  # the reference's checks, once per evaluation, on its first batch
            self._report.add_model_checks(model_checks(model, x, y))
        self._report.images += len(x)
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
                if isinstance(attack, torchattacks.Square):  # what the white-box attacks before it missed
                    self._report.square_fooled += int(fooled.sum())
        return adv



class _ContiguousGradient(torch.autograd.Function):
    """Identity whose backward hands the gradient back in the default (NCHW-contiguous) layout."""

    @staticmethod
    def forward(ctx, x: torch.Tensor):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return grad.contiguous()



class _ContiguousInputGrad(torch.nn.Module):
    """`model` with its input gradient in the default layout. torchattacks' FAB reshapes input gradients with
    `.view`, which fails on the channels_last gradient of a channels_last model (every corelib model by default);
    values are unchanged, only the layout. Follows `model`'s train / eval mode."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model
        self.train(model.training)

    def forward(self, x: torch.Tensor):
        return self.model(_ContiguousGradient.apply(x))



def _targeted(attack, targets: int):
    attack.n_target_classes = targets
    return attack


__all__ = ["AutoAttack", "AUTOATTACK_VERSIONS"]

"""AutoAttack's own sanity checks (Croce & Hein's reference implementation runs them before it reports): a robust
accuracy is only a robustness number when the model is deterministic, outputs logits, has input gradients, is in
evaluation mode, and a black-box attack finds nothing the white-box ones missed. Each failed check is a flag; a row
of a results table carries its flags in `autoattack_checks` ('none' when every check passed).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .base import _input_gradient

CHECKS = {  # flag → what it means (README, "AutoAttack's checks")
    "training_mode": "the model was in training mode (dropout and batch statistics change its outputs)",
    "random": "two forward passes on the same input differ: the defence is randomised, and AutoAttack's number is "
              "not its robustness (an expectation over the randomness is needed)",
    "probabilities": "the model outputs probabilities (rows in [0, 1] summing to 1), not logits: the attacks' losses "
                     "are computed on the wrong quantity",
    "zero_gradients": "some inputs have a zero input gradient: the gradients are masked, and the white-box attacks "
                      "cannot move them",
    "square": "the black-box Square attack fooled images the white-box attacks had not (by more than "
              "SQUARE_MARGIN of the images): a sign of gradient masking",
}
PASSED = "none"  # what a run whose every check passed records
CHECK_BATCH = 100  # images the forward-pass checks read (a few batches' worth is enough, as the reference's)
SQUARE_MARGIN = 0.002  # the reference's threshold: Square may lower robust accuracy by at most 0.2 points


def model_checks(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[str]:
    """The checks of the model itself on (up to `CHECK_BATCH` of) the images `x`, labels `y`: training mode, a
    random forward pass, probability outputs, zero input gradients. Returns the flags raised, in `CHECKS` order;
    the global random state and the model's buffers are restored afterwards."""
    x, y = x[:CHECK_BATCH], y[:CHECK_BATCH]
    flags = ["training_mode"] if model.training else []
    devices = [x.device.index or 0] if x.device.type == "cuda" else []
    buffers = {name: b.clone() for name, b in model.named_buffers()}  # a training-mode pass moves BatchNorm's stats
    with torch.random.fork_rng(devices=devices):
        with torch.no_grad():
            first, second = model(x).float(), model(x).float()
        if not torch.allclose(first, second, rtol=1e-5, atol=1e-6):
            flags.append("random")
        if first.min() >= 0 and first.max() <= 1 and bool(((first.sum(1) - 1).abs() < 1e-4).all()):
            flags.append("probabilities")
        grad, _ = _input_gradient(model, x, y)
        if bool((grad.flatten(1).abs().sum(1) == 0).any()):
            flags.append("zero_gradients")
    with torch.no_grad():
        for name, b in model.named_buffers():
            b.copy_(buffers[name])
    return flags


@dataclass
class CheckReport:
    """What the checks found over one evaluation (every batch an AutoAttack instance attacked): the model checks'
    flags, and how many images were evaluated and how many Square alone fooled."""

    flags: list[str] = field(default_factory=list)
    images: int = 0
    square_fooled: int = 0
    checked: bool = False

    def add_model_checks(self, flags: list[str]) -> None:
        """Record the model checks (run once per evaluation, on its first batch)."""
        self.flags = [f for f in CHECKS if f in set(self.flags) | set(flags)]
        self.checked = True

    def summary(self) -> str:
        """The flags raised, ';'-separated in `CHECKS` order; `PASSED` ('none') when every check passed (a word, not
        an empty field, so a table read back tells a clean run from one that was never checked)."""
        square = self.images and self.square_fooled / self.images > SQUARE_MARGIN
        return ";".join(f for f in CHECKS if f in self.flags or (f == "square" and square)) or PASSED


__all__ = ["PASSED", "CHECK_BATCH", "CheckReport", "CHECKS", "model_checks", "SQUARE_MARGIN"]

"""White-box evasion attacks with a torchattacks-like call: `attack(model, x, y) -> x_adv`.

Conventions: x is a float batch (B, C, H, W) in [0, 1]; eps and step sizes are in the same pixel
units (8/255 is the usual ℓ∞ budget); the model is used in whatever mode the caller left it
(`evaluate` switches to eval mode). Random starts draw from a CPU generator seeded at construction,
so a fixed seed and call order give the same adversarial examples on every device.

One attack per module (`fgsm`, `pgd`, `sparse`, `autoattack`) beside `base`, which holds what they share."""
from __future__ import annotations

from .autoattack import AUTOATTACK_VERSIONS, AutoAttack
from .base import NORMS, Attack, check_inputs, input_gradient
from .fgsm import FGSM
from .pgd import PGD
from .sparse import UNITS, SparseFGSM, check_ks, sparse_fgsm_levels, sparse_from_gradient, sparse_masks

__all__ = ['AUTOATTACK_VERSIONS', 'Attack', 'AutoAttack', 'FGSM', 'NORMS', 'PGD', 'SparseFGSM', 'UNITS', 'check_inputs',
           'check_ks', 'input_gradient', 'sparse_fgsm_levels', 'sparse_from_gradient', 'sparse_masks']

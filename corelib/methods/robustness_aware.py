"""The book's score-based methods as benchmark entries: the sparse-FGSM sensitivity scores ISEF, FGSM-CS and PSS
(Shinde & Madabhushi; top and bottom coresets) and EasyCore's lowest AIGN. Both read `proxy.scoring`: the proxy
itself under DeepCore's semantics (scores of a `selection_epochs` model, AIGN recorded while it trained), or the
model the papers score with when the benchmark sets one (`scoring_model='base'`: the fully trained base model and
the AIGN of its whole training run)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..attacks import check_ks
from ..checks import check_number
from ..easycore import easycore as easycore_selection
from ..scores import NAMES, SCHEMES, check_scheme_params, score
from ..sensitivity import LEVELS, sensitivity_table
from .proxy import ranked, shared
from .registry import register

if TYPE_CHECKING:
    from .proxy import MethodResult, Passes, Proxy


def _sensitivity(scheme, keep):
    def method(proxy, fraction, seed, passes, class_balanced, ks=LEVELS, eps: float = 1.0, **params):
        check_ks(ks)  # every setting is checked before the (shared, expensive) sensitivity table
        check_number("eps", eps, low=0, hint="the sparse FGSM step; 1.0 saturates the chosen dimensions")
        check_scheme_params(scheme, params)

        def compute(own):
            n = len(proxy.pool)
            own.forward += n * (1 + len(ks))  # one input gradient (its forward is the clean output) + one per level
            own.backward += n
            return sensitivity_table(proxy.scoring.model, proxy.pool, ks, eps)

        table = shared(proxy, passes, ("sensitivity", tuple(ks), float(eps)), compute)
        return ranked(proxy, score(table, scheme, ks=ks, **params), fraction, seed, keep, class_balanced,
                      f"{scheme}_{keep}")
    return method


for _scheme in SCHEMES:
    for _keep in ("top", "bottom"):
        register(f"{_scheme}_{_keep}", family="sparse-FGSM sensitivity", keeps=_keep,
                 reads="sparse FGSM at k = 1, 4, 16, 64",
                 description=f"the {'highest' if _keep == 'top' else 'lowest'} {NAMES[_scheme]} scores",
                 paper="Shinde & Madabhushi",
                 params=("ks", "eps", *{"isef": ("alpha",), "fgsm_cs": ("weights",)}.get(_scheme, ())),
                 )(_sensitivity(_scheme, _keep))


@register("easycore", family="hardness", keeps="bottom", reads="input-gradient norms in training",
          description="the lowest average input-gradient norm (AIGN)", paper="EasyCore (arXiv 2510.11018)")
def easycore(proxy: Proxy, fraction: float, seed: int, passes: Passes, class_balanced: bool) -> MethodResult:
    """EasyCore: the lowest AIGN (the input-gradient norm averaged over training, as EasyCore's abstract defines
    it), recorded for free while the scoring model trained (our `in_training` mode: the abstract does not say how
    each norm is measured)."""
    sel = easycore_selection(proxy.pool, proxy.scoring.aign, fraction, seed, class_balanced)
    return sel.indices, None, sel.scores


__all__ = ["easycore"]

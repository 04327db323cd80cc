"""Sensitivity scores of Shinde & Madabhushi, as pure functions of a sensitivity table
(`corelib.sensitivity.sensitivity_table`): no model is needed to recompute them.

p⁽ᵏ⁾ is the softmax output under sparse FGSM with k perturbed dimensions, p⁽⁰⁾ the clean one.
Each function returns a Series indexed by original dataset index (ascending); with
`components=True`, a DataFrame with the terms and the score.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pandas as pd
import torch

from .attacks import check_ks
from .checks import check_number
from .sensitivity import LEVELS, table_probabilities

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any


def _entropy(p: torch.Tensor, base: float) -> torch.Tensor:
    """−Σ pᵢ log pᵢ with 0·log 0 = 0, along the last axis."""
    return -(torch.xlogy(p, p).sum(-1)) / math.log(base)


def _minmax(s: torch.Tensor) -> torch.Tensor:
    """(s − min) / (max − min); a constant vector maps to 0."""
    span = s.max() - s.min()
    return (s - s.min()) / span if span > 0 else torch.zeros_like(s)


def _result(indices, columns: dict, name: str, components: bool):
    index = pd.Index(indices.numpy(), name="index")
    if components:
        return pd.DataFrame({k: v.numpy() for k, v in columns.items()}, index=index)
    return pd.Series(columns[name].numpy(), index=index, name=name)


def _check_alpha(alpha):
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha={alpha} must lie in [0, 1]")


def _check_weights(weights):
    if isinstance(weights, (str, bytes)) or not hasattr(weights, "__len__") or len(weights) != 3:
        raise ValueError(f"weights={weights} must be three numbers (w_adv, w_unc, w_rob)")
    values = [check_number(name, w, low=0, hint="FGSM-CS weights are non-negative, the paper's are (0.5, 0.3, 0.2)")
              for name, w in zip(("w_adv", "w_unc", "w_rob"), weights)]
    if sum(values) <= 0:
        raise ValueError(f"weights={tuple(weights)} are all zero: every sample would score 0; the paper uses "
                         "(0.5, 0.3, 0.2)")


CHECKS = {"isef": {"alpha": _check_alpha}, "fgsm_cs": {"weights": _check_weights}, "pss": {}}


def check_scheme_params(scheme: str, params: dict) -> None:
    """The parameters of a scheme, checked before any table is computed: only the scheme's own (ISEF's alpha,
    FGSM-CS's weights; PSS has none), each in range."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown scheme {scheme!r}; choose one of {sorted(SCHEMES)}")
    for name, value in params.items():
        if name not in CHECKS[scheme]:
            takes = ", ".join(CHECKS[scheme]) or "no parameters"
            raise ValueError(f"{NAMES[scheme]} does not take {name}={value!r}; it takes {takes} (besides ks)")
        CHECKS[scheme][name](value)


def isef(table: pd.DataFrame, alpha: float = 0.5, ks: Sequence[int] = LEVELS,
         components: bool = False) -> pd.Series | pd.DataFrame:
    """ISEF, inverse sensitivity + entropy fusion: S = α·S̃_inv + (1 − α)·S̃_ent (~ = min-max normalized).

    S_inv = 1 if the clean input is misclassified; 1/k_min if it is first misclassified at k = k_min; 0 if it
    is classified correctly at every k. S_ent = −Σᵢ pᵢ⁽⁰⁾ log₁₀ pᵢ⁽⁰⁾ (clean entropy)."""
    _check_alpha(alpha)
    check_ks(ks)
    indices, labels, p = table_probabilities(table, ks)
    wrong = p.argmax(-1) != labels[:, None]  # (N, 1 + L)
    ks_t = torch.tensor([1.0, *[float(k) for k in ks]])  # level 0 → 1/1 = 1
    first = torch.where(wrong.any(1), wrong.double().argmax(1), torch.full_like(labels, -1))
    s_inv = torch.where(first >= 0, 1.0 / ks_t[first.clamp(min=0)], torch.zeros(len(labels), dtype=torch.float64))
    s_ent = _entropy(p[:, 0], 10)
    score = alpha * _minmax(s_inv) + (1 - alpha) * _minmax(s_ent)
    return _result(indices, {"s_inv": s_inv, "s_ent": s_ent, "isef": score}, "isef", components)


def fgsm_cs(table: pd.DataFrame, weights: Sequence[float] = (0.5, 0.3, 0.2), ks: Sequence[int] = LEVELS,
            components: bool = False) -> pd.Series | pd.DataFrame:
    """FGSM-CS, the composite score: S = w_adv·S_adv + w_unc·S_unc + w_rob·S_rob (paper: 0.5, 0.3, 0.2).

    S_adv = Σ_k (1/k)·‖p⁽⁰⁾ − p⁽ᵏ⁾‖₁; S_unc = max over k ∈ {0} ∪ ks of −Σᵢ pᵢ⁽ᵏ⁾ ln pᵢ⁽ᵏ⁾;
    S_rob = 1 if some k ∈ ks predicts a label other than the true one, else 0."""
    _check_weights(weights)
    check_ks(ks)
    indices, labels, p = table_probabilities(table, ks)
    inv_k = torch.tensor([1.0 / k for k in ks], dtype=torch.float64)
    s_adv = ((p[:, :1] - p[:, 1:]).abs().sum(-1) * inv_k).sum(1)
    s_unc = _entropy(p, math.e).max(1).values
    s_rob = (p[:, 1:].argmax(-1) != labels[:, None]).any(1).double()
    w_adv, w_unc, w_rob = (float(w) for w in weights)
    score = w_adv * s_adv + w_unc * s_unc + w_rob * s_rob
    return _result(indices, {"s_adv": s_adv, "s_unc": s_unc, "s_rob": s_rob, "fgsm_cs": score}, "fgsm_cs",
                   components)


def pss(table: pd.DataFrame, ks: Sequence[int] = LEVELS, components: bool = False) -> pd.Series | pd.DataFrame:
    """PSS, the perturbation sensitivity score (paper Eq. 7): Σ_k ‖p⁽ᵏ⁾ − p⁽⁰⁾‖₂ / (log₂ k + 1).

    The paper's prose writes the weight as 1/log₂(k + 1), which differs (k = 1: 1 vs 1; k = 4: 1/3 vs
    1/2.32); we follow the equation."""
    check_ks(ks)
    indices, _, p = table_probabilities(table, ks)
    weight = torch.tensor([1.0 / (math.log2(k) + 1) for k in ks], dtype=torch.float64)
    shift = (p[:, 1:] - p[:, :1]).norm(dim=-1)  # (N, L)
    score = (shift * weight).sum(1)
    columns = {f"shift_k{k}": shift[:, j] for j, k in enumerate(ks)}
    columns["pss"] = score
    return _result(indices, columns, "pss", components)


SCHEMES = {"isef": isef, "fgsm_cs": fgsm_cs, "pss": pss}
NAMES = {"isef": "ISEF", "fgsm_cs": "FGSM-CS", "pss": "PSS"}  # as the paper writes them


def score(table: pd.DataFrame, scheme: str, **params: Any) -> pd.Series:
    """One scheme's scores by name ('isef', 'fgsm_cs', 'pss')."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown scheme {scheme!r}; choose one of {sorted(SCHEMES)}")
    return SCHEMES[scheme](table, **params)


def all_scores(table: pd.DataFrame, ks: Sequence[int] = LEVELS) -> pd.DataFrame:
    """Every scheme's score per sample (index, isef, fgsm_cs, pss)."""
    return pd.DataFrame({name: fn(table, ks=ks) for name, fn in SCHEMES.items()})


__all__ = ["all_scores", "check_scheme_params", "CHECKS", "fgsm_cs", "isef", "NAMES", "pss", "SCHEMES", "score"]

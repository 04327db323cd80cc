"""Clean and robust accuracy in large batches, the FGSM ε-sweep from one gradient per batch, and the penultimate
features of a pool (`embed`)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import torch

from .attacks import Attack, input_gradient
from .data import Pool, pool_batches
from .models import eval_mode

if TYPE_CHECKING:
    from collections.abc import Sequence

SWEEP_EPS_255 = (0, 1, 2, 4, 8, 12, 16)


@torch.no_grad()
def predict(model: torch.nn.Module, pool: Pool, batch_size: int = 1000) -> torch.Tensor:
    """Logits (N, classes) for every sample of the pool, in eval mode."""
    with eval_mode(model):
        return torch.cat([model(x).float() for x, _ in pool_batches(pool, batch_size)])


@torch.no_grad()
def embed(model: torch.nn.Module, pool: Pool, batch_size: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """(penultimate features (N, D), logits (N, classes)) of every pool sample, in eval mode, float32 on the CPU:
    what embedding-based selection methods and the convex toy read."""
    features, logits = [], []
    with eval_mode(model):
        for x, _ in pool_batches(pool, batch_size):
            h = model.features(x).float()
            features.append(h.cpu())
            logits.append(model.linear(h).float().cpu())
    return torch.cat(features), torch.cat(logits)


def accuracy(model: torch.nn.Module, pool: Pool, batch_size: int = 1000) -> float:
    """Clean top-1 accuracy on the pool, in [0, 1]."""
    return (predict(model, pool, batch_size).argmax(1) == pool.labels).float().mean().item()


def accuracy_and_top_share(model: torch.nn.Module, pool: Pool, batch_size: int = 1000) -> tuple[float, float]:
    """Clean accuracy and the share of the pool predicted as the model's most predicted class, from one pass. A
    share near 1 is a collapsed model (a constant predictor: its accuracy is the chance level of a balanced pool,
    and its robust accuracy is the same number, since no attack changes a constant prediction)."""
    pred = predict(model, pool, batch_size).argmax(1)
    share = torch.bincount(pred).max().item() / len(pool)
    return (pred == pool.labels).float().mean().item(), share


def robust_correct(model: torch.nn.Module, pool: Pool, attack: Attack, batch_size: int = 500) -> torch.Tensor:
    """Per sample of the pool (in its order, eval mode): is the model right on attack(model, x, y)? A bool tensor."""
    out = []
    with eval_mode(model):
        for x, y in pool_batches(pool, batch_size):
            x_adv = attack(model, x, y)
            with torch.no_grad():
                out.append(model(x_adv).argmax(1) == y)
    return torch.cat(out)


def robust_accuracy(model: torch.nn.Module, pool: Pool, attack: Attack, batch_size: int = 500) -> float:
    """Accuracy on attack(model, x, y) over the pool (eval mode), in [0, 1]."""
    return robust_correct(model, pool, attack, batch_size).float().mean().item()


def fgsm_sweep(model: torch.nn.Module, pool: Pool, eps_values: Sequence[float] = tuple(e / 255 for e in SWEEP_EPS_255),
               batch_size: int = 500) -> pd.DataFrame:
    """FGSM accuracy at every ε from one input gradient per batch (FGSM's direction sign(g) does not depend on
    ε): the perturbed copies of a batch at all ε are stacked and classified in chunks of `batch_size` images, and
    ε = 0 reuses the gradient pass's own logits. Returns a tidy table with columns attack, eps, eps_255,
    accuracy, n."""
    eps_values = [float(e) for e in eps_values]
    if not eps_values:
        raise ValueError("eps_values is empty: give at least one ε (pixel units, e.g. 8/255)")
    for e in eps_values:
        if not 0 <= e <= 1:
            raise ValueError(f"ε={e} must lie in [0, 1] (pixel units: 8/255 is the usual budget)")
    correct = torch.zeros(len(eps_values))
    attacked = [i for i, e in enumerate(eps_values) if e > 0]
    with eval_mode(model):
        for x, y in pool_batches(pool, batch_size):
            grad, logits = input_gradient(model, x, y)
            clean = (logits.argmax(1) == y).sum().item()
            for i, e in enumerate(eps_values):
                if e == 0:
                    correct[i] += clean
            if not attacked:
                continue
            eps = torch.tensor([eps_values[i] for i in attacked], dtype=x.dtype, device=x.device)
            direction = grad.sign()
            with torch.inference_mode():
                stacked = (x[None] + eps.view(-1, 1, 1, 1, 1) * direction[None]).clamp_(0, 1).flatten(0, 1)
                stacked = stacked.contiguous(memory_format=torch.channels_last)
                preds = torch.cat([model(chunk).argmax(1) for chunk in stacked.split(batch_size)])
                hits = (preds.view(len(attacked), -1) == y[None]).sum(1).cpu()
            correct[attacked] += hits.to(correct.dtype)
    return pd.DataFrame({"attack": "fgsm", "eps": eps_values, "eps_255": [e * 255 for e in eps_values],
                         "accuracy": (correct / len(pool)).tolist(), "n": len(pool)})


def evaluate(model: torch.nn.Module, pool: Pool, attacks: dict[str, Attack] | None = None,
             sweep_eps: Sequence[float] = tuple(e / 255 for e in SWEEP_EPS_255), batch_size: int = 500) -> pd.DataFrame:
    """Clean accuracy, robust accuracy under each named attack, and the FGSM ε-sweep, as one tidy table
    (columns attack, eps, eps_255, accuracy, n; the clean row has attack 'clean' and eps 0). With two or more
    attacks, a 'worst_case' row: the share of samples the model gets right clean *and* under every attack
    (the per-image worst case, as AutoAttack counts; its eps is the largest of the attacks')."""
    clean = predict(model, pool, 2 * batch_size).argmax(1) == pool.labels
    rows = [{"attack": "clean", "eps": 0.0, "accuracy": clean.float().mean().item()}]
    survived = clean.clone()
    for name, attack in (attacks or {}).items():
        correct = robust_correct(model, pool, attack, batch_size)
        survived &= correct
        rows.append({"attack": name, "eps": float(getattr(attack, "eps", float("nan"))),
                     "accuracy": correct.float().mean().item()})
    if len(attacks or {}) >= 2:
        rows.append({"attack": "worst_case", "eps": max(r["eps"] for r in rows[1:]),
                     "accuracy": survived.float().mean().item()})
    table = pd.DataFrame(rows).assign(n=len(pool))
    table["eps_255"] = table["eps"] * 255
    if sweep_eps is not None and len(sweep_eps):
        table = pd.concat([table, fgsm_sweep(model, pool, sweep_eps, batch_size).assign(attack="fgsm_sweep")],
                          ignore_index=True)
    return table[["attack", "eps", "eps_255", "accuracy", "n"]]


__all__ = ["accuracy", "accuracy_and_top_share", "embed", "evaluate", "fgsm_sweep", "predict", "robust_accuracy",
           "robust_correct", "SWEEP_EPS_255"]

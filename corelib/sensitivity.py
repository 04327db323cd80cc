"""Per-sample sensitivity to sparse FGSM: softmax outputs at k = 0 (clean) and every k level.

The table is the paper's "class-wise probability distributions in a structured CSV": one row per
(sample, k) with the original dataset index, the true label, the probabilities p0…p9, the predicted
label and its confidence. Scores (`corelib.scores`) are pure functions of it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import torch

from .attacks import input_gradient, sparse_fgsm_levels, sparse_from_gradient
from .data import Pool, pool_batches
from .hashing import state_fingerprint
from .models import eval_mode

if TYPE_CHECKING:
    from collections.abc import Sequence
    from .cache import ArtifactCache

LEVELS = (1, 4, 16, 64)


def sparse_probabilities(model: torch.nn.Module, pool: Pool, ks: Sequence[int] = LEVELS, eps: float = 1.0,
                         unit: str = "feature", batch_size: int = 250) -> torch.Tensor:
    """Softmax outputs (N, 1 + len(ks), classes): level 0 is the clean input, level j the sparse FGSM input
    at ks[j-1]. Per batch: one input gradient (whose forward gives the clean output) and one forward pass
    over all k levels stacked, run in chunks of `batch_size` images (on a CPU, a 4× larger batch falls out
    of cache and runs slower per image)."""
    out = []
    with eval_mode(model):
        for x, y in pool_batches(pool, batch_size):
            x_adv, logits = sparse_fgsm_levels(model, x, y, ks, eps, unit)
            with torch.inference_mode():
                stacked = x_adv.flatten(0, 1).contiguous(memory_format=torch.channels_last)
                adv_logits = torch.cat([model(chunk) for chunk in stacked.split(batch_size)])
            levels = adv_logits.float().view(len(ks), len(y), -1).transpose(0, 1)
            out.append(torch.cat([logits.float()[:, None], levels], 1).softmax(-1).cpu())
    return torch.cat(out)


def probability_table(indices: torch.Tensor, labels: torch.Tensor, probs: torch.Tensor,
                      ks: Sequence[int]) -> pd.DataFrame:
    """The tidy sensitivity table of probabilities `probs` (N, 1 + len(ks), C) of the samples `indices` with
    `labels`: one row per sample and level (index, label, k, p0…p{C-1}, pred, confidence; k = 0 is clean)."""
    n, levels, classes = probs.shape
    flat = probs.reshape(n * levels, classes)
    frame = pd.DataFrame(flat.double().numpy(), columns=[f"p{c}" for c in range(classes)])
    frame.insert(0, "index", indices.repeat_interleave(levels).numpy())
    frame.insert(1, "label", labels.repeat_interleave(levels).numpy())
    frame.insert(2, "k", torch.tensor([0, *ks]).repeat(n).numpy())
    conf, pred = flat.max(1)
    frame["pred"], frame["confidence"] = pred.numpy(), conf.double().numpy()
    return frame


def sensitivity_table(model: torch.nn.Module, pool: Pool, ks: Sequence[int] = LEVELS, eps: float = 1.0,
                      unit: str = "feature", batch_size: int = 250, cache: ArtifactCache | None = None) -> pd.DataFrame:
    """The tidy sensitivity table (columns index, label, k, p0…p{C-1}, pred, confidence), k = 0 being clean.
    With an `ArtifactCache` it is stored as CSV under the model's weights, the pool and the settings."""

    def compute():
        probs = sparse_probabilities(model, pool, ks, eps, unit, batch_size)
        return probability_table(pool.indices.cpu(), pool.labels.cpu(), probs, ks)

    if cache is None:
        return compute()
    config = {"model": state_fingerprint(model), "pool": pool.fingerprint(), "ks": [int(k) for k in ks],
              "eps": float(eps), "unit": unit}
    return cache.dataframe("sensitivity", config, compute, code=sensitivity_table)


def table_probabilities(table: pd.DataFrame, ks: Sequence[int] = LEVELS,
                        atol: float = 1e-3) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(dataset indices (N,), labels (N,), probabilities (N, 1 + len(ks), C)) from a sensitivity table,
    samples in ascending index order; checks that every level is present and every row sums to 1."""
    prob_cols = sorted((c for c in table.columns if c.startswith("p") and c[1:].isdigit()), key=lambda c: int(c[1:]))
    missing_cols = {"index", "label", "k"} - set(table.columns)
    if missing_cols or not prob_cols:
        raise ValueError(f"not a sensitivity table: missing columns {sorted(missing_cols) or ['p0', 'p1', '...']}")
    levels = [0, *[int(k) for k in ks]]
    present = set(table["k"].unique().tolist())
    for k in levels:
        if k not in present:
            raise ValueError(f"the sensitivity table has no rows for k={k}; recompute it with ks including {k} "
                             f"(it has k levels {sorted(present)})")
    sub = table[table["k"].isin(levels)].sort_values(["index", "k"])
    counts = sub.groupby("index")["k"].nunique()
    if (counts != len(levels)).any():
        bad = counts[counts != len(levels)].index[:5].tolist()
        raise ValueError(f"samples {bad} lack some of the k levels {levels}")
    probs = torch.tensor(sub[prob_cols].to_numpy(dtype=float), dtype=torch.float64).view(-1, len(levels), len(prob_cols))
    if not torch.isfinite(probs).all():
        bad = ~torch.isfinite(probs).flatten(1).all(1)
        raise ValueError(f"the sensitivity table has non-finite probabilities for {int(bad.sum())} samples (e.g. "
                         f"index {int(sub['index'].iloc[int(bad.nonzero()[0]) * len(levels)])}); it is damaged: "
                         "recompute it")
    sums = probs.sum(-1)
    if ((sums - 1).abs() > atol).any():
        flat = (sums - 1).abs().argmax()
        i, j = divmod(int(flat), len(levels))
        raise ValueError(f"probability rows must sum to 1: sample {int(sub['index'].iloc[i * len(levels)])} at "
                         f"k={levels[j]} sums to {float(sums.view(-1)[flat]):.6f}")
    first = sub.groupby("index", sort=True).first()
    return (torch.tensor(first.index.to_numpy()), torch.tensor(first["label"].to_numpy()), probs)


def clean_correct(table: pd.DataFrame) -> pd.Series:
    """Whether the model classifies each sample correctly when clean (level k = 0), by dataset index."""
    clean = table[table.k == 0].set_index("index")
    return (clean["pred"] == clean["label"]).rename("clean_correct")


def flip_rates(table: pd.DataFrame, by_class: bool = False) -> pd.DataFrame:
    """Among samples the model classifies correctly when clean, the share misclassified at each k
    (optionally per true class)."""
    clean = table[table.k == 0].set_index("index")
    correct_idx = clean.index[clean["pred"] == clean["label"]]
    adv = table[(table.k > 0) & table["index"].isin(correct_idx)].assign(flipped=lambda t: t["pred"] != t["label"])
    keys = ["label", "k"] if by_class else ["k"]
    return adv.groupby(keys, as_index=False)["flipped"].mean().rename(columns={"flipped": "flip_rate"})


def flip_rate_sweep(model: torch.nn.Module, pool: Pool, ks: Sequence[int] = LEVELS,
                    eps_values: Sequence[float] = (8 / 255, 32 / 255, 1.0), units: Sequence[str] = ("feature", "pixel"),
                    batch_size: int = 250) -> pd.DataFrame:
    """Flip rate (share of clean-correct samples misclassified) for every unit × ε × k, from one input
    gradient per batch. Columns: unit, eps, eps_255, k, flip_rate, n_correct."""
    flips = torch.zeros(len(units), len(eps_values), len(ks))
    n_correct = 0
    with eval_mode(model):
        for x, y in pool_batches(pool, batch_size):
            grad, logits = input_gradient(model, x, y)
            correct = logits.argmax(1) == y
            n_correct += int(correct.sum())
            for u, unit in enumerate(units):
                for e, eps in enumerate(eps_values):
                    x_adv = sparse_from_gradient(x, grad, ks, eps, unit)
                    with torch.inference_mode():
                        pred = model(x_adv.flatten(0, 1).contiguous(memory_format=torch.channels_last)).argmax(1)
                    wrong = pred.view(len(ks), -1) != y
                    flips[u, e] += (wrong & correct).sum(1).float().cpu()
    rows = [{"unit": unit, "eps": float(eps), "eps_255": float(eps) * 255, "k": int(k),
             "flip_rate": float(flips[u, e, j]) / max(n_correct, 1), "n_correct": n_correct}
            for u, unit in enumerate(units) for e, eps in enumerate(eps_values) for j, k in enumerate(ks)]
    return pd.DataFrame(rows)


__all__ = ["clean_correct", "flip_rate_sweep", "flip_rates", "LEVELS", "probability_table", "sensitivity_table",
           "sparse_probabilities", "table_probabilities"]

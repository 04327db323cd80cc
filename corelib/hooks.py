"""What a training run shows its hooks: the state at every epoch start (where a hook may replace the subset and the
weights, e.g. a coreset renewal) and each epoch's per-sample statistics keyed by dataset index (`EpochRecord`);
`Hook`, the base class, and `RecordPerSample`, which keeps them all."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from .data import Pool

if TYPE_CHECKING:
    from typing import Any


@dataclass
class EpochRecord:
    """Per-sample statistics of one epoch, in the order the samples were seen.

    indices: original dataset indices; loss: per-sample training loss; correct: prediction on the
    trained-on input was right; input_grad_norm: ‖∇ₓ CE(logits, y)‖₂ w.r.t. the (augmented) clean input for the
    logits the objective trains on (at the adversarial example for PGD / FGSM-RS, with the perturbation held fixed;
    the clean logits for TRADES, whose β·KL term is left out), None unless a hook asked for it; margin: the logit
    margin z_y − max_{k≠y} z_k and true_prob: softmax(z)_y of the same logits (AUM, dynamic uncertainty); probs:
    the whole softmax(z), (n, classes), kept out of the tidy table (`RecordPerSample` turns it into TDDS's
    `transition` column).
    """

    epoch: int
    indices: torch.Tensor
    loss: torch.Tensor
    correct: torch.Tensor
    input_grad_norm: torch.Tensor | None = None
    margin: torch.Tensor | None = None
    true_prob: torch.Tensor | None = None
    probs: torch.Tensor | None = None

    def to_frame(self) -> pd.DataFrame:
        """The record as a tidy table: epoch, index, loss, correct (and input_grad_norm, margin, true_prob where
        recorded)."""
        data = {"epoch": self.epoch, "index": self.indices.cpu().numpy(), "loss": self.loss.cpu().numpy(),
                "correct": self.correct.cpu().numpy()}
        for name in ("input_grad_norm", "margin", "true_prob"):
            if getattr(self, name) is not None:
                data[name] = getattr(self, name).cpu().numpy()
        return pd.DataFrame(data)


@dataclass
class TrainState:
    """What hooks see. At `on_epoch_start` a hook may set `subset` (dataset indices) and `weights`, or set `skip`
    to train nothing this epoch (the learning-rate schedule still advances: it follows the epoch index)."""

    model: torch.nn.Module
    pool: Pool
    config: object  # the run's TrainConfig
    epoch: int = 0
    subset: torch.Tensor | None = None
    weights: torch.Tensor | None = None
    skip: bool = False


class Hook:
    """Base class for training hooks. Set `needs_input_grad = True` to get per-sample input-gradient norms.
    `config()` is what a cached run (`fit`) records of the hook: override it to add every setting that changes
    what a run with the hook learns or records (the hook's code enters the key through its module)."""

    needs_input_grad = False

    def config(self) -> dict:
        return {"hook": f"{type(self).__module__}.{type(self).__qualname__}"}

    def on_epoch_start(self, state: TrainState) -> None:
        pass

    def on_epoch_end(self, state: TrainState, record: EpochRecord) -> None:
        pass


class RecordPerSample(Hook):
    """Keeps every epoch's per-sample statistics; `.table` is a tidy DataFrame (epoch, index, loss, correct[, input_grad_norm])."""

    def __init__(self, input_grad: bool = False):
        self.needs_input_grad = bool(input_grad)
        self.records: list[EpochRecord] = []
        self.transitions: dict[int, pd.Series] = {}
        self._previous: pd.DataFrame | None = None

    def config(self) -> dict:
        return {**super().config(), "input_grad": self.needs_input_grad}

    def on_epoch_end(self, state: Any, record: EpochRecord) -> None:
        self.records.append(record)
        if record.probs is None:
            return
        probs = pd.DataFrame(record.probs.cpu().double().numpy(), index=record.indices.cpu().numpy()).sort_index()
        if self._previous is not None:
            self.transitions[record.epoch] = transition_terms(self._previous, probs)
        self._previous = probs

    @property
    def table(self) -> pd.DataFrame:
        """Every recorded epoch as one tidy table (with `transition` from the second epoch on, where recorded)."""
        frames = []
        for r in self.records:
            frame = r.to_frame()
            if self.transitions:
                frame["transition"] = frame["index"].map(self.transitions.get(r.epoch, pd.Series(dtype=float)))
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)


def transition_terms(before: pd.DataFrame, after: pd.DataFrame) -> pd.Series:
    """TDDS's per-sample contribution of one epoch (Zhang et al. 2024, the authors' code): Σ_c |p'_c (log p'_c −
    log p_c)| between the softmax outputs p of one epoch and p' of the next (rows: dataset indices; 1e-8 inside
    the logarithms, as the authors')."""
    shared = after.index.intersection(before.index)
    p, q = before.loc[shared].to_numpy(), after.loc[shared].to_numpy()
    return pd.Series(np.abs(q * (np.log(q + 1e-8) - np.log(p + 1e-8))).sum(1), index=shared)


def _as_hook(h) -> Hook:
    if isinstance(h, Hook):
        return h
    if callable(h):
        wrapper = Hook()
        wrapper.on_epoch_end = h
        return wrapper
    raise TypeError(f"hook {h!r} is neither a corelib.train.Hook nor a callable(state, record)")


__all__ = ["EpochRecord", "Hook", "RecordPerSample", "TrainState", "transition_terms"]

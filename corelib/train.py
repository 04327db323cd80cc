"""One training loop for every chapter.

`train(model, pool, config)` runs SGD (momentum, weight decay, cosine / multi-step / constant
schedule with optional warm-up) on the whole pool or on `subset` (original dataset indices) with
optional per-sample `weights` γ (batch loss Σγℓ / Σγ). Data stay as tensors on the device;
augmentation (4-pixel random crop, horizontal flip) is done per batch on the device. Hooks see the
training state at every epoch start (where they may replace the subset and weights, e.g. coreset
renewal) and per-sample statistics keyed by dataset index at every epoch end.
"""
from __future__ import annotations

import io
import math
import os
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .checks import NonFiniteError, check_integer, check_number
from .data import Pool, augment, batch_positions
from .device import check_precision, resolve_precision
from .evaluate import accuracy
from .files import atomic_write_bytes
from .hashing import config_hash
from .hooks import EpochRecord, Hook, RecordPerSample, TrainState, _as_hook  # noqa: F401 (re-exported)
from .models import build_model
from .objectives import OBJECTIVES, build_objective

if TYPE_CHECKING:
    from collections.abc import Sequence
    from .cache import ArtifactCache

SCHEDULES = ("cosine", "multistep", "constant")


def _check_flag(name, value):
    if value not in (True, False):
        raise ValueError(f"{name}={value!r} must be True or False")


@dataclass
class TrainConfig:
    """Everything that determines a training run (with the model, the pool and the subset)."""

    epochs: int = 15
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    milestones: tuple = (0.5, 0.75)  # multistep: fractions of the run at which lr is multiplied by gamma
    gamma: float = 0.1
    warmup_epochs: float = 0.0
    objective: str = "standard"
    objective_params: dict = field(default_factory=dict)
    augment: bool = True
    seed: int = 0
    precision: str = "auto"  # 'fp32', 'bf16' (autocast for the training steps) or 'auto': bf16 on CUDA, fp32 on CPU
    channels_last: bool = True
    progress: bool = True  # a progress bar over the epochs: display only, not part of `to_dict` (nor of a cache key)

    def __post_init__(self):
        """Every setting is checked here, before any work (values are kept as given, except that an integral float
        such as epochs=15.0 becomes an int)."""
        if self.objective not in OBJECTIVES:
            raise ValueError(f"unknown objective {self.objective!r}; choose one of {sorted(OBJECTIVES)}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; choose one of {SCHEDULES}")
        for name, hint in (("epochs", "passes over the training set"), ("batch_size", "samples per SGD step")):
            number = check_integer(name, getattr(self, name), minimum=1, hint=hint)
            if isinstance(getattr(self, name), float):
                setattr(self, name, number)
        check_number("lr", self.lr, low=0,
                     hint="the peak learning rate, e.g. 0.1; lr=0 records statistics without learning")
        check_number("momentum", self.momentum, low=0, high=1, high_open=True, hint="SGD momentum, e.g. 0.9")
        _check_flag("nesterov", self.nesterov)
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov=True needs momentum > 0 (Nesterov momentum without momentum is undefined); "
                             "set nesterov=False for plain SGD")
        check_number("weight_decay", self.weight_decay, low=0, hint="L2 penalty on the weights, e.g. 5e-4")
        check_number("gamma", self.gamma, low=0, high=1, low_open=True,
                     hint="the multistep schedule multiplies lr by gamma at each milestone, e.g. 0.1")
        if isinstance(self.milestones, (str, bytes)) or not hasattr(self.milestones, "__iter__"):
            raise ValueError(f"milestones={self.milestones!r} must be a sequence of fractions of the run in (0, 1), "
                             "e.g. (0.5, 0.75)")
        for m in self.milestones:
            check_number("milestone", m, low=0, high=1, low_open=True, high_open=True,
                         hint=f"milestones={tuple(self.milestones)} are fractions of the run, e.g. (0.5, 0.75) for "
                              "50 % and 75 % of the epochs, not epoch numbers")
        check_number("warmup_epochs", self.warmup_epochs, low=0, hint="epochs of linear learning-rate warm-up")
        if self.warmup_epochs > self.epochs:
            raise ValueError(f"warmup_epochs={self.warmup_epochs} is longer than the run (epochs={self.epochs}): the "
                             f"learning rate would never reach lr; choose 0 ≤ warmup_epochs ≤ {self.epochs}")
        check_integer("seed", self.seed)
        check_precision(self.precision)
        _check_flag("augment", self.augment)
        _check_flag("channels_last", self.channels_last)
        self.milestones = tuple(self.milestones)
        self.objective_params = dict(self.objective_params)
        build_objective(self.objective, seed=self.seed, **self.objective_params)  # bad objective parameters fail here

    def to_dict(self) -> dict:
        """The configuration as a plain dict (the trainer's part of a cache key), without the display setting
        `progress`."""
        return {k: v for k, v in asdict(self).items() if k != "progress"}

    def lr_at(self, progress: float) -> float:
        """Learning rate at `progress` epochs into the run (fractional)."""
        if self.warmup_epochs and progress < self.warmup_epochs:
            return self.lr * progress / self.warmup_epochs
        if self.schedule == "constant":
            return self.lr
        if self.schedule == "multistep":
            return self.lr * self.gamma ** sum(progress >= m * self.epochs for m in self.milestones)
        span = max(self.epochs - self.warmup_epochs, 1e-12)
        return 0.5 * self.lr * (1 + math.cos(math.pi * min((progress - self.warmup_epochs) / span, 1.0)))


@dataclass
class TrainResult:
    model: torch.nn.Module
    history: pd.DataFrame
    seconds: float
    tables: dict = field(default_factory=dict)  # per-sample tables of named recorder hooks (see `fit`)


def _check_weights(weights, n):
    """Per-sample weights γ: one per training sample, finite, ≥ 0 and with a positive sum (some may be 0: a
    zero-weight sample is seen but not learned from)."""
    weights = torch.as_tensor(weights, dtype=torch.float32).reshape(-1)
    if weights.numel() != n:
        raise ValueError(f"{weights.numel()} weights for {n} training samples; give one weight per sample")
    bad = ~torch.isfinite(weights) | (weights < 0)
    if bad.any():
        where = bad.nonzero().flatten()
        raise ValueError(f"weights must be finite and non-negative: {len(where)} of {n} are not (e.g. weight "
                         f"{float(weights[where[0]])} at position {int(where[0])}); give one weight γ ≥ 0 per sample")
    if weights.sum() <= 0:
        raise ValueError(f"weights must be non-negative and not all zero: all {n} are 0, so there is nothing to "
                         "learn from; give at least one positive weight")
    return weights


def _check_subset(subset):
    """A training subset: a non-empty set of original dataset indices, each at most once (None: the whole pool)."""
    if subset is None:
        return None
    subset = torch.as_tensor(subset).reshape(-1)
    if subset.dtype == torch.bool or subset.is_complex() or (
            subset.is_floating_point() and not bool((subset == subset.round()).all())):
        raise ValueError(f"subset must hold integer dataset indices, got dtype {subset.dtype}; pass indices, not a "
                         "mask or scores")
    subset = subset.to(torch.int64)
    if subset.numel() == 0:
        raise ValueError("subset is empty: give at least one dataset index (or subset=None for the whole pool)")
    values, counts = torch.unique(subset, return_counts=True)
    if (counts > 1).any():
        twice = values[counts > 1]
        raise ValueError(f"subset holds {len(twice)} dataset ind{'ex' if len(twice) == 1 else 'ices'} more than once "
                         f"(e.g. {twice[:5].tolist()}); each sample may appear once: use weights to count a sample more")
    return subset


def _optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """SGD with weight decay on weights only (not on biases and BatchNorm parameters)."""
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    return torch.optim.SGD([{"params": decay, "weight_decay": config.weight_decay},
                            {"params": no_decay, "weight_decay": 0.0}],
                           lr=config.lr, momentum=config.momentum, nesterov=config.nesterov)


def _margin_and_true_prob(logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per sample: z_y − max_{k≠y} z_k (AUM's margin), softmax(z)_y and softmax(z), from a batch's training logits."""
    true = logits.gather(1, y[:, None]).squeeze(1)
    others = logits.scatter(1, y[:, None], float("-inf")).amax(1)
    probs = logits.softmax(1)
    return true - others, probs.gather(1, y[:, None]).squeeze(1), probs


class _Epochs:
    """The per-run machinery of `train`: objective, optimizer, augmentation generator, autocast; `run(epoch,
    subset, weights)` trains one epoch and returns its per-sample record and its history row."""

    def __init__(self, model: torch.nn.Module, pool: Pool, config: TrainConfig, want_grad: bool):
        self.model, self.pool, self.config, self.want_grad = model, pool, config, want_grad
        device = pool.device
        bf16 = resolve_precision(config.precision, device) == "bf16"
        self.autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if bf16 else nullcontext
        self.memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
        self.objective = build_objective(config.objective, seed=config.seed, **config.objective_params)
        self.optimizer = _optimizer(model, config)
        self.generator = torch.Generator().manual_seed(config.seed)

    def run(self, epoch: int, subset, weights) -> tuple[EpochRecord, dict]:
        pool, config, device = self.pool, self.config, self.pool.device
        subset = _check_subset(subset)
        positions = torch.arange(len(pool), device=device) if subset is None else pool.positions(subset.to(device))
        w_cpu = None if weights is None else _check_weights(weights, len(positions)).cpu()
        w = None if w_cpu is None else w_cpu.to(device)
        zero = None if w_cpu is None else w_cpu == 0  # on the CPU: a batch's "all zero" needs no device sync
        n = len(positions)
        losses = torch.empty(n, device=device)
        correct = torch.empty(n, dtype=torch.bool, device=device)
        margins, true_probs = torch.empty(n, device=device), torch.empty(n, device=device)
        probs = torch.empty(n, pool.num_classes, device=device)
        grad_norms = torch.empty(n, device=device) if self.want_grad else None
        order = torch.empty(n, dtype=torch.int64)
        self.model.train()
        steps = math.ceil(n / config.batch_size)
        step_losses = torch.zeros(steps, device=device)  # checked once per epoch (no per-step sync)
        seen = 0
        for step, batch in enumerate(batch_positions(n, config.batch_size, True, self.generator)):
            lr = config.lr_at(epoch + step / steps)
            batch_on_device = batch.to(device)
            wb = None if w is None else w[batch_on_device]
            learn = zero is None or not bool(zero[batch].all())
            loss_vec, logits, y, grad_norm, loss = self._step(positions[batch_on_device], wb, lr, learn)
            step_losses[step] = loss
            sl = slice(seen, seen + len(batch))
            order[sl] = batch
            losses[sl] = loss_vec
            correct[sl] = logits.argmax(1) == y
            margins[sl], true_probs[sl], probs[sl] = _margin_and_true_prob(logits.detach().float(), y)
            if self.want_grad:
                grad_norms[sl] = grad_norm
            seen += len(batch)
        self._check_finite(epoch, steps, step_losses)
        record = EpochRecord(epoch, pool.indices[positions[order.to(device)]], losses, correct, grad_norms, margins,
                             true_probs, probs)
        w_seen = None if w is None else w[order.to(device)]
        row = {"epoch": epoch + 1, "lr": lr, "samples": n,
               "train_loss": (losses.mean() if w_seen is None else (w_seen * losses).sum() / w_seen.sum()).item(),
               "train_acc": correct.float().mean().item()}
        return record, row

    def _check_finite(self, epoch, steps, step_losses):
        """Stop a run whose loss went NaN or ±inf (it diverged), naming the first such step."""
        bad = ~torch.isfinite(step_losses)
        if bool(bad.any()):
            step = int(bad.nonzero()[0, 0])
            config = self.config
            raise NonFiniteError(
                f"training diverged: the loss is {float(step_losses[step])} at epoch {epoch + 1} of {config.epochs}, "
                f"step {step + 1} of {steps} (learning rate {config.lr_at(epoch + step / steps):.6g}); lower the "
                f"learning rate (lr={config.lr:g}), add warm-up (warmup_epochs) or check the data and weights")

    def _step(self, pos, wb, lr, learn=True):
        """One SGD step on the samples at pool positions `pos` with weights `wb` (None: uniform). Returns the
        per-sample losses and logits (detached), the labels, the per-sample input-gradient norms (or None) and the
        batch loss (detached). `learn=False` (a batch whose weights are all zero: Σγℓ / Σγ would be 0/0) runs the
        forward pass only, for the per-sample statistics: no backward, no optimizer step (so no momentum or weight
        decay either), the model's parameters are untouched; its batch loss is 0 and its input-gradient norms are 0,
        as for every zero-weight sample (train-mode BatchNorm statistics still see the batch, as they see every
        zero-weight sample of a mixed batch)."""
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        x = self.pool.float_images(pos)
        if self.config.augment:
            x = augment(x, self.generator)
        x = x.contiguous(memory_format=self.memory_format)
        y = self.pool.labels[pos]
        if self.want_grad:
            x.requires_grad_(True)
        with self.autocast():
            loss_vec, logits = self.objective(self.model, x, y)
        if not learn:
            grad_norm = torch.zeros(len(pos), device=x.device) if self.want_grad else None
            return loss_vec.detach(), logits.detach(), y, grad_norm, torch.zeros((), device=x.device)
        loss = loss_vec.mean() if wb is None else (wb * loss_vec).sum() / wb.sum()
        grad_norm = None
        if self.want_grad and self.objective.name == "trades":
            # AIGN's quantity is ‖∇ₓ CE(f(x), y)‖, not the gradient of TRADES's CE + β·KL: one extra backward
            (ce_grad,) = torch.autograd.grad(F.cross_entropy(logits.float(), y, reduction="sum"), x, retain_graph=True)
            grad_norm = ce_grad.flatten(1).norm(dim=1)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        if self.want_grad and grad_norm is None:
            # the loss is CE(logits, y) itself; x.grad_i = (γ_i / Σγ) ∇ₓℓ_i, so undo the batch weighting to get
            # each sample's own gradient norm
            scale = len(pos) if wb is None else wb.sum() / wb.clamp_min(1e-12)
            grad_norm = x.grad.flatten(1).norm(dim=1) * scale
        return loss_vec.detach(), logits.detach(), y, grad_norm, loss.detach()


def train(model: torch.nn.Module, pool: Pool, config: TrainConfig | None = None, *, subset: torch.Tensor | None = None,
          weights: torch.Tensor | None = None, hooks: Sequence[Hook] = (),
          eval_pool: Pool | None = None) -> TrainResult:
    """Train `model` in place on `pool` (or on `subset`, original dataset indices) and return it with its
    history (one row per epoch: epoch, lr, samples, train_loss, train_acc, seconds[, test_acc]; an epoch a hook
    skipped has samples 0 and no loss or accuracy)."""
    config = config or TrainConfig()
    subset = _check_subset(subset)
    if weights is not None:
        _check_weights(weights, len(pool) if subset is None else len(subset))
    hooks = [_as_hook(h) for h in hooks]
    epochs = _Epochs(model, pool, config, any(h.needs_input_grad for h in hooks))
    state = TrainState(model, pool, config, subset=subset, weights=weights)
    history, start_time = [], time.perf_counter()
    bar = _progress(config.epochs, config.progress)
    for epoch in range(config.epochs):
        state.epoch, state.skip = epoch, False
        for h in hooks:
            h.on_epoch_start(state)
        if state.skip:  # a skipped epoch trains nothing and records nothing; its history row says so
            history.append({"epoch": epoch + 1, "lr": config.lr_at(epoch), "samples": 0,
                            "seconds": time.perf_counter() - start_time})
            bar.update(1)
            continue
        record, row = epochs.run(epoch, state.subset, state.weights)
        if eval_pool is not None:
            row["test_acc"] = accuracy(model, eval_pool)
        row["seconds"] = time.perf_counter() - start_time
        history.append(row)
        for h in hooks:
            h.on_epoch_end(state, record)
        bar.update(1)
        bar.set_postfix({k: f"{v:.3f}" for k, v in row.items() if k in ("train_loss", "train_acc", "test_acc")})
    bar.close()
    _check_finite_model(model, config)
    model.eval()
    return TrainResult(model, pd.DataFrame(history), time.perf_counter() - start_time)


def _check_finite_model(model, config):
    """The trained model's parameters and floating-point buffers are all finite (one device sync), else
    NonFiniteError naming them: a diverged model is never returned, so `fit` never caches one."""
    tensors = [(name, t) for name, t in [*model.named_parameters(), *model.named_buffers()] if t.is_floating_point()]
    if not tensors or bool(torch.stack([torch.isfinite(t).all() for _, t in tensors]).all()):
        return
    bad = [name for name, t in tensors if not bool(torch.isfinite(t).all())]
    raise NonFiniteError(f"training diverged: after {config.epochs} epochs {len(bad)} parameter / buffer tensors of "
                         f"the model are not finite (e.g. {bad[:3]}); lower the learning rate (lr={config.lr:g}), add "
                         "warm-up (warmup_epochs) or check the data and weights")


def _progress(total, enabled):
    """A tqdm bar over epochs; `CORELIB_PROGRESS=0` (set by the book build) turns every bar off."""
    enabled = enabled and os.environ.get("CORELIB_PROGRESS", "1") != "0"
    return tqdm(total=total, desc="epochs", disable=not enabled, leave=False)


def fit(model_name: str, pool: Pool, config: TrainConfig, *, subset: torch.Tensor | None = None,
        weights: torch.Tensor | None = None, eval_pool: Pool | None = None, recorders: dict | None = None,
        cache: ArtifactCache | None = None) -> TrainResult:
    """Build `model_name` (initialised from `config.seed`, the run's one seed) on the pool's device, train it, and
    return the
    result; with an `ArtifactCache`, a run with the same model, data, subset, weights, config and recorders
    is loaded instead of retrained (weights, history and tables are stored together in one checkpoint).
    `recorders`: named hooks with a `.table` DataFrame (e.g. AIGN), returned in `result.tables`; they enter the
    cache key by their `config()` and by the code of their module (and what it imports)."""
    recorders = dict(recorders or {})
    subset = _check_subset(subset)  # before the cache is read: a bad request is never answered from it
    if weights is not None:
        _check_weights(weights, len(pool) if subset is None else len(subset))

    def compute():
        model = build_model(model_name, num_classes=pool.num_classes, seed=config.seed, device=pool.device,
                            channels_last=config.channels_last)
        result = train(model, pool, config, subset=subset, weights=weights, hooks=list(recorders.values()),
                       eval_pool=eval_pool)
        result.tables = {name: hook.table for name, hook in recorders.items()}
        return result

    if cache is None:
        return compute()
    key = {"model": model_name, "model_seed": config.seed, "pool": pool.fingerprint(), "train": config.to_dict(),
           "eval_pool": None if eval_pool is None else eval_pool.fingerprint(),
           "subset": None if subset is None else config_hash({"s": torch.as_tensor(subset).tolist()}),
           "weights": None if weights is None else config_hash({"w": torch.as_tensor(weights).tolist()}),
           "recorders": {name: hook.config() for name, hook in recorders.items()}}

    def save(result, path):
        save_checkpoint(path, result.model, {"history": result.history.to_dict("list"), "seconds": result.seconds,
                                             "tables": {k: v.to_dict("list") for k, v in result.tables.items()}})

    def load(path):
        model = build_model(model_name, num_classes=pool.num_classes, seed=config.seed, device=pool.device,
                            channels_last=config.channels_last)
        meta = load_checkpoint(path, model)
        model.eval()
        tables = {k: pd.DataFrame(v) for k, v in meta.get("tables", {}).items()}
        return TrainResult(model, pd.DataFrame(meta["history"]), meta["seconds"], tables)

    code = (train, *(type(hook) for hook in recorders.values()))
    return cache.get_or_compute("model", key, compute, save, load, ".pt", code=code)


def save_checkpoint(path: str | Path, model: torch.nn.Module, meta: dict | None = None) -> Path:
    """Save the state dict and a JSON-like `meta` dict atomically."""
    buf = io.BytesIO()
    torch.save({"state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}, "meta": meta or {}}, buf)
    return atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: str | Path, model: torch.nn.Module) -> dict:
    """Load weights saved by `save_checkpoint` into `model` (safely: `weights_only=True`); return the meta dict."""
    blob = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(blob["state_dict"])
    return blob["meta"]


__all__ = ["fit", "load_checkpoint", "save_checkpoint", "SCHEDULES", "train", "TrainConfig", "TrainResult"]

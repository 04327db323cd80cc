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

import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .data import Pool, augment, batch_positions
from .evaluate import accuracy
from .models import build_model
from .objectives import OBJECTIVES, build_objective
from .utils import atomic_write_bytes, config_hash

SCHEDULES = ("cosine", "multistep", "constant")


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
    amp: bool | None = None  # None: bf16 autocast on CUDA, off on CPU
    channels_last: bool = True

    def __post_init__(self):
        if self.objective not in OBJECTIVES:
            raise ValueError(f"unknown objective {self.objective!r}; choose one of {sorted(OBJECTIVES)}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; choose one of {SCHEDULES}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs={self.epochs} and batch_size={self.batch_size} must both be ≥ 1")
        self.milestones = tuple(self.milestones)
        self.objective_params = dict(self.objective_params)

    def to_dict(self) -> dict:
        return asdict(self)

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
class EpochRecord:
    """Per-sample statistics of one epoch, in the order the samples were seen.

    indices: original dataset indices; loss: per-sample training loss; correct: prediction on the
    trained-on input was right; input_grad_norm: ‖∇ₓ CE(logits, y)‖₂ w.r.t. the (augmented) clean input for the
    logits the objective trains on (at the adversarial example for PGD / FGSM-RS, with the perturbation held fixed;
    the clean logits for TRADES, whose β·KL term is left out), None unless a hook asked for it.
    """

    epoch: int
    indices: torch.Tensor
    loss: torch.Tensor
    correct: torch.Tensor
    input_grad_norm: torch.Tensor | None = None

    def to_frame(self) -> pd.DataFrame:
        data = {"epoch": self.epoch, "index": self.indices.cpu().numpy(), "loss": self.loss.cpu().numpy(),
                "correct": self.correct.cpu().numpy()}
        if self.input_grad_norm is not None:
            data["input_grad_norm"] = self.input_grad_norm.cpu().numpy()
        return pd.DataFrame(data)


@dataclass
class TrainState:
    """What hooks see. At `on_epoch_start` a hook may set `subset` (dataset indices) and `weights`, or set `skip`
    to train nothing this epoch (the learning-rate schedule still advances: it follows the epoch index)."""

    model: torch.nn.Module
    pool: Pool
    config: TrainConfig
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

    def config(self) -> dict:
        return {**super().config(), "input_grad": self.needs_input_grad}

    def on_epoch_end(self, state, record):
        self.records.append(record)

    @property
    def table(self) -> pd.DataFrame:
        return pd.concat([r.to_frame() for r in self.records], ignore_index=True)


@dataclass
class TrainResult:
    model: torch.nn.Module
    history: pd.DataFrame
    seconds: float
    tables: dict = field(default_factory=dict)  # per-sample tables of named recorder hooks (see `fit`)


def _as_hook(h) -> Hook:
    if isinstance(h, Hook):
        return h
    if callable(h):
        wrapper = Hook()
        wrapper.on_epoch_end = h
        return wrapper
    raise TypeError(f"hook {h!r} is neither a corelib.train.Hook nor a callable(state, record)")


def _check_weights(weights, n):
    weights = torch.as_tensor(weights, dtype=torch.float32).reshape(-1)
    if weights.numel() != n:
        raise ValueError(f"{weights.numel()} weights for {n} training samples; give one weight per sample")
    if (weights < 0).any() or not torch.isfinite(weights).all() or weights.sum() <= 0:
        raise ValueError("weights must be finite, non-negative and not all zero")
    return weights


def _optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """SGD with weight decay on weights only (not on biases and BatchNorm parameters)."""
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    return torch.optim.SGD([{"params": decay, "weight_decay": config.weight_decay},
                            {"params": no_decay, "weight_decay": 0.0}],
                           lr=config.lr, momentum=config.momentum, nesterov=config.nesterov)


class _Epochs:
    """The per-run machinery of `train`: objective, optimizer, augmentation generator, autocast; `run(epoch,
    subset, weights)` trains one epoch and returns its per-sample record and its history row."""

    def __init__(self, model, pool: Pool, config: TrainConfig, want_grad: bool):
        self.model, self.pool, self.config, self.want_grad = model, pool, config, want_grad
        device = pool.device
        amp = (device.type == "cuda") if config.amp is None else config.amp
        self.autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if amp else nullcontext
        self.memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
        self.objective = build_objective(config.objective, seed=config.seed, **config.objective_params)
        self.optimizer = _optimizer(model, config)
        self.generator = torch.Generator().manual_seed(config.seed)

    def run(self, epoch: int, subset, weights) -> tuple[EpochRecord, dict]:
        pool, config, device = self.pool, self.config, self.pool.device
        positions = torch.arange(len(pool), device=device) if subset is None else pool.positions(subset.to(device))
        w = None if weights is None else _check_weights(weights, len(positions)).to(device)
        n = len(positions)
        losses = torch.empty(n, device=device)
        correct = torch.empty(n, dtype=torch.bool, device=device)
        grad_norms = torch.empty(n, device=device) if self.want_grad else None
        order = torch.empty(n, dtype=torch.int64)
        self.model.train()
        steps = math.ceil(n / config.batch_size)
        seen = 0
        for step, batch in enumerate(batch_positions(n, config.batch_size, True, self.generator)):
            lr = config.lr_at(epoch + step / steps)
            batch_on_device = batch.to(device)
            wb = None if w is None else w[batch_on_device]
            loss_vec, logits, y, grad_norm = self._step(positions[batch_on_device], wb, lr)
            sl = slice(seen, seen + len(batch))
            order[sl] = batch
            losses[sl] = loss_vec
            correct[sl] = logits.argmax(1) == y
            if self.want_grad:
                grad_norms[sl] = grad_norm
            seen += len(batch)
        record = EpochRecord(epoch, pool.indices[positions[order.to(device)]], losses, correct, grad_norms)
        w_seen = None if w is None else w[order.to(device)]
        row = {"epoch": epoch + 1, "lr": lr, "samples": n,
               "train_loss": (losses.mean() if w_seen is None else (w_seen * losses).sum() / w_seen.sum()).item(),
               "train_acc": correct.float().mean().item()}
        return record, row

    def _step(self, pos, wb, lr):
        """One SGD step on the samples at pool positions `pos` with weights `wb` (None: uniform). Returns the
        per-sample losses and logits (detached), the labels, and the per-sample input-gradient norms (or None)."""
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
        return loss_vec.detach(), logits.detach(), y, grad_norm


def train(model: torch.nn.Module, pool: Pool, config: TrainConfig | None = None, *, subset=None, weights=None,
          hooks=(), eval_pool: Pool | None = None, progress: bool = True) -> TrainResult:
    """Train `model` in place on `pool` (or on `subset`, original dataset indices) and return it with its
    history (one row per epoch: epoch, lr, samples, train_loss, train_acc, seconds[, test_acc]; an epoch a hook
    skipped has samples 0 and no loss or accuracy)."""
    config = config or TrainConfig()
    hooks = [_as_hook(h) for h in hooks]
    epochs = _Epochs(model, pool, config, any(h.needs_input_grad for h in hooks))
    state = TrainState(model, pool, config, subset=None if subset is None else torch.as_tensor(subset, dtype=torch.int64),
                       weights=weights)
    history, start_time = [], time.perf_counter()
    bar = _progress(config.epochs, progress)
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
    model.eval()
    return TrainResult(model, pd.DataFrame(history), time.perf_counter() - start_time)


def _progress(total, enabled):
    """A tqdm bar over epochs; `CORELIB_PROGRESS=0` (set by the book build) turns every bar off."""
    enabled = enabled and os.environ.get("CORELIB_PROGRESS", "1") != "0"
    return tqdm(total=total, desc="epochs", disable=not enabled, leave=False)


def fit(model_name: str, pool: Pool, config: TrainConfig, *, model_seed: int = 0, subset=None, weights=None,
        eval_pool: Pool | None = None, recorders: dict | None = None, cache=None, progress: bool = True) -> TrainResult:
    """Build `model_name` (initialised from `model_seed`) on the pool's device, train it, and return the
    result; with an `ArtifactCache`, a run with the same model, data, subset, weights, config and recorders
    is loaded instead of retrained (weights, history and tables are stored together in one checkpoint).
    `recorders`: named hooks with a `.table` DataFrame (e.g. AIGN), returned in `result.tables`; they enter the
    cache key by their `config()` and by the code of their module (and what it imports)."""
    recorders = dict(recorders or {})

    def compute():
        model = build_model(model_name, num_classes=pool.num_classes, seed=model_seed, device=pool.device,
                            channels_last=config.channels_last)
        result = train(model, pool, config, subset=subset, weights=weights, hooks=list(recorders.values()),
                       eval_pool=eval_pool, progress=progress)
        result.tables = {name: hook.table for name, hook in recorders.items()}
        return result

    if cache is None:
        return compute()
    key = {"model": model_name, "model_seed": model_seed, "pool": pool.fingerprint(), "train": config.to_dict(),
           "eval_pool": None if eval_pool is None else eval_pool.fingerprint(),
           "subset": None if subset is None else config_hash({"s": torch.as_tensor(subset).tolist()}),
           "weights": None if weights is None else config_hash({"w": torch.as_tensor(weights).tolist()}),
           "recorders": {name: hook.config() for name, hook in recorders.items()}}

    def save(result, path):
        save_checkpoint(path, result.model, {"history": result.history.to_dict("list"), "seconds": result.seconds,
                                             "tables": {k: v.to_dict("list") for k, v in result.tables.items()}})

    def load(path):
        model = build_model(model_name, num_classes=pool.num_classes, seed=model_seed, device=pool.device,
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

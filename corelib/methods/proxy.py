"""DeepCore's selection model and what the methods read off it.

Every method reads a `Proxy`: a model trained on the pool for `selection_epochs` (DeepCore's semantics; one per
seed, shared by all methods), its per-epoch correctness (Forgetting) and its in-training AIGN (EasyCore).
Artifacts several methods read (embeddings, gradients, the sensitivity table, DeepFool distances) are computed
once per proxy (`shared`) but charged in full, passes and seconds, to every selection that reads them, so every
selection is costed as if it ran alone.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, TypeVar

import pandas as pd
import torch
import torch.nn.functional as F

from ..adversarial_coreset import selection_gradients
from ..checks import check_integer
from ..data import Pool
from ..device import one_thread
from ..easycore import AIGN, aign_series
from ..evaluate import embed
from ..sampling import by_class, coreset_size
from ..select import select_by_score
from ..train import RecordPerSample, TrainConfig, fit

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable
    from ..cache import ArtifactCache
    from ..sampling import Chooser

T = TypeVar("T")
# What a selection method returns: dataset indices, weights (None: uniform), per-sample scores (None: the method
# does not score samples one by one).
MethodResult = tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]


@dataclass
class Passes:
    """Per-sample forward and backward evaluations a selection made (beyond training its proxy), and the seconds
    of shared artifacts it reused instead of recomputing (charged to it, so every selection is costed cold)."""

    forward: int = 0
    backward: int = 0
    reused_seconds: float = 0.0


@dataclass
class Proxy:
    """A trained selection model with what DeepCore's methods read from its training run."""

    model: torch.nn.Module
    pool: Pool
    per_sample: pd.DataFrame  # epoch, index, loss, correct (every proxy epoch)
    aign: pd.Series  # EasyCore's AIGN recorded in training, by dataset index
    seconds: float
    epochs: int
    passes: Passes = field(default_factory=Passes)  # proxy training: epochs · n forward and backward
    memo: dict = field(default_factory=dict, repr=False)  # artifacts shared by selections (see `shared`)
    training: dict = field(default_factory=dict, repr=False)  # train_proxy's settings, to train siblings (GraNd)
    seed: int = 0  # the initialisation and shuffling seed it was trained with
    scorer: "Proxy | None" = None  # the model the sensitivity scores and AIGN read, if not this proxy (`scoring`)

    @property
    def scoring(self) -> "Proxy":
        """The model and training run the book's score methods read: `scorer` if set (e.g. the fully trained base
        model, as the sparse-FGSM and EasyCore papers score), else this proxy (DeepCore's semantics)."""
        return self.scorer if self.scorer is not None else self

    def sibling(self, seed: int) -> "Proxy":
        """A proxy trained like this one from another initialisation `seed` (cached like every proxy)."""
        if not self.training:
            raise ValueError("this proxy was not made by train_proxy, so it cannot train a sibling; "
                             "build it with corelib.methods.train_proxy")
        return train_proxy(pool=self.pool, epochs=self.epochs, seed=seed, **self.training)


PROXY_TRAINING = TrainConfig(lr=0.05)  # SGD with momentum, cosine schedule, batch 128, weight decay 5e-4


def train_proxy(model_name: str, pool: Pool, epochs: int, seed: int = 0, config: TrainConfig | None = None,
                cache: ArtifactCache | None = None) -> Proxy:
    """DeepCore's selection model: `model_name` trained on the whole pool with cross-entropy for `epochs` epochs
    (cached). `config`: the SGD settings (default `PROXY_TRAINING`); its epochs and seed are this call's, and its
    warm-up is capped at a quarter of the epochs."""
    check_integer("epochs", epochs, minimum=1, hint="the proxy's training epochs, DeepCore's selection_epochs")
    check_integer("seed", seed)
    config = PROXY_TRAINING if config is None else config
    if config.objective != "standard":
        raise ValueError(f"a proxy is trained with the standard objective (DeepCore), not {config.objective!r}")
    config = replace(config, epochs=int(epochs), warmup_epochs=min(config.warmup_epochs, epochs / 4), seed=seed)
    result = fit(model_name, pool, replace(config, progress=False), cache=cache,
                 recorders={"per_sample": RecordPerSample(), "aign": AIGN("in_training")})
    n = len(pool) * int(epochs)
    training = {"model_name": model_name, "config": config, "cache": cache}
    return Proxy(result.model.eval(), pool, result.tables["per_sample"], aign_series(result.tables["aign"]),
                 result.seconds, int(epochs), Passes(n, n), training=training, seed=int(seed))


def shared(proxy: Proxy, passes: Passes, key: Hashable, compute: Callable[[Passes], T]) -> T:
    """An artifact of the proxy computed once (`compute(own_passes)`) and reused by every selection that reads it,
    e.g. at every fraction. Each selection is still charged the artifact's full cost, passes and seconds, as if it
    had computed it itself."""
    if key not in proxy.memo:
        own = Passes()
        start = time.perf_counter()
        value = compute(own)
        proxy.memo[key] = (value, time.perf_counter() - start, own)
        passes.forward += own.forward
        passes.backward += own.backward
        passes.reused_seconds += own.reused_seconds
        return value
    value, seconds, own = proxy.memo[key]
    passes.forward += own.forward
    passes.backward += own.backward
    passes.reused_seconds += seconds + own.reused_seconds
    return value


def charged(own: Passes, make: Callable[[], Proxy]) -> Proxy:
    """The proxy `make()` trains (or loads from the cache), with its training charged to `own` as if it had been
    trained now: its forward and backward passes, and its training seconds beyond the time the call took (a
    cached proxy costs nothing to load but was paid for once). For selections that read extra proxies: GraNd's and
    EL2N's siblings, dyn_unc_adv's adversarial twin."""
    start = time.perf_counter()
    made = make()
    own.reused_seconds += max(0.0, made.seconds - (time.perf_counter() - start))
    own.forward += made.passes.forward
    own.backward += made.passes.backward
    return made


def embeddings_and_probabilities(proxy: Proxy, passes: Passes,
                                 batch_size: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """Penultimate features (n, D) and softmax outputs (n, C) of the pool, one forward pass."""
    def compute(own):
        features, logits = embed(proxy.model, proxy.pool, batch_size)
        own.forward += len(proxy.pool)
        return features, F.softmax(logits, 1)

    return shared(proxy, passes, "embeddings", compute)


def proxy_gradients(proxy: Proxy, passes: Passes, adversarial: dict | None = None) -> torch.Tensor:
    """Per-sample gradients of CE with respect to the last layer (closed form, no backward pass), at the clean
    input or, with `adversarial` PGD parameters, at the PGD example (adversarial CRAIG / GradMatch, Eq. 18)."""
    n = len(proxy.pool)

    def compute(own):
        if adversarial is None:
            own.forward += n
            return selection_gradients(proxy.model, proxy.pool, "standard")
        steps = int(adversarial.get("steps", 10))
        own.forward += n * (steps + 1)
        own.backward += n * steps
        return selection_gradients(proxy.model, proxy.pool, "pgd", adversarial)

    return shared(proxy, passes, ("gradients", repr(sorted((adversarial or {}).items()))), compute)


def pool_scores(proxy: Proxy, values: torch.Tensor) -> pd.Series:
    """Per-sample values in pool order as a Series indexed by dataset index."""
    return pd.Series(values.double().numpy(), index=proxy.pool.indices.cpu().numpy())


def ranked(proxy: Proxy, scores: pd.Series, fraction: float, seed: int, keep: str, class_balanced: bool,
           method: str) -> MethodResult:
    """A method's result from per-sample scores: the highest (`keep='top'`) or lowest scores of the pool."""
    sel = select_by_score(proxy.pool, scores, fraction, keep, seed=seed, class_balanced=class_balanced, method=method)
    return sel.indices, None, sel.scores


def require_class_balance(name: str, class_balanced: bool) -> None:
    """Pairwise methods run class by class: a pool-wide run would need an n×n matrix."""
    if not class_balanced:
        raise ValueError(f"{name} compares samples pairwise and runs class by class; use class_balanced=True "
                         "(a pool-wide run would need an n×n matrix)")


@one_thread
def class_by_class(proxy: Proxy, fraction: float, seed: int,
                   choose: Chooser) -> MethodResult:
    """Run `choose(members, k, generator)` class by class (`sampling.by_class`); returns the method's result. The
    per-class work (one class's small matrices, greedy loops) runs on one thread (`utils.one_thread`), so its time
    does not depend on what else the machine runs; compute pool-wide passes before calling it."""
    labels = proxy.pool.labels.cpu()
    positions, weights = by_class(labels, coreset_size(len(labels), fraction), seed, choose)
    return proxy.pool.indices.cpu()[positions], weights, None


__all__ = ["charged", "class_by_class", "embeddings_and_probabilities", "MethodResult", "Passes", "pool_scores", "Proxy", "proxy_gradients",
           "PROXY_TRAINING", "ranked", "require_class_balance", "shared", "train_proxy"]

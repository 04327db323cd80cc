"""The benchmark (chapter 8): every selection method × fraction × seed under DeepCore's semantics, with clean,
FGSM-ε and PGD accuracy and the selection's cost, from a profile or the command line. Only what a cell computes
lives here (its import closure is the code hash that marks recorded rows stale); the tables that present the rows
are in `experiments.tables`."""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import pandas as pd

from .. import methods
from ..adversarial_coreset import coreset_start, warm_epochs
from ..attacks import PGD
from ..cache import ArtifactCache
from ..data import Pool
from ..easycore import aign_series
from ..hashing import code_hash, state_fingerprint
from ..sampling import check_fraction, class_balanced_pool, coreset_size
from ..settings import Settings
from ..train import TrainConfig, fit
from .base import autoattack_for, base_setup, profile_pools
from .grid import GridOptions, distributed_env, run_grid
from .suite import EvaluationSuite
from .training import coreset_config

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path
    import torch
    from ..train import TrainResult

BENCH_KEYS = ("method", "fraction", "seed")
TRACKS = ("standard", "adversarial")
# Algorithm 1 (chapter 7) as benchmark methods of the adversarial track: warm start, renewals every T epochs,
# weighted adversarial training, within the same epochs as every other method's coreset training
SCORED = ("sparse-FGSM sensitivity", "hardness")  # the families that read `proxy.scoring`


def base_scorer(base: TrainResult, pool: Pool) -> methods.Proxy:
    """The papers' scoring model as a `Proxy` over the benchmark pool: the fully trained base model (the sparse-FGSM
    paper scores a trained ResNet-18) and the AIGN recorded over its whole training run (averaged over training, as EasyCore's abstract defines it;
    read off the training steps, our `in_training` mode),
    from `base_setup(...).run` (trained with `base_aign_every`)."""
    if "aign_in_training" not in base.tables:
        raise ValueError("the base run has no AIGN table; train it with base_aign_every (a profile key) set")
    aign = aign_series(base.tables["aign_in_training"])
    missing = set(pool.indices.tolist()) - set(aign.index)
    if missing:
        raise ValueError(f"{len(missing)} benchmark pool samples were not in the base model's training pool; "
                         "draw the benchmark pool from the profile's train pool")
    epochs = int(base.history["epoch"].max())
    return methods.Proxy(base.model.eval(), pool, pd.DataFrame(), aign.loc[pool.indices.tolist()], base.seconds, epochs)


@dataclass(frozen=True)
class Benchmark:
    """What every cell of a benchmark grid shares: the pool the methods select from, the model and how a coreset
    is trained (`config`: its objective is the track's; `epochs` passes over the coreset but at least `min_steps`
    SGD steps), how the proxy is trained (`selection_epochs`), the evaluation suite every trained model gets, and
    per-method keyword arguments (`method_params`, e.g. {"grand": {"repeats": 10}}).

    `scorer`: the model the sparse-FGSM scores and EasyCore's AIGN read instead of the proxy (`base_scorer`: the
    fully trained base model, as the papers score); the other methods always read the proxy. `acs`: Algorithm 1's
    settings for acs_craig / acs_gradmatch (warm_start, period, batch_wise).

    Tracks. 'standard' (DeepCore's semantics) trains each coreset with the standard objective; 'adversarial' trains
    it with `config`'s adversarial objective (FGSM-RS, PGD or TRADES), with the weights the method returns; the
    selection still reads the standard-trained proxy, so the two tracks differ only in how the coreset is trained.
    In this track `acs_craig` / `acs_gradmatch` run Algorithm 1 for the same epochs as every other method's coreset
    training."""

    pool: Pool
    model_name: str
    config: TrainConfig
    suite: EvaluationSuite
    epochs: int
    min_steps: int
    selection_epochs: int
    track: str = "standard"
    method_params: dict = field(default_factory=dict)
    scorer: methods.Proxy | None = None
    acs: dict = field(default_factory=lambda: {"warm_start": 0.5, "period": 4, "batch_wise": None})
    sizes: dict = field(default_factory=dict)  # the evaluation sets' sizes every row carries (test_size, robust_size)

    def check(self, names: Sequence[str]) -> None:
        """Every setting and method name, before any work (a ValueError names the bad one)."""
        if self.track not in TRACKS:
            raise ValueError(f"track={self.track!r}; choose 'standard' (coresets trained with the standard objective) "
                             "or 'adversarial' (trained with an adversarial objective)")
        if (self.track == "standard") != (self.config.objective == "standard"):
            raise ValueError(f"track={self.track!r} with objective={self.config.objective!r}: the standard track "
                             "trains with the standard objective, the adversarial track with an adversarial one "
                             "(fgsm_rs, pgd, trades)")
        for m in names:
            methods.check_method(m, self.track)
        if "dyn_unc_adv" in names and self.config.objective == "trades":
            raise ValueError("dyn_unc_adv reads the predictions at the adversarial examples, which the trainer records "
                             "for pgd and fgsm_rs, not TRADES: leave it out, or use bench_adv_objective pgd or fgsm_rs")
        for name, value, low in (("epochs", self.epochs, 1), ("min_steps", self.min_steps, 0),
                                 ("selection_epochs", self.selection_epochs, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name}={value!r} must be an integer ≥ {low}")

    def grid_config(self, names: Sequence[str]) -> dict:
        """Everything the cells share, for the grid's configuration hash."""
        return {"model": self.model_name, "pool": self.pool.fingerprint(), "suite": self.suite.config(),
                "config": self.config.to_dict(), "epochs": self.epochs, "min_steps": self.min_steps,
                "selection_epochs": self.selection_epochs, "method_params": self.method_params,
                "scorer": None if self.scorer is None else state_fingerprint(self.scorer.model), "track": self.track,
                "acs": self.acs if any(m in methods.TRAINING_METHODS for m in names) else None,
                "code": code_hash(run_benchmark)}


class _Cells:
    """Runs one benchmark cell: a selected coreset trained and measured, or Algorithm 1 (acs_*)."""

    def __init__(self, bench: Benchmark, cache: ArtifactCache | None) -> None:
        self.bench, self.cache, self.proxies = bench, cache, {}

    def proxy(self, seed: int) -> methods.Proxy:
        """The seed's proxy, trained once and shared by every method of the seed."""
        b = self.bench
        if seed not in self.proxies:
            c = b.config  # the coreset training's SGD settings; the proxy itself trains with cross-entropy
            sgd = TrainConfig(lr=c.lr, batch_size=c.batch_size, weight_decay=c.weight_decay,
                              warmup_epochs=c.warmup_epochs, precision=c.precision)
            self.proxies[seed] = methods.train_proxy(b.model_name, b.pool, b.selection_epochs, seed, sgd, self.cache)
            self.proxies[seed].scorer = b.scorer
        return self.proxies[seed]

    def __call__(self, cell: dict) -> dict:
        return self.run_training(cell) if cell["method"] in methods.TRAINING_METHODS else self.run_selected(cell)

    def run_selected(self, cell: dict) -> dict:
        b = self.bench
        start = time.perf_counter()
        proxy = self.proxy(cell["seed"])  # trained (or loaded) by the seed's first cell, shared by the others
        setup = time.perf_counter() - start
        selection = methods.select_coreset(cell["method"], proxy, cell["fraction"], cell["seed"],
                                           **b.method_params.get(cell["method"], {}))
        run_config = replace(coreset_config(b.config, len(selection), b.epochs, b.min_steps), seed=cell["seed"],
                             progress=False)
        result = fit(b.model_name, b.pool, run_config, subset=selection.indices,
                     weights=selection.weights, cache=self.cache)
        scored = b.scorer is not None and methods.METHODS[cell["method"]].family in SCORED
        row = self.measure(cell, result.model, len(selection), selection.weights is not None, run_config.epochs,
                           "base" if scored else "proxy")
        row.update(select_seconds=round(selection.seconds, 3), warm_epochs=float("nan"), degenerate_schedule=False,
                   forward_passes=round(selection.config["forward_passes"], 3),
                   backward_passes=round(selection.config["backward_passes"], 3),
                   proxy_seconds=round(proxy.seconds, 2), train_seconds=round(result.seconds, 2),
                   setup_seconds=round(setup, 2))
        return row

    def run_training(self, cell: dict) -> dict:
        """A method that trains as it selects (Algorithm 1), for as many epochs as the other methods' coreset
        training at this fraction."""
        b = self.bench
        size = coreset_size(len(b.pool), cell["fraction"])
        run_config = coreset_config(b.config, size, b.epochs, b.min_steps)
        result = methods.TRAINING_METHODS[cell["method"]].train(b.model_name, b.pool, run_config, cell["fraction"],
                                                                 cell["seed"], self.cache, b.acs)
        renewals = result.tables.get("coreset", pd.DataFrame(columns=["seconds", "size"]))
        row = self.measure(cell, result.model, size, True, run_config.epochs, "training")
        # W warm-start epochs; K = ⌊κE⌋ > 0 with W = 0 is a degenerate schedule (no warm start: the first coreset is chosen
        # by the untrained network), which every table that shows the row marks (‡)
        warm = warm_epochs(run_config.epochs, b.acs["warm_start"], cell["fraction"])
        skipped = coreset_start(run_config.epochs, b.acs["warm_start"]) - warm
        row.update(warm_epochs=warm, degenerate_schedule=bool(skipped > 0 and warm == 0))
        # the selection runs inside training (renewals): its time is counted in train_seconds and shown apart
        row.update(select_seconds=round(float(renewals["seconds"].sum()), 3), forward_passes=float("nan"),
                   backward_passes=float("nan"), proxy_seconds=0.0, train_seconds=round(result.seconds, 2),
                   setup_seconds=0.0)
        return row

    def measure(self, cell, model: torch.nn.Module, size, weighted, run_epochs, scored_by) -> dict:
        b = self.bench
        row = {"track": b.track, "objective": b.config.objective, "size": size, "weighted": weighted,
               "epochs": run_epochs, "scored_by": scored_by, "pool_size": len(b.pool)}
        start = time.perf_counter()
        measured = b.suite.run(model, cell)
        return {**row, **b.sizes, **measured, "eval_seconds": round(time.perf_counter() - start, 2)}


def run_benchmark(bench: Benchmark, names: Sequence[str], fractions: Sequence[float], seeds: Sequence[int],
                  path: str | Path, cache: ArtifactCache | None = None,
                  options: GridOptions | None = None) -> pd.DataFrame:
    """The benchmark grid method × fraction × seed (DeepCore semantics). Per cell: the seed's proxy model
    (`methods.train_proxy`, `selection_epochs` on the pool, shared by all methods), the method's coreset, a fresh
    model trained on it (weighted if the method gives weights), measured by the benchmark's evaluation suite
    (`test_acc`, `top_class_share`, `fgsm_<ε·255>`, `pgd_acc`, `autoattack_acc` and whatever else it holds). Rows
    also hold the selection's seconds and forward / backward passes over the pool, and `scored_by`: which model the
    method read. Resumable and shardable (`run_grid`; rank / world default to torchrun's environment)."""
    names, fractions, seeds = list(names), list(fractions), list(seeds)
    for name, values in (("methods", names), ("fractions", fractions), ("seeds", seeds)):
        if not values:
            raise ValueError(f"no {name} to run: give at least one")
    bench.check(names)
    for f in fractions:
        check_fraction(f)
    options = options or GridOptions()
    if options.rank is None or options.world is None:
        options = replace(options, rank=distributed_env()[0], world=distributed_env()[1])
    # fraction-major: a grid stopped part-way (`hours`) has every method at the first fractions, so the methods can
    # be compared there while the rest is still to run
    cells = [{"method": m, "fraction": float(f), "seed": int(s)} for f in fractions for m in names for s in seeds]
    return run_grid(cells, _Cells(bench, cache), path, keys=BENCH_KEYS, config=bench.grid_config(names),
                    accuracies=bench.suite.accuracy_columns, options=options)


def coreset_training(settings: Settings) -> TrainConfig:
    """The coreset training of the settings' track: the standard objective, or `bench_adv_objective` (fgsm_rs: FGSM
    with a random start, Wong et al. 2020, step 1.25 ε; pgd / trades: `bench_adv_steps` steps of pgd_alpha_255) at
    eps_255."""
    b, ev = settings.benchmark, settings.evaluation
    config = TrainConfig(lr=b.lr, batch_size=b.batch_size, warmup_epochs=b.warmup_epochs,
                         weight_decay=settings.base.weight_decay, precision=settings.data.precision)
    if b.track == "standard":
        return config
    params = {"eps": ev.eps}
    if b.adv_objective in ("pgd", "trades"):
        params.update(alpha=ev.pgd_alpha_255 / 255, steps=b.adv_steps)
    if b.adv_objective == "trades":
        params["beta"] = settings.easycore.trades_beta
    return replace(config, objective=b.adv_objective, objective_params=params)


def benchmark_from_settings(settings: Settings, cache: ArtifactCache | None = None) -> Benchmark:
    """The benchmark of the settings (`settings.benchmark` and the data, evaluation and Algorithm 1 settings it
    reads): the class-balanced benchmark pool (bench_pool_size) and test images (bench_test_size for clean
    accuracy, bench_robust_size for FGSM, PGD and, in the adversarial track, AutoAttack), the track's coreset
    training, the scoring model (`scoring_model` 'base': the sparse-FGSM scores and AIGN read the base model of
    `base_setup`, as the papers score; 'proxy': DeepCore's semantics) and the methods' own settings (GraNd's
    repeats, DeepFool's iterations)."""
    b, ev = settings.benchmark, settings.evaluation
    seed = settings.data.pool_seed
    train_pool, test_pool = profile_pools(settings.data)
    pool = class_balanced_pool(train_pool, b.pool_size, seed=seed)
    robust_pool = class_balanced_pool(test_pool, b.robust_size, seed=seed)
    test_pool = class_balanced_pool(test_pool, b.test_size, seed=seed)
    pgd = PGD(eps=ev.eps, alpha=ev.pgd_alpha_255 / 255, steps=ev.robust_pgd_steps, seed=settings.data.seed)
    # AutoAttack in the adversarial track; the standard track's models PGD already leaves near 0 at 8/255
    autoattack = None if b.track == "standard" else autoattack_for(settings)
    suite = EvaluationSuite.of(test_pool, robust_pool, fgsm_eps=[e / 255 for e in b.fgsm_eps_255], pgd=pgd,
                               autoattack=autoattack, always_autoattack=True)
    scorer = None
    if b.scoring_model == "base":
        scorer = base_scorer(base_setup(settings, cache=cache, progress=False).run, pool)
    acs = {"warm_start": settings.acs.warm_start, "period": settings.acs.period,
           "batch_wise": settings.acs.batch_wise or None, "renewal": settings.acs.renewal}
    training = coreset_training(settings)
    own = {"grand": {"repeats": b.grand_repeats}, "deepfool": {"max_iter": b.deepfool_iterations},
           "forgetting": {"never_learned": b.forgetting_never_learned},
           "el2n": {"repeats": b.grand_repeats}}  # EL2N reads the proxies GraNd trains
    if b.track == "adversarial":  # the adversarial proxy of dyn_unc_adv trains with the track's attack
        own["dyn_unc_adv"] = {"objective": training.objective, "objective_params": training.objective_params}
    return Benchmark(pool, settings.data.model_name, training, suite, b.epochs, b.min_steps, b.selection_epochs,
                     b.track, own, scorer, acs, {"test_size": len(test_pool), "robust_size": len(robust_pool)})


def benchmark_grid(settings: Settings, names: Sequence[str], fractions: Sequence[float], seeds: Sequence[int],
                   path: str | Path, cache: ArtifactCache | None = None,
                   options: GridOptions | None = None) -> pd.DataFrame:
    """`run_benchmark` with the benchmark of the settings (`benchmark_from_settings`); a collapsed or diverged cell
    is run once more from another seed where the settings say `retry_collapsed`."""
    cache = ArtifactCache() if cache is None else cache
    return run_benchmark(benchmark_from_settings(settings, cache), names, fractions, seeds, path, cache,
                         grid_options(settings, options))


def grid_options(settings: Settings, options: GridOptions | None = None) -> GridOptions:
    """`options` (default: one process, every cell) with a collapsed cell retried where the settings say
    `retry_collapsed`."""
    options = options or GridOptions()
    return replace(options, retry=True) if settings.benchmark.retry_collapsed else options


__all__ = ["base_scorer", "BENCH_KEYS", "Benchmark", "benchmark_from_settings", "benchmark_grid", "coreset_training",
           "grid_options",
           "run_benchmark", "SCORED", "TRACKS"]

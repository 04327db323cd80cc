"""The benchmark (chapter 8): every selection method × fraction × seed under DeepCore's semantics, with clean,
FGSM-ε and PGD accuracy and the selection's cost, from a profile or the command line; and its tables."""
from __future__ import annotations

from dataclasses import replace

import pandas as pd

from .. import baselines
from ..attacks import PGD
from ..cache import ArtifactCache
from ..data import Pool
from ..evaluate import accuracy, fgsm_sweep, robust_accuracy
from ..sampling import check_fraction, class_balanced_pool
from ..train import TrainConfig, fit
from ..utils import code_hash
from .base import profile_pools
from .grid import distributed_env, run_grid
from .training import coreset_config


BENCH_KEYS = ("method", "fraction", "seed")


def run_benchmark(methods, fractions, seeds, pool: Pool, test_pool: Pool, robust_pool: Pool, model_name: str,
                  config: TrainConfig, epochs: int, min_steps: int, selection_epochs: int, fgsm_eps, pgd, path,
                  cache=None, rank: int | None = None, world: int | None = None, method_params: dict | None = None,
                  log=print) -> pd.DataFrame:
    """The benchmark grid method × fraction × seed (DeepCore semantics). Per cell: the seed's proxy model
    (`baselines.train_proxy`, `selection_epochs` on the pool, shared by all methods), the method's coreset, a
    fresh `model_name` trained on it (weighted if the method gives weights) for `epochs` epochs (at least
    `min_steps` steps), then clean test accuracy, FGSM accuracy at every ε in `fgsm_eps` (columns fgsm_<ε·255>)
    and PGD robust accuracy (`pgd`, an attack) on `robust_pool`. Rows also hold the selection's seconds and
    forward / backward passes over the pool. Resumable and shardable (`run_grid`; rank / world default to
    torchrun's environment)."""
    for m in methods:
        baselines.check_method(m)
    if rank is None or world is None:
        rank, world = distributed_env()
    method_params = dict(method_params or {})
    cells = [{"method": m, "fraction": float(f), "seed": int(s)} for m in methods for f in fractions for s in seeds]
    for f in fractions:
        check_fraction(f)
    shared = {"model": model_name, "pool": pool.fingerprint(), "test_pool": test_pool.fingerprint(),
              "robust_pool": robust_pool.fingerprint(), "pgd": pgd.config(), "fgsm_eps": [float(e) for e in fgsm_eps],
              "config": config.to_dict(), "epochs": epochs, "min_steps": min_steps, "selection_epochs": selection_epochs,
              "method_params": method_params,
              "code": code_hash(run_benchmark)}
    proxies = {}

    def proxy_for(seed):
        if seed not in proxies:
            proxies[seed] = baselines.train_proxy(model_name, pool, selection_epochs, seed, lr=config.lr,
                                                  batch_size=config.batch_size, weight_decay=config.weight_decay,
                                                  warmup_epochs=config.warmup_epochs, cache=cache)
        return proxies[seed]

    def run(cell):
        proxy = proxy_for(cell["seed"])
        selection = baselines.select_coreset(cell["method"], proxy, cell["fraction"], cell["seed"],
                                             **method_params.get(cell["method"], {}))
        run_config = replace(coreset_config(config, len(selection), epochs, min_steps), seed=cell["seed"])
        result = fit(model_name, pool, run_config, model_seed=cell["seed"], subset=selection.indices,
                     weights=selection.weights, cache=cache, progress=False)
        sweep = fgsm_sweep(result.model, robust_pool, fgsm_eps)
        row = {"size": len(selection), "weighted": selection.weights is not None, "epochs": run_config.epochs,
               "test_acc": accuracy(result.model, test_pool)}
        row.update({f"fgsm_{round(e, 2):g}": a for e, a in zip(sweep["eps_255"], sweep["accuracy"])})
        row.update(pgd_acc=robust_accuracy(result.model, robust_pool, pgd), select_seconds=round(selection.seconds, 3),
                   forward_passes=round(selection.config["forward_passes"], 3),
                   backward_passes=round(selection.config["backward_passes"], 3),
                   proxy_seconds=round(proxy.seconds, 2), train_seconds=round(result.seconds, 2))
        return row

    return run_grid(cells, run, path, keys=BENCH_KEYS, config=shared, log=log, rank=rank, world=world)


def fgsm_curves(results: pd.DataFrame) -> pd.DataFrame:
    """The fgsm_<ε> columns of benchmark rows as a tidy table: method, fraction, seed, eps_255, accuracy."""
    cols = [c for c in results.columns if c.startswith("fgsm_")]
    tidy = results.melt(id_vars=["method", "fraction", "seed"], value_vars=cols, var_name="eps_255",
                        value_name="accuracy")
    tidy["eps_255"] = tidy["eps_255"].str.removeprefix("fgsm_").astype(float)
    return tidy


def table_mean_std(results: pd.DataFrame, value: str = "test_acc", scale: float = 100.0) -> pd.DataFrame:
    """methods × fractions: 'mean ± std' over seeds (in % by default), as the papers print them."""
    s = results.groupby(["method", "fraction"])[value].agg(["mean", "std"]).reset_index()
    s["cell"] = [f"{scale * m:.1f} ± {scale * (0 if pd.isna(sd) else sd):.1f}" for m, sd in zip(s["mean"], s["std"])]
    return s.pivot(index="method", columns="fraction", values="cell")


def best_three(results: pd.DataFrame, value: str = "test_acc") -> pd.DataFrame:
    """methods × fractions of booleans: is the method among the three best means of its column?"""
    means = results.groupby(["method", "fraction"])[value].mean().unstack("fraction")
    return means.rank(ascending=False, method="min") <= 3


def benchmark_from_params(params: dict, methods, fractions, seeds, path, cache=None, rank=None, world=None,
                          log=print) -> pd.DataFrame:
    """`run_benchmark` with the settings of a profile (or a chapter's parameters): data (train_size, test_size,
    pool_seed, data_root, device), model, bench_lr / bench_batch_size / bench_warmup_epochs / weight_decay, the
    benchmark pool (bench_pool_size), training (bench_epochs, bench_min_steps, selection_epochs) and evaluation
    (bench_test_size for clean accuracy; bench_fgsm_eps_255, eps_255, pgd_alpha_255, robust_pgd_steps, bench_robust_size,
    seed for FGSM and PGD)."""
    p = params
    train_pool, test_pool = profile_pools(p)
    pool = class_balanced_pool(train_pool, min(int(p["bench_pool_size"]), len(train_pool)), seed=p["pool_seed"])
    robust_pool = class_balanced_pool(test_pool, min(int(p["bench_robust_size"]), len(test_pool)), seed=p["pool_seed"])
    test_pool = class_balanced_pool(test_pool, min(int(p["bench_test_size"]), len(test_pool)), seed=p["pool_seed"])
    config = TrainConfig(lr=p["bench_lr"], batch_size=p["bench_batch_size"], warmup_epochs=p["bench_warmup_epochs"],
                         weight_decay=p["weight_decay"])
    pgd = PGD(eps=p["eps_255"] / 255, alpha=p["pgd_alpha_255"] / 255, steps=p["robust_pgd_steps"], seed=p["seed"])
    return run_benchmark(methods, fractions, seeds, pool, test_pool, robust_pool, p["model"], config,
                         p["bench_epochs"], p["bench_min_steps"], p["selection_epochs"],
                         [e / 255 for e in p["bench_fgsm_eps_255"]], pgd, path,
                         cache=ArtifactCache() if cache is None else cache, rank=rank, world=world, log=log)


def selection_cost(results: pd.DataFrame) -> pd.DataFrame:
    """Per method: mean selection seconds, forward and backward passes over the pool (beyond the shared proxy),
    and the proxy's training seconds, sorted by time."""
    return (results.groupby("method")[["select_seconds", "forward_passes", "backward_passes", "proxy_seconds"]]
            .mean().sort_values("select_seconds"))

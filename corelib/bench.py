"""Coreset experiments as grids of cells (method × keep × fraction × seed), each cell a row of a tidy
results table that is written atomically after every cell, so an interrupted grid resumes where it
stopped and never leaves a corrupt file.

A grid can be sharded across processes, GPUs or machines: with `world > 1` (by default RANK and WORLD_SIZE
from torchrun's environment) a process runs every world-th cell and writes its own shard file beside the
results path; `merge_shards` joins them into the results table.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterable, Sequence

import pandas as pd

from .data import Pool
from .evaluate import accuracy, robust_accuracy
from .select import Selection, check_fraction, random_selection, select_by_score
from .train import TrainConfig, fit
from .utils import atomic_save_csv, config_hash, source_hash

CELL_KEYS = ("method", "keep", "fraction", "seed")


def _key(cell: dict, keys: Sequence[str]) -> tuple:
    return tuple(str(cell.get(k)) for k in keys)


def distributed_env() -> tuple[int, int]:
    """(rank, world size) from torchrun's RANK and WORLD_SIZE (0, 1 outside torchrun)."""
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    if not 0 <= rank < world:
        raise ValueError(f"RANK={rank} must lie in [0, WORLD_SIZE={world})")
    return rank, world


def shard_path(path: str | Path, rank: int, world: int) -> Path:
    """Where shard `rank` of `world` writes its rows: results.csv → results.rank0-of-2.csv."""
    path = Path(path)
    return path.with_name(f"{path.stem}.rank{rank}-of-{world}{path.suffix}")


def _read_rows(path: Path, grid_config: str, log) -> list[dict]:
    if not path.is_file():
        return []
    done = pd.read_csv(path)
    if not len(done):
        return []
    same = done.get("grid_config", pd.Series("", index=done.index)).astype(str) == grid_config
    if not same.all():
        log(f"{path.name}: discarding {int((~same).sum())} rows computed under another configuration")
    return done[same].to_dict("records")


def run_grid(cells: Iterable[dict], run_cell: Callable[[dict], dict], path: str | Path,
             keys: Sequence[str] = CELL_KEYS, config: dict | None = None, log=print, rank: int = 0,
             world: int = 1) -> pd.DataFrame:
    """Run every cell whose key is not yet in the CSV at `path`, appending its row (cell fields + the dict
    `run_cell` returns) and rewriting the CSV atomically after each cell. Returns the rows of `cells`.

    `config` describes everything the cells share (data, training settings, scores, code version); its hash
    is stored with every row, and rows written under another configuration are discarded, so a grid resumes
    only the run it belongs to. With `world > 1` this process runs cells rank, rank + world, … and writes them
    to `shard_path(path, rank, world)` (cells already in `path` are skipped); join the shards with `merge_shards`."""
    cells = list(cells)
    seen = {}
    for cell in cells:
        k = _key(cell, keys)
        if k in seen:
            raise ValueError(f"duplicate grid cell {dict(zip(keys, k))}; every cell must differ in {list(keys)}")
        seen[k] = cell
    if not 0 <= rank < world:
        raise ValueError(f"rank {rank} must lie in [0, world={world})")
    path = Path(path)
    grid_config = config_hash(config or {})
    merged = _read_rows(path, grid_config, log)
    out = path if world == 1 else shard_path(path, rank, world)
    rows = merged if world == 1 else _read_rows(out, grid_config, log)
    finished = {_key(r, keys) for r in merged + rows}
    mine = cells if world == 1 else cells[rank::world]
    todo = [c for c in mine if _key(c, keys) not in finished]
    if len(todo) < len(mine):
        log(f"resuming {out.name}: {len(mine) - len(todo)} of {len(mine)} cells already done")
    for cell in todo:
        start = time.perf_counter()
        row = {**cell, **run_cell(cell), "cell_seconds": round(time.perf_counter() - start, 2),
               "grid_config": grid_config}
        rows.append(row)
        atomic_save_csv(pd.DataFrame(rows), out)
    table = pd.DataFrame(merged + rows if world > 1 else rows)
    wanted = {_key(c, keys) for c in cells}
    return table[[_key(r, keys) in wanted for r in table.to_dict("records")]].reset_index(drop=True)


def merge_shards(path: str | Path, world: int, keys: Sequence[str] = CELL_KEYS, remove: bool = True) -> pd.DataFrame:
    """Join the rows of `path` and of its `world` shard files into `path` (atomically), one row per cell key
    (a shard's row wins over an older merged one); with `remove`, delete the shard files afterwards."""
    path = Path(path)
    parts = [pd.read_csv(p) for p in [path] + [shard_path(path, r, world) for r in range(world)] if p.is_file()]
    parts = [p for p in parts if len(p)]
    if not parts:
        raise FileNotFoundError(f"no results at {path} nor in its {world} shard files; run the grid first")
    table = pd.concat(parts, ignore_index=True)
    table["_key"] = [_key(r, keys) for r in table.to_dict("records")]
    table = table.drop_duplicates("_key", keep="last").drop(columns="_key").reset_index(drop=True)
    atomic_save_csv(table, path)
    if remove:
        for r in range(world):
            shard_path(path, r, world).unlink(missing_ok=True)
    return table


def coreset_config(config: TrainConfig, size: int, epochs: int, min_steps: int = 0) -> TrainConfig:
    """The training run for a coreset of `size` samples: `epochs` passes over it (DeepCore semantics), but
    at least `min_steps` SGD steps, so a tiny coreset is not trained for a handful of steps only."""
    steps_per_epoch = math.ceil(size / config.batch_size)
    epochs = max(int(epochs), math.ceil(min_steps / steps_per_epoch))
    return replace(config, epochs=epochs, warmup_epochs=min(config.warmup_epochs, epochs / 4))


def train_on_selection(selection: Selection, pool: Pool, test_pool: Pool, model_name: str, config: TrainConfig,
                       epochs: int, min_steps: int, seed: int, cache=None, attack=None, robust_pool: Pool | None = None) -> dict:
    """Train a fresh model on the selected samples (weighted if the selection has weights) and return
    size, epochs, test accuracy, training and selection time, and with an `attack` the robust accuracy
    on `robust_pool` (default: the test pool)."""
    run_config = replace(coreset_config(config, len(selection), epochs, min_steps), seed=seed)
    result = fit(model_name, pool, run_config, model_seed=seed, subset=selection.indices, weights=selection.weights,
                 cache=cache, progress=False)
    row = {"size": len(selection), "epochs": run_config.epochs, "test_acc": accuracy(result.model, test_pool)}
    if attack is not None:
        row["robust_acc"] = robust_accuracy(result.model, robust_pool or test_pool, attack)
    row.update(train_seconds=round(result.seconds, 2), select_seconds=round(selection.seconds, 3))
    return row


def selection_grid(cells: list[dict], select: Callable[[dict], Selection], pool: Pool, test_pool: Pool,
                   model_name: str, configs: dict[str, TrainConfig], epochs: dict[str, int], min_steps: int, path,
                   cache=None, attack=None, robust_pool: Pool | None = None, scores: dict | None = None) -> pd.DataFrame:
    """Run a grid of cells (method, keep, fraction, seed, objective): `select(cell)` makes the coreset, which is
    trained with `configs[objective]` for `epochs[objective]` epochs and evaluated (see `train_on_selection`).
    `scores` (named Series the selections use) enter the grid's configuration, with everything else shared."""
    from .train import TRAINING_MODULES

    shared = {"model": model_name, "pool": pool.fingerprint(), "test_pool": test_pool.fingerprint(),
              "robust_pool": None if robust_pool is None else robust_pool.fingerprint(), "attack": repr(attack),
              "configs": {k: v.to_dict() for k, v in configs.items()}, "epochs": epochs, "min_steps": min_steps,
              "scores": {k: config_hash({"v": [round(float(x), 9) for x in v.to_numpy()],
                                         "i": [int(i) for i in v.index]}) for k, v in (scores or {}).items()},
              "code": source_hash((*TRAINING_MODULES, "bench", "select"))}

    def run(cell):
        start = time.perf_counter()
        selection = select(cell)
        selection.seconds = time.perf_counter() - start
        objective = cell.get("objective", "standard")
        return train_on_selection(selection, pool, test_pool, model_name, configs[objective], epochs[objective],
                                  min_steps, cell["seed"], cache, attack, robust_pool)

    return run_grid(cells, run, path, keys=(*CELL_KEYS, "objective"), config=shared)


def score_coreset_grid(pool: Pool, test_pool: Pool, scores: dict[str, pd.Series], fractions, seeds, model_name: str,
                       config: TrainConfig, epochs: int, min_steps: int, path, keeps=("top", "bottom"),
                       random_baseline: bool = True, cache=None) -> pd.DataFrame:
    """Train on class-balanced top/bottom coresets of each score (and random ones) at every fraction and seed,
    with the standard objective. Rows: method, keep, fraction, seed, objective, size, epochs, test_acc,
    train_seconds, select_seconds, cell_seconds."""
    cells = [{"method": m, "keep": k, "fraction": f, "seed": s, "objective": "standard"}
             for m in scores for k in keeps for f in fractions for s in seeds]
    if random_baseline:
        cells += [{"method": "random", "keep": "random", "fraction": f, "seed": s, "objective": "standard"}
                  for f in fractions for s in seeds]

    def select(cell):
        if cell["method"] == "random":
            return random_selection(pool, cell["fraction"], seed=cell["seed"])
        return select_by_score(pool, scores[cell["method"]], cell["fraction"], cell["keep"], seed=cell["seed"],
                               method=cell["method"])

    return selection_grid(cells, select, pool, test_pool, model_name, {"standard": config}, {"standard": epochs},
                          min_steps, path, cache, scores=scores)


def summarize(results: pd.DataFrame, value: str = "test_acc", by=("method", "keep", "fraction")) -> pd.DataFrame:
    """Mean, standard deviation and count of `value` over seeds for each group."""
    return (results.groupby(list(by), as_index=False)[value].agg(["mean", "std", "count"])
            .rename(columns={"mean": f"{value}_mean", "std": f"{value}_std", "count": "seeds"}))


def top_vs_bottom(results: pd.DataFrame, method: str) -> pd.DataFrame:
    """Per fraction: mean accuracy of the top and bottom coresets of `method` (and random), the winner, and
    whether the gap exceeds the larger seed spread (a cautious 'clear' flag)."""
    s = summarize(results[results.method.isin([method, "random"])])
    wide = s.pivot_table(index="fraction", columns="keep", values=["test_acc_mean", "test_acc_std"], dropna=False)
    out = pd.DataFrame({"fraction": wide.index})
    for keep in ("top", "bottom", "random"):
        if ("test_acc_mean", keep) in wide:
            out[keep] = wide[("test_acc_mean", keep)].to_numpy()
            out[f"{keep}_std"] = wide[("test_acc_std", keep)].fillna(0).to_numpy()
    out["winner"] = ["top" if t > b else "bottom" for t, b in zip(out["top"], out["bottom"])]
    gap = (out["top"] - out["bottom"]).abs()
    out["clear"] = gap > out[["top_std", "bottom_std"]].max(axis=1)
    return out


def top_bottom_claim(verdict: pd.DataFrame, method: str, small: float = 0.05, large: float = 0.2) -> str:
    """A sentence on the paper's claim 'bottom wins at small fractions, top wins past 20–30 %' from a
    `top_vs_bottom` table: which keep wins at fractions ≤ `small` and ≥ `large`, and whether the gaps
    exceed the seed spread."""
    def part(rows, expected, where):
        if rows.empty:
            return None, f"no fraction {where} was run"
        wins = rows["winner"] == expected
        desc = ", ".join(f"{100 * f:g} %: top {t:.3f} vs bottom {b:.3f}"
                         for f, t, b in zip(rows["fraction"], rows["top"], rows["bottom"]))
        return bool(wins.all()), (f"{expected} {'wins' if wins.all() else 'does not win'} {where} ({desc}; the gap "
                                  f"exceeds the seed spread at {int(rows['clear'].sum())} of {len(rows)} fractions)")
    ok_small, text_small = part(verdict[verdict.fraction <= small], "bottom", f"at ≤ {100 * small:g} %")
    ok_large, text_large = part(verdict[verdict.fraction >= large], "top", f"at ≥ {100 * large:g} %")
    if ok_small and ok_large:
        head = "The paper's claim holds here"
    elif ok_small or ok_large:
        head = "The paper's claim holds only in part here"
    else:
        head = "The paper's claim does not hold here"
    return f"**{head}** for {method}: {text_small}; {text_large}."


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
    from . import baselines
    from .evaluate import fgsm_sweep
    from .train import TRAINING_MODULES

    for m in methods:
        baselines.check_method(m)
    if rank is None or world is None:
        rank, world = distributed_env()
    method_params = dict(method_params or {})
    cells = [{"method": m, "fraction": float(f), "seed": int(s)} for m in methods for f in fractions for s in seeds]
    for f in fractions:
        check_fraction(f)
    shared = {"model": model_name, "pool": pool.fingerprint(), "test_pool": test_pool.fingerprint(),
              "robust_pool": robust_pool.fingerprint(), "pgd": repr(pgd), "fgsm_eps": [float(e) for e in fgsm_eps],
              "config": config.to_dict(), "epochs": epochs, "min_steps": min_steps, "selection_epochs": selection_epochs,
              "method_params": method_params,
              "code": source_hash((*TRAINING_MODULES, "bench", "select", "baselines", "adversarial_coreset",
                                   "coreset_solvers", "scores", "sensitivity"))}
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
    from .attacks import PGD
    from .cache import ArtifactCache
    from .data import class_balanced_pool, load_pools
    from .utils import resolve_device

    p = params
    device = resolve_device(p.get("device", "auto"))
    train_pool, test_pool = load_pools(p["train_size"], p["test_size"], seed=p["pool_seed"], root=p.get("data_root"),
                                       device=device)
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


SPARSE_VARIANTS = tuple(f"{s}_{k}" for s in ("isef", "fgsm_cs", "pss") for k in ("top", "bottom"))


def _means(results, value="test_acc"):
    g = results.groupby(["method", "fraction"])[value]
    return g.mean().unstack("fraction"), g.std().fillna(0).unstack("fraction")


def claims(results: pd.DataFrame, fgsm_eps_255: float = 8.0, robust_ceiling: float = 0.2) -> pd.DataFrame:
    """The headline claims of the papers this book follows, checked on benchmark rows: one row per claim with
    the evidence (mean accuracies) and a verdict ('holds', 'does not hold', 'partly', or 'not tested here').
    'Clearly' means by more than the larger standard deviation over seeds."""
    mean, std = _means(results)
    fractions = sorted(mean.columns)
    rows = []

    def add(claim, evidence, verdict):
        rows.append({"claim": claim, "evidence": evidence, "verdict": verdict})

    small = [f for f in fractions if f <= 0.1]
    sparse = [m for m in SPARSE_VARIANTS if m in mean.index]
    claim = "Sparse-FGSM schemes beat DeepFool at small fractions"
    if small and "deepfool" in mean.index:
        f = small[0]
        sparse = [m for m in sparse if pd.notna(mean.loc[m, f])]
    if small and sparse and "deepfool" in mean.index and pd.notna(mean.loc["deepfool", small[0]]):
        wins = [m for m in sparse if mean.loc[m, f] > mean.loc["deepfool", f]]
        best = max(sparse, key=lambda m: mean.loc[m, f])
        add(claim, f"at {100 * f:g} %: DeepFool {mean.loc['deepfool', f]:.3f}; {len(wins)} of {len(sparse)} sparse "
                   f"variants above it (best {best} {mean.loc[best, f]:.3f})",
            "holds" if len(wins) == len(sparse) else "partly" if wins else "does not hold")
    else:
        add(claim, "needs DeepFool, the sparse variants and a fraction ≤ 10 %", "not tested here")

    tiny = [f for f in fractions if f <= 0.01]
    claim = "Bottom (least sensitive) variants beat top variants at ≤ 1 %"
    pairs = [s for s in ("isef", "fgsm_cs", "pss") if f"{s}_top" in mean.index and f"{s}_bottom" in mean.index]
    cmp = [(s, f, mean.loc[f"{s}_bottom", f], mean.loc[f"{s}_top", f]) for s in pairs for f in tiny
           if pd.notna(mean.loc[f"{s}_bottom", f]) and pd.notna(mean.loc[f"{s}_top", f])]
    if cmp:
        wins = sum(b > t for *_, b, t in cmp)
        add(claim, "; ".join(f"{s} {100 * f:g} %: bottom {b:.3f} vs top {t:.3f}" for s, f, b, t in cmp),
            "holds" if wins == len(cmp) else "partly" if wins else "does not hold")
    else:
        add(claim, "needs a fraction ≤ 1 % (the sparse-FGSM chapters test it at 1 %)", "not tested here")

    mid = [f for f in fractions if 0.05 <= f <= 0.2]
    claim = "Random is hard to beat at 5–20 %"
    if mid and "random" in mean.index:
        parts, beaten, others = [], 0, 0
        for f in mid:
            spread = std[f].clip(lower=std.loc["random", f])
            ran = [m for m in mean.index if m != "random" and pd.notna(mean.loc[m, f])]
            clear = [m for m in ran if mean.loc[m, f] - mean.loc["random", f] > spread[m]]
            beaten += len(clear)
            others += len(ran)
            parts.append(f"{100 * f:g} %: random {mean.loc['random', f]:.3f}, {len(clear)} of {len(ran)} "
                         f"methods clearly above it" + (f" ({', '.join(clear)})" if clear else ""))
        add(claim, "; ".join(parts), "holds" if beaten <= others / 4 else "does not hold")
    else:
        add(claim, "needs random and a fraction in [5 %, 20 %]", "not tested here")

    column = f"fgsm_{fgsm_eps_255:g}"
    claim = f"Coresets are not robust to FGSM (ε = {fgsm_eps_255:g}/255)"
    if column in results:
        fgsm = results.groupby("method")[column].mean()
        add(claim, f"FGSM accuracy over all fractions: median {fgsm.median():.3f}, best {fgsm.idxmax()} "
                   f"{fgsm.max():.3f} (clean: median {results.groupby('method')['test_acc'].mean().median():.3f})",
            "holds" if fgsm.max() <= robust_ceiling else "does not hold")
    else:
        add(claim, f"needs FGSM at ε = {fgsm_eps_255:g}/255", "not tested here")
    return pd.DataFrame(rows)


def selection_cost(results: pd.DataFrame) -> pd.DataFrame:
    """Per method: mean selection seconds, forward and backward passes over the pool (beyond the shared proxy),
    and the proxy's training seconds, sorted by time."""
    return (results.groupby("method")[["select_seconds", "forward_passes", "backward_passes", "proxy_seconds"]]
            .mean().sort_values("select_seconds"))

"""The benchmark (chapter 8): every selection method × fraction × seed under DeepCore's semantics, with clean,
FGSM-ε and PGD accuracy and the selection's cost, from a profile or the command line. Only what a cell computes
lives here (its import closure is the code hash that marks recorded rows stale); the tables that present the rows
are in `bench.tables`."""
from __future__ import annotations

from dataclasses import replace

import pandas as pd

from .. import baselines
from ..adversarial_coreset import train_adversarial_coreset
from ..attacks import PGD
from ..cache import ArtifactCache
from ..data import Pool
from ..baselines.training_dynamics import GRAND_REPEATS
from ..data import SPLIT_SIZES
from ..evaluate import accuracy_and_top_share, fgsm_sweep, robust_accuracy
from ..models import MODELS
from ..hardness import aign_series
from ..sampling import check_fraction, class_balanced_pool, coreset_size
from ..train import TrainConfig, fit
from ..utils import code_hash, state_fingerprint
from .base import autoattack_from_params, base_setup, profile_pools
from .grid import cell_attack, distributed_env, run_grid
from .training import coreset_config


BENCH_KEYS = ("method", "fraction", "seed")
TRACKS = ("standard", "adversarial")
# Algorithm 1 (chapter 7) as benchmark methods of the adversarial track: warm start, renewals every T epochs,
# weighted adversarial training, within the same epochs as every other method's coreset training
ACS_METHODS = {"acs_craig": "craig", "acs_gradmatch": "gradmatch"}
SCORING_MODELS = ("proxy", "base")
SCORED = ("sparse-FGSM sensitivity", "hardness")  # the families that read `proxy.scoring`


def base_scorer(base, pool: Pool) -> baselines.Proxy:
    """The papers' scoring model as a `Proxy` over the benchmark pool: the fully trained base model (the sparse-FGSM
    paper scores a trained ResNet-18) and the AIGN recorded over its whole training run (EasyCore's definition),
    from `base_setup(...).run` (trained with `base_aign_every`)."""
    if "aign_in_training" not in base.tables:
        raise ValueError("the base run has no AIGN table; train it with base_aign_every (a profile key) set")
    aign = aign_series(base.tables["aign_in_training"])
    missing = set(pool.indices.tolist()) - set(aign.index)
    if missing:
        raise ValueError(f"{len(missing)} benchmark pool samples were not in the base model's training pool; "
                         "draw the benchmark pool from the profile's train pool")
    epochs = int(base.history["epoch"].max())
    return baselines.Proxy(base.model.eval(), pool, pd.DataFrame(), aign.loc[pool.indices.tolist()], base.seconds, epochs)


def run_benchmark(methods, fractions, seeds, pool: Pool, test_pool: Pool, robust_pool: Pool, model_name: str,
                  config: TrainConfig, epochs: int, min_steps: int, selection_epochs: int, fgsm_eps, pgd, path,
                  cache=None, rank: int | None = None, world: int | None = None, method_params: dict | None = None,
                  scorer: baselines.Proxy | None = None, log=print, track: str = "standard", autoattack=None,
                  acs: dict | None = None, retry: bool = False, hours: float | None = None) -> pd.DataFrame:
    """The benchmark grid method × fraction × seed (DeepCore semantics). Per cell: the seed's proxy model
    (`baselines.train_proxy`, `selection_epochs` on the pool, shared by all methods), the method's coreset, a
    fresh `model_name` trained on it (weighted if the method gives weights) for `epochs` epochs (at least
    `min_steps` steps), then clean test accuracy, FGSM accuracy at every ε in `fgsm_eps` (columns fgsm_<ε·255>)
    and PGD robust accuracy (`pgd`, an attack) on `robust_pool`. Rows also hold the selection's seconds and
    forward / backward passes over the pool, and `scored_by`: which model the method read. `scorer`: the model the
    sparse-FGSM scores and EasyCore's AIGN read instead of the proxy (`base_scorer`: the fully trained base model,
    as the papers score); the other methods always read the proxy. `method_params`: per-method keyword arguments
    (e.g. {"grand": {"repeats": 10}}). Resumable and shardable (`run_grid`; rank / world default to torchrun's
    environment).

    Tracks. `track='standard'` (DeepCore's semantics) trains each coreset with `config` as given (its objective
    is 'standard'). `track='adversarial'` trains each coreset with `config`'s adversarial objective (FGSM-RS,
    PGD or TRADES), with the weights the method returns; the selection still reads the standard-trained proxy,
    so the two tracks differ only in how the coreset is trained. In this track `acs_craig` / `acs_gradmatch` run
    Algorithm 1 (`adversarial_coreset.train_adversarial_coreset` with `acs`: warm_start, period, batch_wise) for
    the same `epochs` as every other method's coreset training (at least `min_steps` steps). `autoattack` (an
    `attacks.AutoAttack`) adds `autoattack_acc` on `robust_pool`; rows always carry the columns `track`,
    `objective` and `autoattack_acc` (NaN where not evaluated). `retry`: a collapsed or diverged cell is run once
    more from another seed (`grid.run_grid`)."""
    methods, fractions, seeds = list(methods), list(fractions), list(seeds)
    for name, values in (("methods", methods), ("fractions", fractions), ("seeds", seeds)):
        if not values:
            raise ValueError(f"no {name} to run: give at least one")
    if track not in TRACKS:
        raise ValueError(f"track={track!r}; choose 'standard' (coresets trained with the standard objective) or "
                         "'adversarial' (trained with an adversarial objective)")
    if (track == "standard") != (config.objective == "standard"):
        raise ValueError(f"track={track!r} with objective={config.objective!r}: the standard track trains with the "
                         "standard objective, the adversarial track with an adversarial one (fgsm_rs, pgd, trades)")
    for m in methods:
        if m in ACS_METHODS:
            if track != "adversarial":
                raise ValueError(f"{m} is Algorithm 1 (adversarial coreset training): run it with track='adversarial'")
        else:
            baselines.check_method(m)
    acs = {"warm_start": 0.5, "period": 4, "batch_wise": None, **(acs or {})}
    for name, value, low in (("epochs", epochs, 1), ("min_steps", min_steps, 0), ("selection_epochs", selection_epochs, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name}={value!r} must be an integer ≥ {low}")
    if rank is None or world is None:
        rank, world = distributed_env()
    method_params = dict(method_params or {})
    # fraction-major: a grid stopped part-way (`hours`) has every method at the first fractions, so the methods can
    # be compared there while the rest is still to run
    cells = [{"method": m, "fraction": float(f), "seed": int(s)} for f in fractions for m in methods for s in seeds]
    for f in fractions:
        check_fraction(f)
    shared = {"model": model_name, "pool": pool.fingerprint(), "test_pool": test_pool.fingerprint(),
              "robust_pool": robust_pool.fingerprint(), "pgd": pgd.config(), "fgsm_eps": [float(e) for e in fgsm_eps],
              "config": config.to_dict(), "epochs": epochs, "min_steps": min_steps, "selection_epochs": selection_epochs,
              "method_params": method_params,
              "scorer": None if scorer is None else state_fingerprint(scorer.model),
              "track": track, "autoattack": None if autoattack is None else autoattack.config(),
              "acs": acs if any(m in ACS_METHODS for m in methods) else None,
              "code": code_hash(run_benchmark)}
    proxies = {}

    def proxy_for(seed):
        if seed not in proxies:
            proxies[seed] = baselines.train_proxy(model_name, pool, selection_epochs, seed, lr=config.lr,
                                                  batch_size=config.batch_size, weight_decay=config.weight_decay,
                                                  warmup_epochs=config.warmup_epochs, cache=cache,
                                                  precision=config.precision)
            proxies[seed].scorer = scorer
        return proxies[seed]

    def run(cell):
        if cell["method"] in ACS_METHODS:
            return run_acs(cell)
        proxy = proxy_for(cell["seed"])
        selection = baselines.select_coreset(cell["method"], proxy, cell["fraction"], cell["seed"],
                                             **method_params.get(cell["method"], {}))
        run_config = replace(coreset_config(config, len(selection), epochs, min_steps), seed=cell["seed"])
        result = fit(model_name, pool, run_config, model_seed=cell["seed"], subset=selection.indices,
                     weights=selection.weights, cache=cache, progress=False)
        row = measure(cell, result.model, len(selection), selection.weights is not None, run_config.epochs,
                      "base" if scorer is not None and baselines.METHODS[cell["method"]].family in SCORED else "proxy")
        row.update(select_seconds=round(selection.seconds, 3),
                   forward_passes=round(selection.config["forward_passes"], 3),
                   backward_passes=round(selection.config["backward_passes"], 3),
                   proxy_seconds=round(proxy.seconds, 2), train_seconds=round(result.seconds, 2))
        return row

    def run_acs(cell):
        """Algorithm 1 for as many epochs as the other methods' coreset training at this fraction."""
        size = coreset_size(len(pool), cell["fraction"])
        run_config = coreset_config(config, size, epochs, min_steps)
        result = train_adversarial_coreset(model_name, pool, run_config, ACS_METHODS[cell["method"]], cell["fraction"],
                                           acs["warm_start"], acs["period"], acs["batch_wise"], cell["seed"], cache)
        renewals = result.tables.get("coreset", pd.DataFrame(columns=["seconds", "size"]))
        row = measure(cell, result.model, size, True, run_config.epochs, "training")
        # the selection runs inside training (renewals): its time is counted in train_seconds and shown apart
        row.update(select_seconds=round(float(renewals["seconds"].sum()), 3), forward_passes=float("nan"),
                   backward_passes=float("nan"), proxy_seconds=0.0, train_seconds=round(result.seconds, 2))
        return row

    def measure(cell, model, size, weighted, run_epochs, scored_by):
        sweep = fgsm_sweep(model, robust_pool, fgsm_eps)
        row = {"track": track, "objective": config.objective, "size": size, "weighted": weighted,
               "epochs": run_epochs, "scored_by": scored_by, "pool_size": len(pool), "test_size": len(test_pool),
               "robust_size": len(robust_pool)}
        row["test_acc"], row["top_class_share"] = accuracy_and_top_share(model, test_pool)
        row.update({f"fgsm_{round(e, 2):g}": a for e, a in zip(sweep["eps_255"], sweep["accuracy"])})
        row["pgd_acc"] = robust_accuracy(model, robust_pool, cell_attack(pgd, cell))
        row["autoattack_acc"] = (float("nan") if autoattack is None
                                 else robust_accuracy(model, robust_pool, cell_attack(autoattack, cell)))
        return row

    return run_grid(cells, run, path, keys=BENCH_KEYS, config=shared, log=log, rank=rank, world=world, retry=retry,
                    hours=hours)


def _check_int(p: dict, name: str, low: int, high: int | None = None, why: str = "") -> int:
    value = p.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name}={value!r} must be an integer{why}")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"≥ {low}"
        raise ValueError(f"{name}={value} must be {bound}{why}")
    return value


def check_benchmark_params(p: dict) -> None:
    """Check every setting `benchmark_from_params` reads before any work starts, each with an error naming it:
    sizes that fit the data (no silent clamping: `bench_pool_size` ≤ `train_size`, `bench_test_size` and
    `bench_robust_size` ≤ `test_size`), counts, the model, the training and attack settings."""
    missing = sorted({"train_size", "test_size", "pool_seed", "model", "bench_lr", "bench_batch_size",
                      "bench_warmup_epochs", "weight_decay", "bench_pool_size", "bench_epochs", "bench_min_steps",
                      "selection_epochs", "bench_test_size", "bench_fgsm_eps_255", "eps_255", "pgd_alpha_255",
                      "robust_pgd_steps", "bench_robust_size", "seed"} - set(p))
    if missing:
        raise ValueError(f"the benchmark needs the parameters {missing}; take them from a profile (profiles/ci.yaml)")
    train_size = _check_int(p, "train_size", 1, SPLIT_SIZES["train"])
    test_size = _check_int(p, "test_size", 1, SPLIT_SIZES["test"])
    _check_int(p, "bench_pool_size", 10, train_size, " (the benchmark pool is drawn from the train_size pool)")
    _check_int(p, "bench_test_size", 1, test_size, " (drawn from the test_size test set)")
    _check_int(p, "bench_robust_size", 1, test_size, " (drawn from the test_size test set)")
    _check_int(p, "bench_epochs", 1)
    _check_int(p, "bench_min_steps", 0)
    _check_int(p, "selection_epochs", 1)
    _check_int(p, "robust_pgd_steps", 1)
    _check_int(p, "grand_repeats", 1) if "grand_repeats" in p else None
    for name in ("seed", "pool_seed"):
        _check_int(p, name, 0)
    if p["model"] not in MODELS:
        raise ValueError(f"model={p['model']!r} is not a model of corelib; choose one of {sorted(MODELS)}")
    eps = p["bench_fgsm_eps_255"]
    if not isinstance(eps, (list, tuple)) or not eps or any(
            isinstance(e, bool) or not isinstance(e, (int, float)) or not 0 <= e <= 255 for e in eps):
        raise ValueError(f"bench_fgsm_eps_255={eps!r} must be a non-empty list of budgets in [0, 255] (units of 1/255)")
    scoring = p.get("scoring_model", "proxy")
    if scoring not in SCORING_MODELS:
        raise ValueError(f"scoring_model={scoring!r}; choose 'proxy' (the selection_epochs proxy, DeepCore) or "
                         "'base' (the fully trained base model, as the sparse-FGSM and EasyCore papers score)")
    track = p.get("bench_track", "standard")
    if track not in TRACKS:
        raise ValueError(f"bench_track={track!r}; choose 'standard' or 'adversarial' (--track on the command line)")
    if p.get("autoattack_version", "ci") not in ("ci", "standard", "none"):
        raise ValueError(f"autoattack_version={p['autoattack_version']!r}; choose 'ci' (APGD-CE + APGD-T), 'standard' "
                         "(AutoAttack's four attacks) or 'none'")
    _track_config(p, track)
    _bench_pgd(p)
    _autoattack(p, track)
    _acs(p)


def _acs(p: dict) -> dict:
    """Algorithm 1's settings for acs_craig / acs_gradmatch: the adversarial-coreset chapter's acs_warm_start,
    acs_period and acs_batch_wise (0: per class)."""
    acs = {"warm_start": float(p.get("acs_warm_start", 0.5)), "period": int(p.get("acs_period", 4)),
           "batch_wise": int(p.get("acs_batch_wise", 0)) or None}
    if not 0 <= acs["warm_start"] < 1:
        raise ValueError(f"acs_warm_start={acs['warm_start']} must be in [0, 1): the share of the epochs trained on the "
                         "full pool before the first coreset")
    if acs["period"] < 1:
        raise ValueError(f"acs_period={acs['period']} must be ≥ 1 (epochs between coreset renewals)")
    return acs


def _bench_config(p: dict) -> TrainConfig:
    return TrainConfig(lr=p["bench_lr"], batch_size=p["bench_batch_size"], warmup_epochs=p["bench_warmup_epochs"],
                       weight_decay=p["weight_decay"], precision=p.get("precision", "auto"))


def _bench_pgd(p: dict) -> PGD:
    return PGD(eps=p["eps_255"] / 255, alpha=p["pgd_alpha_255"] / 255, steps=p["robust_pgd_steps"], seed=p["seed"])


def _track_config(p: dict, track: str) -> TrainConfig:
    """The coreset training of `track`: the standard objective, or `bench_adv_objective` (fgsm_rs: FGSM with a
    random start, Wong et al. 2020, step 1.25 ε; pgd / trades: `bench_adv_steps` steps of pgd_alpha_255) at eps_255."""
    config = _bench_config(p)
    if track == "standard":
        return config
    objective = p.get("bench_adv_objective", "fgsm_rs")
    params = {"eps": p["eps_255"] / 255}
    if objective in ("pgd", "trades"):
        params.update(alpha=p["pgd_alpha_255"] / 255, steps=int(p.get("bench_adv_steps", 10)))
    if objective == "trades":
        params["beta"] = float(p.get("trades_beta", 6.0))
    if objective == "standard":
        raise ValueError("bench_adv_objective='standard': the adversarial track needs an adversarial objective "
                         "(fgsm_rs, pgd or trades)")
    return replace(config, objective=objective, objective_params=params)


def _autoattack(p: dict, track: str):
    """AutoAttack for the adversarial track (`base.autoattack_from_params`); None in the standard track, whose
    models PGD already leaves near 0 at 8/255."""
    return None if track == "standard" else autoattack_from_params(p)


def benchmark_from_params(params: dict, methods, fractions, seeds, path, cache=None, rank=None, world=None,
                          log=print, hours: float | None = None) -> pd.DataFrame:
    """`run_benchmark` with the settings of a profile (or a chapter's parameters): data (train_size, test_size,
    pool_seed, data_root, device), model, bench_lr / bench_batch_size / bench_warmup_epochs / weight_decay, the
    benchmark pool (bench_pool_size), training (bench_epochs, bench_min_steps, selection_epochs) and evaluation
    (bench_test_size for clean accuracy; bench_fgsm_eps_255, eps_255, pgd_alpha_255, robust_pgd_steps, bench_robust_size,
    seed for FGSM and PGD), `scoring_model` ('proxy': DeepCore's semantics, every method reads the proxy; 'base':
    the sparse-FGSM scores and AIGN read the base model of `base_setup`, as the papers score; default 'proxy') and
    `grand_repeats` (GraNd's proxies, default 2), and the track: `bench_track` ('standard', default, or
    'adversarial', trained with `bench_adv_objective` / `bench_adv_steps` and evaluated with AutoAttack:
    `autoattack_version`, `autoattack_steps`, `autoattack_targets`; Algorithm 1 for acs_craig / acs_gradmatch with
    `acs_warm_start`, `acs_period`, `acs_batch_wise`). Every setting is checked first (`check_benchmark_params`)."""
    p = params
    check_benchmark_params(p)
    scoring = p.get("scoring_model", "proxy")
    train_pool, test_pool = profile_pools(p)
    pool = class_balanced_pool(train_pool, int(p["bench_pool_size"]), seed=p["pool_seed"])
    robust_pool = class_balanced_pool(test_pool, int(p["bench_robust_size"]), seed=p["pool_seed"])
    test_pool = class_balanced_pool(test_pool, int(p["bench_test_size"]), seed=p["pool_seed"])
    track = p.get("bench_track", "standard")
    config = _track_config(p, track)
    pgd = _bench_pgd(p)
    cache = ArtifactCache() if cache is None else cache
    scorer = base_scorer(base_setup(p, cache=cache, progress=False).run, pool) if scoring == "base" else None
    method_params = {"grand": {"repeats": int(p.get("grand_repeats", GRAND_REPEATS))},
                     "deepfool": {"max_iter": int(p.get("deepfool_iterations", 50))}}
    return run_benchmark(methods, fractions, seeds, pool, test_pool, robust_pool, p["model"], config,
                         p["bench_epochs"], p["bench_min_steps"], p["selection_epochs"],
                         [e / 255 for e in p["bench_fgsm_eps_255"]], pgd, path, cache=cache, rank=rank, world=world,
                         method_params=method_params, scorer=scorer, log=log, track=track,
                         autoattack=_autoattack(p, track), acs=_acs(p), retry=bool(p.get("retry_collapsed", False)),
                         hours=hours)

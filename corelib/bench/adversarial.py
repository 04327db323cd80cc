"""The adversarial-coreset experiment (chapter 7): full adversarial training against Algorithm 1 with CRAIG,
GradMatch and random coresets, its summary and the speed-up the cost model predicts."""
from __future__ import annotations

import pandas as pd

from ..adversarial_coreset import renewal_count, speedup_model, train_adversarial_coreset
from ..data import Pool
from ..evaluate import accuracy_and_top_share, robust_accuracy
from ..train import TrainConfig
from ..utils import code_hash
from .grid import cell_attack, run_grid


def coreset_training_grid(pool: Pool, test_pool: Pool, robust_pool: Pool, attack, model_name: str, config: TrainConfig,
                          methods, fractions, seeds, warm_start: float, period: int, path, batch_wise=None,
                          cache=None, autoattack=None, **hook_params) -> pd.DataFrame:
    """Full adversarial training and Algorithm 1 with each method × fraction × seed: one row per run with clean
    test accuracy, robust accuracy under `attack` on `robust_pool`, training seconds (selection included),
    selection seconds, renewals, mean Γ (coreset and random reference), the samples SGD trained on (`train_samples`,
    summed over epochs) and the pool size; with `autoattack` (an `attacks.AutoAttack`) also `autoattack_acc` on
    `robust_pool` (NaN without). Resumable (`grid.run_grid`)."""
    cells = [{"method": "full", "fraction": 1.0, "seed": s} for s in seeds if "full" in methods]
    cells += [{"method": m, "fraction": f, "seed": s} for m in methods if m != "full" for f in fractions for s in seeds]
    shared = {"model": model_name, "pool": pool.fingerprint(), "test": test_pool.fingerprint(),
              "robust": robust_pool.fingerprint(), "attack": attack.config(), "config": config.to_dict(),
              "warm_start": warm_start, "period": period, "batch_wise": batch_wise, "hook": hook_params,
              "code": code_hash(coreset_training_grid)}
    if autoattack is not None:  # only then: the configuration of a grid without AutoAttack keeps its hash
        shared["autoattack"] = autoattack.config()

    def run(cell):
        result = train_adversarial_coreset(model_name, pool, config, cell["method"], cell["fraction"], warm_start,
                                           period, batch_wise, cell["seed"], cache, **hook_params)
        renewals = result.tables.get("coreset", pd.DataFrame(columns=["seconds", "gamma", "gamma_random"]))
        clean, share = accuracy_and_top_share(result.model, test_pool)
        return {"objective": config.objective, "epochs": config.epochs, "clean_acc": clean, "top_class_share": share,
                "robust_acc": robust_accuracy(result.model, robust_pool, cell_attack(attack, cell)),
                "train_seconds": round(result.seconds, 2), "select_seconds": round(float(renewals["seconds"].sum()), 2),
                "renewals": len(renewals), "train_samples": int(result.history["samples"].sum()),
                "pool_size": len(pool), "gamma": float(renewals["gamma"].mean()) if len(renewals) else 0.0,
                "gamma_random": float(renewals["gamma_random"].mean()) if len(renewals) else 0.0,
                "autoattack_acc": float("nan") if autoattack is None else
                robust_accuracy(result.model, robust_pool, cell_attack(autoattack, cell))}

    return run_grid(cells, run, path, keys=("method", "fraction", "seed"), config=shared)


def work_passes(results: pd.DataFrame) -> pd.Series:
    """Counted work of each run, in attacked sample-passes: the samples SGD trained on (each one an attack and an
    update) plus, per renewal, one attack over the whole pool (the selection's adversarial examples, Eq. 18).
    It does not depend on how busy the machine was; the greedy's own time is in `select_seconds`."""
    return results["train_samples"] + results["renewals"] * results["pool_size"]


def summarize_training(results: pd.DataFrame) -> pd.DataFrame:
    """Per method and fraction: mean ± std of clean and robust accuracy (in %; AutoAttack's too, `autoattack_mean`
    / `autoattack_std`, where the rows have it), mean training seconds, the share
    of time spent selecting, and the speed-up over full training measured two ways:

    - `work_speedup`: full training's counted work over the run's (`work_passes`, mean over seeds), the primary
      measure: it is the same on a quiet and on a busy machine (needs the `train_samples` column; NaN without);
    - `speedup` (wall time): the median over seeds of the per-seed ratio full seconds / run seconds, paired by seed,
      with its range over seeds (`speedup_min`, `speedup_max`), so one disturbed timing shows as a wide range
      instead of moving a ratio of means."""
    g = results.groupby(["method", "fraction"], sort=False)
    aa = {"autoattack_mean": ("autoattack_acc", "mean"), "autoattack_std": ("autoattack_acc", "std")} \
        if "autoattack_acc" in results and results["autoattack_acc"].notna().any() else {}
    out = g.agg(clean_mean=("clean_acc", "mean"), clean_std=("clean_acc", "std"), robust_mean=("robust_acc", "mean"),
                robust_std=("robust_acc", "std"), **aa, seconds=("train_seconds", "mean"),
                select=("select_seconds", "mean"), seeds=("seed", "count")).reset_index()
    for col in ("clean_mean", "clean_std", "robust_mean", "robust_std", *aa):
        out[col] = 100 * out[col].fillna(0)
    full = results[results.method == "full"]
    full_seconds = full.set_index("seed")["train_seconds"]
    ratios = results.assign(ratio=results["seed"].map(full_seconds) / results["train_seconds"])
    wall = ratios.groupby(["method", "fraction"], sort=False)["ratio"].agg(["median", "min", "max"]).reset_index()
    out = out.merge(wall.rename(columns={"median": "speedup", "min": "speedup_min", "max": "speedup_max"}),
                    on=["method", "fraction"], how="left")
    if "train_samples" in results and len(full):
        work = results.assign(work=work_passes(results)).groupby(["method", "fraction"], sort=False)["work"].mean()
        out["work_speedup"] = float(work_passes(full).mean()) / out.set_index(["method", "fraction"]).index.map(work)
    else:
        out["work_speedup"] = float("nan")
    out["select_share"] = out["select"] / out["seconds"]
    return out


def predicted_speedup(summary: pd.DataFrame, fraction: float, epochs: int, warm_start: float, period: int) -> float:
    """`speedup_model` with the selection cost s measured in a `summarize_training` table: the mean selection
    seconds per renewal of the coreset runs at `fraction`, in epochs of full training."""
    full_epoch = float(summary.loc[summary.method == "full", "seconds"].iloc[0]) / epochs
    runs = summary[(summary.method != "full") & (summary.fraction == fraction)]
    renewals = renewal_count(epochs, warm_start, period)
    cost = float(runs["select"].mean()) / max(renewals, 1) / full_epoch
    return speedup_model(epochs, fraction, warm_start, period, cost)

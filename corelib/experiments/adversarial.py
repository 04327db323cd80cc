"""The adversarial-coreset experiment (chapter 7): full adversarial training against Algorithm 1 with CRAIG,
GradMatch and random coresets, its summary and the speed-up the cost model predicts."""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

import pandas as pd

from ..adversarial_coreset import AdversarialCoreset, Schedule, renewal_count, speedup_model, train_adversarial_coreset
from ..data import Pool
from ..hashing import code_hash
from ..settings import AdversarialCoresetSettings
from ..train import TrainConfig
from .grid import run_grid
from .sentences import scale_note, versus_random
from .statistics import paired_difference
from .suite import EvaluationSuite

if TYPE_CHECKING:
    from pathlib import Path
    from ..cache import ArtifactCache


@dataclass(frozen=True)
class AdversarialCoresetGrid:
    """Full adversarial training and Algorithm 1 with each method × fraction × seed: the pool, the model and its
    training configuration (`config.objective`: pgd, trades or fgsm_rs; `config.epochs`), the evaluation suite, and
    Algorithm 1's schedule (`warm_start` κ, renewal `period`, `batch_wise`, other hook parameters in `hook`, and
    `renewal`, when renewals fall: `adversarial_coreset.first_renewal`)."""

    pool: Pool
    model_name: str
    config: TrainConfig
    suite: EvaluationSuite
    methods: tuple
    fractions: tuple
    seeds: tuple
    warm_start: float
    period: int
    batch_wise: int | None = None
    hook: dict = field(default_factory=dict)
    renewal: str = "authors"

    def cells(self) -> list[dict]:
        """'full' once per seed (fraction 1), every other method at every fraction and seed."""
        cells = [{"method": "full", "fraction": 1.0, "seed": s} for s in self.seeds if "full" in self.methods]
        return cells + [{"method": m, "fraction": f, "seed": s} for m in self.methods if m != "full"
                        for f in self.fractions for s in self.seeds]

    def config_for_hash(self) -> dict:
        """Everything the cells share, for the grid's configuration hash."""
        return {"model": self.model_name, "pool": self.pool.fingerprint(), "suite": self.suite.config(),
                "config": self.config.to_dict(), "warm_start": self.warm_start, "period": self.period,
                "batch_wise": self.batch_wise, "hook": self.hook, "renewal": self.renewal, "code": code_hash(coreset_training_grid)}


def coreset_training_grid(grid: AdversarialCoresetGrid, path: str | Path,
                          cache: ArtifactCache | None = None) -> pd.DataFrame:
    """One row per run of `grid`: the suite's columns (`test_acc`, `pgd_acc`, `autoattack_acc`, …), training
    seconds (selection included), selection seconds, renewals, mean Γ (coreset and random reference), the samples
    SGD trained on (`train_samples`, summed over epochs) and the pool size. Resumable (`grid.run_grid`)."""
    def run(cell):
        schedule = Schedule(grid.warm_start, grid.period, grid.batch_wise, grid.renewal)
        result = train_adversarial_coreset(grid.model_name, grid.pool, grid.config, cell["method"], cell["fraction"],
                                           schedule, cell["seed"], cache, **grid.hook)
        renewals = result.tables.get("coreset", pd.DataFrame(columns=["seconds", "gamma", "gamma_random"]))
        return {"objective": grid.config.objective, "epochs": grid.config.epochs,
                **grid.suite.run(result.model, cell),
                "train_seconds": round(result.seconds, 2), "select_seconds": round(float(renewals["seconds"].sum()), 2),
                "renewals": len(renewals), "train_samples": int(result.history["samples"].sum()),
                "pool_size": len(grid.pool), "gamma": float(renewals["gamma"].mean()) if len(renewals) else 0.0,
                "gamma_random": float(renewals["gamma_random"].mean()) if len(renewals) else 0.0}

    return run_grid(grid.cells(), run, path, keys=("method", "fraction", "seed"), config=grid.config_for_hash(),
                    accuracies=grid.suite.accuracy_columns)


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
    out = g.agg(clean_mean=("test_acc", "mean"), clean_std=("test_acc", "std"), robust_mean=("pgd_acc", "mean"),
                robust_std=("pgd_acc", "std"), **aa, seconds=("train_seconds", "mean"),
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


def predicted_speedup(summary: pd.DataFrame, fraction: float, epochs: int, warm_start: float, period: int,
                      renewal: str = "authors") -> float:
    """`speedup_model` with the selection cost s measured in a `summarize_training` table: the mean selection
    seconds per renewal of the coreset runs at `fraction`, in epochs of full training."""
    full_epoch = float(summary.loc[summary.method == "full", "seconds"].iloc[0]) / epochs
    runs = summary[(summary.method != "full") & (summary.fraction == fraction)]
    renewals = renewal_count(epochs, warm_start, period, renewal)
    cost = float(runs["select"].mean()) / max(renewals, 1) / full_epoch
    return speedup_model(epochs, fraction, warm_start, period, cost, renewal)




@dataclass(frozen=True)
class AdversarialCoresetFacts:
    """What chapter 7's sentences state about its grid, computed from it: numbers (float) and phrases (str, for
    Markdown). `as_glue()` names each one as the chapter glues it."""

    acs_fraction: str
    acs_work_speedup: float
    acs_speedup: float
    acs_speedup_range: str
    acs_timing_note: str
    acs_best: str
    acs_best_drop: float
    acs_clean_drop: float
    acs_share: float
    acs_predicted: float
    acs_plan: str
    acs_ideal: float
    acs_ceiling: float
    acs_vs_random: str
    acs_aa_vs_random: str
    acs_aa_gap: float
    acs_aa_name: str
    scale_note: str

    def as_glue(self) -> dict:
        """Glue name → value, in the order of the fields."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _timing_note(coreset_rows: pd.DataFrame, fraction: float) -> str:
    if coreset_rows.speedup_max.max() > 1 / fraction:
        return (f"Some per-seed wall-time ratios exceed the {1 / fraction:.1f}× ceiling, which no schedule can beat: "
                "those timings were disturbed (other work on the machine slowed a full-training run), so read the "
                "counted work, not the clock.")
    return ("Every per-seed wall-time ratio stays under the ceiling, and the counted work and the clock tell the "
            "same story within the range shown.")


def _plan_phrase(fraction: float, acs: AdversarialCoresetSettings) -> str:
    schedule = Schedule(acs.warm_start, acs.period, renewal=acs.renewal)
    plan = AdversarialCoreset(fraction, schedule=schedule).schedule(acs.epochs)
    phases = plan.phase.value_counts()
    initial = (f", {phases['random']} on the initial random subset (until the first renewal, at the first multiple of "
               f"the period)" if phases.get("random", 0) else "")
    full, renewals = int(phases.get("full", 0)), int(plan.renew.sum())
    return (f"{full} warm-start epoch{'s' * (full != 1)} on the full data, {phases.get('skip', 0)} skipped{initial} "
            f"and {phases.get('coreset', 0)} on coresets ({renewals} renewal{'s' * (renewals != 1)})")


def adversarial_coreset_facts(table: pd.DataFrame, results: pd.DataFrame, acs: AdversarialCoresetSettings,
                              autoattack: pd.DataFrame | None = None) -> AdversarialCoresetFacts:
    """Chapter 7's facts at its first fraction: the speed-ups (counted work, wall time, the cost model's prediction,
    the ideal and the ceiling), the best coreset method and what it gives up against full training, the schedule,
    the verdicts against random (PGD and AutoAttack, by the paired-interval rule) and the scale note; `table` is
    `summarize_training(results)`."""
    fraction = acs.fractions[0]
    half = table[table.fraction.isin([1.0, fraction])].set_index("method")
    full_row, coreset_rows = half.loc["full"], half.drop(index="full")
    best = coreset_rows.sort_values("robust_mean", ascending=False).iloc[0]
    has_aa = "autoattack_acc" in results and results["autoattack_acc"].notna().any()
    gaps = paired_difference(results[results.method != "full"], "pgd_acc", by=("fraction",))
    return AdversarialCoresetFacts(
        acs_fraction=f"{100 * fraction:g} %", acs_work_speedup=float(coreset_rows.work_speedup.mean()),
        acs_speedup=float(coreset_rows.speedup.median()),
        acs_speedup_range=f"{coreset_rows.speedup_min.min():.2f}–{coreset_rows.speedup_max.max():.2f}×",
        acs_timing_note=_timing_note(coreset_rows, fraction), acs_best=f"{best.name}",
        acs_best_drop=float(full_row.robust_mean - best.robust_mean),
        acs_clean_drop=float(full_row.clean_mean - best.clean_mean),
        acs_share=float(100 * coreset_rows.select_share.mean()),
        acs_predicted=float(predicted_speedup(table, fraction, acs.epochs, acs.warm_start, acs.period, acs.renewal)),
        acs_plan=_plan_phrase(fraction, acs),
        acs_ideal=float(speedup_model(acs.epochs, fraction, acs.warm_start, acs.period, 0.0, acs.renewal)),
        acs_ceiling=float(1 / fraction), acs_vs_random=versus_random(results, "pgd_acc"),
        acs_aa_vs_random=versus_random(results, "autoattack_acc") if has_aa else "not run (autoattack_version none)",
        acs_aa_gap=float(100 * (results.pgd_acc - results.autoattack_acc).mean()) if has_aa else float("nan"),
        acs_aa_name=f"{autoattack.version} version, {autoattack.steps} iterations" if has_aa else "not run",
        scale_note=scale_note(gaps["low"], gaps["high"], results.seed.nunique()))


__all__ = ["adversarial_coreset_facts", "AdversarialCoresetFacts", "AdversarialCoresetGrid", "coreset_training_grid",
           "predicted_speedup", "summarize_training", "work_passes"]

"""The benchmark's tables (chapter 8): FGSM curves, mean ± std and best-three tables, selection cost, and the
recorded tier. Presentation only, outside the code closure of `benchmark.run_benchmark`: editing a table or a
label never marks recorded rows stale."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .. import methods
from ..hashing import code_hash, module_hashes
from ..profiles import ROOT
from .benchmark import TRACKS, run_benchmark
from .record import Recorded, load_recorded
from .statistics import degenerate_cells, paired_difference, t_half_width

if TYPE_CHECKING:
    from collections.abc import Sequence


def fgsm_curves(results: pd.DataFrame) -> pd.DataFrame:
    """The fgsm_<ε> columns of benchmark rows as a tidy table: method, fraction, seed, eps_255, accuracy."""
    cols = [c for c in results.columns if c.startswith("fgsm_")]
    tidy = results.melt(id_vars=["method", "fraction", "seed"], value_vars=cols, var_name="eps_255",
                        value_name="accuracy")
    tidy["eps_255"] = tidy["eps_255"].str.removeprefix("fgsm_").astype(float)
    return tidy


def table_mean_std(results: pd.DataFrame, value: str = "test_acc", scale: float = 100.0,
                   chance: float | None = None) -> pd.DataFrame:
    """methods × fractions: 'mean ± std' over seeds (in % by default), as the papers print them. With `chance`
    (e.g. 0.1 for ten balanced classes), a cell whose 95 % t-interval over seeds contains the chance level gets a
    trailing '†' (within noise of chance; a single seed: within 1 point of it). A cell with a run of a degenerate
    Algorithm 1 schedule (column `degenerate_schedule`) gets '‡' (`sentences.DEGENERATE_NOTE`)."""
    s = results.groupby(["method", "fraction"])[value].agg(["mean", "std", "count"]).reset_index()
    s["cell"] = [f"{scale * m:.1f} ± {scale * (0 if pd.isna(sd) else sd):.1f}" for m, sd in zip(s["mean"], s["std"])]
    if chance is not None:
        half = t_half_width(s["std"].fillna(0), s["count"].clip(lower=2))
        near = ((s["mean"] - chance).abs() <= half) | ((s["count"] <= 1) & ((s["mean"] - chance).abs() < 0.01))
        s.loc[near, "cell"] = s.loc[near, "cell"] + " †"
    degenerate = pd.Series(degenerate_cells(results, s), index=s.index)
    s.loc[degenerate, "cell"] = s.loc[degenerate, "cell"] + " ‡"
    return s.pivot(index="method", columns="fraction", values="cell")


def best_three(results: pd.DataFrame, value: str = "test_acc", control: str | None = "random") -> pd.DataFrame:
    """methods × fractions of booleans: is the method among the three best means of its column, *and* clearly
    above `control` (the t-interval of its seed-paired difference to the control excludes 0:
    `statistics.paired_difference`)? A ranking inside the noise is not highlighted: with every interval containing
    0, nothing is. `control=None` highlights the three best means regardless (not what the book shows)."""
    means = results.groupby(["method", "fraction"])[value].mean().unstack("fraction")
    if control is None or control not in means.index:
        return means.rank(ascending=False, method="min") <= 3
    paired = paired_difference(results, value, control)
    above = paired[paired.clear & (paired["diff"] > 0)].set_index(["method", "fraction"]).index
    eligible = means.where(pd.DataFrame({f: [(m, f) in above for m in means.index] for f in means.columns},
                                        index=means.index))
    return eligible.rank(ascending=False, method="min") <= 3


def selection_cost(results: pd.DataFrame) -> pd.DataFrame:
    """Per method: mean selection seconds, forward and backward passes over the pool (beyond the shared proxy),
    and the proxy's training seconds, sorted by time."""
    return (results.groupby("method")[["select_seconds", "forward_passes", "backward_passes", "proxy_seconds"]]
            .mean().sort_values("select_seconds"))


def rank_agreement(results: pd.DataFrame, paper: pd.DataFrame, fractions: Sequence[float],
                   exclude: Sequence[str] = ()) -> pd.DataFrame:
    """Spearman's ρ between the order of the methods by mean `test_acc` in `results` and by `accuracy` in a
    published table (`paper`: method, fraction, accuracy), per fraction both have, over the methods both have but
    `exclude` (rows that measure another method than the published one of the same name: `methods.
    other_definitions()`): fraction, rho, p (of an unrelated ordering giving at least this ρ), methods (how many)."""
    from scipy import stats

    ours = results.groupby(["method", "fraction"]).test_acc.mean().unstack()
    theirs = paper.pivot(index="method", columns="fraction", values="accuracy")
    common = ours.index.intersection(theirs.index).difference(list(exclude))
    rows = []
    for f in fractions:
        if f in theirs.columns and f in ours.columns:
            test = stats.spearmanr(ours.loc[common, f], theirs.loc[common, f])
            rows.append({"fraction": f, "rho": float(test.statistic), "p": float(test.pvalue), "methods": len(common)})
    return pd.DataFrame(rows, columns=["fraction", "rho", "p", "methods"])


def explorable(ranks: dict, names: dict | None = None) -> pd.DataFrame:
    """Every recorded ranking as one long table for a reader to sort and filter (track, metric, method, its family,
    fraction; the mean and its interval's half-width in %, the seed-paired difference to random with its interval
    in points, the verdict and the marks of the page's tables), from {(track, value): `statistics.ranking`}."""
    families = {m: e.family for m, e in {**methods.METHODS, **methods.TRAINING_METHODS}.items()}
    frames = []
    for (track, value), ranked in ranks.items():
        marks = (np.where(ranked.get("degenerate", False), " ‡", "")
                 + np.where(ranked.get("checks", pd.Series("", index=ranked.index)).astype(str) != "", " §", ""))
        frames.append(pd.DataFrame({
            "track": track, "metric": (names or {}).get(value, value), "method": ranked["method"],
            "family": ranked["method"].map(families).fillna(""), "fraction": ranked["fraction"],
            "mean (%)": (100 * ranked["mean"]).round(1), "± (%)": (100 * ranked["half"]).round(1),
            "vs random (points)": (100 * ranked["diff"]).round(1),
            "interval": [f"[{100 * lo:.1f}, {100 * hi:.1f}]" if lo == lo else "" for lo, hi in
                         zip(ranked["low"], ranked["high"])],
            "verdict": ranked["verdict"] + marks}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def recorded_benchmark(profile: str = "cpu_full", root: str | Path | None = None) -> dict[str, Recorded]:
    """The recorded benchmark of `profile` by track: `results/<profile>/bench_<track>.csv`, each verified against its
    manifest (a damaged table is a `RecordError`) and flagged `stale`, with the modules that changed, when
    `run_benchmark`'s code (its import closure) has changed since it was produced or last revalidated. Tracks with no recorded table are absent (an empty dict: nothing recorded in this checkout)."""
    folder = Path(root or ROOT) / "results" / profile
    code, modules = code_hash(run_benchmark), module_hashes(run_benchmark)
    found = {track: load_recorded(folder / f"bench_{track}.csv", code, modules, closure=run_benchmark)
             for track in TRACKS}
    return {track: r for track, r in found.items() if r is not None}


__all__ = ["best_three", "fgsm_curves", "recorded_benchmark", "selection_cost", "table_mean_std"]

"""The statistical rule by which every computed sentence of the book calls a difference clear, and the tables
of paired differences built on it (the sentences are in `sentences`, the papers' claims in `paper_claims`).

**The rule** (`paired_gap`): the difference between two methods is measured seed by seed (the same seed draws the
same pool, initialisation and attack starts for both, so the per-seed differences are paired), and it is *clear*
when the two-sided 95 % t-interval of the mean paired difference excludes 0. Every verdict sentence says "higher",
"lower" or "no clear difference at this scale", with the numbers. One seed gives no interval, so nothing is clear
with one seed; with two the t-factor is 12.7, so only a gap that barely varies between the seeds is clear. The
interval's half-width is what the seed count can resolve, and the chapters state it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..attacks.sanity import PASSED

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any
    from numpy.typing import ArrayLike


def t_half_width(std: ArrayLike, n: ArrayLike, confidence: float = 0.95) -> np.ndarray:
    """Half-width of the two-sided t-interval of a mean of `n` values with standard deviation `std` (scalars or
    arrays, n ≥ 2)."""
    from scipy import stats

    return stats.t.ppf(0.5 + confidence / 2, np.asarray(n) - 1) * np.asarray(std) / np.sqrt(n)



SAME_DIFFERENCE = 1e-6  # two differences closer than this are the same measurement: far below one test image



def paired_gap(a: pd.Series, b: pd.Series, confidence: float = 0.95) -> dict:
    """The book's rule for two methods' values indexed by seed: the per-seed differences a − b (seeds both have),
    their mean `diff`, count `n`, the two-sided t-interval [`low`, `high`] at `confidence` (NaN with fewer than two
    pairs) and `clear`: the interval excludes 0.

    Two pairs with the same difference (common when accuracy moves in steps of one test image) give a zero spread
    and a zero-width interval: that is no evidence of a steady gap, so it is never `clear` (`degenerate` says so);
    from three pairs on, identical differences count as a steady gap. Differences are compared at the resolution
    of the measurement (`SAME_DIFFERENCE`), so float32 rounding does not turn a zero spread into an interval."""
    d = (a - b).dropna()
    n = len(d)
    mean = float(d.mean()) if n else float("nan")
    std = float(d.std(ddof=1)) if n > 1 else float("nan")
    half = float(t_half_width(std, n, confidence)) if n > 1 else float("nan")
    degenerate = n == 2 and float(d.max() - d.min()) <= SAME_DIFFERENCE  # the same difference in both seeds
    return {"diff": mean, "n": n, "low": mean - half, "high": mean + half, "degenerate": degenerate,
            "clear": bool(n > 1 and not degenerate and (mean - half > 0 or mean + half < 0))}



def paired_difference(results: pd.DataFrame, value: str = "test_acc", control: str = "random",
                      by: Sequence[str] = ("fraction",), confidence: float = 0.95) -> pd.DataFrame:
    """Each method's difference to `control` paired by seed (and pool: the same seed draws the same pool and
    initialisation), per group of `by`: the mean of the per-seed differences method − control, the number of
    pairs `n`, and the two-sided t-interval [`low`, `high`] at `confidence` (NaN with a single pair: one seed
    gives no interval). A difference is *clear* when the interval excludes 0 (`paired_gap`)."""
    keys = list(by)
    ctrl = results[results.method == control].set_index([*keys, "seed"])[value]
    rows = []
    for (method, *group), g in results[results.method != control].groupby(["method", *keys], sort=False):
        gap = paired_gap(g.set_index([*keys, "seed"])[value], ctrl, confidence)
        rows.append({"method": method, **dict(zip(keys, group)), **gap})
    return pd.DataFrame(rows, columns=["method", *keys, "diff", "n", "low", "high", "clear"])



def ranking(results: pd.DataFrame, value: str = "test_acc", control: str = "random", confidence: float = 0.95,
            chance: float | None = None) -> pd.DataFrame:
    """Every method at every fraction, ready to rank without presenting noise as a ranking: the mean over seeds of
    `value`, the half-width `half` of its t-interval, the seed-paired difference to `control` with its interval
    (`diff`, `low`, `high`, `n`) and the `verdict` of the book's one rule: 'higher' or 'lower' than `control` when
    the interval of the paired difference excludes 0, else 'no clear difference'; the control itself gets
    'control'. Runs whose `value` is NaN (collapsed or diverged) are left out and counted in `excluded`. With
    `chance`, `near_chance` marks means whose interval contains it. Where the results say which runs had a
    degenerate Algorithm 1 schedule (`degenerate_schedule`), `degenerate` marks the method × fraction with any;
    `checks` holds the sanity-check flags its runs raised for `value` (`check_flags`: AutoAttack's).
    Rows are sorted by fraction, then mean."""
    ok = results.dropna(subset=[value])
    excluded = results.groupby(["method", "fraction"])[value].apply(lambda v: int(v.isna().sum()))
    stats_ = ok.groupby(["method", "fraction"])[value].agg(["mean", "std", "count"]).reset_index()
    stats_["half"] = np.where(stats_["count"] > 1, t_half_width(stats_["std"].fillna(0), stats_["count"].clip(lower=2),
                                                                confidence), np.nan)
    gaps = paired_difference(ok, value, control, confidence=confidence)[["method", "fraction", "diff", "n", "low",
                                                                         "high", "clear"]]
    table = stats_.merge(gaps, on=["method", "fraction"], how="left")
    table["verdict"] = np.where(table["method"] == control, "control",
                                np.where(~table["clear"].fillna(False).astype(bool), "no clear difference",
                                         np.where(table["diff"] > 0, "higher", "lower")))
    table["excluded"] = [int(excluded.get((m, f), 0)) for m, f in zip(table["method"], table["fraction"])]
    table["degenerate"] = degenerate_cells(results, table)
    table["checks"] = check_flags(results, table, value)
    if chance is not None:
        table["near_chance"] = (table["mean"] - chance).abs() <= table["half"].fillna(0.01)
    table = table.rename(columns={"count": "seeds"}).drop(columns=["std", "clear"])
    return table.sort_values(["fraction", "mean"], ascending=[True, False], ignore_index=True)


def _per_cell(results: pd.DataFrame, cells: pd.DataFrame, column: str, reduce: Callable, default: Any) -> list:
    """`reduce` of `column` over the runs of each (method, fraction) of `cells`; `default` where the results lack
    the column (rows recorded before it existed) or the cell."""
    if column not in results:
        return [default] * len(cells)
    reduced = results.groupby(["method", "fraction"])[column].apply(reduce)
    return [reduced.get((m, f), default) for m, f in zip(cells["method"], cells["fraction"])]


def degenerate_cells(results: pd.DataFrame, cells: pd.DataFrame) -> list[bool]:
    """For each (method, fraction) of `cells`: did any run of it in `results` have a degenerate Algorithm 1
    schedule (⌊κE⌋ > 0 but no warm-start epoch, column `degenerate_schedule`)? All False for results without it."""
    return [bool(v) for v in _per_cell(results, cells, "degenerate_schedule",
                                       lambda v: bool(v.fillna(False).astype(bool).any()), False)]


def check_flags(results: pd.DataFrame, cells: pd.DataFrame, value: str) -> list[str]:
    """For each (method, fraction) of `cells`: the sanity-check flags any run of it raised for the accuracy `value`
    (column `<name>_checks` beside `<name>_acc`, e.g. AutoAttack's), ';'-separated; '' where none (or where the
    results have no such column: recorded before the checks existed)."""
    def flags(v: pd.Series) -> str:
        return ";".join(sorted({f for text in v.fillna("").astype(str) for f in text.split(";") if f and f != PASSED}))
    return [str(v) for v in _per_cell(results, cells, value.removesuffix("_acc") + "_checks", flags, "")]


def summarize(results: pd.DataFrame, value: str = "test_acc",
              by: Sequence[str] = ("method", "keep", "fraction")) -> pd.DataFrame:
    """Mean, standard deviation and count of `value` over seeds for each group."""
    return (results.groupby(list(by), as_index=False)[value].agg(["mean", "std", "count"])
            .rename(columns={"mean": f"{value}_mean", "std": f"{value}_std", "count": "seeds"}))



__all__ = ["check_flags", "degenerate_cells", "paired_difference", "paired_gap", "ranking", "SAME_DIFFERENCE", "summarize", "t_half_width"]

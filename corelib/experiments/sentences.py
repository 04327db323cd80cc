"""The sentences and reader-facing tables of the book's verdicts, built on the one rule of `statistics`: a gap
with its interval, what a seed count can resolve, a ranking without presenting noise as one.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..attacks.sanity import CHECKS, PASSED
from .statistics import paired_gap, t_half_width


def _pct(f) -> str:
    return f"{100 * f:g} %"


def describe_gap(gap: dict, scale: float = 100.0, unit: str = " points") -> str:
    """'+2.1 points, 95 % interval [+0.4, +3.8]: higher' (or 'lower', or 'no clear difference at this scale')."""
    if gap["n"] < 2:
        return f"{scale * gap['diff']:+.1f}{unit} from {gap['n']} seed: no interval, no clear difference"
    if gap.get("degenerate"):
        return (f"{scale * gap['diff']:+.1f}{unit} in both seeds: no spread to build an interval from, no clear "
                "difference")
    word = ("higher" if gap["diff"] > 0 else "lower") if gap["clear"] else "no clear difference at this scale"
    return (f"{scale * gap['diff']:+.1f}{unit}, 95 % interval [{scale * gap['low']:+.1f}, {scale * gap['high']:+.1f}]: "
            f"{word}")



def scale_note(low: float, high: float, seeds: int, scale: float = 100.0, unit: str = " points") -> str:
    """'What this scale can and cannot show', computed from a verdict table's intervals: the median half-width of
    the 95 % intervals of its paired differences (`low`, `high`, multiplied by `scale`) with `seeds` seeds."""
    widths = (np.asarray(high, dtype=float) - np.asarray(low, dtype=float)) / 2
    half = scale * float(np.nanmedian(widths)) if np.isfinite(widths).any() else float("nan")
    if seeds < 2 or not np.isfinite(half):
        return (f"With {seeds} seed{'' if seeds == 1 else 's'} there is no interval, so no difference here can be "
                "called clear, and no order of the means is a ranking.")
    t = float(t_half_width(1.0, seeds) * np.sqrt(seeds))
    return (f"With {seeds} seeds (t-factor {t:.1f}), the 95 % interval of a paired difference has a median "
            f"half-width of ± {half:.1f}{unit} here: a difference smaller than that cannot be told from seed noise at "
            "this scale, whatever the order of the means. More seeds narrow it faster than 1/√n at first, as the "
            "t-factor falls too (12.7 at two seeds, 4.3 at three, 2.8 at five).")



DEGENERATE_NOTE = ("‡: Algorithm 1 ran a degenerate schedule: ⌊κE⌋ > 0 but round(⌊κE⌋·k) = 0 warm-start epochs, so "
                   "the first ⌊κE⌋ epochs were skipped and the first coreset was chosen by the untrained network")


def checks_note(ranked: pd.DataFrame) -> str:
    """What the § of a `ranking` table means, naming each flag raised and what it says (`attacks.sanity.CHECKS`);
    '' when no cell is flagged."""
    flags = sorted({f for text in ranked.get("checks", pd.Series(dtype=str)).astype(str) for f in text.split(";") if f})
    if not flags:
        return ""
    return "§: AutoAttack's sanity checks flagged these runs: " + "; ".join(f"{f} ({CHECKS[f]})" for f in flags)


def checks_summary(results: pd.DataFrame, column: str = "autoattack_checks") -> str:
    """One sentence on AutoAttack's sanity checks over a grid's runs: how many runs they covered (rows recorded
    before the checks existed have none), and none flagged, or which runs raised which flag and what it means."""
    covered = results[results[column].notna()] if column in results else results.iloc[:0]
    if covered.empty:
        return "AutoAttack's sanity checks did not run for these rows"
    scope = (f"the {len(covered)} runs" if len(covered) == len(results) else
             f"the {len(covered)} of {len(results)} runs they ran for (the others were recorded before the checks "
             "existed)")
    flagged = covered[~covered[column].astype(str).isin(["", PASSED])]
    if flagged.empty:
        return f"AutoAttack's sanity checks flagged none of {scope}"
    runs = "; ".join(f"{r.method} at {100 * r.fraction:g} %, seed {r.seed}: {getattr(r, column)}"
                     for r in flagged.itertuples())
    meaning = "; ".join(f"{f}: {CHECKS[f]}" for f in sorted({f for t in flagged[column] for f in str(t).split(";")}))
    return f"AutoAttack's sanity checks flagged {len(flagged)} of {scope} ({runs}). {meaning}"


def degenerate_note(ranked: pd.DataFrame) -> str:
    """`DEGENERATE_NOTE` where a `ranking` table has a degenerate Algorithm 1 cell, else ''."""
    return DEGENERATE_NOTE if "degenerate" in ranked and ranked["degenerate"].astype(bool).any() else ""


def ranking_table(ranked: pd.DataFrame, scale: float = 100.0) -> pd.DataFrame:
    """`ranking` as methods × fractions for a page: 'mean ± half-width' in % with ▲ (clearly above the control by
    the paired interval), ▼ (clearly below), † (within noise of chance, where `ranking` was given it), ‡ (a
    degenerate Algorithm 1 schedule: `DEGENERATE_NOTE`), ordered by the mean over fractions. Nothing else marks a
    cell: an unmarked order is not a ranking."""
    marks = {"higher": " ▲", "lower": " ▼"}
    cells = [f"{scale * m:.1f} ± {scale * h:.1f}{marks.get(v, '')}" if h == h else f"{scale * m:.1f}{marks.get(v, '')}"
             for m, h, v in zip(ranked["mean"], ranked["half"], ranked["verdict"])]
    shown = ranked.assign(cell=cells)
    if "near_chance" in shown:
        shown.loc[shown["near_chance"], "cell"] += " †"
    if "degenerate" in shown:
        shown.loc[shown["degenerate"].astype(bool), "cell"] += " ‡"
    if "checks" in shown:
        shown.loc[shown["checks"].astype(str) != "", "cell"] += " §"
    wide = shown.pivot(index="method", columns="fraction", values="cell")
    order = ranked.groupby("method")["mean"].mean().sort_values(ascending=False).index
    wide = wide.loc[order]
    wide.columns = [f"{100 * f:g} %" for f in wide.columns]
    wide.columns.name = None
    return wide



def describe_ranking(ranked: pd.DataFrame, control: str = "random", scale: float = 100.0) -> str:
    """What a `ranking` table decides, fraction by fraction, in one computed paragraph: the methods clearly above and
    clearly below the control (by the paired interval), how many show no clear difference, and the control's own
    mean at each fraction (with the fractions, a learning curve)."""
    parts = []
    for fraction, g in ranked.groupby("fraction", sort=True):
        ctrl = g[g["method"] == control]
        others = g[g["method"] != control]
        up = others[others["verdict"] == "higher"]["method"].tolist()
        down = others[others["verdict"] == "lower"]["method"].tolist()
        level = (f"{control} {scale * float(ctrl['mean'].iloc[0]):.1f} %" if len(ctrl) else f"no {control} rows")
        text = f"At {100 * fraction:g} % ({level}, {len(others)} other methods): "
        text += (f"clearly above {control}: {', '.join(up)}; " if up else f"none clearly above {control}; ")
        text += (f"clearly below: {', '.join(down)}; " if down else "none clearly below; ")
        text += f"{len(others) - len(up) - len(down)} with no clear difference."
        parts.append(text)
    return " ".join(parts) if parts else "No rows to rank."



def describe_agreement(table: pd.DataFrame, names: dict, chapters: dict) -> str:
    """One sentence per score on whether its chapter and the benchmark grid pick the same side (top or bottom)."""
    if table.empty:
        return ("The score chapters' top-vs-bottom results are not in this build's results folder, so they are not "
                "compared with this grid here.")
    out = []
    for r in table.itertuples():
        side = lambda who, f, w, clear, lo, hi: (f"{who} has {w} ahead at {_pct(f)} (gap top − bottom "
                                                  f"[{100 * lo:+.1f}, {100 * hi:+.1f}] points, "
                                                  f"{'clear' if clear else 'not clear'})")
        text = (f"{names.get(r.scheme, r.scheme)}: "
                f"{side(chapters.get(r.scheme, 'its chapter'), r.chapter_fraction, r.chapter_winner, r.chapter_clear, r.chapter_low, r.chapter_high)}; "
                f"{side('this grid', r.grid_fraction, r.grid_winner, r.grid_clear, r.grid_low, r.grid_high)}")
        if r.verdict == "agree":
            text += ": the two agree."
        elif r.verdict == "contradiction":
            text += (": **a contradiction**: both gaps are clear and point opposite ways. The two experiments differ "
                     "in pool size, epochs and fraction, so at least one of those changes the answer.")
        else:
            text += (": they point opposite ways, but not both clearly, so this is seed noise at this scale rather "
                     "than a contradiction.")
        out.append(text)
    return " ".join(out)



def versus_random(results: pd.DataFrame, value: str = "pgd_acc") -> str:
    """A sentence comparing CRAIG and GradMatch with the random subset at every fraction of a
    `coreset_training_grid` table (per-seed rows; `value` e.g. 'pgd_acc' or 'test_acc'), each gap paired by
    seed with its 95 % interval and verdict (`paired_gap`, `describe_gap`)."""
    parts = []
    for fraction, rows in results[results.method != "full"].groupby("fraction", sort=False):
        by = {m: g.set_index("seed")[value] for m, g in rows.groupby("method")}
        if "random" not in by:
            continue
        for method in ("craig", "gradmatch"):
            if method in by:
                parts.append(f"{method} at {100 * fraction:g} %: {describe_gap(paired_gap(by[method], by['random']))}")
    return "; ".join(parts) if parts else "no random baseline was run"



def run_scale(parameters: int, model_name: str, images: int, epochs: int, source: str) -> str:
    """What a chapter's numbers were measured on, for a sentence that must hold under any profile: the model's size
    and name, the training images and epochs, and the data (official CIFAR-10, or the re-encoded copy)."""
    data = "the official CIFAR-10 release" if source.startswith("official") else (
        "a CIFAR-10 copy that is not the official release (offline machines use a JPEG re-encoding)" if source
        else "CIFAR-10")
    return (f"a {parameters / 1e6:.2f} M-parameter {model_name} trained for {epochs} epoch{'s' * (epochs != 1)} on "
            f"{images:,} training images of {data}")


def agreement_phrase(rho: float) -> str:
    """How alike two rankings of the same samples are, in words, from their Spearman ρ (≥ 0.95 almost identically,
    ≥ 0.8 alike, ≥ 0.5 only partly alike, else differently)."""
    if rho != rho:
        return "cannot be compared here (too few samples)"
    return ("rank the samples almost identically" if rho >= 0.95 else "rank the samples alike" if rho >= 0.8 else
            "rank the samples only partly alike" if rho >= 0.5 else "rank the samples differently")


def misclassified_position(scores: pd.Series, correct: pd.Series, name: str) -> str:
    """Where the samples a model gets wrong sit in a score's distribution: their median percentile among all
    samples, and in words (the high end ≥ 75th, the low end ≤ 25th, else spread through the middle)."""
    wrong = ~correct.reindex(scores.index).fillna(True).astype(bool)
    if not wrong.any():
        return f"the model gets every one of these samples right, so its errors have no place in the {name} distribution"
    percentile = 100 * float(scores.rank(pct=True)[wrong].median())
    where = ("at the high end" if percentile >= 75 else "at the low end" if percentile <= 25 else
             "spread through the middle")
    return (f"the {int(wrong.sum()):,} samples the model misclassifies have a median {name} at the "
            f"{percentile:.0f}th percentile of all {len(scores):,}: they sit {where} of the distribution")


__all__ = ["agreement_phrase", "checks_note", "checks_summary", "DEGENERATE_NOTE", "degenerate_note", "misclassified_position", "run_scale", "describe_agreement", "describe_gap", "describe_ranking", "ranking_table", "scale_note", "versus_random"]

"""Verdicts: the one rule by which every computed sentence of the book calls a difference clear, and the
sentences and tables built on it.

**The rule** (`paired_gap`): the difference between two methods is measured seed by seed (the same seed draws the
same pool, initialisation and attack starts for both, so the per-seed differences are paired), and it is *clear*
when the two-sided 95 % t-interval of the mean paired difference excludes 0. Every verdict sentence says "higher",
"lower" or "no clear difference at this scale", with the numbers. One seed gives no interval, so nothing is clear
with one seed; with two the t-factor is 12.7, so only a gap that barely varies between the seeds is clear. The
interval's half-width is what the seed count can resolve, and the chapters state it.

**The claims** (`claims`) are checked by stated rules, whose thresholds are keyword arguments, calibrated so that
the sparse-FGSM paper's own Table 1 (Shinde & Madabhushi, DeepCore rows from Guo et al.; one value per cell)
passes each claim it makes and a table that contradicts the claim fails:

1. *Sparse-FGSM schemes beat DeepFool at small fractions* (the paper: in its extremely sparse, ≤ 1 %, and low,
   ≤ 10 %, regimes): at every fraction ≤ `small` (10 %) run, the best of the six sparse variants beats DeepFool,
   and the variants beat it in more than `beat_share` (half) of the variant × fraction pairs. Not all six: the
   paper's table has 3 of 6 above DeepFool at 0.1 % and at 1 % (20 of 30 pairs in all).
2. *Bottom variants beat top variants at ≤ `tiny` (1 %)*: at every such fraction run, bottom beats top in more than
   `bottom_share` (half) of the schemes (the paper's table: 2 of 3 at 0.1 %, where PSS top wins; 3 of 3 at 0.5 %
   and 1 %).
3. *Random is hard to beat at 5–20 %* (`band`): at most `tolerated` (a quarter) of the method × fraction pairs
   there are clearly above random by `paired_gap`. A table with one value per cell (the paper's) has no interval:
   'not tested here'.
4. *Coresets are not robust to FGSM*: no method's FGSM accuracy at ε, averaged over its fractions and seeds,
   exceeds `robust_ceiling` (0.2). The published table has no FGSM column: 'not tested here'.

Verdicts: 'holds' when the rule is met, 'partly' when it is not but some comparison goes the claimed way (claims
1 and 2), 'does not hold' otherwise, 'not tested here' when the rows lack what the rule needs.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

SPARSE_VARIANTS = tuple(f"{s}_{k}" for s in ("isef", "fgsm_cs", "pss") for k in ("top", "bottom"))


def t_half_width(std, n, confidence: float = 0.95):
    """Half-width of the two-sided t-interval of a mean of `n` values with standard deviation `std` (scalars or
    arrays, n ≥ 2)."""
    from scipy import stats

    return stats.t.ppf(0.5 + confidence / 2, np.asarray(n) - 1) * np.asarray(std) / np.sqrt(n)


SAME_DIFFERENCE = 1e-6  # two differences closer than this are the same measurement: far below one test image
# (1e-4 at 10,000 images), far above the rounding of accuracies stored as float32 (~1e-8)


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


def scale_note(low, high, seeds: int, scale: float = 100.0, unit: str = " points") -> str:
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


def paired_difference(results: pd.DataFrame, value: str = "test_acc", control: str = "random",
                      by=("fraction",), confidence: float = 0.95) -> pd.DataFrame:
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
    `chance`, `near_chance` marks means whose interval contains it. Rows are sorted by fraction, then mean."""
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
    if chance is not None:
        table["near_chance"] = (table["mean"] - chance).abs() <= table["half"].fillna(0.01)
    table = table.rename(columns={"count": "seeds"}).drop(columns=["std", "clear"])
    return table.sort_values(["fraction", "mean"], ascending=[True, False], ignore_index=True)


def ranking_table(ranked: pd.DataFrame, scale: float = 100.0) -> pd.DataFrame:
    """`ranking` as methods × fractions for a page: 'mean ± half-width' in % with ▲ (clearly above the control by
    the paired interval), ▼ (clearly below), † (within noise of chance, where `ranking` was given it), ordered by
    the mean over fractions. Nothing else marks a cell: an unmarked order is not a ranking."""
    marks = {"higher": " ▲", "lower": " ▼"}
    cells = [f"{scale * m:.1f} ± {scale * h:.1f}{marks.get(v, '')}" if h == h else f"{scale * m:.1f}{marks.get(v, '')}"
             for m, h, v in zip(ranked["mean"], ranked["half"], ranked["verdict"])]
    shown = ranked.assign(cell=cells)
    if "near_chance" in shown:
        shown.loc[shown["near_chance"], "cell"] += " †"
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


def summarize(results: pd.DataFrame, value: str = "test_acc", by=("method", "keep", "fraction")) -> pd.DataFrame:
    """Mean, standard deviation and count of `value` over seeds for each group."""
    return (results.groupby(list(by), as_index=False)[value].agg(["mean", "std", "count"])
            .rename(columns={"mean": f"{value}_mean", "std": f"{value}_std", "count": "seeds"}))


def top_vs_bottom(results: pd.DataFrame, method: str, value: str = "test_acc") -> pd.DataFrame:
    """Per fraction: mean `value` of the top and bottom coresets of `method` (and of random, where run), the
    winner, and the gap top − bottom paired by seed (`paired_gap`): `gap_low`, `gap_high` (its 95 % interval) and
    `clear`."""
    rows = results[results.method.isin([method, "random"])]
    out = []
    for fraction, g in rows.groupby("fraction", sort=True):
        by = {keep: g[g.keep == keep].set_index("seed")[value] for keep in ("top", "bottom", "random")}
        row = {"fraction": fraction}
        for keep, v in by.items():
            if len(v) or keep != "random":
                row[keep], row[f"{keep}_std"] = v.mean(), (v.std() if len(v) > 1 else 0.0)
        gap = paired_gap(by["top"], by["bottom"])
        row.update(winner="top" if row["top"] > row["bottom"] else "bottom", gap_low=gap["low"],
                   gap_high=gap["high"], clear=gap["clear"])
        out.append(row)
    return pd.DataFrame(out)


def top_bottom_claim(verdict: pd.DataFrame, method: str, small: float = 0.05, large: float = 0.2) -> str:
    """A sentence on the paper's claim 'bottom wins at small fractions, top wins past 20–30 %' from a
    `top_vs_bottom` table: which keep wins at fractions ≤ `small` and ≥ `large`, and whether the gaps are clear."""
    def part(rows, expected, where):
        if rows.empty:
            return None, f"no fraction {where} was run"
        wins = rows["winner"] == expected
        desc = ", ".join(f"{100 * f:g} %: top {t:.3f} vs bottom {b:.3f}"
                         for f, t, b in zip(rows["fraction"], rows["top"], rows["bottom"]))
        return bool(wins.all()), (f"{expected} {'wins' if wins.all() else 'does not win'} {where} ({desc}; the 95 % "
                                  f"interval of the gap, paired by seed, excludes 0 at {int(rows['clear'].sum())} "
                                  f"of {len(rows)} fractions)")
    ok_small, text_small = part(verdict[verdict.fraction <= small], "bottom", f"at ≤ {100 * small:g} %")
    ok_large, text_large = part(verdict[verdict.fraction >= large], "top", f"at ≥ {100 * large:g} %")
    if ok_small and ok_large:
        head = "The paper's claim holds here"
    elif ok_small or ok_large:
        head = "The paper's claim holds only in part here"
    else:
        head = "The paper's claim does not hold here"
    return f"**{head}** for {method}: {text_small}; {text_large}."


def chapter_agreement(chapter: pd.DataFrame, grid: pd.DataFrame, schemes=("isef", "fgsm_cs", "pss"),
                      value: str = "test_acc") -> pd.DataFrame:
    """Top vs bottom for each sparse-FGSM score in its own chapter (the chapters' `top_bottom.csv`: method, keep)
    and in the benchmark grid (methods `<scheme>_top` / `<scheme>_bottom`), each at its smallest fraction: the
    winner, the paired gap's interval and whether it is clear, and `verdict`: 'agree', 'contradiction' (both
    clear, opposite winners) or 'disagree within noise' (opposite winners, at least one gap not clear)."""
    rows = []
    for scheme in schemes:
        own = chapter[chapter.method == scheme] if len(chapter) else chapter
        ours = grid[grid.method.isin([f"{scheme}_top", f"{scheme}_bottom"])]
        ours = ours.assign(keep=ours.method.str.rsplit("_", n=1).str[1], method=scheme)
        sides = []
        for frame in (own, ours):
            both = frame.groupby("fraction").keep.nunique() if len(frame) else pd.Series(dtype=int)
            fractions = sorted(both[both == 2].index)
            if not fractions:
                sides.append(None)
                continue
            v = top_vs_bottom(frame[frame.fraction == fractions[0]], scheme, value).iloc[0]
            sides.append({"fraction": fractions[0], "winner": v.winner, "low": v.gap_low, "high": v.gap_high,
                          "clear": bool(v.clear)})
        if None in sides:
            continue
        a, b = sides
        verdict = ("agree" if a["winner"] == b["winner"] else
                   "contradiction" if a["clear"] and b["clear"] else "disagree within noise")
        rows.append({"scheme": scheme, **{f"chapter_{k}": v for k, v in a.items()},
                     **{f"grid_{k}": v for k, v in b.items()}, "verdict": verdict})
    return pd.DataFrame(rows)


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


def easycore_verdict(results: pd.DataFrame, value: str = "pgd_acc") -> pd.DataFrame:
    """Per objective and fraction: EasyCore's mean `value`, the best other method's (by mean), the gain in points
    and its 95 % interval, paired by seed (`gain_low`, `gain_high`), and whether it is clear (`paired_gap`)."""
    rows = []
    for (objective, fraction), g in results.groupby(["objective", "fraction"], sort=True):
        by = {m: v.set_index("seed")[value] for m, v in g.groupby("method")}
        others = {m: v.mean() for m, v in by.items() if m != "easycore"}
        best = max(others, key=others.get)
        gap = paired_gap(by["easycore"], by[best])
        rows.append({"objective": objective, "fraction": fraction, "easycore": by["easycore"].mean(),
                     "best_other": best, "best_other_value": others[best], "gain_points": 100 * gap["diff"],
                     "gain_low": 100 * gap["low"], "gain_high": 100 * gap["high"], "clear": gap["clear"]})
    return pd.DataFrame(rows)


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


def _means(results, value="test_acc"):
    return results.groupby(["method", "fraction"])[value].mean().unstack("fraction")


def _pct(f):
    return f"{100 * f:g} %"


def _claim_sparse_vs_deepfool(mean, small, share):
    claim = "Sparse-FGSM schemes beat DeepFool at small fractions"
    rule = (f"at every fraction ≤ {_pct(small)} run, the best sparse variant beats DeepFool, and the variants beat "
            f"it in more than {_pct(share)} of the variant × fraction pairs")
    fractions = [f for f in sorted(mean.columns) if f <= small] if "deepfool" in mean.index else []
    cells = {f: [m for m in SPARSE_VARIANTS if m in mean.index and pd.notna(mean.loc[m, f])] for f in fractions
             if pd.notna(mean.loc["deepfool", f])}
    cells = {f: ms for f, ms in cells.items() if ms}
    if not cells:
        return claim, rule, f"needs DeepFool, the sparse variants and a fraction ≤ {_pct(small)}", "not tested here"
    parts, best_wins, wins, pairs = [], 0, 0, 0
    for f, sparse in cells.items():
        above = [m for m in sparse if mean.loc[m, f] > mean.loc["deepfool", f]]
        best = max(sparse, key=lambda m: mean.loc[m, f])
        best_wins, wins, pairs = best_wins + bool(above), wins + len(above), pairs + len(sparse)
        parts.append(f"{_pct(f)}: DeepFool {mean.loc['deepfool', f]:.3f}, {len(above)} of {len(sparse)} above it "
                     f"(best {best} {mean.loc[best, f]:.3f})")
    holds = best_wins == len(cells) and wins > share * pairs
    return (claim, rule, "; ".join(parts) + f"; {wins} of {pairs} pairs",
            "holds" if holds else "partly" if wins else "does not hold")


def _claim_bottom_beats_top(mean, tiny, share):
    claim = f"Bottom (least sensitive) variants beat top variants at ≤ {_pct(tiny)}"
    rule = f"at every fraction ≤ {_pct(tiny)} run, bottom beats top in more than {_pct(share)} of the schemes"
    schemes = [s for s in ("isef", "fgsm_cs", "pss") if f"{s}_top" in mean.index and f"{s}_bottom" in mean.index]
    cmp = {f: [(s, mean.loc[f"{s}_bottom", f], mean.loc[f"{s}_top", f]) for s in schemes
               if pd.notna(mean.loc[f"{s}_bottom", f]) and pd.notna(mean.loc[f"{s}_top", f])]
           for f in sorted(mean.columns) if f <= tiny}
    cmp = {f: c for f, c in cmp.items() if c}
    if not cmp:
        return (claim, rule, f"needs a fraction ≤ {_pct(tiny)} (the sparse-FGSM chapters test it at 1 %)",
                "not tested here")
    wins = {f: sum(b > t for _, b, t in c) for f, c in cmp.items()}
    evidence = "; ".join(f"{s} {_pct(f)}: bottom {b:.3f} vs top {t:.3f}" for f, c in cmp.items() for s, b, t in c)
    holds = all(wins[f] > share * len(c) for f, c in cmp.items())
    return claim, rule, evidence, "holds" if holds else "partly" if sum(wins.values()) else "does not hold"


def _claim_random_hard_to_beat(results, mean, band, tolerated):
    lo, hi = band
    claim = f"Random is hard to beat at {100 * lo:g}–{_pct(hi)}"
    rule = (f"at the fractions in [{_pct(lo)}, {_pct(hi)}] run, at most {_pct(tolerated)} of the method × fraction "
            "pairs are clearly above random (the 95 % interval of the difference, paired by seed, excludes 0)")
    mid = [f for f in sorted(mean.columns) if lo <= f <= hi]
    if not mid or "random" not in mean.index:
        return claim, rule, f"needs random and a fraction in [{_pct(lo)}, {_pct(hi)}]", "not tested here"
    if results.groupby(["method", "fraction"])["seed"].nunique().max() < 2:
        return claim, rule, "one value per cell: no interval to test a gap with", "not tested here"
    gaps = paired_difference(results[results.fraction.isin(mid)], "test_acc").set_index(["method", "fraction"])
    parts, beaten, others = [], 0, 0
    for f in mid:
        ran = [m for m in mean.index if m != "random" and pd.notna(mean.loc[m, f])]
        clear = [m for m in ran if (m, f) in gaps.index and gaps.loc[(m, f), "clear"] and gaps.loc[(m, f), "diff"] > 0]
        beaten += len(clear)
        others += len(ran)
        parts.append(f"{_pct(f)}: random {mean.loc['random', f]:.3f}, {len(clear)} of {len(ran)} "
                     f"methods clearly above it" + (f" ({', '.join(clear)})" if clear else ""))
    return claim, rule, "; ".join(parts), "holds" if beaten <= tolerated * others else "does not hold"


def _claim_not_robust(results, fgsm_eps_255, robust_ceiling):
    column = f"fgsm_{fgsm_eps_255:g}"
    claim = f"Coresets are not robust to FGSM (ε = {fgsm_eps_255:g}/255)"
    rule = (f"no method's FGSM accuracy at ε = {fgsm_eps_255:g}/255, averaged over its fractions and seeds, exceeds "
            f"{robust_ceiling:g}")
    if column not in results:
        return claim, rule, f"needs FGSM at ε = {fgsm_eps_255:g}/255", "not tested here"
    fgsm, clean = results.groupby("method")[column].mean(), results.groupby("method")["test_acc"].mean()
    return (claim, rule, f"FGSM accuracy over all fractions: median {fgsm.median():.3f}, best {fgsm.idxmax()} "
                         f"{fgsm.max():.3f} (clean: median {clean.median():.3f})",
            "holds" if fgsm.max() <= robust_ceiling else "does not hold")


@dataclass(frozen=True)
class ClaimRules:
    """The thresholds of the claims' rules (the module docstring states each rule with them)."""

    robust_ceiling: float = 0.2
    small: float = 0.1
    beat_share: float = 0.5
    tiny: float = 0.01
    bottom_share: float = 0.5
    band: tuple = (0.05, 0.2)
    tolerated: float = 0.25


def claims(results: pd.DataFrame, fgsm_eps_255: float = 8.0, rules: ClaimRules = ClaimRules()) -> pd.DataFrame:
    """The headline claims of the papers this book follows, checked on benchmark rows (method, fraction, seed,
    test_acc, optionally fgsm_<ε> columns; a published table with one value per cell works as one seed): one row
    per claim with its rule (thresholds in words), the evidence (mean accuracies) and a verdict ('holds', 'does
    not hold', 'partly', or 'not tested here'). The rules are those of the module docstring, with `rules`."""
    r = rules
    mean = _means(results)
    rows = [_claim_sparse_vs_deepfool(mean, r.small, r.beat_share), _claim_bottom_beats_top(mean, r.tiny, r.bottom_share),
            _claim_random_hard_to_beat(results, mean, r.band, r.tolerated),
            _claim_not_robust(results, fgsm_eps_255, r.robust_ceiling)]
    return pd.DataFrame(rows, columns=["claim", "rule", "evidence", "verdict"])


__all__ = ["ClaimRules", "chapter_agreement", "claims", "describe_agreement", "describe_gap", "describe_ranking",
           "easycore_verdict", "paired_difference", "paired_gap", "ranking", "ranking_table", "scale_note",
           "SPARSE_VARIANTS", "summarize", "t_half_width", "top_bottom_claim", "top_vs_bottom", "versus_random"]

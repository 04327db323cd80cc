"""Verdicts: the one rule by which every computed sentence of the book calls a difference clear, and the
sentences and tables built on it.

**The rule** (`clear_gap`): a difference between two means over seeds is *clear* when its size exceeds the larger
of the two standard deviations over seeds (a single seed's deviation counts as 0). It is a cautious screen, not a
test: with two seeds a gap inside the spread is not evidence either way, and the chapters say so.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

SPARSE_VARIANTS = tuple(f"{s}_{k}" for s in ("isef", "fgsm_cs", "pss") for k in ("top", "bottom"))


def clear_gap(gap, spread_a, spread_b):
    """The book's rule: |gap| > max(spread_a, spread_b), with spreads the standard deviations over seeds of the
    two means compared (NaN, from a single seed, counts as 0). Scalars give a bool; arrays or Series, element-wise."""
    spread = np.maximum(np.nan_to_num(np.asarray(spread_a, dtype=float)), np.nan_to_num(np.asarray(spread_b, dtype=float)))
    clear = np.abs(np.asarray(gap, dtype=float)) > spread
    return bool(clear) if clear.ndim == 0 else clear


def summarize(results: pd.DataFrame, value: str = "test_acc", by=("method", "keep", "fraction")) -> pd.DataFrame:
    """Mean, standard deviation and count of `value` over seeds for each group."""
    return (results.groupby(list(by), as_index=False)[value].agg(["mean", "std", "count"])
            .rename(columns={"mean": f"{value}_mean", "std": f"{value}_std", "count": "seeds"}))


def top_vs_bottom(results: pd.DataFrame, method: str) -> pd.DataFrame:
    """Per fraction: mean accuracy of the top and bottom coresets of `method` (and random), the winner, and
    whether the gap is clear (`clear_gap`)."""
    s = summarize(results[results.method.isin([method, "random"])])
    wide = s.pivot_table(index="fraction", columns="keep", values=["test_acc_mean", "test_acc_std"], dropna=False)
    out = pd.DataFrame({"fraction": wide.index})
    for keep in ("top", "bottom", "random"):
        if ("test_acc_mean", keep) in wide:
            out[keep] = wide[("test_acc_mean", keep)].to_numpy()
            out[f"{keep}_std"] = wide[("test_acc_std", keep)].fillna(0).to_numpy()
    out["winner"] = ["top" if t > b else "bottom" for t, b in zip(out["top"], out["bottom"])]
    out["clear"] = clear_gap(out["top"] - out["bottom"], out["top_std"], out["bottom_std"])
    return out


def top_bottom_claim(verdict: pd.DataFrame, method: str, small: float = 0.05, large: float = 0.2) -> str:
    """A sentence on the paper's claim 'bottom wins at small fractions, top wins past 20–30 %' from a
    `top_vs_bottom` table: which keep wins at fractions ≤ `small` and ≥ `large`, and whether the gaps are clear."""
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


def easycore_verdict(results: pd.DataFrame, value: str = "robust_acc") -> pd.DataFrame:
    """Per objective and fraction: EasyCore's mean `value`, the best other method's, the gain (points), and
    whether the gain is clear (`clear_gap`)."""
    stats = results.groupby(["objective", "fraction", "method"])[value].agg(["mean", "std"]).fillna(0)
    rows = []
    for (objective, fraction), g in stats.groupby(level=[0, 1]):
        g = g.droplevel([0, 1])
        others = g.drop(index="easycore")
        best = others["mean"].idxmax()
        gain = g.loc["easycore", "mean"] - others.loc[best, "mean"]
        rows.append({"objective": objective, "fraction": fraction, "easycore": g.loc["easycore", "mean"],
                     "best_other": best, "best_other_value": others.loc[best, "mean"], "gain_points": 100 * gain,
                     "clear": clear_gap(gain, g.loc["easycore", "std"], others.loc[best, "std"])})
    return pd.DataFrame(rows)


def versus_random(summary: pd.DataFrame, value: str = "robust") -> str:
    """A sentence comparing CRAIG and GradMatch with the random subset at every fraction of a `summarize_training`
    table (`value` 'robust' or 'clean'), saying whether each gap is clear (`clear_gap`)."""
    parts = []
    for fraction, rows in summary[summary.method != "full"].groupby("fraction", sort=False):
        rows = rows.set_index("method")
        if "random" not in rows.index:
            continue
        base, base_std = rows.loc["random", f"{value}_mean"], rows.loc["random", f"{value}_std"]
        for method in ("craig", "gradmatch"):
            if method in rows.index:
                gap = rows.loc[method, f"{value}_mean"] - base
                clear = clear_gap(gap, base_std, rows.loc[method, f"{value}_std"])
                parts.append(f"{method} at {100 * fraction:g} %: {gap:+.1f} points"
                             + (" (beyond the seed spread)" if clear else " (within the seed spread)"))
    return "; ".join(parts) if parts else "no random baseline was run"


def _means(results, value="test_acc"):
    g = results.groupby(["method", "fraction"])[value]
    return g.mean().unstack("fraction"), g.std().fillna(0).unstack("fraction")


def _claim_sparse_vs_deepfool(mean):
    claim = "Sparse-FGSM schemes beat DeepFool at small fractions"
    small = [f for f in sorted(mean.columns) if f <= 0.1]
    if not small or "deepfool" not in mean.index or pd.isna(mean.loc["deepfool", small[0]]):
        return claim, "needs DeepFool, the sparse variants and a fraction ≤ 10 %", "not tested here"
    f = small[0]
    sparse = [m for m in SPARSE_VARIANTS if m in mean.index and pd.notna(mean.loc[m, f])]
    if not sparse:
        return claim, "needs DeepFool, the sparse variants and a fraction ≤ 10 %", "not tested here"
    wins = [m for m in sparse if mean.loc[m, f] > mean.loc["deepfool", f]]
    best = max(sparse, key=lambda m: mean.loc[m, f])
    return (claim, f"at {100 * f:g} %: DeepFool {mean.loc['deepfool', f]:.3f}; {len(wins)} of {len(sparse)} sparse "
                   f"variants above it (best {best} {mean.loc[best, f]:.3f})",
            "holds" if len(wins) == len(sparse) else "partly" if wins else "does not hold")


def _claim_bottom_beats_top(mean):
    claim = "Bottom (least sensitive) variants beat top variants at ≤ 1 %"
    tiny = [f for f in sorted(mean.columns) if f <= 0.01]
    pairs = [s for s in ("isef", "fgsm_cs", "pss") if f"{s}_top" in mean.index and f"{s}_bottom" in mean.index]
    cmp = [(s, f, mean.loc[f"{s}_bottom", f], mean.loc[f"{s}_top", f]) for s in pairs for f in tiny
           if pd.notna(mean.loc[f"{s}_bottom", f]) and pd.notna(mean.loc[f"{s}_top", f])]
    if not cmp:
        return claim, "needs a fraction ≤ 1 % (the sparse-FGSM chapters test it at 1 %)", "not tested here"
    wins = sum(b > t for *_, b, t in cmp)
    return (claim, "; ".join(f"{s} {100 * f:g} %: bottom {b:.3f} vs top {t:.3f}" for s, f, b, t in cmp),
            "holds" if wins == len(cmp) else "partly" if wins else "does not hold")


def _claim_random_hard_to_beat(mean, std):
    claim = "Random is hard to beat at 5–20 %"
    mid = [f for f in sorted(mean.columns) if 0.05 <= f <= 0.2]
    if not mid or "random" not in mean.index:
        return claim, "needs random and a fraction in [5 %, 20 %]", "not tested here"
    parts, beaten, others = [], 0, 0
    for f in mid:
        ran = [m for m in mean.index if m != "random" and pd.notna(mean.loc[m, f])]
        clear = [m for m in ran if mean.loc[m, f] > mean.loc["random", f]
                 and clear_gap(mean.loc[m, f] - mean.loc["random", f], std.loc[m, f], std.loc["random", f])]
        beaten += len(clear)
        others += len(ran)
        parts.append(f"{100 * f:g} %: random {mean.loc['random', f]:.3f}, {len(clear)} of {len(ran)} "
                     f"methods clearly above it" + (f" ({', '.join(clear)})" if clear else ""))
    return claim, "; ".join(parts), "holds" if beaten <= others / 4 else "does not hold"


def _claim_not_robust(results, fgsm_eps_255, robust_ceiling):
    column = f"fgsm_{fgsm_eps_255:g}"
    claim = f"Coresets are not robust to FGSM (ε = {fgsm_eps_255:g}/255)"
    if column not in results:
        return claim, f"needs FGSM at ε = {fgsm_eps_255:g}/255", "not tested here"
    fgsm = results.groupby("method")[column].mean()
    return (claim, f"FGSM accuracy over all fractions: median {fgsm.median():.3f}, best {fgsm.idxmax()} "
                   f"{fgsm.max():.3f} (clean: median {results.groupby('method')['test_acc'].mean().median():.3f})",
            "holds" if fgsm.max() <= robust_ceiling else "does not hold")


def claims(results: pd.DataFrame, fgsm_eps_255: float = 8.0, robust_ceiling: float = 0.2) -> pd.DataFrame:
    """The headline claims of the papers this book follows, checked on benchmark rows: one row per claim with
    the evidence (mean accuracies) and a verdict ('holds', 'does not hold', 'partly', or 'not tested here').
    'Clearly' means a clear gap by the book's rule (`clear_gap`)."""
    mean, std = _means(results)
    rows = [_claim_sparse_vs_deepfool(mean), _claim_bottom_beats_top(mean), _claim_random_hard_to_beat(mean, std),
            _claim_not_robust(results, fgsm_eps_255, robust_ceiling)]
    return pd.DataFrame(rows, columns=["claim", "evidence", "verdict"])

"""What every benchmark script shares: the command line, the device, the ci profile, a pool, paired timing and
the RESULT lines.

Every comparison is measured in one run, alternating the two contenders (A, B, A, B, …) after a warm-up round, and
reported as the median of the per-pair time ratios A/B: a drift of the machine's speed during the run then
affects both sides of every pair alike. Each script ends with one line per comparison,

    RESULT <name> <value> <goal>            e.g.  RESULT pgd_vs_torchattacks 0.94 <=1.0

(`finish`) and exits with status 1 if any goal is missed, so `make bench` fails on a missed goal. A goal that is
an adoption rule rather than a target (`result(..., adopts="bf16 as the ci precision")`: bf16 is adopted where it
is >= 1.4x faster) says whether the rule is met instead, never fails the run (the measured value decides a setting;
it is not a speed the code owes), and a DECISION line before the RESULT lines says what was decided.

A timing is believed only where its own spread allows: each paired comparison reports the distribution-free interval
of its median pair ratio (order statistics, the narrowest with ≥ 95 % coverage once there are 6 pairs; [min, max]
with its lower coverage before), and where that interval straddles the goal it takes more pairs (up to
`--max-repeats`). A goal is met where the whole interval meets it, missed where none of it does, and otherwise the
line says `inconclusive`: the run neither passes nor fails on it (exit status 0), and its interval says why.

    RESULT pgd_vs_torchattacks 0.94 <=1.0 [0.91, 0.97] 95% n=7
    RESULT aign_overhead 0.054 <=0.10 [-0.02, 0.12] 75% n=3   inconclusive
"""
import argparse
import math
import os
import statistics
import time

import torch

import corelib as cl
from corelib.profiles import load_profile

# (name, value, goal, verdict 'met' / 'missed' / 'inconclusive', adopts, interval, coverage, pairs)
_RESULTS: list[tuple] = []
MAX_REPEATS = {"value": None}  # --max-repeats of the command line (None: max(3 × --repeats, 6))


def setup(doc: str, images: int = 2000, repeats: int = 3, extra=None, threads: int | None = None):
    """Parse --images, --repeats, --device, --threads (and `extra(parser)` arguments); set torch's thread count
    (default: `threads`, else all cores, stated in the output); return (args, device, the ci profile's settings, a
    class-balanced
    pool of `--images` CIFAR-10 training images on the device)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=images)
    parser.add_argument("--repeats", type=int, default=repeats, help="timed pairs after one warm-up pair")
    parser.add_argument("--max-repeats", type=int, default=None,
                        help="pairs at most where the interval straddles a goal (default: max(3 × --repeats, 6))")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=threads, help="torch threads (default: one per core)")
    if extra:
        extra(parser)
    args = parser.parse_args()
    MAX_REPEATS["value"] = args.max_repeats
    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    device = cl.resolve_device(args.device)
    pool = cl.class_balanced_pool(cl.load_cifar10("train", device=device), args.images, seed=0)
    print(f"device: {cl.device_description(device)}; torch {torch.__version__}")
    return args, device, cl.Settings.from_mapping(load_profile("ci")), pool


def timed(fn, device=None) -> float:
    """Seconds one call of `fn` takes (synchronising CUDA before and after)."""
    if device is not None and torch.device(device).type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device is not None and torch.device(device).type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def median_interval(values, level: float = 0.95) -> tuple[float, float, float]:
    """A distribution-free interval of the median of `values`: the order statistics (x₍ₖ₎, x₍ₙ₋ₖ₊₁₎) with the largest
    k whose coverage 1 − 2·P(Bin(n, ½) ≤ k − 1) is ≥ `level`; with too few values for that, (min, max) and its
    (lower) coverage. Returns (low, high, coverage)."""
    x = sorted(values)
    n = len(x)
    if n == 0:
        return math.nan, math.nan, 0.0
    best = (x[0], x[-1], 1 - 2 * 0.5 ** n)
    for k in range(2, n // 2 + 1):
        coverage = 1 - 2 * sum(math.comb(n, i) for i in range(k)) / 2 ** n
        if coverage < level:
            break
        best = (x[k - 1], x[n - k], coverage)
    return best


def verdict(goal: str, value: float, interval: tuple[float, float] | None = None) -> str:
    """'met' where the value (or, given, every point of the interval) meets `goal`, 'missed' where neither end
    of the interval does, 'inconclusive' where the interval straddles it."""
    if interval is None:
        return "met" if _meets(value, goal) else "missed"
    ends = [_meets(v, goal) for v in interval]
    return "met" if all(ends) else "missed" if not any(ends) else "inconclusive"


def paired(a, b, repeats: int, device=None, warmup: int = 1, goal: str | None = None, value=None,
           max_repeats: int | None = None) -> dict:
    """Alternate `a` and `b` (`warmup` untimed pairs first, then `repeats` timed pairs, the order flipped every
    pair); return the median of the per-pair ratios time(a)/time(b), its interval (`median_interval`: `low`,
    `high`, `coverage`), the median times and the pairs taken (`n`). With a `goal` for `value(ratio)` (default the
    ratio itself), pairs are added while the interval straddles the goal or covers the median with less than 95 %
    (fewer than 6 pairs), up to `max_repeats` (--max-repeats, default max(3 × repeats, 6))."""
    value = value or (lambda r: r)
    limit = max_repeats or MAX_REPEATS["value"] or max(3 * repeats, 6)
    for _ in range(warmup):
        a(), b()
    ta, tb = [], []
    while True:
        i = len(ta)
        if i % 2:
            tb.append(timed(b, device)), ta.append(timed(a, device))
        else:
            ta.append(timed(a, device)), tb.append(timed(b, device))
        if len(ta) < repeats:
            continue
        r = ratio_summary([x / y for x, y in zip(ta, tb)])
        if goal is None or len(ta) >= limit:
            break
        if r["coverage"] >= 0.95 and verdict(goal, 0, (value(r["low"]), value(r["high"]))) != "inconclusive":
            break
    return {**r, "a": statistics.median(ta), "b": statistics.median(tb)}


def ratio_summary(ratios: list[float]) -> dict:
    """Pair ratios as a comparison: their median `ratio`, its interval (`median_interval`: `low`, `high`,
    `coverage`), the pairs `n` and the `ratios` themselves (what `result_paired` reads)."""
    low, high, coverage = median_interval(ratios)
    return {"ratio": statistics.median(ratios), "low": low, "high": high, "coverage": coverage, "n": len(ratios),
            "ratios": ratios}


def spread(r: dict, value=None) -> str:
    """A paired comparison's interval and pairs in words, e.g. '[0.91, 0.97] (95 %, 7 pairs)'."""
    value = value or (lambda x: x)
    return f"[{value(r['low']):.3g}, {value(r['high']):.3g}] ({100 * r['coverage']:.0f} %, {r['n']} pairs)"


def _meets(value: float, goal: str) -> bool:
    for op, test in (("<=", lambda v, g: v <= g), (">=", lambda v, g: v >= g), ("<", lambda v, g: v < g),
                     (">", lambda v, g: v > g)):
        if goal.startswith(op):
            return test(value, float(goal[len(op):]))
    raise ValueError(f"goal {goal!r} must start with <=, >=, < or >")


def result(name: str, value: float, goal: str, adopts: str | None = None, interval: tuple | None = None,
           coverage: float | None = None, pairs: int | None = None) -> str:
    """Record one comparison; the RESULT lines are printed, last, when the script ends. With `interval` (low, high)
    the verdict is 'met', 'missed' or 'inconclusive' (`verdict`). With `adopts` (what the goal decides, e.g. "bf16
    as the ci precision") the goal is an adoption rule, reported but never a failure. Returns the verdict."""
    v = verdict(goal, value, interval)
    _RESULTS.append((name, value, goal, v, adopts, interval, coverage, pairs))
    return v


def result_paired(name: str, r: dict, goal: str, value=None, adopts: str | None = None) -> str:
    """`result` for a `paired` comparison: `value(ratio)` (default the ratio) with its interval."""
    value = value or (lambda x: x)
    return result(name, value(r["ratio"]), goal, adopts, (value(r["low"]), value(r["high"])), r["coverage"], r["n"])


def finish() -> int:
    """Print the RESULT lines (last) and return the exit status: 1 if any goal was missed (an inconclusive one is
    not a failure: its interval straddles the goal). Scripts end with `sys.exit(finish())`."""
    print()
    decisions = {}
    for name, value, goal, v, adopts, *_ in _RESULTS:
        if adopts is not None:
            decisions.setdefault(adopts, []).append((name, v))
    for adopts, rules in decisions.items():
        failed = [name for name, v in rules if v != "met"]
        print(f"DECISION {adopts}: " + (f"not adopted ({', '.join(failed)} not clearly within the adoption rule)"
                                        if failed else "adopted (every adoption rule met)"))
    for name, value, goal, v, adopts, interval, coverage, pairs in _RESULTS:
        spread_ = "" if interval is None else (f" [{interval[0]:.3g}, {interval[1]:.3g}]"
                                               + (f" {100 * coverage:.0f}%" if coverage is not None else "")
                                               + (f" n={pairs}" if pairs is not None else ""))
        tail = ("" if v == "met" else "   MISSED" if v == "missed" else "   inconclusive") if adopts is None else \
            f"   adoption rule {v} ({adopts})"
        print(f"RESULT {name} {value:.3g} {goal}{spread_}{tail}")
    return 0 if all(v != "missed" or adopts is not None for _, _, _, v, adopts, *_ in _RESULTS) else 1

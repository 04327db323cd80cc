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
"""
import argparse
import os
import statistics
import time

import torch

import corelib as cl
from corelib.profiles import load_profile

_RESULTS: list[tuple[str, float, str, bool, str | None]] = []


def setup(doc: str, images: int = 2000, repeats: int = 3, extra=None, threads: int | None = None):
    """Parse --images, --repeats, --device, --threads (and `extra(parser)` arguments); set torch's thread count
    (default: `threads`, else all cores, stated in the output); return (args, device, the ci profile's settings, a
    class-balanced
    pool of `--images` CIFAR-10 training images on the device)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=images)
    parser.add_argument("--repeats", type=int, default=repeats, help="timed pairs after one warm-up pair")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=threads, help="torch threads (default: one per core)")
    if extra:
        extra(parser)
    args = parser.parse_args()
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


def paired(a, b, repeats: int, device=None, warmup: int = 1) -> dict:
    """Alternate `a` and `b` (`warmup` untimed pairs first, then `repeats` timed pairs, the order flipped every
    pair); return the median of the per-pair ratios time(a)/time(b) and the median times."""
    for _ in range(warmup):
        a(), b()
    ta, tb = [], []
    for i in range(repeats):
        if i % 2:
            tb.append(timed(b, device)), ta.append(timed(a, device))
        else:
            ta.append(timed(a, device)), tb.append(timed(b, device))
    ratios = [x / y for x, y in zip(ta, tb)]
    return {"ratio": statistics.median(ratios), "a": statistics.median(ta), "b": statistics.median(tb),
            "ratios": ratios}


def _meets(value: float, goal: str) -> bool:
    for op, test in (("<=", lambda v, g: v <= g), (">=", lambda v, g: v >= g), ("<", lambda v, g: v < g),
                     (">", lambda v, g: v > g)):
        if goal.startswith(op):
            return test(value, float(goal[len(op):]))
    raise ValueError(f"goal {goal!r} must start with <=, >=, < or >")


def result(name: str, value: float, goal: str, adopts: str | None = None) -> bool:
    """Record one comparison; the RESULT lines are printed, last, when the script ends. With `adopts` (what the
    goal decides, e.g. "bf16 as the ci precision") the goal is an adoption rule, reported but never a failure."""
    ok = _meets(value, goal)
    _RESULTS.append((name, value, goal, ok, adopts))
    return ok


def finish() -> int:
    """Print the RESULT lines (last) and return the exit status: 1 if any goal was missed. Scripts end with
    `sys.exit(finish())`."""
    print()
    decisions = {}
    for name, value, goal, ok, adopts in _RESULTS:
        if adopts is not None:
            decisions.setdefault(adopts, []).append((name, ok))
    for adopts, rules in decisions.items():
        failed = [name for name, ok in rules if not ok]
        print(f"DECISION {adopts}: " + (f"not adopted ({', '.join(failed)} outside the adoption rule)" if failed
                                        else "adopted (every adoption rule met)"))
    for name, value, goal, ok, adopts in _RESULTS:
        verdict = ("" if ok else "   MISSED") if adopts is None else \
            f"   adoption rule {'met' if ok else 'not met'} ({adopts})"
        print(f"RESULT {name} {value:.3g} {goal}{verdict}")
    return 0 if all(ok or adopts is not None for _, _, _, ok, adopts in _RESULTS) else 1

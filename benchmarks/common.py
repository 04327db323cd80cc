"""What every benchmark script shares: the command line, the device, the ci profile, a pool, paired timing and
the RESULT lines.

Every comparison is measured in one run, alternating the two contenders (A, B, A, B, …) after a warm-up round, and
reported as the median of the per-pair time ratios A/B: a drift of the machine's speed during the run then
affects both sides of every pair alike. Each script ends with one line per comparison,

    RESULT <name> <value> <goal>            e.g.  RESULT pgd_vs_torchattacks 0.94 <=1.0

(`finish`) and exits with status 1 if any goal is missed, so `make bench` fails on a missed goal.
"""
import argparse
import os
import statistics
import time

import torch

import corelib as cl
from corelib.profiles import load_profile

_RESULTS: list[tuple[str, float, str, bool]] = []


def setup(doc: str, images: int = 2000, repeats: int = 3, extra=None, threads: int | None = None):
    """Parse --images, --repeats, --device, --threads (and `extra(parser)` arguments); set torch's thread count
    (default: `threads`, else all cores, stated in the output); return (args, device, ci profile, a class-balanced
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
    return args, device, load_profile("ci"), pool


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


def result(name: str, value: float, goal: str) -> bool:
    """Record one comparison; the RESULT lines are printed, last, when the script ends."""
    ok = _meets(value, goal)
    _RESULTS.append((name, value, goal, ok))
    return ok


def finish() -> int:
    """Print the RESULT lines (last) and return the exit status: 1 if any goal was missed. Scripts end with
    `sys.exit(finish())`."""
    print()
    for name, value, goal, ok in _RESULTS:
        print(f"RESULT {name} {value:.3g} {goal}" + ("" if ok else "   MISSED"))
    return 0 if all(ok for *_, ok in _RESULTS) else 1

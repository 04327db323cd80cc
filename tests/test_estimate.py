"""What a grid will cost before it starts (`--estimate`) and how the speed benchmarks decide (intervals, verdicts)."""
import importlib.util
import math
import subprocess
import sys
from pathlib import Path

import pytest

from corelib.experiments.estimate import phases, sample_cells

ROOT = Path(__file__).resolve().parents[1]


def _common():
    spec = importlib.util.spec_from_file_location("bench_common", ROOT / "benchmarks" / "common.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_sample_spreads_over_the_methods_and_covers_every_fraction():
    names = [f"m{i}" for i in range(12)]
    cells = sample_cells(names, [0.1, 0.01, 0.3], seed=4)
    assert [c["fraction"] for c in cells] == [0.1, 0.01, 0.3] and {c["seed"] for c in cells} == {4}
    assert [c["method"] for c in cells] == ["m0", "m4", "m8"]  # not the head of the list only
    assert [c["method"] for c in sample_cells(["a"], [0.1, 0.3], 0)] == ["a", "a"]


def test_a_cells_overhead_is_what_no_phase_accounts_for():
    row = {"method": "craig", "select_seconds": 2.0, "train_seconds": 10.0, "eval_seconds": 3.0, "setup_seconds": 0.5,
           "cell_seconds": 16.0}
    assert phases(row) == {"selection": 2.0, "training": 10.0, "evaluation": 3.0, "setup": 0.5, "overhead": 0.5}
    # Algorithm 1 selects inside its training: its renewals are not counted twice
    assert phases({**row, "method": "acs_craig"})["selection"] == 0.0
    assert phases({**row, "cell_seconds": 1.0})["overhead"] == 0.0  # a clock's rounding never makes it negative
    assert phases({"method": "random", "cell_seconds": 1.0, "eval_seconds": math.nan})["evaluation"] == 0.0


def test_the_estimate_runs_a_few_cells_apart_and_prints_the_total(tmp_path):
    out = tmp_path / "bench.csv"
    done = subprocess.run([sys.executable, "-m", "corelib", "bench", "--profile", "smoke", "--methods", "random",
                           "easycore", "--fractions", "0.1", "0.3", "--seeds", "0", "1", "--out", str(out),
                           "--estimate"], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "8 cells, 8 still to run; measured on 2" in done.stdout
    assert "random at 10 %" in done.stdout and "easycore at 30 %" in done.stdout
    assert "CPU hours for the remaining cells (selection" in done.stdout
    assert not out.exists()  # nothing recorded: the sample ran into a scratch table


def test_a_median_interval_has_the_coverage_it_states():
    common = _common()
    assert common.median_interval([3, 1, 2]) == (1, 3, 0.75)
    low, high, coverage = common.median_interval(list(range(1, 12)))
    assert (low, high) == (2, 10) and coverage == pytest.approx(1 - 2 * (1 + 11) / 2 ** 11)
    assert coverage >= 0.95


@pytest.mark.parametrize("interval, expected", [((0.8, 0.95), "met"), ((0.9, 1.05), "inconclusive"),
                                                ((1.02, 1.2), "missed"), (None, "met")])
def test_a_goal_is_decided_by_the_whole_interval(interval, expected):
    assert _common().verdict("<=1.0", 0.97, interval) == expected


def test_pairs_are_added_while_the_interval_straddles_the_goal():
    common = _common()
    slow, fast = (lambda: None), (lambda: None)
    times = iter([0.9, 1.0] * 50)  # the order flips every pair: ratios 0.9, 1.11, 0.9, … straddle the goal
    common.timed = lambda fn, device=None: next(times)
    r = common.paired(slow, fast, repeats=3, goal="<=1.0", max_repeats=9)
    assert r["n"] == 9 and common.verdict("<=1.0", r["ratio"], (r["low"], r["high"])) == "inconclusive"
    times = iter([1.0, 1.0] * 50)  # every ratio exactly 1.0
    r = common.paired(slow, fast, repeats=3, goal="<=1.0", max_repeats=9)
    assert r["n"] == 6 and r["coverage"] >= 0.95  # decisive, and stopped as soon as the interval covered 95 %
    times = iter([1.0, 2.0] * 50)
    r = common.paired(slow, fast, repeats=3)  # no goal: exactly the pairs asked for
    assert r["n"] == 3

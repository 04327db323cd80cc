"""What a benchmark grid will cost before it starts (`python -m corelib bench … --estimate`): a few of its cells run
for real into a scratch table (one per fraction, methods spread over the list), and the rest is extrapolated from
their measured phases: selection (per method where measured, else the measured median), training and evaluation
(per fraction), the seed's shared setup (the proxy, once per seed) and the grid's own overhead (the seconds of a cell
that are none of these)."""
from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from ..methods import TRAINING_METHODS
from ..cache import ArtifactCache
from .benchmark import BENCH_KEYS, benchmark_from_settings, grid_options, run_benchmark
from .grid import GridOptions
from .results_table import read_text_table

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ..settings import Settings

PHASES = ("selection", "training", "evaluation", "setup", "overhead")


def sample_cells(names: Sequence[str], fractions: Sequence[float], seed: int) -> list[dict]:
    """One cell per fraction, the methods spread evenly over `names` (so a long list is sampled beyond its head)."""
    step = max(1, len(names) // max(1, len(fractions)))
    return [{"method": names[(i * step) % len(names)], "fraction": float(f), "seed": int(seed)}
            for i, f in enumerate(fractions)]


def phases(row: dict) -> dict:
    """A benchmark row's seconds by phase; overhead = the cell's wall time less selection, training, evaluation and
    the shared setup it waited for (never below 0). Algorithm 1's renewals are part of its training time."""
    get = lambda k: float(row.get(k) or 0.0) if pd.notna(row.get(k)) else 0.0  # noqa: E731
    inside = row.get("method") in TRAINING_METHODS  # Algorithm 1 selects inside its training: counted there
    known = {"selection": 0.0 if inside else get("select_seconds"), "training": get("train_seconds"), "evaluation": get("eval_seconds"),
             "setup": get("setup_seconds")}
    return {**known, "overhead": max(0.0, get("cell_seconds") - sum(known.values()))}


@dataclass
class GridEstimate:
    """The measured sample and the extrapolated cost of the cells still to run (seconds by phase)."""
    cells: int
    remaining: int
    sample: pd.DataFrame
    totals: dict
    assumed: list
    start_seconds: float

    @property
    def total_seconds(self) -> float:
        """The cells' phases and the setup before the first cell (base model, pools; 0 where it was cached)."""
        return sum(self.totals.values()) + self.start_seconds

    def text(self) -> str:
        """The estimate in words: cells, per-cell seconds measured, the total and its split by phase."""
        hours = self.total_seconds / 3600
        lines = [f"{self.cells} cells, {self.remaining} still to run; measured on {len(self.sample)} "
                 f"(the setup before the first cell, base model and pools, took {self.start_seconds:.0f} s):"]
        for row in self.sample.to_dict("records"):
            p = phases(row)
            lines.append(f"  {row['method']} at {100 * row['fraction']:g} %: {row['cell_seconds']:.1f} s ("
                         + ", ".join(f"{k} {v:.1f}" for k, v in p.items()) + ")")
        lines.append(f"estimate: {hours:.2f} CPU hours for the remaining cells ("
                     + ", ".join(f"{k} {v / 3600:.2f} h" for k, v in self.totals.items())
                     + f", the setup before the first cell {self.start_seconds / 3600:.2f} h)")
        if self.assumed:
            lines.append(f"selection not measured for {len(self.assumed)} methods (the measured median assumed): "
                         + ", ".join(self.assumed))
        return "\n".join(lines)


def estimate_grid(settings: Settings, names: Sequence[str], fractions: Sequence[float], seeds: Sequence[int],
                  out: str | Path, cache: ArtifactCache | None = None) -> GridEstimate:
    """Run `sample_cells` of the grid into a scratch table and extrapolate to the cells of `out` still to run."""
    done = set()
    if Path(out).is_file():
        table = read_text_table(Path(out), BENCH_KEYS)
        done = {(r["method"], float(r["fraction"]), int(r["seed"])) for r in table.to_dict("records")}
    cells = [(m, float(f), int(s)) for f in fractions for m in names for s in seeds]
    todo = [c for c in cells if c not in done]
    sample = sample_cells(list(names), list(fractions), seeds[0])
    cache = ArtifactCache() if cache is None else cache
    options = grid_options(settings, GridOptions(rank=0, world=1))
    start = time.perf_counter()
    bench = benchmark_from_settings(settings, cache)  # pools and base model once, for every sampled cell
    with tempfile.TemporaryDirectory() as tmp:  # one cell per fraction: distinct cells, one row each
        rows = pd.concat([run_benchmark(bench, [c["method"]], [c["fraction"]], [c["seed"]], Path(tmp) / "sample.csv",
                                        cache, options) for c in sample], ignore_index=True)
    wall = time.perf_counter() - start - float(rows["cell_seconds"].sum())
    by_fraction = {f: phases(r) for f, r in zip(rows["fraction"], rows.to_dict("records"))}
    selects = {r["method"]: phases(r)["selection"] for r in rows.to_dict("records")}
    median_select = statistics.median(selects.values())
    proxy = max([float(v) for v in rows["proxy_seconds"] if pd.notna(v)] or [0.0])
    totals = dict.fromkeys(PHASES, 0.0)
    for method, fraction, _ in todo:
        measured = by_fraction[fraction]
        totals["selection"] += selects.get(method, median_select)
        for phase in ("training", "evaluation", "overhead"):
            totals[phase] += measured[phase]
    totals["setup"] = proxy * len({s for _, _, s in todo})  # one proxy per seed, shared by its cells
    assumed = sorted({m for m, _, _ in todo} - set(selects))
    return GridEstimate(len(cells), len(todo), rows, totals, assumed, max(0.0, wall))


__all__ = ["estimate_grid", "GridEstimate", "PHASES", "phases", "sample_cells"]

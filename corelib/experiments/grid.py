"""Experiments as grids of cells (e.g. method × fraction × seed), each cell a row of a tidy results table.

What a results table guarantees:

- **No finished row is ever lost.** After every cell the process takes a lock on the file, reads what is on disk,
  adds its row and rewrites the file atomically, so an interrupted grid resumes where it stopped, a killed
  process never leaves a corrupt file, and two processes writing one file both keep their rows.
- **No row of another configuration is deleted.** Every row carries `grid_config`, the hash of the
  configuration it was computed under (data, settings, code). A grid reads only its own rows; rows of other
  configurations (an earlier `-p` value, older code) stay in the file, and a log line says how many.
- **A cell is computed once.** Before computing a cell a process claims it (`.NAME.claims` beside the
  table); another process on the same machine skips the claimed cell and waits for its row at the end. A claim
  whose process has died is taken over.
- **A diverged run is recorded, not fatal.** A cell whose training stops with `NonFiniteError` (a NaN or infinite
  loss) gets a row with `status` 'diverged' and the error in `note`, its numbers missing (NaN), so means over seeds
  leave it out; every call says how many runs diverged. Finished cells have `status` 'ok'.
- **A collapsed run is flagged, not averaged.** A cell whose row reports `top_class_share` ≥ `COLLAPSED_SHARE`
  (its model predicts one class for at least 90 % of the test set: a constant predictor, whose clean and robust
  accuracy are both the chance level) gets `status` 'collapsed'; its accuracy columns (every column whose name
  contains 'acc' or starts with 'fgsm_') are kept in `note` and set to NaN, so means over seeds leave it out,
  and every call names it. With `retry=True` (a profile's `retry_collapsed`), a diverged or collapsed cell is
  run once more from another seed and its row says so.
- **Same table however it ran.** Rows come back in the order of the cells, read from the file, so an
  uninterrupted, a resumed and a sharded run give the same table (up to the timing column `cell_seconds`), as
  long as each cell's computation depends only on the cell (give attacks a per-cell generator:
  `cell_attack`).

A grid can also be sharded across processes, GPUs or machines: with `world > 1` (by default RANK and WORLD_SIZE
from torchrun's environment) a process runs every world-th cell and writes its own shard file beside the
results path; `merge_shards` joins them into the results table.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import pandas as pd

from ..attacks import Attack
from ..checks import NonFiniteError
from ..files import file_lock
from ..hashing import config_hash
from . import cell_claims
from .results_table import (CELL_KEYS, _append, _key, _read_text_table, check_path, checked_rows, own_rows, shard_path)

COLLAPSED_SHARE = 0.9  # a model that puts this share of the test set in one class is a (near-)constant predictor
RETRY_SEED_OFFSET = 10_000  # a retried cell's seed: far from every seed a grid lists, so no retry duplicates a cell


@dataclass(frozen=True)
class GridOptions:
    """How a grid runs, as opposed to what it computes: `log` (one line per message), the shard (`rank` of
    `world` processes; None: torchrun's RANK / WORLD_SIZE where a caller reads them, else 0 of 1), `poll_seconds`
    between looks at cells another process holds, `retry` (a diverged or collapsed cell is run once more from
    another seed) and `hours` (start no new cell after this many hours)."""

    log: Callable[[str], None] = print
    rank: int | None = None
    world: int | None = None
    poll_seconds: float = 1.0
    retry: bool = False
    hours: float | None = None


def distributed_env() -> tuple[int, int]:
    """(rank, world size) from torchrun's RANK and WORLD_SIZE (0, 1 outside torchrun)."""
    try:
        rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    except ValueError:
        raise ValueError(f"RANK={os.environ.get('RANK')!r} and WORLD_SIZE={os.environ.get('WORLD_SIZE')!r} must be "
                         "integers (torchrun sets them)") from None
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"RANK={rank} must lie in [0, WORLD_SIZE={world}) and WORLD_SIZE must be ≥ 1")
    return rank, world


def cell_seed(seed: int, cell: dict) -> int:
    """A seed for the random choices of one cell, from a base `seed` and the cell's own `seed` (not its method or
    fraction, so every method of one seed meets the same random attack starts: a paired comparison)."""
    return int(config_hash({"seed": int(seed), "cell_seed": int(cell.get("seed", 0))}), 16) % (2 ** 63)


def cell_attack(attack: Attack, cell: dict) -> Attack:
    """`attack` with a fresh generator for this cell (`cell_seed` of its seed and the cell's): the cell's result
    then does not depend on which cells this process evaluated before, so a resumed or sharded grid matches an
    uninterrupted one."""
    return attack.reseeded(cell_seed(getattr(attack, "seed", 0), cell))


# ---------------------------------------------------------------- the table on disk


# ---------------------------------------------------------------- claims

# ---------------------------------------------------------------- the grid

def run_grid(cells: Iterable[dict], run_cell: Callable[[dict], dict], path: str | Path,
             keys: Sequence[str] = CELL_KEYS, config: dict | None = None, accuracies: Sequence[str] | None = None,
             options: GridOptions | None = None) -> pd.DataFrame:
    """Run every cell whose key has no row yet in the CSV at `path` under this configuration, adding its row
    (cell fields + the dict `run_cell` returns + cell_seconds + grid_config) to the file after each cell (see
    the module docstring for what that guarantees). Returns the rows of `cells`, in their order.

    `config` describes everything the cells share (data, training settings, scores, code version); its hash
    is stored with every row, and the grid resumes only rows of its own configuration. With `world > 1` this
    process runs cells rank, rank + world, … and writes them to `shard_path(path, rank, world)` (cells already
    in `path` are skipped); join the shards with `merge_shards`. With `retry`, a cell that diverged or collapsed
    is run once more from seed + `RETRY_SEED_OFFSET` (the cell's function receives that seed); the row keeps the
    cell's key, the retry's numbers and status, `retried_seed`, and a note saying what happened first.

    `hours`: start no new cell once this many hours have passed (a cell under way is finished, never cut), so a
    grid too long for one sitting is recorded over several runs of the same command, each resuming the last.

    `accuracies`: the columns of a row that are accuracies (an `EvaluationSuite`'s `accuracy_columns`), which a
    collapsed row moves into its note; None: the columns whose names end in '_acc' or start with 'fgsm_'.
    `options` (`GridOptions`): log, rank / world (default 0 of 1), poll_seconds, retry, hours."""
    options = options or GridOptions()
    rank = 0 if options.rank is None else options.rank
    world = 1 if options.world is None else options.world
    hours = options.hours
    if hours is not None and (isinstance(hours, bool) or not isinstance(hours, (int, float)) or not hours > 0):
        raise ValueError(f"hours={hours!r} must be a positive number of hours (or None: run every cell)")
    cells = _checked_cells(cells, keys)
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"rank {rank} must lie in [0, world={world}) and world must be ≥ 1")
    path = Path(path)
    out = path if world == 1 else shard_path(path, rank, world)
    for p in {path, out}:
        check_path(p)
    grid_config = config_hash({**(config or {}), "_retry": True} if options.retry else (config or {}))
    run = _GridRun(out, [path] if world == 1 else [path, out], tuple(keys), grid_config, options, accuracies)
    mine = cells if world == 1 else cells[rank::world]
    run.compute_all(run_cell, run.todo(mine), len(mine))
    table = run.collect(cells)
    run.report(table)
    return table


def _checked_cells(cells: Iterable[dict], keys: Sequence[str]) -> list[dict]:
    """The cells as a list, refused when empty or when two share a key."""
    cells = list(cells)
    if not cells:
        raise ValueError("the grid has no cells: give at least one method, fraction and seed")
    seen = set()
    for cell in cells:
        k = _key(cell, keys)
        if k in seen:
            raise ValueError(f"duplicate grid cell {dict(zip(keys, k))}; every cell must differ in {list(keys)}")
        seen.add(k)
    return cells


@dataclass
class _GridRun:
    """One process's run of a grid: the file it writes (`out`), the files it reads rows from (`sources`), and how."""

    out: Path
    sources: list[Path]
    keys: tuple
    grid_config: str
    options: GridOptions
    accuracies: Sequence[str] | None

    def todo(self, mine: list[dict]) -> list[dict]:
        """The cells of this process without a row of this configuration yet (the others are logged as kept)."""
        log = self.options.log
        with file_lock(self.out):
            tables = [_read_text_table(p, self.keys) for p in self.sources]
        others = sum(int((t["grid_config"] != self.grid_config).sum()) for t in tables if len(t))
        if others:
            log(f"{self.out.name}: keeping {others} rows of other configurations in the file (this grid reads only "
                f"its own, grid_config {self.grid_config})")
        for line in cell_claims.prune(self.out):  # claims whose process has gone, e.g. a killed run's
            log(line)
        finished = set()
        for path, table in zip(self.sources, tables):
            rows, problems = checked_rows(table, self.grid_config, self.keys)
            for problem in problems:
                log(f"{path.name}: {problem}")
            finished |= {_key(r, self.keys) for r in rows.to_dict("records")}
        todo = [c for c in mine if _key(c, self.keys) not in finished]
        if len(todo) < len(mine):
            log(f"resuming {self.out.name}: {len(mine) - len(todo)} of {len(mine)} cells already done")
        return todo

    def claim(self, cell: dict) -> str:
        """'done', 'busy' or 'mine' (`cell_claims.try_claim`): done when a file holds the cell's row."""
        key = _key(cell, self.keys)

        def is_done() -> bool:
            for p in self.sources:
                rows = checked_rows(_read_text_table(p, self.keys), self.grid_config, self.keys)[0]
                if len(rows) and key in {_key(r, self.keys) for r in rows.to_dict("records")}:
                    return True
            return False

        return cell_claims.try_claim(self.out, self.grid_config, key, is_done, self.options.log)

    def compute(self, cell: dict, run_cell: Callable, held: list) -> None:
        """Compute a claimed cell, write its row, then drop its claim (a kill leaves at most the claim of the cell
        under way)."""
        key = _key(cell, self.keys)
        held.append(key)
        _compute(cell, run_cell, self.out, self.keys, self.grid_config, self.options.retry, self.accuracies)
        cell_claims.release(self.out, self.grid_config, [key])
        held.remove(key)

    def compute_all(self, run_cell: Callable, todo: list[dict], total: int) -> None:
        """Claim and compute every cell of `todo` (until `hours`), then wait for the cells other processes hold."""
        start, hours = time.monotonic(), self.options.hours
        waiting, held = [], []
        try:
            for i, cell in enumerate(todo):
                if hours is not None and time.monotonic() - start >= hours * 3600:
                    self.options.log(f"{self.out.name}: stopping after {hours:g} h with {len(todo) - i} of {total} "
                                     "cells still to run; run the same command again to continue")
                    break
                state = self.claim(cell)
                if state == "busy":
                    waiting.append(cell)
                elif state != "done":
                    self.compute(cell, run_cell, held)
            self.wait(run_cell, waiting, held)
        finally:
            if held:
                cell_claims.release(self.out, self.grid_config, held)

    def wait(self, run_cell: Callable, waiting: list[dict], held: list) -> None:
        """Cells another live process claimed: wait for their rows, or take over a claim whose process stopped."""
        told = set()
        while waiting:
            still = []
            for cell in waiting:
                key = _key(cell, self.keys)
                state = self.claim(cell)
                if state == "mine":
                    self.compute(cell, run_cell, held)
                elif state == "busy":
                    still.append(cell)
                    if key not in told:  # once per cell: who holds it, and how to clear the claim
                        told.add(key)
                        self.options.log(f"{self.out.name}: {cell_claims.holder_of(self.out, self.grid_config, key)}")
                elif state == "busy":
                    still.append(cell)
            waiting = still
            if waiting:
                time.sleep(self.options.poll_seconds)

    def collect(self, cells: list[dict]) -> pd.DataFrame:
        """This configuration's rows of `cells`, read back from the files, in the cells' order."""
        with file_lock(self.out):
            own = [own_rows(_read_text_table(p, self.keys), self.grid_config, self.keys) for p in self.sources]
        table = pd.concat([t for t in own if len(t)], ignore_index=True)
        table["_key"] = [_key(r, self.keys) for r in table.to_dict("records")]
        table = table.drop_duplicates("_key", keep="last").set_index("_key")
        order = [k for k in (_key(c, self.keys) for c in cells) if k in table.index]
        return table.loc[order].reset_index(drop=True)

    def report(self, table: pd.DataFrame) -> None:
        """One line for the diverged and one for the collapsed runs, naming each."""
        for status, why in (("diverged", "diverged (non-finite loss)"),
                            ("collapsed", f"collapsed (one class for ≥ {100 * COLLAPSED_SHARE:.0f} % of the test "
                                          "set)")):
            bad = table[table["status"] == status] if "status" in table else table.iloc[:0]
            if len(bad):
                self.options.log(f"{len(bad)} of {len(table)} runs {why} and are left out of every mean: "
                                 + "; ".join(", ".join(f"{k}={r[k]}" for k in self.keys if k in r and pd.notna(r[k]))
                                             for r in bad.to_dict("records")))


def is_accuracy(column: str, accuracies: Sequence[str] | None = None) -> bool:
    """Whether `column` is one of the declared `accuracies`; without a declaration, whether its name ends in
    '_acc' or starts with 'fgsm_' (the FGSM sweep)."""
    if accuracies is not None:
        return column in accuracies
    return column.endswith("_acc") or column == "acc" or column.startswith("fgsm_")


def flag_collapsed(result: dict, threshold: float = COLLAPSED_SHARE, accuracies: Sequence[str] | None = None) -> dict:
    """A finished cell's row with `status` 'collapsed' when its `top_class_share` is ≥ `threshold`: its accuracy
    columns (`accuracies`, declared by the grid's evaluation suite; see `is_accuracy`) move into `note` and
    become NaN. Rows without the share pass."""
    share = result.get("top_class_share")
    if share is None or not share >= threshold:
        return result
    accs = {k: v for k, v in result.items() if is_accuracy(k, accuracies) and isinstance(v, (int, float))
            and not isinstance(v, bool)}
    shown = ", ".join(f"{k} {100 * v:.1f} %" for k, v in accs.items())
    note = f"collapsed: predicts one class for {100 * share:.0f} % of the test set ({shown}); left out of means"
    return {**result, **{k: float("nan") for k in accs}, "status": "collapsed", "note": note}


def _attempt(cell: dict, run_cell: Callable, accuracies: Sequence[str] | None = None) -> dict:
    try:
        return flag_collapsed({"status": "ok", **run_cell(cell)}, accuracies=accuracies)
    except NonFiniteError as err:  # a diverged training run: a row that says so, not a lost grid
        return {"status": "diverged", "note": str(err).splitlines()[0][:300]}


def _compute(cell: dict, run_cell: Callable, out: Path, keys, grid_config: str, retry: bool = False,
             accuracies: Sequence[str] | None = None) -> None:
    start = time.perf_counter()
    result = _attempt(cell, run_cell, accuracies)
    if retry and result["status"] != "ok" and "seed" in cell:
        # once, from a seed no cell of the grid uses; the row keeps its key and says what happened
        seed = cell["seed"] + RETRY_SEED_OFFSET
        again = _attempt({**cell, "seed": seed}, run_cell, accuracies)
        note = f"retried with seed {seed} after: {result.get('note', result['status'])}"
        result = {**again, "retried_seed": seed,
                  "note": note + (f"; the retry: {again['note']}" if again.get("note") else "")}
    row = {**cell, **result, "cell_seconds": round(time.perf_counter() - start, 2), "grid_config": grid_config}
    _append(out, row, keys)


__all__ = ["cell_attack", "cell_seed", "COLLAPSED_SHARE", "distributed_env", "flag_collapsed", "GridOptions",
           "is_accuracy", "RETRY_SEED_OFFSET", "run_grid"]

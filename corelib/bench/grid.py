"""Experiments as grids of cells (e.g. method × fraction × seed), each cell a row of a tidy results table that is
written atomically after every cell, so an interrupted grid resumes where it stopped and never leaves a corrupt
file.

A grid can be sharded across processes, GPUs or machines: with `world > 1` (by default RANK and WORLD_SIZE
from torchrun's environment) a process runs every world-th cell and writes its own shard file beside the
results path; `merge_shards` joins them into the results table.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable, Iterable, Sequence

import pandas as pd

from ..utils import atomic_save_csv, config_hash

CELL_KEYS = ("method", "keep", "fraction", "seed")


def _key(cell: dict, keys: Sequence[str]) -> tuple:
    return tuple(str(cell.get(k)) for k in keys)


def distributed_env() -> tuple[int, int]:
    """(rank, world size) from torchrun's RANK and WORLD_SIZE (0, 1 outside torchrun)."""
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    if not 0 <= rank < world:
        raise ValueError(f"RANK={rank} must lie in [0, WORLD_SIZE={world})")
    return rank, world


def shard_path(path: str | Path, rank: int, world: int) -> Path:
    """Where shard `rank` of `world` writes its rows: results.csv → results.rank0-of-2.csv."""
    path = Path(path)
    return path.with_name(f"{path.stem}.rank{rank}-of-{world}{path.suffix}")


def _read_rows(path: Path, grid_config: str, log) -> list[dict]:
    if not path.is_file():
        return []
    done = pd.read_csv(path)
    if not len(done):
        return []
    same = done.get("grid_config", pd.Series("", index=done.index)).astype(str) == grid_config
    if not same.all():
        log(f"{path.name}: discarding {int((~same).sum())} rows computed under another configuration")
    return done[same].to_dict("records")


def run_grid(cells: Iterable[dict], run_cell: Callable[[dict], dict], path: str | Path,
             keys: Sequence[str] = CELL_KEYS, config: dict | None = None, log=print, rank: int = 0,
             world: int = 1) -> pd.DataFrame:
    """Run every cell whose key is not yet in the CSV at `path`, appending its row (cell fields + the dict
    `run_cell` returns) and rewriting the CSV atomically after each cell. Returns the rows of `cells`.

    `config` describes everything the cells share (data, training settings, scores, code version); its hash
    is stored with every row, and rows written under another configuration are discarded, so a grid resumes
    only the run it belongs to. With `world > 1` this process runs cells rank, rank + world, … and writes them
    to `shard_path(path, rank, world)` (cells already in `path` are skipped); join the shards with `merge_shards`."""
    cells = list(cells)
    seen = {}
    for cell in cells:
        k = _key(cell, keys)
        if k in seen:
            raise ValueError(f"duplicate grid cell {dict(zip(keys, k))}; every cell must differ in {list(keys)}")
        seen[k] = cell
    if not 0 <= rank < world:
        raise ValueError(f"rank {rank} must lie in [0, world={world})")
    path = Path(path)
    grid_config = config_hash(config or {})
    merged = _read_rows(path, grid_config, log)
    out = path if world == 1 else shard_path(path, rank, world)
    rows = merged if world == 1 else _read_rows(out, grid_config, log)
    finished = {_key(r, keys) for r in merged + rows}
    mine = cells if world == 1 else cells[rank::world]
    todo = [c for c in mine if _key(c, keys) not in finished]
    if len(todo) < len(mine):
        log(f"resuming {out.name}: {len(mine) - len(todo)} of {len(mine)} cells already done")
    for cell in todo:
        start = time.perf_counter()
        row = {**cell, **run_cell(cell), "cell_seconds": round(time.perf_counter() - start, 2),
               "grid_config": grid_config}
        rows.append(row)
        atomic_save_csv(pd.DataFrame(rows), out)
    table = pd.DataFrame(merged + rows if world > 1 else rows)
    wanted = {_key(c, keys) for c in cells}
    return table[[_key(r, keys) in wanted for r in table.to_dict("records")]].reset_index(drop=True)


def merge_shards(path: str | Path, world: int, keys: Sequence[str] = CELL_KEYS, remove: bool = True) -> pd.DataFrame:
    """Join the rows of `path` and of its `world` shard files into `path` (atomically), one row per cell key
    (a shard's row wins over an older merged one); with `remove`, delete the shard files afterwards."""
    path = Path(path)
    parts = [pd.read_csv(p) for p in [path] + [shard_path(path, r, world) for r in range(world)] if p.is_file()]
    parts = [p for p in parts if len(p)]
    if not parts:
        raise FileNotFoundError(f"no results at {path} nor in its {world} shard files; run the grid first")
    table = pd.concat(parts, ignore_index=True)
    table["_key"] = [_key(r, keys) for r in table.to_dict("records")]
    table = table.drop_duplicates("_key", keep="last").drop(columns="_key").reset_index(drop=True)
    atomic_save_csv(table, path)
    if remove:
        for r in range(world):
            shard_path(path, r, world).unlink(missing_ok=True)
    return table

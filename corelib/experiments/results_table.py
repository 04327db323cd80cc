"""Results tables on disk: a grid's rows as a CSV file, written atomically under a lock after every cell, each row
with its configuration's hash (`grid_config`) and a checksum of its own text (`row_check`), so a table edited by
hand, a deleted column or a duplicated cell is seen on resume and the cell runs again; shard files and their merge.
"""
from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Sequence

import pandas as pd

from ..files import atomic_write_text, file_lock


CELL_KEYS = ("method", "keep", "fraction", "seed")




class ResultsFileError(ValueError):
    """A results path that is not a results table this code can safely add rows to."""


def _key(cell: dict, keys: Sequence[str]) -> tuple:
    return tuple(str(cell.get(k)) for k in keys)


def shard_path(path: str | Path, rank: int, world: int) -> Path:
    """Where shard `rank` of `world` writes its rows: results.csv → results.rank0-of-2.csv."""
    path = Path(path)
    return path.with_name(f"{path.stem}.rank{rank}-of-{world}{path.suffix}")


def check_path(path: Path) -> None:
    """A results path must name a .csv file, not a folder (`ResultsFileError`)."""
    if path.is_dir():
        raise ResultsFileError(f"{path} is a folder; --out / path must name a CSV file, e.g. {path / 'results.csv'}")
    if path.suffix.lower() != ".csv":
        raise ResultsFileError(f"{path}: a results table is a .csv file; name one ending in .csv")


def _read_text_table(path: Path, keys: Sequence[str]) -> pd.DataFrame:
    """Every row of the results file as text (all configurations), or an empty table. A file that is not a
    results table of this kind (no grid_config or key columns) is refused, never overwritten."""
    if not path.is_file() or path.stat().st_size == 0:
        return pd.DataFrame()
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise ResultsFileError(f"{path} is not a readable CSV ({err}); move it away or choose another --out") from None
    missing = [c for c in ("grid_config", *keys) if c not in table.columns]
    if missing:
        raise ResultsFileError(f"{path} is not a results table of this grid (no column {', '.join(missing)}); "
                               "it was left untouched: choose another --out, or move the file away")
    return table


def check_results_file(path: str | Path, keys: Sequence[str] = CELL_KEYS) -> None:
    """Fail now, before any work, if `path` cannot take this grid's rows: a folder, not a .csv name, or an
    existing file that is not a results table of this kind (`ResultsFileError`)."""
    path = Path(path)
    check_path(path)
    _read_text_table(path, keys)


def _row_text(row: dict) -> pd.DataFrame:
    """One row as the text pandas writes, with NaN values written 'nan' (an empty field means: no such column
    in this row's configuration)."""
    text = pd.DataFrame([row]).to_csv(index=False, na_rep="nan")
    return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)


def _write_text_table(table: pd.DataFrame, path: Path) -> None:
    atomic_write_text(path, table.fillna("").to_csv(index=False))


read_text_table = _read_text_table  # public names for the recorded tier (`record.replace_rows`)
write_text_table = _write_text_table


def own_rows(table: pd.DataFrame, grid_config: str, keys: Sequence[str]) -> pd.DataFrame:
    """The trusted rows of one configuration (`checked_rows`) with their natural dtypes, without `row_check`;
    columns only other configurations have are left out."""
    rows = checked_rows(table, grid_config, keys)[0]
    return _own_rows(rows.drop(columns=["row_check"], errors="ignore"), grid_config)


def _own_rows(table: pd.DataFrame, grid_config: str) -> pd.DataFrame:
    """The rows of one configuration with their natural dtypes; columns that only other configurations have
    (empty in every row of this one) are left out."""
    if not len(table):
        return pd.DataFrame()
    mine = table[table["grid_config"] == grid_config]
    if not len(mine):
        return pd.DataFrame()
    mine = mine.loc[:, (mine != "").any(axis=0)]
    return pd.read_csv(io.StringIO(mine.to_csv(index=False)))


def row_check(text_row: dict) -> str:
    """A checksum of a row as written (its non-empty text fields, `row_check` aside): a row edited by hand, or one
    that lost a column, no longer matches it."""
    fields = sorted((k, v) for k, v in text_row.items() if k != "row_check" and v != "")
    return hashlib.sha256(json.dumps(fields).encode()).hexdigest()[:16]


def _append(path: Path, row: dict, keys: Sequence[str]) -> None:
    """Add one row (with its `row_check`) to the results file under its lock: read what is on disk, drop the rows of
    the same configuration and cell (an edited or duplicated row that is being recomputed), append, rewrite
    atomically."""
    with file_lock(path):
        table = _read_text_table(path, keys)
        text = _row_text(row)
        text["row_check"] = row_check(text.iloc[0].to_dict())
        if len(table):
            same = (table["grid_config"] == row["grid_config"]) & (
                pd.Series([_key(r, keys) for r in table.to_dict("records")], index=table.index) == _key(row, keys))
            table = table[~same]
        _write_text_table(pd.concat([table, text], ignore_index=True), path)


def checked_rows(table: pd.DataFrame, grid_config: str, keys: Sequence[str]) -> tuple[pd.DataFrame, list[str]]:
    """The rows of one configuration that can be trusted as done (text, as read), and one line for each that cannot:
    a row whose `row_check` is missing or does not match (edited by hand, or a column deleted), or one of several
    rows for the same cell. Lines are numbered as in the file (the header is line 1)."""
    if not len(table):
        return table, []
    mine = table[table["grid_config"] == grid_config]
    problems, good = [], []
    seen = {}
    for index, row in mine.iterrows():
        line, key = index + 2, _key(row, keys)
        if "row_check" not in row or row["row_check"] != row_check(row.to_dict()):
            problems.append(f"line {line} (cell {list(key)}) does not match its row check: it was edited by hand or "
                            "lost a column; it is not counted as done and its cell runs again")
            continue
        if key in seen:
            problems.append(f"lines {seen[key]} and {line} both hold cell {list(key)}: neither is counted as done; "
                            "the cell runs again")
            good = [g for g in good if g != seen[key]]
            continue
        seen[key] = line
        good.append(line)
    return mine.loc[[g - 2 for g in good]], problems


class MissingShardsError(ResultsFileError):
    """A merge asked for shards that are not there."""


def merge_shards(path: str | Path, world: int, keys: Sequence[str] = CELL_KEYS, remove: bool = True,
                 partial: bool = False) -> pd.DataFrame:
    """Join the rows of `path` and of its `world` shard files into `path` (atomically, under its lock), one row
    per configuration and cell key (a shard's row wins over an older merged one; rows of other configurations
    are kept); with `remove`, delete the merged shard files, only after the merged table is written. A shard that
    is missing stops the merge (`MissingShardsError`, naming it) unless `partial`: then what is there is merged
    and the missing shards' cells stay to run. Returns the merged file's rows."""
    if not isinstance(world, int) or world < 1:
        raise ValueError(f"world={world!r}: the number of processes whose shards to merge must be an integer ≥ 1")
    path = Path(path)
    check_path(path)
    shards = [shard_path(path, r, world) for r in range(world)]
    missing = [p.name for p in shards if not p.exists()]
    if missing and not partial:
        raise MissingShardsError(f"{len(missing)} of the {world} shards of {path} are missing ({', '.join(missing)}): "
                                 "merge when every process has finished, or pass --partial to merge what is there "
                                 "(the missing shards' cells stay to run)")
    shards = [p for p in shards if p.exists()]
    with file_lock(path):
        parts = [t for t in (_read_text_table(p, keys) for p in [path] + shards) if len(t)]
        if not parts:
            raise FileNotFoundError(f"no results at {path} nor in its {world} shard files "
                                    f"({shard_path(path, 0, world).name}, …); run the grid first")
        table = pd.concat(parts, ignore_index=True).fillna("")
        table = table.drop_duplicates(["grid_config", *keys], keep="last").reset_index(drop=True)
        _write_text_table(table, path)
        if remove:
            for p in shards:
                p.unlink(missing_ok=True)
    return pd.read_csv(io.StringIO(table.to_csv(index=False)))



__all__ = ["read_text_table", "write_text_table", "check_path", "own_rows", "CELL_KEYS", "check_results_file", "checked_rows", "merge_shards",
           "MissingShardsError", "ResultsFileError", "row_check", "shard_path"]

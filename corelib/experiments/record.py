"""Recorded results: grids too long for the CI book, produced by the project's own commands and committed under
`results/<profile>/`, each folder with a `MANIFEST.json` that says, per results table, how it was made.

A manifest entry holds the table's SHA-256 and row count, the command that regenerates it, the profile, the corelib
commit and the code hash of the grid's code when it last ran, the grid configurations (`grid_config`) of its rows,
the device and precision, the date, and the wall time of its cells. `python -m corelib bench … --record` writes it
after a run (`update_manifest`); the test suite verifies every committed manifest (`verify_results`), and never
re-runs a recorded grid. A chapter reads a recorded table through `load_recorded`, which checks the checksum and
says whether the code that produced it has changed since (`stale`), so a page never mixes code versions silently.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from ..files import atomic_write_text, file_lock, file_sha256
from ..hashing import changed_since, git_commit
from ..profiles import ROOT
from .results_table import read_text_table, write_text_table

if TYPE_CHECKING:
    from collections.abc import Sequence

MANIFEST = "MANIFEST.json"
SHOWN_MODULES = 8  # a stale label names at most this many changed modules


class RecordError(ValueError):
    """A recorded table that does not match its manifest (edited, truncated or missing)."""


def _now() -> str:
    return f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC"


def _read(path: Path) -> dict:
    if not path.is_file():
        return {"files": {}}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise RecordError(f"{path} is not valid JSON ({err}); restore it from git (git checkout -- {path})") from None
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        raise RecordError(f"{path} has no 'files' mapping: it is not a results manifest")
    return data


@dataclass(frozen=True)
class Run:
    """What produced a recorded table: the command, the profile, `code` (the grid code's hash) and `modules` (its
    per-module hashes, `hashing.module_hashes`, so a stale page can name what changed), device and precision, and
    `cells`, the size of the whole grid (a table recorded over several sittings is partial until its rows reach
    it)."""

    command: str
    profile: str
    code: str
    device: str
    precision: str
    cells: int | None = None
    modules: dict | None = None


def update_manifest(table_path: str | Path, run: Run, root: str | Path | None = None) -> dict:
    """Record (or refresh) the entry of the results table at `table_path` in the MANIFEST.json beside it: its
    checksum and rows as they are now on disk, what produced it (`run`), the commit, the date, and the grid
    configurations and cell seconds of its rows. Returns the entry."""
    table_path = Path(table_path)
    if not table_path.is_file():
        raise RecordError(f"{table_path} does not exist: run the grid first, then record it")
    table = pd.read_csv(table_path)
    manifest_path = table_path.parent / MANIFEST
    entry = {
        "sha256": file_sha256(table_path), "rows": int(len(table)), "command": run.command, "profile": run.profile,
        "commit": git_commit(root or table_path.parent), "code": run.code, "device": run.device,
        "precision": run.precision,
        "date": _now(),
        "grid_configs": sorted(table["grid_config"].astype(str).unique().tolist()) if "grid_config" in table else [],
        "cell_hours": round(float(table["cell_seconds"].sum()) / 3600, 3) if "cell_seconds" in table else None,
        "cells": None if run.cells is None else int(run.cells),
    }
    if run.modules is not None:
        entry["modules"] = dict(sorted(run.modules.items()))
    with file_lock(manifest_path):
        data = _read(manifest_path)
        data["files"][table_path.name] = entry
        atomic_write_text(manifest_path, json.dumps(data, indent=1, sort_keys=True) + "\n")
    return entry


def revalidate_manifest(table_path: str | Path, code: str, modules: dict[str, str], cells: list[str], command: str,
                        root: str | Path | None = None) -> dict:
    """After `cells` of the recorded table at `table_path` were re-run with the current code and reproduced their
    recorded rows exactly (the caller has compared them), adopt the current `code` hash and `modules` for the
    entry: its rows are those this code produces. The table itself is not touched (its checksum still holds), and
    the entry keeps the commit that produced it and gains a `revalidated` record: the commit and date of the
    check, the code hash it replaced, the cells re-run and the command. Returns the entry."""
    table_path = Path(table_path)
    manifest_path = table_path.parent / MANIFEST
    with file_lock(manifest_path):
        data = _read(manifest_path)
        entry = data["files"].get(table_path.name)
        if entry is None:
            raise RecordError(f"{table_path} has no entry in {manifest_path}: only a recorded table can be revalidated")
        if file_sha256(table_path) != entry["sha256"]:
            raise RecordError(f"{table_path} does not match its recorded SHA-256: restore it before revalidating")
        entry.setdefault("revalidated", []).append({
            "commit": git_commit(root or table_path.parent), "date": _now(),
            "from_code": entry.get("code"), "code": code, "cells": list(cells), "command": command})
        entry["code"], entry["modules"] = code, dict(sorted(modules.items()))
        atomic_write_text(manifest_path, json.dumps(data, indent=1, sort_keys=True) + "\n")
    return entry


def replace_rows(table_path: str | Path, fresh_path: str | Path, keys: Sequence[str], grid_config: str, rerun: dict,
                 root: str | Path | None = None, add: bool = False) -> dict:
    """Put the rows of configuration `grid_config` in the results file `fresh_path` into the recorded table at
    `table_path`, as text (every other row keeps its bytes), and refresh its manifest entry: checksum and rows, plus
    a record of the cells, the reason and the command (`rerun`: reason, command, code), the commit and the date.

    Without `add` (a re-run, under `reruns`): cells re-run with the current code after a change that alters them (a
    corrected definition, a new default) replace their rows in place; every cell must already be in the table. With
    `add` (under `additions`): new cells (e.g. a new method's) are appended, and the grid's cell count grows by
    them; every cell must be new. The entry's code hash is not changed: the other rows were computed by the code it
    names, until a revalidation shows this code reproduces them. Returns the entry."""
    table_path = Path(table_path)
    manifest_path = table_path.parent / MANIFEST
    with file_lock(manifest_path):
        data = _read(manifest_path)
        entry = data["files"].get(table_path.name)
        if entry is None or file_sha256(table_path) != entry["sha256"]:
            raise RecordError(f"{table_path} is not a recorded table matching its manifest: re-run or add cells only "
                              "in a recorded, unedited table")
        table, fresh = read_text_table(table_path, keys), read_text_table(Path(fresh_path), keys)
        fresh = fresh[fresh["grid_config"] == grid_config].reset_index(drop=True)
        position = {tuple(r): i for i, r in enumerate(table[list(keys)].itertuples(index=False))}
        cells = [tuple(r) for r in fresh[list(keys)].itertuples(index=False)]
        wrong = [c for c in cells if (c in position) == add]
        if wrong:
            raise RecordError(f"{table_path} " + (f"already has a row for {len(wrong)} cell(s) to add, e.g. "
                                                  f"{'/'.join(wrong[0])}: re-run them with --rerun" if add else
                                                  f"has no row for {len(wrong)} re-run cell(s), e.g. "
                                                  f"{'/'.join(wrong[0])}: a re-run replaces recorded rows, it does "
                                                  "not add cells (add them with --add)"))
        columns = list(table.columns) + [c for c in fresh.columns if c not in table.columns]
        table, fresh = table.reindex(columns=columns, fill_value=""), fresh.reindex(columns=columns, fill_value="")
        if add:
            table = pd.concat([table, fresh], ignore_index=True)
            if entry.get("cells") is not None:
                entry["cells"] = int(entry["cells"]) + len(cells)
        for cell, (_, row) in ([] if add else zip(cells, fresh.iterrows())):
            table.iloc[position[cell]] = row
        write_text_table(table, table_path)
        entry.update(sha256=file_sha256(table_path), rows=int(len(table)),
                     grid_configs=sorted(table["grid_config"].unique().tolist()))
        entry.setdefault("additions" if add else "reruns", []).append({
            "commit": git_commit(root or table_path.parent), "date": _now(), "cells": ["/".join(c) for c in cells],
            **rerun})
        atomic_write_text(manifest_path, json.dumps(data, indent=1, sort_keys=True) + "\n")
    return entry


def verify_results(root: str | Path) -> list[str]:
    """Every MANIFEST.json under `root` against the tables beside it: each listed table exists, has the recorded
    SHA-256 and row count; every CSV under `root` is listed in the manifest of its folder (a folder of tables
    without a manifest, e.g. one deleted by hand, is a problem, never a pass). Returns the problems (empty: all
    verified)."""
    problems = [f"{folder}: recorded tables without a {MANIFEST} (deleted?); restore it from git, or re-record "
                "the tables with --record" for folder in sorted({c.parent for c in Path(root).rglob("*.csv")
                                                                 if not c.name.startswith(".")})
                if not (folder / MANIFEST).is_file()]
    for manifest_path in sorted(Path(root).rglob(MANIFEST)):
        folder = manifest_path.parent
        try:
            files = _read(manifest_path)["files"]
        except RecordError as err:
            problems.append(str(err))
            continue
        for name, entry in files.items():
            path = folder / name
            if not path.is_file():
                problems.append(f"{path}: listed in {manifest_path} but missing")
            elif file_sha256(path) != entry.get("sha256"):
                problems.append(f"{path}: its SHA-256 does not match {manifest_path} (edited or truncated after it was "
                                f"recorded); regenerate it with: {entry.get('command')}")
            elif len(pd.read_csv(path)) != entry.get("rows"):
                problems.append(f"{path}: {entry.get('rows')} rows recorded, a different number on disk")
        for csv in sorted(folder.glob("*.csv")):
            if csv.name not in files and not csv.name.startswith("."):  # a hidden file: a re-run under way
                problems.append(f"{csv}: a table in a recorded folder without a manifest entry (record it with "
                                "--record, or move it out)")
    return problems


@dataclass
class Recorded:
    """A recorded table with what the page must say about it."""

    table: pd.DataFrame
    entry: dict
    path: Path
    stale: bool  # the grid's code has changed since the table was produced
    changed: list[str] | None = None  # the modules that changed (None: unknown)

    @property
    def partial(self) -> bool:
        """Fewer rows than the grid has cells (it is being recorded over several sittings)."""
        return self.entry.get("cells") is not None and self.entry["rows"] < self.entry["cells"]

    def shown_path(self) -> str:
        """The table's path relative to the repository (where it lies inside it), as a reader's checkout has it."""
        try:
            return self.path.resolve().relative_to(Path(ROOT).resolve()).as_posix()
        except ValueError:
            return self.path.as_posix()

    def label(self) -> str:
        """One sentence for the page: recorded where, when, at which commit, how to regenerate, whether it was
        revalidated since, and whether stale (with the modules that changed)."""
        e = self.entry
        text = (f"Recorded results (not executed in this build): `{self.shown_path()}`, {e['rows']} rows, "
                f"produced on {e['device']} ({e['precision']}) at commit `{e['commit']}`, last run {e['date']}, "
                f"{e['cell_hours']} h of cells; regenerate with `{e['command']}`.")
        for kind, verb in (("reruns", "Re-run"), ("additions", "Added")):
            for rerun in e.get(kind, []):
                methods = sorted({c.split("/")[0] for c in rerun["cells"]})
                text += (f" {verb} at commit `{rerun['commit']}` ({rerun['date']}): the {len(rerun['cells'])} cells "
                         f"of {', '.join(methods)}, because {rerun['reason']}.")
        checks = e.get("revalidated", [])
        if checks:  # the latest check speaks for the table; earlier ones are counted (the manifest keeps them all)
            last = checks[-1]
            earlier = f" (and {len(checks) - 1} times before)" if len(checks) > 1 else ""
            text += (f" Revalidated at commit `{last['commit']}` ({last['date']}){earlier}: re-running "
                     f"{', '.join(last['cells'])} with that code reproduced the recorded rows exactly.")
        if self.partial:
            text += (f" **Partial:** {e['rows']} of the grid's {e['cells']} cells are recorded so far; the same "
                     "command continues it.")
        if self.stale:
            names = ", ".join(f"`{m}`" for m in self.changed[:SHOWN_MODULES]) if self.changed else ""
            more = (f" and {len(self.changed) - SHOWN_MODULES} more, listed in the manifest's module hashes"
                    if self.changed and len(self.changed) > SHOWN_MODULES else "")
            where = f" (in {names}{more})" if self.changed else ""
            text += (f" **Stale:** the code that produced these rows has changed since it was recorded{where}; "
                     "they are shown as produced then, not as this code would produce them.")
        return text


def load_recorded(path: str | Path, code: str, modules: dict[str, str] | None = None,
                  closure: Sequence[str] | None = None) -> Recorded | None:
    """The recorded table at `path` (None when the file is absent: the page then shows its live run only), verified
    against its manifest (a mismatch is a `RecordError`), with `stale` set when `code` (the current hash of the
    grid's code) differs from the recorded one. A stale table names the modules that changed: from the per-module
    hashes (`modules`, the current ones) where the manifest keeps them, else from git between the recorded commit
    and the work tree for the modules of `closure` (what `utils.code_hash` was given); unknown (None) otherwise."""
    path = Path(path)
    if not path.is_file():
        return None
    entry = _read(path.parent / MANIFEST)["files"].get(path.name)
    if entry is None:
        raise RecordError(f"{path} has no entry in {path.parent / MANIFEST}: record it with the command that made it "
                          "and --record")
    if file_sha256(path) != entry["sha256"]:
        raise RecordError(f"{path} does not match its recorded SHA-256; regenerate it with: {entry['command']}")
    stale = entry.get("code") != code
    changed = None
    if stale and modules is not None and "modules" in entry:
        changed = sorted(m for m in set(entry["modules"]) | set(modules) if entry["modules"].get(m) != modules.get(m))
    elif stale and closure is not None:
        changed = changed_since(str(entry.get("commit", "")), closure)
    return Recorded(pd.read_csv(path), entry, path, stale=stale, changed=changed)


__all__ = ["Run", "load_recorded", "MANIFEST", "Recorded", "RecordError", "replace_rows", "revalidate_manifest",
           "update_manifest", "verify_results"]

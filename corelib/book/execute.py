"""Executing chapters with papermill (each with its run record), the build of the whole book, and each chapter's
results download."""
from __future__ import annotations

import datetime as dt
import json
import shutil
import sys
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from ..data import ensure_cifar10
from ..device import device_description, precision_description, resolve_device
from ..files import atomic_write_text
from ..hashing import git_commit
from ..profiles import ROOT, UsageError, check_value, load_profile, rename_keys
from ..settings import Settings
from .chapters import (BUILD_KEYS, CHAPTER_DIR, ChapterError, _format_seconds, chapter_parameters, chapters,
                       corelib_version, declared_parameters, fingerprint, parameter_reference, source_notebook)
from .site import jupyter_book

if TYPE_CHECKING:
    from collections.abc import Callable
    import nbformat


def run_record_cell(profile: str, params: dict, device: str, seconds: float, commit: str, data: str,
                    precision: str = "fp32") -> nbformat.NotebookNode:
    """The markdown cell placed under each chapter's title: how this page was produced."""
    import nbformat
    import torch

    # the chapter's knobs; the build's plumbing (a cache folder on this machine, progress off) is not a result's cause
    shown = ", ".join(f"`{k}={v!r}`" for k, v in params.items() if k != "profile" and k not in BUILD_KEYS)
    text = "\n".join([
        ":::{admonition} How this page was produced",
        ":class: note",
        "",
        "| | |", "|---|---|",
        f"| profile | `{profile}` |",
        f"| parameters | {shown} |",
        f"| device | {device} |",
        f"| precision | {precision} |",
        f"| runtime | {_format_seconds(seconds)} (executed {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC) |",
        f"| git commit | `{commit}` |",
        f"| software | corelib {corelib_version()}, torch {torch.__version__}, Python {sys.version.split()[0]} |",
        f"| data | {data} |",
        "",
        "Rerun it with other values: see [Rerunning a chapter](../rerun.md).",
        ":::",
    ])
    return nbformat.v4.new_markdown_cell(text, metadata={"tags": ["run-record"]})



def _show(path: Path, root: Path) -> Path:
    return path.relative_to(root) if path.is_relative_to(root) else path


def _run_papermill(name: str, src: Path, tmp: Path, params: dict, root: Path) -> None:
    """Execute `src` into `tmp`; a failing cell is a `ChapterError` naming it (the executed copy kept under
    _build/failed), a dead kernel or a timeout one that says how to rerun the chapter alone."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    try:
        papermill.execute_notebook(str(src), str(tmp), parameters=params, cwd=str(root / "notebooks"),
                                   progress_bar=False, kernel_name="python3")
    except PapermillExecutionError as err:
        failed = root / "_build" / "failed" / f"{name}.ipynb"
        failed.parent.mkdir(parents=True, exist_ok=True)
        index = _source_cell_index(tmp, err.cell_index)
        shutil.move(str(tmp), failed)
        raise ChapterError(f"chapter {name!r} failed in cell {index} of {_show(src, root)} "
                           f"(counting from 0, the parameters cell included): {err.ename}: {err.evalue}\n"
                           f"executed copy with the traceback: {failed}") from None
    except BaseException as err:  # a dead kernel, a timeout, Ctrl-C: no half-executed copy is left behind
        tmp.unlink(missing_ok=True)
        if not isinstance(err, Exception):
            raise
        why = "the kernel died (out of memory, or the process was killed)" if "DeadKernel" in type(err).__name__ \
            else f"{type(err).__name__}: {err}"
        raise ChapterError(f"chapter {name!r} stopped: {why}; rerun it alone with "
                           f"`python -m corelib.book build --only {name}`") from None


def _with_run_record(nb, profile_name: str, params: dict, seconds: float, fp: str, root: Path):
    """The executed notebook with its run record (profile, parameters, device, precision, data, commit, time) as
    its second cell and in its metadata; papermill's copy of the injected parameters hidden."""
    for cell in nb.cells:
        if "injected-parameters" in cell.metadata.get("tags", []):
            cell.metadata["tags"] = [*cell.metadata["tags"], "remove-cell"]
    settings = Settings.from_mapping(params).data
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = ensure_cifar10(settings.data_root, download=False)[1]
    except Exception:
        data = "unknown"
    resolved = resolve_device(settings.device)
    device = device_description(resolved)
    precision = precision_description(settings.precision, resolved)
    nb.cells.insert(1, run_record_cell(profile_name, params, device, seconds, git_commit(root), data, precision))
    nb.metadata["corebook"] = {"fingerprint": fp, "profile": profile_name, "parameters": params, "device": device,
                               "precision": precision, "runtime_s": round(seconds, 1), "commit": git_commit(root)}
    return nb


def execute_chapter(name: str, profile_name: str, overrides: dict | None = None, out_dir: Path | None = None,
                    force: bool = False, root: Path = ROOT, log: Callable[[str], None] = print) -> Path:
    """Execute one chapter with papermill into `out_dir/NAME.ipynb` (default book/chapters), adding its run
    record; skip it when an executed copy with the same fingerprint exists (unless `force`)."""
    import nbformat

    src = source_notebook(name, root)
    if not src.is_file():
        raise ChapterError(f"chapter {name!r} is in _toc.yml but {src} does not exist")
    params = chapter_parameters(name, load_profile(profile_name, root), overrides, root)
    out_dir = Path(out_dir or root / CHAPTER_DIR)
    dst = out_dir / f"{name}.ipynb"
    fp = fingerprint(src, params)
    if not force and dst.is_file():
        old = json.loads(dst.read_text()).get("metadata", {}).get("corebook", {})
        if old.get("fingerprint") == fp:
            log(f"[{name}] unchanged (notebook, parameters and corelib): reusing {_show(dst, root)}")
            return dst
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / f".{name}.running.ipynb"
    log(f"[{name}] executing with profile {profile_name!r} ...")
    if params.get("chapter_inputs"):  # what it reads from other chapters, declared in its notebook's metadata
        log(f"[{name}] reads the results of " + ", ".join(
            f"{other} ({'present' if Path(root / 'notebooks' / folder).is_dir() else 'absent: not executed yet'})"
            for other, folder in params["chapter_inputs"].items()))
    start = time.perf_counter()
    _run_papermill(name, src, tmp, params, root)
    seconds = time.perf_counter() - start
    nb = nbformat.read(str(tmp), as_version=4)
    tmp.unlink()
    atomic_write_text(dst, nbformat.writes(_with_run_record(nb, profile_name, params, seconds, fp, root)))
    log(f"[{name}] done in {_format_seconds(seconds)}")
    return dst


def _source_cell_index(executed: Path, index: int) -> int:
    """The index in the source notebook of cell `index` of papermill's executed copy, which has the injected
    parameters cell the source does not."""
    try:
        cells = json.loads(executed.read_text())["cells"]
    except (OSError, ValueError, KeyError):
        return index
    injected = [i for i, c in enumerate(cells) if "injected-parameters" in c.get("metadata", {}).get("tags", [])]
    return index - 1 if injected and index > injected[0] else index



def build(profile_name: str = "ci", force: bool = False, only: list[str] | None = None, overrides: dict | None = None,
          html: bool = True, root: Path = ROOT) -> int:
    """Execute every chapter (or `only` those), then build the HTML into _build/html."""
    names = chapters(root)
    if only is not None and not only:
        raise UsageError(f"--only needs at least one chapter name; the book has {names}")
    unknown = sorted(set(only or []) - set(names))
    if unknown:
        raise UsageError(f"unknown chapter(s) {unknown}; the book has {names}")
    try:
        profile = load_profile(profile_name, root)  # fail early on a bad profile name
    except ValueError as err:
        raise UsageError(str(err)) from None
    if overrides:
        overrides = rename_keys(overrides)
        notebooks = [source_notebook(n, root) for n in names]
        declared = set().union(*(declared_parameters(nb) for nb in notebooks))
        stray = sorted(set(overrides) - declared)
        if stray:
            raise UsageError(f"no chapter declares the parameter(s) {stray}; see `python -m corelib.book params`")
        if only:  # an override that none of the selected chapters reads would be silently unused
            chosen = set().union(*(declared_parameters(source_notebook(n, root)) for n in only))
            unused = sorted(set(overrides) - chosen)
            if unused:
                readers = {k: [n for n, nb in zip(names, notebooks) if k in declared_parameters(nb)] for k in unused}
                raise UsageError("no selected chapter reads " + "; ".join(f"{k} (read by {', '.join(v)})"
                                                                         for k, v in readers.items())
                                 + ": add those chapters to --only, or drop the override")
        try:
            overrides = {k: check_value(k, v, parameter_reference(k, profile, notebooks)) for k, v in overrides.items()}
        except ValueError as err:
            raise UsageError(str(err)) from None
    for name in names:  # every selected chapter's settings, checked before any chapter runs
        if not only or name in only:
            try:
                Settings.from_mapping(chapter_parameters(name, profile, overrides, root))
            except ValueError as err:
                raise UsageError(f"chapter {name}: {err}") from None
    total = time.perf_counter()
    for name in names:
        if only and name not in only:
            continue
        execute_chapter(name, profile_name, overrides, force=force, root=root)
    print(f"chapters executed in {_format_seconds(time.perf_counter() - total)}")
    if html:
        jupyter_book(root)
        print(f"book written to {root / '_build' / 'html' / 'index.html'}")
    return 0


__all__ = ["build", "execute_chapter", "run_record_cell"]

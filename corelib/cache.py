"""A cache of expensive artifacts (trained models, score tables), keyed by a hash of their full
configuration and of the code that computes them, written atomically.

The code part of a key is `utils.code_hash` of the modules the caller names (the function that computes the
artifact, and e.g. a training hook's class): their source and the source of every corelib module they import,
transitively. Editing any of that code gives new keys; editing unrelated code (a plot, a chapter helper) keeps
every cached artifact valid.

Every entry is verified on load: its JSON sidecar holds the configuration and the SHA-256 and size of the
artifact's bytes. An entry whose file does not match (flipped bytes, a truncated write by another tool), that
cannot be loaded, or that has no checksum (written by an older version) is named in a `CacheIntegrityWarning`,
discarded and recomputed. Nothing non-finite is stored: `dataframe` refuses NaN or infinite numbers, and
`train.fit` checks a model's weights before it is saved.

The book build gives every chapter one cache folder (the chapter parameter `cache_dir`: `_build/cache`, or the
`CORELIB_CACHE` a user set), so an artifact such as the profile's base model is computed once per build and reused
by every chapter that asks for the same configuration. Elsewhere the folder is `CORELIB_CACHE`, else
`~/.cache/corelib/artifacts`.
"""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Callable, TYPE_CHECKING

import numpy as np
import pandas as pd

from .checks import NonFiniteError
from .files import atomic_save_csv, atomic_write_text, file_sha256
from .hashing import code_hash, config_hash

if TYPE_CHECKING:
    from typing import Any
    from .hashing import CodeRef


class CacheIntegrityWarning(UserWarning):
    """A cache entry failed verification; it was discarded and is recomputed."""


def cache_root(root: str | Path | None = None) -> Path:
    """Where artifacts are cached: `CORELIB_CACHE`, else ~/.cache/corelib/artifacts."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("CORELIB_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "corelib" / "artifacts"


class ArtifactCache:
    """`cache.get_or_compute(kind, config, compute, save, load, suffix)`: load the artifact if its file
    exists and verifies, else compute, save atomically (with a JSON sidecar holding the configuration and the
    file's checksum) and return it. `discarded` lists the entries that failed verification, with the reason."""

    def __init__(self, root: str | Path | None = None, enabled: bool = True):
        self.root = cache_root(root)
        self.enabled = enabled
        self.hits: list[str] = []
        self.misses: list[str] = []
        self.discarded: list[str] = []

    @staticmethod
    def sidecar(path: Path) -> Path:
        """The JSON beside an artifact: its configuration, code hash and SHA-256."""
        return path.with_suffix(path.suffix + ".json")

    def verify(self, path: Path) -> str | None:
        """None if the entry at `path` matches the checksum in its sidecar and is the entry its sidecar was written
        for (its key), else what is wrong."""
        try:
            meta = json.loads(self.sidecar(path).read_text())
        except FileNotFoundError:
            return "has no sidecar with its checksum"
        except (json.JSONDecodeError, UnicodeDecodeError):
            return "has a damaged sidecar"
        if not isinstance(meta, dict) or "sha256" not in meta:
            return "has no checksum (written by an older version)"
        if meta.get("entry") != path.name:  # the checksum proves the file is its sidecar's, this that it is the key's
            return (f"is not the entry of this key: its sidecar names {meta.get('entry')!r} (copied or renamed "
                    "from another entry, or written by an older version)")
        size = path.stat().st_size
        if size != meta.get("bytes"):
            return f"has {size} bytes where {meta.get('bytes')} were written"
        if file_sha256(path) != meta["sha256"]:
            return "does not match its SHA-256 checksum (the file was altered or damaged)"
        return None

    def _discard(self, path: Path, problem: str) -> None:
        message = f"cache entry {path} {problem}: discarded, recomputing it"
        warnings.warn(message, CacheIntegrityWarning, stacklevel=3)
        self.discarded.append(f"{path.name}: {problem}")
        path.unlink(missing_ok=True)
        self.sidecar(path).unlink(missing_ok=True)

    def key(self, kind: str, config: dict, code: CodeRef = "corelib") -> str:
        """`code`: what computes the artifact (module names, modules, functions or classes of corelib); the key
        covers their import closure (`utils.code_hash`). The default is the whole package."""
        return f"{kind}-{config_hash({'config': config, 'corelib': code_hash(code)})}"

    def path(self, kind: str, config: dict, suffix: str, code: CodeRef = "corelib") -> Path:
        """The file of artifact `kind` with configuration `key` (and `suffix`)."""
        return self.root / kind / f"{self.key(kind, config, code)}{suffix}"

    def get_or_compute(self, kind: str, config: dict, compute: Callable, save: Callable, load: Callable,
                       suffix: str = ".pt", code: CodeRef = "corelib") -> Any:
        """The cached artifact of (`kind`, `key`, the code hash of `code`), verified on load; computed, saved and
        returned when absent or damaged."""
        path = self.path(kind, config, suffix, code)
        if self.enabled and path.exists():
            problem = self.verify(path)
            if problem is None:
                try:
                    result = load(path)
                except Exception as err:  # verified bytes that still do not load: a format this code cannot read
                    problem = f"could not be loaded ({type(err).__name__}: {err})"
            if problem is None:
                self.hits.append(path.name)
                return result
            self._discard(path, problem)
        result = compute()
        if self.enabled:
            try:
                save(result, path)  # save() must write atomically (files.atomic_*)
            except OSError as err:
                named = type(err)(f"the artifact cache ({self.root}) could not store a {kind}: {err}; free space "
                                  "there or point CORELIB_CACHE at another folder")
                named.errno = err.errno
                raise named from None
            meta = {"entry": path.name, "config": config, "sha256": file_sha256(path), "bytes": path.stat().st_size}
            atomic_write_text(self.sidecar(path), json.dumps(meta, indent=1, default=str))
            self.misses.append(path.name)
        return result

    def dataframe(self, kind: str, config: dict, compute: Callable[[], pd.DataFrame],
                  code: CodeRef = "corelib") -> pd.DataFrame:
        """A cached tidy table, stored as CSV. A table with NaN or infinite numbers is not stored
        (`NonFiniteError`)."""

        def checked():
            table = compute()
            numbers = table.select_dtypes("number").to_numpy(dtype=float)
            if numbers.size and not np.isfinite(numbers).all():
                bad = table.select_dtypes("number").columns[~np.isfinite(numbers).all(0)].tolist()
                raise NonFiniteError(f"the {kind} table has NaN or infinite values in columns {bad}; it was not "
                                     "cached (was the model trained to NaN?)")
            return table

        return self.get_or_compute(kind, config, checked, lambda df, p: atomic_save_csv(df, p), pd.read_csv, ".csv",
                                   code)


__all__ = ["ArtifactCache", "cache_root", "CacheIntegrityWarning"]

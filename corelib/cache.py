"""A cache of expensive artifacts (trained models, score tables), keyed by a hash of their full
configuration and of the code that computes them, written atomically.

The code part of a key is `utils.code_hash` of the modules the caller names (the function that computes the
artifact, and e.g. a training hook's class): their source and the source of every corelib module they import,
transitively. Editing any of that code gives new keys; editing unrelated code (a plot, a chapter helper) keeps
every cached artifact valid.

The book build points every chapter at one cache folder (`CORELIB_CACHE`), so an artifact such as the
profile's base model is computed once per build and reused by every chapter that asks for the same
configuration. Without `CORELIB_CACHE` the folder is `~/.cache/corelib/artifacts`.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

import pandas as pd

from .utils import atomic_save_csv, atomic_write_text, code_hash, config_hash


def cache_root(root: str | Path | None = None) -> Path:
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("CORELIB_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "corelib" / "artifacts"


class ArtifactCache:
    """`cache.get_or_compute(kind, config, compute, save, load, suffix)`: load the artifact if its file
    exists, else compute, save atomically (with a JSON sidecar holding the configuration) and return it."""

    def __init__(self, root: str | Path | None = None, enabled: bool = True):
        self.root = cache_root(root)
        self.enabled = enabled
        self.hits: list[str] = []
        self.misses: list[str] = []

    def key(self, kind: str, config: dict, code="corelib") -> str:
        """`code`: what computes the artifact (module names, modules, functions or classes of corelib); the key
        covers their import closure (`utils.code_hash`). The default is the whole package."""
        return f"{kind}-{config_hash({'config': config, 'corelib': code_hash(code)})}"

    def path(self, kind: str, config: dict, suffix: str, code="corelib") -> Path:
        return self.root / kind / f"{self.key(kind, config, code)}{suffix}"

    def get_or_compute(self, kind: str, config: dict, compute: Callable, save: Callable, load: Callable,
                       suffix: str = ".pt", code="corelib"):
        path = self.path(kind, config, suffix, code)
        if self.enabled and path.exists():
            self.hits.append(path.name)
            return load(path)
        result = compute()
        if self.enabled:
            save(result, path)  # save() must write atomically (utils.atomic_*)
            atomic_write_text(path.with_suffix(path.suffix + ".json"), json.dumps(config, indent=1, default=str))
            self.misses.append(path.name)
        return result

    def dataframe(self, kind: str, config: dict, compute: Callable[[], pd.DataFrame], code="corelib") -> pd.DataFrame:
        """A cached tidy table, stored as CSV."""
        return self.get_or_compute(kind, config, compute, lambda df, p: atomic_save_csv(df, p), pd.read_csv, ".csv",
                                   code)

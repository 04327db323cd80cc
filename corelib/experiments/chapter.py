"""A chapter's start: one call after its parameters cell turns them into typed settings and gives the chapter its
cache, its results folder, its base model and its yardsticks.

    chapter = cl.Chapter.start(globals())     # the one read of the parameters
    setup = chapter.base_setup()               # pools and the cached base model of chapter 1
    chapter.glue("best_gain", 2.4)             # a number or a phrase into the chapter's text
    results = cl.experiments.benchmark(chapter.settings, ...)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, TYPE_CHECKING

import pandas as pd

from ..attacks import PGD, AutoAttack
from ..cache import ArtifactCache
from ..data import Pool
from ..settings import Settings
from .base import BaseSetup, autoattack_for, base_setup
from .suite import EvaluationSuite

if TYPE_CHECKING:
    from typing import Any

# what the book sets for a chapter besides its settings
CHAPTER_KEYS = ("results_dir", "repository_url", "chapter_inputs", "cache_dir", "progress")


@dataclass
class Chapter:
    """A chapter's settings (typed), its results folder, the book's repository URL and one artifact cache."""

    settings: Settings
    results_dir: Path
    repository_url: str = ""
    inputs: dict = field(default_factory=dict)  # chapter name → its results folder, for the chapters this one reads
    cache: ArtifactCache = field(default_factory=ArtifactCache)
    progress: bool = True  # progress bars (the book build turns them off)
    _setup: BaseSetup | None = field(default=None, repr=False)

    @classmethod
    def start(cls, namespace: Mapping) -> "Chapter":
        """The chapter of a parameters namespace (a chapter's `globals()`): its settings, checked
        (`Settings.from_mapping`), the folder its tables go to (`results_dir`, created), the folders of the chapters
        it reads (`chapter_inputs`), its cache (`cache_dir`; None: `CORELIB_CACHE` or the default) and whether it
        shows progress bars (`progress`)."""
        settings = Settings.from_mapping(namespace)
        results_dir = Path(namespace.get("results_dir") or "results")
        results_dir.mkdir(parents=True, exist_ok=True)
        cache_dir = namespace.get("cache_dir")
        return cls(settings, results_dir, str(namespace.get("repository_url") or ""),
                   dict(namespace.get("chapter_inputs") or {}),
                   ArtifactCache(cache_dir) if cache_dir else ArtifactCache(), bool(namespace.get("progress", True)))

    def base_setup(self) -> BaseSetup:
        """The pools and the cached base model of chapter 1 (computed once per chapter)."""
        if self._setup is None:
            self._setup = base_setup(self.settings, cache=self.cache, progress=self.progress)
        return self._setup

    def autoattack(self) -> AutoAttack | None:
        """The settings' AutoAttack (None where `autoattack_version` is 'none')."""
        return autoattack_for(self.settings)

    def pgd(self) -> PGD:
        """The robust-accuracy PGD of the tables: `robust_pgd_steps` steps of `pgd_alpha_255` at `eps_255`."""
        ev = self.settings.evaluation
        return PGD(eps=ev.eps, alpha=ev.pgd_alpha_255 / 255, steps=ev.robust_pgd_steps, seed=self.settings.data.seed)

    def suite(self, test_pool: Pool, robust_pool: Pool | None = None, robust: bool = True) -> EvaluationSuite:
        """The chapter's evaluation suite: clean accuracy on `test_pool`; with `robust`, PGD (`pgd`) and AutoAttack
        (`autoattack`, where the settings run it) on `robust_pool`."""
        if not robust:
            return EvaluationSuite.of(test_pool)
        return EvaluationSuite.of(test_pool, robust_pool, pgd=self.pgd(), autoattack=self.autoattack())

    def read_inputs(self, file: str) -> pd.DataFrame:
        """The table `file` of every chapter this one reads (declared in its notebook's metadata `corebook.reads`;
        the book passes their folders as `chapter_inputs`), joined; the chapters not executed yet are left out (an
        empty table if none is there)."""
        tables = [pd.read_csv(Path(folder) / file) for folder in self.inputs.values() if (Path(folder) / file).is_file()]
        return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()

    def glue(self, name: str, value: Any) -> None:
        """Glue a number, or a phrase (a str, shown as Markdown), into the chapter's text under `name` (myst-nb)."""
        from IPython.display import Markdown  # light entry point: notebooks only
        from myst_nb import glue

        glue(name, Markdown(value) if isinstance(value, str) else value, display=False)

    def path(self, name: str) -> str:
        """A file of the chapter's results folder."""
        return str(self.results_dir / name)


__all__ = ["CHAPTER_KEYS", "Chapter"]

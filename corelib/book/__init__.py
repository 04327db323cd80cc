"""The book tool: execute the chapters with papermill, build the HTML with jupyter-book, check it in Chromium,
print it as one PDF and write the student edition.

    python -m corelib.book build --profile ci [--force] [--only NAME] [-p NAME VALUE ...]
    python -m corelib.book params --profile ci --chapter 01_baseline     # the parameters a chapter gets
    python -m corelib.book check-html                                     # every chapter page has figures and tables

Chapters are the `_toc.yml` entries under `book/chapters/`; the source of `book/chapters/NAME` is
`notebooks/NAME.ipynb`. A profile (`profiles/NAME.yaml`, a flat file papermill can also read with `-f`, read by
`corelib.profiles`) holds the knobs of every chapter; each chapter gets the ones its `parameters` cell declares. An
executed chapter whose notebook, parameters and corelib source are unchanged is reused.

One module per task: `chapters` (the table of contents and each chapter's parameters), `student` (the student
edition), `site` (the HTML build), `execute` (papermill and the build), `checks` (Chromium), `pdf`, `cli`.
"""
from __future__ import annotations

from ..profiles import ROOT, UsageError
from .chapters import (CHAPTER_DIR, ChapterError, chapter_parameters, chapter_title, chapters, corelib_version,
                       declared_reads, declared_parameters, fingerprint, launch_links, parameter_reference,
                       repository_url, source_notebook, toc_pages)
from .checks import check_html, check_student_html, chromium_flags, wide_tables
from .cli import main
from .execute import build, execute_chapter, run_record_cell
from .pdf import PRINT_STYLE, build_pdf, check_pdf, pdf_pages, with_print_style
from .site import (STUDENT_BOOK, chapter_times, fetch_offline_assets, jupyter_book, offline_config, results_bundle,
                   student_book_sources)
from .student import _stub, student_edition, student_notebook  # noqa: F401  (_stub: the tests read it)

__all__ = ["CHAPTER_DIR", "ChapterError", "declared_reads", "PRINT_STYLE", "ROOT", "STUDENT_BOOK", "UsageError",
           "build", "build_pdf", "chapter_parameters", "chapter_times", "chapter_title", "chapters", "check_html",
           "check_pdf", "check_student_html", "chromium_flags", "corelib_version", "declared_parameters",
           "execute_chapter", "fetch_offline_assets", "fingerprint", "jupyter_book", "launch_links", "main",
           "offline_config", "parameter_reference", "pdf_pages", "repository_url", "results_bundle", "run_record_cell",
           "source_notebook", "student_book_sources", "student_edition", "student_notebook", "toc_pages", "wide_tables",
           "with_print_style"]

"""The book as one PDF: every built HTML page printed by headless Chromium, joined, and checked (each chapter's title
on its first page, a figure in its pages)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import unicodedata
from pathlib import Path

from ..files import atomic_write_text
from ..profiles import ROOT, UsageError
from .chapters import CHAPTER_DIR, chapter_title, chapters, toc_pages
from .checks import _chromium, chromium_flags

PRINT_STYLE = """<style>@media print {
  pre, .highlight pre, .output pre { white-space: pre-wrap !important; overflow-wrap: anywhere; }
  div.highlight, div.cell_output, div.output { overflow: visible !important; }
  .dt-container, table[id^="itables_"] { display: none !important; }  /* the static tables stand for them on paper */
}</style>"""



def with_print_style(page: str) -> str:
    """An HTML page with `PRINT_STYLE` added at the end of its head (unchanged if it has no head)."""
    return page.replace("</head>", PRINT_STYLE + "</head>", 1)



def build_pdf(root: Path = ROOT, out: Path | None = None) -> tuple[Path, list[str]]:
    """The whole book as one PDF (`make pdf`, after `make book`): each page of the built HTML, in the order of the
    table of contents, printed by headless Chromium (the theme's print style drops the navigation), joined into one
    file with pypdf. Returns (the PDF, problems): a chapter title missing from the printed book, a chapter without
    figures, a PDF without pages. Each page is printed with `PRINT_STYLE`, so that code lines wrap instead of being
    cut at the margin. (jupyter-book's single-page builder cannot be used: it fails on the collapsed input cells,
    myst-nb's `HideCodeCellNode`.)"""
    from pypdf import PdfWriter

    names = chapters(root)
    html_dir = root / "_build" / "html"
    missing = [n for n in names if not (root / CHAPTER_DIR / f"{n}.ipynb").is_file()]
    pages = [html_dir / f"{page}.html" for page in toc_pages(root)]
    chapter_of = {html_dir / CHAPTER_DIR / f"{name}.html": name for name in names}
    unbuilt = [str(p.relative_to(root)) for p in pages if not p.is_file()]
    if missing or unbuilt:
        raise UsageError(f"the book is not built yet (no executed {missing} or no pages {unbuilt}); run `make book` "
                         "first")
    out = Path(out or root / "_build" / "pdf" / "corebook.pdf")
    out.parent.mkdir(parents=True, exist_ok=True)
    browser = _chromium()
    flags = [*chromium_flags(root), "--virtual-time-budget=30000", "--no-pdf-header-footer"]  # MathJax typesets first
    writer, problems, spans = PdfWriter(), [], {}
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        for i, page in enumerate(pages):
            part = Path(tmp) / f"{i:02d}.pdf"
            printable = page.with_name(f".print-{page.name}")  # beside the page, so its relative links resolve
            atomic_write_text(printable, with_print_style(page.read_text()))
            try:
                subprocess.run([browser, *flags, f"--print-to-pdf={part}", printable.as_uri()], capture_output=True,
                               timeout=300)
            finally:
                printable.unlink(missing_ok=True)
            if not part.is_file() or part.stat().st_size == 0:
                problems.append(f"Chromium printed nothing for {page.relative_to(root)}")
                continue
            first = len(writer.pages)
            writer.append(str(part))
            name = chapter_of.get(page)
            if name:
                title = chapter_title(json.loads((root / CHAPTER_DIR / f"{name}.ipynb").read_text()), name)
                spans[name] = (title, first, len(writer.pages) - 1)
        tmp_out = Path(tmp) / out.name
        with open(tmp_out, "wb") as f:
            writer.write(f)
        os.replace(tmp_out, out)
    printed = pdf_pages(out)
    problems += check_pdf(printed, spans)
    print(f"{out}: {len(printed)} pages, {out.stat().st_size / 1e6:.1f} MB")
    return out, problems



def pdf_pages(path: Path) -> list[tuple[str, int]]:
    """Per page of a PDF, read back with pypdf: its text and the number of images drawn on it."""
    from pypdf import PdfReader

    found = []
    for page in PdfReader(str(path)).pages:
        resources = page.get("/Resources") or {}
        xobjects = resources.get("/XObject") or {}
        images = sum(1 for x in xobjects.values() if x.get_object().get("/Subtype") == "/Image")
        found.append((page.extract_text() or "", images))
    return found



def _letters(text: str) -> str:
    """Text reduced to lower-case letters and digits: how a title is compared with what a PDF's text layer holds
    (line breaks, hyphenation points and ligature spacing differ, and ligatures such as 'ﬂ' are single
    characters, which NFKC spells out)."""
    return re.sub(r"[^0-9a-z]", "", unicodedata.normalize("NFKC", text).lower())



def check_pdf(pages: list[tuple[str, int]], spans: dict[str, tuple[str, int, int]]) -> list[str]:
    """What is wrong with a printed book, from its pages as `pdf_pages` reads them and, per chapter, (its title, the
    first and the last of its pages, counted from 0): a chapter whose first page does not carry its title (compared
    as letters and digits, up to the first markup), or a chapter with no image on its pages."""
    if not pages:
        return ["the PDF has no pages"]
    problems = []
    for name, (title, first, last) in spans.items():
        if not 0 <= first <= last < len(pages):
            problems.append(f"{name}: pages {first + 1}–{last + 1} are not in the {len(pages)}-page book")
            continue
        key = _letters(re.split(r"[*`$]", title)[0])
        if not key or key not in _letters(pages[first][0]):
            problems.append(f"{name}: its title {title!r} is not on its first page ({first + 1}) of the printed book")
        if not sum(images for _, images in pages[first:last + 1]):
            problems.append(f"{name}: no figure on its pages {first + 1}–{last + 1} of the printed book")
    return problems


__all__ = ["build_pdf", "check_pdf", "pdf_pages", "PRINT_STYLE", "with_print_style"]

"""`python -m corelib.book build / params / check-html / pdf / student / check-student / assignments`."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from ..profiles import ROOT, UsageError, load_profile, parse_overrides
from .assignments import write_assignments
from .chapters import CHAPTER_DIR, ChapterError, chapter_parameters, chapters
from .checks import check_html, check_student_html
from .execute import build
from .pdf import build_pdf
from .site import STUDENT_BOOK, jupyter_book
from .student import student_edition

if TYPE_CHECKING:
    from collections.abc import Sequence


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m corelib.book", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="execute the chapters and build the HTML")
    b.add_argument("--profile", default="ci")
    b.add_argument("--force", action="store_true", help="re-execute chapters even if unchanged")
    b.add_argument("--only", nargs="*", help="execute only these chapters")
    b.add_argument("--no-html", action="store_true", help="execute only; do not run jupyter-book")
    b.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"),
                   help="override one parameter (YAML value), e.g. -p epochs 5")
    p = sub.add_parser("params", help="print the parameters a chapter gets under a profile")
    p.add_argument("--profile", default="ci")
    p.add_argument("--chapter", required=True)
    c = sub.add_parser("check-html", help="check the built pages in headless Chromium")
    c.add_argument("--html", default=None)
    c.add_argument("--screenshots", default=None)
    sub.add_parser("pdf", help="print the executed book to one PDF (_build/pdf/corebook.pdf)")
    st = sub.add_parser("student", help="write the student edition of every chapter (solutions removed) and, after "
                                       "make book, its HTML with the solutions hidden")
    st.add_argument("--out", default="_build/student")
    st.add_argument("--no-html", action="store_true", help="write the notebooks only")
    sub.add_parser("check-student", help="check the student edition's HTML: exercises kept, no solution shown")
    a = sub.add_parser("assignments", help="write an otter-grader assignment per chapter (student notebook, "
                                           "autograder with hidden tests, solutions); needs corelib[teach]")
    a.add_argument("--out", default="_build/assignments")
    a.add_argument("--only", nargs="*", help="these chapters only")
    return parser


def _problems(problems: list[str]) -> int:
    for line in problems:
        print("PROBLEM:", line, file=sys.stderr)
    return 1 if problems else 0


def _student(args) -> int:
    for path in student_edition(Path(args.out)):
        print(path)
    if not args.no_html:
        missing = [n for n in chapters() if not (ROOT / CHAPTER_DIR / f"{n}.ipynb").is_file()]
        if missing:
            raise UsageError(f"the student HTML is built from the executed chapters; {missing} are not "
                             "executed yet: run make book first (or pass --no-html)")
        jupyter_book(ROOT, student=True)
        print(f"student book written to {ROOT / STUDENT_BOOK / '_build' / 'html' / 'index.html'}")
    return 0


def _listed(paths: list[Path]) -> int:
    for path in paths:
        print(path)
    return 0


def _params(args) -> int:
    print(yaml.safe_dump(chapter_parameters(args.chapter, load_profile(args.profile)), sort_keys=False), end="")
    return 0


COMMANDS = {
    "build": lambda a: build(a.profile, a.force, a.only, parse_overrides(a.parameter), not a.no_html),
    "params": _params,
    "check-html": lambda a: _problems(check_html(a.html, Path(a.screenshots) if a.screenshots else None)),
    "pdf": lambda a: _problems(build_pdf()[1]),
    "student": _student,
    "check-student": lambda a: _problems(check_student_html()),
    "assignments": lambda a: _listed(write_assignments(Path(a.out), a.only)),
}


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; exit status 0 (done), 1 (a check found problems, or a chapter failed) or 2 (a request
    that cannot work, with one `error:` line)."""
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (ChapterError, ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted; the chapters executed before it are kept (book/chapters): run the same command "
              "again to go on (unchanged chapters are reused)", file=sys.stderr)
        return 130


__all__ = ["COMMANDS", "main"]

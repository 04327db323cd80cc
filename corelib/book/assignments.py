"""Autograded assignments in otter-grader's format, one per chapter, written from the chapters' self-checking
exercises: `python -m corelib.book assignments --out DIR` (`make assignments`).

Why otter-grader rather than nbgrader: otter grades a notebook on any machine with one command (`otter run`, no
Docker, no JupyterHub, no gradebook database, no course-directory layout), and the same autograder zip runs on
Gradescope, in Otter Grade's containers or locally; its tests are plain Python, so a hidden test here is one call of
`corelib.exercises.check` on one seeded case. nbgrader fits a course that already runs JupyterHub with its
formgrader; courses without one adopt otter more easily.

For each chapter with a self-check (`cl.exercises.check(name, my_answer)` after a worked solution) this writes
`DIR/<chapter>/<chapter>-assignment.ipynb`, the master notebook in otter's format (one question per self-check:
its text, the solution with its body between `# BEGIN SOLUTION` and `# END SOLUTION`, one test per seeded case), and runs `otter assign` on
it: `DIR/<chapter>/dist/student/` is what students get (the signature and `...`), `dist/autograder/` holds the
autograder zip (the tests, hidden ones included) and the solved notebook. Points: one per case; the first case of
seed 0 is public (students see it, and `cl.exercises.check` reports on every case as they work), the other cases
and a second seed's are hidden. Grading a submission locally:

    otter run -a DIR/<chapter>/dist/autograder/<chapter>-autograder_*.zip submission.ipynb -o results/

otter-grader is the optional extra `corelib[teach]`, never a dependency of the book.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..exercises import case_count
from .chapters import chapters, source_notebook
from .student import without_teacher_sentences

if TYPE_CHECKING:
    from collections.abc import Sequence

CHECK_CALL = re.compile(r"""cl\.exercises\.check\(\s*["'](\w+)["']\s*,\s*(\w+)""")
SEEDS = (0, 1)  # the cases of seed 0 (case 1 public) and of seed 1 (hidden): other inputs than the check cell's
OTTER_TIMEOUT = 900  # seconds for one otter command (it executes a notebook): a hung kernel is an error, not a wait



@dataclass(frozen=True)
class SelfCheck:
    """A chapter's self-checking exercise: its title and text, the worked solution's code, the exercise checked and
    the function name the solution defines."""
    chapter: str
    title: str
    text: str
    solution: str
    exercise: str
    function: str



def self_checks(nb: dict, chapter: str) -> list[SelfCheck]:
    """The self-checking exercises of a chapter notebook: each check cell (`cl.exercises.check("name", fn)`) with
    the code of the solution cells just before it and the {exercise} block the solution belongs to."""
    cells = nb["cells"]
    found = []
    for i, cell in enumerate(cells):
        match = CHECK_CALL.search("".join(cell["source"])) if cell["cell_type"] == "code" else None
        if not match:
            continue
        start = max(j for j in range(i) if "```{solution-start}" in "".join(cells[j]["source"]))
        label = "".join(cells[start]["source"]).split("{solution-start}")[1].split("\n")[0].strip()
        code = "\n\n".join("".join(c["source"]).strip() for c in cells[start + 1:i] if c["cell_type"] == "code")
        block = next("".join(c["source"]) for c in cells if f":label: {label}" in "".join(c["source"]))
        head, _, rest = block.partition("\n")
        title = head.split("{exercise}", 1)[1].strip() or label
        text = rest.split(f":label: {label}", 1)[1].rsplit(":::", 1)[0].strip()
        found.append(SelfCheck(chapter, title, text, code, match.group(1), match.group(2)))
    return found



def _solution_with_markers(code: str) -> str:
    """The solution with the body of its last function between otter's solution markers (the imports and the
    signature stay in the student's notebook; the body becomes `...`)."""
    lines = code.splitlines()
    last = max(i for i, line in enumerate(lines) if line.startswith("def "))
    end = next((j for j in range(last + 1, len(lines)) if lines[j] and not lines[j][0].isspace()), len(lines))
    return "\n".join([*lines[:last + 1], "    # BEGIN SOLUTION", *lines[last + 1:end], "    # END SOLUTION",
                      *lines[end:]]).rstrip() + "\n"


def _cell(kind: str, source: str, n: int) -> dict:
    cell = {"cell_type": kind, "id": f"a{n:02d}", "metadata": {}, "source": source.splitlines(keepends=True)}
    if kind == "code":
        cell.update(outputs=[], execution_count=None)
    return cell


def _question(check: SelfCheck) -> list[tuple[str, str]]:
    """One self-check as an otter question: its text, the solution between markers, the check and one test per
    seeded case."""
    tests = []
    for seed in SEEDS:
        for case in range(1, case_count(check.exercise, seed) + 1):
            hidden = (seed, case) != (SEEDS[0], 1)
            tests.append(("# HIDDEN\n" if hidden else "") +
                         f"assert cl.exercises.check({check.exercise!r}, {check.function}, seed={seed}, "
                         f"case={case}, verbose=False), 'seed {seed}, case {case} disagrees with corelib'\n")
    return [
        ("raw", f"# BEGIN QUESTION\nname: {check.exercise}\ncheck_cell: false\npoints:\n  each: 1\n"),
        ("markdown", f"## {check.title}\n\n{without_teacher_sentences(check.text)}"),
        ("raw", "# BEGIN SOLUTION"),
        ("code", _solution_with_markers(check.solution)),
        ("raw", "# END SOLUTION"),
        ("code", f"cl.exercises.check({check.exercise!r}, {check.function})"),
        ("raw", "# BEGIN TESTS"),
        *[("code", t) for t in tests],
        ("raw", "# END TESTS"),
        ("raw", "# END QUESTION"),
    ]


def master_notebook(checks: Sequence[SelfCheck], name: str) -> dict:
    """The otter-grader master notebook of a chapter's self-checks, one question each (otter assign's format)."""
    config = (f"# ASSIGNMENT CONFIG\nname: {name}\ninit_cell: false\ncheck_all_cell: false\nexport_cell: false\n"
              "run_tests: true\nsolutions_pdf: false\ntemplate_pdf: false\ngenerate:\n  pdf: false\n")
    chapter = checks[0].chapter
    sources = [
        ("raw", config),
        ("markdown", f"# Chapter {chapter}: {', '.join(c.title for c in checks)}\n\nFrom the book's chapter "
                     f"{chapter}. Write each function below; `cl.exercises.check(name, your_function)` tells you, "
                     "case by case, where it disagrees with corelib. The autograder runs the same comparison on "
                     "these cases and on hidden ones (one point each)."),
        ("code", "import torch\nimport corelib as cl"),
        *[part for check in checks for part in _question(check)],
    ]
    return {"cells": [_cell(kind, src, n) for n, (kind, src) in enumerate(sources)],
            "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                         "language_info": {"name": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


def otter_command() -> list[str]:
    """How to run otter-grader: its command beside this Python, else on the PATH (error when missing)."""
    beside = Path(sys.executable).with_name("otter")
    if beside.exists():
        return [str(beside)]
    if shutil.which("otter"):
        return ["otter"]
    raise ValueError("otter-grader is not installed: pip install -e '.[teach]' (or make assignments)")


def write_assignments(out: Path, only: list[str] | None = None, run_tests: bool = True) -> list[Path]:
    """Write every chapter's assignment under `out` (`only`: these chapter names) and run `otter assign` on each;
    return the assignment folders. `run_tests=False` skips otter's check that the solutions pass the tests."""
    otter_command()  # installed, before any folder is touched
    written = []
    for chapter in chapters():
        if only and chapter not in only:
            continue
        checks = self_checks(json.loads(source_notebook(chapter).read_text()), chapter.split("_")[0].lstrip("0"))
        if not checks:
            continue
        folder = out / chapter
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        master = folder / f"{chapter}-assignment.ipynb"
        master.write_text(json.dumps(master_notebook(checks, chapter), indent=1, ensure_ascii=False) + "\n")
        _otter(["assign", *([] if run_tests else ["--no-run-tests"]), master.name, "dist"], folder,
               f"otter assign for {chapter}")
        written.append(folder)
    return written


def _otter(args: list[str], cwd: Path | None, what: str) -> None:
    """Run one otter command (at most OTTER_TIMEOUT seconds); a failure or a timeout is a ValueError with its output."""
    try:
        done = subprocess.run([*otter_command(), *args], cwd=cwd, capture_output=True, text=True,
                              timeout=OTTER_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise ValueError(f"{what} did not finish in {OTTER_TIMEOUT} s (a notebook that hangs?)") from None
    if done.returncode:
        raise ValueError(f"{what} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")


def grade(autograder: Path, submission: Path, out: Path) -> dict:
    """Grade one submitted notebook locally with `otter run` (no Docker); return otter's results (its
    `results.json`: per test, the score and whether it passed)."""
    out.mkdir(parents=True, exist_ok=True)
    _otter(["run", "-a", str(autograder), "-o", str(out), "--no-logo", str(submission)], None,
           f"otter run on {submission}")
    return json.loads((out / "results.json").read_text())


__all__ = ["grade", "master_notebook", "OTTER_TIMEOUT", "otter_command", "SelfCheck", "self_checks", "write_assignments"]

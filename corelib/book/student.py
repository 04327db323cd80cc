"""The student edition: every chapter's notebook with its worked solutions removed (a self-check keeps a stub)."""
from __future__ import annotations

import json
import re
from pathlib import Path

from ..profiles import ROOT
from .chapters import chapters, source_notebook

TEACHER_ONLY = ("; its worked solution is in the dropdown below it", " The worked solution is in the dropdown; the "
                "check below runs it.")  # sentences about the solutions, cut from the student edition



SOLUTION_BLOCK = re.compile(r"\n*:::\{solution\}.*?\n:::[ \t]*(?=\n|$)", re.S)



def without_teacher_sentences(text: str) -> str:
    """Markdown text without the sentences about the book's worked solutions (`TEACHER_ONLY`)."""
    for sentence in TEACHER_ONLY:
        text = text.replace(sentence, "")
    return text



def _stub(source: str) -> str:
    """A self-check exercise's answer cell for students: the solution's signature (its `def` line, with the
    imports it needs) and an empty body, so the check cell below it runs and says what is missing."""
    lines = source.splitlines()
    imports = [line for line in lines if line.startswith(("import ", "from "))]
    defs = [i for i, line in enumerate(lines) if line.startswith("def ")]
    if not defs:
        return "# your answer here\n"
    signature = lines[defs[-1]]
    return "\n".join([*imports, *([""] * 2 if imports else []), signature,
                      "    ...  # your answer here: replace this line", ""])



def student_notebook(nb: dict, keep_outputs: bool = False) -> dict:
    """The student edition of a chapter notebook: {solution} blocks cut from the text, every cell between a gated
    solution-start and solution-end removed (a self-check's worked answer becomes a stub with its signature),
    outputs cleared. Everything else, including the exercises and the check cells, stays as in the teacher's.
    `keep_outputs` (the student HTML, built from the executed chapter): the outputs of the cells that stay are kept,
    except a check cell's, which reported on the worked answer the student does not see."""
    cells, inside, solution = [], False, []
    source = nb["cells"]
    for i, cell in enumerate(source):
        src = "".join(cell["source"])
        if cell["cell_type"] == "markdown" and "```{solution-start}" in src:
            inside, solution = True, []
            continue
        if cell["cell_type"] == "markdown" and "```{solution-end}" in src:
            inside = False
            after = source[i + 1] if i + 1 < len(source) else None
            if after is not None and "check" in after["metadata"].get("tags", []):  # a self-check: leave a stub
                answer = "\n".join("".join(c["source"]) for c in solution if c["cell_type"] == "code")
                cells.append({**solution[-1], "source": _stub(answer).splitlines(keepends=True), "outputs": [],
                              "execution_count": None, "metadata": {"tags": ["answer"]}})
            continue
        if inside:
            solution.append(cell)
            continue
        cell = dict(cell)
        if cell["cell_type"] == "markdown":
            cell["source"] = SOLUTION_BLOCK.sub("", without_teacher_sentences(src)).splitlines(keepends=True)
        elif not keep_outputs or "check" in cell["metadata"].get("tags", []):
            cell["outputs"], cell["execution_count"] = [], None
        cells.append(cell)
    if inside:
        raise ValueError("a solution-start without its solution-end")
    return {**nb, "cells": cells}



def student_edition(out_dir: Path, root: Path = ROOT) -> list[Path]:
    """Write every chapter's student edition to `out_dir` (`make student`); returns the notebooks written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in chapters(root):
        nb = json.loads(source_notebook(name, root).read_text())
        path = out_dir / f"{name}.ipynb"
        path.write_text(json.dumps(student_notebook(nb), indent=1, ensure_ascii=False) + "\n")
        written.append(path)
    return written


__all__ = ["SOLUTION_BLOCK", "student_edition", "student_notebook", "TEACHER_ONLY", "without_teacher_sentences"]

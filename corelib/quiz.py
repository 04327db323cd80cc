"""Questions while reading, answered in the page itself: multiple-choice and numeric questions rendered as plain HTML
whose buttons carry their own few lines of JavaScript, so they work in the static book (no kernel, no server, no
network), in Jupyter and in Colab. A wrong choice shows why it is wrong, the right one why it is right; a numeric
answer is right within its tolerance. Numbers asked about are passed in from what the chapter computed, so a rebuild
with other parameters changes the right answer with the text around it.

>>> from corelib import quiz
>>> quiz.show(
...     quiz.choice("Why does PGD leave a lower accuracy than FGSM?", correct=0, options=[
...         ("It takes many projected steps inside the same ε-ball.", "Several steps find a worse point than one."),
...         ("It uses a larger ε.", "Both use the same budget, 8/255.")]),
...     quiz.numeric("How many points does PGD take off the clean accuracy?", 71.3, tolerance=0.5, unit="points",
...                  explanation="clean − PGD, both in % of the test set"))
"""
from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

# the feedback of a question: hide every feedback of the question, then show the one that belongs to the action
_HIDE = "var q=this.closest('.cb-q');q.querySelectorAll('.cb-fb').forEach(function(e){e.hidden=true});"
_PICK = _HIDE + "this.parentNode.querySelector('.cb-fb').hidden=false;"
_CHECK = (_HIDE + "var v=parseFloat(q.querySelector('input').value.replace(',','.')),"
          "a=parseFloat(q.dataset.answer),t=parseFloat(q.dataset.tolerance),"
          "ok=isFinite(v)&&Math.abs(v-a)<=t+1e-9;q.querySelector(ok?'.cb-right':'.cb-wrong').hidden=false;")
STYLE = ("<style>.cb-quiz{border:1px solid #d0d7de;border-radius:6px;padding:.4em 1em;margin:1em 0}"
         ".cb-q{margin:.8em 0}.cb-opt{margin:.25em 0}.cb-opt button,.cb-q>button{text-align:left;cursor:pointer;"
         "border:1px solid #8c959f;border-radius:4px;background:#f6f8fa;padding:.2em .6em}"
         ".cb-fb{display:block;margin:.2em 0 .2em 1.5em;font-size:95%}.cb-ok{color:#1a7f37}.cb-no{color:#cf222e}"
         "@media print{.cb-fb{display:none!important}}</style>")



@dataclass(frozen=True)
class Question:
    """One question: `options` (text, why) with the index of the `correct` one (multiple choice), or a numeric
    `answer` right within `tolerance`, with its `explanation` (shown after an answer) and `unit`."""
    prompt: str
    options: tuple[tuple[str, str], ...] = ()
    correct: int = -1
    answer: float = math.nan
    tolerance: float = 0.0
    unit: str = ""
    explanation: str = ""

    def html(self, number: int) -> str:
        """The question as HTML (numbered `number`)."""
        head = f'<p><b>{number}.</b> {html.escape(self.prompt)}</p>'
        if self.options:
            rows = []
            for i, (text, why) in enumerate(self.options):
                right = i == self.correct
                mark = ('<span class="cb-fb cb-ok" hidden>✓ Right. ' if right else
                        '<span class="cb-fb cb-no" hidden>✗ Not quite. ') + html.escape(why) + "</span>"
                rows.append(f'<div class="cb-opt" data-correct="{int(right)}"><button type="button" '
                            f'onclick="{html.escape(_PICK)}">{html.escape(text)}</button>{mark}</div>')
            return f'<div class="cb-q" data-kind="choice">{head}{"".join(rows)}</div>'
        unit = f" {html.escape(self.unit)}" if self.unit else ""
        shown = f"{self.answer:.{_decimals(self.tolerance)}f}{unit}"
        return (f'<div class="cb-q" data-kind="numeric" data-answer="{self.answer!r}" '
                f'data-tolerance="{self.tolerance!r}">{head}<input type="text" inputmode="decimal" size="8" '
                f'aria-label="your answer"/>{unit} <button type="button" onclick="{html.escape(_CHECK)}">Check</button>'
                f'<span class="cb-fb cb-ok cb-right" hidden>✓ Right: {shown}. {html.escape(_sentence(self.explanation))}</span>'
                f'<span class="cb-fb cb-no cb-wrong" hidden>✗ Not quite (within ±{self.tolerance:g}{unit} counts). '
                f'{html.escape(_sentence(self.explanation))}</span></div>')


def _sentence(text: str) -> str:
    """`text` as a sentence after another one: its first letter in capitals."""
    return text[:1].upper() + text[1:]


def _decimals(tolerance: float) -> int:
    """Decimals to show a numeric answer with: as fine as its tolerance (1 to 3), none from 1 up, 2 for an exact one."""
    if tolerance >= 1:
        return 0
    if tolerance <= 0:
        return 2
    return min(3, max(1, -math.floor(math.log10(tolerance))))


def choice(prompt: str, options: Sequence[tuple[str, str]], correct: int) -> Question:
    """A multiple-choice question: `options` are (text, why) pairs, `why` saying why that option is right or
    wrong; `correct` is the index of the right one."""
    options = tuple((str(text), str(why)) for text, why in options)
    if len(options) < 2:
        raise ValueError(f"a multiple-choice question needs at least 2 options, got {len(options)}: {prompt!r}")
    if not (isinstance(correct, int) and 0 <= correct < len(options)):
        raise ValueError(f"correct={correct!r} must index the {len(options)} options of {prompt!r}")
    if not all(why.strip() for _, why in options):
        raise ValueError(f"every option of {prompt!r} needs its explanation (why it is right or wrong)")
    return Question(str(prompt), options, correct)


def numeric(prompt: str, answer: float, tolerance: float, explanation: str, unit: str = "",
            missing: str = "error") -> Question | None:
    """A numeric question whose right answer is `answer` (computed by the chapter), accepted within ±`tolerance`;
    `explanation` says how the number comes about. A non-finite answer is an error, or with `missing="skip"` (a
    number a small run may not define, e.g. an interval from one seed) gives None, which `show` leaves out."""
    answer, tolerance = float(answer), float(tolerance)
    if missing not in ("error", "skip"):
        raise ValueError(f"missing={missing!r}; choose 'error' or 'skip'")
    if not math.isfinite(answer):
        if missing == "skip":
            return None
        raise ValueError(f"the answer to {prompt!r} is {answer}: a question needs a finite number")
    if not (math.isfinite(tolerance) and tolerance >= 0):
        raise ValueError(f"tolerance={tolerance} must be a finite number ≥ 0")
    return Question(str(prompt), answer=answer, tolerance=tolerance, unit=str(unit), explanation=str(explanation))


@dataclass(frozen=True)
class Quiz:
    """Questions shown together (a notebook displays it; `html()` is the markup)."""
    questions: tuple[Question, ...]

    def html(self) -> str:
        body = "".join(q.html(i) for i, q in enumerate(self.questions, 1))
        return (f'{STYLE}<div class="cb-quiz"><p><b>Check your understanding</b> (click an answer; nothing is '
                f'recorded)</p>{body}</div>')

    def _repr_html_(self) -> str:
        return self.html()


def show(*questions: Question | None) -> Quiz:
    """The questions as a quiz (the last expression of a cell displays it); None (a skipped numeric question) is
    left out."""
    questions = tuple(q for q in questions if q is not None)
    if not questions or not all(isinstance(q, Question) for q in questions):
        raise ValueError("show() takes questions made by quiz.choice(...) or quiz.numeric(...)")
    return Quiz(tuple(questions))


__all__ = ["choice", "numeric", "Question", "Quiz", "show"]

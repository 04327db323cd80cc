"""The kernel-free questions (`corelib.quiz`): validated when written, at least three per chapter, and in Chromium a
wrong answer shows ✗ with its explanation and the right one ✓, for a choice and for a number."""
import json
import re
import shutil

import pytest

from corelib import quiz
from corelib.book.chapters import chapters, source_notebook


def _example():
    return quiz.show(
        quiz.choice("Which is right?", correct=1, options=[("this", "because not"), ("that", "because so")]),
        quiz.numeric("How many points?", 12.34, 0.1, "the table's difference", unit="points"))


def test_a_question_is_checked_when_it_is_written():
    with pytest.raises(ValueError, match="at least 2 options"):
        quiz.choice("?", correct=0, options=[("only", "one")])
    with pytest.raises(ValueError, match="must index"):
        quiz.choice("?", correct=2, options=[("a", "x"), ("b", "y")])
    with pytest.raises(ValueError, match="explanation"):
        quiz.choice("?", correct=0, options=[("a", "x"), ("b", " ")])
    with pytest.raises(ValueError, match="finite number"):
        quiz.numeric("?", float("nan"), 0.1, "why")
    assert quiz.numeric("?", float("nan"), 0.1, "why", missing="skip") is None
    with pytest.raises(ValueError, match="show"):
        quiz.show(None)


def test_the_markup_holds_every_option_its_feedback_and_the_computed_answer():
    page = _example().html()
    assert page.count('class="cb-q"') == 2 and page.count('data-correct="1"') == 1
    assert "because not" in page and "because so" in page and 'data-answer="12.34"' in page
    assert "<script" not in page and "http" not in page  # nothing to load: it works offline, script tags stripped or not
    assert page.count("hidden>") == 4  # every feedback hidden until an answer is given


def test_every_chapter_asks_at_least_three_questions():
    for name in chapters():
        nb = json.loads(source_notebook(name).read_text())
        cells = ["".join(c["source"]) for c in nb["cells"] if "quiz.show(" in "".join(c["source"])]
        assert len(cells) == 1, f"{name}: one quiz cell"
        asked = len(re.findall(r"quiz\.(?:choice|numeric)\(", cells[0]))
        assert asked >= 3, f"{name} asks {asked} questions"


@pytest.mark.skipif(shutil.which("chromium") is None and shutil.which("chromium-browser") is None,
                    reason="needs Chromium (CI installs it)")
def test_clicking_a_wrong_then_the_right_answer_shows_both_feedbacks_in_chromium(tmp_path):
    from corelib.book.checks import _chromium, chromium_flags, quiz_feedback, quiz_problems

    page = tmp_path / "page.html"
    page.write_text("<html><body><main>" + _example().html() + "</main></body></html>")
    probe = quiz_feedback(page, _chromium(), chromium_flags(tmp_path))
    assert probe == {"questions": 2, "wrong": ["✗"], "right": ["✓"], "numeric_wrong": ["✗"], "numeric_right": ["✓"]}
    assert quiz_problems("page", probe) == ["page: fewer than three questions in the page " + f"({probe})"]
    assert quiz_problems("page", {**probe, "questions": 3}) == []
    assert quiz_problems("page", {**probe, "questions": 3, "right": []})  # no ✓ after the right answer: a problem

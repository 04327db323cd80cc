"""The otter-grader assignments (`make assignments`): written from every chapter's self-check, the student's copy
without the solution, and a local grading (`otter run`, no Docker, no network) that gives a right submission full
marks and a wrong one partial marks."""
import json

import pytest

from corelib import exercises
from corelib.book.assignments import grade, master_notebook, self_checks, write_assignments
from corelib.book.chapters import chapters, source_notebook


def test_every_chapter_has_a_self_check_that_becomes_an_assignment():
    found = {}
    for chapter in chapters():
        checks = self_checks(json.loads(source_notebook(chapter).read_text()), chapter[:2].lstrip("0"))
        found[chapter] = [c.exercise for c in checks]
        for check in checks:
            nb = master_notebook([check], chapter)
            sources = ["".join(c["source"]) for c in nb["cells"]]
            assert check.exercise in exercises.names()
            assert any(f"def {check.function}(" in s and "# BEGIN SOLUTION" in s for s in sources)
            tests = [s for s in sources if s.removeprefix("# HIDDEN\n").startswith("assert cl.exercises.check(")]
            assert len(tests) == 2 * exercises.case_count(check.exercise)
            assert sum(not s.startswith("# HIDDEN") for s in tests) == 1  # one public case, the rest hidden
    assert all(found.values()), f"chapters without a self-check: {[c for c, v in found.items() if not v]}"


def test_a_check_of_one_case_sees_only_that_case():
    def floor_only(labels, total):  # misses the largest-remainder step: right only where the quotas are whole
        import torch
        sizes = torch.bincount(labels).double()
        return (total * sizes / sizes.sum()).floor().long()

    verdicts = [exercises.check("class_balanced_counts", floor_only, case=i, verbose=False) for i in (1, 2, 3)]
    assert verdicts == [True, False, False]
    assert not exercises.check("class_balanced_counts", floor_only, verbose=False)
    with pytest.raises(ValueError, match="cases 1 to 3"):
        exercises.check("class_balanced_counts", floor_only, case=4)


def _score(results: dict) -> tuple[float, float]:
    tests = [t for t in results["tests"] if "score" in t]
    return sum(t["score"] for t in tests), sum(t["max_score"] for t in tests)


def test_the_autograder_gives_full_marks_to_the_solution_and_partial_marks_to_a_wrong_answer(tmp_path):
    folder, = write_assignments(tmp_path, only=["08_benchmark"])
    dist = folder / "dist"
    student = json.loads((dist / "student" / "08_benchmark-assignment.ipynb").read_text())
    answer = next(c for c in student["cells"] if "def my_class_balanced_counts" in "".join(c["source"]))
    assert "argsort" not in "".join(answer["source"]) and "    ..." in "".join(answer["source"])
    autograder, = (dist / "autograder").glob("*.zip")

    right = grade(autograder, dist / "autograder" / "08_benchmark-assignment.ipynb", tmp_path / "right")
    assert _score(right) == (6, 6)

    answer["source"] = "".join(answer["source"]).replace(
        "    ...", "    sizes = torch.bincount(labels).double()\n"
                  "    return (total * sizes / sizes.sum()).floor().long()").splitlines(keepends=True)
    wrong_path = tmp_path / "wrong.ipynb"
    wrong_path.write_text(json.dumps(student))
    wrong = grade(autograder, wrong_path, tmp_path / "wrong")
    got, total = _score(wrong)
    assert total == 6 and 0 < got < total  # the cases whose quotas are whole pass, the others do not

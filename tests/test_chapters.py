"""Every chapter executes end to end with the smoke profile, through papermill, on real CIFAR-10.

Needs the data root (`make test` prepares it)."""
import json

import pytest

from corelib import book


@pytest.mark.chapters
@pytest.mark.parametrize("name", book.chapters())
def test_chapter_executes_with_the_smoke_profile(name, tmp_path, monkeypatch):
    monkeypatch.setenv("CORELIB_CACHE", str(tmp_path / "cache"))
    out = book.execute_chapter(name, "smoke", {"results_dir": str(tmp_path / "results")}, out_dir=tmp_path,
                               force=True, log=lambda *_: None)
    nb = json.loads(out.read_text())
    assert nb["metadata"]["corebook"]["profile"] == "smoke"
    assert nb["metadata"]["corebook"]["precision"] == "fp32"
    assert "run-record" in nb["cells"][1]["metadata"]["tags"]
    outputs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c["outputs"]]
    assert not [o for o in outputs if o["output_type"] == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), "the chapter shows no figure"
    assert any("text/html" in o.get("data", {}) for o in outputs), "the chapter shows no table"
    assert list((tmp_path / "results").glob("*.csv")), "the chapter saved no results"
    checks = [c for c in nb["cells"] if "check" in c["metadata"].get("tags", [])]
    assert checks, "the chapter has no self-checking exercise"
    for c in checks:  # the worked solution passes its own check
        text = "".join("".join(o.get("text", "")) for o in c["outputs"])
        assert "all cases agree" in text and "disagree" not in text, text
    glued = [o for o in outputs if "scrapbook" in o.get("metadata", {})]
    for o in glued:  # myst-nb can only format plain Python values into the text
        text = "".join(o["data"].get("text/plain", ""))
        assert not text.startswith(("np.", "tensor(")), f"glue {o['metadata']['scrapbook']['name']} holds {text}"


@pytest.mark.parametrize("name", book.chapters())
def test_every_exercise_has_a_worked_solution_and_a_cost(name):
    """Each {exercise} block is followed by its {solution} (or a gated solution-start … solution-end around code
    cells), and says what it costs to run."""
    import re

    cells = json.loads(book.source_notebook(name).read_text())["cells"]
    text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    labels = re.findall(r":::\{exercise\}[^\n]*\n:label: (\S+)", text)
    assert labels, "no exercise blocks"
    for label in labels:
        assert re.search(r"(:::\{solution\}|```\{solution-start\}) " + re.escape(label) + r"\n", text), label
    assert text.count("```{solution-start}") == text.count("```{solution-end}")
    for block in re.findall(r":::\{exercise\}.*?\n:::", text, flags=re.S):
        if "Check yourself" not in block:
            assert "*Cost:*" in block, block[:80]


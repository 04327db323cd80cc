import ast
import json
import re
import shutil
import sys

import pytest
import yaml

import corelib
from corelib import book, profiles


def test_unknown_profile_lists_the_choices():
    with pytest.raises(ValueError, match=r"unknown profile 'fast'; choose one of \[.*'ci'.*'paper'.*'paper_smoke'.*'smoke'.*\] \(or add profiles/fast.yaml\)"):
        profiles.load_profile("fast")


def test_chapters_come_from_the_toc_and_have_clean_sources():
    names = book.chapters()
    assert names[0] == "01_baseline"
    for name in names:
        nb = json.loads(book.source_notebook(name).read_text())
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert sum("parameters" in c.get("metadata", {}).get("tags", []) for c in code) == 1, name
        assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), f"{name} has outputs"


@pytest.mark.parametrize("profile", profiles.available_profiles())
def test_every_profile_sets_every_chapter_parameter(profile):
    values = profiles.load_profile(profile)
    for name in book.chapters():
        declared = set(book.declared_parameters(book.source_notebook(name))) - {"results_dir", "repository_url", "chapter_inputs", "cache_dir", "progress"}
        missing = declared - set(values)
        assert not missing, f"profiles/{profile}.yaml lacks {sorted(missing)} used by {name}"


def test_notebook_defaults_are_the_ci_profile():
    ci = profiles.load_profile("ci")
    for name in book.chapters():
        for key, default in book.declared_parameters(book.source_notebook(name)).items():
            if key in ci:
                assert ast.literal_eval(default) == ci[key], f"{name}: {key} = {default} but ci.yaml has {ci[key]}"


def test_a_chapter_gets_only_what_it_declares(monkeypatch):
    """The profile's and the overrides' values of what the chapter declares, and from the build its repository,
    its cache folder (the user's CORELIB_CACHE where set, else the build's) and no progress bars: passed as
    parameters, not through the environment."""
    monkeypatch.delenv("CORELIB_CACHE", raising=False)
    params = book.chapter_parameters("01_baseline", {"base_epochs": 3, "unrelated": 1}, {"seed": 4, "other": 2})
    assert params == {"base_epochs": 3, "seed": 4, "repository_url": book.repository_url(),
                      "cache_dir": str(book.ROOT / "_build" / "cache"), "progress": False}
    monkeypatch.setenv("CORELIB_CACHE", "/somewhere/else")
    assert book.chapter_parameters("01_baseline", {})["cache_dir"] == "/somewhere/else"


def test_fingerprint_follows_parameters():
    nb = book.source_notebook("01_baseline")
    assert book.fingerprint(nb, {"a": 1}) == book.fingerprint(nb, {"a": 1})
    assert book.fingerprint(nb, {"a": 1}) != book.fingerprint(nb, {"a": 2})


def test_run_record_names_profile_device_runtime_and_commit():
    cell = book.run_record_cell("ci", {"profile": "ci", "seed": 0}, "cpu (2 threads)", 125.0, "abc1234", "official",
                                "bf16 autocast for training steps")
    for text in ("`ci`", "`seed=0`", "cpu (2 threads)", "2 min 5 s", "`abc1234`", "official",
                 "| precision | bf16 autocast for training steps |", f"corelib {corelib.__version__},"):
        assert text in cell.source
    assert cell.metadata["tags"] == ["run-record"]
    plumbing = book.run_record_cell("ci", {"seed": 0, "cache_dir": "/home/someone/_build/cache", "progress": False},
                                    "cpu", 1.0, "abc1234", "official")
    assert "`seed=0`" in plumbing.source and "/home/someone" not in plumbing.source and "progress" not in plumbing.source


def test_bad_build_requests_are_named():
    with pytest.raises(ValueError, match="unknown chapter"):
        book.build("smoke", only=["99_nothing"], html=False)
    with pytest.raises(ValueError, match="no chapter declares the parameter"):
        book.build("smoke", overrides={"epochz": 3}, html=False)
    assert book.main(["build", "--profile", "nope", "--no-html"]) == 2  # a usage error


def test_empty_or_mistyped_build_requests_stop_before_any_chapter_runs(capsys, monkeypatch):
    ran = []
    monkeypatch.setattr(book.execute, "execute_chapter", lambda *a, **k: ran.append(a))
    assert book.main(["build", "--profile", "smoke", "--no-html", "--only"]) == 2  # before: every chapter ran
    assert "--only needs at least one chapter name" in capsys.readouterr().err
    assert book.main(["build", "--profile", "smoke", "--no-html", "-p", "base_epochs", "abc"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "-p base_epochs 'abc': base_epochs takes an integer" in err
    assert book.main(["build", "--profile", "smoke", "--no-html", "-p", "coreset_fractions", "[]"]) == 2
    assert "coreset_fractions takes a non-empty list" in capsys.readouterr().err
    assert book.main(["build", "--profile", "smoke", "--no-html", "-p", "base_epochs", "0"]) == 2  # the settings
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "base_epochs=0 must be ≥ 1" in err
    assert book.main(["build", "--profile", "smoke", "--no-html", "-p", "base_epochs", "-3"]) == 2
    assert "base_epochs=-3 must be ≥ 1" in capsys.readouterr().err
    assert book.main(["build", "--profile", "smoke", "--no-html", "--only", "01_baseline", "-p", "bench_epochs",
                      "3"]) == 2  # before: ran chapter 1 and exited 0 with the override unused
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no selected chapter reads bench_epochs (read by 08_benchmark)" in err
    with pytest.warns(FutureWarning, match="'model' is now 'model_name'"):  # the old name: still accepted
        assert book.main(["build", "--profile", "smoke", "--no-html", "--only", "01_baseline", "-p", "model",
                          "small_cnn"]) == 0
    assert len(ran) == 1 and ran[0][0] == "01_baseline"
    ran.clear()
    assert ran == []


def test_offline_config_points_widgets_and_math_at_local_files(tmp_path):
    (tmp_path / "_config.yml").write_text("title: t\nsphinx:\n  config:\n    html_show_copyright: false\n")
    path = book.offline_config(tmp_path, tmp_path / "_build" / "assets")
    import yaml

    config = yaml.safe_load(path.read_text())["sphinx"]["config"]
    assert config["html_static_path"] == ["_build/assets"]
    assert set(config["nb_ipywidgets_js"]) == {"require.js", "widgets/embed-amd.js"}
    assert config["mathjax_path"] == "mathjax/tex-svg.js" and config["html_show_copyright"] is False


def test_chapters_that_use_the_base_model_declare_all_of_its_parameters():
    """Every chapter must pass the same base-model settings, or it trains (and caches) another base model: each
    chapter that uses it declares every setting of `BaseTrainingSettings` and `DataSettings` (read from the typed
    settings by `Chapter.start`), and a chapter that trains it itself passes each one on."""
    from corelib.settings import BaseTrainingSettings, DataSettings

    needed = set(BaseTrainingSettings.keys()) | set(DataSettings.keys())
    declared = {n: set(book.declared_parameters(book.source_notebook(n))) for n in book.chapters()}
    users = [n for n, d in declared.items() if d & set(BaseTrainingSettings.keys())]
    assert len(users) >= 2
    for n in users:
        assert needed <= declared[n], f"{n} lacks {sorted(needed - declared[n])}"
        source = "".join("".join(c["source"]) for c in json.loads(book.source_notebook(n).read_text())["cells"])
        if "Chapter.start(globals())" not in source:
            for p in set(BaseTrainingSettings.keys()):
                assert f"={p}" in source.replace(" ", ""), f"{n} declares {p} but does not pass it on"


def _tiny_book(tmp_path, cells):
    """A book root with one chapter whose code cells are `cells` (after a parameters cell) and a profile."""
    import nbformat

    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "p.yaml").write_text("x: 1\n")
    (tmp_path / "notebooks").mkdir()
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell("x = 1")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# T"), params] + [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, str(tmp_path / "notebooks" / "ch.ipynb"))
    return tmp_path


@pytest.mark.chapters
def test_a_chapter_error_names_the_cell_of_the_source_notebook(tmp_path):
    root = _tiny_book(tmp_path, ["y = x + 1", "raise ValueError('boom')"])
    with pytest.raises(book.ChapterError, match=r"failed in cell 3 of notebooks/ch.ipynb .*ValueError: boom"):
        book.execute_chapter("ch", "p", root=root, log=lambda *_: None)  # cell 3 of the source (4 in the run)


@pytest.mark.chapters
def test_a_dead_kernel_names_the_chapter_and_leaves_no_running_copy(tmp_path):
    root = _tiny_book(tmp_path, ["import os, signal; os.kill(os.getpid(), signal.SIGKILL)"])
    with pytest.raises(book.ChapterError, match="chapter 'ch' stopped: the kernel died"):
        book.execute_chapter("ch", "p", root=root, log=lambda *_: None)
    assert not list((root / "book" / "chapters").glob(".*running*"))


@pytest.mark.parametrize("name", book.chapters())
def test_every_chapter_takes_device_and_precision_and_passes_precision_to_its_training(name):
    """`device` and `precision` are parameters of every chapter, and every TrainConfig a chapter builds is given the
    chapter's precision (otherwise the parameter would silently do nothing there; `train_baseline` and the grids read
    it from the typed settings)."""
    import json

    src = book.source_notebook(name)
    assert {"device", "precision"} <= set(book.declared_parameters(src))
    code = "\n".join("".join(c["source"]) for c in json.loads(src.read_text())["cells"] if c["cell_type"] == "code")
    for call in re.finditer(r"cl\.TrainConfig\(", code):
        depth, i = 1, call.end()
        while depth:
            depth += {"(": 1, ")": -1}.get(code[i], 0)
            i += 1
        assert "precision=precision" in code[call.start():i], f"{name}: {code[call.start():i]}"


def test_the_student_edition_drops_every_solution_and_keeps_everything_else(tmp_path):
    """`make student`: no worked solution survives (no {solution} block, no gated cells, no outputs), every exercise
    and check cell stays, each self-check gets a stub with the solution's signature, and the rest of each chapter
    is the teacher's edition unchanged, so the two cannot drift apart."""

    written = book.student_edition(tmp_path)
    assert [p.stem for p in written] == book.chapters()
    for path in written:
        teacher = json.loads(book.source_notebook(path.stem).read_text())["cells"]
        student = json.loads(path.read_text())["cells"]
        text = "\n".join("".join(c["source"]) for c in student)
        assert "{solution}" not in text and "solution-start" not in text and "solution-end" not in text
        assert "dropdown" not in text  # no sentence promises a solution the student edition does not have
        assert not [c for c in student if "solution" in c["metadata"].get("tags", [])]
        assert all(not c.get("outputs") for c in student if c["cell_type"] == "code")
        labels = lambda cells: re.findall(r":label: (\S+)", "\n".join("".join(c["source"]) for c in cells))
        assert labels(student) == labels(teacher) and labels(student)
        for i, cell in enumerate(student):
            if "check" in cell["metadata"].get("tags", []):
                stub = "".join(student[i - 1]["source"])
                assert student[i - 1]["metadata"]["tags"] == ["answer"] and "def my_" in stub and "your answer" in stub
                name = re.search(r'check\("(\w+)", my_(\w+)\)', "".join(cell["source"]))
                assert name and f"def my_{name.group(1)}(" in stub
        kept = [c for c in teacher if "solution" not in c["metadata"].get("tags", [])
                and "```{solution-" not in "".join(c["source"])]
        assert len(kept) == len([c for c in student if c["metadata"].get("tags") != ["answer"]])


def test_a_stub_keeps_the_signature_and_the_imports_but_no_body():
    stub = book._stub("import math\n\n\ndef my_pss(probs, ks):\n    return math.pi\n")
    assert stub.startswith("import math") and "def my_pss(probs, ks):" in stub and "math.pi" not in stub
    nb = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": ["```{solution-start} x\n```"]}]}
    with pytest.raises(ValueError, match="solution-start without"):
        book.student_notebook(nb)


def test_the_teachers_page_gets_each_chapters_time_from_its_run_record(tmp_path):
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: book/chapters/01_a\n"
                                       "  - file: book/chapters/02_b\n")
    (tmp_path / "book" / "chapters").mkdir(parents=True)
    nb = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": ["# A first chapter\n", "text"]}],
          "metadata": {"corebook": {"profile": "ci", "device": "cpu (2 threads)", "runtime_s": 125.0}}}
    (tmp_path / "book" / "chapters" / "01_a.ipynb").write_text(json.dumps(nb))
    table = book.chapter_times(tmp_path)
    assert "| A first chapter | `ci` | cpu (2 threads) | 2 min 5 s |" in table
    assert "| 02_b | not executed in this build |" in table
    assert "**2 min 5 s**" in table
    teacher = (book.ROOT / "book" / "teacher.md").read_text()
    assert "{include} generated/chapter_times.md" in teacher
    assert "book/teacher" in (book.ROOT / "_toc.yml").read_text()


def test_one_version_everywhere_and_a_licence_for_code_and_text():

    pyproject = (book.ROOT / "pyproject.toml").read_text()
    assert re.search(r'^version = "([^"]+)"', pyproject, re.M).group(1) == corelib.__version__
    assert f'version: "{corelib.__version__}"' in (book.ROOT / "CITATION.cff").read_text()
    assert book.corelib_version() == corelib.__version__
    licence = (book.ROOT / "LICENSE").read_text()
    assert licence.startswith("MIT License") and "CC BY 4.0" in licence
    assert "CC BY 4.0" in (book.ROOT / "_config.yml").read_text()



def test_toc_pages_list_every_page_in_order_and_chapters_are_the_notebook_ones(tmp_path):
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nparts:\n  - caption: A\n    chapters:\n"
        "      - file: book/chapters/01_a\n      - file: book/chapters/02_b.ipynb\n"
        "  - caption: B\n    chapters:\n      - file: book/teacher.md\n")
    assert book.toc_pages(tmp_path) == ["book/intro", "book/chapters/01_a", "book/chapters/02_b", "book/teacher"]
    assert book.chapters(tmp_path) == ["01_a", "02_b"]


def test_printed_pages_wrap_their_code_lines():
    page = "<html><head><title>t</title></head><body><pre>x</pre></body></html>"
    styled = book.with_print_style(page)
    assert styled.startswith("<html><head><title>t</title><style>@media print") and styled.endswith("</html>")
    assert "white-space: pre-wrap" in styled and styled.count("</head>") == 1
    assert book.with_print_style("<p>no head</p>") == "<p>no head</p>"


def test_the_pdf_check_wants_each_chapters_title_on_its_first_page_and_a_figure_on_its_pages():
    pages = [("corebook Contents Baseline: ResNet Sparse FGSM", 0), ("Base-\nline: ResNet\ntext", 1),
             ("Sparse  FGSM: which samples\nﬂip text", 0), ("more", 2), ("Teaching: Baseline: ResNet, Sparse FGSM", 0)]
    spans = {"01_a": ("Baseline: *ResNet*", 1, 1), "02_b": ("Sparse FGSM: which samples flip", 2, 3)}
    assert book.check_pdf(pages, spans) == []
    bare = pages[:3] + [("more", 0)] + pages[4:]
    assert book.check_pdf(bare, spans) == ["02_b: no figure on its pages 3–4 of the printed book"]
    shifted = {"01_a": ("Baseline: *ResNet*", 1, 1), "02_b": ("Sparse FGSM", 3, 4)}  # its title is on page 3
    assert book.check_pdf(pages, shifted) == [
        "02_b: its title 'Sparse FGSM' is not on its first page (4) of the printed book"]
    assert book.check_pdf(pages, {"03_c": ("Top", 4, 6)}) == ["03_c: pages 5–7 are not in the 5-page book"]
    assert book.check_pdf([], spans) == ["the PDF has no pages"]


def test_paper_smoke_is_the_paper_profile_with_only_sizes_epochs_and_iterations_changed(tmp_path):
    paper, tiny = profiles.load_profile("paper"), profiles.load_profile("paper_smoke")
    assert tiny["profile"] == "paper_smoke" and "inherits" not in tiny and set(tiny) == set(paper)
    changed = {k for k in paper if k != "profile" and tiny[k] != paper[k]}
    allowed = ("size", "epochs", "steps", "restarts", "seeds", "images", "iterations", "repeats", "every", "dims",
               "horizons", "period", "batch", "fractions", "queries", "device", "precision")
    assert all(any(word in k for word in allowed) for k in changed - {"bench_small_methods"}), sorted(changed)
    for same in ("model_name", "bench_methods", "coreset_fractions", "autoattack_version"):
        assert tiny[same] == paper[same], same
    # the benchmark chapter: every method at the extreme fractions, random at the nine between (the only change of
    # which methods run where; bench_small_methods names it): together the paper's 11 fractions
    assert sorted(tiny["bench_fractions"] + tiny["bench_small_fractions"]) == sorted(paper["bench_fractions"])
    assert tiny["bench_fractions"] == [min(paper["bench_fractions"]), max(paper["bench_fractions"])]
    assert tiny["bench_small_methods"] == ["random"]
    assert len(paper["bench_fractions"]) == 11 and tiny["bench_methods"] == "all" and tiny["model_name"] == "resnet18"
    assert tiny["autoattack_version"] == "standard" and tiny["acs_batch_wise"] > 0 and tiny["pgd_restarts"] > 1
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "a.yaml").write_text("inherits: b\nx: 1\n")
    (tmp_path / "profiles" / "b.yaml").write_text("inherits: a\ny: 2\n")
    with pytest.raises(ValueError, match="inherits from itself through a → b → a"):
        profiles.load_profile("a", tmp_path)


def test_results_bundle_holds_every_csv_of_the_chapter_and_is_byte_stable(tmp_path):
    """The page's 'results as CSV files' download: every CSV under _build/results/NAME (paths kept), a README with
    the profile and commit of the executed copy, and the same bytes when the tables are the same."""
    import json
    import zipfile

    from corelib.book import CHAPTER_DIR, results_bundle

    folder = tmp_path / "_build" / "results" / "09_x"
    (folder / "grid").mkdir(parents=True)
    (folder / "a.csv").write_text("method,acc\nrandom,0.5\n")
    (folder / "grid" / "b.csv").write_text("k,v\n1,2\n")
    (folder / "ignored.pt").write_bytes(b"not a table")
    (tmp_path / CHAPTER_DIR).mkdir(parents=True)
    (tmp_path / CHAPTER_DIR / "09_x.ipynb").write_text(json.dumps(
        {"cells": [], "metadata": {"corebook": {"profile": "smoke", "commit": "abc1234"}}}))
    path = results_bundle("09_x", tmp_path)
    assert path == tmp_path / CHAPTER_DIR / "09_x_results.zip"
    with zipfile.ZipFile(path) as z:
        assert z.namelist() == ["README.txt", "09_x/a.csv", "09_x/grid/b.csv"]
        assert z.read("09_x/grid/b.csv") == b"k,v\n1,2\n"
        readme = z.read("README.txt").decode()
    assert "profile: smoke" in readme and "commit: abc1234" in readme and "2 CSV files" in readme
    first = path.read_bytes()
    assert results_bundle("09_x", tmp_path).read_bytes() == first
    (folder / "a.csv").write_text("method,acc\nrandom,0.6\n")
    assert results_bundle("09_x", tmp_path).read_bytes() != first
    assert zipfile.ZipFile(results_bundle("10_empty", tmp_path)).namelist() == ["README.txt"]


def _setup_cell(name):
    nb = json.loads(book.source_notebook(name).read_text())
    cells = [c for c in nb["cells"] if "setup" in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, f"{name}: one setup cell"
    order = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"]
    setup = nb["cells"].index(cells[0])
    assert order[0] < setup == order[1], f"{name}: the setup cell follows the parameters cell, before any import"
    return "".join(cells[0]["source"])


@pytest.mark.parametrize("name", book.chapters())
def test_the_setup_cell_installs_corelib_only_where_it_is_missing(name, monkeypatch):
    """Both branches without the network: corelib importable (here) → no install; missing (Colab) → one pip install
    from the configured repository; missing with no repository configured → an error that says what to do."""
    import importlib.util
    import subprocess

    source = _setup_cell(name)
    calls, glued = [], {}
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: calls.append(cmd))
    import myst_nb

    monkeypatch.setattr(myst_nb, "glue", lambda key, value, display=True: glued.update({key: value}))
    env = {"results_dir": f"../_build/results/{name}", "repository_url": "https://github.com/someone/corebook"}
    exec(source, dict(env))
    assert calls == [] and "colab.research.google.com/github/someone/corebook/blob/main/notebooks/" + name + ".ipynb" \
        in glued["launch"].data
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda mod, *a: None if mod == "corelib" else real(mod, *a))
    exec(source, dict(env))
    assert calls == [[sys.executable, "-m", "pip", "install", "-q",
                      "corelib[notebook] @ git+https://github.com/someone/corebook"]]
    with pytest.raises(RuntimeError, match="names no repository.*pip install -e"):
        exec(source, {**env, "repository_url": ""})


def test_launch_links_come_from_the_one_configured_url(tmp_path):
    assert book.repository_url() == "" or book.repository_url().startswith("https://")
    assert book.repository_url(tmp_path) == ""  # a folder without _config.yml names no repository
    (tmp_path / "_config.yml").write_text("repository:\n  url: https://github.com/o/r.git\n")
    url = book.repository_url(tmp_path)
    assert url == "https://github.com/o/r.git"
    text = book.launch_links("03_isef", url)
    assert "https://colab.research.google.com/github/o/r/blob/main/notebooks/03_isef.ipynb" in text
    assert "https://mybinder.org/v2/gh/o/r/main?labpath=notebooks%2F03_isef.ipynb" in text
    assert "git clone https://example.org/x" in book.launch_links("03_isef", "https://example.org/x")
    assert "appear here once" in book.launch_links("03_isef", "")
    params = book.chapter_parameters("03_isef", profiles.load_profile("smoke"))
    assert params["repository_url"] == book.repository_url()


def test_the_student_html_is_built_from_student_notebooks_with_their_outputs(tmp_path):
    """The student HTML's sources: book/ copied, each executed chapter in its student form with the outputs of the
    cells that stay (a check cell's output, about the hidden worked answer, cleared), the toc and the config given."""
    shutil.copy2(book.ROOT / "_toc.yml", tmp_path / "_toc.yml")
    (tmp_path / book.CHAPTER_DIR).mkdir(parents=True)
    (tmp_path / "book" / "intro.md").write_text("# corebook\n")
    output = {"output_type": "stream", "name": "stdout", "text": ["ran\n"]}
    for name in book.chapters():
        nb = json.loads(book.source_notebook(name).read_text())
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                cell["outputs"] = [output]
        (tmp_path / book.CHAPTER_DIR / f"{name}.ipynb").write_text(json.dumps(nb))
    dest = book.student_book_sources(tmp_path, {"title": "corebook (student edition)"})
    assert dest == tmp_path / book.STUDENT_BOOK
    assert yaml.safe_load((dest / "_config.yml").read_text())["title"] == "corebook (student edition)"
    assert (dest / "_toc.yml").read_text() == (tmp_path / "_toc.yml").read_text()
    assert (dest / "book" / "intro.md").is_file()
    for name in book.chapters():
        cells = json.loads((dest / book.CHAPTER_DIR / f"{name}.ipynb").read_text())["cells"]
        assert not [c for c in cells if "solution" in c["metadata"].get("tags", [])]
        code = [c for c in cells if c["cell_type"] == "code"]
        checks = [c for c in code if "check" in c["metadata"].get("tags", [])]
        assert checks and all(c["outputs"] == [] for c in checks)
        assert all(c["outputs"] == [] for c in code if c["metadata"].get("tags") == ["answer"])
        kept = [c for c in code if c not in checks and c["metadata"].get("tags") != ["answer"]]
        assert kept and all(c["outputs"] == [output] for c in kept)


def test_the_student_html_check_finds_shown_solutions(tmp_path):
    """check_student_html on hand-made pages: a page with exercises and no solution passes; a solution dropdown, a
    computed solution's cell (tag_solution) or a solution's function on the page is named."""
    from corelib.book import CHAPTER_DIR, check_student_html

    root = tmp_path / "root"  # the sources without executed chapters: no printed output excuses a line
    root.mkdir()
    shutil.copy2(book.ROOT / "_toc.yml", root / "_toc.yml")
    shutil.copytree(book.ROOT / "notebooks", root / "notebooks")
    pages = tmp_path / CHAPTER_DIR
    pages.mkdir(parents=True)
    clean = '<main><div class="exercise admonition" id="ex-1"><p>Write it.</p></div></main>'
    for name in book.chapters():
        (pages / f"{name}.html").write_text(clean)
    assert check_student_html(tmp_path, root) == []
    name = book.chapters()[-1]
    nb = json.loads(book.source_notebook(name).read_text())
    answer = next("".join(c["source"]) for c in nb["cells"]
                  if "solution" in c.get("metadata", {}).get("tags", []) and "def " in "".join(c["source"]))
    line = next(x.strip() for x in answer.splitlines() if len(x.strip()) >= 20
                and not x.strip().startswith(("#", "def ", "import ", "from ")))
    escaped = line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    signature = '<pre><span class="k">def</span> <span class="nf">my_answer</span>(x):</pre>'  # a stub: allowed
    (pages / f"{name}.html").write_text(clean.replace("</main>", signature + "</main>"))
    assert check_student_html(tmp_path, root) == []
    (pages / f"{name}.html").write_text(clean.replace("</main>", '<div class="solution dropdown admonition">x</div>'
                                                      f'<div class="cell tag_solution"><pre><span>{escaped[:9]}'
                                                      f'</span>{escaped[9:]}</pre></div></main>'))
    problems = check_student_html(tmp_path, root)
    assert any("worked solutions shown" in p for p in problems)
    assert any("computed solution's code cell" in p for p in problems)
    assert any("worked answer's code is on the page" in p and line in p for p in problems)
    (pages / f"{book.chapters()[0]}.html").unlink()
    assert any("no page at" in p for p in check_student_html(tmp_path, root))


def test_a_chapter_that_reads_other_chapters_declares_them_and_the_build_passes_their_folders(tmp_path):
    """Chapter 8 reads chapters 3–5's tables: it names them in its notebook's metadata (`corebook.reads`), the build
    passes their folders as `chapter_inputs` beside its own results folder (also when that folder is overridden), and
    `Chapter.read_inputs` joins what is there."""
    import pandas as pd

    from corelib import profiles
    from corelib.experiments import Chapter

    assert book.declared_reads("08_benchmark") == ["03_isef", "04_fgsm_cs", "05_pss"]
    assert book.declared_reads("01_baseline") == []
    params = book.chapter_parameters("08_benchmark", profiles.load_profile("smoke"),
                                     {"results_dir": str(tmp_path / "08_benchmark")})
    assert params["chapter_inputs"] == {c: str(tmp_path / c) for c in ("03_isef", "04_fgsm_cs", "05_pss")}
    (tmp_path / "03_isef").mkdir()
    pd.DataFrame({"method": ["isef"], "test_acc": [0.5]}).to_csv(tmp_path / "03_isef" / "t.csv", index=False)
    chapter = Chapter.start({**params, "results_dir": str(tmp_path / "08_benchmark")})
    assert chapter.read_inputs("t.csv").to_dict("records") == [{"method": "isef", "test_acc": 0.5}]
    assert chapter.read_inputs("absent.csv").empty


# A sentence of the narrative that states a result must be computed (glued as a phrase, {glue:md}), or it is wrong
# under some profile or seed. These find the two kinds such sentences took: a fixed comparison or quantity about
# this run's samples, models or accuracies, and a fixed description of the `ci` profile's setting in a chapter that
# takes parameters. Sentences about the papers, about what one could or should see, and exercises are not results.
RESULT_WORDS = re.compile(r"\b(most (predictions|samples|images)|never (stronger|weaker|flip)|always|alike|pile up|"
                          r"high end|low end|buys a smaller|(is|are) (higher|lower|stronger|weaker|better|worse) than|"
                          r"outperforms?|beats?)\b", re.I)
FIXED_SETTING = re.compile(r"\b\d+(\.\d+)? M-parameter\b|JPEG-re-encoded|on the `ci` model|\(`ci` profile\)")
NOT_A_RESULT = re.compile(r"(paper|the authors|reports?|claims?|argues?|Shinde|Dolatabadi|EasyCore's|DeepCore|should|"
                          r"expect|would|if |whether|can |may |must )", re.I)


def _narrative_sentences(source: str) -> list[str]:
    text = re.sub(r"```.*?```", " ", source, flags=re.S)
    text = re.sub(r"\$\$.*?\$\$", " ", text, flags=re.S)
    text = re.sub(r":::\{(exercise|solution|prf:[a-z]+)\}[\s\S]*?\n:::", " ", text)
    return [s for paragraph in re.split(r"\n\s*\n|\n#+ ", text)
            for s in re.split(r"(?<=[.!?])\s+(?=[A-Z*])", paragraph.replace("\n", " "))]


def unglued_results(source: str) -> list[str]:
    """The sentences of a markdown cell that state a result or a fixed setting without computing it."""
    return [s.strip() for s in _narrative_sentences(source)
            if (RESULT_WORDS.search(s) and "{glue:md}" not in s and not NOT_A_RESULT.search(s))
            or FIXED_SETTING.search(s)]


def test_no_chapter_states_a_result_in_fixed_text():
    found = [f"{nb.stem}: {s[:160]}" for nb in sorted((profiles.ROOT / "notebooks").glob("*.ipynb"))
             for cell in json.loads(nb.read_text())["cells"] if cell["cell_type"] == "markdown"
             for s in unglued_results("".join(cell["source"]))]
    assert not found, "compute these sentences (glue a phrase) or drop them:\n" + "\n".join(found)


@pytest.mark.parametrize("sentence", [
    "At 8/255 the changes are hard to see, yet they move most predictions.",
    "- FGSM is never stronger than PGD at the same budget here: a one-step attack gives an optimistic result.",
    "Misclassified samples pile up at the top.",
    "The two measurements rank samples alike (Spearman ρ = {glue:text}`rho:.2f`) but not identically.",
    "The mean Γ is {glue:text}`g:.4f` for GradMatch: gradient matching buys a smaller error term.",
    "Ours come from a 0.39 M-parameter CNN and JPEG-re-encoded images.",
    "Small ε leaves most samples untouched at every k.",
])
def test_the_check_catches_the_fixed_result_sentences_the_chapters_once_had(sentence):
    assert unglued_results(sentence) == [sentence]
    assert unglued_results("The two measurements {glue:md}`agree` (ρ = {glue:text}`rho:.2f`).") == []
    assert unglued_results("The paper reports that bottom beats top at 1 %.") == []


def test_the_paper_profile_differences_in_rerun_md_quote_the_profile_as_it_is():
    """Every `key: value` the differences table of book/rerun.md quotes for the `paper` profile is that profile's
    value, so the table cannot drift from the profile it describes."""
    text = (profiles.ROOT / "book" / "rerun.md").read_text()
    table = text[text.index("| paper | setting | the paper | the `paper` profile |"):]
    table = table[:table.index("\n\n")]
    quoted = re.findall(r"`([a-z_0-9]+): ([^`]+)`", table)
    paper = profiles.load_profile("paper")
    assert len(quoted) >= 8
    for key, value in quoted:
        assert paper[key] == yaml.safe_load(value), f"rerun.md quotes {key}: {value}; paper.yaml has {paper[key]!r}"


@pytest.mark.skipif(shutil.which("chromium") is None and shutil.which("chromium-browser") is None,
                    reason="needs Chromium (CI installs it)")
def test_the_sort_probe_sorts_an_offline_interactive_table_and_reports_a_static_one(tmp_path):
    """The HTML check's probe clicks the `mean` header of an itables table embedded with its library (no network) and
    sees its rows reorder ascending; a page whose table is not interactive reports no table to sort."""
    import pandas as pd
    from itables import options, to_html_datatable
    from itables.javascript import generate_init_offline_itables_html

    from corelib.book.checks import _chromium, chromium_flags, sortable_tables

    frame = pd.DataFrame({"method": ["a", "b", "c", "d"], "mean (%)": [30.5, 10.0, 25.0, 12.5]})
    page = tmp_path / "page.html"
    page.write_text("<html><body>" + generate_init_offline_itables_html(options.dt_bundle)
                    + to_html_datatable(frame, connected=False) + "</body></html>")
    flags = chromium_flags(tmp_path)
    assert sortable_tables(page, _chromium(), flags) == {"tables": 1, "column": "mean (%)", "rows": 4, "changed": True,
                                                         "ascending": True}
    static = tmp_path / "static.html"
    static.write_text("<html><body>" + frame.to_html() + "</body></html>")
    assert sortable_tables(static, _chromium(), flags) == {"tables": 0}

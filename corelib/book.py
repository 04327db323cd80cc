"""Execute the book's chapters with papermill and build the HTML with jupyter-book.

    python -m corelib.book build --profile ci [--force] [--only NAME] [-p NAME VALUE ...]
    python -m corelib.book params --profile ci --chapter 01_baseline     # the parameters a chapter gets
    python -m corelib.book check-html                                     # every chapter page has figures and tables

Chapters are the `_toc.yml` entries under `book/chapters/`; the source of `book/chapters/NAME` is
`notebooks/NAME.ipynb`. A profile (`profiles/NAME.yaml`, a flat file papermill can also read with
`-f`, read by `corelib.profiles`) holds the knobs of every chapter; each chapter gets the ones its `parameters`
cell declares. An executed chapter whose notebook, parameters and corelib source are unchanged is reused.
"""
from __future__ import annotations

import argparse
import html
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unicodedata
import warnings
import zipfile
from pathlib import Path

import yaml

from .data import ensure_cifar10
from .profiles import ROOT, check_value, load_profile, rename_keys
from .settings import Settings
from .utils import (atomic_write_text, code_hash, config_hash, device_description, git_commit, precision_description,
                    resolve_device)
CHAPTER_DIR = "book/chapters"


class ChapterError(RuntimeError):
    """A chapter failed to execute."""


class UsageError(ValueError):
    """A build request that cannot work (exit status 2)."""


def toc_pages(root: Path = ROOT) -> list[str]:
    """Every page of the book in table-of-contents order (the root page first), as `_toc.yml` names them."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    found = [toc["root"]] if isinstance(toc.get("root"), str) else []

    def walk(node):
        if isinstance(node, dict):
            f = node.get("file")
            if isinstance(f, str):
                found.append(f.removesuffix(".ipynb").removesuffix(".md"))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(toc)
    return found


def chapters(root: Path = ROOT) -> list[str]:
    """Chapter names in table-of-contents order."""
    return [f[len(CHAPTER_DIR) + 1:] for f in toc_pages(root) if f.startswith(CHAPTER_DIR + "/")]


def source_notebook(name: str, root: Path = ROOT) -> Path:
    return root / "notebooks" / f"{name}.ipynb"


def declared_parameters(notebook: Path) -> dict:
    """Names and default values (as source text) of the notebook's `parameters` cell."""
    import papermill

    return {k: v["default"] for k, v in papermill.inspect_notebook(str(notebook)).items()}


def parameter_reference(name: str, profile: dict, notebooks: list[Path]):
    """The value an override of parameter `name` must resemble: the profile's, else the first declaring
    notebook's default (None where neither gives a literal)."""
    import ast

    if name in profile:
        return profile[name]
    for nb in notebooks:
        declared = declared_parameters(nb)
        if name in declared:
            try:
                return ast.literal_eval(declared[name])
            except (ValueError, SyntaxError):
                return None
    return None


def repository_url(root: Path = ROOT) -> str:
    """The book's public repository, `repository.url` in `_config.yml`: the one place the chapters' setup cells
    (install corelib where it is missing) and launch links read it from ('' while the book names none, or has no
    `_config.yml`)."""
    if not (root / "_config.yml").is_file():
        return ""
    config = yaml.safe_load((root / "_config.yml").read_text()) or {}
    return str((config.get("repository") or {}).get("url") or "")


def launch_links(name: str, url: str, branch: str = "main") -> str:
    """A chapter's 'run it yourself' line: Colab and Binder links to its source notebook `notebooks/NAME.ipynb` in
    the GitHub repository `url` (a clone command for another host; a sentence saying what is missing for '')."""
    if not url:
        return ("Launch links (Colab, Binder) appear here once the book names its public repository "
                "(`repository.url` in `_config.yml`).")
    found = re.fullmatch(r"https://github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?/?", url)
    if not found:
        return f"Run it yourself: `git clone {url}`, then `make book` (the README's quick start)."
    owner, repo = found.groups()
    colab = f"https://colab.research.google.com/github/{owner}/{repo}/blob/{branch}/notebooks/{name}.ipynb"
    binder = f"https://mybinder.org/v2/gh/{owner}/{repo}/{branch}?labpath=notebooks%2F{name}.ipynb"
    return (f"Run it yourself: [open in Colab]({colab}) · [launch on Binder]({binder}); its first cell installs "
            "corelib there.")


def chapter_parameters(name: str, profile: dict, overrides: dict | None = None, root: Path = ROOT) -> dict:
    """The profile's values for the parameters this chapter declares (and `repository_url` from `_config.yml`), then
    `overrides` it declares."""
    declared = declared_parameters(source_notebook(name, root))
    params = {k: v for k, v in profile.items() if k in declared}
    if "repository_url" in declared:
        params["repository_url"] = repository_url(root)
    params.update({k: v for k, v in (overrides or {}).items() if k in declared})
    return params


def fingerprint(notebook: Path, params: dict) -> str:
    cells = json.loads(notebook.read_text())["cells"]
    return config_hash({"cells": [(c["cell_type"], "".join(c["source"])) for c in cells], "params": params,
                        "corelib": code_hash()})


def _format_seconds(s: float) -> str:
    return f"{s:.0f} s" if s < 90 else f"{int(s // 60)} min {s % 60:.0f} s"


def corelib_version() -> str:
    """The installed corelib's version (the package metadata `make install` writes; corelib.__version__)."""
    from importlib import metadata

    try:
        return metadata.version("corelib")
    except metadata.PackageNotFoundError:
        return "not installed"


def run_record_cell(profile: str, params: dict, device: str, seconds: float, commit: str, data: str,
                    precision: str = "fp32"):
    """The markdown cell placed under each chapter's title: how this page was produced."""
    import nbformat
    import torch

    shown = ", ".join(f"`{k}={v!r}`" for k, v in params.items() if k != "profile")
    text = "\n".join([
        ":::{admonition} How this page was produced",
        ":class: note",
        "",
        "| | |", "|---|---|",
        f"| profile | `{profile}` |",
        f"| parameters | {shown} |",
        f"| device | {device} |",
        f"| precision | {precision} |",
        f"| runtime | {_format_seconds(seconds)} (executed {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC) |",
        f"| git commit | `{commit}` |",
        f"| software | corelib {corelib_version()}, torch {torch.__version__}, Python {sys.version.split()[0]} |",
        f"| data | {data} |",
        "",
        "Rerun it with other values: see [Rerunning a chapter](../rerun.md).",
        ":::",
    ])
    return nbformat.v4.new_markdown_cell(text, metadata={"tags": ["run-record"]})


def execute_chapter(name: str, profile_name: str, overrides: dict | None = None, out_dir: Path | None = None,
                    force: bool = False, root: Path = ROOT, log=print) -> Path:
    """Execute one chapter with papermill into `out_dir/NAME.ipynb` (default book/chapters), adding its run
    record; skip it when an executed copy with the same fingerprint exists (unless `force`)."""
    import nbformat
    import papermill
    from papermill.exceptions import PapermillExecutionError

    src = source_notebook(name, root)
    if not src.is_file():
        raise ChapterError(f"chapter {name!r} is in _toc.yml but {src} does not exist")
    profile = load_profile(profile_name, root)
    params = chapter_parameters(name, profile, overrides, root)
    out_dir = Path(out_dir or root / CHAPTER_DIR)
    dst = out_dir / f"{name}.ipynb"
    fp = fingerprint(src, params)
    if not force and dst.is_file():
        old = json.loads(dst.read_text()).get("metadata", {}).get("corebook", {})
        if old.get("fingerprint") == fp:
            log(f"[{name}] unchanged (notebook, parameters and corelib): reusing {dst.relative_to(root) if dst.is_relative_to(root) else dst}")
            return dst
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / f".{name}.running.ipynb"
    log(f"[{name}] executing with profile {profile_name!r} ...")
    start = time.perf_counter()
    try:
        papermill.execute_notebook(str(src), str(tmp), parameters=params, cwd=str(root / "notebooks"),
                                   progress_bar=False, kernel_name="python3")
    except PapermillExecutionError as err:
        failed = root / "_build" / "failed" / f"{name}.ipynb"
        failed.parent.mkdir(parents=True, exist_ok=True)
        index = _source_cell_index(tmp, err.cell_index)
        shutil.move(str(tmp), failed)
        raise ChapterError(f"chapter {name!r} failed in cell {index} of {src.relative_to(root) if src.is_relative_to(root) else src} "
                           f"(counting from 0, the parameters cell included): {err.ename}: {err.evalue}\n"
                           f"executed copy with the traceback: {failed}") from None
    except BaseException as err:  # a dead kernel, a timeout, Ctrl-C: no half-executed copy is left behind
        tmp.unlink(missing_ok=True)
        if not isinstance(err, Exception):
            raise
        why = "the kernel died (out of memory, or the process was killed)" if "DeadKernel" in type(err).__name__ \
            else f"{type(err).__name__}: {err}"
        raise ChapterError(f"chapter {name!r} stopped: {why}; rerun it alone with "
                           f"`python -m corelib.book build --only {name}`") from None
    seconds = time.perf_counter() - start
    nb = nbformat.read(str(tmp), as_version=4)
    tmp.unlink()
    for cell in nb.cells:  # the run record shows the injected values; hide papermill's copy of them
        if "injected-parameters" in cell.metadata.get("tags", []):
            cell.metadata["tags"] = [*cell.metadata["tags"], "remove-cell"]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = ensure_cifar10(params.get("data_root"), download=False)[1]
    except Exception:
        data = "unknown"
    resolved = resolve_device(params.get("device", "auto"))
    device = device_description(resolved)
    precision = precision_description(params.get("precision", "auto"), resolved)
    nb.cells.insert(1, run_record_cell(profile_name, params, device, seconds, git_commit(root), data, precision))
    nb.metadata["corebook"] = {"fingerprint": fp, "profile": profile_name, "parameters": params, "device": device,
                               "precision": precision,
                               "runtime_s": round(seconds, 1), "commit": git_commit(root)}
    atomic_write_text(dst, nbformat.writes(nb))
    log(f"[{name}] done in {_format_seconds(seconds)}")
    return dst


def _source_cell_index(executed: Path, index: int) -> int:
    """The index in the source notebook of cell `index` of papermill's executed copy, which has the injected
    parameters cell the source does not."""
    try:
        cells = json.loads(executed.read_text())["cells"]
    except (OSError, ValueError, KeyError):
        return index
    injected = [i for i, c in enumerate(cells) if "injected-parameters" in c.get("metadata", {}).get("tags", [])]
    return index - 1 if injected and index > injected[0] else index


NPM_ASSETS = ("@jupyter-widgets/html-manager@1.0.6", "requirejs@2.3.8", "mathjax@3.2.2")


def fetch_offline_assets(dest: Path, log=print) -> bool:
    """Fetch the widget manager, require.js and MathJax from the npm registry into `dest` (once), so the
    book's widgets and formulas render without CDN access. Returns False when npm is unavailable."""
    import tarfile
    import tempfile

    wanted = [dest / "require.js", dest / "widgets" / "embed-amd.js", dest / "mathjax" / "tex-svg.js"]
    if all(p.is_file() for p in wanted):
        return True
    npm = shutil.which("npm")
    if npm is None:
        log("npm not found: widgets and formulas will load their scripts from CDNs when the book is viewed")
        return False
    with tempfile.TemporaryDirectory() as tmp:
        result = subprocess.run([npm, "pack", "--silent", *NPM_ASSETS], cwd=tmp, capture_output=True, text=True)
        if result.returncode:
            log(f"npm pack failed ({result.stderr.strip()[:200]}): using CDNs for widgets and formulas")
            return False
        unpacked = {}
        for tgz in Path(tmp).glob("*.tgz"):
            target = Path(tmp) / tgz.stem
            with tarfile.open(tgz) as tar:
                tar.extractall(target, filter="data")
            unpacked[tgz.stem.split("-")[0]] = target / "package"
        staging = dest.with_name(dest.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(unpacked["jupyter"] / "dist", staging / "widgets",
                        ignore=shutil.ignore_patterns("*.map"))
        shutil.copy(unpacked["requirejs"] / "require.js", staging / "require.js")
        (staging / "mathjax").mkdir()
        shutil.copy(unpacked["mathjax"] / "es5" / "tex-svg.js", staging / "mathjax" / "tex-svg.js")
        shutil.rmtree(dest, ignore_errors=True)
        staging.rename(dest)
    return True


def offline_config(root: Path, assets: Path) -> Path:
    """A copy of _config.yml that serves widgets and MathJax from `assets` instead of CDNs."""
    config = yaml.safe_load((root / "_config.yml").read_text())
    sphinx = config.setdefault("sphinx", {}).setdefault("config", {})
    sphinx["html_static_path"] = [str(assets.relative_to(root))]
    sphinx["nb_ipywidgets_js"] = {"require.js": {}, "widgets/embed-amd.js": {}}
    sphinx["mathjax_path"] = "mathjax/tex-svg.js"
    path = root / "_build" / "_config.offline.yml"
    atomic_write_text(path, yaml.safe_dump(config, sort_keys=False))
    return path


def build(profile_name: str = "ci", force: bool = False, only: list[str] | None = None, overrides=None,
          html: bool = True, root: Path = ROOT) -> int:
    """Execute every chapter (or `only` those), then build the HTML into _build/html."""
    names = chapters(root)
    if only is not None and not only:
        raise UsageError(f"--only needs at least one chapter name; the book has {names}")
    unknown = sorted(set(only or []) - set(names))
    if unknown:
        raise UsageError(f"unknown chapter(s) {unknown}; the book has {names}")
    try:
        profile = load_profile(profile_name, root)  # fail early on a bad profile name
    except ValueError as err:
        raise UsageError(str(err)) from None
    if overrides:
        overrides = rename_keys(overrides)
        notebooks = [source_notebook(n, root) for n in names]
        declared = set().union(*(declared_parameters(nb) for nb in notebooks))
        stray = sorted(set(overrides) - declared)
        if stray:
            raise UsageError(f"no chapter declares the parameter(s) {stray}; see `python -m corelib.book params`")
        try:
            overrides = {k: check_value(k, v, parameter_reference(k, profile, notebooks)) for k, v in overrides.items()}
        except ValueError as err:
            raise UsageError(str(err)) from None
    for name in names:  # every selected chapter's settings, checked before any chapter runs
        if not only or name in only:
            try:
                Settings.from_mapping(chapter_parameters(name, profile, overrides, root))
            except ValueError as err:
                raise UsageError(f"chapter {name}: {err}") from None
    os.environ.setdefault("CORELIB_CACHE", str(root / "_build" / "cache"))
    os.environ.setdefault("CORELIB_PROGRESS", "0")  # no progress bars frozen into the pages
    total = time.perf_counter()
    for name in names:
        if only and name not in only:
            continue
        execute_chapter(name, profile_name, overrides, force=force, root=root)
    print(f"chapters executed in {_format_seconds(time.perf_counter() - total)}")
    if html:
        jupyter_book(root)
        print(f"book written to {root / '_build' / 'html' / 'index.html'}")
    return 0


def results_bundle(name: str, root: Path = ROOT) -> Path:
    """`book/chapters/NAME_results.zip`, the page's download of its results: every CSV the chapter wrote under
    `_build/results/NAME/` (the paths below it kept) and a README naming the chapter, the profile and the commit of
    the executed copy. Entries are sorted and dated 1980-01-01, so the same tables give the same bytes."""
    folder = root / "_build" / "results" / name
    out = root / CHAPTER_DIR / f"{name}_results.zip"
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {}
    executed = root / CHAPTER_DIR / f"{name}.ipynb"
    if executed.is_file():
        meta = json.loads(executed.read_text()).get("metadata", {}).get("corebook", {})
    csvs = sorted(folder.rglob("*.csv")) if folder.is_dir() else []
    readme = (f"Results of chapter {name} of corebook, as its executed page shows them.\n"
              f"profile: {meta.get('profile', 'unknown')}; commit: {meta.get('commit', 'unknown')}; "
              f"{len(csvs)} CSV files (tidy tables, one row per observation).\n"
              "Regenerate them with `python -m corelib.book build --profile PROFILE --only " + name + "`.\n")
    tmp = out.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(zipfile.ZipInfo("README.txt", (1980, 1, 1, 0, 0, 0)), readme)
        for path in csvs:
            info = zipfile.ZipInfo(f"{name}/{path.relative_to(folder).as_posix()}", (1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, path.read_bytes())
    os.replace(tmp, out)
    return out


STUDENT_BOOK = Path("_build") / "student-book"  # the student edition's HTML: <root>/_build/student-book/_build/html


def student_book_sources(root: Path, config: dict) -> Path:
    """The student edition's book sources in `STUDENT_BOOK`: a copy of book/ with every executed chapter in its
    student form (`student_notebook`, outputs kept), the table of contents and `config` as its _config.yml. Built
    from the same executed chapters as the teacher's pages, so the two editions cannot drift apart."""
    dest = root / STUDENT_BOOK
    shutil.rmtree(dest / "book", ignore_errors=True)
    shutil.copytree(root / "book", dest / "book")
    for name in chapters(root):
        path = dest / CHAPTER_DIR / f"{name}.ipynb"
        nb = student_notebook(json.loads(path.read_text()), keep_outputs=True)
        atomic_write_text(path, json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    shutil.copy2(root / "_toc.yml", dest / "_toc.yml")
    atomic_write_text(dest / "_config.yml", yaml.safe_dump(config, sort_keys=False))
    return dest


def jupyter_book(root: Path, student: bool = False) -> None:
    """Run jupyter-book's html builder over the executed chapters, warnings as errors, with the
    offline assets when they can be fetched, after writing the teacher's page's table of chapter times and each
    chapter's results download (`results_bundle`). `student`: the same pages with every worked solution left out,
    built from `student_book_sources` into `STUDENT_BOOK` (sphinx-exercise's `hide_solutions` cannot hide gated
    solutions: its HTML writer fails on their end node)."""
    atomic_write_text(root / "book" / "generated" / "chapter_times.md", chapter_times(root))
    for name in chapters(root):
        results_bundle(name, root)
    cmd = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(root), "--builder", "html",
           "-W", "-n", "--keep-going"]
    assets = root / "_build" / "assets"
    offline = fetch_offline_assets(assets)
    if student:
        config = yaml.safe_load((offline_config(root, assets) if offline else root / "_config.yml").read_text())
        if offline:
            config["sphinx"]["config"]["html_static_path"] = [str(assets.resolve())]
        config["title"] = f"{config.get('title', 'corebook')} (student edition)"
        cmd[2] = str(student_book_sources(root, config))
    elif offline:
        cmd += ["--config", str(offline_config(root, assets))]
    result = subprocess.run(cmd, cwd=root)
    if result.returncode:
        raise ChapterError(f"jupyter-book build failed (exit {result.returncode}); see the warnings above")


def chapter_title(nb: dict, default: str) -> str:
    """The text of a notebook's first '# ' heading (`default` if it has none)."""
    return next((line[2:].strip() for c in nb["cells"] if c["cell_type"] == "markdown"
                 for line in "".join(c["source"]).splitlines() if line.startswith("# ")), default)


def chromium_flags(root: Path) -> list[str]:
    """Headless Chromium with no network chatter and a profile under _build (check-html, make pdf)."""
    return ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", f"--user-data-dir={root / '_build' / 'chromium-profile'}"]


def chapter_times(root: Path = ROOT) -> str:
    """A Markdown table of what each executed chapter (book/chapters/*.ipynb) took, from its run record: the
    teacher's page includes it, so the times it shows are those of the build that made the pages."""
    rows = ["| chapter | profile | device | executed in |", "| --- | --- | --- | --- |"]
    total = 0.0
    for name in chapters(root):
        path = root / CHAPTER_DIR / f"{name}.ipynb"
        if not path.is_file():
            rows.append(f"| {name} | not executed in this build | | |")
            continue
        nb = json.loads(path.read_text())
        meta = nb.get("metadata", {}).get("corebook", {})
        title = chapter_title(nb, name)
        seconds = float(meta.get("runtime_s", float("nan")))
        total += seconds
        rows.append(f"| {title} | `{meta.get('profile', '?')}` | {meta.get('device', '?')} | "
                    f"{_format_seconds(seconds)} |")
    rows.append(f"| **all chapters** | | | **{_format_seconds(total)}** |")
    return "\n".join(rows) + "\n"


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    raise FileNotFoundError("no Chromium found for the HTML check; install it (Debian: apt-get install chromium)")


WIDTH_PROBE = """<!doctype html><html><body><pre id="out">pending</pre>
<iframe id="page" src="{src}" style="width:1280px;height:2000px"></iframe>
<script>
document.getElementById("page").onload = function () {{
  var doc = this.contentDocument, wide = [];
  doc.querySelectorAll("main table").forEach(function (t) {{
    var column = doc.querySelector("main article, main .bd-article, main").clientWidth;
    if (t.scrollWidth > column + 2) {{
      var head = Array.from(t.querySelectorAll("th")).slice(0, 4).map(function (h) {{ return h.textContent.trim(); }});
      wide.push(t.scrollWidth + " px > " + column + " px (columns " + head.join(", ") + " …)");
    }}
  }});
  document.getElementById("out").textContent = JSON.stringify(wide);
}};
</script></body></html>"""


def wide_tables(page: Path, browser: str, flags: list[str]) -> list[str]:
    """The tables of a rendered page wider than its content column, measured in headless Chromium at a 1280-px
    window: one line each, with the table's width, the column's and its first headers."""
    probe = page.with_name(f".width-probe-{page.stem}.html")
    probe.write_text(WIDTH_PROBE.format(src=page.name))
    try:
        dom = subprocess.run([browser, *flags, "--allow-file-access-from-files", "--virtual-time-budget=20000",
                              "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=180).stdout
    finally:
        probe.unlink(missing_ok=True)
    found = re.search(r'<pre id="out">(.*?)</pre>', dom, re.S)
    text = found.group(1) if found else "pending"
    if text == "pending":
        return ["the table-width probe did not run"]
    import html as html_lib

    return json.loads(html_lib.unescape(text))


def check_html(html_dir: Path | None = None, screenshots: Path | None = None, root: Path = ROOT) -> list[str]:
    """Render every chapter page in headless Chromium and return the problems found: a missing page, a page
    without a figure or a table, a page that shows a Python traceback, an exercise without its solution dropdown,
    no passing self-check, no licence footer, no download of the executed notebook or of the results, not the Colab and
    Binder links `launch_links` gives for the repository `_config.yml` names, a table wider than the content column (or a width probe
    that did not run); and a missing teacher's guide."""
    html_dir = Path(html_dir or root / "_build" / "html")
    browser = _chromium()
    problems = []
    flags = chromium_flags(root)
    url = repository_url(root)
    for name in chapters(root):
        page = html_dir / CHAPTER_DIR / f"{name}.html"
        if not page.is_file():
            problems.append(f"{name}: no page at {page}")
            continue
        dom = subprocess.run([browser, *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True,
                             timeout=120).stdout
        main = dom.split('<main', 1)[-1]
        images = len(re.findall(r"<img\b[^>]*src=\"[^\"]+\.(?:png|svg|jpg)", main))
        tables = len(re.findall(r"<table\b", main))
        if images == 0:
            problems.append(f"{name}: no figure (no <img> in the rendered page)")
        if tables == 0:
            problems.append(f"{name}: no table")
        if "Traceback (most recent call last)" in main:
            problems.append(f"{name}: the page shows a Python traceback")
        exercises = len(re.findall(r'class="exercise\b[^"]*admonition', main))
        solutions = len(re.findall(r'class="solution\b[^"]*dropdown', main))
        if exercises == 0 or solutions < exercises:
            problems.append(f"{name}: {exercises} exercises and {solutions} solutions in dropdowns (every exercise "
                            "needs its worked solution)")
        if "all cases agree with corelib" not in main:
            problems.append(f"{name}: no self-checking exercise whose check passes")
        if not re.search(rf'href="[^"]*_sources/[^"]*{name}\.ipynb"', dom):
            problems.append(f"{name}: no download of the executed notebook (.ipynb) on the page")
        if not re.search(rf'href="[^"]*_downloads/[^"]*{name}_results\.zip"', main):
            problems.append(f"{name}: no download of the chapter's results (CSV files, {name}_results.zip)")
        links = re.findall(r"\]\((https://[^)]+)\)", launch_links(name, url))  # none for '' or a non-GitHub host
        if not all(html.escape(link) in main or link in main for link in links):
            problems.append(f"{name}: no Colab and Binder launch links for {url} on the page")
        if "CC BY 4.0" not in dom:
            problems.append(f"{name}: no licence in the footer")
        for line in wide_tables(page, browser, flags):
            problems.append(f"{name}: a table wider than the content column: {line}")
        if screenshots:
            screenshots.mkdir(parents=True, exist_ok=True)
            subprocess.run([browser, *flags, f"--screenshot={screenshots / (name + '.png')}",
                            "--window-size=1280,2400", page.as_uri()], capture_output=True, timeout=120)
        print(f"{name}: {images} figures, {tables} tables, {exercises} exercises")
    teacher = html_dir / "book" / "teacher.html"
    if not teacher.is_file() or "chapter" not in teacher.read_text():
        problems.append(f"no teacher's guide at {teacher}")
    return problems


def _output_text(output: dict) -> str:
    """The text a notebook output shows (stream, or its text / HTML / Markdown data)."""
    parts = [output.get("text", "")] + [output.get("data", {}).get(kind, "")
                                         for kind in ("text/plain", "text/html", "text/markdown")]
    return html.unescape(re.sub(r"<[^>]+>", "", "".join("".join(p) if isinstance(p, list) else p for p in parts)))


def check_student_html(html_dir: Path | None = None, root: Path = ROOT) -> list[str]:
    """The student edition's pages (`make student`): each chapter keeps its exercises and shows none of their worked
    solutions, neither the dropdowns nor the code of a computed solution."""
    html_dir = Path(html_dir or root / STUDENT_BOOK / "_build" / "html")
    problems = []
    for name in chapters(root):
        page = html_dir / CHAPTER_DIR / f"{name}.html"
        if not page.is_file():
            problems.append(f"student edition, {name}: no page at {page} (run make student after make book)")
            continue
        main = page.read_text().split("<main", 1)[-1]
        exercises = len(re.findall(r'class="exercise\b[^"]*admonition', main))
        solutions = len(re.findall(r'class="solution\b', main))
        if exercises == 0:
            problems.append(f"student edition, {name}: no exercises")
        if solutions:
            problems.append(f"student edition, {name}: {solutions} worked solutions shown")
        if "tag_solution" in main:  # jupyter-book gives each cell its tags as classes
            problems.append(f"student edition, {name}: a computed solution's code cell is on the page")
        text = html.unescape(re.sub(r"<[^>]+>", "", main))
        executed = root / CHAPTER_DIR / f"{name}.ipynb"
        nb = json.loads((executed if executed.is_file() else source_notebook(name, root)).read_text())
        # what the chapter itself prints outside its solutions (e.g. corelib's source of the formula) is not a leak
        printed = "\n".join(_output_text(o) for c in nb["cells"] if c["cell_type"] == "code"
                            and "solution" not in c["metadata"].get("tags", []) for o in c.get("outputs", []))
        for cell in nb["cells"]:
            if "solution" in cell.get("metadata", {}).get("tags", []):
                body = [line.strip() for line in "".join(cell["source"]).splitlines()]
                shown = [line for line in body if len(line) >= 20 and line in text and line not in printed
                         and not line.startswith(("def ", "import ", "from ", "#"))]  # a stub keeps the signature
                if shown:
                    problems.append(f"student edition, {name}: the worked answer's code is on the page ({shown[0]!r})")
    return problems


PRINT_STYLE = """<style>@media print {
  pre, .highlight pre, .output pre { white-space: pre-wrap !important; overflow-wrap: anywhere; }
  div.highlight, div.cell_output, div.output { overflow: visible !important; }
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


TEACHER_ONLY = ("; its worked solution is in the dropdown below it", " The worked solution is in the dropdown; the "
                "check below runs it.")  # sentences about the solutions, cut from the student edition
SOLUTION_BLOCK = re.compile(r"\n*:::\{solution\}.*?\n:::[ \t]*(?=\n|$)", re.S)


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
            for sentence in TEACHER_ONLY:
                src = src.replace(sentence, "")
            cell["source"] = SOLUTION_BLOCK.sub("", src).splitlines(keepends=True)
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


def _parse_overrides(pairs):
    out = {}
    for key, value in pairs or []:
        try:
            out[key] = yaml.safe_load(value)
        except yaml.YAMLError as err:
            raise UsageError(f"-p {key} {value!r} is not a YAML value ({str(err).splitlines()[0]})") from None
    return out


def main(argv=None) -> int:
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
    args = parser.parse_args(argv)
    try:
        if args.command == "pdf":
            path, problems = build_pdf()
            for line in problems:
                print("PROBLEM:", line, file=sys.stderr)
            return 1 if problems else 0
        if args.command == "student":
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
        if args.command == "check-student":
            problems = check_student_html()
            for line in problems:
                print("PROBLEM:", line, file=sys.stderr)
            return 1 if problems else 0
        if args.command == "build":
            return build(args.profile, args.force, args.only, _parse_overrides(args.parameter), not args.no_html)
        if args.command == "params":
            print(yaml.safe_dump(chapter_parameters(args.chapter, load_profile(args.profile)), sort_keys=False), end="")
            return 0
        problems = check_html(args.html, Path(args.screenshots) if args.screenshots else None)
        for line in problems:
            print("PROBLEM:", line, file=sys.stderr)
        return 1 if problems else 0
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (ChapterError, ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

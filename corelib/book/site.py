"""The HTML site: offline assets for widgets and math, the jupyter-book build (teacher's and student's editions),
the chapters' measured times."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from ..files import atomic_write_text
from ..profiles import ROOT
from .chapters import CHAPTER_DIR, ChapterError, _format_seconds, chapter_title, chapters
from .student import student_notebook

if TYPE_CHECKING:
    from collections.abc import Callable

NPM_ASSETS = ("@jupyter-widgets/html-manager@1.0.6", "requirejs@2.3.8", "mathjax@3.2.2")



def fetch_offline_assets(dest: Path, log: Callable[[str], None] = print) -> bool:
    """Fetch the widget manager, require.js and MathJax from the npm registry into `dest` (once), so the
    book's widgets and formulas render without CDN access. Returns False when npm is unavailable."""
    import tarfile

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


__all__ = ["chapter_times", "fetch_offline_assets", "jupyter_book", "NPM_ASSETS", "offline_config", "results_bundle",
           "STUDENT_BOOK", "student_book_sources"]

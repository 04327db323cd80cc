"""The book's chapters: the table of contents, each chapter's source notebook and declared parameters, the
parameters a profile gives it, its fingerprint, and the repository links."""
from __future__ import annotations

import ast
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from ..hashing import code_hash, config_hash
from ..profiles import ROOT

if TYPE_CHECKING:
    from typing import Any

CHAPTER_DIR = "book/chapters"



class ChapterError(RuntimeError):
    """A chapter failed to execute."""





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
    """The source of chapter `name`: notebooks/NAME.ipynb."""
    return root / "notebooks" / f"{name}.ipynb"



def declared_parameters(notebook: Path) -> dict:
    """Names and default values (as source text) of the notebook's `parameters` cell."""
    import papermill

    return {k: v["default"] for k, v in papermill.inspect_notebook(str(notebook)).items()}



def parameter_reference(name: str, profile: dict, notebooks: list[Path]) -> Any:
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



BUILD_KEYS = ("cache_dir", "progress", "chapter_inputs")  # what the build passes a chapter besides its knobs


def declared_reads(name: str, root: Path = ROOT) -> list[str]:
    """The chapters whose results chapter `name` reads: its notebook's metadata `corebook.reads` (a list of chapter
    names), checked against the table of contents."""
    meta = json.loads(source_notebook(name, root).read_text()).get("metadata", {}).get("corebook", {})
    reads = list(meta.get("reads", []))
    unknown = sorted(set(reads) - set(chapters(root))) if reads else []
    if unknown:
        raise ChapterError(f"chapter {name!r} declares that it reads {unknown}, which the book does not have")
    return reads


def chapter_parameters(name: str, profile: dict, overrides: dict | None = None, root: Path = ROOT) -> dict:
    """The profile's values for the parameters this chapter declares (and `repository_url` from `_config.yml`, the
    build's `cache_dir` and `progress` off), then `overrides` it declares; a chapter that reads other chapters'
    results (`declared_reads`) gets their folders as `chapter_inputs` (beside its own `results_dir`)."""
    declared = declared_parameters(source_notebook(name, root))
    params = {k: v for k, v in profile.items() if k in declared}
    if "repository_url" in declared:
        params["repository_url"] = repository_url(root)
    if "cache_dir" in declared:  # one cache for the whole build; a CORELIB_CACHE the user set wins
        params["cache_dir"] = os.environ.get("CORELIB_CACHE") or str(root / "_build" / "cache")
    if "progress" in declared:
        params["progress"] = False  # no progress bars frozen into the pages
    params.update({k: v for k, v in (overrides or {}).items() if k in declared})
    reads = declared_reads(name, root)
    if reads:
        own = Path(params.get("results_dir") or ast.literal_eval(declared["results_dir"]))
        params["chapter_inputs"] = {other: str(own.parent / other) for other in reads}
    return params



def fingerprint(notebook: Path, params: dict) -> str:
    """A hash of the notebook's source, its parameters and corelib's code: an executed copy with the same one is
    reused."""
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



def chapter_title(nb: dict, default: str) -> str:
    """The text of a notebook's first '# ' heading (`default` if it has none)."""
    return next((line[2:].strip() for c in nb["cells"] if c["cell_type"] == "markdown"
                 for line in "".join(c["source"]).splitlines() if line.startswith("# ")), default)


__all__ = ["BUILD_KEYS", "CHAPTER_DIR", "chapter_parameters", "chapter_title", "ChapterError", "chapters",
           "corelib_version", "declared_parameters", "declared_reads", "fingerprint", "launch_links",
           "parameter_reference", "repository_url", "source_notebook", "toc_pages"]

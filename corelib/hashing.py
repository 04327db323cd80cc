"""Hashes that key caches and mark recorded results stale: of configurations, of weights, and of code (the import
closure of a module, read from the source without running it); the git commit."""
from __future__ import annotations

import ast
import hashlib
import json
import os
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterable, Union

import torch

PACKAGE_DIR = Path(__file__).resolve().parent
# What a code hash covers: module names ('corelib.train'), modules, or functions / classes (their module counts),
# one or several.
CodeRef = Union[str, ModuleType, Callable[..., Any], Iterable[Union[str, ModuleType, Callable[..., Any]]]]



def config_hash(config: dict) -> str:
    """A stable 16-hex-digit hash of a JSON-serialisable configuration (key order does not matter)."""
    blob = json.dumps(config, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]



def _module_file(name: str, root: Path) -> Path | None:
    """The source file of corelib module `name` ('corelib', 'corelib.train', 'corelib.experiments.grid') under `root`."""
    parts = name.split(".")[1:]
    base = root.joinpath(*parts)
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None



def module_imports(name: str, root: Path = PACKAGE_DIR) -> set[str]:
    """The corelib modules that module `name` imports anywhere in its source (top level or inside functions),
    read from its syntax tree without running it. `from .experiments import grid` counts `corelib.experiments.grid` where
    `grid` is a module, and `corelib.experiments` where it is a name defined there; a parent package is not counted
    for its submodules."""
    path = _module_file(name, root)
    if path is None:
        raise ValueError(f"{name!r} is not a module of corelib (no file under {root})")
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == PACKAGE_DIR.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            elif (node.module or "").split(".")[0] == PACKAGE_DIR.name:
                target = node.module
            else:
                continue
            submodules = {f"{target}.{a.name}" for a in node.names if _module_file(f"{target}.{a.name}", root)}
            found.update(submodules)
            if len(submodules) < len(node.names):  # some names are objects defined in `target` itself
                found.add(target)
    return {m for m in found if _module_file(m, root) is not None}



def import_closure(modules: CodeRef, root: Path = PACKAGE_DIR) -> list[str]:
    """Every corelib module reachable from `modules` through imports (the modules themselves included), sorted."""
    todo = [_module_name(m) for m in ([modules] if isinstance(modules, (str, ModuleType)) or callable(modules)
                                      else modules)]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(module_imports(name, root) - seen)
    return sorted(seen)



def _module_name(obj) -> str:
    """'corelib.x' for a module name, a module object, or a function or class defined in corelib."""
    if isinstance(obj, str):
        return obj
    if isinstance(obj, ModuleType):
        return obj.__name__
    return obj.__module__



def code_hash(modules: CodeRef = PACKAGE_DIR.name, root: Path = PACKAGE_DIR) -> str:
    """Hash of the source of `modules` (names, modules, or functions / classes whose module counts) and of every
    corelib module they import, transitively: part of every cache key, so editing any code an artifact depends on
    invalidates it, and editing unrelated code does not. The default, 'corelib', is the whole package as the
    package imports it (the book builder and the command line are not part of it)."""
    h = hashlib.sha256()
    for name in import_closure(modules, root):
        h.update(name.encode())
        h.update(_module_file(name, root).read_bytes())
    return h.hexdigest()[:16]



def module_hashes(modules: CodeRef = PACKAGE_DIR.name, root: Path = PACKAGE_DIR) -> dict[str, str]:
    """{module: hash of its source} over the import closure of `modules` (as `code_hash`): kept beside a recorded
    table's code hash, so a page can name the modules that changed since, not only that something did."""
    return {name: hashlib.sha256(_module_file(name, root).read_bytes()).hexdigest()[:16]
            for name in import_closure(modules, root)}



def changed_since(commit: str, modules: CodeRef = PACKAGE_DIR.name, root: Path = PACKAGE_DIR) -> list[str] | None:
    """The modules of the import closure of `modules` whose source differs from their source at git `commit`
    (committed or not; a module new since then counts). None when git cannot tell (no repository, or the commit
    is not in it: a shallow clone, a copy of the tree)."""
    files = {name: _module_file(name, root) for name in import_closure(modules, root)}
    paths = [str(path) for path in files.values()]

    def git(*args):
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout

    try:
        out = git("diff", "--name-only", commit.removesuffix("-dirty"), "--", *paths)
        top = Path(git("rev-parse", "--show-toplevel").strip())
        new = git("ls-files", "--others", "--exclude-standard", "--", *paths)
    except (OSError, subprocess.CalledProcessError):
        return None
    changed = {(top / line).resolve() for line in out.splitlines() if line}
    changed |= {(Path(root) / line).resolve() for line in new.splitlines() if line}
    return sorted(name for name, path in files.items() if path.resolve() in changed)



def git_commit(cwd: str | Path | None = None) -> str:
    """Short SHA of HEAD, with '-dirty' when the work tree has uncommitted changes. Outside git (a copy of the
    tree sent to another machine, say) it is $CORELIB_COMMIT where set, else 'unknown'."""
    cwd = cwd or PACKAGE_DIR
    if os.environ.get("CORELIB_COMMIT") and not (Path(cwd) / ".git").exists() and \
            not (Path(PACKAGE_DIR).parent / ".git").exists():
        return os.environ["CORELIB_COMMIT"]
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=cwd, capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, check=True).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"



def state_fingerprint(model: torch.nn.Module) -> str:
    """A short hash of a model's weights and buffers: the key of artifacts computed from that model."""
    h = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


__all__ = ["changed_since", "code_hash", "CodeRef", "config_hash", "git_commit", "import_closure", "module_hashes",
           "module_imports", "PACKAGE_DIR", "state_fingerprint"]

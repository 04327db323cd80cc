"""Infrastructure every layer uses: device resolution, atomic file writes, hashes of configurations, weights and
code (the import closure of a module), the git commit."""
from __future__ import annotations

import ast
import hashlib
import json
import os
import subprocess
import tempfile
from pathlib import Path
from types import ModuleType

import torch

PACKAGE_DIR = Path(__file__).resolve().parent


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """`'auto'` (or None) picks CUDA when available, else CPU; anything else goes to `torch.device`."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={str(device)!r} was asked for but CUDA is not available; use device='cpu' or 'auto'")
    return device


def device_description(device: torch.device) -> str:
    """Human-readable device name for run records, e.g. 'cpu (2 threads)' or 'cuda:0 (NVIDIA H100)'."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` through a temporary file in the same folder and `os.replace`,
    so readers never see a half-written file, even if the process is killed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode())


def atomic_save_csv(df, path: str | Path) -> Path:
    """Save a pandas DataFrame as CSV atomically (no index column)."""
    return atomic_write_text(path, df.to_csv(index=False))


def config_hash(config: dict) -> str:
    """A stable 16-hex-digit hash of a JSON-serialisable configuration (key order does not matter)."""
    blob = json.dumps(config, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _module_file(name: str, root: Path) -> Path | None:
    """The source file of corelib module `name` ('corelib', 'corelib.train', 'corelib.bench.grid') under `root`."""
    parts = name.split(".")[1:]
    base = root.joinpath(*parts)
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def module_imports(name: str, root: Path = PACKAGE_DIR) -> set[str]:
    """The corelib modules that module `name` imports anywhere in its source (top level or inside functions),
    read from its syntax tree without running it. `from .bench import grid` counts `corelib.bench.grid` where
    `grid` is a module, and `corelib.bench` where it is a name defined there; a parent package is not counted
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


def import_closure(modules, root: Path = PACKAGE_DIR) -> list[str]:
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


def code_hash(modules=PACKAGE_DIR.name, root: Path = PACKAGE_DIR) -> str:
    """Hash of the source of `modules` (names, modules, or functions / classes whose module counts) and of every
    corelib module they import, transitively: part of every cache key, so editing any code an artifact depends on
    invalidates it, and editing unrelated code does not. The default, 'corelib', is the whole package as the
    package imports it (the book builder and the command line are not part of it)."""
    h = hashlib.sha256()
    for name in import_closure(modules, root):
        h.update(name.encode())
        h.update(_module_file(name, root).read_bytes())
    return h.hexdigest()[:16]


def git_commit(cwd: str | Path | None = None) -> str:
    """Short SHA of HEAD, with '-dirty' when the work tree has uncommitted changes; 'unknown' outside git."""
    cwd = cwd or PACKAGE_DIR
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=cwd, capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, check=True).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def state_fingerprint(model) -> str:
    """A short hash of a model's weights and buffers: the key of artifacts computed from that model."""
    h = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]

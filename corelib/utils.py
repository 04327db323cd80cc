"""Infrastructure every layer uses: device resolution, atomic file writes and file locks, hashes of files,
configurations, weights and code (the import closure of a module), the git commit."""
from __future__ import annotations

import ast
import contextlib
import functools
import hashlib
import json
import math
import numbers
import os
import subprocess
import tempfile
from pathlib import Path
from types import ModuleType

import torch

PACKAGE_DIR = Path(__file__).resolve().parent


class NonFiniteError(FloatingPointError):
    """A computation produced NaN or infinite numbers; the run stops and nothing is stored or cached."""


def _show(value) -> str:
    """A value as an error message names it: floats to 6 significant digits (-2/255 → -0.00784314)."""
    return f"{value:.6g}" if isinstance(value, float) else repr(value)


def _scalar(value):
    """A Python or NumPy number, or the number in a one-element tensor (anything else unchanged)."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    return value


def check_integer(name: str, value, minimum: int | None = None, maximum: int | None = None, hint: str = "") -> int:
    """An integer setting `name` (a Python or NumPy integer, or a float with an integral value such as 3.0; not a
    bool, not 2.5) in [minimum, maximum]; returns it as an int. `hint` (what the setting is) ends the message."""
    value = _scalar(value)
    bounds = " and ".join(b for b in (minimum is not None and f"≥ {minimum}", maximum is not None and f"≤ {maximum}")
                          if b)
    wanted = f"must be an integer{' ' + bounds if bounds else ''}"
    tail = f" ({hint})" if hint else ""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name}={value!r} {wanted}{tail}")
    if not isinstance(value, numbers.Integral):
        if not (math.isfinite(value) and float(value).is_integer()):
            raise ValueError(f"{name}={_show(value)} {wanted}; it would be truncated to {int(value)}{tail}"
                             if math.isfinite(value) else f"{name}={_show(value)} {wanted}{tail}")
    number = int(value)
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise ValueError(f"{name}={number} must be {bounds}{tail}")
    return number


def check_number(name: str, value, low: float | None = None, high: float | None = None, low_open: bool = False,
                 high_open: bool = False, hint: str = "") -> float:
    """A finite real setting `name` with low ≤ value ≤ high (strict where `low_open` / `high_open`); returns it as a
    float. NaN and ±inf are refused. `hint` (what the setting is, a typical value) ends the message."""
    value = _scalar(value)
    parts = []
    if low is not None:
        parts.append(f"{'>' if low_open else '≥'} {low:g}")
    if high is not None:
        parts.append(f"{'<' if high_open else '≤'} {high:g}")
    wanted = "must be a finite number" + (" " + " and ".join(parts) if parts else "")
    if low is not None and high is not None:
        wanted = f"must lie in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    tail = f" ({hint})" if hint else ""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name}={value!r} {wanted}{tail}")
    number = float(value)
    if (not math.isfinite(number) or (low is not None and (number <= low if low_open else number < low))
            or (high is not None and (number >= high if high_open else number > high))):
        raise ValueError(f"{name}={_show(number)} {wanted}{tail}")
    return number


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """`'auto'` (or None) picks CUDA when available, else CPU; anything else goes to `torch.device`."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={str(device)!r} was asked for but CUDA is not available; use device='cpu' or 'auto'")
    return device


def one_thread(fn):
    """Run `fn` with torch on one intra-op thread (restored afterwards). For loops of thousands of small tensor
    operations (the greedy solvers on one class's 200 × 200 matrix): with several threads each tiny op waits for a
    thread rendezvous, and when another process keeps a core busy that wait grows a hundredfold. One thread makes
    the loop's time independent of what else the machine runs, at no cost on a quiet one."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        before = torch.get_num_threads()
        if before == 1:
            return fn(*args, **kwargs)
        torch.set_num_threads(1)
        try:
            return fn(*args, **kwargs)
        finally:
            torch.set_num_threads(before)

    return wrapper


PRECISIONS = ("auto", "fp32", "bf16")


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 in hardware (the `avx512_bf16` or `amx_bf16` flag, read from /proc/cpuinfo on
    Linux; False where it cannot be read). Without it, oneDNN emulates bf16 and autocast is far slower than fp32
    (measured 13x slower for the small CNN on a host with only AVX2: benchmarks/train_throughput.py)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r}; choose 'fp32', 'bf16' (torch.autocast with bfloat16 for the "
                         "training steps) or 'auto' (bf16 on CUDA, fp32 on the CPU)")
    return precision


def resolve_precision(precision: str, device) -> str:
    """'auto' → 'bf16' on CUDA and 'fp32' elsewhere (on the CPU bf16 is a measured choice, not a default: it is
    13x slower where the CPU has no native bf16, and changes the numbers where it has); 'fp32' / 'bf16' as given."""
    check_precision(precision)
    if precision == "auto":
        return "bf16" if torch.device(device).type == "cuda" else "fp32"
    return precision


def precision_description(precision: str, device) -> str:
    """For run records: what the training steps computed in, and what always stays fp32."""
    resolved = resolve_precision(precision, device)
    if resolved == "fp32":
        return "fp32" + (" (`precision='auto'`)" if precision == "auto" else "")
    native = "" if torch.device(device).type == "cuda" else \
        (", native on this CPU" if cpu_has_native_bf16() else ", emulated on this CPU (no avx512_bf16: slow)")
    return (f"bf16 autocast for training steps{native}; attacks, evaluation, input gradients and scores in fp32")


def device_description(device: torch.device) -> str:
    """Human-readable device name for run records, e.g. 'cpu (2 threads)' or 'cuda:0 (NVIDIA H100)'."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` through a temporary file in the same folder and `os.replace`,
    so readers never see a half-written file, even if the process is killed. The file gets the permissions
    any new file gets (0666 less the umask), not the temporary file's private 0600, so a colleague or a web
    server can read results and pages. `path` must not be a folder."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; give a file name (e.g. {path / 'results.csv'})")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_umask())
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


@contextlib.contextmanager
def file_lock(path: str | Path):
    """Hold an exclusive lock on `path` (through the hidden file `.NAME.lock` beside it) for the `with` block:
    processes that read, merge and rewrite one file take turns, so none overwrites another's rows. Blocks until
    the lock is free. The lock file stays (deleting it would race with a waiting process); the operating system
    releases the lock when its holder exits or is killed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = path.with_name(f".{path.name}.lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        if os.name == "nt":  # pragma: no cover - Windows
            import msvcrt

            msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX)
        yield lock
    finally:
        os.close(fd)  # closing releases the lock


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


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


def module_hashes(modules=PACKAGE_DIR.name, root: Path = PACKAGE_DIR) -> dict[str, str]:
    """{module: hash of its source} over the import closure of `modules` (as `code_hash`): kept beside a recorded
    table's code hash, so a page can name the modules that changed since, not only that something did."""
    return {name: hashlib.sha256(_module_file(name, root).read_bytes()).hexdigest()[:16]
            for name in import_closure(modules, root)}


def changed_since(commit: str, modules=PACKAGE_DIR.name, root: Path = PACKAGE_DIR) -> list[str] | None:
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


def state_fingerprint(model) -> str:
    """A short hash of a model's weights and buffers: the key of artifacts computed from that model."""
    h = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]

"""Files written so that nothing is half-written or lost: atomic writes with the usual permissions, CSV tables, file
locks, SHA-256 of files."""
from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator
    import pandas as pd


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
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        raise _named(err, path) from None
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise _named(err, path) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _named(err: OSError, path: Path) -> OSError:
    """`err` with a message that names the file it could not write (a full disk, a read-only file system, …)."""
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        why = "the disk is full"
    elif err.errno == errno.EROFS:
        why = "the file system is read-only"
    elif err.errno in (errno.EACCES, errno.EPERM):
        why = "permission denied"
    else:
        why = err.strerror or str(err)
    named = type(err)(f"could not write {path}: {why}")
    named.errno = err.errno  # kept for callers; the message alone is what a user reads
    return named



def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write `text` to `path` atomically (a temporary file renamed over it), with the usual permissions."""
    return atomic_write_bytes(path, text.encode())



def atomic_save_csv(df: pd.DataFrame, path: str | Path) -> Path:
    """Save a pandas DataFrame as CSV atomically (no index column)."""
    return atomic_write_text(path, df.to_csv(index=False))



@contextlib.contextmanager
def file_lock(path: str | Path) -> Iterator[None]:
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


__all__ = ["atomic_save_csv", "atomic_write_bytes", "atomic_write_text", "file_lock", "file_sha256"]

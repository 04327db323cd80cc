"""The CIFAR-10 files: where they come from, what is verified before anything is used, and `load_cifar10`.

Where the data comes from: `root` argument, else the `CORELIB_DATA` environment variable, else
`~/.cache/corelib/data`. The folder holds torchvision's `cifar-10-batches-py/`. If it is absent,
the official torchvision download is tried. If it is present but fails torchvision's md5 check
(e.g. the JPEG re-encoding used on offline machines), it is loaded anyway and a warning says so
once; `Pool.source` records which copy was used, and the book prints it.

What is verified before anything is used (any failure raises `DataIntegrityError`, a `ValueError`,
naming the bad file and how to fix it; nothing loads half-checked):

- Checksums. A `SHA256SUMS` list (`<sha256>  <file name>` per line, as `sha256sum` writes it) inside
  `cifar-10-batches-py/`, or in the data root beside it (names bare, as in
  `../shared/data/cifar10/SHA256SUMS`, or as `cifar-10-batches-py/<name>`), must list all six batch
  files, and every file of the folder that it lists must match. Without a list, torchvision's md5
  check decides between the official release and an unofficial copy (warning, as above). Both
  checks run once per folder per process; a file whose size or modification time changes is
  checked again.
- Unpickling. Batches are pickles, and a pickle can run code on load. They are read with a
  restricted unpickler that admits only what a CIFAR-10 batch is made of (dicts, lists, strings,
  numbers and numpy arrays: `numpy.ndarray`, `numpy.dtype`, numpy's array reconstructors, and
  `_codecs.encode` for latin-1 only, which Python 3 uses for bytes at pickle protocols 0-2) and
  refuses any other global (`os.system`, `builtins.eval`, ...) before it is called. A truncated or
  corrupt pickle is reported with its file name.
- Contents, batch by batch. Each batch is a dict with `data`, a uint8 array of n rows of
  3 x 32 x 32 = 3,072 bytes, and `labels`, n integers in 0..9; every batch holds
  `SPLIT_SIZES[split] / number of batches` samples (10,000: 50,000 train in five batches, 10,000
  test in one), so images, labels and dataset indices stay aligned with the official split."""
from __future__ import annotations

import hashlib
import importlib
import os
import pickle
import re
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from .pool import CLASSES, Pool

if TYPE_CHECKING:
    from collections.abc import Sequence

FOLDER = "cifar-10-batches-py"



TRAIN_FILES = [f"data_batch_{i}" for i in range(1, 6)]



TEST_FILES = ["test_batch"]



SPLIT_SIZES = {"train": 50_000, "test": 10_000}



OFFICIAL = "official CIFAR-10 (torchvision, md5 verified)"



UNOFFICIAL = "CIFAR-10 copy that fails torchvision's md5 check (e.g. the JPEG q75 re-encoding used offline)"



class DataNotFoundError(FileNotFoundError):
    """CIFAR-10 is neither in the data root nor downloadable."""



class UnofficialDataWarning(UserWarning):
    """The CIFAR-10 files on disk are not byte-identical to the official release."""



class DataIntegrityError(ValueError):
    """A CIFAR-10 file is damaged, fails its checksum, or is not a plain CIFAR-10 batch."""



SUMS = "SHA256SUMS"



_KNOWN_FILES = TRAIN_FILES + TEST_FILES + ["batches.meta", "readme.html"]



_warned_roots: set[str] = set()



_checked_folders: dict[str, tuple] = {}  # resolved folder -> (file signature, official?, lists verified)



def data_root(root: str | Path | None = None) -> Path:
    """The data root: `root` if given, else `$CORELIB_DATA`, else `~/.cache/corelib/data`."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("CORELIB_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "corelib" / "data"



def _files_present(folder: Path) -> bool:
    return all((folder / f).is_file() for f in TRAIN_FILES + TEST_FILES)



def _is_official(root: Path) -> bool:
    from torchvision.datasets import CIFAR10
    from torchvision.datasets.utils import check_integrity

    folder = root / FOLDER
    return all(check_integrity(str(folder / name), md5) for name, md5 in CIFAR10.train_list + CIFAR10.test_list)



def _download_official(root: Path) -> None:
    """The official download through torchvision (needs internet)."""
    from torchvision.datasets import CIFAR10

    CIFAR10(str(root), train=True, download=True)



def ensure_cifar10(root: str | Path | None = None, download: bool = True) -> tuple[Path, str]:
    """Make sure `root/cifar-10-batches-py` exists and passes its checksums; return (root, source description).

    Raises `DataIntegrityError` when a `SHA256SUMS` list beside the files disagrees with them."""
    root = data_root(root)
    folder = root / FOLDER
    if not _files_present(folder):
        if not download:
            raise DataNotFoundError(_missing_message(root, "download=False"))
        try:
            root.mkdir(parents=True, exist_ok=True)
            _download_official(root)
        except Exception as err:  # no network, proxy, disk: all end the same way
            raise DataNotFoundError(_missing_message(root, f"the official download failed: {err}")) from err
        if not _files_present(folder):
            raise DataNotFoundError(_missing_message(root, "the download did not produce the files"))
    official, lists = _verify_folder(root)
    if official:
        return root, OFFICIAL
    if str(root) not in _warned_roots:
        _warned_roots.add(str(root))
        verified = f" Its files match the SHA-256 checksums in {', '.join(map(str, lists))}." if lists else ""
        warnings.warn(f"{folder} does not match torchvision's md5 checksums: this is not the official CIFAR-10 "
                      "release (offline machines use a JPEG re-encoding). Results are real CIFAR-10 results but "
                      f"not byte-comparable with published numbers.{verified}", UnofficialDataWarning, stacklevel=2)
    return root, UNOFFICIAL



def _fix(folder: Path) -> str:
    root = folder.parent
    return (f"Delete {folder} and download it again (`python -m corelib.data {root}`), or on a machine without "
            f"internet re-run `python ../shared/data/cifar10/prepare.py {root}`.")



def _checksum_entries(root: Path) -> list[tuple[str, str, Path]]:
    """(file name in the folder, sha256, list) for every entry of the SHA256SUMS lists that concerns the folder."""
    folder = root / FOLDER
    entries = []
    for listing, inside in ((folder / SUMS, True), (root / SUMS, False)):
        if not listing.is_file():
            continue
        for number, line in enumerate(listing.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if not line.strip():
                continue
            match = re.fullmatch(r"([0-9a-fA-F]{64}) [ *](.+)", line)
            if match is None:
                raise DataIntegrityError(f"{listing}, line {number}: {line!r} is not `<sha256>  <file name>` as "
                                         f"sha256sum writes it. Correct or delete {listing}.")
            digest, name = match.group(1).lower(), match.group(2)
            name = name[2:] if name.startswith("./") else name
            if not inside:  # the data root may list other things: keep entries for this folder's files only
                if name.startswith(FOLDER + "/"):
                    name = name[len(FOLDER) + 1:]
                elif name not in _KNOWN_FILES:
                    continue
            if "/" in name or name == SUMS:  # not a file of the folder, or the list itself
                continue
            entries.append((name, digest, listing))
    return entries



def _signature(root: Path, entries) -> tuple:
    folder = root / FOLDER
    paths = [folder / name for name in sorted(set(TRAIN_FILES + TEST_FILES) | {e[0] for e in entries})]
    stats = []
    for path in paths + [folder / SUMS, root / SUMS]:
        try:
            st = path.stat()
            stats.append((path.name, st.st_mtime_ns, st.st_size))
        except FileNotFoundError:
            stats.append((path.name, None, None))
    return tuple(stats)



def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()



def _verify_folder(root: Path) -> tuple[bool, tuple[Path, ...]]:
    """Check the folder's SHA256SUMS lists (if any) and torchvision's md5s, once per folder and file state.

    Returns (official release?, the lists that were verified)."""
    folder = root / FOLDER
    entries = _checksum_entries(root)
    key, signature = str(folder.resolve()), _signature(root, entries)
    cached = _checked_folders.get(key)
    if cached is not None and cached[0] == signature:
        return cached[1], cached[2]
    lists = tuple(dict.fromkeys(listing for _, _, listing in entries))
    if entries:
        listed = {name for name, _, _ in entries}
        for name in TRAIN_FILES + TEST_FILES:
            if name not in listed:
                raise DataIntegrityError(
                    f"{folder / name}: has no checksum in {', '.join(map(str, lists))}, which lists other files of "
                    "this folder, so the file cannot be verified. Add its line to the list or delete the list.")
        digests: dict[str, str] = {}
        for name, expected, listing in entries:
            path = folder / name
            if not path.is_file():
                raise DataIntegrityError(f"{path}: listed in {listing} but missing. {_fix(folder)}")
            if name not in digests:
                digests[name] = _sha256(path)
            if digests[name] != expected:
                raise DataIntegrityError(f"{path}: SHA-256 {digests[name]} does not match {expected} listed in "
                                         f"{listing}: the file is damaged or was changed. {_fix(folder)}")
    official = _is_official(root)
    _checked_folders[key] = (signature, official, lists)
    return official, lists



def _missing_message(root: Path, why: str) -> str:
    return (f"CIFAR-10 not found in {root / FOLDER} ({why}). Set the environment variable CORELIB_DATA "
            "(or pass root=...) to a folder that holds cifar-10-batches-py/: with internet, the official "
            "torchvision download fills it; offline, run `python ../shared/data/cifar10/prepare.py $CORELIB_DATA`.")



def _numpy_global(name: str, *modules: str):
    for module in modules:
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
    raise ImportError(f"numpy has no {name} in {modules}")



def _latin1_encode(text, encoding):
    """`_codecs.encode` as Python 3 pickles bytes (numpy's array data too) at protocols 0-2: latin-1 only."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"_codecs.encode is admitted for latin-1 text only, not {encoding!r}")
    return text.encode("latin1")



_reconstruct = _numpy_global("_reconstruct", "numpy._core.multiarray", "numpy.core.multiarray")



_frombuffer = _numpy_global("_frombuffer", "numpy._core.numeric", "numpy.core.numeric")



# Everything a CIFAR-10 batch pickle may name: numpy arrays as the official files (numpy.core.*, 2009) and
# numpy 2 (numpy._core.*) pickle them; _frombuffer is how numpy pickles arrays at protocol 5, and
# _codecs.encode (latin-1 only) how Python 3 writes their bytes at protocols 0-2.
_SAFE_GLOBALS = {
    ("_codecs", "encode"): _latin1_encode,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}



class _BatchUnpickler(pickle.Unpickler):
    """An unpickler that builds only dicts, lists, strings, numbers and numpy arrays."""

    def __init__(self, file, path: Path):
        super().__init__(file, encoding="latin1")
        self.path = path

    def find_class(self, module, name):
        obj = _SAFE_GLOBALS.get((module, name))
        if obj is None:
            raise DataIntegrityError(
                f"{self.path}: refused to unpickle {module}.{name}: CIFAR-10 batches hold only arrays, lists and "
                f"numbers; this folder is not a CIFAR-10 copy you can trust. {_fix(self.path.parent)}")
        return obj



def _load_batch(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            return _BatchUnpickler(f, path).load()
    except (DataIntegrityError, OSError):
        raise
    except Exception as err:  # EOFError, UnpicklingError, and whatever a damaged pickle makes numpy raise
        raise DataIntegrityError(f"{path}: cannot be read as a CIFAR-10 batch ({type(err).__name__}: {err}); the "
                                 f"file is truncated or damaged. {_fix(path.parent)}") from err



def _check_batch(path: Path, entry, split: str, expected: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Images (n, 3, 32, 32) uint8 and labels (n,) int64 of one batch, or DataIntegrityError naming the file."""
    def bad(why: str) -> DataIntegrityError:
        return DataIntegrityError(f"{path}: {why}. {_fix(path.parent)}")

    if not isinstance(entry, dict):
        raise bad(f"holds a {type(entry).__name__}, not the dict of a CIFAR-10 batch")
    entry = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in entry.items()}
    for key in ("data", "labels"):
        if key not in entry:
            raise bad(f"has no {key!r} entry (keys: {sorted(map(str, entry))})")
    data, labels = entry["data"], entry["labels"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8:
        raise bad(f"'data' is a {getattr(data, 'dtype', type(data).__name__)} "
                  f"{type(data).__name__}, not a uint8 numpy array")
    if data.shape[1:] not in ((3072,), (3, 32, 32)):
        raise bad(f"'data' has shape {data.shape}, not (n, 3072): n rows of 3 x 32 x 32 = 3,072 bytes")
    images = data.reshape(-1, 3, 32, 32)
    if isinstance(labels, np.ndarray):
        if labels.ndim != 1 or labels.dtype.kind not in "iu":
            raise bad(f"'labels' is a {labels.dtype} array of shape {labels.shape}, not a list of integers")
        labels = labels.tolist()
    if not isinstance(labels, (list, tuple)):
        raise bad(f"'labels' is a {type(labels).__name__}, not a list of integers")
    if len(images) != len(labels):
        raise bad(f"holds {len(images):,} images but {len(labels):,} labels; they must match one to one")
    for i, y in enumerate(labels):
        if type(y) is not int or not 0 <= y < len(CLASSES):
            raise bad(f"label {y!r} at position {i:,} is not an integer class in 0..{len(CLASSES) - 1}")
    if expected is not None and len(labels) != expected:
        raise bad(f"holds {len(labels):,} samples; every CIFAR-10 {split} batch holds {expected:,} "
                  f"({SPLIT_SIZES[split]:,} {split} samples in all), so dataset indices would not match the "
                  "official split")
    return images, np.asarray(labels, dtype=np.int64)



def _read_batches(folder: Path, files: list[str], split: str) -> tuple[np.ndarray, np.ndarray]:
    total = SPLIT_SIZES[split]
    expected = total // len(files) if total % len(files) == 0 else None
    data, labels = [], []
    for name in files:
        images, y = _check_batch(folder / name, _load_batch(folder / name), split, expected)
        data.append(images)
        labels.append(y)
    data, labels = np.concatenate(data), np.concatenate(labels)
    if len(labels) != total:
        raise DataIntegrityError(f"{folder}: the {split} batches hold {len(labels):,} samples, not {total:,}. "
                                 f"{_fix(folder)}")
    return data, labels



def load_cifar10(split: str = "train", root: str | Path | None = None, device: torch.device | str = "cpu",
                 download: bool = True) -> Pool:
    """The whole train (50,000) or test (10,000) split as a `Pool` on `device`."""
    if split not in SPLIT_SIZES:
        raise ValueError(f"unknown split {split!r}; use 'train' or 'test'")
    root, source = ensure_cifar10(root, download=download)
    images, labels = _read_batches(root / FOLDER, TRAIN_FILES if split == "train" else TEST_FILES, split)
    device = torch.device(device)
    return Pool(torch.from_numpy(images).to(device), torch.from_numpy(labels).to(device),
                torch.arange(len(labels), device=device), split, source)



def main(argv: Sequence[str] | None = None) -> int:
    """`python -m corelib.data [ROOT]`: make sure CIFAR-10 is in ROOT (default: the data root), downloading
    the official release if needed, and say which copy it is."""
    args = sys.argv[1:] if argv is None else argv
    try:
        root, source = ensure_cifar10(args[0] if args else None)
    except (DataNotFoundError, DataIntegrityError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"{root / FOLDER}: {source}")
    return 0


__all__ = ["data_root", "DataIntegrityError", "DataNotFoundError", "ensure_cifar10", "FOLDER", "load_cifar10", "main",
           "OFFICIAL", "SPLIT_SIZES", "SUMS", "TEST_FILES", "TRAIN_FILES", "UNOFFICIAL", "UnofficialDataWarning"]

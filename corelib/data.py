"""CIFAR-10 as uint8 tensors on the device (`Pool`), batched on-device augmentation, and batches in pool order.

Where the data comes from: `root` argument, else the `CORELIB_DATA` environment variable, else
`~/.cache/corelib/data`. The folder holds torchvision's `cifar-10-batches-py/`. If it is absent,
the official torchvision download is tried. If it is present but fails torchvision's md5 check
(e.g. the JPEG re-encoding used on offline machines), it is loaded anyway and a warning says so
once; `Pool.source` records which copy was used, and the book prints it.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import sys
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
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


_warned_roots: set[str] = set()


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
    """Make sure `root/cifar-10-batches-py` exists; return (root, source description)."""
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
    if _is_official(root):
        return root, OFFICIAL
    if str(root) not in _warned_roots:
        _warned_roots.add(str(root))
        warnings.warn(f"{folder} does not match torchvision's md5 checksums: this is not the official CIFAR-10 "
                      "release (offline machines use a JPEG re-encoding). Results are real CIFAR-10 results but "
                      "not byte-comparable with published numbers.", UnofficialDataWarning, stacklevel=2)
    return root, UNOFFICIAL


def _missing_message(root: Path, why: str) -> str:
    return (f"CIFAR-10 not found in {root / FOLDER} ({why}). Set the environment variable CORELIB_DATA "
            "(or pass root=...) to a folder that holds cifar-10-batches-py/: with internet, the official "
            "torchvision download fills it; offline, run `python ../shared/data/cifar10/prepare.py $CORELIB_DATA`.")


@dataclass
class Pool:
    """A set of CIFAR-10 samples held as tensors on one device.

    images: uint8 (N, 3, 32, 32); labels: int64 (N,); indices: int64 (N,), the original dataset
    index of each sample (position in the official train or test split), sorted ascending.
    """

    images: torch.Tensor
    labels: torch.Tensor
    indices: torch.Tensor
    split: str
    source: str = ""
    num_classes: int = len(CLASSES)

    def __len__(self) -> int:
        return self.labels.shape[0]

    @property
    def device(self) -> torch.device:
        return self.images.device

    def to(self, device) -> "Pool":
        device = torch.device(device)
        return replace(self, images=self.images.to(device), labels=self.labels.to(device),
                       indices=self.indices.to(device))

    def positions(self, indices) -> torch.Tensor:
        """Positions in this pool of the given original dataset indices (error if any is not in the pool)."""
        indices = torch.as_tensor(indices, dtype=torch.int64, device=self.indices.device).reshape(-1).contiguous()
        pos = torch.searchsorted(self.indices, indices).clamp_(max=len(self) - 1)
        missing = self.indices[pos] != indices
        if missing.any():
            bad = indices[missing][:5].tolist()
            raise KeyError(f"dataset indices {bad} are not in this {self.split} pool of {len(self)} samples; "
                           "pass original dataset indices of samples that the pool holds")
        return pos

    def subset(self, indices) -> "Pool":
        """The pool restricted to the given original dataset indices (kept in ascending index order)."""
        return self.take(self.positions(indices).sort().values)

    def take(self, positions) -> "Pool":
        """The pool restricted to the samples at `positions`."""
        return replace(self, images=self.images[positions], labels=self.labels[positions],
                       indices=self.indices[positions])

    def fingerprint(self) -> str:
        """A short hash of which samples the pool holds and of which data copy they come from."""
        h = hashlib.sha256(f"{self.split}|{self.source}|".encode())
        h.update(self.indices.cpu().numpy().tobytes())
        return h.hexdigest()[:16]

    def float_images(self, positions=None) -> torch.Tensor:
        """Images as float32 in [0, 1] (all of them, or those at `positions`)."""
        x = self.images if positions is None else self.images[positions]
        return x.float().div_(255)


def _read_batches(folder: Path, files: list[str]) -> tuple[np.ndarray, np.ndarray]:
    data, labels = [], []
    for name in files:
        with open(folder / name, "rb") as f:
            entry = pickle.load(f, encoding="latin1")
        data.append(np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        labels.extend(entry["labels"] if "labels" in entry else entry["fine_labels"])
    return np.concatenate(data), np.asarray(labels, dtype=np.int64)


def load_cifar10(split: str = "train", root: str | Path | None = None, device="cpu", download: bool = True) -> Pool:
    """The whole train (50,000) or test (10,000) split as a `Pool` on `device`."""
    if split not in SPLIT_SIZES:
        raise ValueError(f"unknown split {split!r}; use 'train' or 'test'")
    root, source = ensure_cifar10(root, download=download)
    images, labels = _read_batches(root / FOLDER, TRAIN_FILES if split == "train" else TEST_FILES)
    device = torch.device(device)
    return Pool(torch.from_numpy(images).to(device), torch.from_numpy(labels).to(device),
                torch.arange(len(labels), device=device), split, source)


def augment(x: torch.Tensor, generator: torch.Generator, padding: int = 4, flip: bool = True) -> torch.Tensor:
    """Random crop with zero padding and random horizontal flip, for a whole batch at once.

    x: (B, C, H, W) on any device. The random numbers come from a CPU `generator`, so the same seed
    gives the same augmentation on every device.
    """
    b, c, h, w = x.shape
    if padding:
        shifts = torch.randint(0, 2 * padding + 1, (2, b), generator=generator).to(x.device)
        padded = F.pad(x, (padding, padding, padding, padding))
        rows = (shifts[0, :, None] + torch.arange(h, device=x.device))[:, None, :, None]
        cols = (shifts[1, :, None] + torch.arange(w, device=x.device))[:, None, None, :]
        batch = torch.arange(b, device=x.device)[:, None, None, None]
        chans = torch.arange(c, device=x.device)[None, :, None, None]
        x = padded[batch, chans, rows, cols]
    if flip:
        flipped = (torch.rand(b, generator=generator) < 0.5).to(x.device)
        x = torch.where(flipped[:, None, None, None], x.flip(3), x)
    return x


def batch_positions(n: int, batch_size: int, shuffle: bool, generator: torch.Generator | None = None):
    """Yield position tensors (CPU, int64) covering range(n) in batches; shuffled by `generator`."""
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    yield from order.split(batch_size)


def pool_batches(pool: Pool, batch_size: int, channels_last: bool = True):
    """Yield (x, y) over the pool in order: float images in [0, 1] (channels_last by default) and labels."""
    for start in range(0, len(pool), batch_size):
        x = pool.float_images(slice(start, start + batch_size))
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        yield x, pool.labels[start:start + batch_size]


def main(argv=None) -> int:
    """`python -m corelib.data [ROOT]`: make sure CIFAR-10 is in ROOT (default: the data root), downloading
    the official release if needed, and say which copy it is."""
    args = sys.argv[1:] if argv is None else argv
    try:
        root, source = ensure_cifar10(args[0] if args else None)
    except DataNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"{root / FOLDER}: {source}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The pool: a split of CIFAR-10 (or any image set) as uint8 tensors on the device with its labels and dataset
indices (`Pool`), batched augmentation as tensor operations, and batches in the layout the models want."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")



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
        """The device the images are on."""
        return self.images.device

    def to(self, device: torch.device | str) -> "Pool":
        """The pool on `device`."""
        device = torch.device(device)
        return replace(self, images=self.images.to(device), labels=self.labels.to(device),
                       indices=self.indices.to(device))

    def positions(self, indices: torch.Tensor | Sequence[int]) -> torch.Tensor:
        """Positions in this pool of the given original dataset indices (error if any is not in the pool)."""
        indices = torch.as_tensor(indices, dtype=torch.int64, device=self.indices.device).reshape(-1).contiguous()
        pos = torch.searchsorted(self.indices, indices).clamp_(max=len(self) - 1)
        missing = self.indices[pos] != indices
        if missing.any():
            bad = indices[missing][:5].tolist()
            raise KeyError(f"dataset indices {bad} are not in this {self.split} pool of {len(self)} samples; "
                           "pass original dataset indices of samples that the pool holds")
        return pos

    def subset(self, indices: torch.Tensor | Sequence[int]) -> "Pool":
        """The pool restricted to the given original dataset indices (kept in ascending index order)."""
        return self.take(self.positions(indices).sort().values)

    def take(self, positions: torch.Tensor | slice | Sequence[int]) -> "Pool":
        """The pool restricted to the samples at `positions`."""
        return replace(self, images=self.images[positions], labels=self.labels[positions],
                       indices=self.indices[positions])

    def fingerprint(self) -> str:
        """A short hash of which samples the pool holds and of which data copy they come from."""
        h = hashlib.sha256(f"{self.split}|{self.source}|".encode())
        h.update(self.indices.cpu().numpy().tobytes())
        return h.hexdigest()[:16]

    def float_images(self, positions: torch.Tensor | slice | Sequence[int] | None = None) -> torch.Tensor:
        """Images as float32 in [0, 1] (all of them, or those at `positions`)."""
        x = self.images if positions is None else self.images[positions]
        return x.float().div_(255)



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



def batch_positions(n: int, batch_size: int, shuffle: bool,
                    generator: torch.Generator | None = None) -> Iterator[torch.Tensor]:
    """Yield position tensors (CPU, int64) covering range(n) in batches; shuffled by `generator`."""
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    yield from order.split(batch_size)



def pool_batches(pool: Pool, batch_size: int,
                 channels_last: bool = True) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (x, y) over the pool in order: float images in [0, 1] (channels_last by default) and labels."""
    for start in range(0, len(pool), batch_size):
        x = pool.float_images(slice(start, start + batch_size))
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        yield x, pool.labels[start:start + batch_size]


__all__ = ["augment", "batch_positions", "CLASSES", "Pool", "pool_batches"]

"""CIFAR-10 as uint8 tensors on the device (`Pool`), batched on-device augmentation, and batches in pool order.

`pool` holds the container and the batch operations; `cifar10` the files (download, checksums, a restricted
unpickler, batch-by-batch checks) and `load_cifar10`. `python -m corelib.data DIR` downloads and verifies a copy.
"""
from __future__ import annotations

from .cifar10 import (FOLDER, OFFICIAL, SPLIT_SIZES, SUMS, TEST_FILES, TRAIN_FILES, UNOFFICIAL, DataIntegrityError,
                      DataNotFoundError, UnofficialDataWarning, data_root, ensure_cifar10, load_cifar10)
from .pool import CLASSES, Pool, augment, batch_positions, pool_batches

__all__ = ["CLASSES", "DataIntegrityError", "DataNotFoundError", "FOLDER", "OFFICIAL", "Pool", "SPLIT_SIZES", "SUMS",
           "TEST_FILES", "TRAIN_FILES", "UNOFFICIAL", "UnofficialDataWarning", "augment", "batch_positions",
           "data_root", "ensure_cifar10", "load_cifar10", "pool_batches"]

"""Infrastructure every layer uses, one module per purpose, behind one import for the chapters:
`checks` (numeric settings), `device` (device and precision), `files` (atomic writes, locks) and `hashing`
(configurations, weights, code, git)."""
from __future__ import annotations

from .checks import NonFiniteError, check_integer, check_number
from .device import (PRECISIONS, check_precision, cpu_has_native_bf16, device_description, one_thread,
                     precision_description, resolve_device, resolve_precision)
from .files import atomic_save_csv, atomic_write_bytes, atomic_write_text, file_lock, file_sha256
from .hashing import (PACKAGE_DIR, changed_since, code_hash, config_hash, git_commit, import_closure, module_hashes,
                      module_imports, state_fingerprint)

__all__ = ['NonFiniteError', 'PACKAGE_DIR', 'PRECISIONS', 'atomic_save_csv', 'atomic_write_bytes', 'atomic_write_text',
           'changed_since', 'check_integer', 'check_number', 'check_precision', 'code_hash', 'config_hash',
           'cpu_has_native_bf16', 'device_description', 'file_lock', 'file_sha256', 'git_commit', 'import_closure',
           'module_hashes', 'module_imports', 'one_thread', 'precision_description', 'resolve_device',
           'resolve_precision', 'state_fingerprint']

"""The device and the arithmetic: `resolve_device` (auto picks CUDA, then MPS, then the CPU), bf16 where it is native,
and the descriptions the run records print."""
from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import torch

if TYPE_CHECKING:
    from collections.abc import Callable

T = TypeVar("T")


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """`'auto'` (or None) picks CUDA when available, else CPU; anything else goes to `torch.device`."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={str(device)!r} was asked for but CUDA is not available; use device='cpu' or 'auto'")
    return device



def one_thread(fn: Callable[..., T]) -> Callable[..., T]:
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
    """`precision` if it is 'auto', 'fp32' or 'bf16', else a ValueError naming the choices."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r}; choose 'fp32', 'bf16' (torch.autocast with bfloat16 for the "
                         "training steps) or 'auto' (bf16 on CUDA, fp32 on the CPU)")
    return precision



def resolve_precision(precision: str, device: torch.device | str) -> str:
    """'auto' → 'bf16' on CUDA and 'fp32' elsewhere (on the CPU bf16 is a measured choice, not a default: it is
    13x slower where the CPU has no native bf16, and changes the numbers where it has); 'fp32' / 'bf16' as given."""
    check_precision(precision)
    if precision == "auto":
        return "bf16" if torch.device(device).type == "cuda" else "fp32"
    return precision



def precision_description(precision: str, device: torch.device | str) -> str:
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


__all__ = ["check_precision", "cpu_has_native_bf16", "device_description", "one_thread", "precision_description",
           "PRECISIONS", "resolve_device", "resolve_precision"]

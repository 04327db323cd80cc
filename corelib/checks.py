"""Checks of numeric settings shared by every layer: an integer is never silently truncated, a real number is finite
and in range, and the message names the value, what is allowed and what the setting is; `NonFiniteError`."""
from __future__ import annotations

import math
import numbers
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from typing import Any


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



def check_integer(name: str, value: Any, minimum: int | None = None, maximum: int | None = None, hint: str = "") -> int:
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



def check_number(name: str, value: Any, low: float | None = None, high: float | None = None, low_open: bool = False,
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


__all__ = ["check_integer", "check_number", "NonFiniteError"]

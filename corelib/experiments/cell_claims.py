"""Claims on grid cells: before computing a cell a process writes a claim beside the results table
(`.NAME.csv.claims`), so that two processes running the same grid share the work instead of repeating it.

A claim names its holder beyond the process id: the host, the boot (Linux's boot id) and the process's start time.
A claim is stale, and is taken over, when its process is gone: on this host, when no process has its id, or the one
that has it started at another time (the id was reused, e.g. after a restart or in a container), or the machine has
rebooted since; a claim written without these fields (by older code, or by hand) cannot be checked and is stale too.
A claim from another host cannot be checked from here: it is trusted for `CLAIM_HOURS`, then stale. A process that
waits for a cell held by a live claim says which process holds it and how to clear the claim if that is wrong.
"""
from __future__ import annotations

import functools
import json
import os
import socket
import time
from pathlib import Path
from typing import Callable

from ..files import atomic_write_text, file_lock

CLAIM_HOURS = 24.0  # a claim from another host is trusted this long


def claims_path(path: Path) -> Path:
    """The claims file of the results table `path`."""
    return path.with_name(f".{path.name}.claims")


def _read(path: Path) -> dict:
    try:
        claims = json.loads(claims_path(path).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return claims if isinstance(claims, dict) else {}


def _write(path: Path, claims: dict) -> None:
    if claims:
        atomic_write_text(claims_path(path), json.dumps(claims))
    else:
        claims_path(path).unlink(missing_ok=True)


def boot_id() -> str:
    """This boot of this machine (Linux: /proc/sys/kernel/random/boot_id; '' where unknown)."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def process_start(pid: int) -> str:
    """When process `pid` started, in clock ticks since boot (Linux: /proc/PID/stat); '' where unknown, gone, or a
    zombie (ended, not yet reaped)."""
    try:
        fields = Path(f"/proc/{int(pid)}/stat").read_text().rsplit(")", 1)[-1].split()
    except (OSError, ValueError):
        return ""
    return "" if fields[0] in ("Z", "X") else fields[19]  # state (field 3) and start time (field 22) of stat


@functools.lru_cache(maxsize=None)
def _holder(pid: int) -> tuple:
    return (("host", socket.gethostname()), ("pid", pid), ("boot", boot_id()), ("started", process_start(pid)))


def holder() -> dict:
    """This process as a claim's holder (read from /proc once per process: a forked child is another holder)."""
    return dict(_holder(os.getpid()))


def _mine(claim: dict) -> bool:
    me = holder()
    return all(claim.get(k) == me[k] for k in ("host", "pid", "started"))


def stale_reason(claim: dict, now: float | None = None) -> str:
    """Why `claim` is stale ('' while its holder may still be computing)."""
    now = time.time() if now is None else now
    if claim.get("host") != socket.gethostname():
        age = (now - float(claim.get("since", 0))) / 3600
        return f"it is {age:.0f} h old (claims from another host are trusted {CLAIM_HOURS:g} h)" \
            if age >= CLAIM_HOURS else ""
    if not claim.get("started") or "boot" not in claim:
        return "it does not name its process's start time (written by older code or by hand)"
    if claim["boot"] and claim["boot"] != boot_id():
        return "the machine has restarted since"
    started = process_start(claim.get("pid", -1))
    if not started:
        return f"process {claim.get('pid')} has ended"
    if started != claim["started"]:
        return f"process id {claim['pid']} now belongs to another process"
    return ""


def claim_key(grid_config: str, key: tuple) -> str:
    """The key of a cell's claim in the claims file."""
    return json.dumps([grid_config, *key])


def _taking_over(path: Path, cell: list, claim: dict, why: str) -> str:
    return (f"{path.name}: taking over cell {cell}: its claim by pid {claim.get('pid')} on {claim.get('host')} is "
            f"stale ({why})")


def try_claim(path: Path, grid_config: str, key: tuple, is_done: Callable[[], bool],
              log: Callable[[str], None] = print) -> str:
    """'done' (`is_done()`: a row exists), 'busy' (a live process holds the cell) or 'mine' (claimed now; a stale
    claim is taken over with a line saying why)."""
    with file_lock(path):
        if is_done():
            return "done"
        claims = _read(path)
        ck = claim_key(grid_config, key)
        other = claims.get(ck)
        if other and not _mine(other):
            why = stale_reason(other)
            if not why:
                return "busy"
            log(_taking_over(path, list(key), other, why))
        claims[ck] = {**holder(), "since": time.time()}
        _write(path, claims)
        return "mine"


def holder_of(path: Path, grid_config: str, key: tuple) -> str:
    """Who holds the cell, and how to clear the claim: the line a waiting process prints."""
    claim = _read(path).get(claim_key(grid_config, key), {})
    since = time.strftime("%Y-%m-%d %H:%M", time.localtime(float(claim.get("since", 0))))
    return (f"waiting for cell {list(key)}, claimed by pid {claim.get('pid')} on {claim.get('host')} since {since}; "
            f"if that process no longer runs this grid, delete {claims_path(path)} and run again")


def prune(path: Path) -> list[str]:
    """Remove every stale claim (`stale_reason`), e.g. those a killed process left on cells it had finished;
    returns one line for each, saying why it was stale."""
    with file_lock(path):
        claims = _read(path)
        lines = []
        for k, claim in list(claims.items()):
            why = "" if _mine(claim) else stale_reason(claim)
            if why:
                del claims[k]
                lines.append(_taking_over(path, json.loads(k)[1:], claim, why))
        if lines:
            _write(path, claims)
    return lines


def release(path: Path, grid_config: str, keys: list[tuple]) -> None:
    """Remove this process's claims on `keys`."""
    with file_lock(path):
        claims = _read(path)
        for key in keys:
            claim = claims.get(claim_key(grid_config, key))
            if claim and _mine(claim):
                del claims[claim_key(grid_config, key)]
        _write(path, claims)


__all__ = ["CLAIM_HOURS", "boot_id", "prune", "claim_key", "claims_path", "holder", "holder_of", "process_start",
           "release", "stale_reason", "try_claim"]

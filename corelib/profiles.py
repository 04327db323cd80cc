"""Profiles: named parameter sets (`profiles/NAME.yaml`, flat files papermill can also read with `-f`) that size
every chapter and the benchmark grid: `smoke` (seconds, for the tests), `ci` (the published book on a 2-core CPU)
and `paper` (the papers' setting, for a GPU). The book and the command line both read them through `load_profile`.
"""
from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def profiles_dir(root: Path = ROOT) -> Path:
    return root / "profiles"


def available_profiles(root: Path = ROOT) -> list[str]:
    return sorted(p.stem for p in profiles_dir(root).glob("*.yaml"))


def load_profile(name: str, root: Path = ROOT) -> dict:
    """The flat parameter dict of profile `name` (profiles/NAME.yaml), with `profile` set to `name`."""
    path = profiles_dir(root) / f"{name}.yaml"
    if not path.is_file():
        raise ValueError(f"unknown profile {name!r}; choose one of {available_profiles(root)} "
                         f"(or add profiles/{name}.yaml)")
    params = yaml.safe_load(path.read_text()) or {}
    params["profile"] = name
    return params

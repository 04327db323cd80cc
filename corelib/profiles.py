"""Profiles: named parameter sets (`profiles/NAME.yaml`, flat files papermill can also read with `-f`) that size
every chapter and the benchmark grid: `smoke` (seconds, for the tests), `ci` (the published book on a 2-core CPU)
and `paper` (the papers' setting, for a GPU). The book and the command line both read them through `load_profile`.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Mapping, TYPE_CHECKING

import yaml

if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# old flat name → new flat name: still accepted for one release, with a warning naming the new one
RENAMED = {"model": "model_name"}


def rename_keys(flat: Mapping) -> dict:
    """`flat` with every renamed key (`RENAMED`) under its new name, and a warning for each old one given (a
    mapping that has both keeps the new name's value). A non-string `model` (a chapter's network) is not a setting."""
    out = dict(flat)
    for old, new in RENAMED.items():
        if old in out and isinstance(out[old], str):
            value = out.pop(old)
            if new not in out:
                warnings.warn(f"the setting {old!r} is now {new!r}; {old!r} will stop working in the next release",
                              FutureWarning, stacklevel=3)
                out[new] = value
    return out


class UsageError(ValueError):
    """A command-line request that cannot work: the command prints `error: …` and exits with status 2."""


def parse_overrides(pairs: Iterable[str]) -> dict:
    """`-p NAME VALUE` pairs as {name: value}, each value read as YAML (so `3` is an integer, `[1, 2]` a list);
    a value that is not YAML is a `UsageError` naming it. Renamed names (`RENAMED`) are read under their new name."""
    out = {}
    for key, value in pairs or []:
        try:
            out[key] = yaml.safe_load(value)
        except yaml.YAMLError as err:
            raise UsageError(f"-p {key} {value!r} is not a YAML value ({str(err).splitlines()[0]})") from None
    return rename_keys(out)


def profiles_dir(root: Path = ROOT) -> Path:
    """The profiles folder of the repository `root`."""
    return root / "profiles"


def available_profiles(root: Path = ROOT) -> list[str]:
    """The names of the profiles (profiles/NAME.yaml)."""
    return sorted(p.stem for p in profiles_dir(root).glob("*.yaml"))


def load_profile(name: str, root: Path = ROOT, _seen: tuple = ()) -> dict:
    """The flat parameter dict of profile `name` (profiles/NAME.yaml), with `profile` set to `name`. A profile
    with `inherits: BASE` is BASE's parameters with its own values on top (e.g. `paper_smoke`: the paper's code
    paths at tiny sizes); such a file is not flat, so give papermill the output of
    `python -m corelib.book params` rather than the file itself."""
    path = profiles_dir(root) / f"{name}.yaml"
    if not path.is_file():
        raise ValueError(f"unknown profile {name!r}; choose one of {available_profiles(root)} "
                         f"(or add profiles/{name}.yaml)")
    if name in _seen:
        raise ValueError(f"profile {name!r} inherits from itself through {' → '.join((*_seen, name))}")
    try:
        loaded = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ValueError(f"profiles/{name}.yaml is not valid YAML ({str(err).splitlines()[0]}); fix it or restore it "
                         "from git") from None
    if loaded is not None and not isinstance(loaded, dict):
        raise ValueError(f"profiles/{name}.yaml holds a {type(loaded).__name__}, not a mapping of parameter names "
                         "to values (name: value per line)")
    params = rename_keys(loaded or {})
    base = params.pop("inherits", None)
    if base is not None:
        params = {**load_profile(str(base), root, (*_seen, name)), **params}
    params["profile"] = name
    return params


def _type_name(value) -> str:
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string", list: "a list",
            dict: "a mapping"}.get(type(value), type(value).__name__)


def check_value(name: str, value: Any, reference: Any) -> Any:
    """`value` (parsed from YAML) for the parameter `name` whose profile or default value is `reference`: the
    same kind of value (an integer where the profile has an integer, a number where it has a float, a non-empty
    list of the same kind of items where it has a list), else a ValueError naming the parameter, the value and
    what it takes. Returns the value (an integer given for a float parameter becomes a float)."""
    def fail(expected):
        raise ValueError(f"-p {name} {value!r}: {name} takes {expected} (the profile has {reference!r})")

    if reference is None:
        return value
    if isinstance(reference, bool):
        if not isinstance(value, bool):
            fail("true or false")
        return value
    if isinstance(reference, int):
        if isinstance(value, bool) or not isinstance(value, int):
            fail("an integer")
        return value
    if isinstance(reference, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value in (
                float("inf"), float("-inf")):
            fail("a finite number")
        return float(value)
    if isinstance(reference, str):
        if reference == "all" and isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            return value  # a list of names where the profile says 'all'
        if not isinstance(value, str):
            fail("a string" + (" or a non-empty list of names" if reference == "all" else ""))
        return value
    if isinstance(reference, list):
        if not isinstance(value, list) or not value:
            fail(f"a non-empty list, e.g. {reference!r}")
        if reference:
            return [check_value(f"{name}[{i}]", v, reference[0]) for i, v in enumerate(value)]
        return value
    if isinstance(reference, dict):
        if not isinstance(value, dict):
            fail("a mapping")
        return value
    return value


__all__ = ["available_profiles", "check_value", "load_profile", "parse_overrides", "profiles_dir", "rename_keys",
           "RENAMED", "ROOT", "UsageError"]

"""Typed settings: every knob of the book and of the benchmark grid, one frozen dataclass per concern.

The chapters' `parameters` cells, the profiles (`profiles/NAME.yaml`) and `-p NAME VALUE` stay flat (papermill
needs flat names); `Settings.from_mapping` is the one place that reads those flat names, and it validates every
value before any work starts. Past it, code reads typed attributes:

    settings = Settings.from_mapping(load_profile("ci"))        # or a chapter's globals()
    settings.data.train_size, settings.benchmark.epochs, settings.evaluation.eps

Each setting's flat name, type, range and default live in exactly one place: its field below. The defaults are the
`ci` profile's values (the published book); a test checks every profile and every chapter's parameters cell
against these fields.
"""
from __future__ import annotations

import dataclasses
import math
import numbers
import re
from dataclasses import dataclass, field, fields
from typing import Any, Mapping, TYPE_CHECKING

import torch

from .data import SPLIT_SIZES
from .methods import METHODS, TRAINING_METHODS
from .models import MODELS
from .profiles import RENAMED, rename_keys

if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Self


def setting(key: str, default: Any, *, bounds: tuple = (None, None), choices: tuple | None = None,
            items: type | None = None, hint: str = "", optional: bool = False, checked_by_group: bool = False) -> Any:
    """A field of a settings dataclass: its flat name `key`, its default, and what it takes (`bounds` (low, high),
    None for no bound; choices; the type of a list's items; `optional`: None is allowed; `checked_by_group`: the
    group's `from_mapping` checks it)."""
    low, high = bounds
    meta = {"key": key, "low": low, "high": high, "choices": choices, "items": items, "hint": hint,
            "optional": optional, "checked_by_group": checked_by_group}
    if isinstance(default, (list, tuple)):
        return field(default_factory=lambda d=tuple(default): d, metadata=meta)
    return field(default=default, metadata=meta)


def _kind(f: dataclasses.Field) -> type:
    return {"int": int, "float": float, "str": str, "bool": bool, "tuple": tuple}[
        str(f.type).split("|")[0].split("[")[0].strip()]


def _bounds(meta: dict) -> str:
    low, high = meta["low"], meta["high"]
    if low is not None and high is not None:
        return f"between {low:g} and {high:g}"
    return f"≥ {low:g}" if low is not None else f"≤ {high:g}"


def _fail(key: str, value, wanted: str, hint: str) -> None:
    raise ValueError(f"{key}={value!r} must be {wanted}" + (f" ({hint})" if hint else ""))


def _scalar(key: str, value, kind: type, meta: dict):
    """`value` as a `kind` (int, float, str, bool) within the field's range or choices, else a ValueError."""
    hint = meta["hint"]
    if kind is bool:
        if not isinstance(value, bool):
            _fail(key, value, "true or false", hint)
    elif kind in (int, float):
        integral = isinstance(value, numbers.Integral) or (isinstance(value, float) and value.is_integer())
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or (
                kind is int and not integral):
            _fail(key, value, "an integer" if kind is int else "a finite number", hint)
        value = kind(value)
        if (meta["low"] is not None and value < meta["low"]) or (meta["high"] is not None and value > meta["high"]):
            _fail(key, value, _bounds(meta), hint)
    elif kind is str and not isinstance(value, str):
        _fail(key, value, "a string", hint)
    if meta["choices"] is not None and value not in meta["choices"]:
        _fail(key, value, "one of " + ", ".join(map(repr, meta["choices"])), hint)
    return value


def convert(f: dataclasses.Field, value: Any) -> Any:
    """The flat value `value` checked against field `f` (its type, range, choices), converted to the field's type
    (an integer given for a number becomes a float, a list becomes a tuple). A ValueError names the flat key."""
    meta, key = f.metadata, f.metadata["key"]
    if meta["checked_by_group"]:
        return value
    if value is None and meta["optional"]:
        return None
    kind = _kind(f)
    if kind is tuple:
        if not isinstance(value, (list, tuple)):
            _fail(key, value, "a list", meta["hint"])
        item_meta = {**meta, "choices": meta["choices"]}
        return tuple(_scalar(f"{key}[{i}]", v, meta["items"], item_meta) for i, v in enumerate(value))
    return _scalar(key, value, kind, meta)


class SettingsGroup:
    """A frozen dataclass of settings of one concern, built from the flat names of its fields."""

    @classmethod
    def keys(cls) -> dict[str, dataclasses.Field]:
        """Flat name → field."""
        return {f.metadata["key"]: f for f in fields(cls)}

    @classmethod
    def from_mapping(cls, flat: Mapping) -> Self:
        """The group from the flat names it knows in `flat` (the others ignored; a missing one takes its default),
        each checked and converted (`convert`)."""
        values = {f.name: convert(f, flat[key]) for key, f in cls.keys().items() if key in flat}
        return cls(**values)

    def to_flat(self) -> dict:
        """The group as flat names (lists for tuples), as a profile writes it."""
        return {f.metadata["key"]: list(v) if isinstance(v := getattr(self, f.name), tuple) else v
                for f in fields(self)}


@dataclass(frozen=True)
class DataSettings(SettingsGroup):
    """The data, the device and the model every chapter shares."""

    profile: str = setting("profile", "ci")
    device: str = setting("device", "auto", hint="auto, cpu, cuda, cuda:N or mps")
    precision: str = setting("precision", "fp32", choices=("fp32", "bf16", "auto"),
                             hint="training arithmetic; auto is bf16 on CUDA, fp32 elsewhere")
    data_root: str | None = setting("data_root", None, optional=True)
    seed: int = setting("seed", 0, bounds=(0, None))
    pool_seed: int = setting("pool_seed", 0, bounds=(0, None))
    model_name: str = setting("model_name", "small_cnn", choices=tuple(sorted(MODELS)),
                              hint="a model of corelib.models")
    train_size: int = setting("train_size", 10000, bounds=(1, SPLIT_SIZES["train"]))
    test_size: int = setting("test_size", 2000, bounds=(1, SPLIT_SIZES["test"]))

    def __post_init__(self) -> None:
        check_device(self.device)


def check_device(device: str) -> str:
    """`device` if it names a device this machine has ('auto', 'cpu', 'cuda', 'cuda:N', 'mps'), else a ValueError
    saying what exists here."""
    if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", str(device)):
        raise ValueError(f"device={device!r} must be auto, cpu, cuda, cuda:N or mps")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={device!r}: no CUDA device is visible on this machine; use auto (the GPU where "
                         "there is one) or cpu")
    if device.startswith("cuda:") and int(device[5:]) >= torch.cuda.device_count():
        raise ValueError(f"device={device!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    if device == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device='mps': no Apple GPU is available here; use auto or cpu")
    return device


@dataclass(frozen=True)
class BaseTrainingSettings(SettingsGroup):
    """Chapter 1's base model: trained once on the train pool, cached, read by every chapter."""

    epochs: int = setting("base_epochs", 12, bounds=(1, None))
    lr: float = setting("base_lr", 0.05, bounds=(0, None))
    batch_size: int = setting("base_batch_size", 128, bounds=(1, None))
    warmup_epochs: float = setting("base_warmup_epochs", 1.0, bounds=(0, None))
    weight_decay: float = setting("weight_decay", 0.0005, bounds=(0, None))
    aign_every: int | None = setting("base_aign_every", 4, bounds=(1, None), optional=True,
                                     hint="the base run records AIGN, an exact pass every N epochs")


@dataclass(frozen=True)
class EvaluationSettings(SettingsGroup):
    """The attacks that measure robustness: FGSM sweeps, PGD and AutoAttack."""

    eps_255: float = setting("eps_255", 8.0, bounds=(0, 255), hint="the ℓ∞ budget in units of 1/255")
    pgd_steps: int = setting("pgd_steps", 10, bounds=(1, None))
    pgd_alpha_255: float = setting("pgd_alpha_255", 2.0, bounds=(0, 255))
    pgd_restarts: int = setting("pgd_restarts", 1, bounds=(1, None))
    sweep_eps_255: tuple = setting("sweep_eps_255", (0, 1, 2, 4, 8, 12, 16), items=float, bounds=(0, 255))
    eval_batch_size: int = setting("eval_batch_size", 500, bounds=(1, None))
    robust_pgd_steps: int = setting("robust_pgd_steps", 5, bounds=(1, None))
    robust_test_size: int = setting("robust_test_size", 500, bounds=(1, SPLIT_SIZES["test"]))
    autoattack_version: str = setting("autoattack_version", "ci", choices=("ci", "standard", "none"),
                                      hint="ci: APGD-CE + APGD-T; standard: AutoAttack's four attacks")
    autoattack_steps: int = setting("autoattack_steps", 20, bounds=(1, None))
    autoattack_targets: int | None = setting("autoattack_targets", 3, bounds=(1, 9), optional=True)
    autoattack_queries: int = setting("autoattack_queries", 5000, bounds=(1, None))

    @property
    def eps(self) -> float:
        """The ℓ∞ budget in [0, 1] pixel units (eps_255 / 255)."""
        return self.eps_255 / 255


@dataclass(frozen=True)
class SparseSettings(SettingsGroup):
    """Sparse FGSM and the three scores (chapters 2–5)."""

    ks: tuple = setting("sparse_ks", (1, 4, 16, 64), items=int, bounds=(1, None))
    eps: float = setting("sparse_eps", 1.0, bounds=(0, None))
    unit: str = setting("sparse_unit", "feature", choices=("feature", "pixel"))
    sweep_eps_255: tuple = setting("sparse_sweep_eps_255", (8, 32, 128, 255), items=float, bounds=(0, 255))
    sweep_size: int = setting("sparse_sweep_size", 2000, bounds=(1, None))
    explorer_images: int = setting("explorer_images", 6, bounds=(1, None))
    score_batch_size: int = setting("score_batch_size", 250, bounds=(1, None))
    isef_alpha: float = setting("isef_alpha", 0.5, bounds=(0, 1))
    fgsm_cs_weights: tuple = setting("fgsm_cs_weights", (0.5, 0.3, 0.2), items=float, bounds=(0, None))
    coreset_fractions: tuple = setting("coreset_fractions", (0.01, 0.1, 0.3), items=float, bounds=(0, 1))
    coreset_seeds: tuple = setting("coreset_seeds", (0, 1), items=int, bounds=(0, None))
    coreset_epochs: int = setting("coreset_epochs", 8, bounds=(1, None))
    coreset_min_steps: int = setting("coreset_min_steps", 50, bounds=(0, None))
    gallery_size: int = setting("gallery_size", 10, bounds=(1, None))


@dataclass(frozen=True)
class EasyCoreSettings(SettingsGroup):
    """EasyCore (chapter 6)."""

    aign_mode: str = setting("aign_mode", "exact", choices=("exact", "in_training"))
    pool_size: int = setting("easycore_pool_size", 2500, bounds=(10, None))
    fractions: tuple = setting("easycore_fractions", (0.1, 0.3), items=float, bounds=(0, 1))
    seeds: tuple = setting("easycore_seeds", (0, 1), items=int, bounds=(0, None))
    epochs: int = setting("easycore_epochs", 8, bounds=(1, None))
    trades_epochs: int = setting("trades_epochs", 3, bounds=(1, None))
    min_steps: int = setting("easycore_min_steps", 20, bounds=(0, None))
    trades_beta: float = setting("trades_beta", 6.0, bounds=(0, None))
    trades_steps: int = setting("trades_steps", 2, bounds=(1, None))
    trades_hardness_epochs: int = setting("trades_hardness_epochs", 4, bounds=(1, None))
    trades_aign: str = setting("trades_aign", "standard", choices=("standard", "trades"))
    boundary_size: int = setting("boundary_size", 500, bounds=(1, None))
    boundary_eps_max_255: float = setting("boundary_eps_max_255", 32.0, bounds=(0, 255))
    boundary_iterations: int = setting("boundary_iterations", 6, bounds=(1, None))


@dataclass(frozen=True)
class ConvexToySettings(SettingsGroup):
    """The convex toy where Theorem 1's bound is evaluated (chapter 7)."""

    size: int = setting("toy_size", 1000, bounds=(10, None))
    dims: int = setting("toy_dims", 16, bounds=(1, None))
    eps: float = setting("toy_eps", 0.05, bounds=(0, None))
    radius: float = setting("toy_radius", 5.0, bounds=(0, None))
    horizons: tuple = setting("toy_horizons", (25, 100, 400), items=int, bounds=(1, None))
    fraction: float = setting("toy_fraction", 0.1, bounds=(0, 1))
    period: int = setting("toy_period", 5, bounds=(1, None))


@dataclass(frozen=True)
class AdversarialCoresetSettings(SettingsGroup):
    """Algorithm 1 of adversarial coreset selection (chapter 7, and acs_* in the benchmark's adversarial track)."""

    pool_size: int = setting("acs_pool_size", 1500, bounds=(10, None))
    objective: str = setting("acs_objective", "pgd", choices=("pgd", "trades", "fgsm_rs"))
    train_steps: int = setting("acs_train_steps", 2, bounds=(1, None))
    train_alpha_255: float = setting("acs_train_alpha_255", 5.0, bounds=(0, 255))
    epochs: int = setting("acs_epochs", 8, bounds=(1, None))
    methods: tuple = setting("acs_methods", ("full", "craig", "gradmatch", "random"), items=str,
                             choices=("full", "craig", "gradmatch", "random"))
    fractions: tuple = setting("acs_fractions", (0.5, 0.2), items=float, bounds=(0, 1))
    seeds: tuple = setting("acs_seeds", (0, 1), items=int, bounds=(0, None))
    warm_start: float = setting("acs_warm_start", 0.6, bounds=(0, 0.999999),
                                hint="κ, the share of the epochs before the first coreset, in [0, 1)")
    period: int = setting("acs_period", 4, bounds=(1, None), hint="epochs between coreset renewals")
    renewal: str = setting("acs_renewal", "authors", choices=("authors", "from_start"),
                           hint="authors: renew on the epochs that are multiples of acs_period, from ⌊κE⌋ on; "
                                "from_start: at ⌊κE⌋ and every acs_period epochs after it")
    batch_wise: int = setting("acs_batch_wise", 0, bounds=(0, None),
                              hint="0: per class; N: batch-wise with batches of N")
    trace_pool_size: int = setting("trace_pool_size", 600, bounds=(10, None))
    trace_epochs: int = setting("trace_epochs", 6, bounds=(2, None))


@dataclass(frozen=True)
class BenchmarkSettings(SettingsGroup):
    """The benchmark grid (chapter 8 and `python -m corelib bench`)."""

    pool_size: int = setting("bench_pool_size", 2000, bounds=(10, None))
    selection_epochs: int = setting("selection_epochs", 4, bounds=(1, None))
    scoring_model: str = setting("scoring_model", "base", choices=("proxy", "base"),
                                 hint="proxy: the selection_epochs proxy (DeepCore); base: the fully trained base "
                                      "model, as the sparse-FGSM and EasyCore papers score")
    grand_repeats: int = setting("grand_repeats", 2, bounds=(1, None))
    deepfool_iterations: int = setting("deepfool_iterations", 50, bounds=(1, None))
    forgetting_never_learned: str = setting("forgetting_never_learned", "deepcore", choices=("deepcore", "toneva"),
                                            hint="what a never-learned sample counts as: 0 forgetting events "
                                                 "(DeepCore) or more than any other (Toneva et al.)")
    epochs: int = setting("bench_epochs", 4, bounds=(1, None))
    min_steps: int = setting("bench_min_steps", 16, bounds=(0, None))
    fgsm_eps_255: tuple = setting("bench_fgsm_eps_255", (0, 1, 2, 4, 8), items=float, bounds=(0, 255),
                                  hint="budgets in units of 1/255")
    methods: tuple | str = setting("bench_methods", "all", checked_by_group=True)
    fractions: tuple = setting("bench_fractions", (0.1, 0.3), items=float, bounds=(0, 1))
    seeds: tuple = setting("bench_seeds", (0, 1), items=int, bounds=(0, None))
    lr: float = setting("bench_lr", 0.05, bounds=(0, None))
    batch_size: int = setting("bench_batch_size", 128, bounds=(1, None))
    warmup_epochs: float = setting("bench_warmup_epochs", 1.0, bounds=(0, None))
    robust_size: int = setting("bench_robust_size", 200, bounds=(1, None))
    test_size: int = setting("bench_test_size", 1000, bounds=(1, None))
    small_fractions: tuple = setting("bench_small_fractions", (0.01,), items=float, bounds=(0, 1))
    small_methods: tuple = setting("bench_small_methods", ("random", "deepfool", "isef_top", "isef_bottom",
                                                           "fgsm_cs_top", "fgsm_cs_bottom", "pss_top", "pss_bottom"),
                                   items=str)
    track: str = setting("bench_track", "standard", choices=("standard", "adversarial"),
                         hint="--track on the command line")
    adv_objective: str = setting("bench_adv_objective", "fgsm_rs", choices=("fgsm_rs", "pgd", "trades"),
                                 hint="the adversarial track needs an adversarial objective")
    adv_steps: int = setting("bench_adv_steps", 10, bounds=(1, None))
    retry_collapsed: bool = setting("retry_collapsed", False)

    @classmethod
    def from_mapping(cls, flat: Mapping) -> BenchmarkSettings:
        """The group from a flat mapping; `bench_methods` is 'all' or a list of registered names."""
        flat = dict(flat)
        if isinstance(flat.get("bench_methods"), (list, tuple)):
            names = flat["bench_methods"]
            unknown = [m for m in names if not isinstance(m, str) or (m not in METHODS and m not in TRAINING_METHODS)]
            if unknown or not names:
                raise ValueError(f"bench_methods={list(names)!r}: unknown method(s) {unknown}; choose from "
                                 f"{sorted(METHODS)} (or 'all')" if unknown else
                                 "bench_methods=[]: give at least one method, or 'all'")
            flat["bench_methods"] = tuple(names)
        elif "bench_methods" in flat and flat["bench_methods"] != "all":
            raise ValueError(f"bench_methods={flat['bench_methods']!r} must be 'all' or a list of method names")
        return super().from_mapping(flat)


def _check_int_range(key: str, value: int, high: int, why: str) -> None:
    """`value` of the benchmark setting `key` must not exceed `high`, the size it is drawn from."""
    if value > high:
        low = BenchmarkSettings.keys()[key].metadata["low"]
        raise ValueError(f"{key}={value} must be between {low} and {high}{why}")


@dataclass(frozen=True)
class Settings:
    """Every setting of the book and the benchmark, grouped by concern; built and validated by `from_mapping`."""

    data: DataSettings = field(default_factory=DataSettings)
    base: BaseTrainingSettings = field(default_factory=BaseTrainingSettings)
    evaluation: EvaluationSettings = field(default_factory=EvaluationSettings)
    sparse: SparseSettings = field(default_factory=SparseSettings)
    easycore: EasyCoreSettings = field(default_factory=EasyCoreSettings)
    toy: ConvexToySettings = field(default_factory=ConvexToySettings)
    acs: AdversarialCoresetSettings = field(default_factory=AdversarialCoresetSettings)
    benchmark: BenchmarkSettings = field(default_factory=BenchmarkSettings)

    def check_sizes(self, given: Iterable[str]) -> "Settings":
        """Checks that join two groups: a size drawn from another size must fit in it (checked where the drawn size
        is among the flat names `given`, so a chapter that does not set the benchmark's sizes is not held to
        their defaults)."""
        data, bench = self.data, self.benchmark
        for key, value, high, why in (
                ("bench_pool_size", bench.pool_size, data.train_size,
                 " (the benchmark pool is drawn from the train_size pool)"),
                ("bench_test_size", bench.test_size, data.test_size, " (drawn from the test_size test set)"),
                ("bench_robust_size", bench.robust_size, data.test_size, " (drawn from the test_size test set)")):
            if key in given:
                _check_int_range(key, value, high, why)
        return self

    @classmethod
    def groups(cls) -> dict[str, type]:
        """Group name → settings dataclass."""
        return {f.name: f.default_factory for f in fields(cls)}

    @classmethod
    def keys(cls) -> dict[str, dataclasses.Field]:
        """Every flat name this class reads → its field."""
        return {k: f for group in cls.groups().values() for k, f in group.keys().items()}

    @classmethod
    def from_mapping(cls, flat: Mapping) -> "Settings":
        """The settings of a flat mapping (a profile, a chapter's `globals()`, `-p` overrides applied): names this
        class does not know are ignored, a missing name takes its default, every value is checked (a ValueError
        names the flat key, the value and what it takes). A renamed key (`RENAMED`) is read under its old name with
        a warning naming the new one."""
        flat = rename_keys(flat)
        return cls(**{name: group.from_mapping(flat) for name, group in cls.groups().items()}).check_sizes(flat)

    def to_flat(self) -> dict:
        """Every setting under its flat name."""
        return {k: v for name in self.groups() for k, v in getattr(self, name).to_flat().items()}

    def replace(self, **flat: Any) -> "Settings":
        """A copy with the flat settings `flat` changed (checked like `from_mapping`)."""
        return Settings.from_mapping({**self.to_flat(), **flat})


__all__ = ["AdversarialCoresetSettings", "check_device", "BaseTrainingSettings", "BenchmarkSettings",
           "ConvexToySettings", "DataSettings", "EasyCoreSettings", "EvaluationSettings", "RENAMED", "Settings",
           "SettingsGroup", "SparseSettings", "convert", "rename_keys", "setting"]

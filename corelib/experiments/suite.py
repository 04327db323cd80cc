"""One evaluation suite for every grid: the measurements a trained model gets, by column name.

    suite = EvaluationSuite.of(test_pool, robust_pool, fgsm_eps=[0, 4 / 255, 8 / 255], pgd=PGD(eps=8 / 255))
    suite = suite.with_attack("square_acc", Square(eps=8 / 255), robust_pool)    # a new attack: one entry
    row = suite.run(model, cell)      # {'test_acc': …, 'top_class_share': …, 'fgsm_0': …, 'pgd_acc': …, …}

The book's vocabulary, the same in every grid and every table (README, "Columns"):

- `test_acc`: clean accuracy on the test images; `top_class_share`: the share of them put in the most frequent
  class (a collapse detector, not an accuracy);
- `fgsm_<ε·255>`: accuracy under FGSM at that budget (the ε sweep, one gradient);
- `pgd_acc`: accuracy under PGD (the grid's steps and budget) on the robust images;
- `autoattack_acc`: accuracy under AutoAttack there (NaN where a grid does not run it), and `autoattack_checks`:
  the flags its sanity checks raised (`attacks.sanity.CHECKS`; 'none' when every check passed, empty where AutoAttack
  did not run).

Each measurement declares which of its columns are accuracies: a collapsed run's accuracies (and only those) are
moved into its note (`grid.flag_collapsed`). Attacks are re-seeded for each cell (`grid.cell_attack`), so a row
depends only on its cell.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from ..attacks import Attack
from ..data import Pool
from ..evaluate import accuracy_and_top_share, fgsm_sweep, robust_accuracy
from .grid import cell_attack

Measure = Callable[[torch.nn.Module, dict], dict]  # (model, cell) → {column: value}


@dataclass(frozen=True)
class Measurement:
    """One entry of a suite: its columns, which of them are accuracies, how to compute them, and its description
    (part of the grid's configuration hash)."""

    columns: tuple[str, ...]
    accuracies: tuple[str, ...]
    measure: Measure
    config: dict


def clean_accuracy(pool: Pool, column: str = "test_acc") -> Measurement:
    """Clean accuracy on `pool` and the share of it predicted as the most frequent class (`top_class_share`)."""
    def measure(model, cell):
        acc, share = accuracy_and_top_share(model, pool)
        return {column: acc, "top_class_share": share}
    return Measurement((column, "top_class_share"), (column,), measure, {column: pool.fingerprint()})


def fgsm_columns(eps: Sequence[float]) -> list[str]:
    """The FGSM sweep's column names: `fgsm_<ε·255>` (e.g. fgsm_8 for 8/255)."""
    return [f"fgsm_{round(e * 255, 2):g}" for e in eps]


def fgsm_accuracies(pool: Pool, eps: Sequence[float]) -> Measurement:
    """Accuracy under FGSM at every budget of `eps` (in [0, 1] units), from one input gradient per image."""
    eps = [float(e) for e in eps]
    columns = tuple(fgsm_columns(eps))

    def measure(model, cell):
        sweep = fgsm_sweep(model, pool, eps)
        return {f"fgsm_{round(e, 2):g}": a for e, a in zip(sweep["eps_255"], sweep["accuracy"])}
    return Measurement(columns, columns, measure, {"fgsm_eps": eps, "fgsm_pool": pool.fingerprint()})


def attack_accuracy(column: str, attack: Attack, pool: Pool) -> Measurement:
    """Accuracy on `pool` under `attack`, re-seeded for each cell; for an attack that runs sanity checks (AutoAttack:
    `attacks.sanity`), also what they flagged, as `<name>_checks` beside `<name>_acc` ('none' when nothing)."""
    checks = column.removesuffix("_acc") + "_checks" if hasattr(attack, "checks") else None

    def measure(model, cell):
        attacked = cell_attack(attack, cell)
        row = {column: robust_accuracy(model, pool, attacked)}
        return row if checks is None else {**row, checks: attacked.checks()}
    columns = (column,) if checks is None else (column, checks)
    return Measurement(columns, (column,), measure, {column: attack.config(), f"{column}_pool": pool.fingerprint()})


def missing(column: str) -> Measurement:
    """A column the grid always carries but does not measure here (NaN), e.g. `autoattack_acc` in the standard
    track (with its `autoattack_checks`, empty), so every row of every track has the same columns."""
    checks = column.removesuffix("_acc") + "_checks"
    return Measurement((column, checks), (column,), lambda model, cell: {column: float("nan"), checks: ""}, {})


class EvaluationSuite:
    """The measurements a grid takes of every trained model, in column order (see the module docstring)."""

    def __init__(self, measurements: Sequence[Measurement] = ()):
        self.measurements = tuple(measurements)
        columns = [c for m in self.measurements for c in m.columns]
        repeated = sorted({c for c in columns if columns.count(c) > 1})
        if repeated:
            raise ValueError(f"the evaluation suite measures the column(s) {repeated} twice; give each a new name")

    @classmethod
    def of(cls, test_pool: Pool, robust_pool: Pool | None = None, *, fgsm_eps: Sequence[float] = (),
           pgd: Attack | None = None, autoattack: Attack | None = None,
           always_autoattack: bool = False) -> EvaluationSuite:
        """The book's suite: clean accuracy on `test_pool`; on `robust_pool` (default: the test pool) the FGSM
        sweep at `fgsm_eps`, PGD and AutoAttack where given (`always_autoattack`: an `autoattack_acc` column of
        NaN without one)."""
        robust_pool = test_pool if robust_pool is None else robust_pool
        entries = [clean_accuracy(test_pool)]
        if len(fgsm_eps):
            entries.append(fgsm_accuracies(robust_pool, fgsm_eps))
        if pgd is not None:
            entries.append(attack_accuracy("pgd_acc", pgd, robust_pool))
        if autoattack is not None:
            entries.append(attack_accuracy("autoattack_acc", autoattack, robust_pool))
        elif always_autoattack:
            entries.append(missing("autoattack_acc"))
        return cls(entries)

    def with_attack(self, column: str, attack: Attack, pool: Pool) -> "EvaluationSuite":
        """This suite and the accuracy under `attack` on `pool` as the column `column` (an accuracy: flagged on a
        collapse like the others)."""
        return EvaluationSuite([*self.measurements, attack_accuracy(column, attack, pool)])

    def with_measure(self, columns: Sequence[str], measure: Measure, accuracies: Sequence[str] = (),
                     config: dict | None = None) -> "EvaluationSuite":
        """This suite and any other measurement: `measure(model, cell)` returns a value for each of `columns`;
        `accuracies` says which of them are accuracies; `config` describes it (for the grid's hash)."""
        entry = Measurement(tuple(columns), tuple(accuracies), measure, dict(config or {"columns": list(columns)}))
        return EvaluationSuite([*self.measurements, entry])

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column the suite measures, in order."""
        return tuple(c for m in self.measurements for c in m.columns)

    @property
    def accuracy_columns(self) -> tuple[str, ...]:
        """The columns that are accuracies (moved into the note of a collapsed row)."""
        return tuple(c for m in self.measurements for c in m.accuracies)

    def config(self) -> dict:
        """What the suite measures, for the grid's configuration hash."""
        return {k: v for m in self.measurements for k, v in m.config.items()}

    def run(self, model: torch.nn.Module, cell: dict) -> dict:
        """Every measurement of `model` for the grid cell `cell`, as one dict in column order."""
        row = {}
        for m in self.measurements:
            values = m.measure(model, cell)
            if set(values) != set(m.columns):
                raise ValueError(f"a measurement declared the columns {list(m.columns)} but returned "
                                 f"{sorted(values)}")
            row.update({c: values[c] for c in m.columns})
        return row


__all__ = ["EvaluationSuite", "Measurement", "attack_accuracy", "clean_accuracy", "fgsm_accuracies", "fgsm_columns",
           "missing"]

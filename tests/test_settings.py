"""Typed settings (`corelib.settings`): every profile and every chapter's parameters cell agree with the
dataclasses, bad values are refused with one message naming the flat key, a renamed key still works with a
warning, and the evaluation suite makes a new attack one entry of every grid."""
import ast
import warnings

import pandas as pd
import pytest
import torch
from conftest import synthetic_pool, toy_benchmark

from corelib import book
from corelib.attacks import FGSM, PGD
from corelib.experiments import EvaluationSuite, GridOptions, run_benchmark
from corelib.experiments.chapter import CHAPTER_KEYS
from corelib.experiments.grid import flag_collapsed
from corelib.profiles import available_profiles, load_profile
from corelib.settings import Settings
from corelib.train import TrainConfig


@pytest.mark.parametrize("name", available_profiles())
def test_every_profile_key_is_a_setting_and_every_value_passes(name):
    profile = load_profile(name)
    unknown = set(profile) - set(Settings.keys())
    assert not unknown, f"profiles/{name}.yaml has keys no settings dataclass declares: {sorted(unknown)}"
    settings = Settings.from_mapping(profile)
    assert settings.to_flat()["train_size"] == profile["train_size"]


def test_the_defaults_are_the_ci_profile_and_every_chapter_declares_them():
    """The dataclasses' defaults are the published book's (`ci`) values, and each chapter's parameters cell holds
    the default of every setting it declares (papermill injects the profile's values over them)."""
    defaults = Settings().to_flat()
    ci = load_profile("ci")
    assert {k: v for k, v in defaults.items() if k != "profile"} == {
        k: (list(v) if isinstance(v, tuple) else v) for k, v in Settings.from_mapping(ci).to_flat().items()
        if k != "profile"}
    for chapter in book.chapters():
        declared = book.declared_parameters(book.source_notebook(chapter))
        for key, value in declared.items():
            if key in CHAPTER_KEYS:
                continue
            assert key in defaults, f"{chapter} declares {key}, which no settings dataclass has"
            expected, value = defaults[key], ast.literal_eval(value)
            assert value == expected or (isinstance(expected, float) and value == pytest.approx(expected)), (
                f"{chapter}: {key} = {value!r}, the default is {expected!r}")


@pytest.mark.parametrize("flat, message", [
    ({"base_epochs": 0}, "base_epochs=0 must be ≥ 1"),
    ({"base_epochs": 2.5}, "base_epochs=2.5 must be an integer"),
    ({"precision": "fp16"}, "precision='fp16' must be one of 'fp32', 'bf16', 'auto'"),
    ({"model_name": "vgg"}, "model_name='vgg' must be one of"),
    ({"sparse_ks": [1, 0]}, "sparse_ks[1]=0 must be ≥ 1"),
    ({"coreset_fractions": "0.1"}, "coreset_fractions='0.1' must be a list"),
    ({"train_size": 60000}, "train_size=60000 must be between 1 and 50000"),
    ({"train_size": 500, "bench_pool_size": 2000}, "bench_pool_size=2000 must be between 10 and 500"),
    ({"bench_methods": ["random", "bogus"]}, "unknown method(s) ['bogus']"),
])
def test_a_bad_setting_is_refused_naming_its_flat_key(flat, message):
    with pytest.raises(ValueError) as err:
        Settings.from_mapping(flat)
    assert message in str(err.value)


def test_settings_are_typed_and_frozen_and_a_renamed_key_still_works_with_a_warning():
    settings = Settings.from_mapping({"base_warmup_epochs": 1, "sparse_ks": [1, 4], "eps_255": 8})
    assert settings.base.warmup_epochs == 1.0 and isinstance(settings.base.warmup_epochs, float)
    assert settings.sparse.ks == (1, 4) and settings.evaluation.eps == pytest.approx(8 / 255)
    with pytest.raises(Exception):
        settings.base.epochs = 3
    with pytest.warns(FutureWarning, match="'model' is now 'model_name'"):
        old = Settings.from_mapping({"model": "resnet18"})
    assert old.data.model_name == "resnet18"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Settings.from_mapping({"model": torch.nn.Linear(1, 1)})  # a chapter's network named model: not a setting
    assert settings.replace(base_epochs=3).base.epochs == 3


def test_a_new_attack_is_one_entry_and_gets_its_column_in_every_benchmark_row(tmp_path):
    """An attack added through the public API is evaluated in every cell and named as its column; it is declared an
    accuracy, so a collapsed row moves it into the note like the others."""
    pool, test = synthetic_pool(n=80, seed=0), synthetic_pool(n=40, seed=3)
    bench = toy_benchmark(pool, test, TrainConfig(batch_size=16, augment=False), PGD(eps=8 / 255, alpha=2 / 255,
                                                                                     steps=2, seed=0))
    from dataclasses import replace

    bench = replace(bench, suite=bench.suite.with_attack("fgsm16_acc", FGSM(eps=16 / 255), test))
    rows = run_benchmark(bench, ["random"], [0.5], [0], tmp_path / "b.csv",
                         options=GridOptions(log=lambda *_: None, rank=0, world=1))
    assert "fgsm16_acc" in rows and rows["fgsm16_acc"].notna().all() or (rows["status"] == "collapsed").all()
    assert "fgsm16_acc" in bench.suite.accuracy_columns and "top_class_share" not in bench.suite.accuracy_columns
    row = {"test_acc": 0.1, "fgsm16_acc": 0.1, "top_class_share": 0.95, "size": 40}
    flagged = flag_collapsed(row, accuracies=bench.suite.accuracy_columns)
    assert flagged["status"] == "collapsed" and pd.isna(flagged["fgsm16_acc"]) and flagged["size"] == 40
    assert "fgsm16_acc 10.0 %" in flagged["note"]


def test_a_measure_must_return_the_columns_it_declares():
    test = synthetic_pool(n=8, seed=3)
    suite = EvaluationSuite.of(test).with_measure(["loss"], lambda model, cell: {"lost": 1.0})
    with pytest.raises(ValueError, match="declared the columns \\['loss'\\]"):
        suite.run(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.LazyLinear(4)), {"seed": 0})
    with pytest.raises(ValueError, match="twice"):
        EvaluationSuite.of(test).with_attack("test_acc", FGSM(eps=1 / 255), test)


def test_a_new_result_column_is_one_entry_and_is_flagged_on_collapse_when_declared_an_accuracy(tmp_path):
    """Any measurement (here the mean loss and a 'confident_acc') added through the public API is a column of every
    benchmark row; the one declared an accuracy is moved into the note of a collapsed row, the other is not."""
    import torch.nn.functional as F
    from dataclasses import replace

    pool, test = synthetic_pool(n=80, seed=0), synthetic_pool(n=40, seed=3)
    bench = toy_benchmark(pool, test, TrainConfig(batch_size=16, augment=False), PGD(eps=8 / 255, alpha=2 / 255,
                                                                                     steps=2, seed=0))

    def measure(model, cell):
        with torch.no_grad():
            logits = model(test.float_images())
        loss = float(F.cross_entropy(logits, test.labels))
        confident = float(((logits.softmax(1).max(1).values > 0.5) & (logits.argmax(1) == test.labels)).float().mean())
        return {"mean_loss": loss, "confident_acc": confident}

    bench = replace(bench, suite=bench.suite.with_measure(["mean_loss", "confident_acc"], measure,
                                                          accuracies=["confident_acc"]))
    rows = run_benchmark(bench, ["random"], [0.5], [0], tmp_path / "b.csv",
                         options=GridOptions(log=lambda *_: None, rank=0, world=1))
    assert {"mean_loss", "confident_acc"} <= set(rows.columns) and rows["mean_loss"].notna().all()
    flagged = flag_collapsed({"test_acc": 0.1, "confident_acc": 0.1, "mean_loss": 2.3, "top_class_share": 1.0},
                             accuracies=bench.suite.accuracy_columns)
    assert pd.isna(flagged["confident_acc"]) and flagged["mean_loss"] == 2.3

"""Nothing silently wrong: invalid settings and degenerate inputs fail at once with a ValueError that names the value
and what is allowed, and training that diverges stops with an error instead of returning (and caching) a NaN model.
Every test here fails on the code before these checks: there, each input below was accepted, or failed deep inside
torch with a message that names neither the setting nor the fix."""
import math
import sys

import pandas as pd
import pytest
import torch

from conftest import TinyNet, synthetic_pool
from corelib import methods as bl
from corelib.attacks import FGSM, PGD, SparseFGSM, input_gradient, sparse_fgsm_levels
from corelib.cache import ArtifactCache
from corelib.easycore import boundary_distance
from corelib.select import Selection, select_by_score
from corelib.train import NonFiniteError, RecordPerSample, TrainConfig, fit, train

train_module = sys.modules["corelib.train"]  # the module (corelib.train is also the name of the function)

PLAIN = dict(augment=False, channels_last=False, schedule="constant")


def _in_order(n, batch_size, shuffle, generator=None):
    return torch.arange(n).split(batch_size)


@pytest.fixture
def tiny_fit(monkeypatch):
    """`fit` builds a TinyNet (the model name is ignored)."""
    monkeypatch.setattr(train_module, "build_model",
                        lambda name, num_classes, seed, device, channels_last: TinyNet(num_classes, seed=seed))


def _files(folder):
    return sorted(p.name for p in folder.rglob("*") if p.is_file())


# A. weights and divergence


def test_a_batch_whose_weights_are_all_zero_changes_nothing(monkeypatch):
    """Before: Σγℓ / Σγ = 0/0 on the zero batch made every parameter NaN, with no error."""
    monkeypatch.setattr(train_module, "batch_positions", _in_order)  # no shuffling: batch 1 is samples 0 and 1
    pool = synthetic_pool(n=8)
    config = TrainConfig(epochs=1, batch_size=2, lr=0.1, momentum=0.9, weight_decay=5e-4, **PLAIN)
    weights = torch.tensor([0.0, 0, 1, 1, 1, 1, 1, 1])
    model, reference = TinyNet(seed=1), TinyNet(seed=1)
    recorder = RecordPerSample(input_grad=True)
    result = train(model, pool, config, weights=weights, hooks=[recorder])
    assert all(torch.isfinite(p).all() for p in model.parameters())
    # the same three steps without the zero batch: no update, no momentum, no weight decay from it
    train(reference, pool, config, subset=pool.indices[2:], weights=torch.ones(6))
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), reference.state_dict().values()))
    table = recorder.table  # the zero batch is still seen and recorded
    assert sorted(table["index"].tolist()) == sorted(pool.indices.tolist())
    assert table["loss"].notna().all() and math.isfinite(result.history["train_loss"].iloc[0])


def test_zero_weights_under_shuffling_and_fit_stay_finite(tiny_fit, tmp_path):
    pool = synthetic_pool(n=16)
    weights = torch.tensor([0.0] * 12 + [1.0] * 4)  # most batches of 2 are all zero
    result = fit("tiny", pool, TrainConfig(epochs=3, batch_size=2, **PLAIN), weights=weights,
                 cache=ArtifactCache(tmp_path))
    assert all(torch.isfinite(p).all() for p in result.model.parameters())


def test_divergence_names_the_epoch_and_step_and_caches_nothing(tiny_fit, tmp_path):
    """Before: lr = 1e6 returned (and `fit` cached) a model full of NaN, the history's loss NaN."""
    pool = synthetic_pool(n=32)
    cache = ArtifactCache(tmp_path)
    with pytest.raises(NonFiniteError, match=r"epoch \d+ of 2, step \d+ of 4 .*lower the learning rate"):
        fit("tiny", pool, TrainConfig(epochs=2, batch_size=8, lr=1e6, **PLAIN), cache=cache)
    assert _files(tmp_path) == [] and cache.misses == []
    assert issubclass(NonFiniteError, FloatingPointError)


class Poison(RecordPerSample):
    """A recorder that sets one weight to NaN at the start (or, `at_end`, the end) of epoch `epoch`."""

    def __init__(self, epoch, at_end=False):
        super().__init__()
        self.epoch, self.at_end = epoch, at_end

    def _poison(self, state):
        if state.epoch == self.epoch:
            with torch.no_grad():
                state.model.linear.weight[0, 0] = math.nan

    def on_epoch_start(self, state):
        if not self.at_end:
            self._poison(state)

    def on_epoch_end(self, state, record):
        super().on_epoch_end(state, record)
        if self.at_end:
            self._poison(state)


def test_a_nan_injected_by_a_hook_stops_training_and_fit_caches_nothing(tiny_fit, tmp_path):
    pool = synthetic_pool(n=16)
    cache = ArtifactCache(tmp_path)
    config = TrainConfig(epochs=2, batch_size=8, **PLAIN)
    with pytest.raises(NonFiniteError, match="loss is nan at epoch 2 of 2, step 1 of 2"):
        fit("tiny", pool, config, cache=cache, recorders={"p": Poison(1)})
    # a model that turns non-finite after its last loss is caught by the final check
    with pytest.raises(NonFiniteError, match=r"not finite \(e.g. \['linear.weight'\]\)"):
        fit("tiny", pool, config, cache=cache, recorders={"p": Poison(1, at_end=True)})
    assert _files(tmp_path) == []


def test_duplicate_or_empty_subsets_are_refused(tiny_fit, tmp_path):
    """Before: a duplicated index was trained on twice per epoch; an empty subset died with UnboundLocalError."""
    pool = synthetic_pool(n=16)
    config = TrainConfig(epochs=1, batch_size=4, **PLAIN)
    dup = pool.indices[[1, 1, 2]].tolist()
    with pytest.raises(ValueError, match=rf"more than once \(e.g. \[{dup[0]}\]\)"):
        train(TinyNet(), pool, config, subset=dup)
    with pytest.raises(ValueError, match="more than once"):
        fit("tiny", pool, config, subset=dup, cache=ArtifactCache(tmp_path))
    with pytest.raises(ValueError, match="subset is empty"):
        train(TinyNet(), pool, config, subset=[])
    assert _files(tmp_path) == []


@pytest.mark.parametrize("kwargs,message", [
    ({"lr": math.nan}, "lr=nan must be"), ({"lr": -1}, "lr=-1 must be"), ({"lr": math.inf}, "lr=inf"),
    ({"momentum": 2}, r"momentum=2 must lie in \[0, 1\)"), ({"momentum": -0.1}, "momentum=-0.1"),
    ({"warmup_epochs": -1}, "warmup_epochs=-1"), ({"warmup_epochs": 20, "epochs": 15}, "longer than the run"),
    ({"batch_size": 2.5}, "batch_size=2.5 must be an integer"), ({"epochs": 2.5}, "epochs=2.5 must be an integer"),
    ({"batch_size": True}, "batch_size=True must be an integer"),
    ({"weight_decay": -5e-4}, "weight_decay=-0.0005"), ({"weight_decay": math.nan}, "weight_decay=nan"),
    ({"gamma": 0}, "gamma=0"), ({"gamma": 10}, "gamma=10"),
    ({"milestones": (50, 75), "schedule": "multistep"}, "milestone=50 .*fractions of the run"),
    ({"momentum": 0.0}, "nesterov=True needs momentum > 0"),
    ({"augment": "no"}, "augment='no' must be True or False"), ({"precision": "fp16"}, "precision='fp16'"),
    ({"seed": 0.5}, "seed=0.5 must be an integer"),
    ({"objective": "pgd", "objective_params": {"alpha": -2 / 255}}, "alpha=-0.00784314 must be"),
    ({"objective": "pgd", "objective_params": {"stepz": 3}}, "bad parameters"),
])
def test_bad_train_settings_are_named_when_the_config_is_made(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**kwargs)


def test_valid_train_settings_are_kept_as_given():
    config = TrainConfig(epochs=15.0, lr=0, momentum=0.0, nesterov=False, warmup_epochs=15)
    assert config.epochs == 15 and isinstance(config.epochs, int) and config.lr == 0
    assert TrainConfig().to_dict() == TrainConfig(**TrainConfig().to_dict()).to_dict()


# B. attacks


@pytest.fixture
def batch():
    model = TinyNet(seed=2).eval()
    x = torch.rand(6, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    return model, x, torch.tensor([0, 1, 2, 3, 0, 1])


@pytest.mark.parametrize("make,message", [
    (lambda: PGD(alpha=-2 / 255), r"alpha=-0.00784314 must be a finite number > 0 \(step size in pixel units"),
    (lambda: PGD(alpha=0.0), "alpha=0 must be"), (lambda: PGD(alpha=math.nan), "alpha=nan"),
    (lambda: PGD(steps=2.5), "steps=2.5 must be an integer ≥ 1; it would be truncated to 2"),
    (lambda: PGD(restarts=1.5), "restarts=1.5 must be an integer"), (lambda: PGD(steps="10"), "steps='10'"),
    (lambda: PGD(eps=math.inf), "eps=inf must be"), (lambda: FGSM(eps=math.inf), "eps=inf"),
    (lambda: PGD(eps=torch.tensor([0.1, math.inf])), "every eps must be finite"),
    (lambda: PGD(eps=torch.full((2,), 0.1), alpha=torch.tensor([0.01, 0.0])), "every alpha must be finite and > 0"),
    (lambda: PGD(eps=torch.full((2,), 0.1), alpha=torch.tensor([0.01, math.nan])), r"alpha\[1\]=nan"),
    (lambda: SparseFGSM(k=2.7), "k=2.7 must be an integer ≥ 1; it would be truncated to 2"),
    (lambda: SparseFGSM(k=True), "k=True"),
])
def test_bad_attack_settings_are_named_at_construction(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_negative_alpha_no_longer_makes_robust_accuracy_exceed_clean(trained_tiny):
    model, pool = trained_tiny
    x, y = pool.float_images(slice(0, 8)), pool.labels[:8]
    with pytest.raises(ValueError, match="alpha=-0.00784314"):
        PGD(eps=8 / 255, alpha=-2 / 255, steps=5)(model, x, y)


ATTACKS = {
    "FGSM": lambda model, x, y: FGSM(8 / 255)(model, x, y),
    "PGD": lambda model, x, y: PGD(8 / 255, 2 / 255, 2)(model, x, y),
    "SparseFGSM": lambda model, x, y: SparseFGSM(k=4, eps=1.0)(model, x, y),
    "sparse_fgsm_levels": lambda model, x, y: sparse_fgsm_levels(model, x, y, [1, 4]),
    "input_gradient": lambda model, x, y: input_gradient(model, x, y),
}


@pytest.mark.parametrize("name", ATTACKS)
def test_attack_inputs_must_be_4d_float_images_in_the_unit_interval(name, batch):
    model, x, y = batch
    attack = ATTACKS[name]
    normalised = (x - 0.5) / 0.25  # what a caller who normalises outside the model passes
    with pytest.raises(ValueError, match=r"inputs must be in \[0, 1\], got values in \[-2, 1.99.*inside the model"):
        attack(model, normalised, y)
    with pytest.raises(ValueError, match=r"inputs must be 4-D \(B, C, H, W\), got shape \(3, 8, 8\)"):
        attack(model, x[0], y[:1])
    with pytest.raises(ValueError, match="inputs must be floating point .* got dtype torch.uint8"):
        attack(model, (x * 255).to(torch.uint8), y)
    with pytest.raises(ValueError, match="labels must be a 1-D tensor of 6 class indices"):
        attack(model, x, y[:4])
    bad = x.clone()
    bad[0, 0, 0, 0] = math.nan
    with pytest.raises(ValueError, match=r"inputs must be in \[0, 1\], got values in \[nan"):
        attack(model, bad, y)
    attack(model, x, y)  # valid inputs still pass


def test_sparse_levels_must_be_a_nonempty_list_of_integers(batch):
    model, x, y = batch
    with pytest.raises(ValueError, match=r"ks=\[\] is empty"):
        sparse_fgsm_levels(model, x, y, [])
    with pytest.raises(ValueError, match="k=2.7 must be an integer"):
        sparse_fgsm_levels(model, x, y, [1, 2.7])


def test_per_sample_budgets_must_match_the_batch(batch):
    model, x, y = batch
    with pytest.raises(ValueError, match="eps holds 4 per-sample values for a batch of 6 inputs"):
        PGD(eps=torch.full((4,), 0.03), alpha=torch.full((4,), 0.01), steps=2)(model, x, y)


def test_boundary_distance_settings_are_checked_first(trained_tiny):
    """Before: eps_max=0 ran a bisection of PGD steps of size 0; iterations=2.5 died in range()."""
    model, pool = trained_tiny
    with pytest.raises(ValueError, match="eps_max=0 must be"):
        boundary_distance(model, pool, eps_max=0)
    with pytest.raises(ValueError, match="iterations=2.5 must be an integer"):
        boundary_distance(model, pool, iterations=2.5)


# C. selection


def test_nan_and_infinite_scores_cannot_be_ranked_first():
    """Before: torch sorts NaN as the largest value, so keep='top' kept the NaN samples first."""
    pool = synthetic_pool(n=40)
    scores = torch.arange(40, dtype=torch.float64)
    scores[[3, 7]] = math.nan
    with pytest.raises(ValueError, match=r"2 of 40 scores cannot be ranked with keep='top': 2 NaN \(dataset indices "
                                         rf"\[{int(pool.indices[3])}, {int(pool.indices[7])}\]\)"):
        select_by_score(pool, scores, 0.1, keep="top")
    series = pd.Series(scores.numpy(), index=pool.indices.numpy())
    with pytest.raises(ValueError, match=r"2 of the pool's 40 scores are NaN \(dataset indices"):  # before: "miss"
        select_by_score(pool, series, 0.1, keep="bottom")
    scores = torch.arange(40, dtype=torch.float64)
    scores[5] = math.inf
    with pytest.raises(ValueError, match=r"1 \+inf"):
        select_by_score(pool, scores, 0.1, keep="top", class_balanced=False)
    kept = select_by_score(pool, scores, 0.1, keep="bottom")  # +inf ranked last (DeepFool's unflipped samples)
    assert int(pool.indices[5]) not in kept.indices.tolist()


def test_a_selection_holds_each_index_once():
    with pytest.raises(ValueError, match=r"1 index appears more than once \(e.g. \[1\]\)"):
        Selection(torch.tensor([1, 1, 2]))
    with pytest.raises(ValueError, match="2 weights for 3 selected indices"):
        Selection(torch.tensor([1, 2, 3]), torch.ones(2))


@pytest.fixture(scope="module")
def proxy():
    pool = synthetic_pool(n=64)  # 16 per class
    per_sample = pd.DataFrame({"epoch": 0, "index": pool.indices.numpy(), "loss": 0.0, "correct": True})
    aign = pd.Series(torch.arange(len(pool)).double().numpy(), index=pool.indices.numpy())
    return bl.Proxy(TinyNet(seed=5).eval(), pool, per_sample, aign, 0.0, 1)


@pytest.mark.parametrize("method,params,message", [
    ("random", {"foo": 1}, r"'random' does not take foo=1: it takes no parameters of its own"),
    ("grand", {"repeats": 1, "repeets": 3}, r"does not take repeets=3 \(did you mean 'repeats'\?\): it takes repeats"),
    ("facility_location", {"lam": 0.5}, "does not take lam=0.5"),
    ("craig", {"pgd": {"steps": 2}}, "does not take pgd="),
    ("kcenter", {"neighbours": 5}, "does not take neighbours=5"),
    ("cal", {"neighbours": 0}, r"neighbours=0 must be ≥ 1 and ≤ 15"),
    ("cal", {"neighbours": 16}, r"neighbours=16 must be ≥ 1 and ≤ 15 .*has 16 samples"),
    ("cal", {"neighbours": 2.5}, "neighbours=2.5 must be an integer"),
    ("grand", {"repeats": 1.5}, "repeats=1.5 must be an integer"),
    ("deepfool", {"max_iter": 0}, "max_iter=0 must be ≥ 1"),
    ("deepfool", {"candidates": 0}, "candidates=0 must be ≥ 1"),
    ("glister", {"eta": math.nan}, "eta=nan"),
    ("graph_cut", {"lam": -1}, "lam=-1"),
    ("gradmatch", {"lam": -1.0}, "lam=-1"),
    ("craig_at_pgd", {"pgd": {"eps": 8 / 255, "alpha": -2 / 255}}, "alpha=-0.00784314"),
    ("isef_top", {"ks": []}, r"ks=\[\] is empty"),
    ("isef_top", {"weights": (1, 1, 1)}, r"does not take weights=\(1, 1, 1\): it takes ks, eps, alpha"),
    ("fgsm_cs_top", {"weights": (0.5, math.nan, 0.2)}, "w_unc=nan"),
    ("pss_bottom", {"ks": [1, 2.7]}, "k=2.7 must be an integer"),
])
def test_selection_parameters_are_checked_before_any_work(method, params, message, proxy):
    before = dict(proxy.memo)
    with pytest.raises(ValueError, match=message):
        bl.select_coreset(method, proxy, 0.25, **params)
    assert proxy.memo.keys() == before.keys()  # nothing was computed


def test_shared_and_valid_parameters_still_work(proxy):
    assert len(bl.select_coreset("random", proxy, 0.25, seed=3, class_balanced=False)) == 16
    assert len(bl.select_coreset("cal", proxy, 0.25, neighbours=15)) == 16
    assert bl.METHODS["grand"].params == ("repeats",) and bl.METHODS["isef_top"].params == ("ks", "eps", "alpha")
    with pytest.raises(ValueError, match="seed=0.5 must be an integer"):
        bl.select_coreset("random", proxy, 0.25, seed=0.5)


def test_proxy_epochs_are_not_truncated(tiny_fit):
    """Before: train_proxy(epochs=2.5) silently trained a 2-epoch proxy."""
    with pytest.raises(ValueError, match="epochs=2.5 must be an integer ≥ 1; it would be truncated to 2"):
        bl.train_proxy("tiny", synthetic_pool(n=16), 2.5, config=TrainConfig(lr=0.05, batch_size=8))


# ------------------------------------------------------------------ hostile inputs: one line, before any work

@pytest.mark.parametrize("argv, env, message", [
    (["--seeds", "0", "0"], {}, "--seeds names 0 more than once"),
    (["--fractions", "0.1", "0.1"], {}, "--fractions names 0.1 more than once"),
    (["--methods", "random", "random"], {}, "--methods names random more than once"),
    (["--methods", "all", "random"], {}, "'all' stands alone"),
    ([], {"RANK": "3", "WORLD_SIZE": "2"}, "RANK=3 must lie in [0, WORLD_SIZE=2)"),
    ([], {"WORLD_SIZE": "0"}, "WORLD_SIZE must be ≥ 1"),
    ([], {"RANK": "x"}, "must be integers (torchrun sets them)"),
    (["-p", "device", "cuda"], {}, "no CUDA device is visible"),
    (["-p", "device", "bogus"], {}, "device='bogus' must be auto, cpu, cuda, cuda:N or mps"),
    (["--seeds", "99999999999999999999"], {}, "must be integers in [0, 2^31)"),
    (["-p", "bench_epochs", "-3"], {}, "bench_epochs=-3 must be ≥ 1"),
])
def test_bad_benchmark_requests_end_in_one_error_line_before_any_data_loads(tmp_path, capsys, monkeypatch, argv, env,
                                                                            message):
    import corelib.__main__ as cli
    from corelib import experiments

    if "cuda" in argv and torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    ran = []
    monkeypatch.setattr(experiments, "benchmark_grid", lambda *a, **k: ran.append(1))
    monkeypatch.setattr(cli.experiments, "benchmark_grid", lambda *a, **k: ran.append(1))
    assert cli.main(["bench", "--profile", "smoke", "--out", str(tmp_path / "b.csv"), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    assert ran == []


@pytest.mark.parametrize("raised, status, message", [
    (KeyboardInterrupt(), 130, "interrupted; every finished cell is kept in"),
    ("integrity", 1, "test_batch: 3 labels outside 0..9"),
    (OSError(28, "could not write /x/results.csv: the disk is full"), 1, "could not write /x/results.csv"),
])
def test_a_run_that_stops_says_so_in_one_line(tmp_path, capsys, monkeypatch, raised, status, message):
    """Ctrl-C, a damaged data folder and a full disk during a run: one `error:` line (what was kept and how to
    resume, or what is wrong), not a traceback."""
    import corelib.__main__ as cli
    from corelib.data import DataIntegrityError

    error = DataIntegrityError("test_batch: 3 labels outside 0..9; restore the file") if raised == "integrity" else raised

    def stop(*a, **k):
        raise error

    monkeypatch.setattr(cli.experiments, "benchmark_grid", stop)
    assert cli.main(["bench", "--profile", "smoke", "--out", str(tmp_path / "b.csv")]) == status
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err


def test_budgets_above_the_pixel_range_are_refused_with_the_likely_meaning():
    from corelib.attacks import FGSM, PGD

    with pytest.raises(ValueError, match=r"eps=2 is larger than the whole pixel range.*2/255 = 0.0078"):
        FGSM(eps=2)
    with pytest.raises(ValueError, match=r"eps=8 is larger than the whole pixel range.*8/255"):
        PGD(eps=8, alpha=2)
    with pytest.raises(ValueError, match=r"alpha=2 is larger than the whole pixel range"):
        PGD(eps=8 / 255, alpha=2)
    FGSM(eps=1.0)  # the whole range is allowed (sparse FGSM saturates)


def test_the_api_refuses_a_boolean_fraction_a_negative_seed_and_an_empty_pool():
    from conftest import synthetic_pool

    proxy = bl.Proxy(torch.nn.Identity(), synthetic_pool(n=16), None, None, 0.0, 1)
    with pytest.raises(ValueError, match="fraction=True is not a number"):
        bl.select_coreset("random", proxy, fraction=True)
    with pytest.raises(ValueError, match="seed=-1 must be ≥ 0"):
        bl.select_coreset("random", proxy, 0.5, seed=-1)
    empty = bl.Proxy(torch.nn.Identity(), synthetic_pool(n=16).subset(torch.tensor([], dtype=torch.long)), None, None,
                     0.0, 1)
    with pytest.raises(ValueError, match="pool is empty"):
        bl.select_coreset("random", empty, 0.5)


@pytest.mark.parametrize("text, message", [("a: [1, 2\n", "is not valid YAML"), ("just a string\n", "holds a str")])
def test_a_broken_profile_is_named(tmp_path, text, message):
    from corelib.profiles import load_profile

    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "broken.yaml").write_text(text)
    with pytest.raises(ValueError, match=f"profiles/broken.yaml {message}"):
        load_profile("broken", tmp_path)


def test_a_full_disk_names_the_file_and_the_cache(tmp_path, monkeypatch):
    import errno
    import os

    import pandas as pd

    from corelib.cache import ArtifactCache
    from corelib.files import atomic_write_text

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(OSError, match=f"could not write {tmp_path / 'r.csv'}: the disk is full"):
        atomic_write_text(tmp_path / "r.csv", "a\n")
    assert list(tmp_path.iterdir()) == []  # no temporary file left
    with pytest.raises(OSError, match=r"the artifact cache \(.*\) could not store a scores: could not write"):
        ArtifactCache(tmp_path / "cache").dataframe("scores", {"k": 1}, lambda: pd.DataFrame({"a": [1.0]}))

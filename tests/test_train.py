import pytest
import torch
import torch.nn.functional as F

from conftest import TinyNet, synthetic_pool
from corelib.cache import ArtifactCache
from corelib.objectives import build_objective
from corelib.train import Hook, RecordPerSample, TrainConfig, fit, load_checkpoint, save_checkpoint, train

PLAIN = dict(augment=False, channels_last=False, momentum=0.0, nesterov=False, weight_decay=0.0, schedule="constant")


def test_same_seed_same_weights_different_seed_different():
    pool = synthetic_pool(n=96)
    runs = []
    for seed in (0, 0, 1):
        model = TinyNet(seed=0)
        train(model, pool, TrainConfig(epochs=2, batch_size=16, seed=seed, objective="fgsm_rs"))
        runs.append(model.state_dict())
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])
    assert not all(torch.equal(runs[0][k], runs[2][k]) for k in runs[0])


def test_one_step_follows_the_weighted_loss():
    """With one full batch and plain SGD, the update is -lr · ∇(Σγℓ / Σγ)."""
    pool = synthetic_pool(n=20)
    weights = torch.linspace(0.1, 2.0, 20)
    model, reference = TinyNet(seed=3), TinyNet(seed=3)
    train(model, pool, TrainConfig(epochs=1, batch_size=20, lr=0.5, **PLAIN), weights=weights)
    logits = reference(pool.float_images())
    loss = (weights * F.cross_entropy(logits, pool.labels, reduction="none")).sum() / weights.sum()
    loss.backward()
    for (name, p), q in zip(reference.named_parameters(), model.parameters()):
        assert torch.allclose(p.detach() - 0.5 * p.grad, q, atol=1e-6), name
    # scaling all weights changes nothing
    scaled = TinyNet(seed=3)
    train(scaled, pool, TrainConfig(epochs=1, batch_size=20, lr=0.5, **PLAIN), weights=weights * 7)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(model.parameters(), scaled.parameters()))


def test_subset_hooks_and_per_sample_stats_are_keyed_by_dataset_index():
    pool = synthetic_pool(n=40)
    subset = pool.indices[::3]
    recorder = RecordPerSample()
    starts = []

    class Spy(Hook):
        def on_epoch_start(self, state):
            starts.append((state.epoch, None if state.subset is None else len(state.subset)))

    result = train(TinyNet(), pool, TrainConfig(epochs=2, batch_size=8, augment=False), subset=subset,
                   hooks=[recorder, Spy()])
    table = recorder.table
    assert list(table.columns) == ["epoch", "index", "loss", "correct", "margin", "true_prob", "transition"]
    for epoch in (0, 1):
        seen = table[table.epoch == epoch]["index"]
        assert sorted(seen.tolist()) == sorted(subset.tolist())
    assert starts == [(0, len(subset)), (1, len(subset))]
    assert list(result.history.columns) == ["epoch", "lr", "samples", "train_loss", "train_acc", "seconds"]
    assert result.history["samples"].tolist() == [len(subset)] * 2


def test_hook_can_renew_the_subset_and_weights():
    pool = synthetic_pool(n=40)

    class Renew(Hook):
        def on_epoch_start(self, state):
            if state.epoch == 1:
                state.subset, state.weights = pool.indices[:10], torch.full((10,), 2.0)

    recorder = RecordPerSample()
    train(TinyNet(), pool, TrainConfig(epochs=2, batch_size=8), hooks=[Renew(), recorder])
    assert len(recorder.records[0].indices) == 40
    assert sorted(recorder.records[1].indices.tolist()) == pool.indices[:10].tolist()


def test_in_training_input_gradient_norm_equals_per_sample_autograd():
    pool = synthetic_pool(n=12)
    weights = torch.rand(12) + 0.5
    model, reference = TinyNet(seed=4), TinyNet(seed=4)
    recorder = RecordPerSample(input_grad=True)
    train(model, pool, TrainConfig(epochs=1, batch_size=12, **PLAIN), weights=weights, hooks=[recorder])
    record = recorder.records[0]
    expected = {}
    for i in range(12):
        x = pool.float_images(slice(i, i + 1)).requires_grad_(True)
        (g,) = torch.autograd.grad(F.cross_entropy(reference(x), pool.labels[i:i + 1]), x)
        expected[int(pool.indices[i])] = g.norm().item()
    got = dict(zip(record.indices.tolist(), record.input_grad_norm.tolist()))
    assert got == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("name,params", [("standard", {}), ("fgsm_rs", {"eps": 8 / 255}),
                                         ("pgd", {"steps": 3}), ("pgd", {"steps": 3, "norm": "l2", "eps": 0.5}),
                                         ("trades", {"steps": 3, "beta": 6.0})])
def test_adversarial_objectives_raise_the_loss(name, params, trained_tiny):
    model, pool = trained_tiny
    x, y = pool.float_images(slice(0, 64)), pool.labels[:64]
    clean = F.cross_entropy(model(x), y, reduction="none")
    loss, logits = build_objective(name, seed=0, **params)(model, x, y)
    assert loss.shape == (64,) and logits.shape == (64, 4)
    if name == "standard":
        assert torch.allclose(loss, clean)
    else:
        assert loss.mean() > clean.mean()
    if name == "trades":  # TRADES = CE(clean) + β·KL ≥ CE(clean), per sample
        assert torch.all(loss >= clean - 1e-5)


def test_learning_rate_schedules():
    cos = TrainConfig(epochs=10, lr=0.2, warmup_epochs=2)
    assert cos.lr_at(0) == 0 and cos.lr_at(1) == pytest.approx(0.1) and cos.lr_at(2) == pytest.approx(0.2)
    assert cos.lr_at(6) == pytest.approx(0.1) and cos.lr_at(10) == pytest.approx(0.0, abs=1e-12)
    step = TrainConfig(epochs=100, lr=0.1, schedule="multistep", milestones=(0.5, 0.75), gamma=0.1)
    assert [step.lr_at(e) for e in (0, 49.9, 50, 80)] == pytest.approx([0.1, 0.1, 0.01, 0.001])
    assert TrainConfig(schedule="constant", lr=0.3).lr_at(7) == 0.3


@pytest.mark.parametrize("kwargs,message", [({"objective": "mart"}, "unknown objective 'mart'"),
                                            ({"schedule": "linear"}, "unknown schedule 'linear'"),
                                            ({"epochs": 0}, "epochs=0")])
def test_bad_config_is_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**kwargs)


def test_bad_weights_are_named():
    pool = synthetic_pool(n=8)
    with pytest.raises(ValueError, match="3 weights for 8 training samples"):
        train(TinyNet(), pool, TrainConfig(epochs=1), weights=torch.ones(3))
    with pytest.raises(ValueError, match="non-negative"):
        train(TinyNet(), pool, TrainConfig(epochs=1), weights=-torch.ones(8))
    with pytest.raises(ValueError, match="bad parameters"):
        train(TinyNet(), pool, TrainConfig(epochs=1, objective="pgd", objective_params={"stepz": 3}))


def test_checkpoint_round_trip(tmp_path, trained_tiny):
    model, pool = trained_tiny
    path = save_checkpoint(tmp_path / "m.pt", model, {"epochs": 15, "note": "x"})
    fresh = TinyNet(seed=99)
    assert load_checkpoint(path, fresh) == {"epochs": 15, "note": "x"}
    x = pool.float_images(slice(0, 8))
    assert torch.equal(fresh.eval()(x), model(x))
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # no temporary file left behind


def test_fit_is_cached_by_configuration(tmp_path):
    pool = synthetic_pool(n=32)
    cache = ArtifactCache(tmp_path)
    config = TrainConfig(epochs=1, batch_size=16)
    first = fit("small_cnn", pool, config, cache=cache)
    second = fit("small_cnn", pool, config, cache=cache)
    assert len(cache.misses) == 1 and len(cache.hits) == 1
    assert all(torch.equal(a, b) for a, b in zip(first.model.state_dict().values(), second.model.state_dict().values()))
    assert second.history.equals(first.history)
    fit("small_cnn", pool, TrainConfig(epochs=1, batch_size=8), cache=cache)
    assert len(cache.misses) == 2


def test_bf16_precision_runs_with_autocast_and_changes_the_numbers():
    """The CUDA default (bf16 autocast) exercised on the CPU: losses stay finite, the model learns, and the run
    really is in bf16 (its losses differ from the fp32 run's, which `precision='auto'` reproduces on the CPU)."""
    pool = synthetic_pool(n=64)

    def run(precision):
        config = TrainConfig(epochs=6, batch_size=16, lr=0.05, precision=precision, augment=False, channels_last=False)
        return train(TinyNet(seed=0), pool, config).history["train_loss"]

    bf16, fp32, auto = run("bf16"), run("fp32"), run("auto")
    assert torch.isfinite(torch.tensor(bf16.tolist())).all()
    assert bf16.iloc[-1] < bf16.iloc[0]
    assert not bf16.equals(fp32) and auto.equals(fp32)


def test_precision_resolution_and_description():
    from corelib.utils import precision_description, resolve_precision

    assert resolve_precision("auto", "cpu") == "fp32" and resolve_precision("bf16", "cpu") == "bf16"
    assert resolve_precision("auto", "cuda") == "bf16" and resolve_precision("fp32", "cuda") == "fp32"
    assert precision_description("fp32", "cpu") == "fp32"
    assert "fp32" in precision_description("bf16", "cpu") and "bf16 autocast" in precision_description("bf16", "cpu")
    with pytest.raises(ValueError, match="precision='half'"):
        resolve_precision("half", "cpu")


def test_fit_cache_key_holds_hook_settings_and_the_code_of_the_hook_module(tmp_path, monkeypatch):
    from corelib import utils
    from corelib.easycore import AIGN

    pool = synthetic_pool(n=16)
    cache = ArtifactCache(tmp_path)
    config = TrainConfig(epochs=1, batch_size=8)
    for _ in range(2):  # a plain recorder enters the key by its settings, so a second run is a hit
        fit("small_cnn", pool, config, cache=cache, recorders={"r": RecordPerSample()})
        fit("small_cnn", pool, config, cache=cache, recorders={"a": AIGN("exact")})
    assert len(cache.misses) == 2 and len(cache.hits) == 2
    fit("small_cnn", pool, config, cache=cache, recorders={"a": AIGN("exact", every=2)})
    assert len(cache.misses) == 3  # another setting of the hook
    real = utils.code_hash
    monkeypatch.setattr("corelib.cache.code_hash", lambda modules="corelib": real(modules) + (
        "-edited" if "corelib.easycore" in utils.import_closure(modules) else ""))  # as if hardness.py were edited
    fit("small_cnn", pool, config, cache=cache, recorders={"r": RecordPerSample()})
    assert len(cache.misses) == 3  # the trainer does not import hardness: still a hit
    fit("small_cnn", pool, config, cache=cache, recorders={"a": AIGN("exact")})
    assert len(cache.misses) == 4  # the AIGN hook's module changed: retrained


def test_trades_loss_keeps_a_finite_gradient_when_a_probability_underflows():
    """A clean logit gap above ~100 makes softmax give an exact 0; kl_div with that target has a NaN gradient
    (what made a chapter-6 TRADES run diverge). The loss from log-probabilities has the same value, finite
    gradients, and equals the closed form Σ p (log p − log q) on ordinary logits."""
    from corelib.objectives import TRADES

    class Fixed(torch.nn.Module):  # logits = scale × (channel means − 0.5)
        def __init__(self, scale):
            super().__init__()
            self.scale = torch.nn.Parameter(torch.tensor(scale))

        def forward(self, x):
            return self.scale * (x.mean((2, 3)) - 0.5)

    x = torch.tensor([[1.0, 0.0, 0.2]]).view(1, 3, 1, 1).repeat(1, 1, 2, 2)
    y = torch.tensor([0])
    for scale, finite_before in ((300.0, False), (2.0, True)):
        model = Fixed(scale)
        loss, _ = TRADES(beta=6.0, eps=8 / 255, alpha=2 / 255, steps=2, seed=0)(model, x, y)
        (grad,) = torch.autograd.grad(loss.sum(), model.scale)
        assert torch.isfinite(loss).all() and torch.isfinite(grad).all()
        x_adv = (x + torch.tensor([-8.0, 8.0, 8.0]).view(1, 3, 1, 1) / 255).clamp(0, 1)
        old = F.kl_div(F.log_softmax(model(x_adv), 1), F.softmax(model(x), 1), reduction="sum")  # the official form
        assert bool(torch.isfinite(torch.autograd.grad(old, model.scale)[0])) == finite_before
    z, z_adv = torch.tensor([[2.0, -1.0, 0.5]]), torch.tensor([[1.0, 0.0, 0.3]])
    p, log_p, log_q = z.softmax(1), z.log_softmax(1), z_adv.log_softmax(1)
    ours = F.kl_div(log_q, log_p, reduction="none", log_target=True).sum(1)
    assert torch.allclose(ours, (p * (log_p - log_q)).sum(1), atol=1e-7)

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from conftest import TinyNet, synthetic_pool
from corelib.data import Pool
from corelib.easycore import AIGN, aign_series, boundary_distance, easycore, input_gradient_norms
from corelib.train import RecordPerSample, TrainConfig, fit, train

PLAIN = dict(augment=False, channels_last=False, momentum=0.0, nesterov=False, weight_decay=0.0, schedule="constant")


def test_exact_aign_equals_per_sample_autograd():
    pool = synthetic_pool(n=24)
    model = TinyNet(seed=1)
    hook = AIGN("exact", every=3)
    train(model, pool, TrainConfig(epochs=3, batch_size=8, **PLAIN), hooks=[hook])
    table = hook.table
    assert table["passes"].tolist() == [1] * 24  # every=3 over 3 epochs: one pass, after the last epoch
    model.eval()
    expected = []
    for i in range(24):
        x = pool.float_images(slice(i, i + 1)).requires_grad_(True)
        (g,) = torch.autograd.grad(F.cross_entropy(model(x), pool.labels[i:i + 1]), x)
        expected.append(g.norm().item())
    assert table["aign"].tolist() == pytest.approx(expected, rel=1e-4)
    assert table["index"].tolist() == pool.indices.tolist()


def test_in_training_aign_averages_the_step_gradients_by_index():
    pool = synthetic_pool(n=30)
    hook, recorder = AIGN("in_training"), RecordPerSample(input_grad=True)
    train(TinyNet(seed=2), pool, TrainConfig(epochs=3, batch_size=7), hooks=[hook, recorder])
    expected = recorder.table.groupby("index")["input_grad_norm"].mean()
    got = aign_series(hook.table)
    assert got.index.tolist() == expected.index.tolist()
    assert got.tolist() == pytest.approx(expected.tolist(), rel=1e-6)
    assert (hook.table["passes"] == 3).all()


def test_fit_caches_the_recorded_tables(tmp_path):
    from corelib.cache import ArtifactCache

    pool, cache = synthetic_pool(n=32), ArtifactCache(tmp_path)
    config = TrainConfig(epochs=2, batch_size=16)
    first = fit("small_cnn", pool, config, recorders={"aign": AIGN("exact", every=1)}, cache=cache)
    second = fit("small_cnn", pool, config, recorders={"aign": AIGN("exact", every=1)}, cache=cache)
    assert len(cache.hits) == 1 and second.tables["aign"].equals(first.tables["aign"])
    fit("small_cnn", pool, config, recorders={"aign": AIGN("exact", every=2)}, cache=cache)
    assert len(cache.misses) == 2  # another recorder configuration is another artifact


def test_easycore_keeps_the_lowest_aign_per_class():
    pool = synthetic_pool(n=40)
    aign = pd.Series(torch.arange(40, 0, -1).double().numpy(), index=pool.indices.numpy())  # later = easier
    sel = easycore(pool, aign, 0.2)
    assert sorted(pool.positions(sel.indices).tolist()) == list(range(32, 40))
    assert torch.bincount(pool.subset(sel.indices).labels).tolist() == [2, 2, 2, 2]
    assert torch.equal(sel.indices, easycore(pool, aign, 0.2).indices)
    unbalanced = easycore(pool, aign, 0.1, class_balanced=False)
    assert sorted(pool.positions(unbalanced.indices).tolist()) == [36, 37, 38, 39]


def test_bad_hardness_input_is_named():
    pool = synthetic_pool(n=40)
    with pytest.raises(ValueError, match="unknown AIGN mode 'average'"):
        AIGN("average")
    with pytest.raises(ValueError, match="every=0"):
        AIGN("exact", every=0)
    partial = pd.Series(1.0, index=pool.indices.numpy()[:30])
    with pytest.raises(ValueError, match="miss 10 of the pool's 40 samples"):
        easycore(pool, partial, 0.5)
    with pytest.raises(ValueError, match="fraction 1.5 is outside"):
        easycore(pool, pd.Series(1.0, index=pool.indices.numpy()), 1.5)


class Linear2(nn.Module):
    def __init__(self, w, b):
        super().__init__()
        self.w, self.b = nn.Parameter(w), nn.Parameter(b)

    def forward(self, x):
        return x.flatten(1) @ self.w.T + self.b


def test_boundary_distance_matches_the_linear_closed_form():
    torch.manual_seed(0)
    w, b = torch.randn(2, 12), torch.zeros(2)
    images = 0.3 + 0.4 * torch.rand(16, 3, 2, 2)
    logits = images.flatten(1) @ w.T
    labels = logits.argmax(1)  # every sample correct when clean
    pool = Pool((images * 255).round().to(torch.uint8), labels, torch.arange(16) * 2, "train", "linear", 2)
    x = pool.float_images()
    margin = (x.flatten(1) @ w.T).gather(1, labels[:, None]).squeeze(1) - (x.flatten(1) @ w.T).gather(1, 1 - labels[:, None]).squeeze(1)
    true = margin / (w[0] - w[1]).abs().sum()  # ℓ∞ distance to the hyperplane (no clipping inside [0.3, 0.7] ± 0.2)
    eps_max, iterations = 0.2, 12
    table = boundary_distance(Linear2(w, b), pool, eps_max=eps_max, iterations=iterations, steps=5)
    inside = (true < eps_max).numpy()
    assert inside.sum() >= 4
    got = table["distance"].to_numpy()
    assert abs(got[inside] - true.numpy()[inside]).max() <= eps_max / 2 ** iterations + 1e-5
    assert table["censored"].to_numpy().tolist() == (~inside).tolist()
    assert table["index"].tolist() == pool.indices.tolist()


def test_input_gradient_norms_are_batch_independent():
    pool = synthetic_pool(n=20)
    model = TinyNet(seed=3).eval()
    assert torch.allclose(input_gradient_norms(model, pool, 7), input_gradient_norms(model, pool, 20), rtol=1e-5)


def test_in_training_aign_under_trades_is_the_clean_cross_entropy_gradient():
    # AIGN is ‖∇ₓ CE(f(x), y)‖; under TRADES the step's loss is CE + β·KL, whose gradient must not be recorded
    import torch.nn.functional as F

    from conftest import TinyNet, synthetic_pool
    from corelib.train import RecordPerSample, TrainConfig, train

    pool = synthetic_pool(n=16)
    model = TinyNet(seed=4)
    before = TinyNet(seed=4)
    recorder = RecordPerSample(input_grad=True)
    config = TrainConfig(epochs=1, batch_size=16, lr=0.0, augment=False, channels_last=False, objective="trades",
                         objective_params={"beta": 6.0, "steps": 2})
    train(model, pool, config, hooks=[recorder])
    record = recorder.records[0]
    x = pool.float_images(pool.positions(record.indices)).requires_grad_(True)
    y = pool.labels[pool.positions(record.indices)]
    (grad,) = torch.autograd.grad(F.cross_entropy(before(x), y, reduction="sum"), x)
    assert torch.allclose(record.input_grad_norm, grad.flatten(1).norm(dim=1), rtol=1e-4, atol=1e-7)


def test_robustness_by_hardness_bins_correct_samples_by_aign_rank():
    from corelib.experiments import robustness_by_hardness
    # ten correct samples with AIGN 1..10 and distances chosen so that the two easiest are robust at 8/255
    aign = np.arange(1.0, 11.0)
    distance = np.array([20, 16, 4, 4, 2, 2, 1, 1, 0.5, 0.5]) / 255
    table = pd.DataFrame({"index": np.arange(10), "aign": aign, "distance": distance, "clean_correct": True})
    wrong = pd.DataFrame({"index": [10], "aign": [0.1], "distance": [0.0], "clean_correct": [False]})
    out = robustness_by_hardness(pd.concat([table, wrong]), eps=8 / 255)
    assert list(out.index.astype(str)) == ["1 (easiest)", "2", "3", "4", "5 (hardest)"]
    assert out.samples.tolist() == [2, 2, 2, 2, 2]                       # the misclassified sample is left out
    np.testing.assert_allclose(out.robust_at_eps.to_numpy(), [1.0, 0, 0, 0, 0])
    np.testing.assert_allclose(out.median_distance_255.to_numpy(), [18, 4, 2, 1, 0.5])


def test_robustness_by_hardness_survives_a_model_that_gets_few_or_none_right():
    from corelib.experiments import robustness_by_hardness
    few = pd.DataFrame({"index": [0, 1, 2], "aign": [3.0, 1.0, 2.0], "distance": [0.0, 0.1, 0.05],
                        "clean_correct": [True, True, False]})
    out = robustness_by_hardness(few, eps=8 / 255)
    assert out.samples.tolist() == [1, 1] and out.robust_at_eps.tolist() == [1.0, 0.0]   # easiest first
    none = robustness_by_hardness(few.assign(clean_correct=False), eps=8 / 255)
    assert len(none) == 0 and list(none.columns) == ["samples", "median_distance_255", "robust_at_eps"]
    with pytest.raises(ValueError, match="aign"):
        robustness_by_hardness(few.drop(columns="aign"), eps=8 / 255)

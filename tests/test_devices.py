"""The same code on an accelerator: every kernel the book runs is device-agnostic, and this file proves it wherever a
CUDA (or Apple MPS) device is present, by computing each step on the CPU and on the device from the same inputs and
comparing. On a CPU-only machine (CI) every test here is skipped: the CPU results are what the rest of the suite
checks. Run it on a GPU with `python -m pytest tests/test_devices.py -v`.

Tolerances: fp32 on the device with TF32 turned off (matrix and convolution units otherwise round to 10 bits),
so differences are reduction-order rounding; discrete choices made from floats (top-k masks, greedy selections)
may flip where two values tie to within that rounding, so those are compared by agreement rates, not bit for bit.
"""
from __future__ import annotations

import copy
import os
from dataclasses import replace

import pytest
import torch

from corelib import methods, scores
from corelib.attacks import FGSM, PGD, AutoAttack, sparse_fgsm_levels
from corelib.evaluate import robust_accuracy
from corelib.models import build_model
from corelib.sensitivity import sensitivity_table
from corelib.train import TrainConfig, fit

from conftest import synthetic_pool

# CORELIB_TEST_DEVICES=cpu runs the comparisons CPU against CPU: a check of this file's own logic
ACCELERATORS = (os.environ["CORELIB_TEST_DEVICES"].split(",") if os.environ.get("CORELIB_TEST_DEVICES") else
                [d for d, present in (("cuda", torch.cuda.is_available()),
                                      ("mps", getattr(torch.backends, "mps", None) is not None
                                       and torch.backends.mps.is_available())) if present])
pytestmark = pytest.mark.skipif(not ACCELERATORS, reason="no CUDA or MPS device: the CPU suite covers this machine")


@pytest.fixture(params=ACCELERATORS or ["none"])
def device(request):
    if request.param == "cuda":
        matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
        yield torch.device("cuda")
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn
    else:
        yield torch.device(request.param)


def _images(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, 32, 32, generator=g), torch.randint(0, 10, (n,), generator=g)


def _pair(name, device, seed=0):
    cpu = build_model(name, seed=seed).eval()
    dev = build_model(name, seed=seed, device=device).eval()
    return cpu, dev


def _rel(a, b):
    a, b = a.double().cpu(), b.double().cpu()
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


@pytest.mark.parametrize("name", ["small_cnn", "resnet18"])
def test_models_compute_the_same_function(device, name):
    cpu, dev = _pair(name, device)
    assert all(torch.equal(p.cpu(), q) for p, q in zip(dev.parameters(), cpu.parameters())), "same seed, same weights"
    x, _ = _images()
    with torch.no_grad():
        assert _rel(dev(x.to(device)), cpu(x)) < 1e-5


def test_attacks_agree_with_the_cpu(device):
    cpu, dev = _pair("small_cnn", device)
    x, y = _images()
    xd, yd = x.to(device), y.to(device)
    eps = 8 / 255
    a_cpu, a_dev = FGSM(eps)(cpu, x, y), FGSM(eps)(dev, xd, yd)
    assert (a_dev.cpu() == a_cpu).float().mean() > 0.999  # a sign can flip only where the gradient is ~0
    pgd = PGD(eps, 2 / 255, steps=5, random_start=False)
    p_cpu, p_dev = pgd(cpu, x, y), pgd(dev, xd, yd)
    assert p_dev.device.type == device.type
    delta = (p_dev - xd).abs().max().item()
    assert delta <= eps + 1e-6 and p_dev.min() >= 0 and p_dev.max() <= 1
    assert (p_dev.cpu() - p_cpu).abs().mean() < 1e-3
    # seeded random starts draw the same noise on either device
    r = PGD(eps, 2 / 255, steps=3, seed=5)
    assert torch.allclose(r(dev, xd, yd).cpu(), PGD(eps, 2 / 255, steps=3, seed=5)(cpu, x, y), atol=2 / 255)
    levels_cpu, _ = sparse_fgsm_levels(cpu, x, y, [1, 4, 16, 64])
    levels_dev, _ = sparse_fgsm_levels(dev, xd, yd, [1, 4, 16, 64])
    changed_cpu, changed_dev = levels_cpu != x.unsqueeze(0), levels_dev.cpu() != x.unsqueeze(0)
    assert (changed_cpu == changed_dev).float().mean() > 0.999
    assert changed_dev.flatten(2).sum(2).max() <= 64


def test_autoattack_is_seeded_and_no_weaker_than_pgd(device):
    torch.manual_seed(0)
    pool = synthetic_pool(n=128, num_classes=10, size=32, seed=1, noise=0.3)
    model = fit("small_cnn", pool.to(device), TrainConfig(epochs=3, batch_size=32, lr=0.01, warmup_epochs=1, precision="fp32")).model.eval()
    test = pool.to(device)
    aa = AutoAttack(4 / 255, version="ci", steps=10, targets=2, seed=3)
    first, second = robust_accuracy(model, test, aa), robust_accuracy(model, test, aa.reseeded(3))
    assert first == second
    assert first <= robust_accuracy(model, test, PGD(4 / 255, 1 / 255, steps=10, seed=0)) + 1e-9


def test_sensitivity_scores_agree_with_the_cpu(device):
    pool = synthetic_pool(n=96, num_classes=10, size=32, seed=2)
    cpu, dev = _pair("small_cnn", device)
    t_cpu = sensitivity_table(cpu, pool, batch_size=32)
    t_dev = sensitivity_table(dev, pool.to(device), batch_size=32)
    probs = [c for c in t_cpu.columns if c.startswith("p")]
    assert (t_dev[["index", "label", "k"]].values == t_cpu[["index", "label", "k"]].values).all()
    diff = (t_dev[probs].values - t_cpu[probs].values).__abs__()
    assert diff.mean() < 1e-4 and diff.max() < 0.05
    for scheme in ("isef", "fgsm_cs", "pss"):
        s_cpu, s_dev = scores.score(t_cpu, scheme), scores.score(t_dev, scheme)
        assert s_cpu.rank(pct=True).corr(s_dev.rank(pct=True)) > 0.99, scheme


def test_training_on_the_device_learns_with_bf16_and_channels_last(device):
    pool = synthetic_pool(n=256, num_classes=10, size=32, seed=3).to(device)
    config = TrainConfig(epochs=4, batch_size=32, lr=0.01, warmup_epochs=1, precision="auto", channels_last=True)
    first = fit("small_cnn", pool, config)
    again = fit("small_cnn", pool, config)
    losses = first.history["train_loss"]
    assert torch.isfinite(torch.tensor(losses.values)).all()
    assert losses.iloc[-1] < losses.iloc[0]
    with torch.no_grad():
        acc = (first.model(pool.float_images()).argmax(1) == pool.labels).float().mean().item()
    assert acc > 0.5, f"train accuracy {acc:.2f} after 4 epochs on a separable pool"
    assert abs(again.history["train_loss"].iloc[-1] - losses.iloc[-1]) < 0.05 * abs(losses.iloc[0])  # same seed, same run (rounding)


def test_every_selection_method_runs_on_the_device_and_agrees_with_the_cpu(device):
    pool = synthetic_pool(n=200, num_classes=10, size=32, seed=4, noise=0.3)
    proxy = methods.train_proxy("small_cnn", pool, epochs=2, seed=0, config=TrainConfig(lr=0.05, batch_size=32, precision="fp32"))
    on_device = replace(proxy, model=copy.deepcopy(proxy.model).to(device), pool=pool.to(device), memo={},
                        training={**proxy.training})
    overlaps = {}
    for method in methods.METHODS:
        params = {"repeats": 2} if method == "grand" else {}
        a = methods.select_coreset(method, proxy, 0.2, seed=0, **params)
        b = methods.select_coreset(method, on_device, 0.2, seed=0, **params)
        assert len(b.indices) == len(a.indices) == 40, method
        assert set(b.indices.tolist()) <= set(pool.indices.tolist()), method
        assert torch.bincount(pool.labels[pool.positions(b.indices)], minlength=10).tolist() == [4] * 10, method
        if b.weights is not None:
            assert torch.isfinite(b.weights).all() and (b.weights >= 0).all(), method
        overlaps[method] = len(set(a.indices.tolist()) & set(b.indices.tolist())) / len(a.indices)
    assert overlaps["random"] == 1.0
    # a device bug (an index mix-up, a wrong reduction) leaves about the fraction, 0.2, of chance overlap
    low = {m: round(v, 2) for m, v in overlaps.items() if v < 0.7}
    assert not low, f"selections that differ between the CPU and {device.type} beyond rounding: {low}"

import itertools
import math
import sys

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from conftest import TinyNet, synthetic_pool
from corelib import methods as bl
from corelib.train import TrainConfig
from corelib.data import Pool
from corelib.models import linear_gradients
from corelib.coreset_solvers import cosine_similarity_matrix, facility_location_greedy, graph_cut_greedy, herding, k_center
from corelib.sampling import coreset_size


class FixedLogits(nn.Module):
    """logits = 10 · (the first C input values): probabilities and boundary distances are known in closed form."""

    def __init__(self, num_classes=4):
        super().__init__()
        self.linear = nn.Linear(num_classes, num_classes)
        with torch.no_grad():
            self.linear.weight.copy_(10 * torch.eye(num_classes))
            self.linear.bias.zero_()
        self.c = num_classes

    def features(self, x):
        return x.flatten(1)[:, :self.c]

    def forward(self, x):
        return self.linear(self.features(x))


def _fixed_pool(values, labels):
    """A pool whose images carry `values` in their first entries (uint8 / 255)."""
    n = len(values)
    images = torch.full((n, 3, 2, 2), 128, dtype=torch.uint8)
    flat = images.view(n, -1)
    flat[:, :len(values[0])] = (torch.tensor(values) * 255).round().to(torch.uint8)
    return Pool(images, torch.tensor(labels), 5 * torch.arange(n) + 1, "train", "synthetic", 4)


def _proxy(pool, model, per_sample=None, aign=None):
    per_sample = per_sample if per_sample is not None else pd.DataFrame(
        {"epoch": 0, "index": pool.indices.numpy(), "loss": 0.0, "correct": True})
    aign = aign if aign is not None else pd.Series(torch.arange(len(pool)).double().numpy(), index=pool.indices.numpy())
    return bl.Proxy(model.eval(), pool, per_sample, aign, 0.0, 1)


def test_herding_matches_the_mean_greedily():
    f = torch.tensor([[0.0], [10.0], [4.0], [6.0]])  # mean 5
    chosen = herding(f, 2)
    assert chosen.tolist() == [2, 3]  # 4 is (one of) the closest to 5; then 6 makes the mean exactly 5
    assert f[chosen].mean() == 5


def test_k_center_covers_far_points_first():
    f = torch.tensor([[0.0], [1.0], [2.0], [10.0], [11.0]])
    chosen = k_center(lambda j: (f - f[j]).norm(dim=1), 5, 3, first=0)
    assert chosen.tolist() == [0, 4, 2]  # farthest from 0 is 11; then 2 (distance 2) beats 1 and 10 (distance 1)


def test_facility_location_and_graph_cut_greedy_against_brute_force():
    g = torch.randn(7, 3, generator=torch.Generator().manual_seed(0))
    sim = cosine_similarity_matrix(g)
    assert (sim >= -1e-12).all()
    value = lambda s: float(sim[:, list(s)].max(1).values.sum())
    chosen = facility_location_greedy(sim, 3)
    best = max(value(s) for s in itertools.combinations(range(7), 3))
    assert value(chosen.tolist()) >= (1 - 1 / math.e) * best
    for lam in (0.5, 1.0, 3.0):  # DeepCore's parameterisation: F(S) = λ·coverage − within-set similarity
        cut = lambda s: float(lam * sim[:, list(s)].sum() - sim[list(s)][:, list(s)].sum())
        picks = graph_cut_greedy(sim, 3, lam=lam).tolist()
        for i in range(3):  # every greedy step takes the largest marginal gain of the graph-cut function
            gains = {j: cut(picks[:i] + [j]) - (cut(picks[:i]) if i else 0.0) for j in range(7) if j not in picks[:i]}
            assert gains[picks[i]] == pytest.approx(max(gains.values()))


def test_graph_cut_lambda_weights_coverage_as_in_deepcore():
    # DeepCore's gain: λ·Σᵢ sim(i, j) − 2·Σ_{s∈S} sim(s, j). Samples 0–2 are near-duplicates at the centre of the
    # data, 3 is off on its own: a large λ (coverage) takes two central samples, a small λ (diversity) the outlier
    sim = torch.tensor([[2.0, 1.9, 1.9, 0.2, 1.0], [1.9, 2.0, 1.9, 0.2, 1.0], [1.9, 1.9, 2.0, 0.2, 1.0],
                        [0.2, 0.2, 0.2, 2.0, 0.3], [1.0, 1.0, 1.0, 0.3, 2.0]], dtype=torch.float64)
    def deepcore(lam, k):
        chosen = []
        for _ in range(k):
            gain = lam * sim.sum(0) - 2 * sim[chosen].sum(0)
            gain[chosen] = -math.inf
            chosen.append(int(gain.argmax()))
        return chosen
    for lam in (0.2, 1.0, 5.0):
        assert graph_cut_greedy(sim, 3, lam).tolist() == deepcore(lam, 3)
    assert 3 in graph_cut_greedy(sim, 2, 0.2).tolist() and 3 not in graph_cut_greedy(sim, 2, 5.0).tolist()


def _forgetting_by_hand(correct: np.ndarray) -> np.ndarray:
    """DeepCore's forgetting.py, restated: counters start at 0 with `last_acc` 0, and a sample's counter grows when
    it was correct at its previous presentation and is wrong now (correct: epochs × samples)."""
    events, last = np.zeros(correct.shape[1]), np.zeros(correct.shape[1])
    for now in correct.astype(float):
        events[(last - now) > 0.01] += 1
        last = now
    return events


def test_forgetting_counts_correct_to_incorrect_transitions_as_deepcore_by_default():
    rng = np.random.default_rng(0)
    correct = (rng.random((6, 40)) < 0.6).astype(int)
    correct[:, :5] = 0  # five samples never learned
    table = pd.DataFrame({"epoch": np.repeat(np.arange(6), 40), "index": np.tile(np.arange(100, 140), 6),
                          "correct": correct.reshape(-1)}).sample(frac=1, random_state=0)  # row order must not matter
    events = bl.training_dynamics.forgetting_events(table)
    np.testing.assert_array_equal(events.sort_index().to_numpy(), _forgetting_by_hand(correct))
    assert (events.loc[100:104] == 0).all()  # never learned: 0 events, as DeepCore counts them
    toneva = bl.training_dynamics.forgetting_events(table, never_learned="toneva")
    assert (toneva.loc[100:104] == events.max() + 1).all() and toneva.loc[105:].equals(events.loc[105:])
    with pytest.raises(ValueError, match="never_learned='infinite'"):
        bl.training_dynamics.forgetting_events(table, never_learned="infinite")


def test_uncertainty_scores_prefer_the_uncertain_and_deepfool_the_boundary():
    values = [[0.9, 0.1, 0.1, 0.1], [0.5, 0.45, 0.1, 0.1], [0.6, 0.3, 0.3, 0.1], [0.8, 0.2, 0.1, 0.1]]
    pool = _fixed_pool(values, [0, 0, 0, 0])
    proxy = _proxy(pool, FixedLogits())
    for method in ("least_confidence", "entropy", "margin"):
        sel = bl.select_coreset(method, proxy, 0.25)
        assert sel.indices.tolist() == [6], method  # sample 1 (index 6): two nearly tied classes
        assert sel.config["forward"] == 4 and sel.config["backward"] == 0
    x = pool.float_images()[:, 0].flatten(1)[:, :4]
    distances = bl.boundary.deepfool_distances(proxy.model, pool, max_iter=5, overshoot=0.0, candidates=3)
    # a linear model: the ℓ2 distance to the nearest boundary is min_k (x_y − x_k)/√2
    expected = ((x[:, :1] - x[:, 1:]) / math.sqrt(2)).min(1).values
    assert torch.allclose(distances, expected, rtol=1e-3, atol=1e-3)
    assert bl.select_coreset("deepfool", proxy, 0.25).indices.tolist() == [6]


def test_moderate_keeps_distances_nearest_the_median():
    values = [[0.5, 0.5, 0.5, 0.5], [0.6, 0.5, 0.5, 0.5], [0.7, 0.5, 0.5, 0.5], [0.9, 0.5, 0.5, 0.5],
              [1.0, 0.5, 0.5, 0.5]]
    pool = _fixed_pool(values, [1] * 5)
    sel = bl.select_coreset("moderate", _proxy(pool, FixedLogits()), 0.2)
    # centre 0.74: distances to it .24 .14 .04 .16 .26, median .16: sample 3 (dataset index 16) is the median
    assert sel.indices.tolist() == [16]


@pytest.fixture(scope="module")
def tiny_proxy():
    """A TinyNet proxy trained on a synthetic pool through `train_proxy` (with its records)."""
    models = sys.modules["corelib.train"]  # fit builds its model through corelib.train.build_model

    original = models.build_model
    models.build_model = lambda name, num_classes, seed, device, channels_last: TinyNet(num_classes, seed=seed)
    try:
        return bl.train_proxy("tiny", synthetic_pool(n=80, seed=2), epochs=3, seed=0, config=TrainConfig(lr=0.05, batch_size=16))
    finally:
        models.build_model = original


@pytest.mark.parametrize("method", sorted(bl.METHODS))
def test_every_method_is_class_balanced_exact_deterministic_and_counts_passes(method, tiny_proxy, monkeypatch):
    monkeypatch.setattr(sys.modules["corelib.train"], "build_model",  # dyn_unc_adv trains an adversarial TinyNet
                        lambda name, num_classes, seed, device, channels_last: TinyNet(num_classes, seed=seed))
    pool = tiny_proxy.pool
    params = {"max_iter": 3} if method == "deepfool" else {"pgd": {"eps": 8 / 255, "alpha": 4 / 255, "steps": 2}} \
        if method.endswith("_at_pgd") else {"repeats": 1} if method in ("grand", "el2n") else \
        {"objective": "fgsm_rs", "objective_params": {"eps": 8 / 255}} if method == "dyn_unc_adv" else {}
    a = bl.select_coreset(method, tiny_proxy, 0.3, seed=1, **params)
    b = bl.select_coreset(method, tiny_proxy, 0.3, seed=1, **params)
    k = coreset_size(len(pool), 0.3)
    assert len(a) == k  # weighted matching that stops early fills up to k (GradMatch's random fill, weight 1)
    assert a.weights is None or (a.weights > 0).all()
    assert torch.equal(a.indices, b.indices) and len(set(a.indices.tolist())) == len(a)
    assert set(a.indices.tolist()) <= set(pool.indices.tolist())
    counts = torch.bincount(pool.labels[pool.positions(a.indices)], minlength=4)
    if a.weights is None:
        assert counts.max() - counts.min() <= 1  # 24 of 80 samples, 20 per class: 6 each
    assert a.seconds >= 0 and a.method == method
    free = method in ("random", "forgetting", "easycore", "aum", "dyn_unc", "ccs", "tdds")  # read off the proxy's training run
    assert (a.config["forward"] == 0) == free and a.config["backward"] >= 0
    assert a.config["forward_passes"] == a.config["forward"] / len(pool)


def test_proxy_records_forgetting_and_aign(tiny_proxy):
    assert set(tiny_proxy.per_sample["epoch"]) == {0, 1, 2} and len(tiny_proxy.per_sample) == 3 * 80
    assert len(tiny_proxy.aign) == 80 and (tiny_proxy.aign > 0).all()
    assert tiny_proxy.passes.forward == tiny_proxy.passes.backward == 3 * 80


def test_glister_first_pick_aligns_with_the_class_gradient(tiny_proxy):
    from corelib.adversarial_coreset import selection_gradients

    sel = bl.select_coreset("glister", tiny_proxy, 0.05, seed=0)  # 4 samples: one per class
    grads = selection_gradients(tiny_proxy.model, tiny_proxy.pool, "standard").double()
    labels = tiny_proxy.pool.labels
    for c in range(4):
        members = torch.nonzero(labels == c).flatten()
        best = members[torch.argmax(grads[members] @ grads[members].mean(0))]
        assert int(tiny_proxy.pool.indices[best]) in sel.indices.tolist()


def test_bad_selection_requests_are_named(tiny_proxy):
    with pytest.raises(ValueError, match="unknown selection method 'kmeans'"):
        bl.select_coreset("kmeans", tiny_proxy, 0.1)
    with pytest.raises(ValueError, match="fraction 0 is outside"):
        bl.select_coreset("random", tiny_proxy, 0)
    with pytest.raises(ValueError, match="fraction 1.5 is outside"):
        bl.select_coreset("herding", tiny_proxy, 1.5)
    with pytest.raises(ValueError, match="use class_balanced=True"):
        bl.select_coreset("kcenter", tiny_proxy, 0.1, class_balanced=False)


def test_shared_artifacts_are_computed_once_but_charged_to_every_selection(tiny_proxy):
    from dataclasses import replace

    proxy = replace(tiny_proxy, memo={})
    first = bl.select_coreset("isef_bottom", proxy, 0.1)
    calls = len(proxy.memo)
    second = bl.select_coreset("isef_top", proxy, 0.5)  # the same sensitivity table
    assert len(proxy.memo) == calls
    assert second.config["forward"] == first.config["forward"] == 5 * 80 and second.config["backward"] == 80
    cached_seconds = proxy.memo[("sensitivity", (1, 4, 16, 64), 1.0)][1]
    assert second.seconds >= cached_seconds


def test_deepfool_on_two_classes_needs_no_more_candidates_than_exist():
    values = [[0.7, 0.4], [0.55, 0.5]]
    images = torch.full((2, 3, 2, 2), 128, dtype=torch.uint8)
    images.view(2, -1)[:, :2] = (torch.tensor(values) * 255).round().to(torch.uint8)
    pool = Pool(images, torch.tensor([0, 0]), torch.tensor([3, 9]), "train", "synthetic", 2)
    x = pool.float_images().flatten(1)[:, :2]
    distances = bl.boundary.deepfool_distances(FixedLogits(2), pool, max_iter=5, overshoot=0.0, candidates=3)
    assert torch.allclose(distances, (x[:, 0] - x[:, 1]) / math.sqrt(2), rtol=1e-3, atol=1e-3)


def test_the_registry_describes_every_method_and_keeps_matches_what_it_returns(tiny_proxy):
    table = bl.describe()
    assert list(table.index) == sorted(bl.METHODS) and len(table) == 33
    assert not (table == "").any().any() and set(table["keeps"]) <= {"top", "bottom", "cover", "sample"}
    for name, method in bl.METHODS.items():
        if name == "dyn_unc_adv":
            continue  # it trains its own adversarial proxy: its order is checked in its own test
        sel = bl.select_coreset(name, tiny_proxy, 0.25, seed=0, **({"repeats": 1} if name in ("grand", "el2n") else {}))
        ranked = method.keeps in ("top", "bottom")
        assert (sel.scores is not None) == ranked, name  # score rankings return their scores, covers do not
        if ranked:  # the kept side of the scores, class by class
            scores = pd.Series(sel.scores.numpy(), index=sel.pool_indices.numpy())
            labels = pd.Series(tiny_proxy.pool.labels.numpy(), index=tiny_proxy.pool.indices.numpy())
            chosen = set(sel.indices.tolist())
            for c in labels.unique():
                members = scores[labels == c]
                inside, outside = members[members.index.isin(chosen)], members[~members.index.isin(chosen)]
                if len(inside) and len(outside):
                    assert (inside.min() >= outside.max()) if method.keeps == "top" else (inside.max() <= outside.min()), name
    with pytest.raises(ValueError, match="registered twice"):
        bl.register("random", family="x", keeps="sample", reads="x", description="x", paper="x")(lambda *a: None)


class LinearLogits(nn.Module):
    """f(x) = W·flatten(x) + b on the 12 entries of a (3, 2, 2) image: DeepFool distances in closed form."""

    def __init__(self, weight, bias):
        super().__init__()
        self.linear = nn.Linear(weight.shape[1], weight.shape[0])
        with torch.no_grad():
            self.linear.weight.copy_(weight)
            self.linear.bias.copy_(bias)

    def features(self, x):
        return x.flatten(1)

    def forward(self, x):
        return self.linear(self.features(x))


def _linear_deepfool_closed_form(model, x, candidates=None):
    """min over the other classes k (or the `candidates` most likely) of |f_k − f_p| / ‖w_k − w_p‖₂, p = argmax f(x),
    in float64, with the nearest boundary point; DeepFool reaches it in one step on a linear model."""
    w, b = model.linear.weight.detach().double(), model.linear.bias.detach().double()
    z = x.double() @ w.T + b
    p = z.argmax(1)
    gap = (z - z.gather(1, p[:, None])).abs()
    dw = w[None] - w[p][:, None]  # (N, C, D)
    ratio = gap / dw.norm(dim=2).clamp_min(1e-300)
    ratio.scatter_(1, p[:, None], math.inf)
    if candidates is not None:  # only the most likely other classes
        rivals = z.scatter(1, p[:, None], -math.inf).topk(candidates, 1).indices
        ratio = torch.full_like(ratio, math.inf).scatter(1, rivals, ratio.gather(1, rivals))
    d, k = ratio.min(1)
    rows = torch.arange(len(x))
    point = x.double() + d[:, None] * dw[rows, k] / dw[rows, k].norm(dim=1, keepdim=True)
    return d, p, point


def test_deepfool_measures_from_the_prediction_and_matches_the_closed_form_on_a_linear_model():
    gen = torch.Generator().manual_seed(3)
    n, classes = 12, 10
    images = torch.randint(90, 166, (n, 3, 2, 2), dtype=torch.uint8, generator=gen)  # [0.35, 0.65]: clamp-free
    model = LinearLogits(torch.randn(classes, 12, generator=gen), 0.5 * torch.randn(classes, generator=gen)).eval()
    x = images.float().div(255).flatten(1)
    d, p, point = _linear_deepfool_closed_form(model, x)
    assert ((point > 0.01) & (point < 0.99)).all()  # the [0, 1] clamp never binds on the way to the boundary
    labels = torch.where(torch.arange(n) % 2 == 0, p, (p + 1) % classes)  # every other sample misclassified
    pool = Pool(images, labels, 7 * torch.arange(n), "train", "synthetic", classes)
    wrong = labels != p
    assert wrong.sum() == n // 2 and (d > 1e-3).all()
    passes = bl.Passes()
    distances = bl.boundary.deepfool_distances(model, pool, overshoot=0.0, passes=passes)  # all classes, 50 steps
    assert (distances[wrong] > 0).all()  # a misclassified sample is not at distance 0
    # one step each: the nearest linearised boundary is the boundary, the step goes 1e-4 past it
    torch.testing.assert_close(distances.double(), d + 1e-4, rtol=1e-4, atol=1e-6)
    assert passes.forward == 2 * n and passes.backward == n * (classes - 1)
    overshot = bl.boundary.deepfool_distances(model, pool, overshoot=0.02)
    torch.testing.assert_close(overshot.double(), 1.02 * (d + 1e-4), rtol=1e-4, atol=1e-6)


def test_deepfool_compares_all_classes_by_default_and_top_k_can_miss_the_nearest_boundary():
    # logits 1 (class 0, predicted), 0.8 (classes 1–3, ‖w_k − w_0‖ = 1) and −1 (class 4, ‖w_4 − w_0‖ = 100):
    # class 4 has the lowest logit but the nearest boundary, 2 / 100 = 0.02 (classes 1–3: 0.2)
    images = torch.full((1, 3, 2, 2), 128, dtype=torch.uint8)
    x = images.float().div(255).flatten(1)
    w = torch.zeros(5, 12)
    w[1, 1] = w[2, 2] = w[3, 3] = 1.0
    w[4, 4] = 100.0
    b = torch.tensor([1.0, 0.8, 0.8, 0.8, -1.0]) - (x @ w.T)[0]
    model = LinearLogits(w, b).eval()
    pool = Pool(images, torch.tensor([2]), torch.tensor([4]), "train", "synthetic", 5)  # label 2: misclassified
    d, p, _ = _linear_deepfool_closed_form(model, x)
    assert p.tolist() == [0] and d.item() == pytest.approx(0.02, rel=1e-4)
    full = bl.boundary.deepfool_distances(model, pool, overshoot=0.0)
    assert full.item() == pytest.approx(0.02 + 1e-4, rel=1e-4)
    for k in (1, 3):  # the three most likely rivals are classes 1–3: their boundaries are 0.2 away
        top_k = bl.boundary.deepfool_distances(model, pool, overshoot=0.0, candidates=k)
        d_k, _, _ = _linear_deepfool_closed_form(model, x, candidates=k)
        assert d_k.item() == pytest.approx(0.2, rel=1e-3)
        assert top_k.item() == pytest.approx(d_k.item() + 1e-4, rel=1e-4) and top_k.item() > 5 * full.item()


def test_glister_steps_along_the_mean_so_its_picks_survive_a_change_of_precision():
    # ReLU-like features of one class, a small last layer: stepping along the *sum* of the chosen gradients
    # (an earlier reading) makes the look-ahead step grow with k, the validation gradient vanishes, and float32
    # and float64 replays disagree on most picks; DeepCore's mean step keeps them identical
    from corelib.methods.gradient_matching import glister_greedy

    gen = torch.Generator().manual_seed(0)
    h = (torch.randn(150, 64, generator=gen) + 1).relu() * 3
    y = torch.zeros(150, dtype=torch.long)
    weight, bias = torch.randn(10, 64, generator=gen) * 0.05, torch.zeros(10)
    picks32 = glister_greedy(h, y, weight, bias, 30, 0.1, torch.float32)
    picks64 = glister_greedy(h, y, weight, bias, 30, 0.1, torch.float64)
    assert torch.equal(picks32, picks64) and len(set(picks64.tolist())) == 30
    # the third pick, replayed independently: gains at θ − η·(g_a + g_b)/2, the mean of the first two gradients
    hd, w, b = h.double(), weight.double(), bias.double()
    grads = lambda w_, b_: linear_gradients(F.softmax(hd @ w_.T + b_, 1) - F.one_hot(y, 10).double(), hd)
    g = grads(w, b)
    step = (0.1 * (g[picks64[0]] + g[picks64[1]]) / 2).view(10, -1)
    gains = g @ grads(w - step[:, :-1], b - step[:, -1]).mean(0)
    gains[picks64[:2]] = -math.inf
    assert int(picks64[2]) == int(torch.argmax(gains))


def test_grand_averages_the_gradient_norm_over_independently_initialised_proxies(monkeypatch):
    from corelib import models
    from corelib.adversarial_coreset import last_layer_gradients

    monkeypatch.setattr(models, "build_model",
                        lambda name, num_classes, seed, device, channels_last: TinyNet(num_classes, seed=seed))
    monkeypatch.setattr(sys.modules["corelib.train"], "build_model", models.build_model)
    proxy = bl.train_proxy("tiny", synthetic_pool(n=40, seed=2), epochs=2, seed=3, config=TrainConfig(lr=0.05, batch_size=8))
    sibling = bl.train_proxy("tiny", proxy.pool, epochs=2, seed=1003, config=TrainConfig(lr=0.05, batch_size=8))
    expected = (last_layer_gradients(proxy.model, proxy.pool).norm(dim=1).double()
                + last_layer_gradients(sibling.model, proxy.pool).norm(dim=1).double()) / 2
    sel = bl.select_coreset("grand", proxy, 0.25, seed=0, repeats=2)
    scores = pd.Series(torch.as_tensor(sel.scores).numpy(), index=sel.pool_indices.numpy())
    assert torch.allclose(torch.tensor(scores.loc[proxy.pool.indices.numpy()].to_numpy()), expected, rtol=1e-5)
    assert sel.config["backward"] == 2 * 40  # the sibling's training (2 epochs) is charged to the selection
    with pytest.raises(ValueError, match="repeats=0"):
        bl.select_coreset("grand", proxy, 0.25, seed=0, repeats=0)


def test_algorithm_1_is_registered_as_a_method_that_trains_as_it_selects():
    """acs_craig and acs_gradmatch are registry entries of their own kind: 'all' includes them in the adversarial
    track only, select_coreset refuses them with a line saying where they run, and describe() lists them."""
    assert set(bl.TRAINING_METHODS) == {"acs_craig", "acs_gradmatch"}
    assert bl.method_names("standard") == sorted(set(bl.METHODS) - {"dyn_unc_adv"})
    assert bl.method_names("adversarial") == sorted(bl.METHODS) + ["acs_craig", "acs_gradmatch"]
    with pytest.raises(ValueError, match="run it with track='adversarial'"):
        bl.check_method("acs_craig", "standard")
    assert bl.check_method("acs_gradmatch", "adversarial") == "acs_gradmatch"
    with pytest.raises(ValueError, match="trains as it selects"):
        bl.select_coreset("acs_craig", None, 0.1)
    table = bl.describe(["random", "acs_craig"])
    assert table.loc["acs_craig", "family"] == "adversarial coreset" and "Algorithm 1" in table.loc["acs_craig", "paper"]


def test_every_difference_from_deepcore_is_a_record_of_a_registered_method_and_chapter_8_shows_the_records():
    """The differences from DeepCore's code are records beside the methods (`deviates`), not prose: each names a
    registered method, says what differs, what each side does and why; chapter 8 prints the computed table instead
    of a hand-kept list."""
    import json

    from corelib.profiles import ROOT

    table = bl.deviations()
    assert set(table["method"]) <= set(bl.METHODS) and len(table) >= 13
    assert (table[["aspect", "corelib", "reference", "why"]].apply(lambda c: c.str.len() > 3)).all().all()
    assert set(table["reference code"]) == {"DeepCore", "the authors' code"}
    assert {"cal", "deepfool", "herding", "kcenter", "craig", "glister", "least_confidence", "grand"} <= set(
        table["method"])
    assert bl.deviations(["cal"])["aspect"].tolist() == ["score", "neighbour features"]
    cells = json.loads((ROOT / "notebooks" / "08_benchmark.ipynb").read_text())["cells"]
    text = "".join("".join(c["source"]) for c in cells)
    assert "cl.methods.deviations()" in text and "DeepCore's `herding.py` takes the argmax" not in text


def test_training_records_each_samples_margin_and_true_class_probability():
    """AUM's margin z_y − max_{k≠y} z_k and softmax(z)_y, computed in the training loop, against a loop over samples."""
    from corelib.train import _margin_and_true_prob

    logits = torch.tensor([[2.0, 1.0, -1.0], [0.5, 3.0, 2.5], [1.0, 1.0, 1.0]])
    y = torch.tensor([0, 2, 1])
    margin, prob, probs = _margin_and_true_prob(logits, y)
    assert torch.allclose(probs.sum(1), torch.ones(3)) and torch.equal(probs.gather(1, y[:, None]).squeeze(1), prob)
    for i in range(3):
        z = logits[i].tolist()
        assert margin[i].item() == pytest.approx(z[y[i]] - max(v for k, v in enumerate(z) if k != y[i]))
        assert prob[i].item() == pytest.approx(math.exp(z[y[i]]) / sum(math.exp(v) for v in z))


def test_aum_and_dynamic_uncertainty_equal_their_formulas_on_a_hand_made_history(tiny_proxy):
    """AUM: the mean margin over epochs; dynamic uncertainty: the population standard deviation of the true-class
    probability over each window of J epochs, averaged over the windows. The proxy records both while it trains."""
    import statistics

    from corelib.methods.pruning import aum_scores, dynamic_uncertainty

    history = {7: [0.1, 0.5, 0.3, 0.9], 8: [0.2, 0.2, 0.2, 0.2], 9: [0.9, 0.1, 0.9, 0.1]}
    margins = {7: [1.0, -2.0, 0.5, 3.0], 8: [0.0, 0.0, 1.0, 1.0], 9: [-1.0, -1.0, -1.0, -3.0]}
    table = pd.DataFrame([{"epoch": e, "index": i, "true_prob": history[i][e], "margin": margins[i][e]}
                          for i in history for e in range(4)]).sample(frac=1, random_state=0)
    assert aum_scores(table).to_dict() == pytest.approx({i: sum(m) / 4 for i, m in margins.items()})
    for window in (2, 3, 4):
        expected = {i: statistics.fmean(statistics.pstdev(p[k:k + window]) for k in range(4 - window + 1))
                    for i, p in history.items()}
        assert dynamic_uncertainty(table, window).to_dict() == pytest.approx(expected)
    with pytest.raises(ValueError, match="needs at least window=5 epochs"):
        dynamic_uncertainty(table, 5)
    assert {"margin", "true_prob"} <= set(tiny_proxy.per_sample.columns)
    assert tiny_proxy.per_sample["true_prob"].between(0, 1).all()
    assert ((tiny_proxy.per_sample["margin"] > 0) == tiny_proxy.per_sample["correct"].astype(bool)).all()


def test_el2n_is_the_error_vector_norm_of_the_proxys_predictions():
    values = [[0.9, 0.1, 0.1, 0.1], [0.5, 0.45, 0.1, 0.1], [0.6, 0.3, 0.3, 0.1], [0.1, 0.2, 0.1, 0.8]]
    pool = _fixed_pool(values, [0, 1, 0, 3])
    proxy = _proxy(pool, FixedLogits())
    sel = bl.select_coreset("el2n", proxy, 0.25, repeats=1, class_balanced=False)
    scores = pd.Series(torch.as_tensor(sel.scores).numpy(), index=sel.pool_indices.numpy())
    x = pool.float_images()[:, 0].flatten(1)[:, :4]
    for i, (row, label) in enumerate(zip(x.tolist(), [0, 1, 0, 3])):
        z = [10 * v for v in row]
        p = [math.exp(v) / sum(math.exp(u) for u in z) for v in z]
        expected = math.sqrt(sum((p[k] - (k == label)) ** 2 for k in range(4)))
        assert scores[int(pool.indices[i])] == pytest.approx(expected, rel=1e-4)  # float32 softmax
    assert sel.indices.tolist() == [int(pool.indices[1])]  # sample 1: label 1, predicted 0 — the largest error


def test_ccs_budgets_strata_and_the_hard_cut_equal_a_hand_computation():
    """Zheng et al.'s Algorithm 1: budgets from the smallest stratum up (a small stratum is exhausted and its share
    flows on), the hardest β dropped first, strata of equal width, exactly k chosen, the same for a seed."""
    from corelib.methods.pruning import ccs_budgets, ccs_choose, ccs_hard_cutoff

    assert ccs_budgets(np.array([1, 2, 10, 10]), 12).tolist() == [1, 2, 4, 5]
    assert ccs_budgets(np.array([5, 0, 5, 5]), 7).tolist() == [2, 0, 2, 3]
    assert ccs_budgets(np.array([3, 3]), 7).tolist() == [3, 3]  # more than there is: everything
    scores = torch.arange(20.0)  # 0 is the hardest (lowest AUM)
    chosen = ccs_choose(scores, 5, 0.2, 4, torch.Generator().manual_seed(0))
    assert len(chosen) == 5 and chosen.min() >= 4  # the 4 hardest (β = 20 %) are never chosen
    strata = ((scores[chosen] - 4) / 3.75).floor().clamp(max=3).long()  # width (19 − 4) / 4
    assert torch.bincount(strata, minlength=4).tolist() == [1, 1, 1, 2]
    assert torch.equal(chosen, ccs_choose(scores, 5, 0.2, 4, torch.Generator().manual_seed(0)))
    assert len(ccs_choose(scores, 18, 0.2, 4, torch.Generator().manual_seed(0))) == 18  # the cut yields to k
    assert [ccs_hard_cutoff(f) for f in (0.7, 0.5, 0.3, 0.2, 0.1, 0.01)] == [0.0, 0.0, 0.1, 0.1, 0.3, 0.3]


def test_tdds_equals_the_authors_formula_on_a_short_synthetic_history():
    """Contribution per epoch Σ_c |p'_c (log p'_c − log p_c)|; per window of K epochs the L2 norm of the K − 1
    contributions' deviations from their mean; windows weighted β(1 − β)^(T − K − k) and summed. The trainer's
    record feeds it: the proxy's table carries `transition` from its second epoch."""
    from corelib.hooks import transition_terms
    from corelib.methods.pruning import tdds_scores

    rng = np.random.default_rng(3)
    T, n = 6, 4
    probs = rng.dirichlet(np.ones(3), size=(T, n))  # epochs × samples × classes
    frames = [pd.DataFrame(probs[t], index=[10, 11, 12, 13]) for t in range(T)]
    rows = []
    for t in range(T):
        c = None if t == 0 else transition_terms(frames[t - 1], frames[t])
        for i, index in enumerate([10, 11, 12, 13]):
            hand = None if t == 0 else sum(abs(probs[t, i, k] * (math.log(probs[t, i, k] + 1e-8)
                                                                  - math.log(probs[t - 1, i, k] + 1e-8)))
                                           for k in range(3))
            if t:
                assert c[index] == pytest.approx(hand)
            rows.append({"epoch": t, "index": index, "transition": np.nan if t == 0 else hand})
    table = pd.DataFrame(rows)
    K, beta = 4, 0.9
    for i, index in enumerate([10, 11, 12, 13]):
        contributions = [table[(table["index"] == index) & (table.epoch == t)].transition.item() for t in range(1, T)]
        expected = 0.0
        for k in range(T - K + 1):
            window = contributions[k:k + K - 1]
            mean = sum(window) / len(window)
            expected += math.sqrt(sum((c - mean) ** 2 for c in window)) * beta * (1 - beta) ** (T - K - k)
        assert tdds_scores(table, T, K, beta)[index] == pytest.approx(expected)
    one_epoch = table[table.epoch == 0].drop(columns="transition")  # a one-epoch proxy: no dynamics, every score 0
    assert tdds_scores(one_epoch).to_dict() == {10: 0.0, 11: 0.0, 12: 0.0, 13: 0.0}


def test_d2_message_passing_and_selection_equal_a_hand_computation_on_six_nodes():
    """Points 0, 1, 3, 10, 12, 20 on a line, one nearest neighbour each, made symmetric: edges 0–1, 1–2, 3–4, 4–5.
    Forward: s'_i = s_i + Σ_j exp(−d_ij) s_j; selection: the highest, then each neighbour loses exp(−γ d_ij)·s_i."""
    from corelib.methods.pruning import d2_choose, d2_scores

    x = torch.tensor([[0.0], [1.0], [3.0], [10.0], [12.0], [20.0]])
    s = torch.tensor([1.0, 2.0, 3.0, 1.0, 1.0, 5.0])
    edges = {(0, 1), (1, 2), (3, 4), (4, 5)}
    neighbours = {i: [j for a, b in edges for i2, j in ((a, b), (b, a)) if i2 == i] for i in range(6)}
    d = lambda i, j: abs(float(x[i] - x[j]))  # noqa: E731
    forward = [float(s[i]) + sum(math.exp(-d(i, j)) * float(s[j]) for j in neighbours[i]) for i in range(6)]
    scores, near, distances = d2_scores(x, s, 1)
    assert scores.tolist() == pytest.approx(forward)
    assert {(i, j) for i in range(6) for j in range(6) if near[i, j] and i < j} == edges
    left, taken, order = list(forward), set(), []
    for _ in range(3):
        i = max((v, i) for i, v in enumerate(left) if i not in taken)[1]
        order.append(i)
        taken.add(i)
        for j in neighbours[i]:
            left[j] -= math.exp(-0.1 * d(i, j)) * left[i]
    assert d2_choose(scores, near, distances, 3, gamma=0.1).tolist() == order


def test_dynamic_uncertainty_under_adversarial_training_reads_an_adversarial_proxy_and_only_in_its_track(
        tiny_proxy, monkeypatch):
    """dyn_unc_adv trains a twin of the proxy adversarially (same seed and settings), scores the dynamic uncertainty
    of its recorded predictions at the adversarial examples, charges its training, and runs in the adversarial
    track only; TRADES, whose recorded predictions are clean, is refused."""
    from corelib.methods.pruning import adversarial_proxy, dynamic_uncertainty

    monkeypatch.setattr(sys.modules["corelib.train"], "build_model",
                        lambda name, num_classes, seed, device, channels_last: TinyNet(num_classes, seed=seed))
    params = {"eps": 8 / 255}
    sel = bl.select_coreset("dyn_unc_adv", tiny_proxy, 0.25, seed=0, objective="fgsm_rs", objective_params=params)
    twin = adversarial_proxy(tiny_proxy, "fgsm_rs", params)
    expected = dynamic_uncertainty(twin.per_sample, min(10, tiny_proxy.epochs))
    assert not twin.per_sample["true_prob"].equals(tiny_proxy.per_sample["true_prob"])  # another, adversarial run
    scores = pd.Series(torch.as_tensor(sel.scores).numpy(), index=sel.pool_indices.numpy())
    assert scores.sort_index().to_numpy() == pytest.approx(expected.sort_index().to_numpy())
    assert sel.config["forward"] == sel.config["backward"] == 80 * 3 * 2  # FGSM-RS: an attack step and an update
    assert "dyn_unc_adv" not in bl.method_names("standard") and "dyn_unc_adv" in bl.method_names("adversarial")
    with pytest.raises(ValueError, match="run it with track='adversarial'"):
        bl.check_method("dyn_unc_adv", "standard")
    with pytest.raises(ValueError, match="under TRADES it records the clean ones"):
        bl.select_coreset("dyn_unc_adv", tiny_proxy, 0.25, objective="trades", objective_params={})

import sys

import pytest
import torch
import torch.nn.functional as F

from conftest import TinyNet, synthetic_pool
from corelib.adversarial_coreset import (AdversarialCoreset, Schedule, gradient_error, last_layer_gradients,
                                         selection_gradients, speedup_model, trades_last_layer_gradient,
                                         train_adversarial_coreset)
from corelib.attacks import PGD
from corelib.experiments import summarize_training
from corelib.objectives import TRADES
from corelib.sampling import uniform_random
from corelib.train import RecordPerSample, TrainConfig, train


@pytest.mark.parametrize("attacked", [False, True])
def test_last_layer_gradients_equal_autograd(attacked):
    pool = synthetic_pool(n=10)
    model = TinyNet(seed=1).eval()
    attack = PGD(eps=8 / 255, alpha=2 / 255, steps=3, seed=0) if attacked else None
    got = last_layer_gradients(model, pool, attack, batch_size=4)
    x_all = pool.float_images()
    if attacked:  # the same attack, same seed, same batches
        attack = PGD(eps=8 / 255, alpha=2 / 255, steps=3, seed=0)
        x_all = torch.cat([attack(model, x_all[s:s + 4], pool.labels[s:s + 4]) for s in range(0, 10, 4)])
    for i in range(10):
        model.zero_grad()
        F.cross_entropy(model(x_all[i:i + 1]), pool.labels[i:i + 1]).backward()
        expected = torch.cat([model.linear.weight.grad, model.linear.bias.grad[:, None]], dim=1).flatten()
        assert torch.allclose(got[i], expected, atol=1e-5), i


def test_algorithm_1_schedule_warm_start_skip_and_renewals():
    # E = 8, κ = 0.5, k = 0.5: K = ⌊κE⌋ = 4, warm start W = round(K·k) = 2 epochs on the full data, epochs 2–3
    # trained on nothing (Algorithm 1's "Continue"), epochs 4–7 on coresets renewed at 4 and 6
    pool = synthetic_pool(n=48)
    hook = AdversarialCoreset(0.5, solver="craig", schedule=Schedule(0.5, 2), seed=0)
    recorder = RecordPerSample()
    config = TrainConfig(epochs=8, batch_size=8)
    result = train(TinyNet(), pool, config, hooks=[hook, recorder])
    samples = result.history["samples"].tolist()
    assert samples == [48, 48, 0, 0, 24, 24, 24, 24]
    assert sum(s == 48 for s in samples) == 2 and samples.count(0) == 2 and sum(s == 24 for s in samples) == 4
    assert [r.epoch for r in recorder.records] == [0, 1, 4, 5, 6, 7]  # skipped epochs record nothing
    assert result.history["lr"].tolist()[2] == pytest.approx(config.lr_at(2))  # the schedule advances while skipping
    assert [s["epoch"] for s in hook.selections] == [4, 6]
    assert hook.schedule(8)["phase"].tolist() == ["full"] * 2 + ["skip"] * 2 + ["coreset"] * 4
    for s in hook.selections:
        assert (s["weights"] > 0).all() and float(s["weights"].sum()) == 48  # CRAIG's cluster sizes cover the pool
        assert set(s["indices"].tolist()) <= set(pool.indices.tolist()) and s["seconds"] >= 0
    assert list(hook.table["epoch"]) == [4, 6] and (hook.table["gamma"] >= 0).all()


def test_algorithm_1_schedule_of_the_papers_cifar10_setting():
    # a paper-scale run, E = 120, κ = 0.5, T = 20: at k = 0.5, 30 warm epochs, 30 skipped, 60 on coresets,
    # renewed where the authors' code renews (epoch index ≥ κE and a multiple of T)
    plan = AdversarialCoreset(0.5, schedule=Schedule(0.5, 20)).schedule(120)
    assert plan["phase"].value_counts().to_dict() == {"full": 30, "skip": 30, "coreset": 60}
    assert plan.loc[plan.renew, "epoch"].tolist() == [e for e in range(120) if e >= 60 and e % 20 == 0]
    assert AdversarialCoreset(0.1, schedule=Schedule(0.5, 20)).schedule(120)["phase"].tolist()[:7] == (
        ["full"] * 6 + ["skip"])  # round(60 · 0.1) = 6


def test_same_seed_same_coreset_and_gradmatch_weights_nonnegative():
    pool = synthetic_pool(n=48)
    runs = []
    for _ in range(2):
        hook = AdversarialCoreset(0.25, solver="gradmatch", schedule=Schedule(0.0, 1), seed=3, lam=0.1)
        train(TinyNet(seed=2), pool, TrainConfig(epochs=2, batch_size=8), hooks=[hook])
        runs.append(hook.selections)
    for a, b in zip(*runs):
        assert a["epoch"] == b["epoch"] and torch.equal(a["indices"], b["indices"])
        assert torch.equal(a["weights"], b["weights"]) and (a["weights"] >= 0).all()


@pytest.mark.parametrize("kwargs,message", [({"solver": "glister"}, "unknown solver 'glister'"),
                                            ({"objective": "mart"}, "unknown objective 'mart'"),
                                            ({"trades_form": "paper"}, "unknown TRADES gradient form"),
                                            ({"fraction": 0}, "fraction 0 is outside"),
                                            ({"fraction": 1.5}, "fraction 1.5 is outside"),
                                            ({"period": 0}, "renewal period 0"),
                                            ({"warm_start": 1.0}, "warm-start coefficient κ = 1.0")])
def test_bad_adversarial_coreset_settings_are_named(kwargs, message):
    schedule = Schedule(**{k: v for k, v in kwargs.items() if k in ("warm_start", "period")})
    settings = {"fraction": 0.5, **{k: v for k, v in kwargs.items() if k not in ("warm_start", "period")}}
    with pytest.raises(ValueError, match=message):
        AdversarialCoreset(**settings, schedule=schedule)


def _trades_autograd(model, x, x_adv, y, beta, surrogate=False):
    """Per-sample autograd of the TRADES loss (or of Eq. 22's surrogate) w.r.t. the last layer, x_adv fixed."""
    rows = []
    for i in range(len(x)):
        model.zero_grad()
        z, z_adv = model(x[i:i + 1]), model(x_adv[i:i + 1])
        loss = F.cross_entropy(z, y[i:i + 1])
        if surrogate:  # Eq. 22 as printed, with the paper's CE(logits, target) of Eqs. 2 and 4 and soft targets:
            # CE(f(x̃), freeze(f(x))) + CE(freeze(f(x̃)), f(x)); the second differentiates through its target
            p_frozen, log_q_frozen = F.softmax(z, 1).detach(), F.log_softmax(z_adv, 1).detach()
            loss = loss + beta * (-(p_frozen * F.log_softmax(z_adv, 1)).sum() - (F.softmax(z, 1) * log_q_frozen).sum())
        else:
            loss = loss + beta * F.kl_div(F.log_softmax(z_adv, 1), F.softmax(z, 1), reduction="sum")
        loss.backward()
        rows.append(torch.cat([model.linear.weight.grad, model.linear.bias.grad[:, None]], 1).flatten())
    return torch.stack(rows)


def test_trades_last_layer_gradient_equals_autograd_of_the_full_trades_loss():
    pool = synthetic_pool(n=8)
    model = TinyNet(seed=3).eval()
    x, y = pool.float_images(), pool.labels
    x_adv = TRADES(beta=6.0, steps=3, seed=0).adversarial(model, x)
    exact = trades_last_layer_gradient(model, x, x_adv, y, beta=6.0, form="exact")
    assert torch.allclose(exact, _trades_autograd(model, x, x_adv, y, 6.0), atol=1e-5)
    eq22 = trades_last_layer_gradient(model, x, x_adv, y, beta=6.0, form="eq22")
    assert torch.allclose(eq22, _trades_autograd(model, x, x_adv, y, 6.0, surrogate=True), atol=1e-5)
    assert (eq22 - exact).abs().max() > 1e-4  # Eq. 22 drops the entropy part of the KL's gradient through p


def test_eq22_clean_logit_gradient_is_the_closed_form_through_the_target():
    # ∂/∂z of CE(freeze(z̃), z) = −Σ softmax(z) log q is p ⊙ (Σ p log q − log q), not the β(p − q) of swapped roles
    z = torch.tensor([[1.0, -0.5, 0.3]], requires_grad=True)
    log_q = torch.log_softmax(torch.tensor([[0.2, 0.9, -1.0]]), 1)
    (grad,) = torch.autograd.grad(-(torch.softmax(z, 1) * log_q).sum(), z)
    p = torch.softmax(z, 1).detach()
    assert torch.allclose(grad, p * ((p * log_q).sum(1, keepdim=True) - log_q), atol=1e-7)
    assert not torch.allclose(grad, p - log_q.exp(), atol=1e-3)


def test_selection_gradients_follow_the_objective():
    pool = synthetic_pool(n=12)
    model = TinyNet(seed=1).eval()
    params = {"eps": 8 / 255, "alpha": 2 / 255, "steps": 2}
    got = selection_gradients(model, pool, "pgd", params, seed=5, batch_size=5)
    expected = last_layer_gradients(model, pool, PGD(**params, seed=5), batch_size=5)
    assert torch.allclose(got, expected, atol=1e-6)
    clean = selection_gradients(model, pool, "standard")
    assert torch.allclose(clean, last_layer_gradients(model, pool), atol=1e-6)
    trades = selection_gradients(model, pool, "trades", {"steps": 1, "beta": 2.0}, seed=0, batch_size=12)
    x = pool.float_images().contiguous(memory_format=torch.channels_last)  # the layout the pool's batches have
    x_adv = TRADES(beta=2.0, steps=1, seed=0).adversarial(model, x)  # (another layout can flip a near-zero sign)
    assert torch.allclose(trades, trades_last_layer_gradient(model, x, x_adv, pool.labels, 2.0), atol=1e-6)


def test_gradient_error_exact_values_and_random_uniform_weights():
    g = torch.tensor([[1.0, 0.0], [3.0, 0.0], [0.0, 4.0], [0.0, 0.0]])  # mean (1, 1)
    assert gradient_error(g, torch.arange(4), torch.ones(4)) == 0.0
    # one sample (index 1) standing in for all four: (1/4)·4·(3, 0) = (3, 0); Γ = ‖(1, 1) − (3, 0)‖ = √5
    assert gradient_error(g, torch.tensor([1]), torch.tensor([4.0])) == pytest.approx(5 ** 0.5)
    labels = torch.arange(40) % 4
    pos, w = uniform_random(labels, 0.25, seed=0)
    assert len(pos) == 10 and float(w.sum()) == pytest.approx(40) and (w == 4).all()
    assert sorted(torch.bincount(labels[pos]).tolist()) == [2, 2, 3, 3]  # class-balanced, remainders spread
    assert torch.equal(pos, uniform_random(labels, 0.25, seed=0)[0])


def test_speedup_model_counts_warm_start_skip_and_renewals():
    # E=10, κ=0.2, k=0.5 → K = 2, W = round(1) = 1 warm epoch, epoch 1 skipped; renewals at 2, 5, 8; 8 epochs at
    # half cost; each renewal 0.5 epoch
    assert speedup_model(10, 0.5, 0.2, 3, 0.5) == pytest.approx(10 / (1 + 4 + 1.5))
    assert speedup_model(10, 1.0, 0.0, 100, 0.0) == pytest.approx(1.0)
    assert speedup_model(10_000, 0.2, 0.5, 20, 0.0) == pytest.approx(5.0, rel=1e-3)  # long schedules: → 1/k


@pytest.mark.parametrize("objective,params", [("fgsm_rs", {"eps": 8 / 255}), ("trades", {"steps": 1, "beta": 3.0})])
def test_coreset_training_with_fast_and_trades_objectives(objective, params, monkeypatch):
    monkeypatch.setattr(sys.modules["corelib.train"], "build_model", lambda name, num_classes, seed, device, channels_last: TinyNet(num_classes, seed=seed))
    pool = synthetic_pool(n=32)
    config = TrainConfig(epochs=4, batch_size=8, objective=objective, objective_params=params, augment=False,
                         channels_last=False)
    result = train_adversarial_coreset("tiny", pool, config, "gradmatch", 0.5, schedule=Schedule(0.25, 2), seed=1)
    table = result.tables["coreset"]
    # K = 1, W = round(0.5) = 0: epoch 0 skipped; the authors' renewals fall on even epochs, so epoch 1 trains on
    # the initial random subset (16 samples) and the coreset is chosen at epoch 2
    assert list(table["epoch"]) == [2] and (table["size"] <= 16).all() and (table["weight_sum"] > 0).all()
    samples = result.history["samples"].tolist()
    assert samples[:2] == [0, 16] and all(1 <= s <= 16 for s in samples[2:])


def test_summarize_training_speedup_is_relative_to_full():
    import pandas as pd

    rows = pd.DataFrame([{"method": "full", "fraction": 1.0, "seed": s, "test_acc": 0.5, "pgd_acc": 0.2,
                          "train_seconds": 100.0, "select_seconds": 0.0} for s in (0, 1)] +
                        [{"method": "craig", "fraction": 0.5, "seed": s, "test_acc": 0.4 + 0.1 * s, "pgd_acc": 0.2,
                          "train_seconds": 40.0 + 20 * s, "select_seconds": 5.0} for s in (0, 1)])
    out = summarize_training(rows).set_index("method")
    # wall time paired by seed: 100/40 = 2.5 and 100/60 ≈ 1.67, median 2.08 (the ratio of means would say 2.0)
    assert out.loc["craig", "speedup"] == pytest.approx((2.5 + 100 / 60) / 2) and out.loc["full", "speedup"] == 1.0
    assert (out.loc["craig", "speedup_min"], out.loc["craig", "speedup_max"]) == pytest.approx((100 / 60, 2.5))
    assert out.loc["craig", "clean_mean"] == pytest.approx(45.0) and out.loc["craig", "select_share"] == pytest.approx(0.1)
    assert out["work_speedup"].isna().all()  # no counted work in these rows: not invented


def test_counted_work_speedup_ignores_a_disturbed_timing():
    """Full training: 8 epochs × 100 samples = 800 attacked sample-passes. A coreset run that trained on 500
    samples in all and renewed twice (each renewal attacks the 100-sample pool): 500 + 2 × 100 = 700. The counted
    ratio 800 / 700 holds whatever the wall clock said; the wall-time pairs (28.4 / 20 and 70 / 20: a busy machine
    in seed 1) show as a range."""
    import pandas as pd

    full = [{"method": "full", "fraction": 1.0, "seed": s, "test_acc": 0.5, "pgd_acc": 0.2, "renewals": 0,
             "train_samples": 800, "pool_size": 100, "train_seconds": t, "select_seconds": 0.0}
            for s, t in ((0, 28.4), (1, 70.0))]  # seed 1's machine was busy
    core = [{"method": "craig", "fraction": 0.5, "seed": s, "test_acc": 0.4, "pgd_acc": 0.2, "renewals": 2,
             "train_samples": 500, "pool_size": 100, "train_seconds": 20.0, "select_seconds": 2.0} for s in (0, 1)]
    out = summarize_training(pd.DataFrame(full + core)).set_index("method")
    assert out.loc["craig", "work_speedup"] == pytest.approx(800 / 700) and out.loc["full", "work_speedup"] == 1.0
    assert out.loc["craig", "speedup_max"] == pytest.approx(3.5) and out.loc["craig", "speedup_min"] == pytest.approx(1.42)


def test_the_hook_documents_itself_and_keys_by_its_settings():
    hook = AdversarialCoreset(0.5, "craig", schedule=Schedule(0.25, 2), seed=3)
    assert AdversarialCoreset.__doc__ and "Algorithm 1" in AdversarialCoreset.__doc__
    config = hook.config()
    assert config["hook"] == "corelib.adversarial_coreset.AdversarialCoreset" and config["seed"] == 3
    assert config != AdversarialCoreset(0.5, "gradmatch", schedule=Schedule(0.25, 2), seed=3).config()


def test_the_acs_grid_reports_autoattack_beside_pgd(tmp_path, monkeypatch):
    """With an AutoAttack, every row of `coreset_training_grid` has `autoattack_acc` ≤ its PGD accuracy (the
    per-image worst case of a stronger attack), and `summarize_training` reports its mean."""
    from corelib.attacks import PGD, AutoAttack
    from corelib.experiments import AdversarialCoresetGrid, EvaluationSuite, coreset_training_grid

    monkeypatch.setattr(sys.modules["corelib.train"], "build_model", lambda name, num_classes, seed, device, channels_last: TinyNet(num_classes, seed=seed))
    pool, test = synthetic_pool(n=32), synthetic_pool(n=24, seed=5)
    config = TrainConfig(epochs=3, batch_size=8, objective="fgsm_rs", objective_params={"eps": 0.03}, augment=False,
                         channels_last=False)
    suite = EvaluationSuite.of(test, test, pgd=PGD(0.03, 0.01, 3, seed=0),
                               autoattack=AutoAttack(0.03, version="ci", steps=3, targets=1))
    grid = AdversarialCoresetGrid(pool, "tiny", config, suite, ("full", "random"), (0.5,), (0,), 0.34, 2)
    rows = coreset_training_grid(grid, tmp_path / "acs.csv")
    ok = rows[rows.status == "ok"]
    assert len(ok) and (ok["autoattack_acc"] <= ok["pgd_acc"] + 1e-9).all()
    summary = summarize_training(rows).set_index("method")
    assert "autoattack_mean" in summary and summary["autoattack_mean"].notna().all()


def test_a_warm_start_that_rounds_to_zero_epochs_warns_and_names_the_smallest_kappa():
    from corelib.adversarial_coreset import check_schedule, smallest_warm_start, warm_epochs
    assert smallest_warm_start(40, 0.5) == 0.05 and warm_epochs(40, 0.05, 0.5) == 1
    assert smallest_warm_start(8, 0.2) == 3 / 8 and warm_epochs(8, 3 / 8, 0.2) == 1
    assert smallest_warm_start(2, 0.5) == 1.0
    with pytest.warns(UserWarning, match=r"κ = 0.025 gives no warm-start epoch.*κ ≥ 0.05"):
        check_schedule(40, 0.025, 0.5)
    with pytest.warns(UserWarning, match="no κ < 1 gives a warm-start epoch"):
        check_schedule(2, 0.5, 0.5)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_schedule(40, 0.05, 0.5)   # W = 1
        check_schedule(40, 0.0, 0.5)    # no warm start asked for, none skipped
        check_schedule(8, 0.5, 0.2)     # the ci profile: K = 4, W = 1


@pytest.mark.parametrize("epochs, fraction, period, warm", [
    (100, 0.5, 20, 30), (120, 0.5, 20, 36), (120, 0.3, 20, 22), (120, 0.4, 20, 29), (90, 0.5, 20, 27),
    (120, 0.5, 30, 36), (100, 0.3, 10, 18)])
def test_the_default_schedule_plans_the_papers_tables_c2_c3_epoch_by_epoch(epochs, fraction, period, warm):
    """κ = 0.6 (the default) gives the warm-start epochs of the ACS paper's Tables C2/C3 (30/100 and 36/120 at
    k = 50 %, 22/120 at 30 %, 29/120 at 40 %, 27/90); renewals fall where the authors' code renews (epoch % T == 0
    and epoch ≥ K), the epochs from K to the first renewal train on the initial random subset, and 'from_start'
    renews at K + jT instead."""
    from corelib.adversarial_coreset import first_renewal, renewal_count

    K = int(0.6 * epochs + 1e-9)
    plan = AdversarialCoreset(fraction, schedule=Schedule(period=period)).schedule(epochs)
    authors_renewals = [e for e in range(epochs) if e % period == 0 and e >= K]
    expected = (["full"] * warm + ["skip"] * (K - warm) + ["random"] * (authors_renewals[0] - K)
                + ["coreset"] * (epochs - authors_renewals[0]))
    assert plan["phase"].tolist() == expected
    assert plan.loc[plan.renew, "epoch"].tolist() == authors_renewals
    assert renewal_count(epochs, 0.6, period) == len(authors_renewals) == int(plan.renew.sum())
    start = AdversarialCoreset(fraction, schedule=Schedule(period=period, renewal="from_start")).schedule(epochs)
    assert start.loc[start.renew, "epoch"].tolist() == list(range(K, epochs, period))
    assert (start.phase != "random").all() and first_renewal(epochs, 0.6, period, "from_start") == K


def test_authors_renewals_train_the_epochs_before_the_first_renewal_on_one_random_subset():
    """E = 120, κ = 0.6, T = 20 (the paper's ℓ∞-PGD setting): K = 72, a random class-balanced subset of size k
    trains epochs 72–79 (drawn once), coresets are chosen at 80 and 100; an unknown rule is refused."""
    plan = AdversarialCoreset(0.5, schedule=Schedule(0.6, 20)).schedule(120)
    assert plan.loc[plan.phase == "random", "epoch"].tolist() == list(range(72, 80))
    assert plan.loc[plan.renew, "epoch"].tolist() == [80, 100]
    with pytest.raises(ValueError, match="renewal='every'"):
        AdversarialCoreset(0.5, schedule=Schedule(renewal="every"))

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from corelib.attacks import FGSM, PGD, input_gradient
from corelib.evaluate import robust_accuracy


class Linear(nn.Module):
    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(w)

    def forward(self, x):
        return x.flatten(1) @ self.w.T


def test_fgsm_matches_the_closed_form_on_a_linear_model():
    torch.manual_seed(0)
    w = torch.randn(3, 12)
    x, y = torch.rand(5, 3, 2, 2), torch.tensor([0, 1, 2, 0, 1])
    p = F.softmax(x.flatten(1) @ w.T, dim=1)
    grad = ((p - F.one_hot(y, 3).float()) @ w).view_as(x)  # ∇ₓ CE for logits Wx
    expected = (x + 0.1 * grad.sign()).clamp(0, 1)
    assert torch.allclose(FGSM(eps=0.1)(Linear(w), x, y), expected)
    g, _ = input_gradient(Linear(w), x, y)
    assert torch.allclose(g, grad, atol=1e-6)


@pytest.mark.parametrize("attack", [FGSM(8 / 255), PGD(8 / 255, 2 / 255, 5), PGD(8 / 255, 2 / 255, 5, restarts=3),
                                    PGD(0.5, 0.1, 5, norm="l2")])
def test_budget_and_range_hold(attack, trained_tiny):
    model, pool = trained_tiny
    x, y = pool.float_images(slice(0, 64)), pool.labels[:64]
    x_adv = attack(model, x, y)
    assert x_adv.min() >= 0 and x_adv.max() <= 1 and not x_adv.requires_grad
    delta = (x_adv - x).flatten(1)
    if getattr(attack, "norm", "linf") == "linf":
        assert delta.abs().max() <= attack.eps + 1e-6
    else:
        assert delta.norm(dim=1).max() <= attack.eps + 1e-5
    assert delta.abs().max() > 0


def test_pgd_is_at_least_as_strong_as_fgsm_on_a_trained_model(trained_tiny):
    model, pool = trained_tiny
    clean = robust_accuracy(model, pool, FGSM(eps=0.0))
    fgsm = robust_accuracy(model, pool, FGSM(eps=16 / 255))
    pgd = robust_accuracy(model, pool, PGD(eps=16 / 255, alpha=4 / 255, steps=10))
    assert clean > 0.9  # the fixture really is trained
    assert pgd <= fgsm < clean


def test_random_start_is_seeded():
    model = Linear(torch.randn(3, 12))
    x, y = torch.rand(4, 3, 2, 2), torch.tensor([0, 1, 2, 0])
    a = PGD(0.1, 0.02, 3, seed=1)(model, x, y)
    assert torch.equal(a, PGD(0.1, 0.02, 3, seed=1)(model, x, y))
    assert not torch.equal(a, PGD(0.1, 0.02, 3, seed=2)(model, x, y))


def test_agreement_with_torchattacks(trained_tiny):
    torchattacks = pytest.importorskip("torchattacks")
    model, pool = trained_tiny
    x, y = pool.float_images(slice(0, 32)), pool.labels[:32]
    assert torch.equal(FGSM(8 / 255)(model, x, y), torchattacks.FGSM(model, eps=8 / 255)(x, y))
    ours = PGD(8 / 255, 2 / 255, 7, random_start=False)(model, x, y)
    theirs = torchattacks.PGD(model, eps=8 / 255, alpha=2 / 255, steps=7, random_start=False)(x, y)
    assert (ours - theirs).abs().max() < 1e-6
    ours = PGD(0.5, 0.1, 7, norm="l2", random_start=False)(model, x, y)
    theirs = torchattacks.PGDL2(model, eps=0.5, alpha=0.1, steps=7, random_start=False)(x, y)
    assert (ours - theirs).abs().max() < 1e-5


def test_bad_attack_arguments_are_named():
    with pytest.raises(ValueError, match="unknown norm 'l1'"):
        PGD(norm="l1")
    with pytest.raises(ValueError, match="eps=-0.1"):
        FGSM(eps=-0.1)


def _acc(model, x, y):
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


@pytest.fixture(scope="module")
def aa_setting(trained_tiny):
    """A budget at which FGSM and PGD leave the tiny model partly robust (≈ 38 % and 31 % of 128 images), so the
    attacks can be told apart; AutoAttack ('ci': APGD-CE, APGD-T) computed once with seed 3."""
    from corelib.attacks import AutoAttack

    model, pool = trained_tiny
    x, y, eps = pool.float_images(torch.arange(128)), pool.labels[:128], 0.04
    attack = AutoAttack(eps=eps, version="ci", steps=10, seed=3)
    return model, x, y, eps, attack, attack(model, x, y)


def test_autoattack_is_at_least_as_strong_as_pgd_and_stays_in_the_budget(aa_setting):
    model, x, y, eps, _, x_aa = aa_setting
    pgd = _acc(model, PGD(eps=eps, alpha=eps / 4, steps=10, seed=0)(model, x, y), y)
    assert 0.1 < pgd < _acc(model, x, y)  # the setting leaves something to attack
    assert _acc(model, x_aa, y) <= pgd
    assert (x_aa - x).abs().max() <= eps + 1e-6 and x_aa.min() >= 0 and x_aa.max() <= 1


def test_autoattack_is_the_per_image_worst_case_and_seeded(aa_setting):
    """Its first stage is APGD-CE on the images the model gets right: every image APGD-CE alone fools (same seed)
    is fooled by AutoAttack, and an image it leaves robust survives each component run on it alone. Same seed,
    same examples; the global RNG is left as it was."""
    import torchattacks

    from corelib.attacks import AutoAttack

    model, x, y, eps, attack, x_aa = aa_setting
    state = torch.random.get_rng_state()
    assert torch.equal(attack.reseeded(3)(model, x[:32], y[:32]), attack(model, x[:32], y[:32]))
    assert torch.equal(torch.random.get_rng_state(), state)
    with torch.no_grad():
        aa_fooled = model(x_aa).argmax(1) != y
        apgd_fooled = model(torchattacks.APGD(model, eps=eps, steps=10, seed=3, loss="ce")(x, y)).argmax(1) != y
    assert (aa_fooled | ~apgd_fooled).all()  # APGD-CE's successes ⊆ AutoAttack's
    survivors = (~aa_fooled).nonzero().flatten()
    for component in attack.components(model, 4):
        with torch.no_grad():
            assert (model(component(x[survivors], y[survivors])).argmax(1) == y[survivors]).all()
    assert [type(a).__name__ for a in AutoAttack(version="standard").components(model, 4)] == ["APGD", "APGDT", "FAB",
                                                                                               "Square"]


def test_apgd_and_our_pgd_agree_in_direction(aa_setting):
    """Both reduce accuracy at least as much as FGSM does (the issue's check that the two families agree)."""
    import torchattacks

    model, x, y, eps, _, _ = aa_setting
    fgsm = _acc(model, FGSM(eps)(model, x, y), y)
    ours = _acc(model, PGD(eps=eps, alpha=eps / 4, steps=10, seed=0)(model, x, y), y)
    apgd = _acc(model, torchattacks.APGD(model, eps=eps, steps=10, seed=0, loss="ce")(x, y), y)
    assert ours <= fgsm and apgd <= fgsm < _acc(model, x, y)


def test_autoattack_settings_are_checked():
    from corelib.attacks import AutoAttack

    with pytest.raises(ValueError, match="version='fast'"):
        AutoAttack(version="fast")
    with pytest.raises(ValueError, match="targets=10 but the model has 10 classes"):
        AutoAttack(targets=10).components(None, 10)
    with pytest.raises(ValueError, match="targets"):
        AutoAttack(targets=0)
    with pytest.raises(ValueError, match="steps"):
        AutoAttack(steps=0)


@pytest.mark.parametrize("component", ["apgd-ce", "apgd-t", "fab-t", "square"])
def test_each_standard_autoattack_component_runs_on_channels_last_resnet18_and_inputs(component):
    """The paper profile's yardstick on its model and its data layout, one attack at a time (in the full ensemble
    APGD fools an untrained model's images before FAB-T or Square ever run). FAB-T reshapes the input gradient with
    `.view`, which failed first on a channels_last model's gradient and then on a channels_last *batch*'s (the
    gradient's layout follows the input's; both found by the paper_smoke run). Each attack runs on the images,
    the result stays in the ε-ball and [0, 1], and it is the same with the same seed."""
    from corelib.attacks import AUTOATTACK_VERSIONS, AutoAttack
    from corelib.models import build_model

    class One(AutoAttack):
        def components(self, model, num_classes=10):
            made = super().components(model, num_classes)
            return [made[AUTOATTACK_VERSIONS["standard"].index(component)]]

    model = build_model("resnet18", seed=0).eval()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 3, 32, 32, generator=g).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        y = model(x).argmax(1)  # every image starts correctly classified, so the attack runs on every one
    calls = []
    attack = One(eps=8 / 255, version="standard", steps=2, targets=2, queries=5, seed=1)
    original = attack.components

    def spying(model, num_classes=10):
        made = original(model, num_classes)
        for a in made:
            forward = a.forward
            a.forward = lambda images, labels, forward=forward: calls.append(len(images)) or forward(images, labels)
        return made

    attack.components = spying
    x_adv = attack(model, x, y)
    assert calls == [3]
    assert (x_adv - x).abs().max() <= 8 / 255 + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1
    assert torch.equal(x_adv, attack(model, x, y))


class _Quantised(nn.Module):
    """A linear model on inputs rounded to quarters: the rounding has zero gradient everywhere (masked gradients),
    yet its predictions move under a large enough change of the input."""

    def __init__(self, d=12, classes=10):
        super().__init__()
        self.linear = nn.Linear(d, classes)

    def forward(self, x):
        return self.linear(torch.round(x.flatten(1) * 4) / 4)


def test_autoattacks_sanity_checks_flag_what_the_reference_flags_and_a_plain_model_passes():
    """A plain model in eval mode raises no flag; dropout left in training mode raises training_mode and random; a
    softmax head raises probabilities; rounded inputs raise zero_gradients, and there Square fools images the
    white-box attacks cannot (square). The checks leave the model's BatchNorm statistics as they were."""
    from corelib.attacks import AutoAttack
    from corelib.attacks.sanity import model_checks

    torch.manual_seed(0)
    x, y = torch.rand(40, 3, 2, 2), torch.randint(0, 10, (40,))
    plain = Linear(torch.randn(10, 12)).eval()
    assert model_checks(plain, x, y) == []
    dropout = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(12, 10)).train()
    assert model_checks(dropout, x, y) == ["training_mode", "random"]
    softmax = nn.Sequential(nn.Flatten(), nn.Linear(12, 10), nn.Softmax(dim=1)).eval()
    assert model_checks(softmax, x, y) == ["probabilities"]
    batchnorm = nn.Sequential(nn.Flatten(), nn.BatchNorm1d(12), nn.Linear(12, 10)).train()
    before = batchnorm[1].running_mean.clone()
    assert "training_mode" in model_checks(batchnorm, x, y) and torch.equal(batchnorm[1].running_mean, before)
    quantised = _Quantised().eval()
    assert model_checks(quantised, x, y) == ["zero_gradients"]
    attack = AutoAttack(eps=0.3, version="standard", steps=5, targets=1, queries=200, seed=0)
    attack(quantised, x, y)
    assert attack.checks() == "zero_gradients;square"
    clean = AutoAttack(eps=8 / 255, version="ci", steps=3, targets=1, seed=0)
    clean(plain, x, y)
    assert clean.checks() == "none" and clean.reseeded(1).checks() == "none"

import pytest

from corelib.attacks import FGSM, PGD
from corelib.evaluate import accuracy, evaluate, fgsm_sweep, robust_accuracy


def test_sweep_from_one_gradient_equals_separate_fgsm_runs(trained_tiny):
    model, pool = trained_tiny
    eps = [0.0, 2 / 255, 8 / 255, 16 / 255]
    sweep = fgsm_sweep(model, pool, eps, batch_size=50)
    separate = [robust_accuracy(model, pool, FGSM(e), batch_size=50) for e in eps]
    assert sweep["accuracy"].tolist() == pytest.approx(separate, abs=1e-12)
    assert sweep["accuracy"].iloc[0] == pytest.approx(accuracy(model, pool))
    assert sweep["eps_255"].tolist() == pytest.approx([0, 2, 8, 16])


def test_evaluate_table_and_mode_restored(trained_tiny):
    model, pool = trained_tiny
    model.train()
    table = evaluate(model, pool, {"pgd3": PGD(8 / 255, 2 / 255, 3)}, sweep_eps=[0, 8 / 255])
    assert model.training  # evaluate switched to eval mode and back
    model.eval()
    assert list(table.columns) == ["attack", "eps", "eps_255", "accuracy", "n"]
    assert table["attack"].tolist() == ["clean", "pgd3", "fgsm_sweep", "fgsm_sweep"]
    assert table["accuracy"].iloc[0] == pytest.approx(accuracy(model, pool))
    assert table["accuracy"].iloc[1] <= table["accuracy"].iloc[0]
    assert (table["n"] == len(pool)).all()


def test_evaluate_reports_the_per_image_worst_case_over_its_attacks(trained_tiny):
    """The worst-case row counts a sample as robust only when the model is right clean and under every attack:
    checked against per-image correctness computed directly from each attack's examples."""
    import torch

    from corelib.attacks import FGSM

    model, pool = trained_tiny
    attacks = {"fgsm": FGSM(0.04), "pgd": PGD(0.04, 0.01, 5, seed=1)}
    table = evaluate(model, pool, attacks, sweep_eps=None).set_index("attack")
    x, y = pool.float_images(torch.arange(len(pool))), pool.labels
    with torch.no_grad():
        right = [model(x).argmax(1) == y] + [model(a.reseeded(1)(model, x, y)).argmax(1) == y for a in attacks.values()]
    expected = torch.stack(right).all(0).float().mean().item()
    assert table.loc["worst_case", "accuracy"] == pytest.approx(expected)
    assert table.loc["worst_case", "accuracy"] <= min(table.loc["fgsm", "accuracy"], table.loc["pgd", "accuracy"])
    assert table.loc["worst_case", "accuracy"] < table.loc["fgsm", "accuracy"]  # the two attacks fool different images
    assert table.loc["worst_case", "eps"] == pytest.approx(0.04)

import math

import pytest
import torch

from corelib import convex_toy as ct


def _toy(n=60, d=4, c=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % c
    x = (torch.randn(c, d, generator=g)[y] + 0.8 * torch.randn(n, d, generator=g)).double()
    return x / x.norm(dim=1).max(), y


def test_robust_loss_is_the_worst_case_over_the_linf_ball_per_margin():
    # binary case: the worst ℓ∞ perturbation of the margin is exact, δ = −ε·sign(w_y − w_other)
    theta = torch.tensor([[1.0, -2.0, 0.5], [-1.0, 1.0, 0.0]], dtype=torch.float64)
    x, y, eps = torch.tensor([[0.3, 0.1]], dtype=torch.float64), torch.tensor([0]), 0.1
    delta = -eps * torch.sign(theta[0, :2] - theta[1, :2])
    z = (x + delta) @ theta[:, :2].T + theta[:, 2]
    expected = torch.nn.functional.cross_entropy(z, y)
    assert ct.robust_losses(theta, x, y, eps).item() == pytest.approx(expected.item(), abs=1e-12)
    # no perturbation in the box does better for the adversary (random search)
    for _ in range(200):
        d = (torch.rand(1, 2, dtype=torch.float64) * 2 - 1) * eps
        assert torch.nn.functional.cross_entropy((x + d) @ theta[:, :2].T + theta[:, 2], y) <= expected + 1e-12


def test_per_sample_gradients_match_autograd_and_respect_sigma():
    x, y = _toy()
    theta = torch.randn(3, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    grads = ct.per_sample_gradients(theta, x, y, 0.05)
    for i in (0, 7, 59):
        t = theta.clone().requires_grad_(True)
        ct.robust_losses(t, x[i:i + 1], y[i:i + 1], 0.05).sum().backward()
        assert torch.allclose(grads[i], t.grad.flatten())
    assert grads.norm(dim=1).max() <= ct.gradient_bound(x, 0.05)


def test_theorem_1_bound_holds_and_full_gradient_has_no_error_term():
    x, y = _toy()
    summary, traces = ct.bound_table(ct.RobustProblem(x, y, 3, eps=0.05, radius=2.0), horizons=[10, 40], fraction=0.2, period=2,
                                     solve_iterations=600)
    assert ct.check_bound(summary) and (summary["observed"] >= 0).all()
    full = summary[summary.method == "full"]
    assert (full["gamma_term"] == 0).all()
    assert full["bound"].tolist() == pytest.approx([2 * 2.0 * ct.gradient_bound(x, 0.05) / math.sqrt(t) for t in (10, 40)])
    # weighted gradient matching approximates the full gradient better than a random subset of the same size
    mean_gamma = summary.groupby("method")["mean_gamma"].mean()
    assert mean_gamma["gradmatch"] < mean_gamma["random"]
    assert len(traces) == 4 * (10 + 40) and traces["loss"].notna().all()


def test_coreset_descent_is_deterministic_and_rejects_bad_settings():
    x, y = _toy()
    a = ct.coreset_descent(ct.RobustProblem(x, y, 3, 0.05, 1.0), 15, "random", 0.3, seed=4)
    b = ct.coreset_descent(ct.RobustProblem(x, y, 3, 0.05, 1.0), 15, "random", 0.3, seed=4)
    assert a.equals(b)
    with pytest.raises(ValueError, match="unknown method 'kcenter'"):
        ct.coreset_descent(ct.RobustProblem(x, y, 3, 0.05, 1.0), 5, "kcenter")
    with pytest.raises(ValueError, match="fraction 1.2 is outside"):
        ct.coreset_descent(ct.RobustProblem(x, y, 3, 0.05, 1.0), 5, "craig", 1.2)
    with pytest.raises(ValueError, match="renewal period 0"):
        ct.coreset_descent(ct.RobustProblem(x, y, 3, 0.05, 1.0), 5, "craig", 0.5, period=0)


def test_toy_features_are_centred_and_within_the_unit_ball():
    f = torch.randn(50, 20, generator=torch.Generator().manual_seed(0)) * 3 + 1
    z = ct.toy_features(f, dims=5)
    assert z.shape == (50, 5) and z.norm(dim=1).max() == pytest.approx(1.0) and z.mean(0).abs().max() < 1e-12

import itertools
import math

import pytest
import torch

from corelib.coreset_solvers import batchwise, craig, facility_location, gradmatch, per_class


@pytest.mark.parametrize("seed", range(5))
def test_craig_greedy_meets_the_submodular_guarantee(seed):
    g = torch.randn(9, 4, generator=torch.Generator().manual_seed(seed))
    chosen, weights = craig(g, 3)
    best = max(facility_location(g, s) for s in itertools.combinations(range(9), 3))
    assert facility_location(g, chosen.tolist()) >= (1 - 1 / math.e) * best
    assert len(set(chosen.tolist())) == 3 and weights.sum() == 9 and (weights >= 1).all()


def test_craig_covers_clusters_and_weights_are_cluster_sizes():
    gen = torch.Generator().manual_seed(0)
    far = torch.cat([torch.randn(6, 2, generator=gen) * 0.01, 10 + torch.randn(3, 2, generator=gen) * 0.01])
    chosen, weights = craig(far, 2)
    assert {int(c) < 6 for c in chosen} == {True, False}  # one representative per cluster
    assert sorted(weights.tolist()) == [3.0, 6.0]


def test_gradmatch_recovers_an_exact_nonnegative_combination():
    scale = torch.tensor([1.0, 2.0, 0.5, 3.0, 1.5, 2.5])
    g = torch.diag(scale)  # orthogonal atoms
    target = 2 * g[1] + 3 * g[4]
    chosen, weights = gradmatch(g, 2, lam=0.0, target=target)
    assert sorted(chosen.tolist()) == [1, 4]
    assert dict(zip(chosen.tolist(), weights.tolist())) == pytest.approx({1: 2.0, 4: 3.0})


def test_gradmatch_ridge_weights_match_the_closed_form():
    a = torch.tensor([1.0, 2.0, 3.0])
    g = torch.diag(a)
    chosen, weights = gradmatch(g, 3, lam=0.5)  # target Σ gᵢ, i.e. coefficient 1 on every atom
    expected = {j: float(a[j] ** 2 / (a[j] ** 2 + 0.5)) for j in range(3)}  # argmin (a w − a)² + λ w²
    assert dict(zip(chosen.tolist(), weights.tolist())) == pytest.approx(expected)


def test_gradmatch_weights_are_nonnegative_and_the_residual_shrinks():
    g = torch.randn(40, 8, generator=torch.Generator().manual_seed(3))
    target = g.sum(0)
    errors = []
    for k in (1, 3, 6):
        chosen, w = gradmatch(g, k, lam=0.1)
        assert (w >= 0).all() and len(chosen) == k
        errors.append(float((g[chosen].double().T @ w - target.double()).norm()))
    assert errors[0] >= errors[1] >= errors[2]


def test_per_class_sizes_and_weights():
    labels = torch.arange(60) % 3
    g = torch.randn(60, 5, generator=torch.Generator().manual_seed(1))
    positions, weights = per_class(g, labels, 0.2, solver="craig")
    assert len(positions) == 12 and torch.bincount(labels[positions]).tolist() == [4, 4, 4]
    assert weights.sum() == 60  # each class's cluster sizes add up to the class size
    positions, weights = per_class(g, labels, 0.2, solver="gradmatch", lam=0.1)
    assert len(positions) == 12 and torch.bincount(labels[positions]).tolist() == [4, 4, 4] and (weights > 0).all()


def test_gradmatch_fills_an_early_stop_to_exactly_k_with_unit_weights():
    # the target is matched exactly by 2 atoms, so pursuit stops after 2 picks; a coreset of k = 4 still has 4
    # samples: the 2 matched with their weights, then 2 distinct random others with weight 1 (the authors' fill)
    g = torch.diag(torch.tensor([1.0, 2.0, 0.5, 3.0, 1.5, 2.5]))
    target = 2 * g[1] + 3 * g[4]
    chosen, weights = gradmatch(g, 4, target=target, generator=torch.Generator().manual_seed(0))
    assert len(chosen) == 4 and len(set(chosen.tolist())) == 4
    assert chosen[:2].tolist() == [1, 4] and weights[:2].tolist() == pytest.approx([2.0, 3.0])
    assert weights[2:].tolist() == [1.0, 1.0] and not {1, 4} & set(chosen[2:].tolist())
    again, _ = gradmatch(g, 4, target=target, generator=torch.Generator().manual_seed(0))
    assert torch.equal(chosen, again)  # the fill follows the generator


def test_gradmatch_default_is_the_acs_configuration_without_a_ridge():
    import inspect

    assert inspect.signature(gradmatch).parameters["lam"].default == 0.0


def test_batchwise_returns_whole_batches():
    g = torch.randn(64, 5, generator=torch.Generator().manual_seed(2))
    positions, weights = batchwise(g, batch_size=8, fraction=0.25, solver="craig", seed=0)
    assert len(positions) == 16 and len(set(positions.tolist())) == 16
    assert float(weights.sum()) == pytest.approx(64, rel=0.01)  # 2 batches standing for 8 batches of 8
    again, _ = batchwise(g, batch_size=8, fraction=0.25, solver="craig", seed=0)
    assert torch.equal(positions, again)


def test_bad_solver_input_is_named():
    g = torch.randn(5, 2)
    with pytest.raises(ValueError, match="k=6 must be between 1 and the number of candidates \\(5\\)"):
        craig(g, 6)
    with pytest.raises(ValueError, match="unknown solver 'glister'"):
        per_class(g, torch.zeros(5, dtype=torch.long), 0.4, solver="glister")
    with pytest.raises(ValueError, match="fraction"):
        per_class(g, torch.zeros(5, dtype=torch.long), 0.0)


def test_greedy_loops_run_on_one_thread_and_restore_the_setting():
    """The greedy loops' thousands of tiny ops run on one torch thread (a busy neighbour core cannot stall them),
    and the caller's thread count comes back afterwards, also after an error."""
    import torch

    from corelib import coreset_solvers as cs
    from corelib.methods.gradient_matching import glister_greedy
    from corelib.utils import one_thread

    seen = []

    @one_thread
    def probe(fail=False):
        seen.append(torch.get_num_threads())
        if fail:
            raise RuntimeError("boom")

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        probe()
        with pytest.raises(RuntimeError):
            probe(fail=True)
        assert seen == [1, 1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    for fn in (cs.facility_location_greedy, cs.graph_cut_greedy, cs.herding, cs.k_center, cs.gradmatch, glister_greedy):
        assert fn.__wrapped__.__name__ == fn.__name__  # wrapped by one_thread


def _plain_facility_location(sim: torch.Tensor, k: int) -> list[int]:
    """Greedy facility location as written in the papers: every candidate's gain Σᵢ max(sim(i, j) − bestᵢ, 0)
    recomputed at every step (each column summed on its own, in plain Python order over i), the first of the
    largest taken."""
    n = len(sim)
    rows = sim.tolist()
    best, chosen = [0.0] * n, []
    for _ in range(k):
        gains = {j: math.fsum(max(rows[i][j] - best[i], 0.0) for i in range(n)) for j in range(n) if j not in chosen}
        top = max(gains.values())
        j = min(j for j, v in gains.items() if v == top)
        chosen.append(j)
        best = [max(b, rows[i][j]) for i, b in enumerate(best)]
    return chosen


def test_a_block_of_facility_location_gains_is_summed_exactly_as_all_of_them():
    """The lazy greedy's bounds stay bounds only if a block's gains are the very numbers the whole row-wise sum
    gives (the same additions in the same order); checked on non-dyadic doubles, where another order would round
    differently."""
    gen = torch.Generator().manual_seed(4)
    for n in (100, 1000, 3000):
        columns = torch.rand(n, n, generator=gen, dtype=torch.float64) * 3
        best = torch.rand(n, generator=gen, dtype=torch.float64) * 1.5
        every = (columns - best).clamp_min(0).sum(1)
        for size in (1, 3, 64, 257):
            rows = torch.randperm(n, generator=gen)[:size]
            assert torch.equal((columns[rows] - best).clamp_min(0).sum(1), every[rows])


@pytest.mark.parametrize("case", ["distances", "ties", "asymmetric", "all_covered"])
def test_lazy_facility_location_makes_the_plain_greedy_choices(case):
    """The lazy greedy (stale gains as upper bounds) takes the plain greedy's element at every step, ties (integer
    similarities, and zero gains once every sample is covered) broken towards the first position."""
    from corelib.coreset_solvers import facility_location_greedy
    gen = torch.Generator().manual_seed(11)
    n = 60
    if case == "distances":
        x = torch.randn(n, 5, generator=gen, dtype=torch.float64)
        d = torch.cdist(x, x)
        sim = (d.max() - d) * 64
        sim = sim.round() / 64  # dyadic values: every sum is exact, so the plain greedy's fsum is the same number
    elif case == "ties":
        sim = torch.randint(0, 4, (n, n), generator=gen).double()
    elif case == "asymmetric":
        sim = torch.randint(0, 50, (n, n), generator=gen).double()
    else:  # three distinct rows: after three picks every gain is 0
        sim = torch.randint(1, 9, (3, n), generator=gen).double().repeat(n // 3, 1)
    for k in (1, 7, n):
        for block in (1, 4, 64):
            assert facility_location_greedy(sim, k, block=block).tolist() == _plain_facility_location(sim, k), \
                (case, k, block)

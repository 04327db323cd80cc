import pytest
import torch

from conftest import synthetic_pool
from corelib.sampling import check_fraction, coreset_size
from corelib.select import Selection, random_selection, select_by_score


@pytest.mark.parametrize("bad", [0, -0.1, 1.5, float("nan"), "ten"])
def test_fraction_outside_unit_interval_is_named(bad):
    with pytest.raises(ValueError, match="fraction"):
        check_fraction(bad)
    with pytest.raises(ValueError, match="fraction"):
        random_selection(synthetic_pool(), bad)


def test_sizes_are_exact_and_class_balanced():
    pool = synthetic_pool(n=100)  # 25 per class
    assert coreset_size(100, 1.0) == 100 and coreset_size(100, 0.001) == 1 and coreset_size(100, 0.105) == 10
    sel = random_selection(pool, 0.3, seed=0)
    assert len(sel) == 30
    counts = torch.bincount(pool.subset(sel.indices).labels, minlength=4)
    assert counts.sum() == 30 and counts.max() - counts.min() <= 1
    assert torch.equal(sel.indices, random_selection(pool, 0.3, seed=0).indices)
    assert not torch.equal(sel.indices, random_selection(pool, 0.3, seed=1).indices)
    assert set(sel.indices.tolist()) <= set(pool.indices.tolist())


def test_top_and_bottom_keep_the_extreme_scores_per_class():
    pool = synthetic_pool(n=40)
    scores = torch.arange(40, dtype=torch.float32)  # class c holds positions c, c+4, ...: its largest are last
    top = select_by_score(pool, scores, 0.2, keep="top")
    bottom = select_by_score(pool, scores, 0.2, keep="bottom")
    assert sorted(pool.positions(top.indices).tolist()) == list(range(32, 40))
    assert sorted(pool.positions(bottom.indices).tolist()) == list(range(0, 8))
    unbalanced = select_by_score(pool, scores, 0.1, keep="top", class_balanced=False)
    assert sorted(pool.positions(unbalanced.indices).tolist()) == [36, 37, 38, 39]
    with pytest.raises(ValueError, match="keep='middle'"):
        select_by_score(pool, scores, 0.2, keep="middle")
    with pytest.raises(ValueError, match="3 scores for a pool of 40"):
        select_by_score(pool, scores[:3], 0.2)


def test_ties_are_broken_by_the_seed():
    pool = synthetic_pool(n=40)
    flat = torch.zeros(40)
    a = {tuple(select_by_score(pool, flat, 0.2, seed=s).indices.tolist()) for s in range(5)}
    assert len(a) > 1
    assert torch.equal(select_by_score(pool, flat, 0.2, seed=3).indices, select_by_score(pool, flat, 0.2, seed=3).indices)


def test_selection_round_trip(tmp_path):
    pool = synthetic_pool(n=40)
    sel = select_by_score(pool, torch.rand(40), 0.25, method="demo")
    sel.weights = torch.rand(len(sel))
    path = sel.save(tmp_path / "sel.csv")
    back = Selection.load(path)
    assert torch.equal(back.indices, sel.indices) and torch.allclose(back.weights.float(), sel.weights, atol=1e-6)
    assert back.method == "demo" and back.config["fraction"] == 0.25
    frame = sel.scores_frame()
    assert frame["selected"].sum() == len(sel) and len(frame) == 40
    assert list(sel.torch_subset(list(range(200)))) == sel.indices.tolist()

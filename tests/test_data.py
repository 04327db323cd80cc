import warnings

import pytest
import torch

from conftest import synthetic_pool, write_fake_cifar
from corelib.data import cifar10 as data  # the files: what the tests patch
from corelib.data import DataNotFoundError, UnofficialDataWarning, augment, load_cifar10
from corelib.sampling import balanced_counts, class_balanced_pool, load_pools


def test_data_root_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("CORELIB_DATA", str(tmp_path / "env"))
    assert data.data_root(tmp_path / "arg") == tmp_path / "arg"
    assert data.data_root() == tmp_path / "env"
    monkeypatch.delenv("CORELIB_DATA")
    assert data.data_root().parts[-3:] == (".cache", "corelib", "data")


def test_missing_data_and_no_network_names_the_fix(monkeypatch, tmp_path):
    def offline(root):
        raise OSError("no route to host")

    monkeypatch.setattr(data, "_download_official", offline)
    with pytest.raises(DataNotFoundError, match="CORELIB_DATA") as err:
        load_cifar10("train", root=tmp_path / "empty")
    assert "no route to host" in str(err.value) and "prepare.py" in str(err.value)
    with pytest.raises(DataNotFoundError, match="download=False"):
        load_cifar10("train", root=tmp_path / "empty", download=False)


def test_unofficial_copy_loads_with_one_warning(tmp_path, monkeypatch):
    monkeypatch.setitem(data.SPLIT_SIZES, "train", 100)  # the fake's 5 batches of 20 and test batch of 30
    monkeypatch.setitem(data.SPLIT_SIZES, "test", 30)
    root = write_fake_cifar(tmp_path)
    data._warned_roots.discard(str(root))
    with pytest.warns(UnofficialDataWarning, match="md5"):
        train = load_cifar10("train", root=root)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the second load must not warn again
        test = load_cifar10("test", root=root)
    assert train.images.shape == (100, 3, 32, 32) and train.images.dtype == torch.uint8
    assert torch.equal(train.indices, torch.arange(100)) and train.labels[:12].tolist() == [*range(10), 0, 1]
    assert len(test) == 30 and train.source == data.UNOFFICIAL
    with pytest.raises(ValueError, match="unknown split 'val'"):
        load_cifar10("val", root=root)


def test_balanced_counts_exact_total_and_largest_remainder():
    labels = torch.tensor([0] * 5 + [1] * 3 + [2] * 2)
    counts = balanced_counts(labels, 5, seed=0)  # quotas 2.5, 1.5, 1.0
    assert tuple(counts.tolist()) in {(3, 1, 1), (2, 2, 1)}  # floors 2, 1, 1 and one remainder to class 0 or 1
    assert balanced_counts(labels, 10, seed=3).tolist() == [5, 3, 2]
    assert torch.equal(balanced_counts(labels, 5, seed=7), balanced_counts(labels, 5, seed=7))
    ties = {tuple(balanced_counts(labels, 5, seed=s).tolist()) for s in range(20)}
    assert ties == {(3, 1, 1), (2, 2, 1)}  # the tie between classes 0 and 1 is broken by the seed
    with pytest.raises(ValueError, match="cannot take 11 samples from 10"):
        balanced_counts(labels, 11, seed=0)


def test_class_balanced_pool_keeps_original_indices_and_is_deterministic():
    full = synthetic_pool(n=200)
    a, b, c = class_balanced_pool(full, 40, seed=1), class_balanced_pool(full, 40, seed=1), class_balanced_pool(full, 40, seed=2)
    assert len(a) == 40 and torch.bincount(a.labels).tolist() == [10, 10, 10, 10]
    assert torch.equal(a.indices, b.indices) and not torch.equal(a.indices, c.indices)
    assert torch.all(a.indices[1:] > a.indices[:-1])  # ascending
    pos = full.positions(a.indices)
    assert torch.equal(full.images[pos], a.images) and torch.equal(full.labels[pos], a.labels)
    with pytest.raises(ValueError, match="size=201 is not possible"):
        class_balanced_pool(full, 201, seed=0)


def test_pool_positions_reject_unknown_indices():
    p = synthetic_pool(n=10)  # indices 7, 10, ..., 34
    assert p.positions([10, 34]).tolist() == [1, 9]
    with pytest.raises(KeyError, match=r"\[8\]"):
        p.positions([7, 8])
    assert p.subset([34, 7]).indices.tolist() == [7, 34]


@pytest.mark.parametrize("name,size", [("train_size", 50_001), ("test_size", 10_001), ("train_size", 0)])
def test_load_pools_rejects_impossible_sizes(name, size):
    kwargs = {"train_size": 100, "test_size": 100, name: size}
    with pytest.raises(ValueError, match=f"{name}={size}"):
        load_pools(**kwargs)


def test_augment_is_a_crop_of_the_padded_image_or_its_flip():
    x = torch.rand(16, 3, 8, 8)
    out = augment(x, torch.Generator().manual_seed(0), padding=2, flip=True)
    assert out.shape == x.shape
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(len(x)):
        crops = [padded[i, :, dy:dy + 8, dx:dx + 8] for dy in range(5) for dx in range(5)]
        assert any(torch.equal(out[i], c) or torch.equal(out[i], c.flip(2)) for c in crops)
    again = augment(x, torch.Generator().manual_seed(0), padding=2, flip=True)
    assert torch.equal(out, again)
    only_flip = augment(x, torch.Generator().manual_seed(1), padding=0, flip=True)
    flipped = [not torch.equal(only_flip[i], x[i]) for i in range(len(x))]
    assert all(torch.equal(only_flip[i], x[i].flip(2)) for i in range(len(x)) if flipped[i])
    assert 0 < sum(flipped) < len(x)

import pandas as pd
import pytest

from corelib.cache import ArtifactCache
from corelib.utils import atomic_write_text, config_hash


def test_keys_ignore_key_order_and_see_every_value(tmp_path):
    cache = ArtifactCache(tmp_path)
    assert cache.key("m", {"a": 1, "b": [1, 2]}) == cache.key("m", {"b": [1, 2], "a": 1})
    assert cache.key("m", {"a": 1}) != cache.key("m", {"a": 2}) != cache.key("n", {"a": 2})
    assert config_hash({"x": 1.0}) != config_hash({"x": 1.0000001})


def test_computed_once_then_loaded(tmp_path):
    cache, calls = ArtifactCache(tmp_path), []

    def compute():
        calls.append(1)
        return pd.DataFrame({"index": [3, 1], "score": [0.5, 0.25]})

    first = cache.dataframe("scores", {"k": 4}, compute)
    second = cache.dataframe("scores", {"k": 4}, compute)
    assert calls == [1] and second.equals(first)
    files = sorted(p.name for p in (tmp_path / "scores").iterdir())
    assert len(files) == 2 and files[0].endswith(".csv") and files[1].endswith(".csv.json")


def test_a_failed_write_leaves_no_file(tmp_path):
    class Boom(str):
        def encode(self):
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write_text(tmp_path / "x.csv", Boom("data"))
    assert list(tmp_path.iterdir()) == []


def _model_cache_entry(tmp_path):
    """A tiny model trained through `fit` into a cache; returns (cache folder, the entry's .pt, a fit call)."""
    from conftest import synthetic_pool
    from corelib.train import TrainConfig, fit

    pool = synthetic_pool(n=32, size=8)
    config = TrainConfig(epochs=1, batch_size=16, augment=False, channels_last=False)

    def run():
        cache = ArtifactCache(tmp_path)
        return cache, fit("small_cnn", pool, config, cache=cache)

    cache, first = run()
    (entry,) = (tmp_path / "model").glob("*.pt")
    return entry, first, run


def _weights(model):
    import torch

    return torch.cat([p.detach().flatten() for p in model.state_dict().values() if p.is_floating_point()])


def test_flipped_bytes_in_a_cached_model_are_detected_and_recomputed(tmp_path):
    import torch

    entry, first, run = _model_cache_entry(tmp_path)
    data = bytearray(entry.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 64] = bytes(255 - b for b in data[middle:middle + 64])  # 64 flipped bytes, same size
    entry.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match=f"cache entry .*{entry.name} does not match its SHA-256"):
        cache, again = run()
    assert cache.misses == [entry.name] and cache.hits == [] and len(cache.discarded) == 1
    assert torch.equal(_weights(again.model), _weights(first.model))  # recomputed, identical
    assert cache.verify(entry) is None


def test_a_truncated_cached_model_is_named_and_recomputed(tmp_path):
    entry, first, run = _model_cache_entry(tmp_path)
    entry.write_bytes(entry.read_bytes()[:1000])
    with pytest.warns(UserWarning, match=f"{entry.name} has 1000 bytes where"):
        cache, _ = run()
    assert cache.misses == [entry.name]
    cache, _ = run()
    assert cache.hits == [entry.name]  # the recomputed entry verifies


def test_a_table_cut_mid_row_is_recomputed_not_read_as_nan(tmp_path):
    cache, calls = ArtifactCache(tmp_path), []

    def compute():
        calls.append(1)
        return pd.DataFrame({"index": [3, 1, 5], "p0": [0.5, 0.25, 0.75], "p1": [0.5, 0.75, 0.25]})

    cache.dataframe("sensitivity", {"k": 4}, compute)
    (csv,) = (tmp_path / "sensitivity").glob("*.csv")
    text = csv.read_text()
    csv.write_text(text[: text.rindex(",")])  # cut inside the last row: that row's p1 would read as NaN
    with pytest.warns(UserWarning, match="discarded, recomputing"):
        table = cache.dataframe("sensitivity", {"k": 4}, compute)
    assert calls == [1, 1] and table["p1"].notna().all()


def test_an_entry_without_checksum_is_not_trusted(tmp_path):
    import json

    cache = ArtifactCache(tmp_path)
    cache.dataframe("t", {"a": 1}, lambda: pd.DataFrame({"x": [1.0]}))
    (side,) = (tmp_path / "t").glob("*.json")
    side.write_text(json.dumps({"a": 1}))  # the sidecar an older version wrote: the configuration only
    with pytest.warns(UserWarning, match="has no checksum"):
        table = cache.dataframe("t", {"a": 1}, lambda: pd.DataFrame({"x": [2.0]}))
    assert table["x"].tolist() == [2.0]


def test_non_finite_tables_are_never_cached(tmp_path):
    from corelib.utils import NonFiniteError

    cache = ArtifactCache(tmp_path)
    with pytest.raises(NonFiniteError, match=r"columns \['p0'\]"):
        cache.dataframe("t", {"a": 1}, lambda: pd.DataFrame({"index": [1, 2], "p0": [0.5, float("nan")]}))
    assert not list(tmp_path.rglob("*.csv"))


def test_sensitivity_probabilities_with_nan_are_refused():
    from corelib.sensitivity import table_probabilities

    rows = [{"index": 1, "label": 0, "k": k, "p0": 0.5, "p1": 0.5} for k in (0, 1)]
    rows[1]["p1"] = float("nan")
    with pytest.raises(ValueError, match="non-finite probabilities for 1 samples"):
        table_probabilities(pd.DataFrame(rows), ks=(1,))


def test_written_files_get_the_usual_permissions(tmp_path):
    """Results, cache entries and pages are readable by others under the usual umask (before: 0600)."""
    import os

    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "r.csv", "a\n1\n")
        ArtifactCache(tmp_path).dataframe("t", {"a": 1}, lambda: pd.DataFrame({"x": [1.0]}))
    finally:
        os.umask(old)
    modes = {p.name[-4:]: p.stat().st_mode & 0o777 for p in tmp_path.rglob("*") if p.is_file()}
    assert set(modes.values()) == {0o644}, modes
    with pytest.raises(IsADirectoryError, match="is a folder"):
        atomic_write_text(tmp_path, "x")


def test_an_entry_copied_under_another_key_is_refused_and_recomputed(tmp_path):
    """The checksum proves a file matches its own sidecar; the sidecar also names the entry it was written for, so
    a file and sidecar copied under another key's name are refused, not loaded as that key's result."""
    cache, calls = ArtifactCache(tmp_path), []

    def compute(value):
        calls.append(value)
        return pd.DataFrame({"index": [0, 1], "score": [value, value]})

    cache.dataframe("scores", {"k": 1}, lambda: compute(1.0))
    cache.dataframe("scores", {"k": 2}, lambda: compute(2.0))
    one, two = cache.path("scores", {"k": 1}, ".csv"), cache.path("scores", {"k": 2}, ".csv")
    two.write_bytes(one.read_bytes())  # entry 1 copied over entry 2, sidecar and all
    cache.sidecar(two).write_bytes(cache.sidecar(one).read_bytes())
    with pytest.warns(UserWarning, match="is not the entry of this key"):
        again = cache.dataframe("scores", {"k": 2}, lambda: compute(2.0))
    assert again["score"].tolist() == [2.0, 2.0] and calls == [1.0, 2.0, 2.0]
    assert cache.verify(two) is None and cache.verify(one) is None

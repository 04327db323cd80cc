"""Malformed, damaged or hostile CIFAR-10 folders are refused with the file's name; genuine ones load."""
import hashlib
import io
import os
import pickle
import struct

import numpy as np
import pytest

from conftest import write_fake_cifar
from corelib.data import cifar10 as data  # the files: what the tests patch
from corelib.data import FOLDER, DataIntegrityError, load_cifar10


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """conftest's tiny folder (5 train batches of 20, a test batch of 30), with the split sizes to match."""
    monkeypatch.setitem(data.SPLIT_SIZES, "train", 100)
    monkeypatch.setitem(data.SPLIT_SIZES, "test", 30)
    return write_fake_cifar(tmp_path)


def dump(path, obj, protocol=pickle.DEFAULT_PROTOCOL):
    path.write_bytes(pickle.dumps(obj, protocol=protocol))


def write_sums(listing, root, names, prefix=""):
    folder = root / FOLDER
    lines = [f"{hashlib.sha256((folder / n).read_bytes()).hexdigest()}  {prefix}{n}\n" for n in names]
    listing.write_text("".join(lines))


ALL = data.TRAIN_FILES + data.TEST_FILES + ["batches.meta"]


def test_more_labels_than_images_is_refused_naming_the_batch(tmp_path):
    """The reported case, at full size: 9,900 images and 10,000 labels in data_batch_1."""
    root = write_fake_cifar(tmp_path)  # the other batches stay tiny: loading stops at the first one
    bad = {"data": np.zeros((9_900, 3072), np.uint8), "labels": [i % 10 for i in range(10_000)]}
    dump(root / FOLDER / "data_batch_1", bad)
    with pytest.raises(DataIntegrityError, match=r"data_batch_1: holds 9,900 images but 10,000 labels"):
        load_cifar10("train", root=root)


@pytest.mark.parametrize("cut", [0.5, 0.999])
def test_truncated_batch_names_the_file_and_the_fix(fake, cut):
    path = fake / FOLDER / "data_batch_3"
    raw = path.read_bytes()
    path.write_bytes(raw[:int(len(raw) * cut)])
    with pytest.raises(DataIntegrityError, match=r"data_batch_3: cannot be read as a CIFAR-10 batch") as err:
        load_cifar10("train", root=fake)
    assert "truncated or damaged" in str(err.value) and "prepare.py" in str(err.value)
    assert isinstance(err.value.__cause__, (EOFError, pickle.UnpicklingError))


@pytest.mark.parametrize("label", [10, -1, 2.0, True])
def test_label_outside_the_ten_classes_is_refused(fake, label):
    labels = [i % 10 for i in range(30)]
    labels[7] = label
    dump(fake / FOLDER / "test_batch", {"data": np.zeros((30, 3072), np.uint8), "labels": labels})
    why = rf"test_batch: label {label!r} at position 7 is not an integer class in 0\.\.9"
    with pytest.raises(DataIntegrityError, match=why):
        load_cifar10("test", root=fake)


@pytest.mark.parametrize("entry,why", [
    ({"data": np.zeros((20, 3072), np.uint8)}, r"has no 'labels' entry"),
    ({"data": np.zeros((20, 3072), np.int64), "labels": [0] * 20}, r"'data' is a int64 ndarray, not a uint8 numpy"),
    ({"data": np.zeros((20, 3000), np.uint8), "labels": [0] * 20}, r"'data' has shape \(20, 3000\)"),
    ({"data": np.zeros((20, 32, 32, 3), np.uint8), "labels": [0] * 20}, r"'data' has shape \(20, 32, 32, 3\)"),
    ({"data": np.zeros((19, 3072), np.uint8), "labels": [0] * 19}, r"holds 19 samples; every CIFAR-10 train batch holds 20 "),
])
def test_malformed_batch_is_refused_naming_the_file(fake, entry, why):
    dump(fake / FOLDER / "data_batch_2", entry)
    with pytest.raises(DataIntegrityError, match=f"data_batch_2: {why}"):
        load_cifar10("train", root=fake)


def test_short_but_consistent_batch_at_real_size_is_refused(tmp_path):
    """9,900 images with 9,900 labels would shift the dataset index of every later sample."""
    root = write_fake_cifar(tmp_path)
    dump(root / FOLDER / "test_batch", {"data": np.zeros((9_900, 3072), np.uint8), "labels": [0] * 9_900})
    why = r"test_batch: holds 9,900 samples; every CIFAR-10 test batch holds 10,000 "
    with pytest.raises(DataIntegrityError, match=why):
        load_cifar10("test", root=root)


class RunsCode:
    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __reduce__(self):
        return self.func, (self.arg,)


@pytest.mark.parametrize("protocol", [2, pickle.DEFAULT_PROTOCOL])
@pytest.mark.parametrize("func", ["system", "eval"])
def test_pickle_that_runs_code_is_refused_before_it_runs(fake, tmp_path, protocol, func):
    marker = tmp_path / "pwned"
    if func == "system":
        payload, refused = RunsCode(os.system, f"echo pwned > {marker}"), r"(posix|nt|os)\.system"
    else:
        payload, refused = RunsCode(eval, f"open({str(marker)!r}, 'w').write('pwned')"), r"(__builtin__|builtins)\.eval"
    dump(fake / FOLDER / "data_batch_1",
         {"data": np.zeros((20, 3072), np.uint8), "labels": [0] * 20, "x": payload}, protocol=protocol)
    why = rf"data_batch_1: refused to unpickle {refused}: .* not a CIFAR-10 copy you can trust"
    with pytest.raises(DataIntegrityError, match=why):
        load_cifar10("train", root=fake)
    assert not marker.exists()


@pytest.mark.parametrize("where", ["folder", "root", "root-prefixed"])
def test_sha256sums_mismatch_names_the_file(fake, where):
    listing, prefix = {"folder": (fake / FOLDER / "SHA256SUMS", ""), "root": (fake / "SHA256SUMS", ""),
                       "root-prefixed": (fake / "SHA256SUMS", f"{FOLDER}/")}[where]
    write_sums(listing, fake, ALL, prefix)
    path = fake / FOLDER / "data_batch_4"  # one flipped pixel: still a perfectly valid batch
    entry = pickle.loads(path.read_bytes())
    entry["data"][3, 5] ^= 1
    dump(path, entry)
    why = r"data_batch_4: SHA-256 [0-9a-f]{64} does not match [0-9a-f]{64} listed in .*SHA256SUMS: the file is damaged"
    with pytest.raises(DataIntegrityError, match=why):
        load_cifar10("test", root=fake)  # checked before any batch is loaded, whichever split is asked for
    with pytest.raises(DataIntegrityError, match="data_batch_4: SHA-256"):
        data.ensure_cifar10(fake, download=False)


def test_sha256sums_missing_a_batch_is_refused(fake):
    write_sums(fake / FOLDER / "SHA256SUMS", fake, [n for n in ALL if n != "data_batch_5"])
    with pytest.raises(DataIntegrityError, match=r"data_batch_5: has no checksum in .*SHA256SUMS"):
        load_cifar10("train", root=fake)


def test_correct_sha256sums_passes_once_and_a_later_change_is_caught(fake, monkeypatch):
    write_sums(fake / "SHA256SUMS", fake, ALL)  # bare names beside the folder, as the shared list has them
    hashed = []
    real_sha256 = data._sha256
    monkeypatch.setattr(data, "_sha256", lambda path: hashed.append(path.name) or real_sha256(path))
    with pytest.warns(data.UnofficialDataWarning, match=r"match the SHA-256 checksums in .*SHA256SUMS"):
        train = load_cifar10("train", root=fake)
    test = load_cifar10("test", root=fake)
    assert len(train) == 100 and len(test) == 30 and train.labels[:12].tolist() == [*range(10), 0, 1]
    assert sorted(hashed) == sorted(ALL)  # every listed file, once for both loads
    path = fake / FOLDER / "test_batch"
    entry = pickle.loads(path.read_bytes())
    entry["labels"][0] = 9
    dump(path, entry)  # a new size or mtime: checked again
    with pytest.raises(DataIntegrityError, match="test_batch: SHA-256"):
        load_cifar10("train", root=fake)


class Py2Pickler(pickle._Pickler):
    """Pickles like the official 2009 batches (and prepare.py): protocol 2, bytes as Python 2 str,
    numpy's reconstructor under its old name numpy.core.multiarray."""

    dispatch = pickle._Pickler.dispatch.copy()

    def _save_py2str(self, obj):
        self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = _save_py2str

    def save_global(self, obj, name=None):
        module, name = obj.__module__.replace("numpy._core", "numpy.core"), name or obj.__qualname__
        self.write(pickle.GLOBAL + f"{module}\n{name}\n".encode("ascii"))
        self.memoize(obj)


@pytest.mark.parametrize("protocol", ["py2", 0, 2, 4, 5])
def test_batches_pickled_as_the_official_files_or_by_numpy_still_load(fake, protocol):
    rng = np.random.default_rng(1)
    pixels, labels = rng.integers(0, 256, (30, 3072), dtype=np.uint8), [int(x) for x in rng.integers(0, 10, 30)]
    path = fake / FOLDER / "test_batch"
    if protocol == "py2":
        buf = io.BytesIO()
        Py2Pickler(buf, protocol=2).dump({b"batch_label": b"testing batch 1 of 1", b"labels": labels,
                                          b"data": pixels, b"filenames": [b"x.png"] * 30})
        path.write_bytes(buf.getvalue())
        assert b"cnumpy.core.multiarray\n_reconstruct\n" in buf.getvalue()
    elif protocol == 2:  # images as (n, 3, 32, 32) and labels as an array are accepted too
        dump(path, {"data": pixels.reshape(30, 3, 32, 32), "labels": np.asarray(labels, np.uint8)}, protocol=2)
    else:
        dump(path, {"data": pixels, "labels": labels, "batch_label": "testing batch 1 of 1"}, protocol=protocol)
    test = load_cifar10("test", root=fake)
    assert np.array_equal(test.images.numpy().reshape(30, 3072), pixels) and test.labels.tolist() == labels


def test_codecs_encode_is_admitted_for_latin1_only(fake):
    class Rot13:
        def __reduce__(self):
            return __import__("_codecs").encode, ("uryyb", "rot13")

    dump(fake / FOLDER / "test_batch", {"data": np.zeros((30, 3072), np.uint8), "labels": [0] * 30, "x": Rot13()})
    with pytest.raises(DataIntegrityError, match=r"test_batch: cannot be read .*latin-1 text only, not 'rot13'"):
        load_cifar10("test", root=fake)

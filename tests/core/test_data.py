"""roarkit.core.data on the real MNIST / Fashion-MNIST files, on damaged copies of them, and on CIFAR-10
batches written in the real on-disk format (CIFAR-10 itself is not on this machine)."""
import gzip
import hashlib
import json
import os
import pickle
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import roarkit.core.data as D
from roarkit.core.data import DataError, DataNotFound

# md5s from /work/shared/data/mnist/README.md, and of Debian's dataset-fashion-mnist files.
MNIST_MD5 = {"t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
             "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
             "train-images-idx3-ubyte.gz": "fc8c80e2facbc48dfb7430fc80f306f5",
             "train-labels-idx1-ubyte.gz": "5ee67e8d106b5ee68fdccf86823e498f"}
FASHION_MD5 = {"t10k-images-idx3-ubyte.gz": "f78720b4224f21cce2f2ccf2d7a94c9a",
               "t10k-labels-idx1-ubyte.gz": "0d30e22e447f3c33dab9ed536400ac01",
               "train-images-idx3-ubyte.gz": "cf8536b0aa1a6ac5fa3f23001093305c",
               "train-labels-idx1-ubyte.gz": "10bea18fdb374794d4bb42e356e600c9"}
# Class counts of the first 10,000 canonical MNIST training labels and of the canonical test set.
MNIST_TRAIN_COUNTS = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
CIFAR_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    """Each test starts without the user's ROARKIT_DATA / ROARKIT_DOWNLOAD."""
    monkeypatch.delenv("ROARKIT_DATA", raising=False)
    monkeypatch.delenv("ROARKIT_DOWNLOAD", raising=False)


def copy_mnist(src: Path, dst: Path, raw: bool = False) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    for f in MNIST_MD5:
        if raw:
            (dst / f[:-3]).write_bytes(gzip.decompress((src / f).read_bytes()))
        else:
            shutil.copy(src / f, dst / f)
    return dst


def idx_bytes(path: Path) -> bytearray:
    return bytearray(gzip.decompress(path.read_bytes()))


def gz(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=1)


def counts(y) -> list:
    return torch.bincount(y.cpu(), minlength=10).tolist()


# ------------------------------------------------------------------------------------- real data
def test_mnist_shared_copy(mnist_dir):
    readme = (mnist_dir / "README.md").read_text()
    assert all(m in readme for m in MNIST_MD5.values())
    d = D.load("mnist", mnist_dir)
    assert d.name == d.info.name == "mnist"
    assert d.info.source == str(mnist_dir.resolve())
    assert d.info.md5s == MNIST_MD5
    assert [f for f, _, _ in d.info.files] == sorted(MNIST_MD5)
    assert all(n == 10_000 for _, _, n in d.info.files)
    assert (d.info.n_train, d.info.n_test, d.info.n_train_available, d.info.n_test_available) == (10_000,) * 4
    assert d.info.subset_seed is None
    assert d.info.summary() == (f"mnist: 10,000 train / 10,000 test images (of 10,000 / 10,000) "
                                f"from {mnist_dir.resolve()}")
    as_dict = json.loads(json.dumps(d.info.as_dict()))
    assert as_dict["files"][0] == {"file": "t10k-images-idx3-ubyte.gz", "md5": MNIST_MD5["t10k-images-idx3-ubyte.gz"],
                                   "n": 10_000}
    assert d.x_train.shape == (10_000, 1, 28, 28) and d.x_test.shape == (10_000, 1, 28, 28)
    assert d.x_train.dtype == torch.float32 and d.y_train.dtype == torch.int64
    assert d.image_shape == (1, 28, 28) and d.num_classes == 10 and d.device == torch.device("cpu")
    assert d.classes == [str(i) for i in range(10)]
    assert counts(d.y_train) == MNIST_TRAIN_COUNTS and counts(d.y_test) == MNIST_TEST_COUNTS
    assert d.y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]  # the canonical first labels
    assert d.y_test[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert d.normalized and d.mean.shape == (1,) and d.std.shape == (1,)
    assert 0.12 < d.mean.item() < 0.14 and 0.30 < d.std.item() < 0.32  # MNIST's well-known 0.1307 / 0.3081
    assert abs(d.x_train.mean().item()) < 1e-4 and abs(d.x_train.std().item() - 1) < 1e-3
    assert abs(d.x_test.mean().item()) < 0.05  # test uses the train stats: close to, not exactly, 0
    pix = d.unnormalize(d.x_test)
    assert pix.min().item() > -1e-5 and pix.max().item() < 1 + 1e-5
    raw = D.load("mnist", mnist_dir, normalize=False)
    assert not raw.normalized and torch.equal(raw.mean, d.mean) and torch.equal(raw.unnormalize(raw.x_test), raw.x_test)
    assert torch.allclose(pix, raw.x_test, atol=1e-6)
    assert torch.allclose(d.normalize(raw.x_test), d.x_test, atol=1e-5)
    # pixels are exact multiples of 1/255 and match read_idx
    u8 = D.read_idx(mnist_dir / "train-images-idx3-ubyte.gz")
    assert u8.dtype == torch.uint8 and u8.shape == (10_000, 28, 28)
    assert torch.equal((raw.x_train[:, 0] * 255).round().to(torch.uint8), u8)


def test_fashion_from_debian(fashion_dir):
    t = time.perf_counter()
    d = D.load("fashion-mnist")  # no root, no ROARKIT_DATA: Debian's folder
    elapsed = time.perf_counter() - t
    assert elapsed < 10, f"loading Fashion-MNIST took {elapsed:.1f}s; is something looping in Python?"
    assert d.name == "fashion_mnist" and d.info.source == str(fashion_dir.resolve())
    assert d.info.md5s == FASHION_MD5
    assert (d.info.n_train, d.info.n_test) == (60_000, 10_000)
    assert d.x_train.shape == (60_000, 1, 28, 28) and d.x_test.shape == (10_000, 1, 28, 28)
    assert counts(d.y_train) == [6000] * 10 and counts(d.y_test) == [1000] * 10
    assert d.classes[0] == "T-shirt/top" and d.classes[9] == "Ankle boot" and len(d.classes) == 10
    assert abs(d.mean.item() - 0.2860) < 1e-3 and abs(d.std.item() - 0.3530) < 1e-3
    assert abs(d.x_train.mean().item()) < 1e-4 and abs(d.x_train.std().item() - 1) < 1e-3
    assert D.locate("fashionmnist") == fashion_dir.resolve()


def test_gz_and_raw_give_identical_tensors(mnist_dir, tmp_path):
    raw_dir = copy_mnist(mnist_dir, tmp_path / "MNIST" / "raw", raw=True)  # torchvision's layout
    assert D.locate("mnist", tmp_path) == raw_dir.resolve()
    a = D.load("mnist", mnist_dir, normalize=False)
    b = D.load("mnist", tmp_path, normalize=False)
    for f in ("x_train", "y_train", "x_test", "y_test", "mean", "std"):
        assert torch.equal(getattr(a, f), getattr(b, f)), f
    assert set(b.info.md5s) == {f[:-3] for f in MNIST_MD5}
    raw_labels = (raw_dir / "t10k-labels-idx1-ubyte").read_bytes()
    assert b.info.md5s["t10k-labels-idx1-ubyte"] == hashlib.md5(raw_labels).hexdigest()
    assert torch.equal(D.read_idx(raw_dir / "t10k-images-idx3-ubyte"),
                       D.read_idx(mnist_dir / "t10k-images-idx3-ubyte.gz"))
    # with both forms present the .gz (whose md5 is published) is used
    copy_mnist(mnist_dir, raw_dir)
    assert D.load("mnist", tmp_path, n_train=10, n_test=10).info.md5s == MNIST_MD5


def test_md5_cache_sees_changed_files(mnist_dir, tmp_path):
    p = tmp_path / "t10k-labels-idx1-ubyte"
    data = idx_bytes(mnist_dir / "t10k-labels-idx1-ubyte.gz")
    p.write_bytes(data)
    assert D.md5_file(p) == hashlib.md5(data).hexdigest()
    data[8] = (data[8] + 1) % 10
    p.write_bytes(data)
    st = p.stat()
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert D.md5_file(p) == hashlib.md5(data).hexdigest()


# ---------------------------------------------------------------------------- where data is found
def test_explicit_root_then_env_then_debian(mnist_dir, tmp_path, monkeypatch, fashion_dir):
    a = copy_mnist(mnist_dir, tmp_path / "a" / "mnist")
    b = copy_mnist(mnist_dir, tmp_path / "b" / "MNIST" / "raw")
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("ROARKIT_DATA", str(tmp_path / "b"))
    assert D.locate("mnist", tmp_path / "a") == a.resolve()           # explicit root wins
    assert D.locate("mnist") == b.resolve()                           # then ROARKIT_DATA
    assert D.locate("mnist", tmp_path / "empty") == b.resolve()       # a root without it falls through
    assert D.load("mnist", tmp_path / "a", n_train=20, n_test=20).info.source == str(a.resolve())
    # ROARKIT_DATA holding mnist/ but no Fashion: Fashion comes from Debian
    monkeypatch.setenv("ROARKIT_DATA", str(mnist_dir.parent))
    assert D.locate("mnist") == mnist_dir.resolve()
    assert D.locate("fashion_mnist") == fashion_dir.resolve()
    # a root holding the files directly, named for its dataset, is not taken for the other one
    monkeypatch.setenv("ROARKIT_DATA", str(mnist_dir))
    assert D.locate("mnist") == mnist_dir.resolve()
    assert D.locate("fashion_mnist") == fashion_dir.resolve()
    assert D.locate("mnist", fashion_dir) == mnist_dir.resolve()


def test_other_datasets_files_are_refused(mnist_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(D, "DEBIAN_ROOT", tmp_path / "no-debian")
    copy_mnist(mnist_dir, tmp_path / "data")  # MNIST files directly in a neutrally named folder
    with pytest.raises(DataError, match="known mnist file") as e:
        D.load("fashion_mnist", tmp_path / "data")
    assert str(tmp_path / "data") in str(e.value)


def test_missing_data_names_every_place(tmp_path, monkeypatch):
    with pytest.raises(DataNotFound, match="/usr/share/datasets/mnist"):
        D.locate("mnist", tmp_path / "mine")  # the real Debian place (absent here) is listed
    monkeypatch.setattr(D, "DEBIAN_ROOT", tmp_path / "debian")
    (tmp_path / "env" / "fashion_mnist").mkdir(parents=True)
    (tmp_path / "env" / "fashion_mnist" / "t10k-images-idx3-ubyte.gz").write_bytes(b"")
    monkeypatch.setenv("ROARKIT_DATA", str(tmp_path / "env"))
    with pytest.raises(DataNotFound) as e:
        D.load("fashion_mnist", tmp_path / "mine")
    msg = str(e.value)
    for place in (tmp_path / "mine", tmp_path / "env" / "fashion_mnist", tmp_path / "env" / "FashionMNIST" / "raw",
                  tmp_path / "debian" / "fashion-mnist"):
        assert str(place) in msg, place
    assert "missing train-images-idx3-ubyte[.gz]" in msg  # the half-filled folder says what it lacks
    for fix in ("ROARKIT_DATA", "apt-get install dataset-fashion-mnist", "download=True", "ROARKIT_DOWNLOAD=1"):
        assert fix in msg, fix


def test_offline_download_fails_clearly(tmp_path, monkeypatch):
    import torchvision.datasets as tvd
    monkeypatch.setattr(tvd.MNIST, "mirrors", ["http://127.0.0.1:9/"])  # nothing listens: as offline
    monkeypatch.setenv("ROARKIT_DATA", str(tmp_path / "cache"))
    with pytest.raises(DataNotFound) as e:
        D.load("mnist", download=True)
    msg = str(e.value)
    assert f"download into {tmp_path / 'cache'} (failed: RuntimeError" in msg and "ROARKIT_DATA" in msg
    monkeypatch.setenv("ROARKIT_DOWNLOAD", "1")
    with pytest.raises(DataNotFound, match="download into"):
        D.locate("mnist")
    with pytest.raises(DataNotFound, match="not allowed"):
        D.locate("mnist", download=False)


def test_unknown_dataset():
    with pytest.raises(DataError) as e:
        D.load("imagenet")
    assert not isinstance(e.value, DataNotFound)
    assert "imagenet" in str(e.value) and all(n in str(e.value) for n in D.DATASETS)


# ------------------------------------------------------------------------------- damaged files
def _set_magic(b):
    b[3] = 0x01
    return gz(bytes(b))


def _bad_crc(gz):
    gz = bytearray(gz)
    gz[-8] ^= 0xFF
    return bytes(gz)


def _label_10(b):
    b[8 + 123] = 10
    return gz(bytes(b))


def _fewer_labels(b):
    b[4:8] = (9_999).to_bytes(4, "big")
    return gz(bytes(b[:-1]))


CORRUPTIONS = {  # case: (file, ("raw" payload | "gz" bytes) -> new bytes, message fragment)
    "bad magic": ("train-images-idx3-ubyte.gz", "raw", _set_magic, "magic"),
    "truncated gz": ("t10k-images-idx3-ubyte.gz", "gz", lambda g: g[: len(g) // 2], "not a valid gzip"),
    "bad crc": ("train-labels-idx1-ubyte.gz", "gz", _bad_crc, "not a valid gzip"),
    "garbage gz": ("t10k-labels-idx1-ubyte.gz", "gz", lambda g: b"\x1f\x8b" + bytes(range(256)) * 4,
                   "not a valid gzip"),
    "short payload": ("t10k-images-idx3-ubyte.gz", "raw", lambda b: gz(bytes(b[:-100])), "truncated"),
    "long payload": ("train-images-idx3-ubyte.gz", "raw", lambda b: gz(bytes(b) + bytes(784)), "longer"),
    "label out of range": ("t10k-labels-idx1-ubyte.gz", "raw", _label_10, "label 10 at index 123"),
    "count mismatch": ("train-labels-idx1-ubyte.gz", "raw", _fewer_labels, "9,999 labels"),
}


@pytest.mark.parametrize("case", list(CORRUPTIONS))
def test_damaged_file_is_named(case, mnist_dir, tmp_path):
    fname, form, damage, fragment = CORRUPTIONS[case]
    folder = copy_mnist(mnist_dir, tmp_path / "mnist")
    src = (mnist_dir / fname).read_bytes()
    (folder / fname).write_bytes(damage(bytearray(gzip.decompress(src)) if form == "raw" else src))
    with pytest.raises(DataError) as e:
        D.load("mnist", tmp_path)
    msg = str(e.value)
    assert not isinstance(e.value, DataNotFound)
    assert str(folder / fname) in msg and fragment in msg, msg
    assert "Re-download" in msg


def test_damaged_raw_file(mnist_dir, tmp_path):
    folder = copy_mnist(mnist_dir, tmp_path, raw=True)
    p = folder / "t10k-labels-idx1-ubyte"
    p.write_bytes(p.read_bytes()[:5000])
    with pytest.raises(DataError, match="truncated") as e:
        D.read_idx(p)
    assert str(p) in str(e.value)
    with pytest.raises(DataError, match="expected 0x00000803"):
        D.read_idx(folder / "train-labels-idx1-ubyte", 3)  # a labels file where images are expected


# ------------------------------------------------------------------------------------- subsets
def test_stratified_subsets(mnist_dir):
    full = D.load("mnist", mnist_dir, normalize=False)
    d = D.load("mnist", mnist_dir, n_train=1000, n_test=500, seed=0, normalize=False)
    # largest remainder on the class counts; ties (6 and 8 for train, 2 and 5 for test) go to the lower class
    assert counts(d.y_train) == [100, 113, 99, 103, 98, 86, 102, 107, 94, 98]
    assert counts(d.y_test) == [49, 57, 52, 50, 49, 45, 48, 51, 49, 50]
    assert (d.info.n_train, d.info.n_test, d.info.n_train_available, d.info.subset_seed) == (1000, 500, 10_000, 0)
    assert "stratified subset, seed 0" in d.info.summary()
    # the subset is real images with their own labels, in ascending original order
    index = {bytes(img): i for i, img in enumerate((full.x_train * 255).round().to(torch.uint8).flatten(1).numpy())}
    assert len(index) == 10_000  # no duplicate images, so positions are unambiguous
    pos = [index[bytes(img)] for img in (d.x_train * 255).round().to(torch.uint8).flatten(1).numpy()]
    assert pos == sorted(pos) and len(set(pos)) == 1000
    assert torch.equal(full.y_train[pos], d.y_train)
    # stats come from the subset actually used
    assert d.mean.item() != full.mean.item()
    n = D.load("mnist", mnist_dir, n_train=1000, n_test=500, seed=0)
    assert abs(n.x_train.mean().item()) < 1e-4 and abs(n.x_train.std().item() - 1) < 1e-3
    assert torch.allclose(n.unnormalize(n.x_test), d.x_test, atol=1e-6)  # test normalised with the subset's stats
    # same seed, same subset; another seed, another subset with the same class counts
    again = D.load("mnist", mnist_dir, n_train=1000, n_test=500, seed=0, normalize=False)
    assert torch.equal(again.x_train, d.x_train) and torch.equal(again.y_test, d.y_test)
    other = D.load("mnist", mnist_dir, n_train=1000, n_test=500, seed=1, normalize=False)
    assert not torch.equal(other.x_train, d.x_train) and counts(other.y_train) == counts(d.y_train)


def test_subset_sizes(mnist_dir):
    with pytest.raises(DataError, match="n_train=10001") as e:
        D.load("mnist", mnist_dir, n_train=10_001)
    assert "10,000" in str(e.value)
    with pytest.raises(DataError, match="n_test=-1"):
        D.load("mnist", mnist_dir, n_test=-1)
    for n in (0, None, 10_000):  # all of it: no subset drawn
        d = D.load("mnist", mnist_dir, n_train=n)
        assert d.info.n_train == 10_000 and d.info.subset_seed is None
    d = D.load("mnist", mnist_dir, n_train=7, seed=3)  # fewer than the classes: the exact total still holds
    assert len(d.y_train) == 7 and d.info.subset_seed == 3 and d.info.n_test == 10_000


def test_device_and_to(mnist_dir):
    assert D.resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert D.resolve_device("cpu") == torch.device("cpu")
    d = D.load("mnist", mnist_dir, n_train=100, n_test=50, device="auto")
    assert d.device == D.resolve_device("auto") and d.y_test.device == d.device and d.mean.device == d.device
    c = d.to("cpu")
    assert c.device == torch.device("cpu") and c.info is d.info and torch.equal(c.x_train, d.x_train.cpu())


# ---------------------------------------------------------------------------------------- CIFAR
def write_cifar(folder: Path, n_batch=20, n_test=10, meta_names=None) -> dict:
    """CIFAR-10 python batches as torchvision unpacks them: pickled dicts with bytes keys."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    out = {}
    for i, f in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        n = n_test if f == "test_batch" else n_batch
        x = np.concatenate([rng.integers(lo, lo + 128, (n, 1024), dtype=np.uint8) for lo in (0, 64, 127)], 1)
        y = [int(v) for v in rng.integers(0, 10, n)]
        d = {b"batch_label": f"batch {i}".encode(), b"labels": y, b"data": x,
             b"filenames": [f"img_{i}_{j}.png".encode() for j in range(n)]}
        (folder / f).write_bytes(pickle.dumps(d, protocol=2))
        out[f] = (x, y)
    if meta_names:
        meta = {b"num_cases_per_batch": n_batch, b"label_names": [s.encode() for s in meta_names], b"num_vis": 3072}
        (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return out


def test_cifar10_from_batches(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    data = write_cifar(folder)
    d = D.load("cifar-10", tmp_path, normalize=False)
    assert D.locate("cifar10", tmp_path) == folder.resolve() == Path(d.info.source)
    assert d.x_train.shape == (100, 3, 32, 32) and d.x_test.shape == (10, 3, 32, 32) and d.image_shape == (3, 32, 32)
    x_all = np.concatenate([data[f"data_batch_{k}"][0] for k in range(1, 6)])
    y_all = sum((data[f"data_batch_{k}"][1] for k in range(1, 6)), [])
    assert d.y_train.tolist() == y_all and d.y_test.tolist() == data["test_batch"][1]
    # row = 1024 red, 1024 green, 1024 blue values, each row-major 32x32
    assert d.x_train[0, 0, 0, 1].item() == pytest.approx(x_all[0, 1] / 255)
    assert d.x_train[0, 1, 0, 0].item() == pytest.approx(x_all[0, 1024] / 255)
    assert d.x_train[3, 2, 31, 31].item() == pytest.approx(x_all[3, 3071] / 255)
    chans = x_all.reshape(-1, 3, 1024) / 255
    assert d.mean.shape == (3,) and np.allclose(d.mean.numpy(), chans.mean((0, 2)), atol=1e-6)
    assert np.allclose(d.std.numpy(), chans.transpose(1, 0, 2).reshape(3, -1).std(1), atol=1e-6)
    assert d.mean[0] < d.mean[1] < d.mean[2]
    assert d.info.md5s == {f: hashlib.md5((folder / f).read_bytes()).hexdigest() for f in data}
    assert [n for _, _, n in d.info.files] == [20] * 5 + [10]
    assert d.classes == CIFAR_NAMES
    n = D.load("cifar10", folder, n_train=50, n_test=5, seed=2)
    assert n.x_train.shape == (50, 3, 32, 32) and n.info.subset_seed == 2
    assert torch.allclose(n.x_train.mean((0, 2, 3)), torch.zeros(3), atol=1e-4)
    assert torch.allclose(n.x_train.std((0, 2, 3), unbiased=False), torch.ones(3), atol=1e-3)


def test_cifar10_meta_and_damage(tmp_path):
    folder = tmp_path / "cifar10" / "cifar-10-batches-py"
    write_cifar(folder, meta_names=[f"class {i}" for i in range(10)])
    assert D.load("cifar10", tmp_path).classes == [f"class {i}" for i in range(10)]
    bad = {b"labels": [0, 1], b"data": np.zeros((2, 3000), np.uint8)}
    (folder / "data_batch_3").write_bytes(pickle.dumps(bad, protocol=2))
    with pytest.raises(DataError, match="3072") as e:
        D.load("cifar10", tmp_path)
    assert str(folder / "data_batch_3") in str(e.value)
    (folder / "test_batch").write_bytes(b"not a pickle")
    (folder / "data_batch_3").unlink()
    with pytest.raises(DataNotFound, match="missing data_batch_3"):
        D.load("cifar10", tmp_path)
    write_cifar(tmp_path / "c2")
    (tmp_path / "c2" / "test_batch").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match="not a readable CIFAR-10 batch") as e:
        D.load("cifar10", tmp_path / "c2")
    assert str(tmp_path / "c2" / "test_batch") in str(e.value)

"""Datasets with provenance: MNIST, Fashion-MNIST and CIFAR-10 as in-memory tensors.

:func:`load` finds the files (:func:`locate`), checks them, records each file's md5, optionally
draws a stratified subset, normalises with the statistics of the training split actually used,
and returns a :class:`Dataset` whose :class:`DataInfo` says exactly what was read.
"""
from __future__ import annotations

import dataclasses
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from roarkit.core.datafiles import (REFETCH, DataError, DataNotFound, check_labels, idx_path, md5_file,
                                    read_cifar_batch, read_idx)
from roarkit.core.device import resolve_device

__all__ = ["DATASETS", "DataError", "DataNotFound", "DataInfo", "Dataset", "load", "locate",
           "read_idx", "md5_file", "stratified", "subset", "channel_stats"]

DATASETS = ("mnist", "fashion_mnist", "cifar10")
DEBIAN_ROOT = Path("/usr/share/datasets")  # Debian's dataset-* packages install here
_ALIASES = {"mnist": "mnist", "fashion_mnist": "fashion_mnist", "fashionmnist": "fashion_mnist",
            "cifar10": "cifar10", "cifar_10": "cifar10"}
_DEBIAN_NAME = {"mnist": "mnist", "fashion_mnist": "fashion-mnist"}
_DEBIAN_PKG = {"fashion_mnist": "dataset-fashion-mnist"}  # Debian packages no MNIST (as of bookworm)
# Candidate folders inside a root, most specific first; "." (files directly in the root) last.
_SUBDIRS = {"mnist": ("mnist", "MNIST/raw", "."),
            "fashion_mnist": ("fashion_mnist", "fashion-mnist", "FashionMNIST/raw", "."),
            "cifar10": ("cifar-10-batches-py", "cifar10/cifar-10-batches-py", "cifar10", ".")}
_IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
              "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
_CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
_CIFAR_FILES = _CIFAR_TRAIN + ("test_batch",)
_CLASSES = {
    "mnist": [str(i) for i in range(10)],
    "fashion_mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                      "Sneaker", "Bag", "Ankle boot"],
    "cifar10": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                "truck"],
}
# md5s of known published files, used only to catch one dataset's files standing in for another's.
_KNOWN_MD5 = {
    "mnist": {"f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",  # canonical
              "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c",
              "fc8c80e2facbc48dfb7430fc80f306f5", "5ee67e8d106b5ee68fdccf86823e498f"},  # first 10k
    "fashion_mnist": {"8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",  # zalando
                      "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310",
                      "cf8536b0aa1a6ac5fa3f23001093305c", "10bea18fdb374794d4bb42e356e600c9",  # Debian
                      "f78720b4224f21cce2f2ccf2d7a94c9a", "0d30e22e447f3c33dab9ed536400ac01"},
}
@dataclass(frozen=True)
class DataInfo:
    """Provenance of a loaded dataset."""
    name: str
    source: str
    files: tuple
    n_train: int
    n_test: int
    n_train_available: int
    n_test_available: int
    subset_seed: int | None

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["files"] = [{"file": f, "md5": m, "n": n} for f, m, n in self.files]
        return d

    @property
    def md5s(self) -> dict:
        return {f: m for f, m, _ in self.files}

    def summary(self) -> str:
        s = (f"{self.name}: {self.n_train:,} train / {self.n_test:,} test images "
             f"(of {self.n_train_available:,} / {self.n_test_available:,}) from {self.source}")
        return s if self.subset_seed is None else f"{s}; stratified subset, seed {self.subset_seed}"


@dataclass
class Dataset:
    """Whole splits as tensors ``(N, C, H, W)`` float32 and int64 labels, all on one device."""
    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor
    classes: list
    info: DataInfo
    normalized: bool

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_shape(self) -> tuple:
        return tuple(self.x_train.shape[1:])

    @property
    def device(self) -> torch.device:
        return self.x_train.device

    def to(self, device) -> "Dataset":
        dev = resolve_device(device)
        moved = {f: getattr(self, f).to(dev) for f in
                 ("x_train", "y_train", "x_test", "y_test", "mean", "std")}
        return dataclasses.replace(self, **moved)

    def _stats(self, x):
        return [t.to(x.device, x.dtype).view(-1, 1, 1) for t in (self.mean, self.std)]

    def unnormalize(self, x: torch.Tensor) -> torch.Tensor:
        """Model inputs back to [0, 1] pixels (identity when not normalised)."""
        mean, std = self._stats(x)
        return x * std + mean if self.normalized else x

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """[0, 1] pixels to model inputs (the inverse of :meth:`unnormalize`)."""
        mean, std = self._stats(x)
        return (x - mean) / std if self.normalized else x


def _canonical(name: str) -> str:
    key = str(name).strip().lower().replace("-", "_")
    if key not in _ALIASES:
        raise DataError(f"Unknown dataset {name!r}: known datasets are {', '.join(DATASETS)} "
                        "(aliases: fashion-mnist, fashionmnist, cifar-10).")
    return _ALIASES[key]


# -------------------------------------------------------------------------------------- locating
def _missing(name: str, folder: Path) -> list:
    """Required files absent from ``folder`` (empty list: the dataset is there)."""
    if name == "cifar10":
        return [f for f in _CIFAR_FILES if not (folder / f).is_file()]
    return [f"{s}[.gz]" for s in _IDX_FILES if idx_path(folder, s) is None]


def _search_root(name: str, root: Path, looked: list) -> Path | None:
    if not root.is_dir():
        looked.append(f"{root} (no such folder)")
        return None
    for sub in _SUBDIRS[name]:
        folder = root if sub == "." else root / sub
        if not folder.is_dir():
            looked.append(f"{folder} (no such folder)")
            continue
        other = _ALIASES.get(folder.name.lower().replace("-", "_"))
        if sub == "." and other not in (None, name):
            looked.append(f"{folder} (named for {other}, not {name})")
            continue
        missing = _missing(name, folder)
        if not missing:
            return folder
        looked.append(f"{folder} (missing {', '.join(missing)})")
    return None


def _download(name: str, target: Path, looked: list) -> Path | None:
    try:
        import torchvision.datasets as tvd
        cls = {"mnist": tvd.MNIST, "fashion_mnist": tvd.FashionMNIST, "cifar10": tvd.CIFAR10}[name]
        target.mkdir(parents=True, exist_ok=True)
        cls(root=str(target), train=True, download=True)
    except Exception as e:  # noqa: BLE001 - offline, read-only target, bad checksum...
        why = " ".join(str(e).split())[:300]  # torchvision's multi-line report on one line
        looked.append(f"download into {target} (failed: {type(e).__name__}: {why})")
        return None
    return _search_root(name, target, looked)


def locate(name: str, root=None, *, download: bool | None = None) -> Path:
    """The folder holding ``name``'s files.

    Looks in order at ``root``, ``$ROARKIT_DATA``, Debian's ``/usr/share/datasets/<name>``, and
    finally downloads with torchvision into ``$ROARKIT_DATA`` (or ``~/.cache/roarkit/data``) when
    ``download=True`` or ``ROARKIT_DOWNLOAD=1``. Each root may hold the files directly, a folder
    per dataset (``mnist/``, ``fashion_mnist/``, ``fashion-mnist/``) or torchvision's layout.
    """
    name = _canonical(name)
    looked: list = []
    env = os.environ.get("ROARKIT_DATA")
    roots = [Path(root).expanduser()] if root is not None else []
    roots += [Path(env).expanduser()] if env else []
    for r in roots:
        if (found := _search_root(name, r, looked)) is not None:
            return found.resolve()
    if name in _DEBIAN_NAME:
        deb = DEBIAN_ROOT / _DEBIAN_NAME[name]
        missing = _missing(name, deb) if deb.is_dir() else None
        if missing == []:
            return deb.resolve()
        looked.append(f"{deb} ({'missing ' + ', '.join(missing) if missing else 'no such folder'})")
    allowed = bool(download) if download is not None else \
        os.environ.get("ROARKIT_DOWNLOAD", "").strip().lower() in ("1", "true", "yes", "on")
    if allowed:
        target = Path(env).expanduser() if env else Path.home() / ".cache" / "roarkit" / "data"
        if (found := _download(name, target, looked)) is not None:
            return found.resolve()
    else:
        looked.append("download (not allowed: pass download=True or set ROARKIT_DOWNLOAD=1)")
    fixes = ["set ROARKIT_DATA (or pass root=) to a folder holding the files or a subfolder per dataset"]
    if name in _DEBIAN_PKG:
        fixes.append(f"on Debian/Ubuntu: apt-get install {_DEBIAN_PKG[name]}")
    fixes.append("when online, allow the torchvision download with download=True or ROARKIT_DOWNLOAD=1")
    raise DataNotFound(f"Dataset {name!r} not found. Looked at:\n  - " + "\n  - ".join(looked)
                       + "\nTo fix:\n  - " + "\n  - ".join(fixes))


# --------------------------------------------------------------------------------------- loading
def stratified(y: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Ascending indices of a class-stratified sample of size ``n`` (largest-remainder quotas)."""
    classes, counts = np.unique(y, return_counts=True)
    total = len(y)
    quota = n * counts // total
    rem = n * counts % total
    order = sorted(range(len(classes)), key=lambda k: (-int(rem[k]), k))  # ties: lower class first
    for k in order[: n - int(quota.sum())]:
        quota[k] += 1
    g = torch.Generator().manual_seed(int(seed))
    picks = []
    for c, q in zip(classes, quota):
        members = np.flatnonzero(y == c)
        picks.append(members[torch.randperm(len(members), generator=g)[: int(q)].numpy()])
    return np.sort(np.concatenate(picks))


def subset(x: np.ndarray, y: np.ndarray, n, seed, split: str, folder: Path) -> tuple:
    """``(x, y, drawn)``: a stratified subset of ``n`` items, or everything when n is None/0/all."""
    if not n or int(n) == len(y):
        return x, y, False
    if not 0 < int(n) < len(y):
        raise DataError(f"n_{split}={n} but {folder} holds {len(y):,} {split} images: ask for "
                        f"1..{len(y):,} (or None for all).")
    idx = stratified(y, int(n), seed)
    return x[idx], y[idx], True


def _read_split(name: str, folder: Path, split: str, files: list):
    if name == "cifar10":
        parts = []
        for f in (_CIFAR_TRAIN if split == "train" else ("test_batch",)):
            x, y = read_cifar_batch(folder / f)
            check_labels(y, folder / f, 10)
            files.append((f, md5_file(folder / f), len(y)))
            parts.append((x, y))
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    prefix = "train" if split == "train" else "t10k"
    ip, lp = idx_path(folder, f"{prefix}-images-idx3-ubyte"), idx_path(folder, f"{prefix}-labels-idx1-ubyte")
    x, y = read_idx(ip, 3).numpy(), read_idx(lp, 1).numpy().astype(np.int64)
    for p in (ip, lp):
        md5 = md5_file(p)
        others = [k for k, v in _KNOWN_MD5.items() if md5 in v and k != name]
        if others:
            raise DataError(f"{p} is a known {others[0]} file (md5 {md5}), not {name}: point root/"
                            f"ROARKIT_DATA at the {name} files.")
        files.append((p.name, md5, len(x) if p is ip else len(y)))
    if len(x) != len(y):
        raise DataError(f"{ip} holds {len(x):,} images but {lp} holds {len(y):,} labels: the files do not "
                        f"belong together. {REFETCH}")
    check_labels(y, lp, 10)
    return x[:, None], y


def _classes(name: str, folder: Path) -> list:
    """Class names; for CIFAR-10 from ``batches.meta`` when it is there and sane."""
    try:
        names = pickle.loads((folder / "batches.meta").read_bytes(), encoding="bytes")[b"label_names"]
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
    except Exception:  # noqa: BLE001 - no or odd meta file: the standard names
        names = []
    return names if name == "cifar10" and len(names) == 10 else list(_CLASSES[name])


def channel_stats(x: np.ndarray) -> tuple:
    """Exact per-channel mean and (population) std of uint8 images ``(N, C, H, W)``, in [0, 1] units."""
    hist = np.zeros((x.shape[1], 256), np.int64)
    for i in range(0, len(x), 2048):  # chunks keep bincount's int64 copy small
        for c in range(x.shape[1]):
            hist[c] += np.bincount(x[i:i + 2048, c].reshape(-1), minlength=256)
    v = np.arange(256) / 255.0
    mean = (hist * v).sum(1) / hist.sum(1)
    std = np.sqrt((hist * (v - mean[:, None]) ** 2).sum(1) / hist.sum(1))
    return torch.tensor(mean, dtype=torch.float32), torch.tensor(std, dtype=torch.float32)


def load(name: str, root=None, *, n_train: int | None = None, n_test: int | None = None, seed: int = 0,
         device="cpu", normalize: bool = True, download: bool | None = None) -> Dataset:
    """Load a dataset as tensors on ``device``; see :func:`locate` for where files are looked for.

    ``n_train``/``n_test`` (None or 0: all) draw class-stratified subsets with ``seed``, kept in
    ascending original order. Images are ``x/255``, then standardised per channel with the mean
    and std of the training split used when ``normalize`` (the test split uses the same stats).
    """
    name = _canonical(name)
    folder = locate(name, root, download=download)
    dev = resolve_device(device)
    files: list = []
    x_tr, y_tr = _read_split(name, folder, "train", files)
    x_te, y_te = _read_split(name, folder, "test", files)
    n_avail = (len(y_tr), len(y_te))
    x_tr, y_tr, drawn_tr = subset(x_tr, y_tr, n_train, seed, "train", folder)
    x_te, y_te, drawn_te = subset(x_te, y_te, n_test, seed, "test", folder)
    mean, std = channel_stats(x_tr)
    if normalize and bool((std == 0).any()):
        raise DataError(f"A channel of the training images in {folder} is constant (std 0): cannot normalise; "
                        "use more images or normalize=False.")

    def prep(x: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(x)).to(dev).float()  # uint8 travels, float is made there
        if not normalize:
            return t.div_(255.0)
        m, s = mean.to(dev).view(-1, 1, 1), std.to(dev).view(-1, 1, 1)
        return t.mul_(1.0 / (255.0 * s)).sub_(m / s)  # == (t/255 - mean)/std, in two passes

    info = DataInfo(name=name, source=str(folder), files=tuple(sorted(files)), n_train=len(y_tr),
                    n_test=len(y_te), n_train_available=n_avail[0], n_test_available=n_avail[1],
                    subset_seed=int(seed) if drawn_tr or drawn_te else None)
    return Dataset(name=name, x_train=prep(x_tr), y_train=torch.from_numpy(y_tr).to(dev),
                   x_test=prep(x_te), y_test=torch.from_numpy(y_te).to(dev), mean=mean.to(dev),
                   std=std.to(dev), classes=_classes(name, folder), info=info, normalized=bool(normalize))

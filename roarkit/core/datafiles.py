"""Reading dataset files safely: IDX files (MNIST, Fashion-MNIST) and CIFAR-10 batch pickles, their
md5s, and the one kind of error a bad file raises, naming the file and the fix."""
from __future__ import annotations

import gzip
import hashlib
import pickle
import zlib
from pathlib import Path

import numpy as np
import torch

__all__ = ["REFETCH", "DataError", "DataNotFound", "read_bytes", "md5_file", "idx_path", "read_idx",
           "read_cifar_batch", "check_labels"]

REFETCH = ("Re-download it (download=True with ROARKIT_DATA set to an empty folder) or replace it with a "
            "good copy.")


class DataError(Exception):
    """The data cannot be used: the message says what is wrong, in which file, and how to fix it."""


class DataNotFound(DataError):
    """No folder holding the dataset was found; the message lists every place looked at."""



_MD5_CACHE: dict = {}


def read_bytes(path: Path) -> tuple:
    """The bytes of a file and their md5 (cached per path, size and mtime)."""
    try:
        data, st = path.read_bytes(), path.stat()
    except OSError as e:
        raise DataError(f"Cannot read {path}: {e.strerror or e}. Check its permissions or replace it.") from e
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _MD5_CACHE:
        _MD5_CACHE[key] = hashlib.md5(data).hexdigest()
    return data, _MD5_CACHE[key]


def md5_file(path) -> str:
    """md5 of the bytes of ``path`` on disk; cached per (path, size, mtime), so repeats are free."""
    path = Path(path)
    st = path.stat()
    return _MD5_CACHE.get((str(path.resolve()), st.st_size, st.st_mtime_ns)) or read_bytes(path)[1]


def idx_path(folder: Path, stem: str) -> Path | None:
    """The ``.gz`` file if present (the form whose md5 is published), else the raw one, else None."""
    for p in (folder / f"{stem}.gz", folder / stem):
        if p.is_file():
            return p
    return None


def read_idx(path, expect_ndim: int | None = None) -> torch.Tensor:
    """Read an IDX file of unsigned bytes (gzip-compressed or raw) into a uint8 tensor.

    Checks the magic number, the header dimensions and that the payload has exactly the size
    the header announces; any problem raises :class:`DataError` naming the file.
    """
    path = Path(path)
    data = read_bytes(path)[0]
    if data[:2] == b"\x1f\x8b" or path.suffix == ".gz":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(f"{path} is not a valid gzip file ({e}); it is corrupt or truncated. {REFETCH}") from e
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08 or not 1 <= data[3] <= 4:
        raise DataError(f"{path} is not an IDX file of unsigned bytes (magic {data[:4].hex() or 'missing'}, "
                        f"expected 0000080{expect_ndim or 'N'}). {REFETCH}")
    ndim = data[3]
    if expect_ndim is not None and ndim != expect_ndim:
        kind = "images" if expect_ndim == 3 else "labels"
        raise DataError(f"{path} has IDX magic 0x{data[:4].hex()} ({ndim}-d), expected 0x0000080{expect_ndim} "
                        f"({expect_ndim}-d {kind}): a wrong or corrupt file. {REFETCH}")
    head = 4 + 4 * ndim
    if len(data) < head:
        raise DataError(f"{path}: IDX header is truncated ({len(data)} bytes). {REFETCH}")
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", ndim, 4))
    expected = int(np.prod(shape, dtype=np.int64))
    if len(data) - head != expected:
        what = "truncated" if len(data) - head < expected else "longer than its header says"
        raise DataError(f"{path} is {what}: header {shape} needs {expected:,} bytes of data, "
                        f"found {len(data) - head:,}. {REFETCH}")
    return torch.from_numpy(np.frombuffer(data, np.uint8, expected, head).reshape(shape).copy())


def read_cifar_batch(path: Path) -> tuple:
    """One batch of torchvision's ``cifar-10-batches-py``: a pickle, so only read files you trust."""
    try:
        d = pickle.loads(read_bytes(path)[0], encoding="bytes")  # CIFAR's own format is a pickle
    except Exception as e:  # noqa: BLE001 - any unpickling failure means a corrupt file
        raise DataError(f"{path} is not a readable CIFAR-10 batch pickle ({type(e).__name__}: {e}). {REFETCH}") from e
    get = (lambda k: d.get(k.encode(), d.get(k))) if isinstance(d, dict) else (lambda k: None)
    x, y = get("data"), get("labels")
    if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3072:
        raise DataError(f"{path}: expected a dict with b'data' a uint8 array (N, 3072), found "
                        f"{getattr(x, 'dtype', type(x).__name__)} {getattr(x, 'shape', '')}. {REFETCH}")
    if y is None or len(y) != len(x):
        n_y = "no" if y is None else len(y)
        raise DataError(f"{path}: b'labels' has {n_y} entries for {len(x)} images. {REFETCH}")
    return x.reshape(-1, 3, 32, 32), np.asarray(y, dtype=np.int64)


def check_labels(y: np.ndarray, path: Path, n_classes: int) -> None:
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= n_classes):
        bad = int(np.flatnonzero((y < 0) | (y >= n_classes))[0])
        raise DataError(f"{path}: label {int(y[bad])} at index {bad} is outside 0..{n_classes - 1}. {REFETCH}")

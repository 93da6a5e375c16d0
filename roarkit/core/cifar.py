"""CIFAR-10 and CIFAR-100 through torchvision's loaders, for the SGT chapter's CIFAR section.

The SMOOT paper fine-tunes an ImageNet-pretrained DeiT-tiny on CIFAR; pretrained weights cannot be
fetched on the machines that build this book, so the chapter trains a small network from scratch
(:class:`~roarkit.core.models.SGTNet` with 3 input channels and 32×32 images) instead. Files are read with
``torchvision.datasets.CIFAR10`` / ``CIFAR100`` (``download=False`` unless asked), from ``root``,
``$ROARKIT_DATA`` or ``$ROARKIT_DATA/cifar``; the result is a :class:`roarkit.core.data.Dataset`.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from roarkit.core import data as _data
from roarkit.core.device import resolve_device

__all__ = ["CIFARS", "folder_name", "load"]

CIFARS = ("cifar10", "cifar100")
_FOLDER = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}


def folder_name(name: str) -> str:
    if name not in CIFARS:
        raise _data.DataError(f"unknown CIFAR dataset {name!r}; known: {', '.join(CIFARS)}")
    return _FOLDER[name]


def _roots(root) -> list[Path]:
    out = [Path(root).expanduser()] if root is not None else []
    env = os.environ.get("ROARKIT_DATA")
    if env:
        out += [Path(env).expanduser(), Path(env).expanduser() / "cifar"]
    return out


def _tv(name: str, root: Path, download: bool):
    import torchvision.datasets as tvd
    cls = tvd.CIFAR10 if name == "cifar10" else tvd.CIFAR100
    return cls(str(root), train=True, download=download), cls(str(root), train=False, download=False)


def load(name: str, root=None, *, n_train: int | None = None, n_test: int | None = None, seed: int = 0,
         device="cpu", download: bool = False) -> _data.Dataset:
    """``name`` ("cifar10" or "cifar100") as tensors on ``device``, normalised per channel with the
    statistics of the training images used; ``n_train``/``n_test`` draw class-stratified subsets."""
    folder = folder_name(name)
    looked, found = [], None
    for r in _roots(root):
        if (r / folder).is_dir():
            try:
                found = (r, *_tv(name, r, False))
                break
            except RuntimeError as e:  # torchvision: "Dataset not found or corrupted"
                looked.append(f"{r / folder} ({e})")
        else:
            looked.append(f"{r / folder} (no such folder)")
    if found is None and download:
        target = _roots(root)[0] if _roots(root) else Path.home() / ".cache" / "roarkit" / "data"
        try:
            found = (target, *_tv(name, target, True))
        except Exception as e:  # noqa: BLE001 - offline, checksum...
            looked.append(f"download into {target} (failed: {type(e).__name__}: {' '.join(str(e).split())[:200]})")
    if found is None:
        looked = looked or ["(no root given and ROARKIT_DATA is not set)"]
        raise _data.DataNotFound(
            f"Dataset {name!r} not found. Looked at:\n  - " + "\n  - ".join(looked) +
            f"\nTo fix:\n  - set ROARKIT_DATA (or pass root=) to a folder holding {folder}/ (torchvision's layout)"
            "\n  - when online, pass download=True to let torchvision fetch it")
    base, tr, te = found
    x_tr, y_tr = np.asarray(tr.data).transpose(0, 3, 1, 2), np.asarray(tr.targets, dtype=np.int64)
    x_te, y_te = np.asarray(te.data).transpose(0, 3, 1, 2), np.asarray(te.targets, dtype=np.int64)
    avail = (len(y_tr), len(y_te))
    x_tr, y_tr, drawn_tr = _data.subset(x_tr, y_tr, n_train, seed, "train", base / folder)
    x_te, y_te, drawn_te = _data.subset(x_te, y_te, n_test, seed, "test", base / folder)
    mean, std = _data.channel_stats(x_tr)
    dev = resolve_device(device)

    def prep(x):
        t = torch.from_numpy(np.ascontiguousarray(x)).to(dev).float().div_(255.0)
        return (t - mean.to(dev).view(-1, 1, 1)) / std.to(dev).view(-1, 1, 1)

    files = tuple(sorted((f, _data.md5_file(base / folder / f), 0) for f, _ in tr.train_list + tr.test_list))
    info = _data.DataInfo(name=name, source=str(base / folder), files=files, n_train=len(y_tr), n_test=len(y_te),
                          n_train_available=avail[0], n_test_available=avail[1],
                          subset_seed=int(seed) if drawn_tr or drawn_te else None)
    return _data.Dataset(name=name, x_train=prep(x_tr), y_train=torch.from_numpy(y_tr).to(dev), x_test=prep(x_te),
                         y_test=torch.from_numpy(y_te).to(dev), mean=mean.to(dev), std=std.to(dev),
                         classes=list(tr.classes), info=info, normalized=True)

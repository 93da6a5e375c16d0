"""The base models the foundation page trains, as units of the results store, shared by later pages.

Kind ``train``: one model of one architecture, training configuration, seed and dataset, trained by
:func:`roarkit.core.training.fit` on every training image (no validation split) and read back after.
:func:`explained` is the set-up of the perturbation chapter's pages: each dataset, its base model and the
stratified test images the page explains.
"""
from __future__ import annotations

import dataclasses

import torch

from roarkit.core import data as D
from roarkit.core import models, training
from roarkit.core.device import resolve_device
from roarkit.core.saliency.baselines import Stats
from roarkit.store import Entry, Store, Unit

__all__ = ["CODE", "fit_value", "fit_unit", "fit_cached", "base_model", "Explained", "train_config", "explained"]

#: The modules whose code the stored units depend on (see :func:`roarkit.store.code_version`): the
#: training loop and the architectures, not this module, whose page set-up (:func:`explained`) imports
#: the data and saliency code that a trained model does not depend on.
CODE = ("roarkit.core.training", "roarkit.core.models")


def fit_value(model_name: str, data, config: training.TrainConfig, *, seed: int, progress=None) -> dict:
    """:func:`roarkit.core.training.fit`'s value: metrics, history, seconds and the CPU state_dict."""
    return training.fit(model_name, data, config, seed=seed, progress=progress).value()


def fit_unit(model_name: str, data, config: training.TrainConfig, *, seed: int, progress=None) -> Unit:
    """One training as a unit of the results store (kind ``train``): trained once per model, config,
    seed, data and code version, then read back (pages hand several to :meth:`Store.map` at once)."""
    return Unit("train", {"model": model_name, "config": config.as_dict(), "seed": seed}, data.info, fit_value,
                (model_name, data, config), {"seed": seed, "progress": progress}, code=CODE,
                device=getattr(data, "device", "cpu"))


def fit_cached(store: Store, model_name: str, data, config: training.TrainConfig, *, seed: int,
               progress=None) -> Entry:
    """The store entry of one :func:`fit_unit` (computed now if missing)."""
    return store.map([fit_unit(model_name, data, config, seed=seed, progress=progress)])[0]


def base_model(store: Store, ds, config: training.TrainConfig, *, seed: int, model: str = "roar",
               device=None, entry: Entry | None = None) -> tuple[torch.nn.Module, Entry]:
    """The base model of ``ds`` as the foundation trains it (:func:`fit_cached`; ``entry`` when already
    at hand), in eval mode on ``device``; returns ``(model, entry)``. Pages put ``entry.key`` into their
    own units' parameters, so that retrained weights never meet stale maps."""
    entry = entry or fit_cached(store, model, ds, config, seed=seed)
    c, h, _ = ds.image_shape
    net = models.build(model, seed=seed, in_channels=c, image_size=h, num_classes=ds.num_classes,
                       device=device or ds.device)
    net.load_state_dict(entry.value["state_dict"])
    return net.eval(), entry


@dataclasses.dataclass
class Explained:
    """One dataset of a page that explains test images of its base model."""

    data: D.Dataset          # the loaded dataset (train and test subsets of the page)
    model: torch.nn.Module   # its base model, in eval mode
    model_key: str           # the stored training unit's key: pages put it into their own units' parameters
    picks: torch.Tensor      # indices of the explained test images (ascending)
    stats: Stats             # input range and dataset mean, for the perturbation baselines

    @property
    def info(self) -> D.DataInfo:
        """The dataset's provenance with ``n_test`` = the number of explained test images."""
        return dataclasses.replace(self.data.info, n_test=len(self.picks))

    def images(self, start: int = 0, stop: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x, y)`` of the explained test images ``start:stop``, on the data's device."""
        sel = self.picks[start:stop].to(self.data.device)
        return self.data.x_test[sel], self.data.y_test[sel]


def train_config(p) -> training.TrainConfig:
    """The base models' training settings from a page's parameters (``epochs``, ``batch_size``, ``lr``,
    ``momentum``): SGD with momentum, as on the "Data and models" page."""
    return training.TrainConfig(epochs=p.epochs, batch_size=p.batch_size, optimizer="sgd", lr=p.lr,
                                momentum=p.momentum)


def explained(p, store: Store) -> dict[str, Explained]:
    """Dataset name → :class:`Explained` for every dataset of a page's parameters ``p`` (``datasets``,
    ``n_train``, ``n_test``, ``n_images``, ``subset_seed``, ``seed``, ``device`` and
    :func:`train_config`'s): each loaded with the page's subsets, its base model trained once or read
    back (:func:`base_model`), and ``n_images`` class-stratified test images (0: every loaded one)."""
    device, config, out = resolve_device(p.device), train_config(p), {}
    datasets = [D.load(name, n_train=p.n_train or None, n_test=p.n_test or None, seed=p.subset_seed, device=device)
                for name in p.datasets]
    entries = store.map([fit_unit("roar", ds, config, seed=p.seed) for ds in datasets], desc="base models")
    for name, ds, entry in zip(p.datasets, datasets, entries):
        net, entry = base_model(store, ds, config, seed=p.seed, entry=entry)
        n_all = len(ds.y_test)
        n = n_all if not p.n_images or p.n_images >= n_all else p.n_images
        picks = torch.as_tensor(D.stratified(ds.y_test.cpu().numpy(), n, p.subset_seed)) if n < n_all \
            else torch.arange(n)
        out[name] = Explained(ds, net, entry.key, picks, Stats.of(ds))
    return out

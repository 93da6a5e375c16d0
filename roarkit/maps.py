"""The saliency maps whose evaluation the "Saliency metrics disagree" page compares, and the base models.

Methods (all explaining the true class):

* ``saliency`` (gradient), ``ig`` (Integrated Gradients, all-zero = dataset-mean baseline, 50 steps),
  ``smoothgrad`` (15 noisy copies, σ = 0.15 of the input range), ``guided_backprop``: through
  :func:`roarkit.attribution.attribute` (the ROAR chapter's settings);
* ``deeplift``: Captum's DeepLift (rescale rule) against the all-zero (dataset-mean) input (Shrikumar et al. 2017);
* ``occlusion`` and ``rise``: :mod:`roarkit.perturbation`, with the settings and baseline of :class:`MapConfig`;
* ``random``: uniform noise, a map that knows nothing of the model.
"""
from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import torch
from captum.attr import DeepLift

from roarkit import attribution, models, perturbation, train
from roarkit import baselines as B

METHODS = ("saliency", "ig", "smoothgrad", "guided_backprop", "deeplift", "occlusion", "rise", "random")
LABELS = {"saliency": "Saliency", "ig": "Integrated Gradients", "smoothgrad": "SmoothGrad",
          "guided_backprop": "Guided Backprop", "deeplift": "DeepLift", "occlusion": "Occlusion",
          "rise": "RISE", "random": "Random"}
_ATTRIBUTION = {"saliency": "grad", "ig": "ig", "smoothgrad": "grad_sg", "guided_backprop": "gb", "random": "random"}


def check_methods(methods) -> list[str]:
    if isinstance(methods, str) or not methods:
        raise ValueError(f"methods must be a non-empty list from {', '.join(METHODS)}, got {methods!r}")
    bad = [m for m in methods if m not in METHODS]
    if bad:
        raise ValueError(f"unknown saliency method(s) {bad}; choose from {', '.join(METHODS)}")
    return list(methods)


@dataclass(frozen=True)
class MapConfig:
    """Settings of the perturbation methods when they are the maps being evaluated."""

    window: int = 4
    stride: int = 2
    rise_masks: int = 1000
    rise_cell: int = 4
    rise_p: float = 0.5
    baseline: str = "zero"

    def __post_init__(self):
        perturbation.check_occlusion(self.window, self.stride)
        perturbation.check_rise(self.rise_masks, self.rise_cell, self.rise_p)
        B.check_baseline(self.baseline)

    def as_dict(self) -> dict:
        return asdict(self)


def saliency_map(model, x, y, method: str, *, stats: B.Stats, config: MapConfig = MapConfig(),
                 attr: attribution.AttributionConfig = attribution.AttributionConfig(), seed: int = 0,
                 batch_size: int = 1024) -> torch.Tensor:
    """Attributions (N, C, H, W) of ``method`` for images ``x`` with labels ``y``."""
    check_methods([method])
    model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Captum's notes about hooks and requires_grad
        if method in _ATTRIBUTION:
            return attribution.attribute(model, x, y, _ATTRIBUTION[method], attr, seed=seed)
        if method == "deeplift":
            dl = DeepLift(model)
            return torch.cat([dl.attribute(x[i:i + attr.batch_size], baselines=0.0,
                                           target=y[i:i + attr.batch_size]).detach()
                              for i in range(0, len(x), attr.batch_size)])
        if method == "occlusion":
            return perturbation.occlusion(model, x, y, window=config.window, stride=config.stride,
                                          baseline=config.baseline, stats=stats, seed=seed, batch_size=batch_size)
        return perturbation.rise(model, x, y, n_masks=config.rise_masks, cell=config.rise_cell, p=config.rise_p,
                                 baseline=config.baseline, stats=stats, seed=seed, batch_size=batch_size)


def base_model(store, ds, config: train.TrainConfig, *, seed: int, model: str = "roar", device=None):
    """The base model of ``ds`` as the foundation trains it (:func:`roarkit.train.fit_cached`, the unit
    the "Data and models" page shares), in eval mode on ``device``; returns ``(model, entry)``. Pages
    put ``entry.key`` into their own units' parameters, so that retrained weights never meet stale maps."""
    entry = train.fit_cached(store, model, ds, config, seed=seed)
    c, h, _ = ds.image_shape
    net = models.build(model, seed=seed, in_channels=c, image_size=h, num_classes=ds.num_classes,
                       device=device or ds.device)
    net.load_state_dict(entry.value["state_dict"])
    return net.eval(), entry

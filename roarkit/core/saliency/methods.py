"""Every saliency method of the book behind one call, :func:`attribute`, and its one vocabulary.

Methods (all explaining the target class; see :data:`METHODS`):

* Hooker et al.'s gradient estimators and controls, :mod:`.gradients`: ``grad`` (Captum's Saliency),
  ``ig`` (Integrated Gradients, all-zero = dataset-mean baseline), ``gb`` (Guided Backprop), each plain
  or as ``_sg`` (SmoothGrad), ``_sg2`` (SmoothGrad²), ``_var`` (VarGrad); ``sobel`` and ``random``;
* ``deeplift``: Captum's DeepLift (rescale rule) against the all-zero (dataset-mean) input (Shrikumar et al. 2017);
* ``occlusion`` and ``rise``: :mod:`.perturbation`, with the settings and baseline of :class:`MapConfig`.
"""
from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import torch
from captum.attr import DeepLift

from roarkit.core.saliency import baselines as B
from roarkit.core.saliency import gradients, perturbation
from roarkit.core.saliency.gradients import AttributionConfig

__all__ = ["METHODS", "check_methods", "MapConfig", "attribute"]

#: The one vocabulary of saliency methods (labels: :mod:`roarkit.core.labels`).
METHODS = gradients.ESTIMATORS + ("deeplift", "occlusion", "rise")


def check_methods(methods) -> list[str]:
    """``methods`` as a list, or ValueError naming every unknown method and the known ones."""
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


def attribute(model, x, y, method: str, config: AttributionConfig = AttributionConfig(), *,
              maps: MapConfig = MapConfig(), stats: B.Stats | None = None, seed: int = 0,
              batch_size: int = 1024) -> torch.Tensor:
    """Attributions (N, C, H, W) of ``method`` for images ``x`` with labels ``y``.

    ``config``: the gradient estimators' settings; ``maps`` and ``stats`` (input range and dataset
    mean, :class:`~.baselines.Stats`): occlusion's and RISE's; ``batch_size``: theirs per forward."""
    check_methods([method])
    if method in gradients.ESTIMATORS:
        return gradients.attribute(model, x, y, method, config, seed=seed)
    model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Captum's notes about hooks and requires_grad
        if method == "deeplift":
            dl = DeepLift(model)
            return torch.cat([dl.attribute(x[i:i + config.batch_size], baselines=0.0,
                                           target=y[i:i + config.batch_size]).detach()
                              for i in range(0, len(x), config.batch_size)])
        if stats is None:
            raise ValueError(f"{method} replaces pixels by a baseline: pass stats=Stats.of(dataset)")
        if method == "occlusion":
            return perturbation.occlusion(model, x, y, window=maps.window, stride=maps.stride,
                                          baseline=maps.baseline, stats=stats, seed=seed, batch_size=batch_size)
        return perturbation.rise(model, x, y, n_masks=maps.rise_masks, cell=maps.rise_cell, p=maps.rise_p,
                                 baseline=maps.baseline, stats=stats, seed=seed, batch_size=batch_size)

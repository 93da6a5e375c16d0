"""The three trainings of the saliency-guided training chapter, as steps of the one training loop.

``traditional`` (cross-entropy), ``sgt`` (:class:`roarkit.core.sgt.SGTStep`) and ``smoot``
(:class:`roarkit.core.smoot.SMOOTStep`) differ only in their step; :func:`roarkit.core.training.fit`
runs each with channels-last weights and model selection on a held-out validation split (the official
SGT code instead keeps the epoch with the best *test* accuracy).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from roarkit.core import sgt, smoot, training

__all__ = ["TRAININGS", "Traditional", "step"]

TRAININGS = ("traditional", "sgt", "smoot")


class Traditional(training.Step):
    """Plain cross-entropy, with the SGT chapter's loss terms (``kl`` = 0) so its history lines up."""

    terms = ("loss", "ce", "kl")

    def __call__(self, model, xb, yb, idx):
        ce = F.cross_entropy(model(xb), yb)
        return ce, ce, torch.zeros((), device=xb.device)


def step(training_name: str, sgt_config: sgt.SGTConfig = sgt.SGTConfig(),
         smoot_config: smoot.SMOOTConfig = smoot.SMOOTConfig()) -> training.Step:
    """The step of one of :data:`TRAININGS`."""
    if training_name not in TRAININGS:
        raise ValueError(f"training must be one of {', '.join(TRAININGS)}, got {training_name!r}")
    if training_name == "traditional":
        return Traditional()
    if training_name == "sgt":
        return sgt.SGTStep(sgt_config)
    return smoot.SMOOTStep(sgt_config, smoot_config)

"""Remove And Retrain (ROAR) and Keep And Retrain (KAR), Hooker et al. (2019).

For a saliency method and a threshold t, every image loses exactly ``round(t/100 · H·W)`` pixels:
ROAR replaces the t % most important pixels with the dataset mean (0 after normalisation), KAR keeps
the t % most important and replaces the rest. A fresh model with the same seed is trained on the
modified training set and tested on the equally modified test set; the trained model is the one
after the last epoch (no early stopping, so model selection never sees the test set). Rankings come
from a base model trained with the same seed on the unmodified data.
"""
from __future__ import annotations

import numbers

import torch

from roarkit.core import engine, removal

__all__ = ["MODES", "check_mode", "n_pixels", "removal_mask", "remove", "views"]

MODES = ("roar", "kar")


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; known: {', '.join(MODES)}")
    return mode


def n_pixels(threshold: float, pixels: int) -> int:
    """Pixels per image that ROAR removes (KAR keeps) at ``threshold`` percent: the book's one count
    rule, :func:`roarkit.core.removal.n_pixels` of ``threshold / 100``."""
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or not 0 < threshold < 100:
        raise ValueError(f"threshold must be a percentage strictly between 0 and 100, got {threshold!r}")
    return removal.n_pixels(threshold / 100, pixels)


def removal_mask(rank: torch.Tensor, threshold: float, mode: str = "roar") -> torch.Tensor:
    """Bool (N, P), True where a pixel is replaced: ROAR the top t %, KAR all but the top t %."""
    return removal.removal_mask(rank, n_pixels(threshold, rank.shape[1]), keep=check_mode(mode) == "kar")


def remove(x: torch.Tensor, rank: torch.Tensor, threshold: float, mode: str = "roar", fill: float = 0.0):
    """``x`` (N, C, H, W) with the pixels of :func:`removal_mask` set to ``fill`` in every channel."""
    return removal.remove(x, removal_mask(rank, threshold, mode), fill)


def views(x: torch.Tensor, y: torch.Tensor, ranks: dict, units: list, *, control: bool = False) -> engine.Masked:
    """The engine's view of ``units`` ``[(method, mode, threshold, seed), ...]`` on images ``x``: one
    shared image tensor, one ranking per (method, seed) (``ranks[(method, seed)]``, (N, H·W)), each
    model removing (ROAR) or keeping (KAR) its threshold's pixels, filled with the mean (0).

    ``control=True``: the input is the binary removal mask alone (1 = kept, 0 = removed); if that
    predicts the class, the mask's shape leaks it (ROAD's critique of ROAR)."""
    pixels = x.shape[2] * x.shape[3]
    pairs = sorted({(m, s) for m, _, _, s in units})
    group = torch.tensor([pairs.index((m, s)) for m, _, _, s in units], device=x.device)
    k = torch.tensor([n_pixels(t, pixels) for _, _, t, _ in units], device=x.device)
    keep = torch.tensor([check_mode(mode) == "kar" for _, mode, _, _ in units], device=x.device)
    rank = torch.stack([ranks[p] for p in pairs])
    src = torch.ones_like(x[:, :1]) if control else x
    return engine.Masked(src, y, rank, k, keep=keep, fill=0.0, group=group)

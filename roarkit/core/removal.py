"""Ranking pixels and removing them: the one pixel-count rule and the one removal mask of the book.

* :func:`scores`: a saliency map's per-pixel importance, |attribution| summed over channels (the
  report: "ranked by absolute value").
* :func:`ranks`: every pixel's rank per image, 0 = most important (``descending=True``) or 0 = least
  important; ties broken uniformly at random from a generator, so a constant map removes random pixels.
* :func:`n_pixels`: how many of P pixels a fraction f removes, ``⌊f·P + ½⌋`` (round half up), clamped
  to 0..P. ROAR/KAR thresholds, perturbation-curve steps, SGT's k and SMOOT's per-image K all use it.
* :func:`removal_mask`: True where a pixel is replaced: the ``k`` top-ranked pixels (``rank < k``), or
  with ``keep=True`` all but them (KAR, LeRF). ``k`` and ``keep`` broadcast, so one call builds the
  masks of many models, steps or images at once.
"""
from __future__ import annotations

import numbers

import torch

__all__ = ["scores", "ranks", "n_pixels", "removal_mask", "remove"]


def scores(attributions: torch.Tensor) -> torch.Tensor:
    """Per-pixel importance (N, H·W): absolute attribution summed over channels."""
    return attributions.abs().sum(1).flatten(1)


def ranks(score: torch.Tensor, generator: torch.Generator | int = 0, *, descending: bool = True,
          dtype=torch.int16) -> torch.Tensor:
    """Rank of every pixel per image (N, P): 0 = highest score (``descending``) or 0 = lowest.

    Ties are broken by a random permutation per image drawn from ``generator`` (a ``torch.Generator``,
    or an int seeding a CPU one) on the generator's device."""
    n, p = score.shape
    g = torch.Generator().manual_seed(generator) if isinstance(generator, int) else generator
    dev = g.device if g is not None else score.device
    shuffle = torch.rand(n, p, generator=g, device=dev).argsort(1).to(score.device)  # a permutation per image
    order = torch.sort(score.gather(1, shuffle), dim=1, descending=descending, stable=True).indices
    order = shuffle.gather(1, order)  # pixel indices, first ranked first
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(p, device=score.device).expand(n, p))
    return rank.to(dtype)


def n_pixels(fraction, pixels: int):
    """Pixels that ``fraction`` of ``pixels`` removes: ⌊fraction·P + ½⌋ (round half up), within 0..P.

    ``fraction`` a number in [0, 1] (an int result) or a tensor of fractions (a long tensor)."""
    if isinstance(fraction, torch.Tensor):
        return torch.floor(fraction.double() * pixels + 0.5).long().clamp_(0, pixels)
    if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real) or not 0 <= fraction <= 1:
        raise ValueError(f"a removal fraction must be a number in [0, 1], got {fraction!r}")
    return min(pixels, max(0, int(float(fraction) * pixels + 0.5)))


def removal_mask(rank: torch.Tensor, k, keep=False) -> torch.Tensor:
    """True where a pixel is replaced: the ``k`` top-ranked (``rank < k``), or all others with ``keep``.

    ``rank`` (..., P) integer ranks; ``k`` an int or a tensor broadcasting against ``rank[..., :1]``
    (one count per model, step or image); ``keep`` a bool or a bool tensor broadcasting the same way."""
    k = torch.as_tensor(k, device=rank.device)
    keep = torch.as_tensor(keep, device=rank.device, dtype=torch.bool)
    return (rank < k) ^ keep


def remove(x: torch.Tensor, mask: torch.Tensor, fill: float = 0.0) -> torch.Tensor:
    """``x`` (N, C, H, W) with the pixels of ``mask`` (N, H·W) set to ``fill`` in every channel."""
    return x.masked_fill(mask.reshape(x.shape[0], 1, *x.shape[2:]), fill)

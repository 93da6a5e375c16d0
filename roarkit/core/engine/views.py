"""The engine's data views: what each of M models sees, built per batch from one shared tensor."""
from __future__ import annotations

from typing import Protocol, Sequence

import torch

from roarkit.core import removal

__all__ = ["Views", "Shared", "Masked", "probe"]


class Views(Protocol):
    """``m`` models, each its own view of ``n`` samples (``select(ids)``, ``to(device)``: optional)."""

    n: int
    m: int

    def __call__(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """idx (M, B) sample indices per model -> x (M, B, C, H, W), y (M, B)."""
        ...


class Shared:
    """All ``m`` models see the same tensors ``x`` (N, C, H, W) and ``y`` (N,)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, m: int):
        if len(x) != len(y):
            raise ValueError(f"x and y differ in length: {len(x)} vs {len(y)}")
        self.x, self.y, self.n, self.m = x, y.to(x.device), len(x), int(m)

    def __call__(self, idx):
        return self.x[idx], self.y[idx]

    def select(self, ids: Sequence[int]) -> "Shared":
        return Shared(self.x, self.y, len(ids))

    def to(self, device) -> "Shared":
        return Shared(self.x.to(device), self.y.to(device), self.m)


class Masked:
    """ROAR / KAR inputs built per batch from ONE shared ``x`` (no per-model copy of the data).

    ``ranks``: integer rank of each pixel position (0 = most important; all channels): (N, H*W)
    shared, (M, N, H*W) per model, or (G, N, H*W) with ``group`` (M,) naming each model's ranking
    (e.g. G = 2: IG and random). ``k`` (M,): pixels per image to REMOVE (ROAR, ``keep=False``: rank
    < k set to ``fill``) or KEEP (KAR, ``keep=True``: rank >= k set to ``fill``); ``keep`` may be an
    (M,) bool tensor mixing both."""

    def __init__(self, x, y, ranks, k, *, keep=False, fill=0.0, group=None):
        if len(x) != len(y):
            raise ValueError(f"x and y differ in length: {len(x)} vs {len(y)}")
        self.x, self.y, self.n, self.fill = x, y.to(x.device), len(x), fill
        self.k = torch.as_tensor(k, device=x.device).long().reshape(-1)
        self.m = len(self.k)
        self.keep = torch.as_tensor(keep, device=x.device).bool().expand(self.m).clone()
        shape = (self.n, x.shape[-2] * x.shape[-1])
        if ranks.dim() not in (2, 3) or tuple(ranks.shape[-2:]) != shape or ranks.is_floating_point():
            raise ValueError(f"ranks must be integer (N, H*W) or (M or G, N, H*W), (N, H*W) = "
                             f"{shape}; got {ranks.dtype} {tuple(ranks.shape)}")
        if group is None and ranks.dim() == 3:
            group = torch.arange(len(ranks))
        self.ranks = ranks.to(x.device)
        self.group = None if group is None else torch.as_tensor(group, device=x.device).long()
        if self.group is not None and self.group.shape != (self.m,):
            raise ValueError(f"{self.m} models need {self.m} rankings or a group per model")

    def _drop(self, ranks, k, keep):
        """True where a pixel is replaced: ranks (M, B, H*W) -> (M, B, 1, H, W)."""
        drop = removal.removal_mask(ranks, k.view(-1, 1, 1), keep.view(-1, 1, 1))
        return drop.view(*drop.shape[:2], 1, *self.x.shape[-2:])

    def __call__(self, idx):
        ranks = self.ranks[idx] if self.group is None else self.ranks[self.group.view(-1, 1), idx]
        return self.x[idx].masked_fill_(self._drop(ranks, self.k, self.keep), self.fill), self.y[idx]

    def materialize(self, m: int) -> torch.Tensor:
        """Model ``m``'s whole masked set (N, C, H, W), for tests, references and figures."""
        ranks = self.ranks if self.group is None else self.ranks[self.group[m]]
        return self.x.masked_fill(self._drop(ranks[None], self.k[m:m + 1], self.keep[m:m + 1])[0],
                                  self.fill)

    def select(self, ids: Sequence[int]) -> "Masked":
        i = torch.as_tensor(list(ids), device=self.k.device).long()
        return Masked(self.x, self.y, self.ranks, self.k[i], keep=self.keep[i], fill=self.fill,
                      group=None if self.group is None else self.group[i])

    def to(self, device) -> "Masked":
        return Masked(self.x.to(device), self.y, self.ranks, self.k, keep=self.keep, fill=self.fill,
                      group=self.group)


def probe(view, b: int = 1) -> torch.Tensor:
    """A batch of ``b`` images as model 0 sees them, (b, C, H, W), on the view's device."""
    idx = torch.zeros(view.m, b, dtype=torch.long, device=getattr(view, "x", torch.empty(0)).device)
    return view(idx)[0][0]

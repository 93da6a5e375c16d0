"""How far two saliency maps of the same image diverge (Brunke et al. 2020; Adebayo et al. 2018).

Each measure compares maps image by image, (N, ...) against (N, ...), and returns (N,) scores:

* :func:`spearman`: Spearman rank correlation over pixels (Pearson correlation of the ranks; tied
  values get their average rank, so the blocks of equal values of an occlusion map count as ties).
* :func:`topk_intersection`: the share of the top-k pixels (k = 10 % of the pixels by default) that
  the two maps have in common.
* :func:`ssim`: structural similarity (Wang et al. 2004) of the maps min-max scaled to [0, 1], with a
  7×7 Gaussian window (σ = 1.5, suited to 28×28 maps), C1 = 0.01², C2 = 0.03², averaged over the
  window positions inside the image.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from roarkit.core.removal import n_pixels

__all__ = ["MEASURES", "rankdata", "pearson", "spearman", "topk_intersection", "ssim", "measure", "pairwise"]

MEASURES = ("spearman", "topk", "ssim")


def _flat(a: torch.Tensor) -> torch.Tensor:
    return a.reshape(a.shape[0], -1).to(torch.float64)


def rankdata(a: torch.Tensor) -> torch.Tensor:
    """Ranks 1..P along the last dimension of (N, P), ties given their average rank (float64)."""
    a = a.to(torch.float64)
    n, p = a.shape
    srt, order = a.sort(dim=1, stable=True)
    new = torch.ones_like(srt, dtype=torch.bool)
    new[:, 1:] = srt[:, 1:] != srt[:, :-1]
    group = new.cumsum(1) - 1 + (torch.arange(n, device=a.device) * p).view(-1, 1)  # unique per row
    pos = torch.arange(1, p + 1, device=a.device, dtype=torch.float64).expand(n, p).reshape(-1)
    total = torch.zeros(n * p, device=a.device, dtype=torch.float64).index_add_(0, group.reshape(-1), pos)
    count = torch.zeros(n * p, device=a.device, dtype=torch.float64).index_add_(0, group.reshape(-1),
                                                                                 torch.ones_like(pos))
    avg = (total / count.clamp_min(1))[group.reshape(-1)].view(n, p)
    return torch.empty_like(avg).scatter_(1, order, avg)


def pearson(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pearson correlation per row of (N, P) tensors; NaN where a row is constant."""
    a, b = _flat(a), _flat(b)
    a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
    den = (a.pow(2).sum(1) * b.pow(2).sum(1)).sqrt()
    return torch.where(den > 0, (a * b).sum(1) / den.clamp_min(1e-300), torch.full_like(den, math.nan))


def spearman(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spearman rank correlation between maps, per image (N,); NaN where a map is constant."""
    return pearson(rankdata(_flat(a)), rankdata(_flat(b)))


def topk_intersection(a: torch.Tensor, b: torch.Tensor, k: float | int = 0.1) -> torch.Tensor:
    """|top-k(a) ∩ top-k(b)| / k per image; ``k`` a pixel count or a fraction of the pixels."""
    a, b = _flat(a), _flat(b)
    kk = n_pixels(k, a.shape[1]) if isinstance(k, float) else int(k)  # a fraction: the book's one count rule
    if not 1 <= kk <= a.shape[1]:
        raise ValueError(f"top-k needs 1 <= k <= {a.shape[1]} pixels, got k={k!r}")
    ta = torch.zeros_like(a, dtype=torch.bool).scatter_(1, a.topk(kk, dim=1).indices, True)
    tb = torch.zeros_like(b, dtype=torch.bool).scatter_(1, b.topk(kk, dim=1).indices, True)
    return (ta & tb).sum(1).to(torch.float64) / kk


def _gauss(size: int, sigma: float, device) -> torch.Tensor:
    t = torch.arange(size, device=device, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-t ** 2 / (2 * sigma ** 2))
    return g / g.sum()


def _unit(a: torch.Tensor) -> torch.Tensor:
    lo = a.amin((1, 2), keepdim=True)
    span = a.amax((1, 2), keepdim=True) - lo
    return torch.where(span > 0, (a - lo) / span.clamp_min(1e-300), torch.zeros_like(a))


def ssim(a: torch.Tensor, b: torch.Tensor, *, window: int = 7, sigma: float = 1.5) -> torch.Tensor:
    """Mean SSIM per image between maps (N, H, W) or (N, 1, H, W), each min-max scaled to [0, 1]."""
    a = _unit(a.reshape(a.shape[0], *a.shape[-2:]).to(torch.float64)).unsqueeze(1)
    b = _unit(b.reshape(b.shape[0], *b.shape[-2:]).to(torch.float64)).unsqueeze(1)
    if window > min(a.shape[-2:]):
        raise ValueError(f"SSIM window {window} is larger than the {tuple(a.shape[-2:])} maps")
    g = _gauss(window, sigma, a.device)
    blur = lambda t: F.conv2d(F.conv2d(t, g.view(1, 1, 1, -1)), g.view(1, 1, -1, 1))  # noqa: E731
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a ** 2
    var_b = blur(b * b) - mu_b ** 2
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return s.flatten(1).mean(1)


def measure(name: str, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """One of :data:`MEASURES` between maps ``a`` and ``b``, per image."""
    fns = {"spearman": spearman, "topk": topk_intersection, "ssim": ssim}
    if name not in fns:
        raise ValueError(f"unknown similarity measure {name!r}; choose one of {', '.join(MEASURES)}")
    return fns[name](a, b)


def pairwise(maps: list, name: str) -> torch.Tensor:
    """(N, K, K): measure ``name`` between every pair of K maps (each (N, ...)) of the same images."""
    k = len(maps)
    if name == "spearman":  # rank each map once, not once per pair
        maps, name = [rankdata(_flat(m)) for m in maps], "pearson"
    fns = {"pearson": pearson, "topk": topk_intersection, "ssim": ssim}
    if name not in fns:
        raise ValueError(f"unknown similarity measure {name!r}; choose one of {', '.join(MEASURES)}")
    out = torch.ones(maps[0].shape[0], k, k, dtype=torch.float64)
    for i in range(k):
        for j in range(i + 1, k):
            out[:, i, j] = out[:, j, i] = fns[name](maps[i], maps[j]).cpu()
    return out

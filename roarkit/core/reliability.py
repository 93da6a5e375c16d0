"""Is a saliency metric a reliable measurement? Psychometric reliability, as in Tomsett et al. (2020).

* :func:`krippendorff_alpha`: α = 1 − D_o / D_e from the coincidence matrix of values within units
  (Krippendorff 2011), for ``nominal``, ``ordinal``, ``interval`` or ``ratio`` data, missing values as NaN.
* :func:`inter_rater`: Tomsett's inter-rater reliability of one metric: each test image is a
  "rater" that ranks the saliency methods (the "units") by their score; ordinal α over those ranks.
  α = 1: every image ranks the methods the same way; α ≈ 0: rankings agree no more than chance.
* :func:`internal_consistency`: do metric variants that claim to measure the same thing (faithfulness)
  agree image by image? Spearman correlation of their per-image scores, for one saliency method.
* :func:`cronbach_alpha`: internal consistency of V items as one scale: V/(V−1)·(1 − Σ var_i / var_sum).
"""
from __future__ import annotations

import math

import torch

from roarkit.core.similarity import rankdata, spearman

__all__ = ["LEVELS", "krippendorff_alpha", "method_ranks", "inter_rater", "internal_consistency", "cronbach_alpha"]

LEVELS = ("nominal", "ordinal", "interval", "ratio")


def _delta2(values: torch.Tensor, n_c: torch.Tensor, level: str) -> torch.Tensor:
    c, k = values.view(-1, 1), values.view(1, -1)
    if level == "nominal":
        return (c != k).to(torch.float64)
    if level == "interval":
        return (c - k) ** 2
    if level == "ratio":
        s = c + k
        return torch.where(s != 0, ((c - k) / torch.where(s != 0, s, torch.ones_like(s))) ** 2, torch.zeros_like(s))
    cum = torch.cumsum(n_c, 0)  # ordinal: (Σ_{g=c..k} n_g − (n_c + n_k)/2)²
    lo, hi = torch.minimum(torch.arange(len(n_c)).view(-1, 1), torch.arange(len(n_c)).view(1, -1)), \
        torch.maximum(torch.arange(len(n_c)).view(-1, 1), torch.arange(len(n_c)).view(1, -1))
    between = cum[hi] - torch.where(lo > 0, cum[(lo - 1).clamp_min(0)], torch.zeros_like(cum[lo]))
    return (between - (n_c.view(-1, 1) + n_c.view(1, -1)) / 2) ** 2


def krippendorff_alpha(data, level: str = "ordinal") -> float:
    """Krippendorff's α of ``data`` (raters × units; NaN = missing). Units with fewer than two values
    are not pairable and are dropped. NaN when there is no variation at all (D_e = 0)."""
    if level not in LEVELS:
        raise ValueError(f"unknown level of measurement {level!r}; choose one of {', '.join(LEVELS)}")
    d = torch.as_tensor(data, dtype=torch.float64)
    if d.ndim != 2:
        raise ValueError(f"data must be a 2-D table (raters × units), got shape {tuple(d.shape)}")
    ok = ~torch.isnan(d)
    pairable = ok.sum(0) >= 2
    d, ok = d[:, pairable], ok[:, pairable]
    if d.shape[1] == 0:
        return math.nan
    values, inv = torch.unique(d[ok], return_inverse=True)
    counts = torch.zeros(d.shape[1], len(values), dtype=torch.float64)  # units × values
    unit = torch.arange(d.shape[1]).expand_as(d)[ok]
    counts.index_put_((unit, inv), torch.ones(len(inv), dtype=torch.float64), accumulate=True)
    m = counts.sum(1, keepdim=True)
    o = (counts / (m - 1)).T @ counts - torch.diag((counts / (m - 1)).sum(0))  # coincidences
    n_c = o.sum(1)
    n = n_c.sum()
    d2 = _delta2(values, n_c, level)
    d_o = (o * d2).sum()
    d_e = (n_c.view(-1, 1) * n_c.view(1, -1) * d2).sum() / (n - 1)
    return math.nan if d_e <= 0 else float(1 - d_o / d_e)


def method_ranks(scores: torch.Tensor, higher_is_better: bool = True) -> torch.Tensor:
    """Per-image ranks (N, M) of M methods from scores (N, M): 1 = best, ties averaged."""
    s = torch.as_tensor(scores, dtype=torch.float64)
    return rankdata(-s if higher_is_better else s)


def inter_rater(scores: torch.Tensor, higher_is_better: bool = True) -> float:
    """Tomsett's inter-rater reliability: ordinal α with images as raters of the methods' ranks."""
    return krippendorff_alpha(method_ranks(scores, higher_is_better), "ordinal")


def internal_consistency(scores: torch.Tensor) -> torch.Tensor:
    """(V, V) Spearman correlations over images between V metric variants' scores (V, N), oriented so
    that higher is better for all."""
    s = torch.as_tensor(scores, dtype=torch.float64)
    v = s.shape[0]
    out = torch.ones(v, v, dtype=torch.float64)
    for i in range(v):
        for j in range(i + 1, v):
            out[i, j] = out[j, i] = spearman(s[i:i + 1], s[j:j + 1])[0]
    return out


def cronbach_alpha(items: torch.Tensor) -> float:
    """Cronbach's α of items (N, V): V/(V−1)·(1 − Σ_i var(item_i) / var(Σ_i item_i))."""
    x = torch.as_tensor(items, dtype=torch.float64)
    if x.ndim != 2 or x.shape[1] < 2 or x.shape[0] < 2:
        raise ValueError(f"Cronbach's alpha needs a table of at least 2 cases × 2 items, got shape {tuple(x.shape)}")
    v = x.shape[1]
    total = x.sum(1).var()
    return math.nan if total <= 0 else float(v / (v - 1) * (1 - x.var(0).sum() / total))

"""Saliency metrics by input perturbation, without retraining.

A saliency map orders the P pixels (``rank`` (N, P), 0 = most important; see
:func:`roarkit.attribution.ranks`). At step j of ``steps`` the k_j = round(j·P/steps) pixels are
replaced by a baseline (:mod:`roarkit.baselines`) and the model's softmax probability of the target
class is recorded, giving a curve of ``steps + 1`` points from 0 to 100 % removed:

* :func:`morf`: Most Relevant First (Samek et al. 2017): remove the top-ranked pixels first. A
  faithful map makes the curve fall fast: lower area is better. Petsiuk et al.'s *deletion*.
* :func:`lerf`: Least Relevant First: remove the bottom-ranked first; higher area is better.
* :func:`insertion` (Petsiuk et al. 2018): start from the baseline and put the top-ranked pixels
  back. With the same baseline it *is* LeRF read backwards (insertion at step j keeps exactly the
  pixels LeRF keeps at step steps − j), so its area equals LeRF's; a test checks the identity.
* :func:`aopc` (Samek et al. 2017): AOPC = 1/(L+1) Σ_{k=0..L} (f(x) − f(x_MoRF^(k))); higher is better.
* :func:`abpc`: area between the LeRF and MoRF curves (LeRF area − MoRF area); higher is better.
* :func:`road` (Rong et al. 2022): MoRF or LeRF with ROAD's noisy linear imputation as the baseline.

:func:`auc` is the trapezoidal area over the removed fraction in [0, 1].
"""
from __future__ import annotations

import numbers

import torch

from roarkit import baselines as B
from roarkit.perturbation import Probability

ORDERS = ("morf", "lerf", "insertion")
#: Whether a higher value of each summary means a more faithful saliency map.
HIGHER_IS_BETTER = {"morf": False, "lerf": True, "insertion": True, "aopc": True, "abpc": True}


def check_steps(steps) -> int:
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 2:
        raise ValueError(f"steps must be a whole number of at least 2 (points at 0 %, ..., 100 % removed), got {steps!r}")
    return int(steps)


def counts(pixels: int, steps: int) -> torch.Tensor:
    """Pixels removed at each step: round(j·P/steps), j = 0..steps (round half up)."""
    j = torch.arange(steps + 1, dtype=torch.float64)
    return torch.floor(j * pixels / steps + 0.5).long()


def removal_masks(rank: torch.Tensor, order: str, steps: int) -> torch.Tensor:
    """Bool (N, steps + 1, P), True where a pixel is replaced at each step of ``order``."""
    if order not in ORDERS:
        raise ValueError(f"unknown perturbation order {order!r}; choose one of {', '.join(ORDERS)}")
    p = rank.shape[1]
    k = counts(p, check_steps(steps)).to(rank.device).view(1, -1, 1)
    r = rank.long().unsqueeze(1)
    if order == "morf":
        return r < k
    if order == "lerf":
        return r >= p - k
    return r >= p - k.flip(1)  # insertion: at step j keep the top P − k_(steps−j) pixels


def curve(model, x: torch.Tensor, y: torch.Tensor, rank: torch.Tensor, *, order: str, baseline: str,
          stats: B.Stats, steps: int, seed: int = 0, base: torch.Tensor | None = None,
          batch_size: int = 1024) -> torch.Tensor:
    """Target-class probability (N, steps + 1) as pixels are removed in ``order`` and replaced by
    ``baseline``. ``base``: the baseline image of every x, precomputed (mask-independent baselines);
    uniform noise is drawn once per image, so every step of a curve sees the same noise."""
    B.check_baseline(baseline)
    if rank.shape != (x.shape[0], x.shape[2] * x.shape[3]):
        raise ValueError(f"rank must be (N, H·W) = {(x.shape[0], x.shape[2] * x.shape[3])}, got {tuple(rank.shape)}")
    if base is None and baseline not in B.MASK_DEPENDENT:
        base = B.fill(baseline, x, stats, seed=seed)
    f = Probability(model).eval()
    n, c, h, w = x.shape
    s = check_steps(steps) + 1
    per = max(1, batch_size // s)
    out = torch.empty(n, s, device=x.device, dtype=x.dtype)
    with torch.inference_mode():
        for i in range(0, n, per):
            xb = x[i:i + per]
            nb = len(xb)
            m = removal_masks(rank[i:i + per], order, steps).view(nb * s, 1, h, w)
            xs = xb.repeat_interleave(s, 0)
            bs = None if base is None else base[i:i + per].repeat_interleave(s, 0)
            pert = B.perturb(xs, m, baseline, stats, seed=seed + i, base=bs)
            out[i:i + per] = f(pert).gather(1, y[i:i + per].repeat_interleave(s)[:, None]).view(nb, s)
    return out


def morf(model, x, y, rank, **kw) -> torch.Tensor:
    """MoRF (deletion) curve: most important pixels removed first."""
    return curve(model, x, y, rank, order="morf", **kw)


def lerf(model, x, y, rank, **kw) -> torch.Tensor:
    """LeRF curve: least important pixels removed first."""
    return curve(model, x, y, rank, order="lerf", **kw)


def insertion(model, x, y, rank, **kw) -> torch.Tensor:
    """Insertion curve: from the baseline, the most important pixels put back first."""
    return curve(model, x, y, rank, order="insertion", **kw)


def road(model, x, y, rank, *, order: str = "morf", **kw) -> torch.Tensor:
    """ROAD (Rong et al. 2022): the MoRF or LeRF curve with noisy linear imputation, no retraining."""
    if order not in ("morf", "lerf"):
        raise ValueError(f"ROAD removes pixels in 'morf' or 'lerf' order, got {order!r}")
    return curve(model, x, y, rank, order=order, baseline="noisy_linear", **kw)


def auc(c: torch.Tensor) -> torch.Tensor:
    """Trapezoidal area (N,) under curves (N, steps + 1) over the removed fraction 0..1."""
    return (c[:, 1:] + c[:, :-1]).sum(1) / (2 * (c.shape[1] - 1))


def aopc(morf_curve: torch.Tensor) -> torch.Tensor:
    """AOPC (N,): mean over the L + 1 steps of f(x) − f(x after k MoRF steps)."""
    return morf_curve[:, :1].sub(morf_curve).mean(1)


def abpc(lerf_curve: torch.Tensor, morf_curve: torch.Tensor) -> torch.Tensor:
    """Area between the LeRF and the MoRF curve (N,)."""
    return auc(lerf_curve) - auc(morf_curve)

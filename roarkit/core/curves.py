"""Faithfulness curves: remove a saliency map's pixels step by step and watch the model (no retraining).

A map orders the P pixels of an image (``rank`` (N, P), 0 = most important; :func:`roarkit.core.removal.ranks`).
At each step the k = ``n_pixels(fraction, P)`` pixels (:mod:`roarkit.core.removal`'s one count rule)
are replaced by a baseline (:mod:`roarkit.core.saliency.baselines`) and the model's softmax
probability of the target class, and whether it still predicts that class, are recorded.
:func:`curve` is the one function that does this; the named curves are its uses:

* :func:`morf`: Most Relevant First (Samek et al. 2017): remove the top-ranked pixels first. A
  faithful map makes the curve fall fast: lower area is better. Petsiuk et al.'s *deletion*.
* :func:`lerf`: Least Relevant First: remove the bottom-ranked first; higher area is better.
* :func:`insertion` (Petsiuk et al. 2018): start from the baseline and put the top-ranked pixels
  back. With the same baseline it *is* LeRF read backwards (insertion at step j keeps exactly the
  pixels LeRF keeps at step steps − j), so its area equals LeRF's; a test checks the identity.
* :func:`road` (Rong et al. 2022): MoRF or LeRF with ROAD's noisy linear imputation as the baseline.
* :func:`accuracy_drop` (SGT Fig. 3-4, SMOOT Tables 2-3): MoRF with SGT's fill, uniform noise within
  each image's range (``image_uniform``), read as test accuracy over the removed percentage.

Summaries: :func:`aopc` (Samek et al.: 1/(L+1) Σ_k f(x) − f(x_MoRF^(k)), higher is better) and
:func:`abpc` (LeRF area − MoRF area, higher is better). Areas come from :func:`auc`, the trapezoid
rule on one of two x-scales: the removed *fraction* 0..1 (MoRF, LeRF, ABPC, AOPC's scale) or, in
:func:`auc_percent`, the removed *percentage* 0..100 with accuracy as a fraction, so that a model
that stays perfect scores 100 and lower means a steeper drop (SMOOT's tables).
"""
from __future__ import annotations

import numbers
from collections.abc import Sequence

import torch

from roarkit.core import removal
from roarkit.core.saliency import baselines as B
from roarkit.core.saliency import gradients
from roarkit.core.saliency.perturbation import Probability

__all__ = ["ORDERS", "HIGHER_IS_BETTER", "PERCENTS", "check_steps", "fractions", "counts", "removal_masks",
           "curve", "morf", "lerf", "insertion", "road", "auc", "auc_percent", "aopc", "abpc", "accuracy_drop",
           "rises_first"]

ORDERS = ("morf", "lerf", "insertion")
#: Whether a higher value of each summary means a more faithful saliency map (Quantus' score direction).
HIGHER_IS_BETTER = {"morf": False, "lerf": True, "insertion": True, "aopc": True, "abpc": True}
#: SGT's and SMOOT's removal percentages.
PERCENTS = tuple(range(0, 101, 10))


def check_steps(steps) -> int:
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 2:
        raise ValueError(f"steps must be a whole number of at least 2 (points at 0 %, ..., 100 % removed), got {steps!r}")
    return int(steps)


def fractions(steps) -> torch.Tensor:
    """The removed fractions of a curve (float64): j/steps for j = 0..steps when ``steps`` is an int,
    else the given fractions (increasing, within [0, 1])."""
    if isinstance(steps, numbers.Integral) and not isinstance(steps, bool):
        return torch.arange(check_steps(steps) + 1, dtype=torch.float64) / steps
    f = torch.as_tensor(list(steps), dtype=torch.float64)
    if f.dim() != 1 or len(f) < 2 or bool((f.diff() <= 0).any()) or float(f.min()) < 0 or float(f.max()) > 1:
        raise ValueError(f"steps must be a whole number >= 2 or increasing fractions within [0, 1], got {steps!r}")
    return f


def counts(pixels: int, steps) -> torch.Tensor:
    """Pixels removed at each step (:func:`roarkit.core.removal.n_pixels` of each fraction)."""
    return removal.n_pixels(fractions(steps), pixels)


def removal_masks(rank: torch.Tensor, order: str, steps) -> torch.Tensor:
    """Bool (N, steps + 1, P), True where a pixel is replaced at each step of ``order``."""
    if order not in ORDERS:
        raise ValueError(f"unknown perturbation order {order!r}; choose one of {', '.join(ORDERS)}")
    p = rank.shape[1]
    k = counts(p, steps).to(rank.device).view(1, -1, 1)
    r = rank.unsqueeze(1)
    if order == "morf":
        return removal.removal_mask(r, k)
    if order == "lerf":  # the k lowest-ranked: all but the top P − k
        return removal.removal_mask(r, p - k, keep=True)
    return removal.removal_mask(r, p - k.flip(1), keep=True)  # insertion: at step j keep the top P − k_(steps−j)


def curve(model, x: torch.Tensor, y: torch.Tensor, rank: torch.Tensor, *, order: str, baseline: str,
          stats: B.Stats | None, steps, seed: int = 0, base: torch.Tensor | None = None,
          batch_size: int = 1024, correct: bool = False):
    """Target-class probability (N, S) as pixels are removed in ``order`` and replaced by ``baseline``
    (S = steps + 1, or the number of fractions given); with ``correct=True`` also whether the model still
    predicts the target, ``(prob, correct)``. ``base``: the baseline image of every x, precomputed
    (mask-independent baselines); noise baselines draw once per image, so every step sees the same noise."""
    B.check_baseline(baseline)
    if rank.shape != (x.shape[0], x.shape[2] * x.shape[3]):
        raise ValueError(f"rank must be (N, H·W) = {(x.shape[0], x.shape[2] * x.shape[3])}, got {tuple(rank.shape)}")
    if base is None and baseline not in B.MASK_DEPENDENT:
        base = B.fill(baseline, x, stats, seed=seed)
    f = Probability(model).eval()
    n, c, h, w = x.shape
    s = len(fractions(steps))
    per = max(1, batch_size // s)
    out = torch.empty(n, s, device=x.device, dtype=x.dtype)
    hit = torch.empty(n, s, device=x.device, dtype=torch.bool)
    with torch.inference_mode():
        for i in range(0, n, per):
            xb, yb = x[i:i + per], y[i:i + per].repeat_interleave(s)
            nb = len(xb)
            m = removal_masks(rank[i:i + per], order, steps).view(nb * s, 1, h, w)
            xs = xb.repeat_interleave(s, 0)
            bs = None if base is None else base[i:i + per].repeat_interleave(s, 0)
            prob = f(B.perturb(xs, m, baseline, stats, seed=seed + i, base=bs))
            out[i:i + per] = prob.gather(1, yb[:, None]).view(nb, s)
            hit[i:i + per] = (prob.argmax(1) == yb).view(nb, s)
    return (out, hit) if correct else out


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


def auc(values: torch.Tensor, x=None) -> torch.Tensor:
    """Trapezoidal area under curves (..., S) over ``x`` (increasing, S points); ``x=None``: equally
    spaced over the removed fraction 0..1, the scale of MoRF, LeRF, ABPC and AOPC."""
    if x is None:
        return (values[..., 1:] + values[..., :-1]).sum(-1) / (2 * (values.shape[-1] - 1))
    return torch.trapezoid(values, torch.as_tensor(x, dtype=values.dtype, device=values.device), dim=-1)


def auc_percent(percents: Sequence[float], accuracy: Sequence[float]) -> float:
    """SMOOT's table scale: area under ``accuracy`` (fractions in [0, 1]) over ``percents`` (0..100):
    a model that stays perfect scores 100."""
    p = torch.as_tensor(percents, dtype=torch.float64)
    a = torch.as_tensor(accuracy, dtype=torch.float64)
    if p.shape != a.shape or p.dim() != 1 or len(p) < 2:
        raise ValueError(f"need two equally long lists of at least 2 points, got {len(p)} percents and "
                         f"{len(a)} accuracies")
    if bool((p.diff() <= 0).any()) or float(p.min()) < 0 or float(p.max()) > 100:
        raise ValueError(f"percents must increase within 0..100, got {list(percents)}")
    if bool(((a < 0) | (a > 1)).any()):
        raise ValueError("accuracies must be fractions in [0, 1] (not percentages)")
    return float(auc(a, p))


def aopc(morf_curve: torch.Tensor) -> torch.Tensor:
    """AOPC (N,): mean over the L + 1 steps of f(x) − f(x after k MoRF steps)."""
    return morf_curve[:, :1].sub(morf_curve).mean(1)


def abpc(lerf_curve: torch.Tensor, morf_curve: torch.Tensor) -> torch.Tensor:
    """Area between the LeRF and the MoRF curve (N,)."""
    return auc(lerf_curve) - auc(morf_curve)


def accuracy_drop(model, x: torch.Tensor, y: torch.Tensor, methods: Sequence[str] = ("grad", "ig", "grad_sg", "random"),
                  percents: Sequence[float] = PERCENTS, config: gradients.AttributionConfig | None = None,
                  *, seed: int = 0, batch_size: int = 1000) -> dict:
    """Per method: ``{"accuracy": [per percent], "auc", "true_prob" (N, S), "correct" (N, S)}`` of the
    MoRF curve under that method's ranking, removed pixels filled with ``image_uniform`` noise."""
    config = config or gradients.AttributionConfig()
    steps = [t / 100 for t in percents]
    out = {}
    for j, m in enumerate(methods):
        a = gradients.attribute(model, x, y, m, config, seed=seed * 101 + j)
        rank = removal.ranks(removal.scores(a), seed)
        prob, hit = curve(model, x, y, rank, order="morf", baseline="image_uniform", stats=None, steps=steps,
                          seed=seed, batch_size=batch_size, correct=True)
        acc = [int(v) / len(x) for v in hit.sum(0)]
        out[m] = {"accuracy": acc, "auc": auc_percent(percents, acc), "true_prob": prob.cpu(), "correct": hit.cpu()}
    return out


def rises_first(curve_: dict, step: int = 1) -> dict:
    """SGT's motivational experiment on an :func:`accuracy_drop` entry of the gradient ranking: the shares
    of images whose output first *improves* when their highest-ranked pixels are removed (percent 0 → the
    ``step``-th percent): ``"prob"``, the true-class probability rises; ``"correct"``, a misclassified
    image becomes correctly classified (the 0/1 per-image accuracy rises)."""
    p, c = curve_["true_prob"], curve_["correct"]
    if p.dim() != 2 or p.shape[1] <= step or c.shape != p.shape:
        raise ValueError(f"need true_prob and correct of shape (N, steps) with more than {step} steps, "
                         f"got {tuple(p.shape)} and {tuple(c.shape)}")
    up = p[:, step] > p[:, 0]
    flip = ~c[:, 0] & c[:, step]
    return {"prob": float(up.float().mean()), "correct": float(flip.float().mean()), "n": len(up)}

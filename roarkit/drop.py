"""Accuracy drop when the most salient pixels are removed (SGT Fig. 3-4, SMOOT Tables 2-3), its AUC,
and SGT's motivational experiment.

For a saliency method, each test image's pixels are ranked by attribution magnitude
(:func:`roarkit.attribution.scores` / :func:`~roarkit.attribution.ranks`: |attribution| summed over
channels, random tie-breaks); at each removal percentage t (0, 10, …, 100) the top ``round(t/100 · H·W)``
pixels are replaced, in every channel, by values drawn uniformly within the range of the image
(the official SGT evaluation's random mask), and the model — not retrained — is tested.
AUC = area under accuracy (fraction) over removed percentage (0-100) by the trapezoid rule, so a
model that stays perfect scores 100 and lower means a steeper drop, as in SMOOT's tables.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from roarkit import attribution, sgt

__all__ = ["PERCENTS", "auc", "removal_curve", "accuracy_drop", "rises_first"]

PERCENTS = tuple(range(0, 101, 10))


def auc(percents: Sequence[float], accuracy: Sequence[float]) -> float:
    """Trapezoid area under ``accuracy`` (fractions in [0, 1]) over ``percents`` (increasing, in 0-100)."""
    p = torch.as_tensor(percents, dtype=torch.float64)
    a = torch.as_tensor(accuracy, dtype=torch.float64)
    if p.shape != a.shape or p.dim() != 1 or len(p) < 2:
        raise ValueError(f"need two equally long lists of at least 2 points, got {len(p)} percents and "
                         f"{len(a)} accuracies")
    if bool((p.diff() <= 0).any()) or float(p.min()) < 0 or float(p.max()) > 100:
        raise ValueError(f"percents must increase within 0..100, got {list(percents)}")
    if bool(((a < 0) | (a > 1)).any()):
        raise ValueError("accuracies must be fractions in [0, 1] (not percentages)")
    return float(torch.trapezoid(a, p))


@torch.no_grad()
def removal_curve(model, x: torch.Tensor, y: torch.Tensor, rank: torch.Tensor,
                  percents: Sequence[float] = PERCENTS, *, seed: int = 0, batch_size: int = 1000) -> dict:
    """Accuracy and true-class probability of ``model`` (eval mode) as the top-ranked pixels are removed.

    ``rank`` (N, H·W): 0 = most important. Returns ``{"accuracy": [per percent], "true_prob": (N, steps),
    "correct": bool (N, steps)}``.
    """
    was_training = model.training
    model.eval()
    pixels = rank.shape[1]
    noise = torch.Generator(device=x.device).manual_seed(seed)
    acc, probs, hits = [], [], []
    try:
        for t in percents:
            k = sgt.n_masked(t / 100, pixels)
            hit, prob = [], []
            for i in range(0, len(x), batch_size):
                xb, yb = x[i:i + batch_size], y[i:i + batch_size]
                mask = rank[i:i + batch_size].long() < k
                xt = sgt.fill_uniform(xb, mask, noise, range_of="image") if k else xb
                out = model(xt)
                hit.append(out.argmax(1) == yb)
                prob.append(F.softmax(out, 1).gather(1, yb.view(-1, 1)).squeeze(1))
            hits.append(torch.cat(hit))
            acc.append(int(hits[-1].sum()) / len(x))
            probs.append(torch.cat(prob))
    finally:
        model.train(was_training)
    return {"accuracy": acc, "true_prob": torch.stack(probs, 1).cpu(), "correct": torch.stack(hits, 1).cpu()}


def accuracy_drop(model, x: torch.Tensor, y: torch.Tensor, methods: Sequence[str] = ("grad", "ig", "grad_sg", "random"),
                  percents: Sequence[float] = PERCENTS, config: attribution.AttributionConfig | None = None,
                  *, seed: int = 0) -> dict:
    """Per method: ``{"accuracy", "auc", "true_prob"}`` of :func:`removal_curve` under that method's ranking."""
    config = config or attribution.AttributionConfig()
    out = {}
    for j, m in enumerate(methods):
        a = attribution.attribute(model, x, y, m, config, seed=seed * 101 + j)
        rank = attribution.ranks(attribution.scores(a), seed=seed)
        curve = removal_curve(model, x, y, rank, percents, seed=seed)
        out[m] = {**curve, "auc": auc(percents, curve["accuracy"])}
    return out


def rises_first(curve: dict, step: int = 1) -> dict:
    """SGT's motivational experiment on a :func:`removal_curve` of the gradient ranking: the shares of
    images whose output first *improves* when their highest-ranked pixels are removed (percent 0 → the
    ``step``-th percent): ``"prob"``, the true-class probability rises; ``"correct"``, a misclassified
    image becomes correctly classified (the 0/1 per-image accuracy rises)."""
    p, c = curve["true_prob"], curve["correct"]
    if p.dim() != 2 or p.shape[1] <= step or c.shape != p.shape:
        raise ValueError(f"need true_prob and correct of shape (N, steps) with more than {step} steps, "
                         f"got {tuple(p.shape)} and {tuple(c.shape)}")
    up = p[:, step] > p[:, 0]
    flip = ~c[:, 0] & c[:, step]
    return {"prob": float(up.float().mean()), "correct": float(flip.float().mean()), "n": len(up)}

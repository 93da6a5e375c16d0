"""The "Saliency metrics disagree" experiment: saliency maps of several methods, scored by every
perturbation metric under every baseline, the reliability of those scores (Tomsett et al. 2020), and
the model-randomisation test (Adebayo et al. 2018).

Metric variants: for each baseline b, ``morf/b`` (area under the MoRF curve, sign flipped so that
higher is better), ``lerf/b`` (area under the LeRF curve) and ``abpc/b`` (LeRF area − MoRF area);
with b = ``noisy_linear`` the first two are ROAD's MoRF and LeRF. AOPC ranks the methods of an image
exactly as the MoRF area does (AOPC = f(x) − mean of the MoRF curve, and f(x) is the same for every
method), and insertion is LeRF read backwards, so neither adds a distinct variant.
"""
from __future__ import annotations

import time

import torch

from roarkit.core import curves, reliability, removal, sanity, similarity
from roarkit.core.labels import label
from roarkit.core.saliency import baselines as B
from roarkit.core.saliency import methods as saliency
from roarkit.core.saliency.gradients import AttributionConfig

__all__ = ["ORDERS", "KINDS", "variant", "run_chunk", "scores", "rankings", "agreement", "consistency",
           "sanity_chunk"]

ORDERS = ("morf", "lerf")
KINDS = ("morf", "lerf", "abpc")


def variant(kind: str, baseline: str) -> str:
    """Display name of a metric variant, e.g. ``MoRF · zero (black)`` or ``ROAD-MoRF``."""
    if baseline == "noisy_linear" and kind in ORDERS:
        return f"ROAD-{label('metric', kind)}"
    return f"{label('metric', kind)} · {label('baseline', baseline)}"


def run_chunk(model, x, y, methods, baselines, stats: B.Stats, *, config: saliency.MapConfig, steps: int,
              attr: AttributionConfig = AttributionConfig(), seed: int = 0,
              examples: int = 0, batch_size: int = 1024) -> dict:
    """Maps of every method for images ``x``, then their MoRF and LeRF curves under every baseline.

    Returns ``curves`` (methods, baselines, 2, N, steps + 1), ``map_seconds`` {method: s},
    ``curve_seconds`` {"<order>/<baseline>": s} and ``examples`` (methods, E, H, W) signed maps."""
    saliency.check_methods(methods)
    B.check_baselines(baselines)
    model.eval()
    n, _, h, w = x.shape
    out = {"map_seconds": {}, "curve_seconds": {}}
    ranks, ex = {}, []
    for m in methods:
        t0 = time.perf_counter()
        a = saliency.attribute(model, x, y, m, attr, maps=config, stats=stats, seed=seed, batch_size=batch_size)
        out["map_seconds"][m] = time.perf_counter() - t0
        ranks[m] = removal.ranks(removal.scores(a), seed)
        ex.append(a[:examples].sum(1).cpu())
    out["examples"] = torch.stack(ex)
    curves_ = torch.empty(len(methods), len(baselines), 2, n, steps + 1)
    for j, b in enumerate(baselines):
        base = None if b in B.MASK_DEPENDENT else B.fill(b, x, stats, seed=seed)
        for o, order in enumerate(ORDERS):
            t0 = time.perf_counter()
            for i, m in enumerate(methods):
                curves_[i, j, o] = curves.curve(model, x, y, ranks[m], order=order, baseline=b, stats=stats, steps=steps,
                                                seed=seed, base=base, batch_size=batch_size).cpu()
            out["curve_seconds"][f"{order}/{b}"] = time.perf_counter() - t0
    out["curves"] = curves_
    return out


def scores(curve_stack: torch.Tensor, baselines) -> dict:
    """{(kind, baseline): (N, methods)} per-image scores, higher = more faithful, from the curves of
    :func:`run_chunk`."""
    out = {}
    for j, b in enumerate(baselines):
        morf_auc = torch.stack([curves.auc(c) for c in curve_stack[:, j, 0]], 1)
        lerf_auc = torch.stack([curves.auc(c) for c in curve_stack[:, j, 1]], 1)
        out[("morf", b)] = -morf_auc
        out[("lerf", b)] = lerf_auc
        out[("abpc", b)] = lerf_auc - morf_auc
    return out


def rankings(score: dict) -> dict:
    """{variant: (methods,) rank of each method by its mean score, 1 = best (ties averaged)}."""
    return {k: reliability.method_ranks(v.mean(0, keepdim=True))[0] for k, v in score.items()}


def agreement(score: dict) -> float:
    """Krippendorff's ordinal α with the metric variants as raters of the methods' ranks."""
    r = rankings(score)
    return reliability.krippendorff_alpha(torch.stack(list(r.values())), "ordinal")


def consistency(score: dict) -> torch.Tensor:
    """(V, V) internal consistency: Spearman correlation over images between variants' scores,
    averaged over the methods (Tomsett et al.)."""
    keys = list(score)
    per_method = [reliability.internal_consistency(torch.stack([score[k][:, i] for k in keys]))
                  for i in range(next(iter(score.values())).shape[1])]
    return torch.stack(per_method).nanmean(0)


def sanity_chunk(model, x, y, methods, stats: B.Stats, *, config: saliency.MapConfig,
                 attr: AttributionConfig = AttributionConfig(), seed: int = 0,
                 batch_size: int = 1024) -> dict:
    """Cascading randomisation: {measure: (layers, methods, N)} similarity of each method's map
    (absolute values, summed over channels) on each randomised model to its map on the trained model."""
    def absmap(net, m):
        a = saliency.attribute(net, x, y, m, attr, maps=config, stats=stats, seed=seed, batch_size=batch_size)
        return a.abs().sum(1)

    original = {m: absmap(model, m) for m in methods}
    steps = sanity.cascade(model, seed=seed)
    out = {name: torch.empty(len(steps), len(methods), len(x)) for name in similarity.MEASURES}
    for li, (_, net) in enumerate(steps):
        for mi, m in enumerate(methods):
            a = absmap(net, m)
            for name in similarity.MEASURES:
                out[name][li, mi] = similarity.measure(name, original[m], a).float().cpu()
    out["layers"] = [name for name, _ in steps]
    return out

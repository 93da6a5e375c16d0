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

import json
import time

import torch

from roarkit import attribution, maps, metrics, reliability, sanity, similarity
from roarkit import baselines as B

ORDERS = ("morf", "lerf")
KINDS = ("morf", "lerf", "abpc")
KIND_LABELS = {"morf": "MoRF", "lerf": "LeRF", "abpc": "ABPC"}
#: ROAR chapter method names (roarkit.attribution) for the methods of this page.
ROAR_NAMES = {"saliency": "grad", "ig": "ig", "smoothgrad": "grad_sg", "guided_backprop": "gb", "random": "random"}


def variant(kind: str, baseline: str) -> str:
    """Display name of a metric variant, e.g. ``MoRF · zero (black)`` or ``ROAD-MoRF``."""
    if baseline == "noisy_linear" and kind in ORDERS:
        return f"ROAD-{KIND_LABELS[kind]}"
    return f"{KIND_LABELS[kind]} · {B.LABELS[baseline]}"


def run_chunk(model, x, y, methods, baselines, stats: B.Stats, *, config: maps.MapConfig, steps: int,
              attr: attribution.AttributionConfig = attribution.AttributionConfig(), seed: int = 0,
              examples: int = 0, batch_size: int = 1024) -> dict:
    """Maps of every method for images ``x``, then their MoRF and LeRF curves under every baseline.

    Returns ``curves`` (methods, baselines, 2, N, steps + 1), ``map_seconds`` {method: s},
    ``curve_seconds`` {"<order>/<baseline>": s} and ``examples`` (methods, E, H, W) signed maps."""
    maps.check_methods(methods)
    B.check_baselines(baselines)
    model.eval()
    n, _, h, w = x.shape
    out = {"map_seconds": {}, "curve_seconds": {}}
    ranks, ex = {}, []
    for m in methods:
        t0 = time.perf_counter()
        a = maps.saliency_map(model, x, y, m, stats=stats, config=config, attr=attr, seed=seed, batch_size=batch_size)
        out["map_seconds"][m] = time.perf_counter() - t0
        ranks[m] = attribution.ranks(attribution.scores(a), seed=seed)
        ex.append(a[:examples].sum(1).cpu())
    out["examples"] = torch.stack(ex)
    curves = torch.empty(len(methods), len(baselines), 2, n, steps + 1)
    for j, b in enumerate(baselines):
        base = None if b in B.MASK_DEPENDENT else B.fill(b, x, stats, seed=seed)
        for o, order in enumerate(ORDERS):
            t0 = time.perf_counter()
            for i, m in enumerate(methods):
                curves[i, j, o] = metrics.curve(model, x, y, ranks[m], order=order, baseline=b, stats=stats, steps=steps,
                                                seed=seed, base=base, batch_size=batch_size).cpu()
            out["curve_seconds"][f"{order}/{b}"] = time.perf_counter() - t0
    out["curves"] = curves
    return out


def scores(curves: torch.Tensor, baselines) -> dict:
    """{(kind, baseline): (N, methods)} per-image scores, higher = more faithful, from the curves of
    :func:`run_chunk`."""
    out = {}
    for j, b in enumerate(baselines):
        morf_auc = torch.stack([metrics.auc(c) for c in curves[:, j, 0]], 1)
        lerf_auc = torch.stack([metrics.auc(c) for c in curves[:, j, 1]], 1)
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


def sanity_chunk(model, x, y, methods, stats: B.Stats, *, config: maps.MapConfig,
                 attr: attribution.AttributionConfig = attribution.AttributionConfig(), seed: int = 0,
                 batch_size: int = 1024) -> dict:
    """Cascading randomisation: {measure: (layers, methods, N)} similarity of each method's map
    (absolute values, summed over channels) on each randomised model to its map on the trained model."""
    def absmap(net, m):
        a = maps.saliency_map(net, x, y, m, stats=stats, config=config, attr=attr, seed=seed, batch_size=batch_size)
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


def roar_ranking(store, dataset: str, model_params: dict | None = None):
    """Mean ROAR test accuracy per method of this page over the stored ROAR units (mode ``roar``, image
    input) for ``dataset``: ``(accuracy by method, number of units, settings)``, or ``None`` when the
    store holds none. Units are grouped by their training settings, data subset and code version, and
    the largest group is used (never a mix); ``model_params`` (e.g. ``{"config": ...}``) restricts the
    candidates."""
    groups: dict = {}
    inverse = {v: k for k, v in ROAR_NAMES.items()}
    for e in store.entries("roar", values=True):
        prm, data = e.provenance.get("params", {}), e.provenance.get("data") or [{}]
        if data[0].get("name") != dataset or prm.get("mode") != "roar" or prm.get("input") != "image":
            continue
        if model_params and any(prm.get(k) != v for k, v in model_params.items()):
            continue
        m = inverse.get(prm.get("method"))
        if m is None:
            continue
        settings = {"model": prm.get("model"), "config": prm.get("config"), "n_train": data[0].get("n_train"),
                    "n_test": data[0].get("n_test"), "code_version": e.provenance.get("code_version")}
        acc, count = groups.setdefault(json.dumps(settings, sort_keys=True), ({}, {}))
        acc[m] = acc.get(m, 0.0) + e.value["metrics"]["accuracy"]
        count[m] = count.get(m, 0) + 1
    if not groups:
        return None
    key = max(groups, key=lambda k: sum(groups[k][1].values()))
    acc, count = groups[key]
    return {m: acc[m] / count[m] for m in acc}, sum(count.values()), json.loads(key)

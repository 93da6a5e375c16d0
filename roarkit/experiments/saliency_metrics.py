"""The "Saliency metrics disagree" page: the maps of several saliency methods on the base models' test
images, scored by every perturbation metric under every baseline, the reliability of those scores
(Tomsett et al. 2020), the model-randomisation test (Adebayo et al. 2018) and, where the store holds the
ROAR chapter's retrainings, their ranking; and the page's verdict on Brunke et al.'s claim (c),
"perturbation methods are inconsistent and not robust as saliency metrics".

Stored units: ``metric_curves`` (:data:`CHUNK` images each, :func:`roarkit.core.evaluation.run_chunk`) and
``randomisation`` (:func:`roarkit.core.evaluation.sanity_chunk`). The verdict rules: a metric variant is
*reliable* on a dataset when its inter-rater reliability reaches :data:`RELIABLE` (Krippendorff's 0.8);
claim (c) is supported when most variant-dataset pairs are not reliable or the variants agree on the
method ranking below :data:`TENTATIVE` (:func:`supported`).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from roarkit.core import curves as C
from roarkit.core import evaluation, reliability, removal, similarity
from roarkit.core.labels import label
from roarkit.core.saliency import AttributionConfig, MapConfig, attribute, check_methods
from roarkit.core.saliency.baselines import check_baselines
from roarkit.experiments import base_models
from roarkit.store import Store, Unit

__all__ = ["CHUNK", "CODE", "RELIABLE", "TENTATIVE", "reliable_count", "supported", "c_verdict", "winners_text",
           "random_top_half", "roar_ranking", "roar_lines", "MetricsResult", "run"]

#: Images per stored unit of work.
CHUNK = 500
#: The module whose code computes the stored units.
CODE = ("roarkit.core.evaluation",)
#: Krippendorff's α from which a metric is reliable, and from which tentative conclusions are allowed.
RELIABLE = 0.8
TENTATIVE = 0.667


def reliable_count(irr) -> tuple[int, int, int]:
    """``(reliable, unreliable, total)`` over the finite inter-rater reliabilities ``irr``: at least
    :data:`RELIABLE`, below it (NaN counts as neither), and the number of finite values."""
    a = np.asarray(irr, dtype=float)
    return int((a >= RELIABLE).sum()), int((a < RELIABLE).sum()), int(np.isfinite(a).sum())


def supported(irr, alpha_all: float) -> bool:
    """Claim (c): more than half of the variant-dataset pairs ``irr`` fall below :data:`RELIABLE` (a NaN
    counts in the total but not as below), or the variants agree on the method ranking (``alpha_all``,
    mean over datasets) below :data:`TENTATIVE`."""
    a = np.asarray(irr, dtype=float)
    return bool((a < RELIABLE).mean() > 0.5 or alpha_all < TENTATIVE)


def c_verdict(irr, alpha_all: float) -> str:
    return "Supported" if supported(irr, alpha_all) else "Not supported"


def winners_text(n_winners: int) -> str:
    """How many different methods the variants crown most faithful, as the verdict's last sentence ends."""
    return (f"{n_winners} different methods come out best depending on the variant" if n_winners > 1
            else "every variant names the same best method, but they disagree below it")


def random_top_half(ranks: pd.Series, n_methods: int) -> int:
    """How many rankings (one rank of the random map per variant) put it in the better half of ``n_methods``."""
    return int((ranks <= n_methods / 2).sum())


def roar_ranking(store: Store, dataset: str, methods=None, model_params: dict | None = None):
    """Mean ROAR test accuracy per method over the stored ROAR retrainings (units of kind ``roar`` of
    :mod:`roarkit.experiments.roar_grid`, mode ``roar``, image input) of ``dataset``: ``(accuracy by
    method, number of units, settings)``, or ``None`` when the store holds none. Only ``methods`` count
    (None: all). Units are grouped by their training settings, data subset and code version, and the
    largest group is used (never a mix); ``model_params`` (e.g. ``{"config": ...}``) restricts the
    candidates."""
    groups: dict = {}
    for e in store.entries("roar", values=True):
        prm, data = e.provenance.get("params", {}), e.provenance.get("data") or [{}]
        if data[0].get("name") != dataset or prm.get("mode") != "roar" or prm.get("input") != "image":
            continue
        if model_params and any(prm.get(k) != v for k, v in model_params.items()):
            continue
        m = prm.get("method")
        if m is None or (methods is not None and m not in methods):
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


def roar_lines(store: Store, methods: list, score: dict) -> str:
    """Markdown: per dataset, the ROAR ranking of the methods and how the no-retrain variants' rankings
    (``score``: dataset → {variant: (N, methods)}) correlate with it."""
    lines = []
    for name, s in score.items():
        found = roar_ranking(store, name, methods)
        if found is None:
            lines.append(f"- **{name}**: the results store held no ROAR retraining results for this dataset when "
                         "this page ran, so there is no ROAR ranking to compare with.")
            continue
        acc, units, settings = found
        common = [m for m in methods if m in acc]
        roar_rank = reliability.method_ranks(-torch.tensor([[acc[m] for m in common]]))[0]
        idx = [methods.index(m) for m in common]
        rho = np.array([similarity.spearman(evaluation.rankings({k: v[:, idx]})[k][None], roar_rank[None]).item()
                        for k, v in s.items()])
        order = ", ".join(label("method", m) for m in np.array(common)[roar_rank.argsort().numpy()])
        lines.append(f"- **{name}**: ROAR ranks {order} (best first; mean test accuracy over {units} stored retraining "
                     f"units: {(settings['config'] or {}).get('epochs')} epochs, {settings['n_train']:,} training "
                     f"images). The no-retrain variants' rankings of these {len(common)} methods correlate with it at "
                     f"Spearman {np.nanmedian(rho):.2f} (median; from {np.nanmin(rho):.2f} to {np.nanmax(rho):.2f}).")
    return "\n".join(lines) + "\n"


@dataclass
class MetricsResult:
    """What the page shows (per dataset unless said otherwise) and the numbers its text quotes."""

    methods: list
    baselines: list
    steps: int
    datasets: dict            # name -> roarkit.experiments.base_models.Explained
    curves: dict              # (methods, baselines, 2 orders, N, steps + 1)
    examples: dict            # (methods, E, H, W) signed maps of the first images
    scores: dict              # {(kind, baseline): (N, methods)}, higher = more faithful
    variants: list            # (kind, baseline)
    ranks: dict               # DataFrame: variants × methods, rank by mean score (1 = best)
    irr: pd.DataFrame         # inter-rater reliability: variants × datasets
    agreement: pd.DataFrame   # Krippendorff's α between groups of variants × datasets
    consistency: dict         # (V, V) tensor
    sanity: dict              # evaluation.sanity_chunk's value
    sanity_final: pd.DataFrame
    rates_maps: pd.DataFrame
    rates_metric: pd.DataFrame
    roar_text: str = ""
    numbers: dict = field(default_factory=dict)

    @property
    def infos(self) -> list:
        """The DataInfo of every dataset the result ran on (what the page records)."""
        return [ex.info for ex in self.datasets.values()]

    @property
    def markdown(self) -> dict:
        """The page's Markdown paragraphs by glue name."""
        return {"roar_text": self.roar_text}

    @property
    def method_labels(self) -> list[str]:
        return [label("method", m) for m in self.methods]

    @property
    def variant_labels(self) -> list[str]:
        return [evaluation.variant(k, b) for k, b in self.variants]

    @property
    def rank_table(self) -> pd.DataFrame:
        """Every dataset's ranks side by side (columns: dataset, method)."""
        return pd.concat(self.ranks, axis=1)


def _curve_units(ex, p, methods, bls, map_config) -> list:
    n, units = len(ex.picks), []
    for start in range(0, n, CHUNK):
        x, y = ex.images(start, start + CHUNK)
        params = {"model": ex.model_key, "methods": methods, "baselines": bls, "map": map_config.as_dict(),
                  "attr": AttributionConfig().as_dict(), "steps": p.metric_steps, "seed": p.seed,
                  "images": {"n_images": n, "subset_seed": p.subset_seed, "start": start, "stop": start + len(y)}}
        units.append(Unit("metric_curves", params, ex.data.info, evaluation.run_chunk,
                          (ex.model, x, y, methods, bls, ex.stats),
                          {"config": map_config, "steps": p.metric_steps, "seed": p.seed + start,
                           "examples": 2 if start == 0 else 0}, code=CODE, device=ex.data.device))
    return units


def _sanity_unit(ex, p, methods, map_config) -> Unit:
    k = len(ex.picks) if not p.sanity_images else min(p.sanity_images, len(ex.picks))
    x, y = ex.images(0, k)
    params = {"model": ex.model_key, "methods": methods, "map": map_config.as_dict(),
              "attr": AttributionConfig().as_dict(), "seed": p.seed,
              "images": {"n_images": len(ex.picks), "subset_seed": p.subset_seed, "first": k}}
    return Unit("randomisation", params, ex.data.info, evaluation.sanity_chunk, (ex.model, x, y, methods, ex.stats),
                {"config": map_config, "seed": p.seed}, code=CODE, device=ex.data.device)


def _reliability(score: dict, bls: list) -> pd.DataFrame:
    out = {}
    for name, s in score.items():
        out[name] = {"all variants": evaluation.agreement(s)}
        for kind in evaluation.KINDS:
            out[name][f"{label('metric', kind)} across baselines"] = evaluation.agreement(
                {k: v for k, v in s.items() if k[0] == kind})
        for b in bls:
            out[name][f"MoRF, LeRF, ABPC with {label('baseline', b)}"] = evaluation.agreement(
                {k: v for k, v in s.items() if k[1] == b})
    return pd.DataFrame(out)


def _identities(R, p, map_config) -> dict:
    """On the first 32 images of the first dataset: the largest gap between the insertion and the LeRF
    area, and the share of images on which AOPC and the MoRF area rank the methods alike."""
    name0, ex = next(iter(R.datasets.items()))
    x, y = ex.images(0, 32)
    a0 = attribute(ex.model, x, y, R.methods[0], maps=map_config, stats=ex.stats)
    r0 = removal.ranks(removal.scores(a0), p.seed)
    kw = dict(baseline=R.baselines[0], stats=ex.stats, steps=p.metric_steps, seed=p.seed)
    gap = (C.auc(C.insertion(ex.model, x, y, r0, **kw)) - C.auc(C.lerf(ex.model, x, y, r0, **kw))).abs().max().item()
    c0 = R.curves[name0][:, 0, 0]  # (methods, N, S) MoRF with the first baseline
    aopc_rank = reliability.method_ranks(torch.stack([C.aopc(c) for c in c0], 1))
    auc_rank = reliability.method_ranks(-torch.stack([C.auc(c) for c in c0], 1))
    return {"identity_gap": gap, "aopc_same": 100 * (aopc_rank == auc_rank).all(1).float().mean().item()}


def _numbers(R) -> dict:
    irr = R.irr.to_numpy()
    reliable, unreliable, total = reliable_count(irr)
    alpha_all = float(R.agreement.loc["all variants"].mean())
    off = np.concatenate([c.numpy()[np.triu_indices(len(R.variants), 1)] for c in R.consistency.values()])
    n_winners = int(max(df.idxmin(axis=1).nunique() for df in R.ranks.values()))
    rand = label("method", "random")
    return {
        "n_variants": len(R.variants),
        "irr_median": float(np.nanmedian(irr)), "irr_max": float(np.nanmax(irr)), "irr_min": float(np.nanmin(irr)),
        "irr_reliable": reliable, "irr_unreliable": unreliable, "irr_total": total,
        "alpha_all": alpha_all,
        "alpha_morf_b": float(R.agreement.loc["MoRF across baselines"].mean()),
        "alpha_lerf_b": float(R.agreement.loc["LeRF across baselines"].mean()),
        "cons_mean": float(np.nanmean(off)), "cons_neg": 100 * float(np.nanmean(off < 0)),
        "n_winners": n_winners,
        "random_top_half": sum(random_top_half(df[rand], len(R.methods)) for df in R.ranks.values()
                               if "random" in R.methods),
        "n_variant_rows": len(R.variants) * len(R.ranks),
        "sanity_images": int(min(len(s["spearman"][0, 0]) for s in R.sanity.values())),
        "c_verdict": c_verdict(irr, alpha_all), "c_winners": winners_text(n_winners),
    }


def _rates(parts: dict, methods: list, bls: list) -> tuple[pd.DataFrame, pd.DataFrame]:
    n_done = {name: sum(q["curves"].shape[3] for q in ps) for name, ps in parts.items()}
    maps = pd.DataFrame({name: {label("method", m): n_done[name] / sum(q["map_seconds"][m] for q in ps)
                                for m in methods} for name, ps in parts.items()})
    metric = pd.DataFrame({name: {evaluation.variant(o, b): n_done[name] * len(methods)
                                  / sum(q["curve_seconds"][f"{o}/{b}"] for q in ps)
                                  for b in bls for o in evaluation.ORDERS} for name, ps in parts.items()})
    return maps, metric


def run(p, store: Store | None = None) -> MetricsResult:
    """The page from its parameters ``p`` (``methods``, ``baselines``, ``metric_steps``, the first entries
    of ``windows``, ``strides``, ``rise_masks``, ``rise_cell``, ``rise_p``, ``sanity_images``, ``seed``,
    ``subset_seed`` and :func:`roarkit.experiments.base_models.explained`'s)."""
    store = store or Store()
    map_config = MapConfig(window=p.windows[0], stride=p.strides[0], rise_masks=p.rise_masks[0],
                           rise_cell=p.rise_cell[0], rise_p=p.rise_p[0], baseline=p.baselines[0])
    methods, bls = check_methods(p.methods), check_baselines(p.baselines)
    data = base_models.explained(p, store)
    units = {name: _curve_units(ex, p, methods, bls, map_config) + [_sanity_unit(ex, p, methods, map_config)]
             for name, ex in data.items()}  # every chunk of every dataset at once: they run concurrently
    entries = store.map_named(units, desc="metric curves and randomisation tests")
    parts = {name: [e.value for e in es[:-1]] for name, es in entries.items()}
    curves = {name: torch.cat([q["curves"] for q in ps], 3) for name, ps in parts.items()}
    score = {name: evaluation.scores(c, bls) for name, c in curves.items()}
    variants = list(next(iter(score.values())))
    vl = [evaluation.variant(k, b) for k, b in variants]
    ml = [label("method", m) for m in methods]
    ranks = {name: pd.DataFrame(torch.stack(list(evaluation.rankings(s).values())).numpy(), index=vl, columns=ml)
             for name, s in score.items()}
    irr = pd.DataFrame({name: [reliability.inter_rater(s[k]) for k in variants] for name, s in score.items()}, index=vl)
    sanity = {name: es[-1].value for name, es in entries.items()}
    final = pd.DataFrame({name: pd.Series(s["spearman"][-1].nanmedian(1).values.numpy(), index=ml)
                          for name, s in sanity.items()})
    R = MetricsResult(methods, bls, p.metric_steps, data, curves, {name: ps[0]["examples"] for name, ps in parts.items()},
                      score, variants, ranks, irr, _reliability(score, bls),
                      {name: evaluation.consistency(s) for name, s in score.items()}, sanity, final,
                      *_rates(parts, methods, bls))
    R.numbers = _numbers(R) | _identities(R, p, map_config)
    R.roar_text = roar_lines(store, methods, score)
    return R

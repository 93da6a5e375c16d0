"""The "Perturbation saliency and its baselines" page: occlusion and RISE maps over a grid of
hyperparameters × baselines on the base models' test images, and its verdicts on Brunke et al.'s claims
(a) "arguably neutral baselines still change the maps" and (b) "hyperparameters make the maps diverge".

:func:`run` computes the page from its parameters through the results store (units of kind
``divergence``, :data:`CHUNK` images each, computed by :func:`roarkit.core.divergence.run_chunk`).
The verdict rules: two settings *diverge* when the median Spearman correlation of their maps over the
test images is below :data:`DIVERGE` and, for RISE, also below the two-seed noise floor
(:func:`diverging`); a claim is "supported" when every method diverges on every dataset for some pair
(:func:`verdict`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from roarkit.core import divergence, similarity
from roarkit.core.labels import label
from roarkit.experiments import base_models
from roarkit.store import Store, Unit

__all__ = ["DIVERGE", "CHUNK", "CODE", "FAMILIES", "KINDS", "diverging", "verdict", "share", "group_mean",
           "PerturbationResult", "run"]

#: Median Spearman correlation below which two settings' maps "diverge" (claims a and b).
DIVERGE = 0.5
#: Images per stored unit of work.
CHUNK = 250
#: The module whose code computes the stored units.
CODE = ("roarkit.core.divergence",)
FAMILIES = divergence.FAMILIES
#: What is compared: maps of one setting across baselines (claim a), of one baseline across settings (b).
KINDS = ("baselines", "configs")


def diverging(sim: torch.Tensor, floor: float | None = None) -> torch.Tensor:
    """Bool, flat over every (group, pair above the diagonal) of ``sim`` (N images, ..., K, K): the pairs
    whose median over images is below :data:`DIVERGE` and, when a noise ``floor`` is given (RISE), below
    it too."""
    return divergence.below(sim, DIVERGE, floor).flatten()


def verdict(hits: dict) -> str:
    """The verdict on a claim from ``{(dataset, family): whether some pair diverges}``: "supported" when
    every method diverges on every dataset, "not supported" when none does, else which do."""
    hit = [k for k, v in hits.items() if v]
    if len(hit) == len(hits):
        return "supported"
    if not hit:
        return "not supported"
    return "partly supported (" + ", ".join(f"{label('method', f)} on {n}" for n, f in hit) + " only)"


def share(flags) -> tuple[float, int]:
    """Percentage of True over bool tensors ``flags`` (concatenated), and their number."""
    d = torch.cat(list(flags))
    return 100 * d.float().mean().item(), d.numel()


def group_mean(sims, configs, same) -> float:
    """Mean over images and datasets of the first baseline's Spearman correlation between every pair of
    ``configs`` (i < j) with ``same(configs[i], configs[j])``; NaN when there is no such pair.
    ``sims``: one (N, baselines, K, K) tensor per dataset."""
    pairs = [(i, j) for i in range(len(configs)) for j in range(i + 1, len(configs)) if same(configs[i], configs[j])]
    if not pairs:
        return float("nan")
    return float(np.mean([s[:, 0, i, j].nanmean().item() for s in sims for i, j in pairs]))


@dataclass
class PerturbationResult:
    """What the page shows: per dataset the per-image similarities of every pair of maps (``sims``, keys
    as :func:`roarkit.core.divergence.run_chunk`'s, concatenated over the stored units), example maps,
    the tables and the numbers the text quotes."""

    grid: divergence.Grid
    seed: int
    datasets: dict       # name -> roarkit.experiments.base_models.Explained
    sims: dict           # name -> {key: tensor over images}
    examples: dict       # name -> {family: (baselines, configs, E, H, W)}
    floor: dict          # name -> median Spearman of two RISE mask seeds
    neutral: pd.DataFrame
    summary_baselines: pd.DataFrame
    summary_configs: pd.DataFrame
    rates: pd.DataFrame
    numbers: dict        # glue name -> value

    @property
    def infos(self) -> list:
        """The DataInfo of every dataset the result ran on (what the page records)."""
        return [ex.info for ex in self.datasets.values()]

    @property
    def baseline_labels(self) -> list[str]:
        return [label("baseline", b) for b in self.grid.baselines]


def _chunks(ex, grid, seed: int, subset_seed: int, device) -> list:
    n, units = len(ex.picks), []
    for start in range(0, n, CHUNK):
        x, y = ex.images(start, start + CHUNK)
        params = {"model": ex.model_key, "grid": grid.as_dict(), "seed": seed,
                  "images": {"n_images": n, "subset_seed": subset_seed, "start": start, "stop": start + len(y)}}
        units.append(Unit("divergence", params, ex.data.info, divergence.run_chunk, (ex.model, x, y, grid, ex.stats),
                          {"seed": seed + start, "examples": 4 if start == 0 else 0}, code=CODE, device=device))
    return units


def _concat(parts: list) -> dict:
    keys = [k for k in parts[0] if "/" in k]
    out = {k: torch.cat([p[k] for p in parts]) for k in keys}
    out["neutral/prob"] = torch.cat([p["neutral"]["prob"] for p in parts], 1)
    out["neutral/p0"] = torch.cat([p["neutral"]["p0"] for p in parts])
    return out


def _flags(R, kind: str, name: str, fam: str) -> torch.Tensor:
    return diverging(R.sims[name][f"{kind}/{fam}/spearman"], R.floor[name] if fam == "rise" else None)


def _summary(R, kind: str) -> pd.DataFrame:
    rows = []
    for name, s in R.sims.items():
        for fam in FAMILIES:
            row = {"dataset": name, "method": label("method", fam)}
            for meas in similarity.MEASURES:
                sim = s[f"{kind}/{fam}/{meas}"]
                row[label("measure", meas)] = (f"{divergence.off_diagonal(sim).nanmean().item():.3f} "
                                               f"({divergence.pair_medians(sim).min().item():.3f})")
            d = _flags(R, kind, name, fam)
            row["diverging pairs"] = f"{int(d.sum())} of {d.numel()}"
            rows.append(row)
    return pd.DataFrame(rows).set_index(["dataset", "method"])


def _rates(grid, parts: dict) -> pd.DataFrame:
    rt = pd.DataFrame({name: {(label("method", f), label("baseline", b)):
                              sum(len(p["neutral"]["p0"]) for p in ps) / sum(p["seconds"][f"{f}/{b}"] for p in ps)
                              for f in FAMILIES for b in grid.baselines} for name, ps in parts.items()})
    rt.index.names = ["method", "baseline"]
    return rt


def _numbers(R) -> dict:
    out = {}
    names = list(R.sims)
    for kind, pre in zip(KINDS, "ab"):
        med = torch.cat([divergence.pair_medians(R.sims[n][f"{kind}/{f}/spearman"]).flatten()
                         for n in names for f in FAMILIES])
        out[f"{pre}_share"], n_pairs = share(_flags(R, kind, n, f) for n in names for f in FAMILIES)
        for f, short in zip(FAMILIES, ("occ", "rise")):
            out[f"{pre}_share_{short}"] = share(_flags(R, kind, n, f) for n in names)[0]
        out[f"{pre}_min"] = med.min().item()
        out[f"{pre}_verdict"] = verdict({(n, f): bool(_flags(R, kind, n, f).any()) for n in names for f in FAMILIES})
        if kind == "configs":
            out["b_n"] = n_pairs
    for f, short in zip(FAMILIES, ("occ", "rise")):
        out[f"a_mean_{short}"] = float(np.mean([divergence.off_diagonal(R.sims[n][f"baselines/{f}/spearman"])
                                                .nanmean().item() for n in names]))
    out["a_floor"] = float(np.mean(list(R.floor.values())))
    out["diverge"] = DIVERGE
    occ = [R.sims[n]["configs/occlusion/spearman"] for n in names]
    rise = [R.sims[n]["configs/rise/spearman"] for n in names]
    occ_cfg, rise_cfg = R.grid.occlusion_configs(), R.grid.rise_configs()
    out["occ_same_w"] = group_mean(occ, occ_cfg, lambda a, b: a[0] == b[0])
    out["occ_diff_w"] = group_mean(occ, occ_cfg, lambda a, b: a[0] != b[0])
    out["rise_same_cp"] = group_mean(rise, rise_cfg, lambda a, b: a[1:] == b[1:])
    out["rise_diff_p"] = group_mean(rise, rise_cfg, lambda a, b: a[1] == b[1] and a[2] != b[2])
    out["rise_diff_c"] = group_mean(rise, rise_cfg, lambda a, b: a[1] != b[1])
    rise_l = label("method", "rise")
    out["nl_slow"] = (float((R.rates.loc[(rise_l, label("baseline", "zero"))]
                             / R.rates.loc[(rise_l, label("baseline", "noisy_linear"))]).mean())
                      if {"zero", "noisy_linear"} <= set(R.grid.baselines) else float("nan"))
    return out


def run(p, store: Store | None = None) -> PerturbationResult:
    """The page from its parameters ``p`` (``windows``, ``strides``, ``rise_masks``, ``rise_cell``,
    ``rise_p``, ``baselines``, ``seed``, ``subset_seed`` and :func:`roarkit.experiments.base_models.explained`'s)."""
    store = store or Store()
    grid = divergence.Grid(p.windows, p.strides, p.rise_masks, p.rise_cell, p.rise_p, p.baselines)
    data = base_models.explained(p, store)
    units = {name: _chunks(ex, grid, p.seed, p.subset_seed, ex.data.device) for name, ex in data.items()}
    parts = {name: [e.value for e in es] for name, es in store.map_named(units, desc="perturbation chunks").items()}
    sims = {name: _concat(ps) for name, ps in parts.items()}
    floor = {name: s["floor/spearman"].nanmedian().item() for name, s in sims.items()}
    bl = [label("baseline", b) for b in grid.baselines]
    neutral = pd.DataFrame({name: [s["neutral/prob"][k].mean().item() for k in range(len(grid.baselines))]
                            for name, s in sims.items()}, index=pd.Index(bl, name="baseline image"))
    neutral.loc["the test image itself"] = [s["neutral/p0"].mean().item() for s in sims.values()]
    R = PerturbationResult(grid, p.seed, data, sims, {name: ps[0]["examples"] for name, ps in parts.items()}, floor,
                           neutral, None, None, _rates(grid, parts), {})
    R.summary_baselines, R.summary_configs = _summary(R, "baselines"), _summary(R, "configs")
    R.numbers = _numbers(R)
    return R

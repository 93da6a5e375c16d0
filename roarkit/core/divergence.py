"""The "Perturbation saliency and its baselines" experiment: occlusion and RISE maps over a grid of
hyperparameters × baselines, and how far they diverge (Brunke et al. 2020, claims a and b).

For a chunk of test images, :func:`run_chunk` computes every map of the :class:`Grid` (nested RISE
mask counts are free), compares them image by image with each measure of
:mod:`roarkit.core.similarity`, and keeps only the per-image similarities (maps are too many to keep):

* ``baselines/<family>/<measure>``: (N, configs, B, B): maps of one configuration across baselines
  (baseline j draws its RISE masks with seed + j, as independent runs would, so that RISE maps are
  not made alike by sharing the same random masks);
* ``configs/<family>/<measure>``: (N, B, configs, configs): maps of one baseline across configurations;
* ``floor/<measure>``: (N,): RISE with the first configuration and baseline, two mask seeds: the
  similarity that Monte-Carlo noise alone leaves, against which RISE's divergences are read (RISE
  maps with different cell sizes or keep probabilities use different masks too);
* ``neutral/prob``: (B, N): the model's probability of the true class on the baseline image alone.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import torch

from roarkit.core import similarity
from roarkit.core.saliency import baselines as B
from roarkit.core.saliency import perturbation

__all__ = ["FAMILIES", "Grid", "run_chunk", "off_diagonal", "pair_medians", "below"]

FAMILIES = ("occlusion", "rise")


@dataclass(frozen=True)
class Grid:
    """Hyperparameters (every combination is run) and baselines; the first of each is the default."""

    windows: tuple = (4,)
    strides: tuple = (2,)
    rise_masks: tuple = (1000,)
    rise_cell: tuple = (4,)
    rise_p: tuple = (0.5,)
    baselines: tuple = B.BASELINES

    def __post_init__(self):
        for f in ("windows", "strides", "rise_masks", "rise_cell", "rise_p", "baselines"):
            object.__setattr__(self, f, tuple(getattr(self, f)))
            if not getattr(self, f):
                raise ValueError(f"{f} must not be empty")
        B.check_baselines(self.baselines)
        if not self.occlusion_configs():
            raise ValueError(f"no occlusion configuration has stride <= window (windows {self.windows}, "
                             f"strides {self.strides}); use strides no larger than the windows")
        for w, s in self.occlusion_configs():
            perturbation.check_occlusion(w, s)
        for n, c, p in self.rise_configs():
            perturbation.check_rise(n, c, p)

    def occlusion_configs(self) -> list[tuple[int, int]]:
        """(window, stride) for every combination with stride <= window."""
        return [(w, s) for w in self.windows for s in self.strides if s <= w]

    def rise_configs(self) -> list[tuple[int, int, float]]:
        """(masks, cell, p) for every combination."""
        return [(n, c, p) for c in self.rise_cell for p in self.rise_p for n in self.rise_masks]

    def labels(self, family: str) -> list[str]:
        if family == "occlusion":
            return [f"w{w} s{s}" for w, s in self.occlusion_configs()]
        return [f"N{n} c{c} p{p:g}" for n, c, p in self.rise_configs()]

    def as_dict(self) -> dict:
        return {k: list(v) for k, v in asdict(self).items()}


def _maps(model, x, y, grid: Grid, family: str, baseline: str, stats, seed, batch_size):
    """(configs, N, H·W): every map of one family with one baseline, pixels summed over channels."""
    if family == "occlusion":
        return torch.stack([perturbation.occlusion(model, x, y, window=w, stride=s, baseline=baseline, stats=stats,
                                                   seed=seed, batch_size=batch_size).sum(1).flatten(1)
                            for w, s in grid.occlusion_configs()])
    out = {}
    for c in grid.rise_cell:
        for p in grid.rise_p:
            nested = perturbation.rise(model, x, y, n_masks=list(grid.rise_masks), cell=c, p=p, baseline=baseline,
                                       stats=stats, seed=seed, batch_size=batch_size)
            out.update({(n, c, p): m.sum(1).flatten(1) for n, m in nested.items()})
    return torch.stack([out[k] for k in grid.rise_configs()])


def _pairs(stack: torch.Tensor, h: int, w: int) -> dict:
    """{measure: (N, K, K)} between the K maps of ``stack`` (K, N, H·W)."""
    maps = [m.view(-1, h, w) for m in stack]
    return {name: similarity.pairwise(maps, name).float() for name in similarity.MEASURES}


def run_chunk(model, x, y, grid: Grid, stats: B.Stats, *, seed: int = 0, examples: int = 0,
              batch_size: int = 1024) -> dict:
    """Per-image similarities of every map of ``grid`` for images ``x`` (see the module docstring)."""
    model.eval()
    n, _, h, w = x.shape
    out = {"seconds": {}, "examples": {}}
    probs = perturbation.Probability(model)
    with torch.inference_mode():
        neutral = [probs(B.fill(b, x, stats, mask=torch.ones_like(x[:, :1], dtype=torch.bool), seed=seed))
                   .gather(1, y[:, None])[:, 0] for b in grid.baselines]
        out["neutral"] = {"prob": torch.stack(neutral).cpu(), "p0": probs(x).gather(1, y[:, None])[:, 0].cpu()}
    kept = {}
    for family in FAMILIES:
        stacks = []
        for j, b in enumerate(grid.baselines):  # each baseline its own RISE masks, as separate runs would have
            t0 = time.perf_counter()
            stacks.append(_maps(model, x, y, grid, family, b, stats, seed + j, batch_size))
            out["seconds"][f"{family}/{b}"] = time.perf_counter() - t0
        maps = kept[family] = torch.stack(stacks)  # (B, configs, N, P)
        if examples:
            out["examples"][family] = maps[:, :, :examples].reshape(*maps.shape[:2], -1, h, w).cpu()
        across_b = [_pairs(maps[:, k], h, w) for k in range(maps.shape[1])]
        across_c = [_pairs(maps[j], h, w) for j in range(maps.shape[0])]
        for name in similarity.MEASURES:
            out[f"baselines/{family}/{name}"] = torch.stack([d[name] for d in across_b], 1)
            out[f"configs/{family}/{name}"] = torch.stack([d[name] for d in across_c], 1)
    (n0, c0, p0), b0 = grid.rise_configs()[0], grid.baselines[0]  # rise_configs()[0] is the first of each list
    first = kept["rise"][0, 0]
    again = perturbation.rise(model, x, y, n_masks=n0, cell=c0, p=p0, baseline=b0, stats=stats,
                              seed=seed + len(grid.baselines),
                              batch_size=batch_size).sum(1).flatten(1)
    for name in similarity.MEASURES:
        out[f"floor/{name}"] = similarity.measure(name, first.view(-1, h, w), again.view(-1, h, w)).float().cpu()
    return out


def off_diagonal(sim: torch.Tensor) -> torch.Tensor:
    """The K(K−1)/2 values above the diagonal of (..., K, K), as (..., pairs)."""
    k = sim.shape[-1]
    i, j = torch.triu_indices(k, k, 1)
    return sim[..., i, j]


def pair_medians(sim: torch.Tensor) -> torch.Tensor:
    """Median over images (dim 0) of every pair above the diagonal: (N, ..., K, K) → (..., pairs)."""
    return off_diagonal(sim).nanmedian(0).values


def below(sim: torch.Tensor, threshold: float, floor: float | None = None) -> torch.Tensor:
    """Bool (..., pairs): pairs whose median similarity is below ``threshold`` and, when a noise ``floor``
    is given (RISE: the median for two mask seeds), below that floor too, so that noise alone never counts.
    (The threshold a page calls "diverging" is its verdict rule: :mod:`roarkit.experiments.perturbation_saliency`.)"""
    med = pair_medians(sim)
    out = med < threshold
    return out & (med < floor) if floor is not None else out

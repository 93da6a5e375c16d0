"""Saliency by input perturbation: occlusion (Zeiler & Fergus 2014) and RISE (Petsiuk et al. 2018).

Both explain the softmax probability of the target class, as both papers do.

* :func:`occlusion`: slide a ``window``×``window`` patch with ``stride`` over the image (positions
  as in Captum, the last one clipped at the border so every pixel is covered), replace the patch by a
  baseline and record the drop in probability; a pixel's saliency is the mean drop over the patches
  covering it. Captum's ``Occlusion`` computes it for mask-independent baselines; ``noisy_linear``,
  whose fill depends on the patch, goes through the same computation written out here (tests check
  the two agree on fixed baselines).
* :func:`rise`: N random masks M (a grid of ``cell``-pixel cells, each kept with probability ``p``,
  bilinearly upsampled and randomly shifted), saliency = Σ_i f(x·M_i + b·(1 − M_i)) · M_i / (N·p).
  Nested mask sets: the first N masks of a seed are the same for every N, so a list of N costs the
  largest one.
"""
from __future__ import annotations

import copy
import math
import numbers

import torch
import torch.nn.functional as F
from captum.attr import Occlusion

from roarkit.core.saliency import baselines as B

__all__ = ["SHARED_FROM", "Probability", "check_occlusion", "windows", "occlusion", "occlusion_masked",
           "check_rise", "rise_masks", "rise"]


#: From this many images on, noisy linear imputation solves each shared mask once (a dense solve)
#: instead of iterating for every perturbed image.
SHARED_FROM = 64


class Probability(torch.nn.Module):
    """``softmax(model(x))``: the class probabilities that perturbation methods measure. Runs a
    channels-last copy of the model (about twice as fast for these small CNNs on a CPU)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = copy.deepcopy(model).eval().to(memory_format=torch.channels_last)

    def forward(self, x):
        return torch.softmax(self.model(x.contiguous(memory_format=torch.channels_last)), dim=1)


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a whole number of at least 1, got {value!r}")
    return int(value)


def check_occlusion(window, stride, size: int = 28) -> None:
    _positive_int(window, "window")
    _positive_int(stride, "stride")
    if window > size:
        raise ValueError(f"occlusion window {window} is larger than the {size}-pixel image; use at most {size}")
    if stride > window:
        raise ValueError(f"occlusion stride {stride} exceeds the window {window} (pixels would be skipped); "
                         "use a stride of at most the window size")


def windows(h: int, w: int, window: int, stride: int) -> torch.Tensor:
    """Bool (K, H, W): the occluded patch at each position, as Captum places them."""
    rows = [i * stride for i in range(math.ceil((h - window) / stride) + 1)]
    cols = [j * stride for j in range(math.ceil((w - window) / stride) + 1)]
    m = torch.zeros(len(rows) * len(cols), h, w, dtype=torch.bool)
    for k, (r, c) in enumerate((r, c) for r in rows for c in cols):
        m[k, r:r + window, c:c + window] = True
    return m


def _target_prob(f, x, y, batch_size):
    with torch.inference_mode():
        return torch.cat([f(x[i:i + batch_size]).gather(1, y[i:i + batch_size, None])[:, 0]
                          for i in range(0, len(x), batch_size)])


def occlusion(model, x, y, *, window: int, stride: int, baseline: str = "zero", stats: B.Stats, seed: int = 0,
              batch_size: int = 1024) -> torch.Tensor:
    """Occlusion saliency (N, C, H, W) of the target-class probability for images ``x`` and labels ``y``."""
    B.check_baseline(baseline)
    check_occlusion(window, stride, min(x.shape[-2:]))
    f = Probability(model).eval()
    if baseline in B.MASK_DEPENDENT:
        return occlusion_masked(f, x, y, windows(*x.shape[-2:], window, stride).to(x.device), baseline, stats,
                                seed=seed, batch_size=batch_size)
    c = x.shape[1]
    k = len(windows(*x.shape[-2:], window, stride))
    per_eval = max(1, min(k, batch_size // 16))
    chunk = max(1, batch_size // per_eval)
    occ = Occlusion(f)
    out = torch.empty_like(x)
    base = B.fill(baseline, x, stats, seed=seed)
    with torch.no_grad():
        for i in range(0, len(x), chunk):
            out[i:i + chunk] = occ.attribute(x[i:i + chunk], sliding_window_shapes=(c, window, window),
                                             strides=(c, stride, stride), baselines=base[i:i + chunk],
                                             target=y[i:i + chunk], perturbations_per_eval=per_eval)
    return out


def occlusion_masked(f, x, y, masks: torch.Tensor, baseline: str, stats: B.Stats, *, seed: int = 0,
                     batch_size: int = 1024) -> torch.Tensor:
    """Occlusion with patches ``masks`` (K, H, W) and a baseline that may depend on the patch:
    saliency = Σ_k m_k (f(x) − f(x with patch k filled)) / Σ_k m_k, for the probability f."""
    n, c, h, w = x.shape
    p0 = _target_prob(f, x, y, batch_size)
    base = None if baseline in B.MASK_DEPENDENT else B.fill(baseline, x, stats, seed=seed)
    m = masks.to(x.dtype)
    count = m.sum(0).clamp_min(1)
    out = torch.zeros(n, 1, h, w, device=x.device, dtype=x.dtype)
    per = max(1, batch_size // len(m))
    with torch.inference_mode():
        for i in range(0, n, per):
            xb, yb = x[i:i + per], y[i:i + per]
            nb = len(xb)
            xs = xb.repeat_interleave(len(m), 0)  # image-major: image j, patch k at j*K + k
            ms = m.repeat(nb, 1, 1).unsqueeze(1)
            if base is None and nb >= SHARED_FROM:  # one imputation operator per patch, for all images
                bs = B.impute_shared(xb, masks, fallback=stats.mean, noise=B.ROAD_NOISE, seed=seed + i)
                bs = bs.transpose(0, 1).reshape(nb * len(m), c, h, w)
            elif base is None:
                bs = None
            else:
                bs = base[i:i + per].repeat_interleave(len(m), 0)
            pert = B.perturb(xs, ms, baseline, stats, seed=seed + i, base=bs)
            p = f(pert).gather(1, yb.repeat_interleave(len(m))[:, None])[:, 0].view(nb, len(m))
            drop = p0[i:i + per, None] - p
            out[i:i + per, 0] = torch.einsum("nk,khw->nhw", drop, m) / count
    return out.expand(n, c, h, w).clone()


def check_rise(n_masks, cell, p, size: int = 28) -> None:
    for n in ([n_masks] if isinstance(n_masks, numbers.Number) else n_masks):
        _positive_int(n, "number of RISE masks")
    _positive_int(cell, "RISE cell size")
    if cell > size:
        raise ValueError(f"RISE cell size {cell} is larger than the {size}-pixel image; use at most {size}")
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 < p < 1:
        raise ValueError(f"RISE keep probability p must lie strictly between 0 and 1, got {p!r}")


def rise_masks(n: int, size: tuple, cell: int, p: float, *, seed: int = 0, device="cpu") -> torch.Tensor:
    """RISE masks (n, 1, H, W) in [0, 1]: a ⌈H/cell⌉² binary grid (1 with probability ``p``), bilinearly
    upsampled to (grid + 1)·cell pixels, shifted by a random offset in [0, cell) and cropped to H×W."""
    check_rise(n, cell, p, min(size))
    h, w = size
    gh, gw = math.ceil(h / cell), math.ceil(w / cell)
    g = torch.Generator().manual_seed(int(seed))
    draw = torch.rand(n, gh * gw + 2, generator=g)  # one row per mask: the first n rows never change with n
    grid = (draw[:, :-2] < p).float().view(n, 1, gh, gw)
    shift = (draw[:, -2:] * cell).long().clamp_max(cell - 1)
    up = F.interpolate(grid, size=((gh + 1) * cell, (gw + 1) * cell), mode="bilinear", align_corners=False)
    rows = (shift[:, :1] + torch.arange(h)).view(n, 1, h, 1).expand(n, 1, h, up.shape[-1])
    up = up.gather(2, rows)
    cols = (shift[:, 1:] + torch.arange(w)).view(n, 1, 1, w).expand(n, 1, h, w)
    return up.gather(3, cols).to(device)


def rise(model, x, y, *, n_masks, cell: int, p: float, baseline: str = "zero", stats: B.Stats, seed: int = 0,
         batch_size: int = 1024):
    """RISE saliency (N, 1, H, W) of the target-class probability. ``n_masks`` an int, or a list of
    ints for nested mask sets: then a dict ``{n: saliency from the first n masks}``."""
    B.check_baseline(baseline)
    counts = sorted({int(n) for n in ([n_masks] if isinstance(n_masks, numbers.Number) else n_masks)})
    check_rise(counts, cell, p, min(x.shape[-2:]))
    f = Probability(model).eval()
    masks = rise_masks(counts[-1], tuple(x.shape[-2:]), cell, p, seed=seed, device=x.device)
    n, h, w = len(x), *x.shape[-2:]
    acc = torch.zeros(n, h * w, device=x.device, dtype=x.dtype)
    maps = {}
    base = None if baseline in B.MASK_DEPENDENT else B.fill(baseline, x, stats, seed=seed)
    step = max(1, batch_size // n) if n < batch_size else 1
    per = min(n, batch_size)
    done = 0
    with torch.inference_mode():
        while done < counts[-1]:
            stop = min(done + step, *[c for c in counts if c > done])
            mk = masks[done:stop]  # (k, 1, H, W)
            for i in range(0, n, per):
                xb, yb = x[i:i + per], y[i:i + per]
                nb, k = len(xb), len(mk)
                xs = xb.repeat(k, 1, 1, 1)  # mask-major: mask j, image i at j*nb + i
                keep = mk.repeat_interleave(nb, 0)
                if base is None and nb < SHARED_FROM:
                    bs = None  # few images: iterate per perturbed image (perturb imputes)
                elif base is None:  # masks shared by all images: one imputation operator per mask
                    bs = B.impute_shared(xb, mk[:, 0] < 0.5, fallback=stats.mean, noise=B.ROAD_NOISE,
                                         seed=seed + done * n + i).reshape(k * nb, *xb.shape[1:])
                else:
                    bs = base[i:i + per].repeat(k, 1, 1, 1)
                pert = B.perturb(xs, 1 - keep, baseline, stats, seed=seed + done * n + i, base=bs)
                prob = f(pert).gather(1, yb.repeat(k)[:, None])[:, 0].view(k, nb)
                acc[i:i + per] += prob.T @ mk.flatten(1)
            done = stop
            if done in counts:
                maps[done] = (acc / (done * p)).view(n, 1, h, w).clone()
    return maps[counts[0]] if isinstance(n_masks, numbers.Number) else maps

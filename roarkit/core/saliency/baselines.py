"""Baseline images: what an input perturbation puts in place of the pixels it removes.

Brunke et al. (2020) ask whether "neutral" baselines are neutral. The seven here, all in the model's
(normalised) input space, with ``Stats`` holding the input range and the dataset mean:

* ``zero``: black, the input minimum (pixel value 0); ``white``: the maximum (pixel value 1);
* ``dataset_mean``: the training-set mean pixel (0 after normalisation, ROAR's fill);
* ``image_mean``: each image's own mean, per channel;
* ``blur``: a Gaussian blur of the image (σ = 2 px, reflect padding), the canvas of RISE's insertion;
* ``uniform``: uniform noise over the input range, one seeded draw per image;
* ``noisy_linear``: ROAD's noisy linear imputation (Rong et al. 2022). Each removed pixel is the
  weighted mean of its 8 neighbours (weight 1/6 for edge, 1/12 for corner neighbours, renormalised
  over the neighbours inside the image); the removed pixels solve this sparse linear system jointly
  (here batched preconditioned conjugate gradients in torch), then get Gaussian noise of std 0.01.
  A removed region with no kept neighbour falls back to the dataset mean.

Only ``noisy_linear`` depends on which pixels are removed, so only it needs the ``mask``.

One more fill, outside Brunke's seven (:data:`FILLS`): ``image_uniform``, uniform noise within each
image's own range (per channel, over the whole image), one seeded draw per image, which the SGT
chapter's accuracy-drop curves use. It matches the official SGT evaluation only when that code runs
with its ``randomMask`` option (uniform values between the image's minimum and maximum); the code's
default, ``trueMask``, fills removed pixels with the image's top-left pixel instead. The SMOOT paper's
AUCs (33-41) sit near what the uniform fill gives; the top-left fill gives about 16-17 after 8 epochs.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["BASELINES", "FILLS", "MASK_DEPENDENT", "BLUR_SIGMA", "ROAD_NOISE", "check_baseline", "check_baselines",
           "Stats", "gaussian_blur", "impute_linear", "impute_shared", "noisy_linear", "fill", "perturb"]

#: Brunke et al.'s question: which of these is "neutral"? (labels: :mod:`roarkit.core.labels`)
BASELINES = ("zero", "white", "dataset_mean", "image_mean", "blur", "uniform", "noisy_linear")
#: Every fill :func:`fill` knows: the baselines and SGT's uniform noise within the image's range.
FILLS = BASELINES + ("image_uniform",)
MASK_DEPENDENT = ("noisy_linear",)
BLUR_SIGMA = 2.0  # pixels
ROAD_NOISE = 0.01  # std of the noise ROAD adds to imputed pixels (its default), in input units


def check_baseline(name: str) -> str:
    if name not in FILLS:
        raise ValueError(f"unknown baseline {name!r}; choose one of {', '.join(FILLS)}")
    return name


def check_baselines(names) -> list[str]:
    if isinstance(names, str) or not names:
        raise ValueError(f"baselines must be a non-empty list of names from {', '.join(BASELINES)}, got {names!r}")
    return [check_baseline(n) for n in names]


@dataclass(frozen=True)
class Stats:
    """Per-channel input minimum, maximum and dataset mean, in the model's input space (shape (C,))."""

    lo: torch.Tensor
    hi: torch.Tensor
    mean: torch.Tensor

    @classmethod
    def of(cls, ds) -> "Stats":
        """From a :class:`roarkit.core.data.Dataset`: pixel values 0 and 1 and the training mean, normalised."""
        c = ds.image_shape[0]
        ones = torch.ones(c, 1, 1, device=ds.device)
        return cls(lo=ds.normalize(0 * ones).flatten(), hi=ds.normalize(ones).flatten(),
                   mean=ds.normalize(ds.mean.to(ds.device).view(-1, 1, 1) * ones).flatten())

    def view(self, x: torch.Tensor, field: str) -> torch.Tensor:
        return getattr(self, field).to(x.device, x.dtype).view(1, -1, 1, 1)


def gaussian_blur(x: torch.Tensor, sigma: float = BLUR_SIGMA) -> torch.Tensor:
    """Separable Gaussian blur of (N, C, H, W) with radius ⌈3σ⌉ (capped by the image) and reflect padding."""
    if sigma <= 0:
        raise ValueError(f"blur sigma must be positive, got {sigma}")
    r = min(math.ceil(3 * sigma), min(x.shape[-2:]) - 1)
    t = torch.arange(-r, r + 1, device=x.device, dtype=x.dtype)
    k = torch.exp(-t ** 2 / (2 * sigma ** 2))
    k = k / k.sum()
    n, c, h, w = x.shape
    y = F.pad(x.reshape(n * c, 1, h, w), (r, r, r, r), mode="reflect")
    y = F.conv2d(F.conv2d(y, k.view(1, 1, 1, -1)), k.view(1, 1, -1, 1))
    return y.reshape(n, c, h, w)


#: Offset of the fills' noise stream: a ranking's tie-breaks (:func:`roarkit.core.removal.ranks`) and RISE's
#: masks draw from a generator seeded with the plain seed; a fill seeded the same way would draw the same
#: numbers, so the tied pixels removed first would get the smallest noise. (The CPU generator keeps only
#: the low 32 bits of a seed, so the offset must be below 2³².)
NOISE_STREAM = 0x9E3779B9


def _generator(x: torch.Tensor, seed: int) -> torch.Generator:
    return torch.Generator(device=x.device).manual_seed(NOISE_STREAM + int(seed))


def _neighbours(t: torch.Tensor) -> torch.Tensor:
    """Σ_j w_j t_j over the 8 neighbours (zero outside the image): ([1 2 1]ᵀ[1 2 1] − 4δ) / 12, separably."""
    p = F.pad(t, (1, 1, 1, 1))
    r = p[..., :-2, :] + 2 * p[..., 1:-1, :] + p[..., 2:, :]
    return (r[..., :-2] + 2 * r[..., 1:-1] + r[..., 2:] - 4 * t) / 12


def impute_linear(x: torch.Tensor, mask: torch.Tensor, *, fallback=None, tol: float = 1e-4,
                  max_iter: int = 500, chunk: int = 256) -> torch.Tensor:
    """ROAD's linear imputation (no noise): kept pixels unchanged, removed pixels (``mask`` True, shape
    (N, 1 or C, H, W)) the solution of x_i = Σ_j w_ij x_j / Σ_j w_ij over each pixel's in-image
    neighbours j. Solved by Jacobi-preconditioned conjugate gradients, ``chunk`` images at a time, to
    a relative residual ``tol`` (1e-4: errors ~1e-4, far below ROAD's noise). ``fallback`` (per
    channel, default 0): the value of removed regions that touch no kept pixel."""
    n, c, h, w = x.shape
    if mask.shape[0] != n or mask.shape[-2:] != x.shape[-2:] or mask.shape[1] not in (1, c):
        raise ValueError(f"mask of shape {tuple(mask.shape)} does not fit images of shape {tuple(x.shape)}")
    mu = torch.zeros(c, device=x.device, dtype=x.dtype) if fallback is None else \
        torch.as_tensor(fallback, device=x.device, dtype=x.dtype).reshape(-1).expand(c)
    v = (x - mu.view(1, -1, 1, 1)).reshape(n * c, 1, h, w)
    u = mask.to(torch.bool).expand(n, c, h, w).reshape(n * c, 1, h, w)
    d = _neighbours(torch.ones(1, 1, h, w, device=x.device, dtype=x.dtype)) + 1e-6  # + tiny pull to fallback
    out = torch.empty_like(v)
    for i in range(0, n * c, chunk):
        out[i:i + chunk] = _cg(v[i:i + chunk], u[i:i + chunk].to(x.dtype), d, tol, max_iter)
    out = out.reshape(n, c, h, w) + mu.view(1, -1, 1, 1)
    return torch.where(u.reshape(n, c, h, w), out, x)  # kept pixels bit-exact


def _cg(v, u, d, tol, max_iter):
    apply = lambda p: u * (d * p - _neighbours(u * p))  # noqa: E731  (the system on removed pixels)
    b = u * _neighbours(v * (1 - u))
    z = b / d  # one Jacobi step from the fallback as the start
    r = b - apply(z)
    s = r / d
    p = s.clone()
    rs = (r * s).sum((1, 2, 3))
    bnorm = b.pow(2).sum((1, 2, 3)).sqrt().clamp_min(1e-12)
    for _ in range(max_iter):
        if bool((r.pow(2).sum((1, 2, 3)).sqrt() <= tol * bnorm).all()):
            break
        ap = apply(p)
        pap = (p * ap).sum((1, 2, 3))
        alpha = torch.where(pap > 0, rs / pap.clamp_min(1e-30), torch.zeros_like(rs)).view(-1, 1, 1, 1)
        z = z + alpha * p
        r = r - alpha * ap
        s = r / d
        rs_new = (r * s).sum((1, 2, 3))
        beta = torch.where(rs > 0, rs_new / rs.clamp_min(1e-30), torch.zeros_like(rs)).view(-1, 1, 1, 1)
        p = s + beta * p
        rs = rs_new
    return v * (1 - u) + z * u


@functools.lru_cache(maxsize=8)
def _weight_matrix(h: int, w: int) -> torch.Tensor:
    """Dense (P, P) neighbour weights w_ij of the imputation (float64, CPU)."""
    eye = torch.eye(h * w, dtype=torch.float64).view(h * w, 1, h, w)
    return _neighbours(eye).view(h * w, h * w)


def impute_shared(x: torch.Tensor, removed: torch.Tensor, *, fallback=None, noise: float = 0.0,
                  seed: int = 0) -> torch.Tensor:
    """:func:`impute_linear` (plus ROAD's noise when ``noise`` > 0) of every image ``x`` (N, C, H, W)
    under every mask ``removed`` (K, H, W), as (K, N, C, H, W). The system depends on the mask only,
    so each mask's solution operator (removed × kept pixels) is formed once by a dense solve and
    applied to all images as one matrix product: far faster than iterating when masks are shared."""
    n, c, h, w = x.shape
    wm = _weight_matrix(h, w)
    d = wm.sum(1) + 1e-6
    mu = torch.zeros(c, dtype=x.dtype, device=x.device) if fallback is None else \
        torch.as_tensor(fallback, dtype=x.dtype, device=x.device).reshape(-1).expand(c)
    v = (x - mu.view(1, -1, 1, 1)).reshape(n * c, h * w)
    out = x.unsqueeze(0).repeat(len(removed), 1, 1, 1, 1)
    flat = out.view(len(removed), n * c, h * w)
    g = _generator(x, seed) if noise else None
    for k, m in enumerate(removed.reshape(len(removed), -1).cpu()):
        u, kept = m.nonzero()[:, 0], (~m).nonzero()[:, 0]
        if len(u) == 0:
            continue
        a = torch.diag(d[u]) - wm[u][:, u]
        op = torch.linalg.solve(a, wm[u][:, kept]).to(x.device, x.dtype)  # (removed, kept)
        vals = v[:, kept.to(x.device)] @ op.T + mu.repeat(n).view(-1, 1)
        if noise:
            vals = vals + noise * torch.randn(vals.shape, generator=g, device=x.device, dtype=x.dtype)
        flat[k][:, u.to(x.device)] = vals
    return out


def noisy_linear(x: torch.Tensor, mask: torch.Tensor, *, noise: float = ROAD_NOISE, seed: int = 0,
                 fallback=None) -> torch.Tensor:
    """ROAD's noisy linear imputation: :func:`impute_linear` plus N(0, ``noise``²) on removed pixels."""
    out = impute_linear(x, mask, fallback=fallback)
    if noise:
        m = mask.to(torch.bool).expand_as(x)
        out = out + noise * torch.randn(x.shape, generator=_generator(x, seed), device=x.device, dtype=x.dtype) * m
    return out


def fill(name: str, x: torch.Tensor, stats: Stats, *, mask: torch.Tensor | None = None, seed: int = 0,
         sigma: float = BLUR_SIGMA, noise: float = ROAD_NOISE) -> torch.Tensor:
    """The baseline image(s) ``name`` for images ``x`` (N, C, H, W), same shape as ``x``.

    ``mask`` (True = removed) is needed by ``noisy_linear`` only; ``seed`` drives ``uniform`` and
    the imputation noise."""
    check_baseline(name)
    if name == "zero":
        return stats.view(x, "lo").expand_as(x).clone()
    if name == "white":
        return stats.view(x, "hi").expand_as(x).clone()
    if name == "dataset_mean":
        return stats.view(x, "mean").expand_as(x).clone()
    if name == "image_mean":
        return x.mean((2, 3), keepdim=True).expand_as(x).clone()
    if name == "blur":
        return gaussian_blur(x, sigma)
    if name in ("uniform", "image_uniform"):
        if name == "uniform":
            lo, hi = stats.view(x, "lo"), stats.view(x, "hi")
        else:  # each image's own range, per channel
            lo, hi = x.amin((2, 3), keepdim=True), x.amax((2, 3), keepdim=True)
        return lo + (hi - lo) * torch.rand(x.shape, generator=_generator(x, seed), device=x.device, dtype=x.dtype)
    if mask is None:
        raise ValueError("the noisy_linear baseline depends on which pixels are removed: pass mask= "
                         "(True where a pixel is removed)")
    return noisy_linear(x, mask, noise=noise, seed=seed, fallback=stats.mean)


def perturb(x: torch.Tensor, mask: torch.Tensor, name: str, stats: Stats, *, seed: int = 0,
            base: torch.Tensor | None = None) -> torch.Tensor:
    """``x`` with the pixels of ``mask`` (N or 1, 1 or C, H, W) replaced by baseline ``name``:
    x·(1 − m) + b·m. A soft mask m in [0, 1] blends (RISE); ``noisy_linear`` then imputes the pixels
    with m > 0.5. ``base``: a precomputed mask-independent baseline (saves recomputing it)."""
    m = mask.to(x.dtype).expand(x.shape[0], *mask.shape[1:])
    if base is None:
        base = fill(name, x, stats, mask=(m > 0.5) if name in MASK_DEPENDENT else None, seed=seed)
    return x * (1 - m) + base * m

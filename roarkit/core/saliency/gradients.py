"""Gradient estimators through Captum (Hooker et al. 2019) and the two controls.

Three base estimators, each plain and wrapped in an ensemble: Gradient (``grad``), Integrated
Gradients (``ig``), Guided Backprop (``gb``), each ``+_sg`` (SmoothGrad: mean over noisy copies),
``+_sg2`` (SmoothGrad²: mean of squares) and ``+_var`` (VarGrad: variance), plus two controls that
look at no model: a Sobel edge filter and random. Ranking them is :mod:`roarkit.core.removal`'s.
"""
from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
with warnings.catch_warnings():  # captum imports tqdm.auto, which warns in kernels without ipywidgets
    warnings.filterwarnings("ignore", message="IProgress not found")
    from captum.attr import GuidedBackprop, IntegratedGradients, NoiseTunnel, Saliency

__all__ = ["BASE", "ENSEMBLES", "CONTROLS", "ESTIMATORS", "AttributionConfig", "sobel", "explainer", "attribute"]

BASE = {"grad": Saliency, "ig": IntegratedGradients, "gb": GuidedBackprop}
ENSEMBLES = {"sg": "smoothgrad", "sg2": "smoothgrad_sq", "var": "vargrad"}
CONTROLS = ("sobel", "random")
#: Hooker et al.'s estimators and the controls, e.g. ``grad``, ``ig_sg2``, ``gb_var``, ``sobel``.
ESTIMATORS = tuple(b + (f"_{e}" if e else "") for b in BASE for e in ("", *ENSEMBLES)) + CONTROLS


@dataclass(frozen=True)
class AttributionConfig:
    """Estimator settings. ``ig_steps``: Captum's default 50 (Gauss-Legendre); IG's baseline is the
    all-zero image, i.e. the dataset mean after normalisation. ``nt_samples`` = 15 and noise std =
    ``nt_stdev`` × (max − min) of the batch, as in SmoothGrad and Hooker et al. ``target``: the
    class explained, ``"label"`` (true class) or ``"predicted"``."""

    ig_steps: int = 50
    nt_samples: int = 15
    nt_stdev: float = 0.15
    target: str = "label"
    batch_size: int = 250

    def __post_init__(self):
        if self.target not in ("label", "predicted"):
            raise ValueError(f"target must be 'label' or 'predicted', got {self.target!r}")
        for f in ("ig_steps", "nt_samples", "batch_size"):
            if getattr(self, f) < 1:
                raise ValueError(f"{f} must be at least 1, got {getattr(self, f)}")

    def as_dict(self) -> dict:
        return asdict(self)


def sobel(x: torch.Tensor) -> torch.Tensor:
    """Gradient magnitude of a 3×3 Sobel filter per channel (zero padding): an edge map, no model."""
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], device=x.device, dtype=x.dtype)
    k = torch.stack([kx, kx.T]).unsqueeze(1)  # (2, 1, 3, 3)
    c = x.shape[1]
    g = F.conv2d(x.reshape(-1, 1, *x.shape[2:]), k, padding=1)
    return g.pow(2).sum(1).sqrt().reshape(x.shape[0], c, *x.shape[2:])


def explainer(model, method: str):
    """Captum's explainer of a gradient estimator (wrapped in ``NoiseTunnel`` for an ensemble), its base
    name and its ensemble suffix."""
    base, _, ens = method.partition("_")
    core = BASE[base](model)
    return (NoiseTunnel(core) if ens else core), base, ens


def attribute(model, x: torch.Tensor, y: torch.Tensor, method: str, config: AttributionConfig = AttributionConfig(),
              *, seed: int = 0) -> torch.Tensor:
    """Attributions (N, C, H, W) of ``model`` for images ``x`` (labels ``y``), batched on x's device."""
    if method not in ESTIMATORS:
        raise ValueError(f"unknown gradient estimator {method!r}; known: {', '.join(ESTIMATORS)}")
    if method == "random":
        g = torch.Generator().manual_seed(seed)
        return torch.rand(x.shape, generator=g).to(x.device)
    if method == "sobel":
        return sobel(x)
    was_training = model.training
    model.eval()
    captum_explainer, base, ens = explainer(model, method)
    out = torch.empty_like(x)
    with torch.random.fork_rng(devices=[x.device] if x.device.type == "cuda" else []), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(did not already require gradients|backward hooks on ReLU)")
        torch.manual_seed(seed)  # SmoothGrad's noise
        for i in range(0, len(x), config.batch_size):
            xb = x[i:i + config.batch_size]
            if config.target == "label":
                tb = y[i:i + config.batch_size]
            else:
                with torch.no_grad():
                    tb = model(xb).argmax(1)
            kw = {"target": tb}
            if base == "ig":
                kw |= {"baselines": 0.0, "n_steps": config.ig_steps,
                       "internal_batch_size": max(1, config.batch_size * config.ig_steps // 4)}
            elif base == "grad":
                kw["abs"] = False
            if ens:
                stdev = config.nt_stdev * float(xb.max() - xb.min())
                kw |= {"nt_type": ENSEMBLES[ens], "nt_samples": config.nt_samples, "stdevs": stdev,
                       "nt_samples_batch_size": config.nt_samples}
            out[i:i + config.batch_size] = captum_explainer.attribute(xb, **kw).detach()
    model.train(was_training)
    return out


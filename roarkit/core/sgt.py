"""Saliency guided training (SGT), Ismail, Corrada Bravo and Feizi (NeurIPS 2021), Algorithm 1.

Per mini-batch: the input gradient of the true-class output (Captum ``Saliency``, model in eval
mode as in the official code); the ``k`` lowest-ranked pixels of each image are masked, i.e.
replaced with values drawn uniformly within the range of the image's remaining pixels
(``x̃ = M_k(S(∇x f(x)), x)``); the loss is ``CE(f(x), y) + λ · KL(f(x) ‖ f(x̃))``.
Paper values: λ = 1, k = 50 % of the pixels (392 of 784 on MNIST).

Saliency (``grad_of``): this book differentiates the true class's logit, which is what Captum's
``Saliency`` computes on a network that returns logits; the official code's network returns
``log_softmax``, so there Captum differentiates ``log p_y`` (``"log_prob"``), which subtracts the
probability-weighted gradients of every class. The SGT pages run both.

Ranking (``rank_by``): the paper says features with *small* gradients are masked, i.e. by
magnitude (``"abs"``, the default here); the official code ranks by the *signed* gradient unless
``--abs`` is given, so it masks the most negative gradients (``"signed"``). A pixel's score is
the gradient summed over channels (``"signed"``) or the absolute gradient summed over channels
(``"abs"``, as :func:`roarkit.core.removal.scores`); masking a pixel replaces all its channels.

:class:`SGTStep` is SGT's training step for the book's one loop (:func:`roarkit.core.training.train`).
"""
from __future__ import annotations

import numbers
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from roarkit.core import removal, training

__all__ = ["RANK_BY", "GRAD_OF", "SGTConfig", "input_gradient", "pixel_scores", "lowest_mask", "fill_uniform", "mask_lowest",
           "kl_divergence", "sgt_loss", "SGTStep"]

RANK_BY = ("abs", "signed")
#: What the saliency differentiates: the true class's logit (Captum ``Saliency`` on this book's networks,
#: which return logits) or its log-probability (the official code's network returns ``log_softmax``).
GRAD_OF = ("logit", "log_prob")


@dataclass(frozen=True)
class SGTConfig:
    """SGT settings: ``k`` = fraction of pixels masked per image (paper 0.5), ``lam`` = weight of the
    KL term (paper 1), ``rank_by`` = ``"abs"`` (paper's wording) or ``"signed"`` (official code),
    ``grad_of`` = ``"logit"`` (``∂ z_y/∂x``, this book's default) or ``"log_prob"`` (``∂ log softmax(z)_y/∂x
    = ∂ z_y/∂x − Σ_c p_c ∂ z_c/∂x``, what the official code's ``log_softmax`` network gives Captum)."""

    k: float = 0.5
    lam: float = 1.0
    rank_by: str = "abs"
    grad_of: str = "logit"

    def __post_init__(self):
        if isinstance(self.k, bool) or not isinstance(self.k, numbers.Real) or not 0 <= self.k <= 1:
            raise ValueError(f"SGTConfig.k is the fraction of pixels masked and must lie in [0, 1], got {self.k!r} "
                             "(e.g. 0.5 masks 392 of 784 MNIST pixels)")
        if isinstance(self.lam, bool) or not isinstance(self.lam, numbers.Real) or self.lam < 0:
            raise ValueError(f"SGTConfig.lam weighs the KL term and must be a number >= 0, got {self.lam!r}")
        if self.rank_by not in RANK_BY:
            raise ValueError(f"SGTConfig.rank_by must be 'abs' (mask the smallest magnitudes, the paper) or "
                             f"'signed' (mask the most negative gradients, the official code), got {self.rank_by!r}")
        if self.grad_of not in GRAD_OF:
            raise ValueError(f"SGTConfig.grad_of must be 'logit' (the true class's logit) or 'log_prob' (its "
                             f"log-probability, as the official code's log_softmax network), got {self.grad_of!r}")

    def as_dict(self) -> dict:
        return asdict(self)


def input_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                   of: str = "logit") -> tuple[torch.Tensor, torch.Tensor]:
    """``∂ f_y(x) / ∂x`` for the true class ``y`` of each image, with the model in eval mode (no dropout),
    and the eval-mode logits. ``of="logit"``: f = the logits, equal to Captum
    ``Saliency(model).attribute(x, target=y, abs=False)``; ``of="log_prob"``: f = ``log_softmax`` of the
    logits (Captum's ``Saliency`` on the official SGT code's network)."""
    if of not in GRAD_OF:
        raise ValueError(f"of must be one of {GRAD_OF}, got {of!r}")
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            logits = model(xg)
            out = logits if of == "logit" else F.log_softmax(logits, 1)
            (grad,) = torch.autograd.grad(out.gather(1, y.view(-1, 1)).sum(), xg)
    finally:
        model.train(was_training)
    return grad, logits.detach()


def pixel_scores(grad: torch.Tensor, rank_by: str = "abs") -> torch.Tensor:
    """Per-pixel score (N, H·W) that masking ranks by: ``|g|`` summed over channels, or the signed sum."""
    if rank_by not in RANK_BY:
        raise ValueError(f"rank_by must be one of {RANK_BY}, got {rank_by!r}")
    g = grad.abs() if rank_by == "abs" else grad
    return g.sum(1).flatten(1)


def lowest_mask(score: torch.Tensor, k, generator: torch.Generator | None = None) -> torch.Tensor:
    """Bool (N, P), True on the ``k`` lowest-scored pixels of each image; ``k`` an int or a (N,) tensor.

    Ties are broken uniformly at random (``generator``), so constant scores mask random pixels."""
    n, p = score.shape
    kk = torch.as_tensor(k, device=score.device).long().reshape(-1)
    if kk.numel() not in (1, n) or bool(((kk < 0) | (kk > p)).any()):
        raise ValueError(f"k must be one count in 0..{p} or one per image ({n}), got {k!r}")
    rank = removal.ranks(score, generator, descending=False, dtype=torch.long)
    return removal.removal_mask(rank, kk.view(-1, 1))


def fill_uniform(x: torch.Tensor, mask: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """``x`` (N, C, H, W) with the pixels of ``mask`` (N, H·W) replaced, in every channel, by values
    drawn uniformly in [min, max] of that image and channel over its remaining (unmasked) pixels (the
    whole image when every pixel is masked)."""
    n, c = x.shape[:2]
    m = mask.reshape(n, 1, -1).expand(n, c, -1)
    flat = x.reshape(n, c, -1)
    lo = flat.masked_fill(m, float("inf")).amin(2)
    hi = flat.masked_fill(m, float("-inf")).amax(2)
    none_kept = m.all(2)
    lo, hi = torch.where(none_kept, flat.amin(2), lo), torch.where(none_kept, flat.amax(2), hi)
    u = torch.rand(flat.shape, generator=generator, device=x.device, dtype=x.dtype)
    noise = lo.unsqueeze(2) + u * (hi - lo).unsqueeze(2)
    return torch.where(m, noise, flat).reshape(x.shape)


def mask_lowest(x: torch.Tensor, grad: torch.Tensor, k, rank_by: str = "abs",
                generator: torch.Generator | None = None) -> torch.Tensor:
    """SGT's ``x̃``: the ``k`` lowest-ranked pixels (by :func:`pixel_scores`) filled by :func:`fill_uniform`."""
    mask = lowest_mask(pixel_scores(grad, rank_by), k, generator)
    return fill_uniform(x, mask, generator)


def kl_divergence(logits: torch.Tensor, masked_logits: torch.Tensor) -> torch.Tensor:
    """``KL(f(x) ‖ f(x̃)) = Σ p · (log p − log q)``, p = softmax of ``logits``, q of ``masked_logits``,
    averaged over the batch (``nn.KLDivLoss(reduction="batchmean", log_target=True)(log q, log p)``)."""
    log_p, log_q = F.log_softmax(logits, 1), F.log_softmax(masked_logits, 1)
    return F.kl_div(log_q, log_p, reduction="batchmean", log_target=True)


def sgt_loss(logits: torch.Tensor, masked_logits: torch.Tensor, y: torch.Tensor,
             lam: float = 1.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(CE(f(x), y) + λ·KL(f(x) ‖ f(x̃)), CE, KL)``; gradients flow through both outputs, as in the official code."""
    ce = F.cross_entropy(logits, y)
    kl = kl_divergence(logits, masked_logits)
    return ce + lam * kl, ce, kl


class SGTStep(training.Step):
    """SGT's training step (Algorithm 1): ``x̃`` masks the ``k`` lowest-ranked pixels of each image
    (ranked by the eval-mode input gradient), and the loss is ``CE(f(x), y) + λ·KL(f(x) ‖ f(x̃))``, with
    ``x`` and ``x̃`` through the network as one batch of 2·B. The masking noise has its own generator
    (seed + 7919). :meth:`k` and :meth:`observe` are the hooks SMOOT overrides. ``config.grad_of``: the
    output the saliency differentiates."""

    terms = ("loss", "ce", "kl")

    def __init__(self, config: SGTConfig = SGTConfig()):
        self.config = config

    def begin(self, model, x, y, seed):
        self.pixels = x.shape[2] * x.shape[3]
        self.noise = torch.Generator(device=x.device).manual_seed(seed + 7919)
        self.k_fixed = removal.n_pixels(self.config.k, self.pixels)

    def k(self, idx: torch.Tensor):
        """Pixels to mask in the images at training-set positions ``idx``: SGT's fixed k."""
        return self.k_fixed

    def observe(self, model, masked: torch.Tensor, logits: torch.Tensor, idx: torch.Tensor) -> None:
        """Called with ``x̃`` and the eval-mode logits of ``x`` before the loss (SGT: nothing)."""

    def state(self):
        return {"noise": self.noise.get_state()}

    def load_state(self, state):
        self.noise.set_state(state["noise"])

    def __call__(self, model, xb, yb, idx):
        grad, logits_eval = input_gradient(model, xb, yb, self.config.grad_of)
        xt = mask_lowest(xb, grad, self.k(idx), self.config.rank_by, self.noise)
        self.observe(model, xt, logits_eval, idx)
        out = model(torch.cat([xb, xt]))
        return sgt_loss(out[:len(idx)], out[len(idx):], yb, self.config.lam)

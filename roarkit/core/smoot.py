"""SMOOT: saliency guided mask optimized online training (Karkehabadi, Homayoun, Sasan; arXiv 2310.00772),
Algorithm 2: SGT with a masking percentage per training image that moves online.

The extracted paper text lost the symbols of its equations (1)-(7) and the values of min, max and
w; this module implements the following reading (every constant is a parameter):

* every training image i starts at masking fraction ``k_i = k_init`` (paper: 50 %);
* each time the image is visited (once per epoch), with the model in eval mode, let p = softmax f(x)
  and q = softmax f(x̃), x̃ masked with the image's current k_i; rank the classes by p (c1 = top-1);
* ``Δ1 = q[c1] − p[c1]`` (change of the top-1 probability),
  ``Δn = Σ_{j=2..n} (q[cj] − p[cj])`` (change of the summed top-2..n probabilities, n = ``top_n`` = 5),
  ``Δ = α·Δ1 + (1 − α)·Δn`` (α = 0.95 for MNIST and Fashion-MNIST, 0.8 for CIFAR);
* ``k_i ← clamp(k_i + w·Δ, k_min, k_max)``: more masking when masking raised the output (Δ > 0),
  less when it lowered it; the new k_i is used at the image's next visit.

Bounds: the paper's observed K ranges (MNIST 234-544 of 784, Fashion-MNIST 223-576, CIFAR 204-753 of
1024) suggest ``k_min`` ≈ 0.2 and ``k_max`` ≈ 0.8; ``w`` = 0.1 (an image whose top-1 probability falls by
0.5 under masking loses 5 points of masking) is this book's choice, not the paper's.
"""
from __future__ import annotations

import numbers
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from roarkit.core import removal
from roarkit.core.sgt import SGTConfig, SGTStep

__all__ = ["ALPHA", "SMOOTConfig", "output_change", "MaskBook", "SMOOTStep"]

#: α by dataset, as the paper states it.
ALPHA = {"mnist": 0.95, "fashion_mnist": 0.95, "cifar10": 0.8, "cifar100": 0.8}


def _real(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


@dataclass(frozen=True)
class SMOOTConfig:
    """SMOOT constants (see the module docstring for the update rule they enter)."""

    alpha: float = 0.95
    top_n: int = 5
    w: float = 0.1
    k_min: float = 0.2
    k_max: float = 0.8
    k_init: float = 0.5

    def __post_init__(self):
        problems = []
        if not _real(self.alpha) or not 0 <= self.alpha <= 1:
            problems.append(f"alpha must lie in [0, 1], got {self.alpha!r}")
        if isinstance(self.top_n, bool) or not isinstance(self.top_n, numbers.Integral) or self.top_n < 2:
            problems.append(f"top_n must be a whole number >= 2 (classes 2..n enter Δn), got {self.top_n!r}")
        if not _real(self.w) or self.w < 0:
            problems.append(f"w must be a number >= 0, got {self.w!r}")
        for f in ("k_min", "k_max", "k_init"):
            if not _real(getattr(self, f)) or not 0 <= getattr(self, f) <= 1:
                problems.append(f"{f} is a fraction of the pixels and must lie in [0, 1], got {getattr(self, f)!r}")
        if not problems and not self.k_min <= self.k_init <= self.k_max:
            problems.append(f"need k_min <= k_init <= k_max, got {self.k_min} <= {self.k_init} <= {self.k_max}")
        if problems:
            raise ValueError("SMOOTConfig: " + "; ".join(problems))

    def as_dict(self) -> dict:
        return asdict(self)


def output_change(p: torch.Tensor, q: torch.Tensor, alpha: float, top_n: int) -> torch.Tensor:
    """Per-image ``Δ = α·Δ1 + (1 − α)·Δn`` from probabilities ``p`` (of x) and ``q`` (of x̃), both (N, C)."""
    if p.shape != q.shape or p.dim() != 2:
        raise ValueError(f"p and q must both be (N, classes), got {tuple(p.shape)} and {tuple(q.shape)}")
    n = min(int(top_n), p.shape[1])
    top = p.topk(n, dim=1).indices  # classes ranked by the unmasked output
    change = q.gather(1, top) - p.gather(1, top)
    return alpha * change[:, 0] + (1 - alpha) * change[:, 1:].sum(1)


class MaskBook:
    """The per-image masking fractions of one SMOOT run, indexed by training-set position."""

    def __init__(self, n_images: int, config: SMOOTConfig, device="cpu"):
        self.config = config
        self.fraction = torch.full((n_images,), float(config.k_init), device=device)
        self.visits = torch.zeros(n_images, dtype=torch.long, device=device)
        self.snapshots: list[torch.Tensor] = [self.fraction.detach().cpu().clone()]

    def __len__(self) -> int:
        return len(self.fraction)

    def k(self, idx: torch.Tensor, pixels: int) -> torch.Tensor:
        """Pixels to mask for the images at positions ``idx``."""
        return removal.n_pixels(self.fraction[idx], pixels)

    def update(self, idx: torch.Tensor, delta: torch.Tensor) -> None:
        """``k_i ← clamp(k_i + w·Δ_i, k_min, k_max)`` for the images at positions ``idx`` (no repeats)."""
        if idx.numel() != delta.numel():
            raise ValueError(f"one Δ per image: {idx.numel()} positions, {delta.numel()} changes")
        if torch.unique(idx).numel() != idx.numel():
            raise ValueError("idx repeats an image; each image is updated once per visit")
        c = self.config
        new = (self.fraction[idx] + c.w * delta.to(self.fraction)).clamp(c.k_min, c.k_max)
        self.fraction[idx] = new
        self.visits[idx] += 1

    def end_epoch(self) -> None:
        """Record the fractions after an epoch (for the evolution figure)."""
        self.snapshots.append(self.fraction.detach().cpu().clone())

    def summary(self, pixels: int) -> dict:
        """Per-epoch quantiles of K (pixels), the final per-image K and ``k_step``, the mean |change| of K
        (pixels, unrounded) over the last epoch, for the results store."""
        k = torch.stack([removal.n_pixels(s, pixels).float() for s in self.snapshots])  # (epochs + 1, N)
        qs = torch.tensor([0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0])
        step = (self.snapshots[-1] - self.snapshots[-2]).abs().mean() * pixels if len(k) > 1 else torch.tensor(0.0)
        return {"k_final": k[-1].to(torch.int16), "k_quantiles": torch.quantile(k, qs, dim=1).T,
                "quantile_levels": qs, "k_mean": k.mean(1), "k_step": step, "pixels": pixels}


class SMOOTStep(SGTStep):
    """SMOOT's training step: SGT's, with each image masked by its own K (:class:`MaskBook`), which
    moves after every visit by the output change that masking caused (eval mode, no gradient)."""

    def __init__(self, sgt_config: SGTConfig = SGTConfig(), config: SMOOTConfig = SMOOTConfig()):
        super().__init__(sgt_config)
        self.smoot = config

    def begin(self, model, x, y, seed):
        super().begin(model, x, y, seed)
        self.book = MaskBook(len(x), self.smoot, device=x.device)

    def k(self, idx):
        return self.book.k(idx, self.pixels)

    def observe(self, model, masked, logits, idx):
        model.eval()
        with torch.no_grad():
            q = F.softmax(model(masked), 1)
        model.train()
        self.book.update(idx, output_change(F.softmax(logits, 1), q, self.smoot.alpha, self.smoot.top_n))

    def end_epoch(self):
        self.book.end_epoch()

    def result(self):
        return {"smoot": self.book.summary(self.pixels)}

    def state(self):
        b = self.book
        return {**super().state(), "fraction": b.fraction, "visits": b.visits, "snapshots": list(b.snapshots)}

    def load_state(self, state):
        super().load_state(state)
        b = self.book
        b.fraction.copy_(state["fraction"])
        b.visits.copy_(state["visits"])
        b.snapshots = [t.clone() for t in state["snapshots"]]

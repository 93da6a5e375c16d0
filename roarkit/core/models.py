"""The papers' CNNs, returning logits (no softmax).

* :class:`RoarNet` — the LeNet-5-style net of the MNIST ROAR report (Hooker et al. 2019 use a
  ResNet-50 on ImageNet; the report scales ROAR down to MNIST with this small net).
* :class:`SGTNet` — the net of saliency-guided training (Ismail et al. 2021) and SMOOT on MNIST,
  which is the PyTorch ``examples/mnist`` net.

:func:`build` constructs either one deterministically from a seed without touching the global RNG.
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["RoarNet", "SGTNet", "MODELS", "build"]


def _pair(value, name: str) -> tuple[int, int]:
    value = tuple(value)
    if len(value) != 2:
        raise ValueError(f"{name} must have two entries, got {value!r}")
    return value


class RoarNet(nn.Module):
    """ROAR report net: conv(in→6, k5) ReLU maxpool2, conv(6→16, k5) ReLU maxpool2, flatten,
    FC→120 ReLU, FC 120→84 ReLU, FC 84→num_classes (no padding, so the flat size is 16·4·4 = 256
    for 28×28 input and 16·5·5 = 400 for 32×32)."""

    def __init__(self, in_channels: int = 1, image_size: int = 28, num_classes: int = 10,
                 channels=(6, 16), hidden=(120, 84)):
        super().__init__()
        c1, c2 = _pair(channels, "channels")
        h1, h2 = _pair(hidden, "hidden")
        side = ((image_size - 4) // 2 - 4) // 2
        if side < 1:
            raise ValueError(f"image_size {image_size} is too small for RoarNet (needs >= 16)")
        self.flat_size = c2 * side * side
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
        )
        self.classifier = nn.Sequential(
            nn.Linear(self.flat_size, h1), nn.ReLU(),
            nn.Linear(h1, h2), nn.ReLU(),
            nn.Linear(h2, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class SGTNet(nn.Module):
    """SGT / SMOOT net (PyTorch MNIST example): conv(in→32, k3) ReLU, conv(32→64, k3) ReLU,
    maxpool2, dropout 0.25, flatten, FC→128 ReLU, dropout 0.5, FC 128→num_classes
    (flat size 64·12·12 = 9216 for 28×28 input)."""

    def __init__(self, in_channels: int = 1, image_size: int = 28, num_classes: int = 10,
                 channels=(32, 64), hidden: int = 128, dropout=(0.25, 0.5)):
        super().__init__()
        c1, c2 = _pair(channels, "channels")
        p1, p2 = _pair(dropout, "dropout")
        side = (image_size - 4) // 2
        if side < 1:
            raise ValueError(f"image_size {image_size} is too small for SGTNet (needs >= 6)")
        self.flat_size = c2 * side * side
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, 3), nn.ReLU(),
            nn.Conv2d(c1, c2, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Dropout(p1), nn.Flatten(),
        )
        self.classifier = nn.Sequential(
            nn.Linear(self.flat_size, hidden), nn.ReLU(), nn.Dropout(p2),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


MODELS: dict[str, type[nn.Module]] = {"roar": RoarNet, "sgt": SGTNet}


def build(name: str, *, seed: int, in_channels: int = 1, image_size: int = 28,
          num_classes: int = 10, device="cpu", **kwargs) -> nn.Module:
    """Construct ``MODELS[name]`` with weights drawn from a forked CPU RNG seeded with ``seed``.

    Initialisation happens on the CPU, so the same seed gives the same weights on every device and
    the global RNG state is left untouched; the model is then moved to ``device``.
    """
    try:
        cls = MODELS[name]
    except (KeyError, TypeError):
        known = ", ".join(repr(k) for k in MODELS)
        raise ValueError(f"unknown model {name!r}; known models: {known}") from None
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)  # CPU only: leaves CUDA generators alone
        model = cls(in_channels=in_channels, image_size=image_size,
                    num_classes=num_classes, **kwargs)
    return model.to(device)

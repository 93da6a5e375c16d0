"""The one rule for choosing a device: ``"auto"`` means a GPU when there is one."""
from __future__ import annotations

import torch

__all__ = ["resolve_device"]


def resolve_device(device="auto") -> torch.device:
    """``"auto"`` (or None) -> ``cuda`` when available, else ``cpu``; anything else -> ``torch.device(device)``."""
    if device is None or (isinstance(device, str) and device == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)

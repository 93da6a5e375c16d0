"""Model-parameter randomisation test (Adebayo et al. 2018, "Sanity checks for saliency maps").

Cascading randomisation: re-initialise the layers' weights one after the other from the output
(logits) towards the input, each model keeping the earlier re-initialisations. A saliency method
whose maps stay similar to the trained model's maps while the model is destroyed does not explain
the model. Weights are re-drawn with each layer's own default initialisation (``reset_parameters``)
from a seeded generator, so the cascade is reproducible.
"""
from __future__ import annotations

import copy

import torch

__all__ = ["layers", "cascade"]


def layers(model: torch.nn.Module) -> list[str]:
    """Names of the layers with weights, from the output to the input (the cascade's order)."""
    names = [name for name, mod in model.named_modules() if hasattr(mod, "reset_parameters")
             and any(True for _ in mod.parameters(recurse=False))]
    return names[::-1]


def cascade(model: torch.nn.Module, *, seed: int = 0) -> list[tuple[str, torch.nn.Module]]:
    """``[(layer, model with that layer and every layer above it re-initialised), ...]``, in cascade
    order; the trained ``model`` is left untouched."""
    out = []
    current = copy.deepcopy(model).eval()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for name in layers(model):
            current = copy.deepcopy(current)
            current.get_submodule(name).reset_parameters()
            out.append((name, current.eval()))
    return out

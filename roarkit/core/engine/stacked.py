"""The stacked forward: M models of the same conv/pool/ReLU/dropout/linear stack in one pass.

Images go as ``(B, M*C, H, W)``: each conv is ONE grouped conv, each linear one ``baddbmm`` (what
``vmap`` makes of them, minus batching rules whose grouped conv backward was 5-20x slower on the
CPU); other models fall back to ``vmap(functional_call)``. Dropout draws model m's mask from its own
generator in the shape and memory format the model alone would draw it.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, vmap

from roarkit.core import models

__all__ = ["SUPPORTED", "plan", "record", "mask_format", "dropout", "forward"]


SUPPORTED = (nn.Conv2d, nn.ReLU, nn.MaxPool2d, nn.Flatten, nn.Linear, nn.Dropout)


def plan(model: nn.Module) -> list | None:
    """``[(param_prefix, layer)]`` when the stacked forward applies, else None. ``ReLU, MaxPool2d``
    pairs are swapped: both are monotone, so they commute exactly (values, gradients and ties), and
    the ReLU then touches a quarter of the values."""
    if isinstance(model, nn.Sequential):
        parts = [("", model)]
    elif type(model) in (models.RoarNet, models.SGTNet) and \
            [n for n, _ in model.named_children()] == ["features", "classifier"]:
        parts = [("features.", model.features), ("classifier.", model.classifier)]
    else:
        return None
    plan = [(f"{p}{name}.", layer) for p, seq in parts for name, layer in seq.named_children()]
    kinds = [type(layer) for _, layer in plan]
    flat = kinds.index(nn.Flatten) if nn.Flatten in kinds else -1
    if kinds.count(nn.Flatten) != 1 or nn.Linear in kinds[:flat] or {nn.Conv2d, nn.MaxPool2d} & set(kinds[flat:]) or \
            not all(k in SUPPORTED and getattr(l, "start_dim", 1) == 1 for k, (_, l) in zip(kinds, plan)):
        return None  # needs: image layers, one Flatten(start_dim=1), then linear layers
    for i in range(len(plan) - 1):
        if isinstance(plan[i][1], nn.ReLU) and isinstance(plan[i + 1][1], nn.MaxPool2d):
            plan[i], plan[i + 1] = plan[i + 1], plan[i]
    return plan


def record(net: nn.Module, x: torch.Tensor, kind, what) -> dict:
    """``{name + ".": what(input, output)}`` for each ``kind`` module of ``net`` run alone (eval
    mode, no grad) on ``x``."""
    out = {}
    hooks = [mod.register_forward_hook(lambda _m, i, o, k=name + ".": out.__setitem__(k, what(i[0], o)))
             for name, mod in net.named_modules() if isinstance(mod, kind)]
    try:
        with torch.no_grad():
            net.eval()(x)
    finally:
        net.train()
        for h in hooks:
            h.remove()
    return out


def mask_format(t: torch.Tensor, _out=None):
    """The memory format nn.Dropout gives its mask: its input's (oneDNN may return NHWC)."""
    cl = t.dim() == 4 and not t.is_contiguous() and t.is_contiguous(memory_format=torch.channels_last)
    return torch.channels_last if cl else torch.contiguous_format


def dropout(h, p: float, gens, image: bool, fmt):
    """nn.Dropout's arithmetic (``x * (bernoulli(1-p) / (1-p))``) with model m's mask drawn from
    ``gens[m]`` in the shape and memory format the model alone would draw it."""
    shape = (h.shape[0], h.shape[1] // len(gens), *h.shape[2:]) if image else h.shape[1:]
    masks = [torch.empty(shape, device=h.device, memory_format=fmt).bernoulli_(1 - p, generator=g)
             .div_(1 - p) for g in gens]
    return h * (torch.stack(masks, 1).flatten(1, 2) if image else torch.stack(masks))


def forward(base, layers, params, x, gens=None, nhwc=False, fmts=None):
    """Logits (M, B, K) of M stacked models on x (M, B, C, H, W); ``gens`` (a dropout generator
    per model) in training, None in eval; ``fmts``: each Dropout's mask memory format."""
    if layers is None:  # other architectures: vmap over the model axis (dropout: global RNG)
        run = lambda p, xb: functional_call(base, p, (xb,))  # noqa: E731
        return vmap(run, randomness="different" if gens is not None else "error")(params, x)
    m, b = x.shape[:2]
    h, image = x.transpose(0, 1).reshape(b, m * x.shape[2], *x.shape[3:]), True  # (B, M*C, H, W)
    if nhwc:
        h = h.contiguous(memory_format=torch.channels_last)
    for prefix, layer in layers:
        if isinstance(layer, nn.Conv2d):
            bias = None if layer.bias is None else params[prefix + "bias"].flatten()
            h = F.conv2d(h, params[prefix + "weight"].flatten(0, 1), bias, layer.stride,
                         layer.padding, layer.dilation, groups=m * layer.groups)
        elif isinstance(layer, nn.MaxPool2d):
            h = F.max_pool2d(h, layer.kernel_size, layer.stride, layer.padding, layer.dilation,
                             ceil_mode=layer.ceil_mode)
        elif isinstance(layer, nn.ReLU):
            h = h.relu()
        elif isinstance(layer, nn.Flatten):  # (B, M*C, H, W) -> (M, B, C*H*W), per-model order
            h, image = h.reshape(b, m, -1).transpose(0, 1), False
        elif isinstance(layer, nn.Linear):
            w = params[prefix + "weight"].transpose(1, 2)
            h = torch.bmm(h, w) if layer.bias is None else \
                torch.baddbmm(params[prefix + "bias"].unsqueeze(1), h, w)
        elif isinstance(layer, nn.Dropout) and gens is not None and layer.p > 0:
            h = h * 0 if layer.p == 1 else dropout(h, layer.p, gens, image, fmts[prefix])
    return h

"""``torch.optim``'s SGD, Adadelta and Adam, transcribed op for op onto lists of stacked tensors."""
from __future__ import annotations

import torch

from roarkit.core.training import TrainConfig

__all__ = ["StackedOptimizer"]


class StackedOptimizer:
    """``torch.optim`` SGD / Adadelta / Adam as :meth:`TrainConfig.make_optimizer` builds them,
    transcribed op for op onto lists of stacked tensors."""

    def __init__(self, config: TrainConfig, params: list[torch.Tensor]):
        self.c, self.t, self.buf = config, 0, None  # SGD buffers start as the first gradient
        state = config.optimizer != "sgd"
        self.s1, self.s2 = ([torch.zeros_like(p) for p in params] if state else None for _ in "12")

    @torch.no_grad()
    def step(self, params: list[torch.Tensor], grads: list[torch.Tensor]) -> None:
        c, s1, s2 = self.c, self.s1, self.s2
        self.t += 1
        if c.weight_decay:
            grads = torch._foreach_add(grads, params, alpha=c.weight_decay)
        if c.optimizer == "sgd":
            if c.momentum and self.buf is None:
                self.buf = [g.detach().clone() for g in grads]
            elif c.momentum:
                torch._foreach_mul_(self.buf, c.momentum)
                torch._foreach_add_(self.buf, grads, alpha=1)
            torch._foreach_add_(params, self.buf if c.momentum else grads, alpha=-c.lr)
        elif c.optimizer == "adadelta":  # s1: square_avg, s2: acc_delta; rho 0.9, eps 1e-6
            torch._foreach_mul_(s1, 0.9)
            torch._foreach_addcmul_(s1, grads, grads, value=1 - 0.9)
            delta = torch._foreach_sqrt(torch._foreach_add(s2, 1e-6))
            torch._foreach_div_(delta, torch._foreach_sqrt(torch._foreach_add(s1, 1e-6)))
            torch._foreach_mul_(delta, grads)
            torch._foreach_mul_(s2, 0.9)
            torch._foreach_addcmul_(s2, delta, delta, value=1 - 0.9)
            torch._foreach_add_(params, delta, alpha=-c.lr)
        else:  # adam; s1: exp_avg, s2: exp_avg_sq; betas (0.9, 0.999), eps 1e-8
            torch._foreach_lerp_(s1, grads, 1 - 0.9)
            torch._foreach_mul_(s2, 0.999)
            torch._foreach_addcmul_(s2, grads, grads, 1 - 0.999)
            denom = torch._foreach_sqrt(s2)
            torch._foreach_div_(denom, (1 - 0.999 ** float(self.t)) ** 0.5)
            torch._foreach_add_(denom, 1e-8)
            torch._foreach_addcdiv_(params, s1, denom, (c.lr / (1 - 0.9 ** float(self.t))) * -1)

"""Train many small CNNs at once: M independent models advance in lock-step, one batched step each.

Model m gets what :func:`roarkit.train.train` gives it with seed ``seeds[m]`` (initial weights,
batches, optimizer arithmetic, CPU dropout masks), so results agree to float rounding. Parameters
are stacked (:func:`torch.func.stack_module_state`), gradients are :func:`torch.func.grad_and_value`
of the summed per-model losses. Conv/pool/ReLU/dropout/linear stacks (RoarNet, SGTNet) run an
explicit stacked forward, images as ``(B, M*C, H, W)``: each conv is ONE grouped conv, each linear
one ``baddbmm`` (what ``vmap`` makes of them, minus batching rules whose grouped conv backward was
5-20x slower on the CPU); other models fall back to ``vmap(functional_call)``. Data stays on the
device and :class:`Masked` builds ROAR/KAR batches from one shared ``x``. On the CPU activations
are NHWC (oneDNN's jit grouped conv: 1.7x) and one thread per core owns a group of models.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad_and_value, stack_module_state, vmap

from . import models
from .provenance import resolve_device
from .train import Metrics, TrainConfig, TrainResult, _show_progress, metrics_from_predictions

__all__ = ["Views", "Shared", "Masked", "train_many", "evaluate_many", "fit_many"]


# ------------------------------------------------------------------------------------------ views
class Views(Protocol):
    """``m`` models, each its own view of ``n`` samples (``select(ids)``, ``to(device)``: optional)."""

    n: int
    m: int

    def __call__(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """idx (M, B) sample indices per model -> x (M, B, C, H, W), y (M, B)."""
        ...


class Shared:
    """All ``m`` models see the same tensors ``x`` (N, C, H, W) and ``y`` (N,)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, m: int):
        if len(x) != len(y):
            raise ValueError(f"x and y differ in length: {len(x)} vs {len(y)}")
        self.x, self.y, self.n, self.m = x, y.to(x.device), len(x), int(m)

    def __call__(self, idx):
        return self.x[idx], self.y[idx]

    def select(self, ids: Sequence[int]) -> "Shared":
        return Shared(self.x, self.y, len(ids))

    def to(self, device) -> "Shared":
        return Shared(self.x.to(device), self.y.to(device), self.m)


class Masked:
    """ROAR / KAR inputs built per batch from ONE shared ``x`` (no per-model copy of the data).

    ``ranks``: integer rank of each pixel position (0 = most important; all channels): (N, H*W)
    shared, (M, N, H*W) per model, or (G, N, H*W) with ``group`` (M,) naming each model's ranking
    (e.g. G = 2: IG and random). ``k`` (M,): pixels per image to REMOVE (ROAR, ``keep=False``: rank
    < k set to ``fill``) or KEEP (KAR, ``keep=True``: rank >= k set to ``fill``); ``keep`` may be an
    (M,) bool tensor mixing both."""

    def __init__(self, x, y, ranks, k, *, keep=False, fill=0.0, group=None):
        if len(x) != len(y):
            raise ValueError(f"x and y differ in length: {len(x)} vs {len(y)}")
        self.x, self.y, self.n, self.fill = x, y.to(x.device), len(x), fill
        self.k = torch.as_tensor(k, device=x.device).long().reshape(-1)
        self.m = len(self.k)
        self.keep = torch.as_tensor(keep, device=x.device).bool().expand(self.m).clone()
        shape = (self.n, x.shape[-2] * x.shape[-1])
        if ranks.dim() not in (2, 3) or tuple(ranks.shape[-2:]) != shape or ranks.is_floating_point():
            raise ValueError(f"ranks must be integer (N, H*W) or (M or G, N, H*W), (N, H*W) = "
                             f"{shape}; got {ranks.dtype} {tuple(ranks.shape)}")
        if group is None and ranks.dim() == 3:
            group = torch.arange(len(ranks))
        self.ranks = ranks.to(x.device)
        self.group = None if group is None else torch.as_tensor(group, device=x.device).long()
        if self.group is not None and self.group.shape != (self.m,):
            raise ValueError(f"{self.m} models need {self.m} rankings or a group per model")

    def _drop(self, ranks, k, keep):
        """True where a pixel is replaced: ranks (M, B, H*W) -> (M, B, 1, H, W)."""
        drop = (ranks < k.view(-1, 1, 1)) ^ keep.view(-1, 1, 1)
        return drop.view(*drop.shape[:2], 1, *self.x.shape[-2:])

    def __call__(self, idx):
        ranks = self.ranks[idx] if self.group is None else self.ranks[self.group.view(-1, 1), idx]
        return self.x[idx].masked_fill_(self._drop(ranks, self.k, self.keep), self.fill), self.y[idx]

    def materialize(self, m: int) -> torch.Tensor:
        """Model ``m``'s whole masked set (N, C, H, W), for tests, references and figures."""
        ranks = self.ranks if self.group is None else self.ranks[self.group[m]]
        return self.x.masked_fill(self._drop(ranks[None], self.k[m:m + 1], self.keep[m:m + 1])[0],
                                  self.fill)

    def select(self, ids: Sequence[int]) -> "Masked":
        i = torch.as_tensor(list(ids), device=self.k.device).long()
        return Masked(self.x, self.y, self.ranks, self.k[i], keep=self.keep[i], fill=self.fill,
                      group=None if self.group is None else self.group[i])

    def to(self, device) -> "Masked":
        return Masked(self.x.to(device), self.y, self.ranks, self.k, keep=self.keep, fill=self.fill,
                      group=self.group)


# ------------------------------------------------------------------------------ stacked forward
_SUPPORTED = (nn.Conv2d, nn.ReLU, nn.MaxPool2d, nn.Flatten, nn.Linear, nn.Dropout)


def _plan(model: nn.Module) -> list | None:
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
            not all(k in _SUPPORTED and getattr(l, "start_dim", 1) == 1 for k, (_, l) in zip(kinds, plan)):
        return None  # needs: image layers, one Flatten(start_dim=1), then linear layers
    for i in range(len(plan) - 1):
        if isinstance(plan[i][1], nn.ReLU) and isinstance(plan[i + 1][1], nn.MaxPool2d):
            plan[i], plan[i + 1] = plan[i + 1], plan[i]
    return plan


def _record(net: nn.Module, x: torch.Tensor, kind, what) -> dict:
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


def _mask_format(t: torch.Tensor, _out=None):
    """The memory format nn.Dropout gives its mask: its input's (oneDNN may return NHWC)."""
    cl = t.dim() == 4 and not t.is_contiguous() and t.is_contiguous(memory_format=torch.channels_last)
    return torch.channels_last if cl else torch.contiguous_format


def _dropout(h, p: float, gens, image: bool, fmt):
    """nn.Dropout's arithmetic (``x * (bernoulli(1-p) / (1-p))``) with model m's mask drawn from
    ``gens[m]`` in the shape and memory format the model alone would draw it."""
    shape = (h.shape[0], h.shape[1] // len(gens), *h.shape[2:]) if image else h.shape[1:]
    masks = [torch.empty(shape, device=h.device, memory_format=fmt).bernoulli_(1 - p, generator=g)
             .div_(1 - p) for g in gens]
    return h * (torch.stack(masks, 1).flatten(1, 2) if image else torch.stack(masks))


def _forward(base, plan, params, x, gens=None, nhwc=False, fmts=None):
    """Logits (M, B, K) of M stacked models on x (M, B, C, H, W); ``gens`` (a dropout generator
    per model) in training, None in eval; ``fmts``: each Dropout's mask memory format."""
    if plan is None:  # other architectures: vmap over the model axis (dropout: global RNG)
        run = lambda p, xb: functional_call(base, p, (xb,))  # noqa: E731
        return vmap(run, randomness="different" if gens is not None else "error")(params, x)
    m, b = x.shape[:2]
    h, image = x.transpose(0, 1).reshape(b, m * x.shape[2], *x.shape[3:]), True  # (B, M*C, H, W)
    if nhwc:
        h = h.contiguous(memory_format=torch.channels_last)
    for prefix, layer in plan:
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
            h = h * 0 if layer.p == 1 else _dropout(h, layer.p, gens, image, fmts[prefix])
    return h


# ----------------------------------------------------------------------------------- optimizers
class _Optimizer:
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


# ------------------------------------------------------------------------------------- training
def _probe(view, b: int = 1) -> torch.Tensor:
    """A batch of ``b`` images as model 0 sees them, (b, C, H, W), on the view's device."""
    idx = torch.zeros(view.m, b, dtype=torch.long, device=getattr(view, "x", torch.empty(0)).device)
    return view(idx)[0][0]


def _auto_chunk(net: nn.Module, view, batch_size: int, device: torch.device, m: int) -> int:
    """All models on the CPU; on CUDA as many as fit in half the free memory, by a rough count of
    parameters (x5: weights, grads, optimizer state) and activations (x4: saved, grads, scratch)."""
    if device.type != "cuda":
        return m
    acts = _record(net, _probe(view, batch_size), (nn.Conv2d, nn.Linear, nn.MaxPool2d, nn.ReLU),
                   lambda i, o: o.numel())
    per_model = 4 * (5 * sum(p.numel() for p in net.parameters()) + 4 * sum(acts.values()))
    return max(1, min(m, int(0.5 * torch.cuda.mem_get_info(device)[0] // per_model)))


def _map_groups(fn, view, m: int, chunk: int, workers: int | None, device) -> list:
    """``fn(ids)`` over contiguous groups of models: chunks of ``chunk`` on CUDA; on the CPU a
    multiple of ``workers`` near-equal groups of <= 16 models (8-27 measured best: cache-bound; 55
    was 15% slower), ``workers`` at a time in threads of ONE intra-op thread each."""
    cpu, threads = device.type == "cpu", torch.get_num_threads()
    workers = max(1, min(m, workers or threads)) if cpu else 1
    if not hasattr(view, "select"):
        if chunk < m:
            raise ValueError(f"chunk={chunk} < {m} models needs a view with .select(ids)")
        return [fn(list(range(m)))]
    size = min(16, -(-chunk // workers)) if cpu else chunk
    g = min(m, -(-m // (size * workers)) * workers if cpu else -(-m // size))
    groups = [list(range(j * m // g, (j + 1) * m // g)) for j in range(g)]
    if min(workers, g) == 1:
        return [fn(ids) for ids in groups]
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(fn, groups))
    finally:
        torch.set_num_threads(threads)


def _train_group(nets, view, config, seeds, device, bar):
    base, plan, m, n, bs = nets[0], _plan(nets[0]), len(seeds), view.n, config.batch_size
    params = {k: v.detach() for k, v in stack_module_state(nets)[0].items()}
    names, plist = list(params), list(params.values())
    opt = _Optimizer(config, plist)
    shuffles = [torch.Generator().manual_seed(s) for s in seeds]  # as train.train draws them
    dropout = any(isinstance(mod, nn.Dropout) for mod in base.modules())
    gens = [torch.Generator(device).manual_seed(s) for s in seeds] if dropout else []
    fmts = _record(base, _probe(view, min(bs, n)), nn.Dropout, _mask_format) if dropout else None
    nhwc = device.type == "cpu"

    def loss_fn(p, xb, yb):
        logits = _forward(base, plan, p, xb, gens, nhwc, fmts)
        per_model = F.cross_entropy(logits.flatten(0, 1), yb.flatten(), reduction="none") \
            .view(yb.shape).mean(1)
        return per_model.sum(), per_model.detach()

    step, history = grad_and_value(loss_fn, has_aux=True), []
    for _ in range(config.epochs):
        order = torch.stack([torch.randperm(n, generator=g) for g in shuffles]).to(device)
        total = torch.zeros(m, device=device)
        for i in range(0, n, bs):
            idx = order[:, i:i + bs]
            grads, (_, per_model) = step(params, *view(idx))
            opt.step(plist, [grads[k] for k in names])
            total += per_model * idx.shape[1]
        history.append(total / n)  # stays on the device: no per-epoch sync
        if bar is not None:
            bar.update(m)
    with torch.no_grad():
        for j, net in enumerate(nets):
            for k, p in net.named_parameters():
                p.copy_(params[k][j])
            net.eval()
    return torch.stack(history, 1).cpu()


def train_many(model_name: str, train: Views, config: TrainConfig, seeds: Sequence[int], *,
               model_kwargs: dict | None = None, device=None, progress=None,
               chunk: int | None = None, workers: int | None = None) -> tuple[list[nn.Module], dict]:
    """Train ``len(seeds)`` independent models in lock-step; returns them (on ``device``, eval
    mode) and ``{"loss": (M, epochs) per-epoch mean losses, "seconds": wall time}``.

    ``chunk``: models at once (default all on the CPU, what fits in half the free memory on CUDA).
    ``workers`` (CPU, default ``torch.get_num_threads()``): groups of models are trained side by
    side by this many threads with ONE intra-op thread each; on a shared 2-core machine that beat
    2 intra-op threads 2-5x, as OpenMP's per-op barriers stall while another process holds a core.
    Neither changes a model's result beyond float rounding.
    """
    seeds = [int(s) for s in seeds]
    m = len(seeds)
    if m == 0 or train.m != m:
        raise ValueError(f"need one seed per model: {m} seeds for a view of {train.m} models")
    if train.n == 0:
        raise ValueError("cannot train on an empty set")
    start, x = time.perf_counter(), _probe(train)
    device = resolve_device(device) if device is not None else x.device
    if x.device != device:
        train = train.to(device)
    kw = {"in_channels": x.shape[1], "image_size": x.shape[-1], **(model_kwargs or {})}
    nets = [models.build(model_name, seed=s, device=device, **kw) for s in seeds]
    chunk = min(m, chunk or _auto_chunk(nets[0], train, config.batch_size, device, m))
    bar = None
    if _show_progress(progress):
        from tqdm.auto import tqdm
        bar = tqdm(total=config.epochs * m, desc=f"{model_name} x{m}", unit="model-epoch")
    with torch.random.fork_rng():  # only vmap-fallback dropout uses the global RNG: 1 worker then
        torch.manual_seed(hash(tuple(seeds)) % 2**62)
        losses = _map_groups(lambda ids: _train_group(
            nets[ids[0]:ids[-1] + 1], train if len(ids) == m else train.select(ids), config,
            seeds[ids[0]:ids[-1] + 1], device, bar), train, m, chunk,
            workers if _plan(nets[0]) else 1, device)
    if bar is not None:
        bar.close()
    return nets, {"loss": torch.cat(losses), "seconds": time.perf_counter() - start}


@torch.inference_mode()
def _predict(nets, view, batch_size: int):
    """Predictions and labels, both (M, N); ``batch_size`` (model, image) pairs per forward."""
    base, plan, m = nets[0], _plan(nets[0]), len(nets)
    params = {k: v.detach() for k, v in stack_module_state(nets)[0].items()}
    device, per = _probe(view).device, max(1, batch_size // m)
    preds, labels = [], []
    for i in range(0, view.n, per):
        xb, yb = view(torch.arange(i, min(i + per, view.n), device=device).expand(m, -1))
        preds.append(_forward(base, plan, params, xb, None, device.type == "cpu").argmax(-1))
        labels.append(yb)
    return torch.cat(preds, 1), torch.cat(labels, 1)


def evaluate_many(models_: list[nn.Module], test: Views, num_classes: int, batch_size: int = 4096,
                  *, workers: int | None = None) -> list[Metrics]:
    """:func:`roarkit.train.evaluate` of model m on view m of ``test``, batched across models
    (``batch_size`` counts (model, image) pairs per forward; ``workers`` as in train_many)."""
    m = len(models_)
    if test.m != m:
        raise ValueError(f"{m} models for a view of {test.m} models")
    device = next(models_[0].parameters()).device
    if _probe(test).device != device:
        test = test.to(device)
    out = _map_groups(lambda ids: _predict(models_[ids[0]:ids[-1] + 1],
                                           test if len(ids) == m else test.select(ids),
                                           batch_size * len(ids) // m), test, m, m, workers, device)
    pred, y = torch.cat([p for p, _ in out]), torch.cat([t for _, t in out])
    if y.numel() and int(max(y.max(), pred.max())) >= num_classes:
        raise ValueError(f"labels or predictions exceed num_classes={num_classes}")
    return [metrics_from_predictions(y[j], pred[j], num_classes) for j in range(m)]


def fit_many(model_name: str, train: Views, test: Views, config: TrainConfig, seeds: Sequence[int],
             *, num_classes: int, model_kwargs: dict | None = None, device=None, progress=None,
             chunk: int | None = None, workers: int | None = None) -> list[TrainResult]:
    """:func:`roarkit.train.fit` for many seeds at once (:func:`train_many` then
    :func:`evaluate_many`); each result's ``seconds`` is the batched wall time divided by M."""
    kw = {"num_classes": num_classes, **(model_kwargs or {})}
    nets, hist = train_many(model_name, train, config, seeds, model_kwargs=kw, device=device,
                            progress=progress, chunk=chunk, workers=workers)
    each = hist["seconds"] / len(nets)
    return [TrainResult(metrics=mt, seconds=each, history={"loss": loss.tolist(), "seconds": each,
                                                           "batched_models": len(nets)},
                        state_dict={k: v.detach().cpu().clone() for k, v in net.state_dict().items()})
            for net, mt, loss in zip(nets, evaluate_many(nets, test, num_classes, workers=workers),
                                     hist["loss"])]

"""The lock-step engine: train many small CNNs at once: M independent models advance in lock-step, one batched step each.

Model m gets what :func:`roarkit.core.training.train` gives it with seed ``seeds[m]`` (initial weights,
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
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import grad_and_value, stack_module_state

from roarkit.core import models
from roarkit.core.device import resolve_device
from roarkit.core.engine.optim import StackedOptimizer
from roarkit.core.engine.stacked import forward, mask_format, plan, record
from roarkit.core.engine.views import Views, probe
from roarkit.core.training import Metrics, TrainConfig, TrainResult, metrics_from_predictions, show_progress

__all__ = ["CPU_GROUP", "groups", "auto_chunk", "map_groups", "train_group", "train_many", "predict_group", "evaluate_many", "fit_many"]


#: Models per lock-step group on the CPU: 8-27 measured best (cache-bound); 55 was 15% slower.
CPU_GROUP = 16


def groups(m: int, size: int, parts: int | None = None) -> list[list[int]]:
    """Model indices ``0..m-1`` in contiguous near-equal groups of at most ``size`` models (exactly
    ``parts`` groups when given)."""
    g = min(m, parts or -(-m // max(size, 1)))
    return [list(range(j * m // g, (j + 1) * m // g)) for j in range(g)]


def auto_chunk(net: nn.Module, view, batch_size: int, device: torch.device, m: int) -> int:
    """All models on the CPU; on CUDA as many as fit in half the free memory, by a rough count of
    parameters (x5: weights, grads, optimizer state) and activations (x4: saved, grads, scratch)."""
    if device.type != "cuda":
        return m
    acts = record(net, probe(view, batch_size), (nn.Conv2d, nn.Linear, nn.MaxPool2d, nn.ReLU),
                   lambda i, o: o.numel())
    per_model = 4 * (5 * sum(p.numel() for p in net.parameters()) + 4 * sum(acts.values()))
    return max(1, min(m, int(0.5 * torch.cuda.mem_get_info(device)[0] // per_model)))


def map_groups(fn, view, m: int, chunk: int, workers: int | None, device) -> list:
    """``fn(ids)`` over contiguous groups of models: chunks of ``chunk`` on CUDA; on the CPU a
    multiple of ``workers`` near-equal groups of <= :data:`CPU_GROUP` models, ``workers`` at a time in
    threads of ONE intra-op thread each."""
    cpu, threads = device.type == "cpu", torch.get_num_threads()
    workers = max(1, min(m, workers or threads)) if cpu else 1
    if not hasattr(view, "select"):
        if chunk < m:
            raise ValueError(f"chunk={chunk} < {m} models needs a view with .select(ids)")
        return [fn(list(range(m)))]
    size = min(CPU_GROUP, -(-chunk // workers)) if cpu else chunk
    parts = groups(m, size, -(-m // (size * workers)) * workers if cpu else None)
    if min(workers, len(parts)) == 1:
        return [fn(ids) for ids in parts]
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(fn, parts))
    finally:
        torch.set_num_threads(threads)


def train_group(nets, view, config, seeds, device, bar):
    base, layers, m, n, bs = nets[0], plan(nets[0]), len(seeds), view.n, config.batch_size
    params = {k: v.detach() for k, v in stack_module_state(nets)[0].items()}
    names, plist = list(params), list(params.values())
    opt = StackedOptimizer(config, plist)
    shuffles = [torch.Generator().manual_seed(s) for s in seeds]  # as train.train draws them
    has_dropout = any(isinstance(mod, nn.Dropout) for mod in base.modules())
    gens = [torch.Generator(device).manual_seed(s) for s in seeds] if has_dropout else []
    fmts = record(base, probe(view, min(bs, n)), nn.Dropout, mask_format) if has_dropout else None
    nhwc = device.type == "cpu"

    def loss_fn(p, xb, yb):
        logits = forward(base, layers, p, xb, gens, nhwc, fmts)
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
    start, x = time.perf_counter(), probe(train)
    device = resolve_device(device) if device is not None else x.device
    if x.device != device:
        train = train.to(device)
    kw = {"in_channels": x.shape[1], "image_size": x.shape[-1], **(model_kwargs or {})}
    nets = [models.build(model_name, seed=s, device=device, **kw) for s in seeds]
    chunk = min(m, chunk or auto_chunk(nets[0], train, config.batch_size, device, m))
    bar = None
    if show_progress(progress):
        from tqdm.auto import tqdm
        bar = tqdm(total=config.epochs * m, desc=f"{model_name} x{m}", unit="model-epoch")
    with torch.random.fork_rng():  # only vmap-fallback dropout uses the global RNG: 1 worker then
        torch.manual_seed(hash(tuple(seeds)) % 2**62)
        losses = map_groups(lambda ids: train_group(
            nets[ids[0]:ids[-1] + 1], train if len(ids) == m else train.select(ids), config,
            seeds[ids[0]:ids[-1] + 1], device, bar), train, m, chunk,
            workers if plan(nets[0]) else 1, device)
    if bar is not None:
        bar.close()
    return nets, {"loss": torch.cat(losses), "seconds": time.perf_counter() - start}


@torch.inference_mode()
def predict_group(nets, view, batch_size: int):
    """Predictions and labels, both (M, N); ``batch_size`` (model, image) pairs per forward."""
    base, layers, m = nets[0], plan(nets[0]), len(nets)
    params = {k: v.detach() for k, v in stack_module_state(nets)[0].items()}
    device, per = probe(view).device, max(1, batch_size // m)
    preds, labels = [], []
    for i in range(0, view.n, per):
        xb, yb = view(torch.arange(i, min(i + per, view.n), device=device).expand(m, -1))
        preds.append(forward(base, layers, params, xb, None, device.type == "cpu").argmax(-1))
        labels.append(yb)
    return torch.cat(preds, 1), torch.cat(labels, 1)


def evaluate_many(models_: list[nn.Module], test: Views, num_classes: int, batch_size: int = 4096,
                  *, workers: int | None = None) -> list[Metrics]:
    """:func:`roarkit.core.training.evaluate` of model m on view m of ``test``, batched across models
    (``batch_size`` counts (model, image) pairs per forward; ``workers`` as in train_many)."""
    m = len(models_)
    if test.m != m:
        raise ValueError(f"{m} models for a view of {test.m} models")
    device = next(models_[0].parameters()).device
    if probe(test).device != device:
        test = test.to(device)
    out = map_groups(lambda ids: predict_group(models_[ids[0]:ids[-1] + 1],
                                           test if len(ids) == m else test.select(ids),
                                           batch_size * len(ids) // m), test, m, m, workers, device)
    pred, y = torch.cat([p for p, _ in out]), torch.cat([t for _, t in out])
    if y.numel() and int(max(y.max(), pred.max())) >= num_classes:
        raise ValueError(f"labels or predictions exceed num_classes={num_classes}")
    return [metrics_from_predictions(y[j], pred[j], num_classes) for j in range(m)]


def fit_many(model_name: str, train: Views, test: Views, config: TrainConfig, seeds: Sequence[int],
             *, num_classes: int, model_kwargs: dict | None = None, device=None, progress=None,
             chunk: int | None = None, workers: int | None = None) -> list[TrainResult]:
    """:func:`roarkit.core.training.fit` for many seeds at once (:func:`train_many` then
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

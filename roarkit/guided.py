"""One trainer for the three trainings of the SGT chapter: traditional, SGT and SMOOT.

Mirrors :func:`roarkit.train.train`: tensors stay on the device (no DataLoader, no per-sample
Python), each epoch visits a fresh permutation from a CPU generator seeded with ``seed``, dropout
draws from a forked global RNG seeded with ``seed``, and the masking noise from its own generator.
Weights are kept channels-last (faster oneDNN convolutions). For SGT / SMOOT, ``x`` and ``x̃`` go through the network as one batch of 2·B (the same as two
forward passes for this dropout-only network).

Model selection never sees the test set: :func:`split_validation` holds out a stratified part of
the training images and :func:`fit` keeps the weights of the epoch with the best validation accuracy
(the official SGT code instead keeps the epoch with the best *test* accuracy).
"""
from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from torch import nn

from roarkit import models, sgt, smoot, train

__all__ = ["TRAININGS", "split_validation", "train_guided", "fit"]

TRAININGS = ("traditional", "sgt", "smoot")


def split_validation(y: torch.Tensor, fraction: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Stratified (train, validation) positions: ``round(fraction · n_c)`` images of each class c to
    validation (at least one when the class has two or more), chosen with ``seed``; both sorted."""
    if not 0 < fraction < 1:
        raise ValueError(f"val_fraction must lie strictly between 0 and 1, got {fraction!r}")
    g = torch.Generator().manual_seed(seed)
    y = y.cpu()
    val = []
    for c in torch.unique(y):
        pos = torch.nonzero(y == c).flatten()
        n_val = int(round(fraction * len(pos)))
        n_val = min(len(pos) - 1, max(1, n_val)) if len(pos) > 1 else 0
        val.append(pos[torch.randperm(len(pos), generator=g)[:n_val]])
    val = torch.sort(torch.cat(val)).values
    keep = torch.ones(len(y), dtype=torch.bool)
    keep[val] = False
    return torch.nonzero(keep).flatten(), val


def _check(model, x, y):
    if len(x) != len(y):
        raise ValueError(f"x and y differ in length: {len(x)} vs {len(y)}")
    if len(x) == 0:
        raise ValueError("cannot train on an empty set")
    param = next(model.parameters(), None)
    if param is not None and param.device != x.device:
        raise ValueError(f"x is on {x.device} but the model is on {param.device}; "
                         "move the data to the model's device once, before training")


def train_guided(model: nn.Module, x: torch.Tensor, y: torch.Tensor, config: train.TrainConfig, *,
                 training: str = "sgt", sgt_config: sgt.SGTConfig = sgt.SGTConfig(),
                 smoot_config: smoot.SMOOTConfig = smoot.SMOOTConfig(), seed: int,
                 x_val: torch.Tensor | None = None, y_val: torch.Tensor | None = None,
                 progress=None) -> dict:
    """Train ``model`` in place; returns the history and, for SMOOT, the :class:`~roarkit.smoot.MaskBook`.

    With a validation set, the model ends with the weights of the epoch of best validation accuracy
    (ties: the earliest). History: per-epoch ``loss``, ``ce``, ``kl``, ``val_accuracy``, ``seconds``.
    """
    if training not in TRAININGS:
        raise ValueError(f"training must be one of {', '.join(TRAININGS)}, got {training!r}")
    _check(model, x, y)
    model.to(memory_format=torch.channels_last)  # ~20 % faster convolutions on CPU; same values
    device, n, bs = x.device, len(x), config.batch_size
    pixels = x.shape[2] * x.shape[3]
    y = y.to(device)
    shuffle = torch.Generator().manual_seed(seed)
    noise = torch.Generator(device=device).manual_seed(seed + 7919)
    optimizer = config.make_optimizer(model.parameters())
    book = smoot.MaskBook(n, smoot_config, device=device) if training == "smoot" else None
    k_fixed = sgt.n_masked(sgt_config.k, pixels)
    hist = {"loss": [], "ce": [], "kl": [], "val_accuracy": [], "seconds": []}
    best = (-1.0, None, -1)
    epochs = range(config.epochs)
    if train._show_progress(progress):
        from tqdm.auto import tqdm
        epochs = tqdm(epochs, desc=training, unit="epoch")
    model.train()
    try:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            for epoch in epochs:
                t0 = time.perf_counter()
                order = torch.randperm(n, generator=shuffle).to(device)
                tot = torch.zeros(3, device=device)
                for i in range(0, n, bs):
                    idx = order[i:i + bs]
                    xb, yb = x[idx], y[idx]
                    if training == "traditional":
                        ce = F.cross_entropy(model(xb), yb)
                        loss, kl = ce, torch.zeros((), device=device)
                    else:
                        grad, logits_eval = sgt.input_gradient(model, xb, yb)
                        k = book.k(idx, pixels) if book is not None else k_fixed
                        xt = sgt.mask_lowest(xb, grad, k, sgt_config.rank_by, noise)
                        if book is not None:
                            model.eval()
                            with torch.no_grad():
                                q = F.softmax(model(xt), 1)
                            model.train()
                            delta = smoot.output_change(F.softmax(logits_eval, 1), q, smoot_config.alpha,
                                                        smoot_config.top_n)
                            book.update(idx, delta)
                        out = model(torch.cat([xb, xt]))
                        loss, ce, kl = sgt.sgt_loss(out[:len(idx)], out[len(idx):], yb, sgt_config.lam)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    tot += torch.stack([loss.detach(), ce.detach(), kl.detach()]) * len(idx)
                tot = (tot / n).tolist()  # one device sync per epoch
                for key, v in zip(("loss", "ce", "kl"), tot):
                    hist[key].append(v)
                if book is not None:
                    book.end_epoch()
                if x_val is not None:
                    acc = train.evaluate(model, x_val, y_val.to(device)).accuracy
                    hist["val_accuracy"].append(acc)
                    if acc > best[0]:
                        best = (acc, {k_: v.detach().clone() for k_, v in model.state_dict().items()}, epoch)
                    model.train()
                hist["seconds"].append(time.perf_counter() - t0)
                if hasattr(epochs, "set_postfix"):
                    epochs.set_postfix(loss=f"{tot[0]:.4f}")
    finally:
        model.eval()
        if hasattr(epochs, "close"):
            epochs.close()
    if best[1] is not None:
        model.load_state_dict(best[1])
    hist["selected_epoch"] = best[2] if best[1] is not None else config.epochs - 1
    return {"history": hist, "book": book}


def fit(data, training: str, config: train.TrainConfig, *, seed: int, val_fraction: float = 0.1,
        split_seed: int = 0, sgt_config: sgt.SGTConfig = sgt.SGTConfig(),
        smoot_config: smoot.SMOOTConfig = smoot.SMOOTConfig(), model_name: str = "sgt", device=None,
        progress=None) -> dict:
    """Build ``model_name`` for ``data`` (a :class:`roarkit.data.Dataset`), hold out ``val_fraction`` of
    its training images (stratified, ``split_seed``), train with :func:`train_guided`, and evaluate the
    selected weights on the test split. Returns a dict for the results store (CPU weights included)."""
    device = torch.device(device if device is not None else data.device)
    c, h, _ = data.image_shape
    model = models.build(model_name, seed=seed, in_channels=c, image_size=h, num_classes=data.num_classes,
                         device=device)
    tr, va = split_validation(data.y_train, val_fraction, split_seed)
    x, y = data.x_train.to(device), data.y_train.to(device)
    tr, va = tr.to(device), va.to(device)
    start = time.perf_counter()
    out = train_guided(model, x[tr], y[tr], config, training=training, sgt_config=sgt_config,
                       smoot_config=smoot_config, seed=seed, x_val=x[va], y_val=y[va], progress=progress)
    seconds = time.perf_counter() - start
    metrics = train.evaluate(model, data.x_test.to(device), data.y_test.to(device), data.num_classes)
    value = {"metrics": metrics.as_dict(), "history": out["history"], "seconds": seconds,
             "n_train": len(tr), "n_val": len(va),
             "state_dict": {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}}
    if out["book"] is not None:
        value["smoot"] = out["book"].summary(h * data.image_shape[2])
    return value

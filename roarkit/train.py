"""A short, fast, deterministic trainer (airbench style: tensors stay on the device, no DataLoader).

The papers' choices are the defaults of :class:`TrainConfig` callers pass in: the ROAR report
trains :class:`~roarkit.models.RoarNet` 10 epochs with SGD lr 1e-3 momentum 0.9; SGT / SMOOT train
:class:`~roarkit.models.SGTNet` with Adadelta lr 1.0 as in the PyTorch MNIST example.

Determinism: same seed → bitwise-identical weights on the CPU. Shuffling uses its own CPU
``torch.Generator``; dropout draws from a forked global RNG seeded with ``seed``, so the caller's
RNG state is untouched.
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from . import models

__all__ = ["TrainConfig", "Metrics", "TrainResult", "train", "evaluate", "predict", "fit"]

OPTIMIZERS = ("sgd", "adadelta", "adam")


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters. Defaults: the ROAR report (10 epochs, SGD lr 1e-3, momentum 0.9)."""

    epochs: int = 10
    batch_size: int = 64
    optimizer: str = "sgd"  # "sgd" | "adadelta" | "adam"
    lr: float = 1e-3
    momentum: float = 0.9  # used by sgd only
    weight_decay: float = 0.0

    def __post_init__(self):
        def bad(name, allowed):
            value = getattr(self, name)
            raise ValueError(f"TrainConfig.{name} must be {allowed}, got {value!r}")

        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                bad(name, "an integer >= 1")
        if self.optimizer not in OPTIMIZERS:
            bad("optimizer", "one of " + ", ".join(repr(o) for o in OPTIMIZERS))
        if not _is_number(self.lr) or not self.lr > 0:
            bad("lr", "a number > 0")
        if not _is_number(self.momentum) or not 0 <= self.momentum < 1:
            bad("momentum", "a number with 0 <= momentum < 1")
        if not _is_number(self.weight_decay) or not self.weight_decay >= 0:
            bad("weight_decay", "a number >= 0")

    def as_dict(self) -> dict:
        return asdict(self)

    def make_optimizer(self, params) -> torch.optim.Optimizer:
        if self.optimizer == "sgd":
            return torch.optim.SGD(params, lr=self.lr, momentum=self.momentum,
                                   weight_decay=self.weight_decay)
        if self.optimizer == "adadelta":
            return torch.optim.Adadelta(params, lr=self.lr, weight_decay=self.weight_decay)
        return torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass
class Metrics:
    """Classification metrics; ``confusion[i][j]`` counts true class i predicted as j."""

    accuracy: float  # fraction in [0, 1]
    precision: list[float]  # per class; 0.0 for a class never predicted
    recall: list[float]  # per class; 0.0 for a class absent
    confusion: list[list[int]]
    n: int

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainResult:
    """What :func:`fit` returns: test-set metrics, training history and CPU weights."""

    metrics: Metrics
    history: dict
    seconds: float
    state_dict: dict = field(repr=False)

    def as_dict(self) -> dict:
        """JSON-able summary without the weights."""
        return {"metrics": self.metrics.as_dict(), "history": dict(self.history),
                "seconds": self.seconds}


def _show_progress(progress) -> bool:
    if progress is None:
        return sys.stderr.isatty() and not os.environ.get("CI")
    return bool(progress)


def train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, config: TrainConfig, *,
          seed: int, progress=None, desc: str = "train") -> dict:
    """Train ``model`` in place on ``x``, ``y`` (already on the model's device).

    Each epoch visits a fresh permutation (last partial batch kept) drawn from a CPU generator
    seeded once with ``seed``. Returns ``{"loss": [mean loss per epoch], "seconds": float}``.
    """
    if len(x) != len(y):
        raise ValueError(f"x and y differ in length: {len(x)} vs {len(y)}")
    if len(x) == 0:
        raise ValueError("cannot train on an empty set")
    device = x.device
    param = next(model.parameters(), None)
    if param is not None and param.device != device:
        raise ValueError(f"x is on {device} but the model is on {param.device}; "
                         "move the data to the model's device once, before training")
    y = y.to(device)
    n, bs = len(x), config.batch_size
    shuffle = torch.Generator().manual_seed(seed)
    optimizer = config.make_optimizer(model.parameters())
    epochs = range(config.epochs)
    if _show_progress(progress):
        from tqdm.auto import tqdm
        epochs = tqdm(epochs, desc=desc, unit="epoch")
    losses = []
    start = time.perf_counter()
    model.train()
    try:
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            for _ in epochs:
                order = torch.randperm(n, generator=shuffle).to(device)
                total = torch.zeros((), device=device)
                for i in range(0, n, bs):
                    idx = order[i:i + bs]
                    loss = F.cross_entropy(model(x[idx]), y[idx])
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    total += loss.detach() * len(idx)
                losses.append(total.item() / n)  # one device sync per epoch
                if hasattr(epochs, "set_postfix"):
                    epochs.set_postfix(loss=f"{losses[-1]:.4f}")
    finally:
        model.eval()
        if hasattr(epochs, "close"):
            epochs.close()
    return {"loss": losses, "seconds": time.perf_counter() - start}


def _predict(model: nn.Module, x: torch.Tensor, batch_size: int) -> tuple[torch.Tensor, int]:
    """Predicted labels and the logits' width, computed in eval mode without autograd."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            logits = [model(x[i:i + batch_size]) for i in range(0, max(len(x), 1), batch_size)]
    finally:
        model.train(was_training)
    width = logits[0].shape[1]
    return torch.cat([out.argmax(1) for out in logits])[:len(x)], width


def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
    """Predicted labels (argmax of the logits), in eval mode, on ``x``'s device."""
    return _predict(model, x, batch_size)[0]


def metrics_from_predictions(y: torch.Tensor, pred: torch.Tensor, num_classes: int) -> Metrics:
    """Accuracy, per-class precision/recall and confusion matrix from labels and predictions."""
    y, pred = y.long().flatten(), pred.long().to(y.device).flatten()
    if len(y) != len(pred):
        raise ValueError(f"y and pred differ in length: {len(y)} vs {len(pred)}")
    k = num_classes
    conf = torch.bincount(y * k + pred, minlength=k * k).reshape(k, k).cpu()
    correct = conf.diag().double()
    predicted, actual = conf.sum(0).double(), conf.sum(1).double()
    precision = torch.where(predicted > 0, correct / predicted.clamp(min=1), 0.0)
    recall = torch.where(actual > 0, correct / actual.clamp(min=1), 0.0)
    n = len(y)
    return Metrics(accuracy=correct.sum().item() / n if n else 0.0,
                   precision=precision.tolist(), recall=recall.tolist(),
                   confusion=conf.tolist(), n=n)


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, num_classes: int | None = None,
             batch_size: int = 4096) -> Metrics:
    """Metrics of ``model`` on ``x``, ``y``; ``num_classes`` defaults to the model's output width."""
    pred, width = _predict(model, x, batch_size)
    num_classes = width if num_classes is None else num_classes
    if len(y) and int(max(y.max(), pred.max())) >= num_classes:
        raise ValueError(f"labels or predictions exceed num_classes={num_classes}")
    return metrics_from_predictions(y.to(pred.device), pred, num_classes)


def fit(model_name: str, data, config: TrainConfig, *, seed: int, device=None,
        progress=None) -> TrainResult:
    """Build ``model_name`` for ``data`` (a :class:`roarkit.data.Dataset`), train it on the train
    split and evaluate it on the test split, all on ``device`` (default: the data's device)."""
    device = torch.device(device if device is not None else getattr(data, "device", "cpu"))
    c, h, _ = data.image_shape
    model = models.build(model_name, seed=seed, in_channels=c, image_size=h,
                         num_classes=data.num_classes, device=device)
    x_train, y_train = data.x_train.to(device), data.y_train.to(device)
    history = train(model, x_train, y_train, config, seed=seed, progress=progress,
                    desc=f"{model_name} seed {seed}")
    metrics = evaluate(model, data.x_test.to(device), data.y_test.to(device), data.num_classes)
    state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
    return TrainResult(metrics=metrics, history=history, seconds=history["seconds"],
                       state_dict=state)


#: The modules whose code a stored training unit depends on (see :func:`roarkit.results.code_version`).
CODE = ("train",)


def fit_cached(store, model_name: str, data, config: TrainConfig, *, seed: int, progress=None):
    """:func:`fit` as a unit of the results store (kind ``train``): trained once per model, config,
    seed, data and code version, then read back. The value holds metrics, history, seconds and the
    CPU state_dict; pages and the ROAR grid share these units."""
    def compute():
        r = fit(model_name, data, config, seed=seed, progress=progress)
        return {"metrics": r.metrics.as_dict(), "history": r.history, "seconds": r.seconds,
                "state_dict": r.state_dict}
    return store.cached("train", {"model": model_name, "config": config.as_dict(), "seed": seed}, data.info,
                        compute, device=getattr(data, "device", "cpu"), code=CODE)

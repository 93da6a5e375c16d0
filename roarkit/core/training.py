"""A short, fast, deterministic trainer (airbench style: tensors stay on the device, no DataLoader).

The papers' choices are the defaults of :class:`TrainConfig` callers pass in: the ROAR report
trains :class:`~roarkit.core.models.RoarNet` 10 epochs with SGD lr 1e-3 momentum 0.9; SGT / SMOOT train
:class:`~roarkit.core.models.SGTNet` with Adadelta lr 1.0 as in the PyTorch MNIST example.

Determinism: same seed → bitwise-identical weights on the CPU. Shuffling uses its own CPU
``torch.Generator``; dropout draws from a forked global RNG seeded with ``seed``, so the caller's
RNG state is untouched.
"""
from __future__ import annotations

import os
import sys
import time
import uuid
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from roarkit.core import models

__all__ = ["OPTIMIZERS", "CHECKPOINT_SECONDS", "TrainConfig", "Metrics", "TrainResult", "show_progress", "Step",
           "train", "split_validation", "predict", "metrics_from_predictions", "evaluate", "fit"]

OPTIMIZERS = ("sgd", "adadelta", "adam")
CHECKPOINT_SECONDS = 120.0  # at most one checkpoint write per this many seconds of training


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
    """What :func:`fit` returns: test-set metrics, training history, CPU weights and the step's extras."""

    metrics: Metrics
    history: dict
    seconds: float
    state_dict: dict = field(repr=False)
    n_train: int = 0
    n_val: int = 0
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        """JSON-able summary without the weights."""
        return {"metrics": self.metrics.as_dict(), "history": dict(self.history), "seconds": self.seconds}

    def value(self) -> dict:
        """Everything, weights included, as a results-store value."""
        return {"metrics": self.metrics.as_dict(), "history": self.history, "seconds": self.seconds,
                "n_train": self.n_train, "n_val": self.n_val, "state_dict": self.state_dict, **self.extra}


def show_progress(progress) -> bool:
    """Whether to draw tqdm bars: ``progress`` when given, else only on an interactive terminal outside CI."""
    if progress is None:
        return sys.stderr.isatty() and not os.environ.get("CI")
    return bool(progress)


class Step:
    """One training step of plain supervised training: the cross-entropy of the batch (d2l's
    ``training_step``). Variants (SGT, SMOOT: :mod:`roarkit.core.sgt`, :mod:`roarkit.core.smoot`) override
    :meth:`__call__` and the hooks; the loop in :func:`train` stays the same.

    ``terms``: the names of the loss terms ``__call__`` returns, the first being the one minimised;
    :func:`train` records the mean of each per epoch."""

    terms: tuple[str, ...] = ("loss",)

    def begin(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, seed: int) -> None:
        """Called once before the first epoch with the whole training set."""

    def __call__(self, model: nn.Module, xb: torch.Tensor, yb: torch.Tensor, idx: torch.Tensor) -> tuple:
        """The loss terms of the batch ``xb``, ``yb`` (training-set positions ``idx``), model in train mode."""
        return (F.cross_entropy(model(xb), yb),)

    def end_epoch(self) -> None:
        """Called after every epoch."""

    def result(self) -> dict:
        """What the step keeps beside the weights, for the results store (``{}`` for plain training)."""
        return {}

    def state(self) -> dict:
        """The step's state after an epoch (its RNGs, SMOOT's per-image K), for a checkpoint."""
        return {}

    def load_state(self, state: dict) -> None:
        """Restore :meth:`state` (called after :meth:`begin` when a training resumes)."""


def train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, config: TrainConfig, *, seed: int,
          step: Step | None = None, x_val: torch.Tensor | None = None, y_val: torch.Tensor | None = None,
          channels_last: bool = False, progress=None, desc: str = "train", checkpoint=None,
          checkpoint_seconds: float = CHECKPOINT_SECONDS) -> dict:
    """Train ``model`` in place on ``x``, ``y`` (already on the model's device): the book's one loop.

    Each epoch visits a fresh permutation (last partial batch kept) drawn from a CPU generator seeded
    once with ``seed``; dropout draws from a forked global RNG seeded with ``seed``. ``step`` (default:
    cross-entropy) computes each batch's loss terms. With a validation set the model ends with the
    weights of the epoch of best validation accuracy (ties: the earliest). ``channels_last``: NHWC
    weights (faster oneDNN convolutions; the SGT chapter's models).

    ``checkpoint``: a file where the training's whole state (weights, optimiser, both RNGs, the step's
    state, history, best epoch) is written after an epoch, at most every ``checkpoint_seconds``
    (atomically); when the file exists at the start, training resumes after its epoch. A resumed
    training ends bitwise equal to an uninterrupted one on the CPU. The caller deletes the file when
    the result is safe (the results store does, after writing the unit).

    Returns the history: per epoch the mean of each of ``step.terms`` and ``seconds``, plus
    ``val_accuracy`` and ``selected_epoch`` (0-based) with a validation set.
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
    step = step or Step()
    if channels_last:
        model.to(memory_format=torch.channels_last)
    y = y.to(device)
    n, bs = len(x), config.batch_size
    shuffle = torch.Generator().manual_seed(seed)
    optimizer = config.make_optimizer(model.parameters())
    hist: dict = {t: [] for t in step.terms} | {"seconds": []}
    if x_val is not None:
        hist["val_accuracy"] = []
    best = (-1.0, None, -1)
    signature = {"config": config.as_dict(), "seed": seed, "n": n, "step": type(step).__name__,
                 "val": None if x_val is None else len(x_val)}
    epochs = range(config.epochs)
    model.train()
    try:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            step.begin(model, x, y, seed)
            state = _read_checkpoint(checkpoint, signature)
            if state is not None:
                model.load_state_dict(state["model"])
                optimizer.load_state_dict(state["optimizer"])
                shuffle.set_state(state["shuffle"])
                torch.set_rng_state(state["rng"])
                if device.type == "cuda":
                    torch.cuda.set_rng_state(state["cuda_rng"], device)
                step.load_state(state["step"])
                hist, best = state["hist"], (state["best_accuracy"], state["best_weights"], state["best_epoch"])
                epochs = range(state["epoch"] + 1, config.epochs)
            if show_progress(progress):
                from tqdm.auto import tqdm
                epochs = tqdm(epochs, desc=desc, unit="epoch", initial=epochs.start, total=config.epochs)
            saved = time.perf_counter()
            for epoch in epochs:
                t0 = time.perf_counter()
                order = torch.randperm(n, generator=shuffle).to(device)
                total = torch.zeros(len(step.terms), device=device)
                for i in range(0, n, bs):
                    idx = order[i:i + bs]
                    terms = step(model, x[idx], y[idx], idx)
                    optimizer.zero_grad(set_to_none=True)
                    terms[0].backward()
                    optimizer.step()
                    total += torch.stack([t.detach() for t in terms]) * len(idx)
                for name, v in zip(step.terms, total.tolist()):  # one device sync per epoch
                    hist[name].append(v / n)
                step.end_epoch()
                if x_val is not None:
                    acc = evaluate(model, x_val, y_val.to(device)).accuracy
                    hist["val_accuracy"].append(acc)
                    if acc > best[0]:
                        best = (acc, {k: v.detach().clone() for k, v in model.state_dict().items()}, epoch)
                    model.train()
                hist["seconds"].append(time.perf_counter() - t0)
                if hasattr(epochs, "set_postfix"):
                    epochs.set_postfix(loss=f"{hist[step.terms[0]][-1]:.4f}")
                if (checkpoint and epoch + 1 < config.epochs
                        and time.perf_counter() - saved >= checkpoint_seconds):
                    _write_checkpoint(checkpoint, {
                        "signature": signature, "epoch": epoch, "model": model.state_dict(),
                        "optimizer": optimizer.state_dict(), "shuffle": shuffle.get_state(),
                        "rng": torch.get_rng_state(),
                        **({"cuda_rng": torch.cuda.get_rng_state(device)} if device.type == "cuda" else {}),
                        "step": step.state(), "hist": hist, "best_accuracy": best[0], "best_weights": best[1],
                        "best_epoch": best[2]})
                    saved = time.perf_counter()
    finally:
        model.eval()
        if hasattr(epochs, "close"):
            epochs.close()
    if x_val is not None:
        model.load_state_dict(best[1])
        hist["selected_epoch"] = best[2]
    return hist


def _read_checkpoint(path, signature: dict) -> dict | None:
    """The checkpoint at ``path`` if it exists and belongs to this training (same ``signature``)."""
    if not path or not Path(path).is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if state.get("signature") != signature:
            raise ValueError(f"it belongs to another training ({state.get('signature')}, this one {signature})")
    except Exception as e:
        warnings.warn(f"training checkpoint {path} not used ({type(e).__name__}: {e}); training from the start",
                      RuntimeWarning, stacklevel=3)
        return None
    return state


def _write_checkpoint(path, state: dict) -> None:
    """``torch.save`` of ``state`` to ``path`` through a temporary file and a rename (never half-written)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


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


def fit(model_name: str, data, config: TrainConfig, *, seed: int, step: Step | None = None,
        val_fraction: float = 0.0, split_seed: int = 0, channels_last: bool = False, device=None,
        progress=None, checkpoint=None) -> TrainResult:
    """Build ``model_name`` for ``data`` (a :class:`roarkit.core.data.Dataset`), train it with :func:`train`
    and evaluate it on the test split, all on ``device`` (default: the data's device).

    ``val_fraction`` > 0 holds out that share of the training images (stratified, ``split_seed``) and
    keeps the epoch of best validation accuracy; 0 trains on every image and keeps the last epoch.
    ``checkpoint``: see :func:`train`."""
    device = torch.device(device if device is not None else getattr(data, "device", "cpu"))
    c, h, _ = data.image_shape
    model = models.build(model_name, seed=seed, in_channels=c, image_size=h,
                         num_classes=data.num_classes, device=device)
    x, y = data.x_train.to(device), data.y_train.to(device)
    val = {}
    if val_fraction:
        tr, va = (t.to(device) for t in split_validation(data.y_train, val_fraction, split_seed))
        x, y, val = x[tr], y[tr], {"x_val": x[va], "y_val": y[va]}
    step = step or Step()
    start = time.perf_counter()
    history = train(model, x, y, config, seed=seed, step=step, channels_last=channels_last, progress=progress,
                    desc=f"{model_name} seed {seed}", checkpoint=checkpoint, **val)
    seconds = time.perf_counter() - start
    metrics = evaluate(model, data.x_test.to(device), data.y_test.to(device), data.num_classes)
    state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
    return TrainResult(metrics=metrics, history=history, seconds=seconds, state_dict=state, n_train=len(x),
                       n_val=len(val.get("y_val", ())), extra=step.result())

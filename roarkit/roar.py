"""Remove And Retrain (ROAR) and Keep And Retrain (KAR), Hooker et al. (2019).

For a saliency method and a threshold t, every image loses exactly ``round(t/100 · H·W)`` pixels:
ROAR replaces the t % most important pixels with the dataset mean (0 after normalisation), KAR keeps
the t % most important and replaces the rest. A fresh model with the same seed is trained on the
modified training set and tested on the equally modified test set; the trained model is the one
after the last epoch (no early stopping, so model selection never sees the test set). Rankings come
from a base model trained with the same seed on the unmodified data.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass, field

import torch

from roarkit import attribution, engine, models, train
from roarkit.results import Store

MODES = ("roar", "kar")
#: The modules whose code the grid's stored units depend on (see :func:`roarkit.results.code_version`).
CODE = ("roar",)


def n_pixels(threshold: float, pixels: int) -> int:
    """Pixels per image that ROAR removes (KAR keeps) at ``threshold`` percent, exactly."""
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or not 0 < threshold < 100:
        raise ValueError(f"threshold must be a percentage strictly between 0 and 100, got {threshold!r}")
    return int(round(threshold / 100 * pixels))


def removal_mask(rank: torch.Tensor, threshold: float, mode: str = "roar") -> torch.Tensor:
    """Bool (N, P), True where a pixel is replaced: ROAR the top t %, KAR all but the top t %."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; known: {', '.join(MODES)}")
    k = n_pixels(threshold, rank.shape[1])
    top = rank.long() < k
    return top if mode == "roar" else ~top


def remove(x: torch.Tensor, rank: torch.Tensor, threshold: float, mode: str = "roar", fill: float = 0.0):
    """``x`` (N, C, H, W) with the pixels of :func:`removal_mask` set to ``fill`` in every channel."""
    mask = removal_mask(rank, threshold, mode).reshape(x.shape[0], 1, *x.shape[2:])
    return x.masked_fill(mask, fill)


@dataclass
class Grid:
    """One ROAR/KAR experiment grid on one dataset (every unit cached in the results store)."""

    data: object                              # roarkit.data.Dataset
    config: train.TrainConfig
    methods: tuple = ("ig", "random")
    thresholds: tuple = (10, 30, 50, 70, 90)
    seeds: tuple = (0, 1, 2, 3, 4)
    modes: tuple = ("roar",)
    attr: attribution.AttributionConfig = field(default_factory=attribution.AttributionConfig)
    model: str = "roar"
    store: Store = field(default_factory=Store)
    chunk: int | None = None                  # models trained at once by the engine (None: all)

    def __post_init__(self):
        for m in self.methods:
            attribution.check_method(m)
        for t in self.thresholds:
            n_pixels(t, 1)
        for mode in self.modes:
            if mode not in MODES:
                raise ValueError(f"unknown mode {mode!r}; known: {', '.join(MODES)}")
        self.pixels = self.data.image_shape[1] * self.data.image_shape[2]
        self._ranks: dict = {}

    def _params(self, **kw) -> dict:
        return {"model": self.model, "config": self.config.as_dict(), **kw}

    # -- base models ----------------------------------------------------------------------------
    def base(self) -> dict:
        """Seed → store entry of the base model (trained on unmodified data)."""
        missing = [s for s in self.seeds if self.data_get("train", self._params(seed=s)) is None]
        if missing:
            shared = engine.Shared(self.data.x_train, self.data.y_train, len(missing))
            test = engine.Shared(self.data.x_test, self.data.y_test, len(missing))
            self._fit_and_store("train", [self._params(seed=s) for s in missing], shared, test, missing)
        return {s: self.data_get("train", self._params(seed=s)) for s in self.seeds}

    def base_model(self, seed: int) -> torch.nn.Module:
        entry = self.base()[seed]
        c, h, _ = self.data.image_shape
        net = models.build(self.model, seed=seed, in_channels=c, image_size=h,
                           num_classes=self.data.num_classes, device=self.data.device)
        net.load_state_dict(entry.value["state_dict"])
        return net.eval()

    # -- rankings ---------------------------------------------------------------------------------
    def ranks(self, method: str, seed: int) -> dict:
        """Pixel ranks of train and test images under ``method``, from the base model of ``seed``."""
        key = (method, seed)
        if key not in self._ranks:
            params = {"method": method, "base": self._params(seed=seed), "attr": self.attr.as_dict()}

            def compute():
                net = None if method in attribution.CONTROLS else self.base_model(seed)
                out = {}
                for split in ("train", "test"):
                    x, y = getattr(self.data, f"x_{split}"), getattr(self.data, f"y_{split}")
                    a = attribution.attribute(net, x, y, method, self.attr, seed=seed * 2 + (split == "test"))
                    out[split] = attribution.ranks(attribution.scores(a), seed=seed)
                return out

            self._ranks[key] = self.store.cached("ranks", params, self.data.info, compute, device=self.data.device,
                                                 code=("attribution",))
        return {k: v.to(self.data.device) for k, v in self._ranks[key].value.items()}

    # -- retraining -----------------------------------------------------------------------------------
    def units(self):
        """Every (method, mode, threshold, seed) of the grid."""
        return [(m, mode, t, s) for m in self.methods for mode in self.modes for t in self.thresholds
                for s in self.seeds]

    def _unit_params(self, unit, control):
        m, mode, t, s = unit
        return self._params(seed=s, method=m, mode=mode, threshold=t, attr=self.attr.as_dict(),
                            input="mask" if control else "image")

    def run(self, control: bool = False) -> list[dict]:
        """Train every missing unit (in engine chunks), return one row per unit with its metrics.

        ``control=True`` trains on the binary removal mask alone (1 = kept, 0 = removed): if that
        predicts the class, the mask's shape leaks it (ROAD's critique of ROAR)."""
        self.base()
        units = self.units()
        todo = [u for u in units if self.data_get("roar", self._unit_params(u, control)) is None]
        step = self.chunk or len(todo) or 1
        for i in range(0, len(todo), step):
            part = todo[i:i + step]
            train_v, test_v = self._views(part, control)
            self._fit_and_store("roar", [self._unit_params(u, control) for u in part], train_v, test_v,
                                [u[3] for u in part])
        rows = []
        for u in units:
            e = self.data_get("roar", self._unit_params(u, control))
            m, mode, t, s = u
            rows.append({"dataset": self.data.name, "method": m, "mode": mode, "threshold": t, "seed": s,
                         "input": "mask" if control else "image", **_metrics_row(e.value["metrics"]),
                         "hit": e.hit})
        return rows

    def _views(self, part, control):
        """Engine views of a chunk of units: one shared image tensor, one ranking per (method, seed)."""
        pairs = sorted({(m, s) for m, _, _, s in part})
        group = torch.tensor([pairs.index((m, s)) for m, _, _, s in part], device=self.data.device)
        k = torch.tensor([n_pixels(t, self.pixels) for _, _, t, _ in part], device=self.data.device)
        keep = torch.tensor([mode == "kar" for _, mode, _, _ in part], device=self.data.device)
        views = []
        for split in ("train", "test"):
            x, y = getattr(self.data, f"x_{split}"), getattr(self.data, f"y_{split}")
            rank = torch.stack([self.ranks(m, s)[split] for m, s in pairs])
            src = torch.ones_like(x[:, :1]) if control else x
            views.append(engine.Masked(src, y, rank, k, keep=keep, fill=0.0, group=group))
        return views

    def _fit_and_store(self, kind, params_list, train_v, test_v, seeds):
        results = engine.fit_many(self.model, train_v, test_v, self.config, seeds,
                                  num_classes=self.data.num_classes,
                                  model_kwargs={"in_channels": train_v.x.shape[1], "image_size": train_v.x.shape[2]},
                                  chunk=self.chunk)
        for params, r in zip(params_list, results):
            value = {"metrics": r.metrics.as_dict(), "history": r.history, "seconds": r.seconds}
            if kind == "train":
                value["state_dict"] = r.state_dict
            self.store.put(kind, params, self.data.info, value, seconds=r.seconds, device=self.data.device,
                           code=CODE)

    def data_get(self, kind, params):
        return self.store.get(kind, params, self.data.info, code=CODE)


def _metrics_row(metrics: dict) -> dict:
    row = {"accuracy": metrics["accuracy"]}
    row |= {f"precision_{i}": p for i, p in enumerate(metrics["precision"])}
    return row

"""The ROAR/KAR grid of one dataset as units of the results store: base models, rankings, retrainings.

Units (results-store kinds): ``train`` (a base model on the unmodified data, trained by the lock-step
engine; same kind and parameters as :func:`roarkit.experiments.base_models.fit_cached`'s units, but keyed
by this module's code version, so the two never share an entry), ``ranks`` (one method's pixel ranks
of every training and test image, from the base model of a seed) and ``roar`` (one retraining on removed or
kept pixels). Missing retrainings are trained together by the lock-step engine, in chunks.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from roarkit.core import engine, models, removal, roar, saliency
from roarkit.core.saliency.gradients import CONTROLS, ESTIMATORS, AttributionConfig
from roarkit.core.training import TrainConfig
from roarkit.store import Store

__all__ = ["CODE", "CODE_RANKS", "Grid", "metrics_row"]

#: The modules whose code the grid's stored units depend on (see :func:`roarkit.store.code_version`).
CODE = ("roarkit.experiments.roar_grid",)
CODE_RANKS = ("roarkit.core.saliency.gradients", "roarkit.core.removal")


@dataclass
class Grid:
    """One ROAR/KAR experiment grid on one dataset (every unit cached in the results store)."""

    data: object                              # roarkit.core.data.Dataset
    config: TrainConfig
    methods: tuple = ("ig", "random")
    thresholds: tuple = (10, 30, 50, 70, 90)
    seeds: tuple = (0, 1, 2, 3, 4)
    modes: tuple = ("roar",)
    attr: AttributionConfig = field(default_factory=AttributionConfig)
    model: str = "roar"
    store: Store = field(default_factory=Store)
    chunk: int | None = None                  # models trained at once by the engine (None: all)

    def __post_init__(self):
        bad = [m for m in self.methods if m not in ESTIMATORS]
        if bad:
            raise ValueError(f"unknown saliency estimator(s) {bad}; known: {', '.join(ESTIMATORS)}")
        for t in self.thresholds:
            roar.n_pixels(t, 1)
        for mode in self.modes:
            roar.check_mode(mode)
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
                net = None if method in CONTROLS else self.base_model(seed)
                out = {}
                for split in ("train", "test"):
                    x, y = getattr(self.data, f"x_{split}"), getattr(self.data, f"y_{split}")
                    a = saliency.attribute(net, x, y, method, self.attr, seed=seed * 2 + (split == "test"))
                    out[split] = removal.ranks(removal.scores(a), seed)
                return out

            self._ranks[key] = self.store.cached("ranks", params, self.data.info, compute, device=self.data.device,
                                                 code=CODE_RANKS)
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
        """Train every missing unit (in engine chunks), return one row per unit with its metrics and
        ``hit`` (whether the unit was read back rather than trained by this call).

        ``control=True`` trains on the binary removal mask alone (1 = kept, 0 = removed): if that
        predicts the class, the mask's shape leaks it (ROAD's critique of ROAR)."""
        self.base()
        units = self.units()
        todo = [u for u in units if self.data_get("roar", self._unit_params(u, control)) is None]
        computed = set(todo)
        step = self.chunk or len(todo) or 1
        for i in range(0, len(todo), step):
            part = todo[i:i + step]
            train_v, test_v = (roar.views(getattr(self.data, f"x_{split}"), getattr(self.data, f"y_{split}"),
                                          {(m, s): self.ranks(m, s)[split] for m, _, _, s in part}, part,
                                          control=control) for split in ("train", "test"))
            self._fit_and_store("roar", [self._unit_params(u, control) for u in part], train_v, test_v,
                                [u[3] for u in part])
        rows = []
        for u in units:
            e = self.data_get("roar", self._unit_params(u, control))
            m, mode, t, s = u
            rows.append({"dataset": self.data.name, "method": m, "mode": mode, "threshold": t, "seed": s,
                         "input": "mask" if control else "image", **metrics_row(e.value["metrics"]),
                         "hit": u not in computed})
        return rows

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


def metrics_row(metrics: dict) -> dict:
    """A table row of a unit's metrics: accuracy and per-class precision."""
    row = {"accuracy": metrics["accuracy"]}
    row |= {f"precision_{i}": p for i, p in enumerate(metrics["precision"])}
    return row

"""The ROAR/KAR grid of one dataset as units of the results store: base models, rankings, retrainings.

Units (results-store kinds): ``train`` (a base model on the unmodified data, trained by the lock-step
engine; same kind and parameters as :func:`roarkit.experiments.base_models.fit_unit`'s units, but keyed
by this module's code version, so the two never share an entry), ``ranks`` (one method's pixel ranks
of every training and test image, from the base model of a seed) and ``roar`` (one retraining on removed or
kept pixels). Trainings run in lock-step groups of the engine, each group one unit of work; the
store's executor runs the missing groups (and the missing rankings) concurrently.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from roarkit.core import engine, models, removal, roar, saliency
from roarkit.core.saliency.gradients import CONTROLS, ESTIMATORS, AttributionConfig
from roarkit.core.training import TrainConfig
from roarkit.store import Store, Unit

__all__ = ["CODE", "CODE_RANKS", "Grid", "base_group", "rank_value", "retrain_group", "metrics_row"]

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
    chunk: int | None = None                  # models per lock-step group (None: 16 on the CPU, all on CUDA)

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
        """Seed → store entry of the base model (trained on unmodified data, every seed in one
        lock-step group: one unit of work)."""
        unit = Unit("train", [self._params(seed=s) for s in self.seeds], self.data.info, base_group,
                    (self.model, self.data, self.config, list(self.seeds)), code=CODE, device=self.data.device)
        return dict(zip(self.seeds, self.store.map([unit], desc="base models")[0]))

    def base_model(self, seed: int) -> torch.nn.Module:
        return _net(self.model, self.data, seed, self.base()[seed].value["state_dict"])

    # -- rankings ---------------------------------------------------------------------------------
    def _rank_unit(self, method: str, seed: int, state_dict) -> Unit:
        params = {"method": method, "base": self._params(seed=seed), "attr": self.attr.as_dict()}
        return Unit("ranks", params, self.data.info, rank_value,
                    (self.model, self.data, method, self.attr, seed, None if method in CONTROLS else state_dict),
                    code=CODE_RANKS, device=self.data.device)

    def ranks_all(self, pairs) -> None:
        """Compute (or read back) the rankings of every ``(method, seed)`` in ``pairs`` together."""
        pairs = [p for p in dict.fromkeys(pairs) if p not in self._ranks]
        if pairs:
            base = self.base()
            units = [self._rank_unit(m, s, base[s].value["state_dict"]) for m, s in pairs]
            for pair, entry in zip(pairs, self.store.map(units, desc="rankings")):
                self._ranks[pair] = entry

    def ranks(self, method: str, seed: int) -> dict:
        """Pixel ranks of train and test images under ``method``, from the base model of ``seed``."""
        self.ranks_all([(method, seed)])
        return {k: v.to(self.data.device) for k, v in self._ranks[(method, seed)].value.items()}

    # -- retraining -----------------------------------------------------------------------------------
    def units(self):
        """Every (method, mode, threshold, seed) of the grid."""
        return [(m, mode, t, s) for m in self.methods for mode in self.modes for t in self.thresholds
                for s in self.seeds]

    def groups(self) -> list[list]:
        """The grid's units in lock-step groups, each one unit of work: fixed by the grid, never by
        what the store holds, so a resumed run trains every model in the group a fresh run would
        (:func:`roarkit.core.engine.groups`: on the CPU at most 16 models, near-equal; ``chunk`` sets
        the size)."""
        units = self.units()
        size = self.chunk or (engine.CPU_GROUP if self.data.device.type == "cpu" else len(units))
        return [[units[i] for i in ids] for ids in engine.groups(len(units), size)]

    def _unit_params(self, unit, control):
        m, mode, t, s = unit
        return self._params(seed=s, method=m, mode=mode, threshold=t, attr=self.attr.as_dict(),
                            input="mask" if control else "image")

    def run(self, control: bool = False) -> list[dict]:
        """Train every missing group of units (each group one unit of work), return one row per unit
        with its metrics and ``hit`` (whether the unit was read back rather than trained by this call).

        ``control=True`` trains on the binary removal mask alone (1 = kept, 0 = removed): if that
        predicts the class, the mask's shape leaks it (ROAD's critique of ROAR)."""
        groups = self.groups()
        work = []
        for part in groups:
            params = [self._unit_params(u, control) for u in part]
            pairs = sorted({(m, s) for m, _, _, s in part})
            work.append((part, params, pairs))
        missing = [w for w in work if any(self.data_get("roar", p) is None for p in w[1])]
        self.ranks_all([pair for _, _, pairs in missing for pair in pairs])
        units = [Unit("roar", params, self.data.info, retrain_group,
                      (self.model, self.data, self.config, part, control, pairs,
                       *[self._ranks[pair].value for pair in pairs]), code=CODE, device=self.data.device)
                 for part, params, pairs in missing]
        self.store.map(units, desc="retrainings")
        computed = {u for part, _, _ in missing for u in part}
        rows = []
        for u in self.units():
            e = self.data_get("roar", self._unit_params(u, control))
            m, mode, t, s = u
            rows.append({"dataset": self.data.name, "method": m, "mode": mode, "threshold": t, "seed": s,
                         "input": "mask" if control else "image", **metrics_row(e.value["metrics"]),
                         "hit": u not in computed})
        return rows

    def data_get(self, kind, params):
        return self.store.get(kind, params, self.data.info, code=CODE)


def _net(model_name: str, data, seed: int, state_dict) -> torch.nn.Module:
    c, h, _ = data.image_shape
    net = models.build(model_name, seed=seed, in_channels=c, image_size=h, num_classes=data.num_classes,
                       device=data.device)
    net.load_state_dict(state_dict)
    return net.eval()


def _fit(model_name: str, data, config: TrainConfig, train_v, test_v, seeds: list, keep_weights: bool) -> list:
    results = engine.fit_many(model_name, train_v, test_v, config, seeds, num_classes=data.num_classes,
                              model_kwargs={"in_channels": train_v.x.shape[1], "image_size": train_v.x.shape[2]})
    out = []
    for r in results:
        value = {"metrics": r.metrics.as_dict(), "history": r.history, "seconds": r.seconds}
        if keep_weights:
            value["state_dict"] = r.state_dict
        out.append(value)
    return out


def base_group(model_name: str, data, config: TrainConfig, seeds: list) -> list:
    """A ``train`` group's values: base models of ``seeds`` on the unmodified data, in lock-step."""
    return _fit(model_name, data, config, engine.Shared(data.x_train, data.y_train, len(seeds)),
                engine.Shared(data.x_test, data.y_test, len(seeds)), list(seeds), keep_weights=True)


def rank_value(model_name: str, data, method: str, attr: AttributionConfig, seed: int, state_dict) -> dict:
    """A ``ranks`` unit's value: every training and test image's pixel ranks under ``method``, from the
    base model of ``seed`` (``state_dict``; None for the controls, which use no model)."""
    net = None if state_dict is None else _net(model_name, data, seed, state_dict)
    out = {}
    for split in ("train", "test"):
        x, y = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
        a = saliency.attribute(net, x, y, method, attr, seed=seed * 2 + (split == "test"))
        out[split] = removal.ranks(removal.scores(a), seed)
    return out


def retrain_group(model_name: str, data, config: TrainConfig, part: list, control: bool, pairs: list,
                  *ranks) -> list:
    """A ``roar`` group's values: the retrainings of ``part`` ``[(method, mode, threshold, seed), ...]``
    in lock-step on removed or kept pixels (:func:`roarkit.core.roar.views`); ``ranks``: the stored
    ranking of each ``(method, seed)`` of ``pairs``."""
    by_pair = {tuple(p): r for p, r in zip(pairs, ranks)}
    train_v, test_v = (roar.views(getattr(data, f"x_{split}"), getattr(data, f"y_{split}"),
                                  {p: r[split].to(data.device) for p, r in by_pair.items()}, part, control=control)
                       for split in ("train", "test"))
    return _fit(model_name, data, config, train_v, test_v, [u[3] for u in part], keep_weights=False)


def metrics_row(metrics: dict) -> dict:
    """A table row of a unit's metrics: accuracy and per-class precision."""
    row = {"accuracy": metrics["accuracy"]}
    row |= {f"precision_{i}": p for i, p in enumerate(metrics["precision"])}
    return row

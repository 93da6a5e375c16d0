"""The SGT chapter's experiment on one dataset: traditional, SGT and SMOOT trainings over seeds, each
trained once and evaluated once through the results store.

Units (results-store kinds): ``sgt_train`` (one training: metrics, history, weights, SMOOT's per-image
K) and ``sgt_drop`` (its accuracy-drop curves and AUCs on a fixed subset of test images).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch

from roarkit.core import curves, guided, models, sgt, smoot, training
from roarkit.core.saliency import AttributionConfig
from roarkit.store import Store, Unit

__all__ = ["Study", "CODE_TRAIN", "CODE_DROP", "train_value", "drop_value"]

#: The modules whose code the stored units depend on (see :func:`roarkit.store.code_version`): a training
#: on :mod:`roarkit.core.guided` and what it imports (an edit of the saliency methods keeps the costly
#: trainings); an evaluation on this module (its test subset and the units' layout) and all it imports.
CODE_TRAIN = ("roarkit.core.guided", "roarkit.core.training")
CODE_DROP = ("roarkit.experiments.sgt_study",)


@dataclass
class Study:
    """Trainings of one dataset. ``variant`` names: ``traditional``, ``sgt``, ``smoot``, ``sgt_signed``
    (SGT ranking by the signed gradient, as the official code) and ``sgt_log_prob`` (SGT whose saliency
    differentiates the true class's log-probability, as Captum does on the official code's network)."""

    data: object                                  # roarkit.core.data.Dataset
    config: training.TrainConfig
    sgt_config: sgt.SGTConfig = field(default_factory=sgt.SGTConfig)
    smoot_config: smoot.SMOOTConfig = field(default_factory=smoot.SMOOTConfig)
    val_fraction: float = 0.1
    split_seed: int = 0
    store: Store = field(default_factory=Store)
    model_name: str = "sgt"
    progress: bool | None = None

    VARIANTS = ("traditional", "sgt", "smoot", "sgt_signed", "sgt_log_prob")

    def _resolve(self, variant: str):
        if variant not in self.VARIANTS:
            raise ValueError(f"unknown training {variant!r}; known: {', '.join(self.VARIANTS)}")
        training = "sgt" if variant.startswith("sgt_") else variant
        cfg = self.sgt_config
        if variant == "sgt_signed":
            cfg = replace(cfg, rank_by="signed")
        elif variant == "sgt_log_prob":
            cfg = replace(cfg, grad_of="log_prob")
        return training, cfg

    def train_params(self, variant: str, seed: int) -> dict:
        training, cfg = self._resolve(variant)
        p = {"model": self.model_name, "training": training, "config": self.config.as_dict(), "seed": seed,
             "val_fraction": self.val_fraction, "split_seed": self.split_seed}
        if training != "traditional":
            p["sgt"] = cfg.as_dict()
        if training == "smoot":
            p["smoot"] = self.smoot_config.as_dict()
        return p

    def train_unit(self, variant: str, seed: int) -> Unit:
        """One training as a unit of the results store (kind ``sgt_train``)."""
        kind, cfg = self._resolve(variant)
        return Unit("sgt_train", self.train_params(variant, seed), self.data.info, train_value,
                    (self.model_name, self.data, self.config, guided.step(kind, cfg, self.smoot_config)),
                    {"seed": seed, "val_fraction": self.val_fraction, "split_seed": self.split_seed,
                     "progress": self.progress}, code=CODE_TRAIN, device=self.data.device, resumable=True)

    def train_all(self, runs) -> list:
        """The store entries of every ``(variant, seed)`` in ``runs``, the missing ones trained together."""
        return self.store.map([self.train_unit(v, s) for v, s in runs], desc="trainings")

    def train(self, variant: str, seed: int):
        """The store entry of one training (computed now if missing)."""
        return self.train_all([(variant, seed)])[0]

    def model(self, variant: str, seed: int) -> torch.nn.Module:
        """The selected weights of one training, as an eval-mode model on the data's device."""
        return _net(self.model_name, self.data, seed, self.train(variant, seed).value["state_dict"])

    def drop_subset(self, n: int) -> torch.Tensor:
        """Positions of the ``n`` test images the accuracy-drop curves use (seeded, the same for every model)."""
        total = len(self.data.y_test)
        if not 0 < n <= total:
            raise ValueError(f"n_drop must lie in 1..{total} (the test images loaded), got {n}")
        g = torch.Generator().manual_seed(self.split_seed)
        return torch.sort(torch.randperm(total, generator=g)[:n]).values

    def evaluate_unit(self, variant: str, seed: int, *, methods=("grad", "ig", "grad_sg", "random"),
                      percents=curves.PERCENTS, n_drop: int = 1000, attr: AttributionConfig | None = None,
                      state_dict=None) -> Unit:
        """One training's accuracy-drop curves (see :func:`roarkit.core.curves.accuracy_drop`) as a unit
        of the results store (kind ``sgt_drop``); ``state_dict``: the training's weights, read from the
        store when not given."""
        attr = attr or AttributionConfig()
        methods, percents = list(methods), list(percents)
        params = {"train": self.train_params(variant, seed), "methods": methods, "percents": percents,
                  "n_drop": n_drop, "attr": attr.as_dict()}
        return Unit("sgt_drop", params, self.data.info, drop_value,
                    (self.model_name, self.data, seed,
                     state_dict if state_dict is not None else self.train(variant, seed).value["state_dict"],
                     self.drop_subset(n_drop), methods, percents, attr), code=CODE_DROP, device=self.data.device)

    def evaluate_all(self, runs, trains: list | None = None, **kw) -> list:
        """The ``sgt_drop`` entries of every ``(variant, seed)`` in ``runs``: the missing trainings are
        trained together first (``trains``: their entries, when already at hand), then the missing curves
        computed together."""
        runs = list(runs)
        trains = trains if trains is not None else self.train_all(runs)
        return self.store.map([self.evaluate_unit(v, s, state_dict=t.value["state_dict"], **kw)
                               for (v, s), t in zip(runs, trains)], desc="accuracy-drop curves")

    def evaluate(self, variant: str, seed: int, **kw):
        """The store entry of one training's accuracy-drop curves (computed now if missing)."""
        return self.evaluate_all([(variant, seed)], **kw)[0]


def _net(model_name: str, data, seed: int, state_dict) -> torch.nn.Module:
    c, h, _ = data.image_shape
    net = models.build(model_name, seed=seed, in_channels=c, image_size=h, num_classes=data.num_classes,
                       device=data.device)
    net.load_state_dict(state_dict)
    return net.to(memory_format=torch.channels_last).eval()


def train_value(model_name: str, data, config: training.TrainConfig, step, *, seed: int, val_fraction: float,
                split_seed: int, progress=None, checkpoint=None) -> dict:
    """An ``sgt_train`` unit's value: :func:`roarkit.core.training.fit` with the variant's step (plain,
    SGT or SMOOT; :func:`roarkit.core.guided.step`), channels-last, resuming from ``checkpoint``."""
    return training.fit(model_name, data, config, seed=seed, step=step, val_fraction=val_fraction,
                        split_seed=split_seed, channels_last=True, progress=progress, checkpoint=checkpoint).value()


def drop_value(model_name: str, data, seed: int, state_dict, idx: torch.Tensor, methods: list, percents: list,
               attr: AttributionConfig) -> dict:
    """An ``sgt_drop`` unit's value: the accuracy-drop curves and AUCs of the trained weights
    ``state_dict`` on the test images ``idx``; ``rises_first`` for the gradient's curve."""
    net = _net(model_name, data, seed, state_dict)
    idx = idx.to(data.device)
    res = curves.accuracy_drop(net, data.x_test[idx], data.y_test[idx], methods, percents, attr, seed=seed)
    out = {m: {"accuracy": r["accuracy"], "auc": r["auc"]} for m, r in res.items()}
    if "grad" in res:
        out["rises_first"] = curves.rises_first(res["grad"])
    return out

"""The SGT chapter's experiment on one dataset: traditional, SGT and SMOOT trainings over seeds, each
trained once and evaluated once through the results store.

Units (results-store kinds): ``sgt_train`` (one training: metrics, history, weights, SMOOT's per-image
K) and ``sgt_drop`` (its accuracy-drop curves and AUCs on a fixed subset of test images).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from roarkit.core import curves, guided, models, sgt, smoot, training
from roarkit.core.saliency import AttributionConfig
from roarkit.store import Store

__all__ = ["Study", "CODE_TRAIN", "CODE_DROP"]

#: The modules whose code the stored units depend on (see :func:`roarkit.store.code_version`): a training
#: on :mod:`roarkit.core.guided` and what it imports (an edit of the saliency methods keeps the costly
#: trainings); an evaluation on this module (its test subset and the units' layout) and all it imports.
CODE_TRAIN = ("roarkit.core.guided", "roarkit.core.training")
CODE_DROP = ("roarkit.experiments.sgt_study",)


@dataclass
class Study:
    """Trainings of one dataset. ``variant`` names: ``traditional``, ``sgt``, ``smoot`` and ``sgt_signed``
    (SGT ranking by the signed gradient, as the official code)."""

    data: object                                  # roarkit.core.data.Dataset
    config: training.TrainConfig
    sgt_config: sgt.SGTConfig = field(default_factory=sgt.SGTConfig)
    smoot_config: smoot.SMOOTConfig = field(default_factory=smoot.SMOOTConfig)
    val_fraction: float = 0.1
    split_seed: int = 0
    store: Store = field(default_factory=Store)
    model_name: str = "sgt"
    progress: bool | None = None

    VARIANTS = ("traditional", "sgt", "smoot", "sgt_signed")

    def _resolve(self, variant: str):
        if variant not in self.VARIANTS:
            raise ValueError(f"unknown training {variant!r}; known: {', '.join(self.VARIANTS)}")
        training = "sgt" if variant == "sgt_signed" else variant
        cfg = self.sgt_config
        if variant == "sgt_signed":
            cfg = sgt.SGTConfig(k=cfg.k, lam=cfg.lam, rank_by="signed")
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

    def train(self, variant: str, seed: int):
        """The store entry of one training (computed now if missing)."""
        kind, cfg = self._resolve(variant)

        def compute():
            return training.fit(self.model_name, self.data, self.config, seed=seed,
                                step=guided.step(kind, cfg, self.smoot_config), val_fraction=self.val_fraction,
                                split_seed=self.split_seed, channels_last=True, progress=self.progress).value()

        return self.store.cached("sgt_train", self.train_params(variant, seed), self.data.info, compute,
                                 device=self.data.device, code=CODE_TRAIN)

    def model(self, variant: str, seed: int) -> torch.nn.Module:
        """The selected weights of one training, as an eval-mode model on the data's device."""
        c, h, _ = self.data.image_shape
        net = models.build(self.model_name, seed=seed, in_channels=c, image_size=h,
                           num_classes=self.data.num_classes, device=self.data.device)
        net.load_state_dict(self.train(variant, seed).value["state_dict"])
        return net.to(memory_format=torch.channels_last).eval()

    def drop_subset(self, n: int) -> torch.Tensor:
        """Positions of the ``n`` test images the accuracy-drop curves use (seeded, the same for every model)."""
        total = len(self.data.y_test)
        if not 0 < n <= total:
            raise ValueError(f"n_drop must lie in 1..{total} (the test images loaded), got {n}")
        g = torch.Generator().manual_seed(self.split_seed)
        return torch.sort(torch.randperm(total, generator=g)[:n]).values

    def evaluate(self, variant: str, seed: int, *, methods=("grad", "ig", "grad_sg", "random"),
                 percents=curves.PERCENTS, n_drop: int = 1000, attr: AttributionConfig | None = None):
        """The store entry of one training's accuracy-drop curves (see :func:`roarkit.core.curves.accuracy_drop`)."""
        attr = attr or AttributionConfig()
        methods, percents = list(methods), list(percents)
        params = {"train": self.train_params(variant, seed), "methods": methods, "percents": percents,
                  "n_drop": n_drop, "attr": attr.as_dict()}

        def compute():
            net = self.model(variant, seed)
            idx = self.drop_subset(n_drop).to(self.data.device)
            res = curves.accuracy_drop(net, self.data.x_test[idx], self.data.y_test[idx], methods, percents, attr,
                                       seed=seed)
            out = {m: {"accuracy": r["accuracy"], "auc": r["auc"]} for m, r in res.items()}
            if "grad" in res:
                out["rises_first"] = curves.rises_first(res["grad"])
            return out

        return self.store.cached("sgt_drop", params, self.data.info, compute, device=self.data.device,
                                 code=CODE_DROP)

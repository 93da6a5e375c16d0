"""The "Data and models" page: the images the book runs on, the ROAR chapter's base model trained on each
dataset, and the batch-size sweep that chooses the book's batch size.

:func:`run` loads every dataset of the page's parameters, trains the base model once per dataset and once
per batch size of the sweep (units of kind ``train``, :func:`roarkit.experiments.base_models.fit_unit`)
and assembles the page's tables. The page's one rule: the book's batch size is the one of the sweep whose
test accuracy comes closest to the report's (:func:`closest_batch`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pandas as pd
import torch

from roarkit.core import data as D
from roarkit.core import paper
from roarkit.core.device import resolve_device
from roarkit.experiments import base_models
from roarkit.store import Store

__all__ = ["MODEL", "REPORT_ACCURACY", "steps", "closest_batch", "files_table", "used_table", "summary_table",
           "per_class_table", "DataModelsResult", "run"]

#: The network of the ROAR chapter, trained on every dataset here.
MODEL = "roar"
#: The report's base accuracy on MNIST (paper value ``roar_report.base_accuracy_mnist``).
REPORT_ACCURACY = paper.value("roar_report.base_accuracy_mnist")


def steps(epochs: int, n_train: int, batch_size: int) -> int:
    """Update steps of ``epochs`` epochs over ``n_train`` images in batches of ``batch_size`` (the last
    batch of an epoch may be smaller): ``epochs · ⌈n_train / batch_size⌉``."""
    return epochs * -(-n_train // batch_size)


def closest_batch(accuracy: pd.Series, report: float = REPORT_ACCURACY) -> int:
    """The batch size (the index of ``accuracy``, test accuracy per batch size, 0..1) whose accuracy is
    closest to the report's; on a tie the first of the sweep."""
    return int((accuracy - report).abs().idxmin())


def files_table(datasets: dict) -> pd.DataFrame:
    """Every file read: dataset, file, images, MD5 (indexed by dataset and file)."""
    rows = [{"dataset": ds.name, "file": f["file"], "images": f["n"], "md5": f["md5"]}
            for ds in datasets.values() for f in ds.info.as_dict()["files"]]
    return pd.DataFrame(rows).set_index(["dataset", "file"])


def used_table(datasets: dict) -> pd.DataFrame:
    """Per dataset: images used and on disk, the training pixel mean and std, the folder read."""
    return pd.DataFrame([{"dataset": ds.name, "train used": ds.info.n_train, "train on disk": ds.info.n_train_available,
                          "test used": ds.info.n_test, "test on disk": ds.info.n_test_available,
                          "pixel mean (train)": round(float(ds.mean[0]), 4),
                          "pixel std (train)": round(float(ds.std[0]), 4),
                          "source": ds.info.source} for ds in datasets.values()]).set_index("dataset")


def summary_table(runs: dict, datasets: dict, report: float = REPORT_ACCURACY) -> pd.DataFrame:
    """Per dataset: the base model's test accuracy (0..1), the report's (MNIST only), training images,
    seconds, device and whether the stored unit was read back."""
    return pd.DataFrame([{
        "dataset": name,
        "test accuracy": e.value["metrics"]["accuracy"],
        "report (MNIST)": report if name == "mnist" else float("nan"),
        "train images": datasets[name].info.n_train,
        "training seconds": round(e.value["seconds"], 1),
        "device": e.provenance["device"],
        "from store": "yes" if e.hit else "computed now",
    } for name, e in runs.items()]).set_index("dataset")


def per_class_table(runs: dict, datasets: dict) -> pd.DataFrame:
    """Per class (rows) precision and recall on the test split, one column pair per dataset."""
    return pd.concat({name: pd.DataFrame({"precision": e.value["metrics"]["precision"],
                                          "recall": e.value["metrics"]["recall"]},
                                         index=pd.Index(datasets[name].classes, name="class"))
                      for name, e in runs.items()}, axis=1)


@dataclass
class DataModelsResult:
    """What the page shows: the loaded datasets, their files and sizes, the base model of each dataset
    (stored entries), its per-class scores and confusion matrix, the batch-size sweep and the numbers the
    text quotes (glue name → value)."""

    datasets: dict           # name -> roarkit.core.data.Dataset
    files: pd.DataFrame
    used: pd.DataFrame
    runs: dict               # name -> stored training entry
    summary: pd.DataFrame
    per_class: pd.DataFrame
    confusion: dict          # name -> (classes, classes) tensor, rows true, columns predicted
    sweep: pd.DataFrame      # indexed by batch size
    numbers: dict

    @property
    def infos(self) -> list:
        """The DataInfo of every dataset the result ran on (what the page records)."""
        return [d.info for d in self.datasets.values()]


def _sweep_units(p, ds) -> list:
    return [base_models.fit_unit(MODEL, ds, dataclasses.replace(base_models.train_config(p), batch_size=bs),
                                 seed=p.seed) for bs in p.batch_sizes]


def _sweep(p, entries: list, ds) -> pd.DataFrame:
    rows = []
    for bs, e in zip(p.batch_sizes, entries):
        rows.append({"dataset": ds.name, "batch size": bs, "steps": steps(p.epochs, ds.info.n_train, bs),
                     "test accuracy": e.value["metrics"]["accuracy"],
                     "final training loss": e.value["history"]["loss"][-1], "seconds": round(e.value["seconds"], 1)})
    return pd.DataFrame(rows).set_index("batch size")


def run(p, store: Store | None = None) -> DataModelsResult:
    """The page from its parameters ``p`` (``datasets``, ``n_train``, ``n_test``, ``subset_seed``, ``epochs``,
    ``batch_size``, ``lr``, ``momentum``, ``seed``, ``batch_sizes``, ``device``). The sweep runs on MNIST,
    or on the first dataset when MNIST is not among them."""
    store = Store() if store is None else store
    device = resolve_device(p.device)
    datasets = {name: D.load(name, n_train=p.n_train or None, n_test=p.n_test or None, seed=p.subset_seed,
                             device=device) for name in p.datasets}
    config = base_models.train_config(p)
    sweep_ds = datasets.get("mnist") or next(iter(datasets.values()))
    entries = store.map([base_models.fit_unit(MODEL, ds, config, seed=p.seed) for ds in datasets.values()]
                        + _sweep_units(p, sweep_ds), desc="trainings")  # all at once: they run concurrently
    runs = dict(zip(datasets, entries))
    sweep = _sweep(p, entries[len(datasets):], sweep_ds)
    numbers = {f"acc_{name}": 100 * e.value["metrics"]["accuracy"] for name, e in runs.items()}
    numbers |= {"acc_report": 100 * REPORT_ACCURACY, "best_batch": closest_batch(sweep["test accuracy"])}
    return DataModelsResult(datasets, files_table(datasets), used_table(datasets), runs, summary_table(runs, datasets),
                            per_class_table(runs, datasets),
                            {name: torch.tensor(e.value["metrics"]["confusion"]) for name, e in runs.items()},
                            sweep, numbers)

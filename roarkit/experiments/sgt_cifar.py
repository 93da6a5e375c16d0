"""The SGT chapter's CIFAR page (``sgt_cifar``): the SMOOT paper's CIFAR-10/100 accuracies (DeiT-tiny
fine-tuned), and, where the CIFAR files are on disk, the chapter's small network trained from scratch
with the three trainings through :class:`roarkit.experiments.sgt_study.Study`.

:func:`run` loads each CIFAR dataset it can; a dataset whose files are missing is reported (where
roarkit looked, :func:`looked_at`) and skipped, so the page runs everywhere.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from roarkit.core import cifar, curves, paper
from roarkit.core import data as D
from roarkit.core.device import resolve_device
from roarkit.core.labels import label
from roarkit.core.saliency import AttributionConfig
from roarkit.experiments import sgt as sgt_page
from roarkit.store import Store

__all__ = ["VARIANTS", "PAPER", "looked_at", "paper_table", "status_lines", "CifarResult", "run"]

VARIANTS = sgt_page.VARIANTS
#: The paper's values of each dataset (SMOOT, DeiT-tiny fine-tuned): training -> test accuracy.
PAPER = {"cifar10": "smoot.cifar10_deit_tiny", "cifar100": "smoot.cifar100_deit_tiny"}


def looked_at(error: D.DataNotFound) -> str:
    """The places a :class:`~roarkit.core.data.DataNotFound` message lists, as one line: "looked at a; b"."""
    msg = str(error).split("To fix:")[0]
    return "looked at " + "; ".join(line.strip()[2:] for line in msg.splitlines() if line.startswith("  - "))


def paper_table() -> pd.DataFrame:
    """The paper's test accuracy (%): one column per CIFAR dataset, one row per training."""
    return pd.DataFrame({label("dataset", n): {label("training", t): 100 * paper.value(path)[t] for t in VARIANTS}
                         for n, path in PAPER.items()})


def status_lines(loaded: dict, missing: dict) -> str:
    """Markdown list: per dataset, what this execution loaded or why nothing ran."""
    lines = [f"- **{n}**: not found on this machine, so nothing was trained; only the paper's values are shown. "
             f"(Roarkit {m}.)" for n, m in missing.items()]
    lines += [f"- **{n}**: {ds.info.summary()}" for n, ds in loaded.items()]
    return "\n".join(lines)


@dataclass
class CifarResult:
    """What the page shows: the datasets loaded and those missing (name -> where roarkit looked), the
    paper's table, our table (one row per dataset and training; a note when nothing ran), the per-run
    tables and the numbers the text quotes."""

    loaded: dict      # name -> roarkit.core.data.Dataset
    missing: dict     # name -> "looked at ..."
    paper: pd.DataFrame
    ours: pd.DataFrame
    runs: dict        # name -> runs_frame of roarkit.experiments.sgt
    status: str       # Markdown
    numbers: dict

    @property
    def infos(self) -> list:
        """The DataInfo of every dataset the result ran on (what the page records)."""
        return [d.info for d in self.loaded.values()]


def _ours(p, ds, store) -> pd.DataFrame:
    study = sgt_page.study(p, ds, store)
    return sgt_page.runs_frame(study, VARIANTS, list(range(p.seeds)), methods=p.drop_methods,
                               percents=list(curves.PERCENTS), n_drop=min(p.n_drop, len(ds.y_test)),
                               attr=AttributionConfig(ig_steps=p.ig_steps, nt_samples=p.nt_samples))


def run(p, store: Store | None = None) -> CifarResult:
    """The page from its parameters ``p`` (``cifar_datasets``, the data, training, SGT/SMOOT and drop settings)."""
    store = store or Store()
    device = resolve_device(p.device)
    loaded, missing = {}, {}
    for name in p.cifar_datasets:
        try:
            loaded[name] = cifar.load(name, n_train=p.n_train or None, n_test=p.n_test or None, seed=p.subset_seed,
                                      device=device)
        except D.DataNotFound as e:
            missing[name] = looked_at(e)
    runs = {name: _ours(p, ds, store) for name, ds in loaded.items()}
    rows = []
    for name, df in runs.items():
        t = sgt_page.summary(df, p.drop_methods)
        t.insert(0, "paper accuracy (%)", [100 * paper.value(PAPER[name])[v] for v in VARIANTS])
        rows.append(t.assign(dataset=name).set_index("dataset", append=True))
    ours = pd.concat(rows) if rows else pd.DataFrame({"note": ["no CIFAR data on this machine: nothing ran"]})
    return CifarResult(loaded, missing, paper_table(), ours, runs, status_lines(loaded, missing),
                       {"ran_any": "ran" if loaded else "did not run"})

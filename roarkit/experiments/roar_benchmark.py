"""The "ROAR benchmark" page: Hooker et al.'s estimators under ROAR and KAR on MNIST and Fashion-MNIST,
each compared with random removal, and the mask-only control.

:func:`run` trains one :class:`roarkit.experiments.roar_grid.Grid` per dataset (and, with ``leakage``, the
same grid trained on the removal mask alone) and assembles the page's tables. The verdict rules:

* an estimator *beats random* (:func:`compare`) when the 95 % interval of its accuracy difference to
  random, paired by seed and averaged over thresholds, lies wholly below 0 under ROAR (removing its
  pixels hurts more) or wholly above 0 under KAR (keeping them helps more); *worse than random* when it
  lies wholly on the other side, else "no difference";
* Hooker et al.'s finding "holds" on a dataset when, among the tested model-based estimators, exactly
  the SmoothGrad² and VarGrad ensembles beat random under ROAR (:func:`hooker_holds`).
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from roarkit.core import data as D
from roarkit.core import stats
from roarkit.core.device import resolve_device
from roarkit.core.labels import label
from roarkit.core.saliency import AttributionConfig
from roarkit.core.saliency.gradients import CONTROLS
from roarkit.experiments import base_models
from roarkit.experiments.roar_grid import Grid
from roarkit.store import Store

__all__ = ["REFERENCE", "HOOKER_ENSEMBLES", "LANDING_DATASETS", "compare", "differences", "verdict_table",
           "hooker_set", "hooker_holds", "hooker_texts", "label_rows", "leak_table", "RoarBenchmarkResult", "run"]

#: Every estimator is compared with this one.
REFERENCE = "random"
#: The ensembles that beat random on ImageNet (Hooker et al.): SmoothGrad² and VarGrad.
HOOKER_ENSEMBLES = ("_sg2", "_var")
#: The datasets whose verdict the landing page quotes (glued as ``hooker_<dataset>`` even when not run).
LANDING_DATASETS = ("mnist", "fashion_mnist")


def compare(mean: float, ci95: float, mode: str) -> str:
    """The verdict on one estimator from its mean accuracy difference to random and the half-width of its
    95 % interval (same units): "beats random", "worse than random" or "no difference" (also when the
    interval is unknown, NaN). ``mode``: "roar" (lower is better) or "kar" (higher is better)."""
    lo, hi = mean - ci95, mean + ci95
    better, worse = (hi < 0, lo > 0) if mode == "roar" else (lo > 0, hi < 0)
    return "beats random" if better else ("worse than random" if worse else "no difference")


def differences(rows: pd.DataFrame, estimators) -> pd.DataFrame:
    """Per dataset, mode and estimator (but random): the accuracy difference to random in points, mean over
    seeds of the per-seed mean over thresholds (paired by seed), its 95 % CI and :func:`compare`'s verdict.
    ``rows``: one row per retraining (``dataset``, ``mode``, ``method``, ``seed``, ``accuracy`` 0..1)."""
    per_seed = rows.groupby(["dataset", "mode", "method", "seed"])["accuracy"].mean().reset_index()
    out = []
    for (dname, mode), sub in per_seed.groupby(["dataset", "mode"]):
        for m in estimators:
            if m == REFERENCE:
                continue
            d = stats.paired_difference(sub[sub.method.isin([m, REFERENCE])], m, REFERENCE, by=["dataset", "mode"])
            mean, ci = d.iloc[0]["mean"], d.iloc[0]["ci95"]
            out.append({"dataset": dname, "mode": mode.upper(), "estimator": label("method", m), "method": m,
                        "difference (pp)": 100 * mean, "95 % CI": f"[{100 * (mean - ci):.2f}, {100 * (mean + ci):.2f}]",
                        "verdict": compare(mean, ci, mode)})
    return pd.DataFrame(out)


def verdict_table(diffs: pd.DataFrame) -> pd.DataFrame:
    """The verdicts as estimator (rows) × (dataset, mode) (columns)."""
    return diffs.pivot_table(index="estimator", columns=["dataset", "mode"], values="verdict", aggfunc="first")


def hooker_set(estimators) -> set:
    """The estimators Hooker et al. found to beat random: the SmoothGrad² and VarGrad ensembles."""
    return {m for m in estimators if m.endswith(HOOKER_ENSEMBLES)}


def hooker_holds(beat: set, estimators) -> bool:
    """Whether the model-based estimators tested (all but the controls) that ``beat`` random under ROAR are
    exactly the SmoothGrad² and VarGrad ensembles among them."""
    tested = set(estimators) - set(CONTROLS)
    return set(beat) & tested == hooker_set(estimators) & tested


def hooker_texts(diffs: pd.DataFrame, datasets, estimators) -> dict:
    """Markdown of the comparison with Hooker et al.: ``hooker_<dataset>`` for the landing page (also
    "not run" for a landing dataset not run) and ``hooker_verdict``, one line per dataset. Both count
    the estimators that beat random under ROAR and, where there are any, those worse than random."""
    est = list(estimators)
    roar = diffs[diffs["mode"] == "ROAR"]
    out = {f"hooker_{d}": "not run" for d in LANDING_DATASETS if d not in datasets}
    lines = []
    for dname in datasets:
        got = set(roar[(roar.dataset == dname) & (roar.verdict == "beats random")].method)
        worse = set(roar[(roar.dataset == dname) & (roar.verdict == "worse than random")].method)
        word = "holds" if hooker_holds(got, est) else "does not hold"
        names = ", ".join(label("method", m) for m in est if m in got) or "none"
        count = f"{len(got)} of {len(set(est) - {REFERENCE})} estimators beat random"
        out[f"hooker_{dname}"] = f"**{word}**: {count}" + (f", {len(worse)} worse" if worse else "")
        lines.append(f"- **{dname}**: under ROAR, {count} ({names})"
                     + (f"; {len(worse)} do worse than random (the network retrained on their removal keeps a "
                        f"higher accuracy than after random removal)" if worse else "")
                     + ". Hooker et al.'s ImageNet finding (only the SmoothGrad² and VarGrad ensembles beat "
                     f"random) **{word}** here.")
    out["hooker_verdict"] = "\n".join(lines)
    return out


def label_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with the labels the figures group by: ``estimator`` (e.g. "Gradient + VarGrad"), ``family``
    (the base estimator, e.g. "Gradient") and ``variant`` (the ensemble, or "plain")."""
    rows = rows.copy()
    rows["estimator"] = rows["method"].map(lambda m: label("method", m))
    rows["family"] = rows["method"].map(lambda m: label("method", m.split("_")[0]))
    rows["variant"] = rows["method"].map(lambda m: label("method", m.split("_")[1]) if "_" in m else "plain")
    return rows


def leak_table(leak: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """The mask-only control: accuracy "mean ± 95 % CI" (%) per (dataset, estimator) and threshold, and
    the numbers the text quotes (``leak_max``, % and ``leak_where``, Markdown: where it is reached)."""
    if not len(leak):
        return pd.DataFrame(), {"leak_max": float("nan"),
                                "leak_where": "(the control did not run: `leakage` was false)"}
    lk = stats.summarize(leak, ["dataset", "method", "threshold"])
    lk["estimator"] = lk["method"].map(lambda m: label("method", m))
    lk["cell"] = [f"{100 * m:.1f} ± {100 * c:.1f}" if c == c else f"{100 * m:.1f}" for m, c in zip(lk["mean"], lk["ci95"])]
    table = lk.pivot_table(index=["dataset", "estimator"], columns="threshold", values="cell", aggfunc="first")
    table.columns = [f"{t} %" for t in table.columns]
    worst = lk.loc[lk["mean"].idxmax()]
    return table, {"leak_max": float(100 * worst["mean"]),
                   "leak_where": f"{worst['estimator']} at {worst['threshold']} % on {worst['dataset']}"}


@dataclass
class RoarBenchmarkResult:
    """What the page shows: one grid per dataset, one row per retraining (``rows``, labelled by
    :func:`label_rows`) and per mask-only retraining (``leak``), the comparisons with random, the
    mask-only table, the example rankings (dataset → estimator → ranks of the first test image, seed 0),
    the numbers the text quotes (``numbers``) and its Markdown (``markdown``), by glue name."""

    grids: dict              # dataset name -> Grid
    rows: pd.DataFrame
    leak: pd.DataFrame
    diffs: pd.DataFrame
    verdicts: pd.DataFrame   # verdict_table(diffs)
    leak_table: pd.DataFrame
    examples: dict
    numbers: dict
    markdown: dict

    @property
    def infos(self) -> list:
        """The DataInfo of every dataset the result ran on (what the page records)."""
        return [d.info for d in self.datasets.values()]

    @property
    def datasets(self) -> dict:
        """Dataset name → the loaded dataset."""
        return {name: g.data for name, g in self.grids.items()}


def run(p, store: Store | None = None) -> RoarBenchmarkResult:
    """The page from its parameters ``p`` (``datasets``, ``estimators`` (must include "random"), ``modes``,
    ``thresholds``, ``seeds``, ``leakage``, ``n_train`` (``n_train_by_dataset`` overrides it per dataset),
    ``n_test``, ``subset_seed``, ``epochs``,
    ``batch_size``, ``lr``, ``momentum``, ``ig_steps``, ``nt_samples``, ``device``)."""
    if REFERENCE not in p.estimators:
        raise ValueError("estimators must include 'random': every estimator is compared with it")
    store = Store() if store is None else store
    config, device = base_models.train_config(p), resolve_device(p.device)
    attr = AttributionConfig(ig_steps=p.ig_steps, nt_samples=p.nt_samples)
    kw = dict(methods=tuple(p.estimators), thresholds=tuple(p.thresholds), seeds=tuple(range(p.seeds)), attr=attr,
              store=store)
    grids, rows, leak = {}, [], []
    for name in p.datasets:
        n_train = getattr(p, "n_train_by_dataset", {}).get(name, p.n_train)
        ds = D.load(name, n_train=n_train or None, n_test=p.n_test or None, seed=p.subset_seed, device=device)
        grids[name] = Grid(ds, config, modes=tuple(p.modes), **kw)
        rows += grids[name].run()
        if p.leakage:
            leak += Grid(ds, config, modes=("roar",), **kw).run(control=True)
    rows, leak = label_rows(pd.DataFrame(rows)), pd.DataFrame(leak)
    diffs = differences(rows, p.estimators)
    table, numbers = leak_table(leak)
    markdown = hooker_texts(diffs, p.datasets, p.estimators) | {"leak_where": numbers.pop("leak_where")}
    numbers["n_trainings"] = len(rows) + len(leak) + sum(len(g.seeds) for g in grids.values())
    examples = {name: {m: g.ranks(m, 0)["test"][:1] for m in p.estimators} for name, g in grids.items()}
    return RoarBenchmarkResult(grids, rows, leak, diffs, verdict_table(diffs), table, examples, numbers, markdown)

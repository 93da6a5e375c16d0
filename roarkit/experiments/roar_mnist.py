"""The "ROAR on MNIST" page: the practical-work report's experiment (IG against random removal, retrained
at 10 … 90 % removed) repeated with its settings, and its claims tested.

:func:`run` trains the grid (:class:`roarkit.experiments.roar_grid.Grid`: base models, IG and random
ranks, one retraining per method, threshold and seed) and assembles the page's tables. The verdict rules,
each a small function of the numbers the page quotes:

* the base models reproduce the report's accuracy when their mean is within :data:`BASE_TOLERANCE_PP`
  points of it (:func:`base_reproduced`);
* IG at 90 % "falls to chance" when its mean accuracy is within :data:`CHANCE_TOLERANCE_PP` points of
  chance (:func:`falls_to_chance`);
* random removal at 90 % "stays high" as in the report when our mean per-class precision there (the
  quantity of the report's Table III) is at least the report's, less the tolerance of
  :func:`precision_tolerance` (:func:`stays_high`): the report's own number, not a fixed "high";
* the spread of IG "explodes" at 70 % when its standard deviation over seeds is at least
  :data:`EXPLODES_PP` points and the largest of all IG thresholds (:func:`spread_explodes`);
* Table I: our standard deviation agrees with the report's when the difference is within
  :func:`std_tolerance`, twice the standard error of a standard deviation from n runs;
* Tables II and III: our per-class precision agrees with the report's when the difference of the two
  means is within :func:`precision_tolerance`, twice the standard error of a difference of two means of
  n runs each.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from roarkit.core import data as D
from roarkit.core import paper, stats
from roarkit.core.device import resolve_device
from roarkit.core.labels import label
from roarkit.core.saliency import AttributionConfig
from roarkit.experiments import base_models
from roarkit.experiments.roar_grid import Grid
from roarkit.store import Store

__all__ = ["METHODS", "REPORT_TABLES", "BASE_TOLERANCE_PP", "CHANCE_TOLERANCE_PP", "EXPLODES_PP", "N_EXAMPLES",
           "verdict", "base_reproduced", "falls_to_chance", "stays_high", "spread_explodes", "std_tolerance",
           "precision_tolerance", "table1", "precision_table", "precision_vs_report", "macro_precision", "curve",
           "claims", "verdict_text", "RoarMnistResult", "run"]

#: The report's two rankings: Integrated Gradients and random.
METHODS = ("ig", "random")
#: Base accuracy: "reproduced" within this many percentage points of the report's 98 %.
BASE_TOLERANCE_PP = 1.0
#: IG at 90 % "falls to chance": within this many points of chance (10 % on MNIST).
CHANCE_TOLERANCE_PP = 5.0
#: The report's per-class precision tables in ``paper_values.yaml`` (``roar_report``), by method.
REPORT_TABLES = {"ig": "table2_precision_percent_ig", "random": "table3_precision_percent_random"}
#: The spread of IG "explodes" at 70 %: a standard deviation of at least this many points (and the largest).
EXPLODES_PP = 10.0
#: Test images shown per method in the removal figure.
N_EXAMPLES = 3


def verdict(holds: bool) -> str:
    """The word for a claim of the report: "reproduced" or "not reproduced"."""
    return "reproduced" if holds else "not reproduced"


def base_reproduced(mean_accuracy: float, report: float) -> bool:
    """Whether the base models' mean accuracy (0..1) is within :data:`BASE_TOLERANCE_PP` points of the
    report's (0..1)."""
    return abs(100 * (mean_accuracy - report)) <= BASE_TOLERANCE_PP


def falls_to_chance(accuracy_pp: float, chance_pp: float) -> bool:
    """Whether an accuracy (percent) is within :data:`CHANCE_TOLERANCE_PP` points of chance (percent);
    False for NaN (the threshold was not run)."""
    return abs(accuracy_pp - chance_pp) <= CHANCE_TOLERANCE_PP


def stays_high(ours_pp: float, report_pp: float, tolerance_pp: float) -> bool:
    """Whether our mean per-class precision at 90 % random removal (percent) is at least the report's
    less ``tolerance_pp`` (:func:`precision_tolerance`); False for NaN."""
    return bool(ours_pp >= report_pp - tolerance_pp)


def spread_explodes(std_pp: pd.Series, at: int = 70) -> bool:
    """Whether the standard deviation (points, indexed by threshold) at threshold ``at`` is at least
    :data:`EXPLODES_PP` and the largest of all thresholds; False when ``at`` was not run."""
    s = std_pp.get(at, float("nan"))
    return bool(s >= EXPLODES_PP and s >= std_pp.max())


def std_tolerance(std_ours: float, std_report: float, n: int) -> float:
    """Table I's tolerance for the difference of two standard deviations (points): twice the standard
    error of a standard deviation estimated from ``n`` runs, σ/√(2(n−1)), with σ the larger of the two;
    NaN for fewer than two runs."""
    return 2 * max(std_ours, std_report) / np.sqrt(2 * (n - 1)) if n > 1 else float("nan")


def precision_tolerance(std_ours: float, std_report: float, n: int) -> float:
    """Tolerance for the difference of two mean precisions (points), each over ``n`` runs: twice the
    standard error of the difference, 2·√((s_ours² + s_report²)/n); NaN for fewer than two runs."""
    return 2 * float(np.sqrt((std_ours ** 2 + std_report ** 2) / n)) if n > 1 else float("nan")


def table1(rows: pd.DataFrame, report: dict, methods=METHODS) -> pd.DataFrame:
    """The report's Table I beside ours: per method and threshold the mean accuracy, both standard
    deviations (points), their difference, the tolerance and whether it holds ("yes"/"no"). ``rows``: one
    row per retraining (``method``, ``threshold``, ``accuracy`` 0..1); ``report``: the paper values
    ``roar_report`` (``thresholds``, ``table1_std_percent``). Thresholds not run are left out."""
    out = []
    for method in methods:
        ours = rows[rows.method == method].groupby("threshold")["accuracy"].agg(["mean", "std", "count"])
        for t, rep in zip(report["thresholds"], report["table1_std_percent"][method]):
            if t in ours.index:
                std, n = 100 * ours.loc[t, "std"], int(ours.loc[t, "count"])
                tol = std_tolerance(std, rep, n)
                out.append({"method": label("method", method), "threshold (%)": t,
                            "mean accuracy (%)": 100 * ours.loc[t, "mean"], "std, ours (pp)": std,
                            "std, report (pp)": rep, "difference (pp)": std - rep, "tolerance (pp)": tol,
                            "within": "yes" if abs(std - rep) <= tol else "no"})
    return pd.DataFrame(out).set_index(["method", "threshold (%)"])


def precision_table(rows: pd.DataFrame, method: str, classes) -> pd.DataFrame:
    """Per class (rows) and threshold (columns "t %"): precision "mean ± std" over seeds of ``method``."""
    sub = rows[rows.method == method]
    cols = [c for c in rows.columns if c.startswith("precision_")]
    mean = sub.groupby("threshold")[cols].mean().T
    std = sub.groupby("threshold")[cols].std().T
    cells = mean.apply(lambda col: [f"{m:.3f} ± {s:.3f}" for m, s in zip(col, std[col.name])])
    cells.index = pd.Index(classes, name="class")
    cells.columns = [f"{t} %" for t in cells.columns]
    return cells


def _precision_stats(rows: pd.DataFrame, method: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """Per threshold (rows) and class (columns) our mean and std precision in points, and runs per threshold."""
    sub = rows[rows.method == method]
    cols = sorted((c for c in rows.columns if c.startswith("precision_")), key=lambda c: int(c.split("_")[1]))
    g = sub.groupby("threshold")[cols]
    return 100 * g.mean(), 100 * g.std(), sub.groupby("threshold").size()


def precision_vs_report(rows: pd.DataFrame, method: str, report: dict, classes) -> pd.DataFrame:
    """Tables II (IG) and III (random) beside ours: per threshold and class, our precision (mean and std
    over seeds, points), the report's, their difference, :func:`precision_tolerance` and whether it holds
    ("yes"/"no"; "–" with one run). ``report``: the paper values ``roar_report``."""
    mean, std, n = _precision_stats(rows, method)
    table = report[REPORT_TABLES[method]]
    out = []
    for i, t in enumerate(report["thresholds"]):
        if t not in mean.index:
            continue
        for c, name in enumerate(classes):
            m, s_, rm, rs = mean.loc[t].iloc[c], std.loc[t].iloc[c], table["mean"][i][c], table["std"][i][c]
            tol = precision_tolerance(0.0 if np.isnan(s_) else s_, rs, int(n[t]))
            out.append({"threshold (%)": t, "class": name, "ours (%)": m, "ours std (pp)": s_, "report (%)": rm,
                        "report std (pp)": rs, "difference (pp)": m - rm, "tolerance (pp)": tol,
                        "within": "–" if np.isnan(tol) else "yes" if abs(m - rm) <= tol else "no"})
    return pd.DataFrame(out).set_index(["threshold (%)", "class"])


def macro_precision(rows: pd.DataFrame, method: str, threshold: int, report: dict) -> dict:
    """At one threshold: our mean per-class precision (points; the mean over classes of the seeds' mean),
    the report's (its table's row, averaged over classes), and the tolerance of their difference from the
    mean per-class stds (:func:`precision_tolerance`). NaN where the threshold was not run."""
    mean, std, n = _precision_stats(rows, method)
    i = report["thresholds"].index(threshold)
    table = report[REPORT_TABLES[method]]
    rep, rep_std = float(np.mean(table["mean"][i])), float(np.mean(table["std"][i]))
    if threshold not in mean.index:
        return {"ours": float("nan"), "report": rep, "tolerance": float("nan")}
    ours_std = float(np.nan_to_num(std.loc[threshold].to_numpy()).mean())
    return {"ours": float(mean.loc[threshold].mean()), "report": rep,
            "tolerance": precision_tolerance(ours_std, rep_std, int(n[threshold]))}


def curve(rows: pd.DataFrame, base_accuracy: np.ndarray, methods=METHODS) -> pd.DataFrame:
    """Fig 1's data: per method (label) and threshold the mean and std of the accuracy (0..1), with
    threshold 0 = the base models."""
    summary = stats.summarize(rows, ["method", "threshold"])
    summary["method"] = summary["method"].map(lambda m: label("method", m))
    std0 = base_accuracy.std(ddof=1) if len(base_accuracy) > 1 else 0.0
    base = pd.DataFrame([{"method": label("method", m), "threshold": 0, "mean": base_accuracy.mean(), "std": std0}
                         for m in methods])
    return pd.concat([base, summary[["method", "threshold", "mean", "std"]]])


def claims(rows: pd.DataFrame, chance: float, report: dict) -> dict:
    """The numbers of the three claims (``ig90``, ``rnd90`` accuracy and ``rnd90_prec`` mean per-class
    precision in percent, beside the report's ``report_rnd90_prec`` and the tolerance ``rnd90_tol``;
    ``ig70std`` in points; NaN where not run) and their verdicts (``verdict_ig90``, ``verdict_rnd90``,
    ``verdict_std70``)."""
    acc = rows.groupby(["method", "threshold"])["accuracy"].agg(["mean", "std"])
    has = lambda m, t: (m, t) in acc.index  # noqa: E731
    ig90 = 100 * acc.loc[("ig", 90), "mean"] if has("ig", 90) else float("nan")
    rnd90 = 100 * acc.loc[("random", 90), "mean"] if has("random", 90) else float("nan")
    ig_std = 100 * acc.loc["ig", "std"] if "ig" in acc.index.get_level_values(0) else pd.Series(dtype=float)
    prec = macro_precision(rows, "random", 90, report)
    return {"ig90": float(ig90), "rnd90": float(rnd90), "ig70std": float(ig_std.get(70, float("nan"))),
            "rnd90_prec": prec["ours"], "report_rnd90_prec": prec["report"], "rnd90_tol": prec["tolerance"],
            "verdict_ig90": verdict(falls_to_chance(ig90, 100 * chance)),
            "verdict_rnd90": verdict(stays_high(prec["ours"], prec["report"], prec["tolerance"])),
            "verdict_std70": verdict(spread_explodes(ig_std))}


def verdict_text(verdicts, profile: str) -> str:
    """The sentence under the claims table: how many claims hold, and a caveat for reduced settings."""
    verdicts = list(verdicts)
    return (f"{verdicts.count('reproduced')} of the report's {len(verdicts)} claims hold in this run. " +
            ("" if profile == "paper" else "This run used reduced settings (see the provenance block), "
             "so the verdicts describe it, not the paper-setting experiment. "))


@dataclass
class RoarMnistResult:
    """What the page shows: the grid and its data, the base accuracies, one row per retraining, the
    tables, the example rankings (method → ranks of the first test images, seed 0), the numbers the text
    quotes (``numbers``: glue name → value) and its Markdown (``markdown``: glue name → text: each claim's
    verdict in bold and the sentence under the claims table)."""

    data: D.Dataset
    grid: Grid
    base_accuracy: np.ndarray
    rows: pd.DataFrame
    curve: pd.DataFrame
    table1: pd.DataFrame
    precision: dict          # method -> precision_table
    versus_report: dict      # method -> precision_vs_report (Tables II and III beside ours)
    examples: dict           # method -> (N_EXAMPLES, H·W) ranks
    chance: float
    numbers: dict
    markdown: dict

    @property
    def infos(self) -> list:
        """The DataInfo of every dataset the result ran on (what the page records)."""
        return [d.info for d in [self.data]]


def run(p, store: Store | None = None) -> RoarMnistResult:
    """The page from its parameters ``p`` (``n_train``, ``n_test``, ``subset_seed``, ``epochs``,
    ``batch_size``, ``lr``, ``momentum``, ``seeds``, ``thresholds``, ``ig_steps``, ``device``, ``profile``)."""
    store = Store() if store is None else store
    ds = D.load("mnist", n_train=p.n_train or None, n_test=p.n_test or None, seed=p.subset_seed,
                device=resolve_device(p.device))
    grid = Grid(ds, base_models.train_config(p), methods=METHODS, thresholds=tuple(p.thresholds),
                seeds=tuple(range(p.seeds)), attr=AttributionConfig(ig_steps=p.ig_steps), store=store)
    report, chance = paper.value("roar_report"), 1 / ds.num_classes
    base = grid.base()
    base_acc = np.array([base[s].value["metrics"]["accuracy"] for s in grid.seeds])
    rows = pd.DataFrame(grid.run())
    numbers = claims(rows, chance, report)
    verdicts = {k: numbers.pop(k) for k in ("verdict_ig90", "verdict_rnd90", "verdict_std70")}
    numbers |= {"base_mean": float(100 * base_acc.mean()),
                "base_std": float(100 * base_acc.std(ddof=1)) if len(base_acc) > 1 else float("nan"),
                "report_base": 100 * report["base_accuracy_mnist"],
                "verdict_base": verdict(base_reproduced(base_acc.mean(), report["base_accuracy_mnist"])),
                "n_seeds": len(grid.seeds), "n_units": len(rows),
                "report_ig70std": float(report["table1_std_percent"]["ig"][report["thresholds"].index(70)])}
    markdown = {k: f"**{v}**" for k, v in verdicts.items()}
    markdown["verdict_text"] = verdict_text(verdicts.values(), p.profile)
    examples = {m: grid.ranks(m, 0)["test"][:N_EXAMPLES] for m in METHODS}
    return RoarMnistResult(ds, grid, base_acc, rows, curve(rows, base_acc), table1(rows, report),
                           {m: precision_table(rows, m, ds.classes) for m in METHODS},
                           {m: precision_vs_report(rows, m, report, ds.classes) for m in METHODS}, examples, chance, numbers,
                           markdown)

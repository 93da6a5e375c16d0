"""Sanity checks a page runs on its own result, one line after ``run(P)``: a silently wrong run becomes a
failed page (the runner keeps it in ``_build/failed/`` and leaves the last good page as it was).

Each check states a rule that holds for any correct run, the quick profile's tiny settings included, with
margins wide enough for seed noise there; a failure raises :class:`PageCheckError` naming the page, the
check and the numbers. The rules:

* :func:`base_accuracy`: a model the page explains or retrains from learned something: its test accuracy
  is at least :data:`CHANCE_FACTOR` × chance (15 % for ten classes; an untrained or label-shuffled model
  sits at 10 %, the quick profile's weakest base models at about 27 %).
* :func:`kar_above_roar`: at the largest threshold, keeping the top t % of the pixels (KAR) leaves a
  model at least as accurate as removing them (ROAR), averaged over estimators and seeds, up to
  :data:`TOLERANCE_PP` percentage points (near-chance models of the quick profile differ by noise only).
* :func:`faithful_below_random`: at the largest threshold ROAR with a saliency map (IG) hurts at least as
  much as ROAR with random pixels, up to :data:`TOLERANCE_PP`.
* :func:`k_within_bounds`: SMOOT's final per-image K lies within [k_min, k_max] of the pixels.
* :func:`identity_holds`: two quantities equal by construction (the insertion area and the LeRF area
  under the same baseline) agree to :data:`IDENTITY_TOL`.

The page functions (:func:`data_and_models`, :func:`roar_mnist`, :func:`roar_benchmark`, :func:`sgt`,
:func:`saliency_metrics`) apply the rules that fit each page's result.
"""
from __future__ import annotations

import math

import pandas as pd

__all__ = ["CHANCE_FACTOR", "TOLERANCE_PP", "IDENTITY_TOL", "PageCheckError", "base_accuracy", "kar_above_roar",
           "faithful_below_random", "k_within_bounds", "identity_holds", "data_and_models", "roar_mnist",
           "roar_benchmark", "sgt", "saliency_metrics"]

#: A model has learned when its test accuracy is at least this many times chance.
CHANCE_FACTOR = 1.5
#: Seed noise allowed in the comparisons of mean accuracies (percentage points).
TOLERANCE_PP = 5.0
#: Numerical tolerance of identities that hold by construction.
IDENTITY_TOL = 1e-4


class PageCheckError(AssertionError):
    """A page's result broke one of its sanity checks (the message names page, check and numbers)."""


def _fail(page: str, check: str, detail: str):
    raise PageCheckError(f"page {page!r} failed its sanity check {check!r}: {detail}")


def base_accuracy(page: str, accuracies: dict, num_classes: int, factor: float = CHANCE_FACTOR) -> None:
    """Every model of ``accuracies`` (name → test accuracy as a fraction) reaches ``factor`` × chance."""
    floor = factor / num_classes
    low = {k: v for k, v in accuracies.items() if not v >= floor}
    if low:
        _fail(page, "base accuracy", ", ".join(f"{k} {100 * v:.1f} %" for k, v in low.items())
              + f" below the floor of {100 * floor:.1f} % ({factor} × chance, {num_classes} classes)")


def _mean_at(rows: pd.DataFrame, threshold, **where) -> float:
    sel = rows[rows.threshold == threshold]
    for col, value in where.items():
        sel = sel[sel[col] == value]
    return float(sel.accuracy.mean()) if len(sel) else math.nan


def kar_above_roar(page: str, rows: pd.DataFrame, tolerance_pp: float = TOLERANCE_PP) -> None:
    """Per dataset (column ``dataset``, if any), mean KAR accuracy ≥ mean ROAR accuracy − tolerance at the
    largest threshold; ``rows`` hold ``mode`` ("roar"/"kar"), ``threshold`` and ``accuracy`` (fraction)."""
    if not {"roar", "kar"} <= set(rows["mode"].str.lower()):
        return
    rows = rows.assign(mode=rows["mode"].str.lower())
    t = rows.threshold.max()
    for name, g in (rows.groupby("dataset", sort=False) if "dataset" in rows else [("", rows)]):
        kar, roar = _mean_at(g, t, mode="kar"), _mean_at(g, t, mode="roar")
        if not 100 * kar >= 100 * roar - tolerance_pp:
            _fail(page, "KAR ≥ ROAR", f"{name + ': ' if name else ''}at {t} % KAR {100 * kar:.1f} % < ROAR "
                  f"{100 * roar:.1f} % − {tolerance_pp} pp")


def faithful_below_random(page: str, rows: pd.DataFrame, method: str, tolerance_pp: float = TOLERANCE_PP) -> None:
    """ROAR at the largest threshold: mean accuracy with ``method``'s ranking ≤ with random + tolerance."""
    rows = rows[rows["mode"].str.lower() == "roar"] if "mode" in rows else rows
    t = rows.threshold.max()
    ours, rnd = _mean_at(rows, t, method=method), _mean_at(rows, t, method="random")
    if not 100 * ours <= 100 * rnd + tolerance_pp:
        _fail(page, f"{method} ≤ random", f"ROAR at {t} %: {method} {100 * ours:.1f} % > random "
              f"{100 * rnd:.1f} % + {tolerance_pp} pp")


def k_within_bounds(page: str, k_final, pixels: int, k_min: float, k_max: float) -> None:
    """SMOOT's final K per image (a tensor per seed) within [k_min, k_max] × pixels, rounded as K is."""
    lo, hi = math.floor(k_min * pixels + 0.5), math.floor(k_max * pixels + 0.5)
    for i, k in enumerate(k_final):
        kmin, kmax = int(k.min()), int(k.max())
        if kmin < lo or kmax > hi:
            _fail(page, "SMOOT K within bounds", f"seed {i}: K spans {kmin}-{kmax}, outside {lo}-{hi} of {pixels}")


def identity_holds(page: str, name: str, gap: float, tol: float = IDENTITY_TOL) -> None:
    """A difference that is zero by construction stays below ``tol``."""
    if not abs(gap) <= tol:
        _fail(page, name, f"gap {gap:.3g} exceeds {tol:g}")


# -- the pages ---------------------------------------------------------------------------------------------
def data_and_models(R) -> None:
    """Every dataset's base model learned."""
    base_accuracy("data_and_models", {n: e.value["metrics"]["accuracy"] for n, e in R.runs.items()},
                  min(ds.num_classes for ds in R.datasets.values()))


def roar_mnist(R) -> None:
    """The base models learned; IG at the largest threshold hurts at least as much as random."""
    base_accuracy("roar_mnist", {f"seed {s}": float(a) for s, a in enumerate(R.base_accuracy)}, R.data.num_classes)
    faithful_below_random("roar_mnist", R.rows, "ig")


def roar_benchmark(R) -> None:
    """KAR at the largest threshold is at least as accurate as ROAR, per dataset."""
    kar_above_roar("roar_benchmark", R.rows)


def sgt(R) -> None:
    """Each training learned (mean over seeds); SMOOT's K stayed within its bounds."""
    acc = R.runs.groupby("training", sort=False).accuracy.mean()
    base_accuracy(f"sgt_{R.dataset}", acc.to_dict(), R.data.num_classes)
    n = R.numbers
    k_within_bounds(f"sgt_{R.dataset}", R.k_final, n["pixels"], n["kmin_pct"] / 100, n["kmax_pct"] / 100)


def saliency_metrics(R) -> None:
    """Insertion is LeRF read backwards: their areas agree (the page's ``identity_gap``)."""
    identity_holds("saliency_metrics", "insertion area = LeRF area", R.numbers["identity_gap"])

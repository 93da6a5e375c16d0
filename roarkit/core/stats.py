"""Summaries over seeds: mean, sample standard deviation and a Student-t 95 % confidence interval."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as _st

__all__ = ["ci95", "summarize", "paired_difference"]


def ci95(values) -> float:
    """Half-width of the two-sided 95 % t-interval of the mean (NaN for fewer than two values)."""
    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return float("nan")
    return float(_st.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))


def summarize(df: pd.DataFrame, by: list[str], value: str = "accuracy") -> pd.DataFrame:
    """Per group: ``mean``, ``std`` (ddof 1), ``n`` and ``ci95`` (half-width) of ``value``."""
    g = df.groupby(by, sort=False)[value]
    out = g.agg(mean="mean", std="std", n="count")
    out["ci95"] = g.apply(ci95)
    return out.reset_index()


def paired_difference(df: pd.DataFrame, a: str, b: str, by: list[str], pair: str = "seed",
                      value: str = "accuracy", column: str = "method") -> pd.DataFrame:
    """Mean of ``value[a] − value[b]`` over seeds (paired by ``pair``) with its 95 % CI, per group."""
    wide = df.pivot_table(index=[*by, pair], columns=column, values=value).reset_index()
    wide["diff"] = wide[a] - wide[b]
    return summarize(wide, by, "diff")

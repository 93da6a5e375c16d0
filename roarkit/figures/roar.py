"""Figures of the ROAR chapter's pages ("ROAR on MNIST" and "The ROAR benchmark"), drawn from the data, the
example rankings and the tables of a page's result."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from roarkit.core import roar
from roarkit.core.labels import label

__all__ = ["SHORT", "fig_examples", "fig_roar_curve", "fig_bench_examples", "fig_bench_curves"]

#: Short row names of the benchmark's curves (long rotated margin titles spread the rows far apart).
SHORT = {"mnist": "MNIST", "fashion_mnist": "Fashion"}


def fig_examples(ds, examples: dict, thresholds) -> "plt.Figure":
    """The first test images of ``ds`` (one row each) after ROAR removal at each threshold, one block of
    rows per method; ``examples``: method → ranks (n, H·W) of the first n test images."""
    n_show = len(next(iter(examples.values())))
    fig, axes = plt.subplots(len(examples) * n_show, len(thresholds) + 1,
                             figsize=(1.3 * (len(thresholds) + 1), 1.35 * len(examples) * n_show), squeeze=False)
    x = ds.x_test[:n_show]
    for r, (method, rank) in enumerate(examples.items()):
        for i in range(n_show):
            row = axes[r * n_show + i]
            row[0].imshow(ds.unnormalize(x[i:i + 1])[0, 0].cpu().numpy(), cmap="gray_r", vmin=0, vmax=1)
            for j, t in enumerate(thresholds):
                img = ds.unnormalize(roar.remove(x[i:i + 1], rank[i:i + 1], t))[0, 0].cpu().numpy()
                row[j + 1].imshow(img, cmap="gray_r", vmin=0, vmax=1)
            row[0].set_ylabel(label("method", method) if i == 0 else "", fontsize=8)
    for j, t in enumerate(["original", *[f"{t} %" for t in thresholds]]):
        axes[0, j].set_title(t, fontsize=9)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def fig_roar_curve(curve: pd.DataFrame, thresholds, chance: float) -> "plt.Figure":
    """Mean accuracy (%) against pixels removed, one line per method with a ± std band, and chance dotted;
    ``curve``: ``method``, ``threshold`` (0 = the base models), ``mean`` and ``std`` (0..1)."""
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for method, g in curve.groupby("method", sort=False):
        g = g.sort_values("threshold")
        ax.plot(g["threshold"], 100 * g["mean"], marker="o", label=method)
        ax.fill_between(g["threshold"], 100 * (g["mean"] - g["std"]), 100 * (g["mean"] + g["std"]), alpha=0.25)
    ax.axhline(100 * chance, ls=":", color="grey", label="chance")
    ax.set(xlabel="pixels removed (%)", ylabel="test accuracy (%)", xticks=[0, *thresholds], ylim=(0, 101))
    ax.legend(loc="lower left")
    fig.tight_layout()
    return fig


def fig_bench_examples(datasets: dict, examples: dict, thresholds) -> "plt.Figure":
    """The first test image of each dataset after ROAR removal by every estimator (rows) at every
    threshold (columns, one block per dataset); ``datasets``: name → dataset, ``examples``: name →
    {estimator → ranks (1, H·W)}."""
    est = list(next(iter(examples.values())))
    nt = len(thresholds)
    fig, axes = plt.subplots(len(est), nt * len(datasets), figsize=(1.0 * nt * len(datasets) + 1.6, 1.0 * len(est) + 0.6),
                             squeeze=False)
    for d, (name, ds) in enumerate(datasets.items()):
        x = ds.x_test[:1]
        for r, m in enumerate(est):
            rank = examples[name][m][:1]
            for j, t in enumerate(thresholds):
                ax = axes[r, d * nt + j]
                ax.imshow(ds.unnormalize(roar.remove(x, rank, t))[0, 0].cpu().numpy(), cmap="gray_r", vmin=0, vmax=1)
                ax.set_xticks([])
                ax.set_yticks([])
                if r == 0:
                    ax.set_title(f"{name}\n{t} %" if j == 0 else f"{t} %", fontsize=8)
            axes[r, 0].set_ylabel(label("method", m).replace(" + ", "\n+ "), fontsize=7, rotation=0, ha="right",
                                  va="center")
    fig.subplots_adjust(left=0.2, wspace=0.05, hspace=0.08)
    return fig


def fig_bench_curves(rows: pd.DataFrame) -> "plt.Figure":
    """Accuracy (%) against the threshold, mean over seeds with a 95 % band: one panel per estimator family
    (columns; random and Sobel drawn in each) and per dataset and mode (rows). ``rows``: one row per
    retraining with ``dataset``, ``mode``, ``method``, ``threshold``, ``accuracy`` (0..1) and the labels
    ``estimator``, ``family``, ``variant``."""
    controls = ["random", "sobel"]
    ref = rows[rows.method.isin(controls)]
    families = [f for f in rows.family.unique() if f not in {label("method", c) for c in controls}]
    panels = [pd.concat([rows[rows.family == fam], ref]).assign(panel=fam) for fam in families]
    plot = pd.concat(panels) if panels else ref.assign(panel="controls")
    plot["curve"] = np.where(plot.method.isin(controls), plot.estimator, plot.variant)
    plot["accuracy (%)"] = 100 * plot["accuracy"]
    g = sns.relplot(plot, x="threshold", y="accuracy (%)", hue="curve", col="panel",
                    row=plot["dataset"].map(SHORT) + " " + plot["mode"].str.upper(),
                    kind="line", errorbar=("ci", 95), marker="o", height=2.3, aspect=1.15,
                    facet_kws={"margin_titles": True})
    g.set_titles(row_template="{row_name}", col_template="{col_name}")
    g.set_axis_labels("", "accuracy (%)")
    g.figure.supxlabel("pixels removed (ROAR rows) or kept (KAR rows), %", y=0.0)
    return g.figure

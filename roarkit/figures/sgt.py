"""Figures of the SGT chapter's pages, drawn from the pages' results (:mod:`roarkit.experiments.sgt`,
:mod:`roarkit.experiments.sgt_cifar`): tables, tensors and images in [0, 1]; nothing is computed here."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from roarkit.core.labels import label

__all__ = ["fig_drop_curves", "fig_saliency_maps", "fig_k", "fig_masks", "fig_validation", "fig_paper_cifar"]


def _show(ax, img: torch.Tensor) -> None:
    """One image (C, H, W) in [0, 1], grey for one channel; no ticks."""
    ax.imshow(img.permute(1, 2, 0).squeeze(-1).clamp(0, 1), cmap="gray_r", vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])


def fig_drop_curves(curves: pd.DataFrame, methods=None):
    """Accuracy over removed percentage, one panel per saliency method, one line per training (mean ± std
    over seeds). ``curves``: one row per (training, seed, method, percent) with the accuracy as a fraction."""
    methods = list(methods if methods is not None else curves.method.unique())
    fig, axes = plt.subplots(1, len(methods), figsize=(3.3 * len(methods), 3.2), sharey=True)
    axes = np.atleast_1d(axes)
    for ax, m in zip(axes, methods):
        for v, g in curves[curves.method == m].groupby("training", sort=False):
            acc = 100 * g.pivot(index="seed", columns="percent", values="accuracy")
            mu, sd = acc.to_numpy().mean(0), acc.to_numpy().std(0)
            ax.plot(acc.columns, mu, marker="o", ms=3, label=label("training", v))
            ax.fill_between(acc.columns, mu - sd, mu + sd, alpha=0.2)
        ax.set(title=label("method", m), xlabel="salient pixels removed (%)")
    axes[0].set_ylabel("test accuracy (%)")
    axes[-1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def fig_saliency_maps(images: torch.Tensor, titles: list, maps: dict):
    """Paper Fig. 2: images (top row, in [0, 1]) and one row per training of their gradient magnitude
    (``maps``: name -> (N, H, W)), each map scaled to its maximum."""
    n, rows = len(images), len(maps) + 1
    fig, axes = plt.subplots(rows, n, figsize=(1.35 * n, 1.4 * rows))
    axes = np.atleast_2d(axes)
    for j in range(n):
        _show(axes[0, j], images[j])
        axes[0, j].set_title(titles[j], fontsize=8)
    for i, (name, g) in enumerate(maps.items(), start=1):
        for j in range(n):
            axes[i, j].imshow(g[j] / g[j].max().clamp(min=1e-12), cmap="hot", vmin=0, vmax=1)
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
        axes[i, 0].set_ylabel(name, fontsize=8)
    axes[0, 0].set_ylabel("image", fontsize=8)
    fig.tight_layout()
    return fig


def fig_k(k_final: list, k_quantiles: list, pixels: int, paper_k: dict | None = None):
    """SMOOT's per-image K: histogram of the final K (all seeds; one tensor per seed in ``k_final``) and
    its quantiles over epochs (``k_quantiles``: (epochs + 1, 7 levels) per seed)."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.4))
    k = torch.cat([t.float() for t in k_final]).numpy()
    a.hist(k, bins=40, color="C2")
    a.axvline(np.median(k), color="k", lw=1, label=f"ours: {int(k.min())}/{int(np.median(k))}/{int(k.max())}")
    if paper_k:
        for key, ls in (("k_min", ":"), ("k_median", "--"), ("k_max", ":")):
            a.axvline(paper_k[key], color="C3", ls=ls, lw=1)
        a.plot([], [], color="C3", ls="--", label=f"paper: {paper_k['k_min']}/{paper_k['k_median']}/{paper_k['k_max']}")
    a.set(xlabel=f"final K (pixels masked of {pixels})", ylabel="training images", title="final K (min/median/max)")
    a.legend(fontsize=8)
    for i, q in enumerate(k_quantiles):
        q = q.numpy()
        ep = np.arange(len(q))
        b.plot(ep, q[:, 3], color=f"C{i}", label=f"seed {i}: median")
        b.fill_between(ep, q[:, 1], q[:, 5], color=f"C{i}", alpha=0.15)
        b.plot(ep, q[:, 0], color=f"C{i}", ls=":", lw=0.8)
        b.plot(ep, q[:, 6], color=f"C{i}", ls=":", lw=0.8)
    b.set(xlabel="epoch", ylabel="K (pixels)", title="K over epochs: median, 5-95 % band, min/max dotted")
    b.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    b.legend(fontsize=8)
    fig.tight_layout()
    return fig


def fig_masks(rows: dict):
    """One row of images (N, C, H, W, in [0, 1]) per name: the test images and their masked versions."""
    n = len(next(iter(rows.values())))
    fig, axes = plt.subplots(len(rows), n, figsize=(1.3 * n, 1.45 * len(rows)))
    for i, (name, img) in enumerate(rows.items()):
        for j in range(n):
            _show(axes[i, j], img[j])
        axes[i, 0].set_ylabel(name, fontsize=8)
    fig.tight_layout()
    return fig


def fig_validation(histories: dict):
    """Validation accuracy per epoch (mean over seeds) and the training loss terms; ``histories``:
    training -> one history per seed."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.2))
    for v, hs in histories.items():
        va = 100 * np.mean([h["val_accuracy"] for h in hs], 0)
        ep = np.arange(1, len(va) + 1)
        a.plot(ep, va, marker="o", ms=3, label=label("training", v))
        b.plot(ep, np.mean([h["ce"] for h in hs], 0), marker="o", ms=3, label=f"{label('training', v)}: CE")
        if v != "traditional":
            b.plot(ep, np.mean([h["kl"] for h in hs], 0), ls="--", marker="x", ms=3, label=f"{label('training', v)}: KL")
    a.set(xlabel="epoch", ylabel="validation accuracy (%)")
    for ax in (a, b):
        ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    b.set(xlabel="epoch", ylabel="mean training loss term")
    a.legend(fontsize=8)
    b.legend(fontsize=7)
    fig.tight_layout()
    return fig


def fig_paper_cifar(table: pd.DataFrame):
    """The SMOOT paper's CIFAR accuracies (%): ``table`` has one column per dataset, one row per training."""
    fig, ax = plt.subplots(figsize=(6, 3))
    table.T.plot.bar(ax=ax, rot=0)
    ax.set(ylabel="test accuracy (%)", ylim=(70, 100), title="SMOOT paper, DeiT-tiny (pretrained)")
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return fig

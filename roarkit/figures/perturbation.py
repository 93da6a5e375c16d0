"""Figures of the perturbation chapter: "Perturbation saliency and its baselines" (``fig_baselines`` …
``fig_config_dist``, from a :class:`roarkit.experiments.perturbation_saliency.PerturbationResult`) and
"Saliency metrics disagree" (``fig_maps`` … ``fig_sanity``, from a
:class:`roarkit.experiments.saliency_metrics.MetricsResult`). Each returns a matplotlib Figure."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch

from roarkit.core import divergence
from roarkit.core.labels import label
from roarkit.core.saliency import baselines as B

__all__ = ["fig_baselines", "fig_examples", "fig_baseline_heat", "fig_baseline_dist", "fig_config_heat",
           "fig_config_dist", "fig_maps", "fig_curves", "fig_rankings", "fig_consistency", "fig_sanity"]

FAMILIES = divergence.FAMILIES


def _no_ticks(axes) -> None:
    for ax in axes.flat:
        ax.set_xticks([]), ax.set_yticks([])


def _first_image(ex) -> torch.Tensor:
    """The first explained test image of a dataset, in [0, 1] pixels (H, W)."""
    return ex.data.unnormalize(ex.images(0, 1)[0])[0, 0].cpu()


def _signed(ax, m: torch.Tensor, relative: bool) -> None:
    """A map in red (positive) and blue (negative) on its own symmetric scale; ``relative``: minus its mean."""
    m = m - m.mean() if relative else m
    v = m.abs().max().item() or 1.0
    ax.imshow(m, cmap="RdBu_r", vmin=-v, vmax=v)


# -- Perturbation saliency and its baselines -------------------------------------------------------
def fig_baselines(R):
    """One test image per dataset with its central 12×12 patch replaced by each baseline."""
    bls = R.grid.baselines
    fig, axes = plt.subplots(len(R.datasets), len(bls) + 1, figsize=(1.6 * (len(bls) + 1), 1.8 * len(R.datasets)),
                             squeeze=False)
    for r, (name, ex) in enumerate(R.datasets.items()):
        x = ex.images(0, 1)[0]
        patch = torch.zeros_like(x[:, :1], dtype=torch.bool)
        patch[..., 8:20, 8:20] = True
        axes[r, 0].imshow(ex.data.unnormalize(x)[0, 0].cpu(), cmap="gray_r", vmin=0, vmax=1)
        axes[r, 0].set_title("input" if r == 0 else "", fontsize=8)
        axes[r, 0].set_ylabel(name, fontsize=8)
        for c, b in enumerate(bls, 1):
            img = ex.data.unnormalize(B.perturb(x, patch, b, ex.stats, seed=R.seed))[0, 0].clamp(0, 1).cpu()
            axes[r, c].imshow(img, cmap="gray_r", vmin=0, vmax=1)
            axes[r, c].set_title(label("baseline", b) if r == 0 else "", fontsize=8)
    _no_ticks(axes)
    fig.tight_layout()
    return fig


def fig_examples(R):
    """Occlusion and RISE maps (first setting) of one test image per dataset, one column per baseline."""
    rows = [(name, fam) for name in R.datasets for fam in FAMILIES]
    nb = len(R.grid.baselines)
    fig, axes = plt.subplots(len(rows), nb + 1, figsize=(1.6 * (nb + 1), 1.7 * len(rows)), squeeze=False)
    for r, (name, fam) in enumerate(rows):
        ex = R.examples[name][fam]  # (B, configs, E, H, W)
        axes[r, 0].imshow(_first_image(R.datasets[name]), cmap="gray_r")
        axes[r, 0].set_ylabel(f"{name}\n{fam}", fontsize=8)
        for c in range(nb):
            _signed(axes[r, c + 1], ex[c, 0, 0], fam == "rise")
            axes[r, c + 1].set_title(R.baseline_labels[c] if r == 0 else "", fontsize=8)
    _no_ticks(axes)
    fig.tight_layout()
    return fig


def _heat(ax, mat, labels, title) -> None:
    sns.heatmap(mat, ax=ax, vmin=-1, vmax=1, cmap="RdBu_r", annot=True, fmt=".2f", cbar=False, square=True,
                xticklabels=labels, yticklabels=labels, annot_kws={"fontsize": 6})
    ax.set_title(title, fontsize=9)
    ax.tick_params(labelsize=6)


def fig_baseline_heat(R):
    """Mean Spearman over images between maps of the first setting made with two baselines."""
    fig, axes = plt.subplots(len(R.sims), 2, figsize=(9, 4.3 * len(R.sims)), squeeze=False)
    for r, name in enumerate(R.sims):
        for c, fam in enumerate(FAMILIES):
            mat = R.sims[name][f"baselines/{fam}/spearman"][:, 0].nanmean(0).numpy()
            _heat(axes[r, c], mat, R.baseline_labels, f"{name}: {label('method', fam)} ({R.grid.labels(fam)[0]})")
    fig.tight_layout()
    return fig


def _boxes(R, panel, color):
    """One box plot per dataset (row) and method (column); ``panel(name, fam)`` gives the values
    (images × columns, or None when there is nothing to compare), their columns, the title and an
    optional reference line."""
    fig, axes = plt.subplots(len(R.sims), 2, figsize=(10, 3.2 * len(R.sims)), squeeze=False)
    for r, name in enumerate(R.sims):
        for c, fam in enumerate(FAMILIES):
            ax = axes[r, c]
            values, columns, title, line = panel(name, fam)
            if values is None:
                ax.text(0.5, 0.5, "one setting only", ha="center")
                continue
            df = pd.DataFrame(values, columns=columns).melt(var_name="baseline", value_name="Spearman")
            sns.boxplot(df, x="baseline", y="Spearman", ax=ax, fliersize=1, color=color)
            if line is not None:
                ax.axhline(line, ls=":", c="k")
            ax.set(title=title, xlabel="", ylim=(-1.05, 1.05))
            ax.tick_params(axis="x", labelsize=7, rotation=30)
    fig.tight_layout()
    return fig


def fig_baseline_dist(R):
    """Per image, Spearman between the map with the first baseline and with each other one; the dotted
    line: RISE's two-seed noise floor."""
    bl = R.baseline_labels

    def vs_first(name, fam):
        return (R.sims[name][f"baselines/{fam}/spearman"][:, 0, 0, 1:].numpy(), bl[1:],
                f"{name}: {label('method', fam)}, vs {bl[0]}", R.floor[name] if fam == "rise" else None)
    return _boxes(R, vs_first, "#9ecae1")


def fig_config_heat(R):
    """Mean Spearman over images between maps of two settings, first baseline."""
    ncfg = max(len(R.grid.labels(f)) for f in FAMILIES)
    n = len(R.sims)
    fig, axes = plt.subplots(n, 2, figsize=(2 * max(4.5, 0.55 * ncfg + 1.5), n * max(4.3, 0.5 * ncfg + 1.5)),
                             squeeze=False)
    for r, name in enumerate(R.sims):
        for c, fam in enumerate(FAMILIES):
            mat = R.sims[name][f"configs/{fam}/spearman"][:, 0].nanmean(0).numpy()
            _heat(axes[r, c], mat, R.grid.labels(fam), f"{name}: {label('method', fam)} ({R.baseline_labels[0]})")
    fig.tight_layout()
    return fig


def fig_config_dist(R):
    """Per image, the mean Spearman over all pairs of settings; one box per baseline."""
    def across_settings(name, fam):
        v = divergence.off_diagonal(R.sims[name][f"configs/{fam}/spearman"])
        return (v.nanmean(-1).numpy() if v.shape[-1] else None), R.baseline_labels, f"{name}: {label('method', fam)}", None
    return _boxes(R, across_settings, "#fdae6b")


# -- Saliency metrics disagree -------------------------------------------------------------------------
def fig_maps(R):
    """The evaluated maps of one test image per dataset (RISE relative to its mean)."""
    ml = R.method_labels
    fig, axes = plt.subplots(len(R.datasets), len(ml) + 1, figsize=(1.5 * (len(ml) + 1), 1.7 * len(R.datasets)),
                             squeeze=False)
    for r, (name, ex) in enumerate(R.datasets.items()):
        axes[r, 0].imshow(_first_image(ex), cmap="gray_r")
        axes[r, 0].set_ylabel(name, fontsize=8)
        for c, m in enumerate(R.methods):
            _signed(axes[r, c + 1], R.examples[name][c, 0], m == "rise")
            axes[r, c + 1].set_title(ml[c] if r == 0 else "", fontsize=7)
    _no_ticks(axes)
    fig.tight_layout()
    return fig


def fig_curves(R):
    """Mean probability of the true class as pixels are removed, per method: MoRF and LeRF rows per
    dataset, one column per baseline."""
    frac = np.linspace(0, 100, R.steps + 1)
    colors = sns.color_palette("tab10", len(R.methods))
    nd, nb = len(R.curves), len(R.baselines)
    fig, axes = plt.subplots(2 * nd, nb, figsize=(1.9 * nb, 1.8 * 2 * nd), squeeze=False, sharex=True, sharey=True)
    for r, name in enumerate(R.curves):
        for o, order in enumerate(("morf", "lerf")):
            for j, b in enumerate(R.baselines):
                ax = axes[2 * r + o, j]
                for i in range(len(R.methods)):
                    ax.plot(frac, R.curves[name][i, j, o].mean(0), color=colors[i], lw=1, label=R.method_labels[i])
                ax.set_title(label("baseline", b) if r == 0 and o == 0 else "", fontsize=7)
                if j == 0:
                    ax.set_ylabel(f"{name}\n{order.upper()}", fontsize=7)
                ax.tick_params(labelsize=6)
    axes[0, -1].legend(fontsize=5, loc="upper right")
    fig.supxlabel("% of pixels removed", fontsize=8)
    fig.tight_layout()
    return fig


def fig_rankings(R):
    """Rank of each method (columns) under each metric variant (rows), 1 = best, per dataset."""
    n, nv = len(R.ranks), len(R.variant_labels)
    fig, axes = plt.subplots(1, n, figsize=(0.55 * len(R.methods) * n + 3.5 * n, 0.28 * nv + 1.5), squeeze=False)
    for ax, (name, df) in zip(axes[0], R.ranks.items()):
        sns.heatmap(df, ax=ax, annot=True, fmt=".0f", cmap="viridis_r", cbar=False, annot_kws={"fontsize": 6})
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=6)
    fig.tight_layout()
    return fig


def fig_consistency(R):
    """Internal consistency: Spearman over images between two variants' scores, mean over methods."""
    vl, n = R.variant_labels, len(R.consistency)
    fig, axes = plt.subplots(1, n, figsize=(0.3 * len(vl) * n + 2 * n, 0.3 * len(vl) + 2), squeeze=False)
    for k, (ax, (name, c)) in enumerate(zip(axes[0], R.consistency.items())):
        sns.heatmap(c.numpy(), ax=ax, vmin=-1, vmax=1, cmap="RdBu_r", cbar=k == n - 1, square=True,
                    xticklabels=vl, yticklabels=vl, cbar_kws={"shrink": 0.5, "label": "Spearman"})
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=5)
    fig.tight_layout()
    return fig


def fig_sanity(R):
    """Cascading randomisation: median Spearman over images between each method's map on the trained
    model and on the model with the named layer and all above it re-initialised."""
    colors = sns.color_palette("tab10", len(R.methods))
    layers = ["trained"] + next(iter(R.sanity.values()))["layers"]
    fig, axes = plt.subplots(1, len(R.sanity), figsize=(5.5 * len(R.sanity), 3.6), squeeze=False, sharey=True)
    for ax, (name, s) in zip(axes[0], R.sanity.items()):
        for i in range(len(R.methods)):
            ax.plot(range(len(layers)), [1.0] + s["spearman"][:, i].nanmedian(1).values.tolist(), marker="o", ms=3,
                    color=colors[i], label=R.method_labels[i])
        ax.set_xticks(range(len(layers)), layers, rotation=30, fontsize=7)
        ax.set(title=name, ylabel="Spearman with trained-model map", ylim=(-0.2, 1.05))
    axes[0, -1].legend(fontsize=6)
    fig.tight_layout()
    return fig

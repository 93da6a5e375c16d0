"""Figures of the "Data and models" page: sample images, class balance and confusion matrices."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
import torch

__all__ = ["sample_grid", "class_balance", "fig_samples", "fig_confusion"]


def sample_grid(ds, per_class: int = 8, split: str = "train", seed: int = 0):
    """The first ``per_class`` images of each class (rows = classes), in pixel units."""
    x, y = (ds.x_train, ds.y_train) if split == "train" else (ds.x_test, ds.y_test)
    rows = []
    for c in range(ds.num_classes):
        idx = torch.nonzero(y == c).flatten()[:per_class]
        rows.append(ds.unnormalize(x[idx]).cpu())
    fig, axes = plt.subplots(ds.num_classes, per_class, figsize=(per_class * 0.6, ds.num_classes * 0.62))
    for c, imgs in enumerate(rows):
        for j in range(per_class):
            ax = axes[c, j]
            ax.axis("off")
            if j < len(imgs):
                img = imgs[j].permute(1, 2, 0).squeeze(-1).clamp(0, 1).numpy()
                ax.imshow(img, cmap="gray_r" if img.ndim == 2 else None, vmin=0, vmax=1)
        axes[c, 0].text(-2, 14, ds.classes[c], ha="right", va="center", fontsize=8)
    fig.subplots_adjust(left=0.22, wspace=0.05, hspace=0.05)
    return fig


def class_balance(datasets) -> "plt.Figure":
    """Images per class in the train and test splits actually used, one panel per dataset."""
    frames = []
    for ds in datasets:
        for split, y in (("train", ds.y_train), ("test", ds.y_test)):
            counts = torch.bincount(y.cpu(), minlength=ds.num_classes)
            frames.append(pd.DataFrame({"dataset": ds.name, "split": split, "class": ds.classes,
                                        "images": counts.numpy()}))
    df = pd.concat(frames)
    g = sns.catplot(df, x="class", y="images", hue="split", col="dataset", kind="bar", sharex=False,
                    sharey=False, height=3, aspect=1.6)
    for ax in g.axes.flat:
        ax.tick_params(axis="x", rotation=60, labelsize=8)
    return g.figure


def fig_samples(datasets, per_class: int = 8) -> "plt.Figure":
    """:func:`sample_grid` of each dataset side by side, titled with its name."""
    datasets = list(datasets)
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.2 * len(datasets), 5.6), squeeze=False)
    for ax, ds in zip(axes[0], datasets):
        grid = sample_grid(ds, per_class=per_class)
        grid.canvas.draw()
        ax.imshow(grid.canvas.buffer_rgba())
        ax.set_title(ds.name)
        ax.axis("off")
        plt.close(grid)
    fig.tight_layout()
    return fig


def fig_confusion(confusion: dict, classes: dict) -> "plt.Figure":
    """One annotated confusion matrix per dataset (``confusion``: name → (K, K) tensor, rows true class;
    ``classes``: name → class names)."""
    fig, axes = plt.subplots(1, len(confusion), figsize=(5.5 * len(confusion), 4.6), squeeze=False)
    for ax, (name, cm) in zip(axes[0], confusion.items()):
        sns.heatmap(torch.as_tensor(cm).numpy(), ax=ax, annot=True, fmt="d", cbar=False, cmap="Blues",
                    annot_kws={"fontsize": 7}, xticklabels=classes[name], yticklabels=classes[name])
        ax.set(title=name, xlabel="predicted", ylabel="true")
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig

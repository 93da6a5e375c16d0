"""One plot style for the whole book (seaborn, colour-blind-safe palette) and the shared figures."""
from __future__ import annotations

import matplotlib.pyplot as plt
import seaborn as sns
import torch

PALETTE = "colorblind"


def style() -> None:
    """Seaborn's whitegrid theme with the colour-blind palette; sharp, small PNGs for the book."""
    sns.set_theme(style="whitegrid", palette=PALETTE, context="notebook")
    plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 100, "figure.figsize": (7, 3.5),
                         "axes.titlesize": "medium"})


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
    import pandas as pd
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

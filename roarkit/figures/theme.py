"""One plot style for the whole book (seaborn, colour-blind-safe palette). The data page's shared
figures (sample images, class balance) live in :mod:`roarkit.figures.data`."""
from __future__ import annotations

import matplotlib.pyplot as plt
import seaborn as sns

__all__ = ["PALETTE", "style"]

PALETTE = "colorblind"


def style() -> None:
    """Seaborn's whitegrid theme with the colour-blind palette; sharp, small PNGs for the book."""
    sns.set_theme(style="whitegrid", palette=PALETTE, context="notebook")
    plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 100, "figure.figsize": (7, 3.5),
                         "axes.titlesize": "medium"})

"""The one label table of the book: how every name a page shows is written.

Names (the keys) are the package's vocabularies: saliency methods and their ensemble suffixes
(:mod:`roarkit.core.saliency`), baselines, similarity measures, perturbation-metric kinds, the SGT
chapter's trainings and the datasets. :func:`label` writes a compound saliency method as its parts,
e.g. ``ig_sg2`` → "Integrated Gradients + SmoothGrad²".
"""
from __future__ import annotations

__all__ = ["LABELS", "label"]

LABELS: dict[str, dict[str, str]] = {
    # saliency methods (Hooker et al.'s estimators, their ensembles, and the maps of the perturbation
    # chapter). "Gradient" is Captum's Saliency and the SGT/SMOOT papers' "Saliency".
    "method": {"grad": "Gradient", "ig": "Integrated Gradients", "gb": "Guided Backprop", "sg": "SmoothGrad",
               "sg2": "SmoothGrad²", "var": "VarGrad", "sobel": "Sobel edges", "random": "Random",
               "deeplift": "DeepLift", "occlusion": "Occlusion", "rise": "RISE"},
    "baseline": {"zero": "zero (black)", "white": "white", "dataset_mean": "dataset mean",
                 "image_mean": "image mean", "blur": "blur", "uniform": "uniform noise",
                 "noisy_linear": "noisy linear (ROAD)", "image_uniform": "uniform noise in the image's range"},
    "measure": {"spearman": "Spearman rank correlation", "topk": "top-10 % intersection", "ssim": "SSIM"},
    "metric": {"morf": "MoRF", "lerf": "LeRF", "abpc": "ABPC", "insertion": "insertion", "aopc": "AOPC"},
    "training": {"traditional": "Traditional", "sgt": "SGT", "smoot": "SMOOT", "sgt_signed": "SGT (signed ranking)",
                 "sgt_log_prob": "SGT (saliency of log p_y)"},
    "dataset": {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10", "cifar100": "CIFAR-100"},
    "mode": {"roar": "ROAR", "kar": "KAR"},
}


def label(kind: str, name: str) -> str:
    """The display name of ``name`` in vocabulary ``kind``; saliency methods compose, ``ig_sg2`` →
    "Integrated Gradients + SmoothGrad²". Unknown names raise KeyError naming the vocabulary."""
    table = LABELS[kind]
    parts = name.split("_") if kind == "method" else [name]
    missing = [p for p in parts if p not in table]
    if missing:
        raise KeyError(f"no {kind} label for {name!r}; known: {', '.join(table)}")
    return " + ".join(table[p] for p in parts)

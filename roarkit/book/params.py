"""Page parameters: one vocabulary for the whole book, each name with its rule.

A page declares its parameters (with the paper's values as defaults) in a cell tagged
``parameters``; papermill injects overrides after it (``-p seeds 3`` or a profile file with ``-f``).
:func:`check` then rejects names the page does not declare and values a rule forbids, with one
message that names every problem and the fix, before any work is done.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any, Callable

from roarkit.core import roar
from roarkit.core.cifar import CIFARS
from roarkit.core.data import DATASETS
from roarkit.core.saliency import BASELINES, ESTIMATORS, METHODS
from roarkit.core.sgt import RANK_BY

__all__ = ["ParameterError", "Rule", "RULES", "check"]


class ParameterError(ValueError):
    """Unknown or invalid page parameters (the message names each one and the fix)."""


@dataclass(frozen=True)
class Rule:
    check: Callable[[Any], str | None]  # None when fine, else what is wrong
    help: str


def _int(lo: int) -> Callable[[Any], str | None]:
    def check(v):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            return f"must be a whole number, got {v!r}"
        return None if v >= lo else f"must be at least {lo}, got {v}"
    return check


def _float(lo: float, hi: float | None = None, lo_open=True, hi_open=True):
    def check(v):
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            return f"must be a number, got {v!r}"
        bad_lo = v <= lo if lo_open else v < lo
        bad_hi = hi is not None and (v >= hi if hi_open else v > hi)
        if bad_lo or bad_hi:
            lb, rb = "(" if lo_open else "[", ")" if hi_open else "]"
            return f"must lie in {lb}{lo}, {hi if hi is not None else 'inf'}{rb}, got {v}"
        return None
    return check


def _choice(options: tuple[str, ...]):
    def check(v):
        return None if v in options else f"must be one of {', '.join(map(repr, options))}, got {v!r}"
    return check


def _datasets(v):
    if isinstance(v, str) or not isinstance(v, (list, tuple)) or not v:
        return f"must be a non-empty list of dataset names, got {v!r}"
    bad = [d for d in v if d not in DATASETS]
    return f"unknown dataset(s) {bad}; known: {', '.join(DATASETS)}" if bad else None


def _per_dataset_counts(v):
    if not isinstance(v, dict):
        return f"must be a mapping of dataset name to image count, e.g. {{fashion_mnist: 20000}}, got {v!r}"
    bad = _datasets(list(v)) if v else None
    if bad:
        return bad
    wrong = {k: n for k, n in v.items() if isinstance(n, bool) or not isinstance(n, int) or n < 0}
    return f"counts must be whole numbers >= 0 (0 = all available), got {wrong}" if wrong else None


def _thresholds(v):
    if not isinstance(v, (list, tuple)) or not v:
        return f"must be a non-empty list of percentages, got {v!r}"
    bad = [t for t in v if isinstance(t, bool) or not isinstance(t, numbers.Real) or not 0 < t < 100]
    return f"every threshold must be a percentage strictly between 0 and 100; bad: {bad}" if bad else None


def _cifars(v):
    ok = CIFARS
    if isinstance(v, str) or not isinstance(v, (list, tuple)) or not v or any(d not in ok for d in v):
        return f"must be a non-empty list drawn from {list(ok)}, got {v!r}"
    return None


def _device(v):
    ok = isinstance(v, str) and (v in ("auto", "cpu", "cuda") or v.startswith("cuda:"))
    return None if ok else f"must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {v!r}"


def _int_list(lo: int, what: str):
    def check(v):
        if isinstance(v, str) or not isinstance(v, (list, tuple)) or not v:
            return f"must be a non-empty list of {what}, got {v!r}"
        bad = [t for t in v if isinstance(t, bool) or not isinstance(t, numbers.Integral) or t < lo]
        return f"must hold whole numbers of at least {lo} ({what}); bad: {bad}" if bad else None
    return check


def _prob_list(v):
    if isinstance(v, str) or not isinstance(v, (list, tuple)) or not v:
        return f"must be a non-empty list of probabilities, got {v!r}"
    bad = [t for t in v if isinstance(t, bool) or not isinstance(t, numbers.Real) or not 0 < t < 1]
    return f"every value must lie strictly between 0 and 1; bad: {bad}" if bad else None


def _names(kind: str, options: Callable[[], tuple]):
    def check(v):
        if isinstance(v, str) or not isinstance(v, (list, tuple)) or not v:
            return f"must be a non-empty list of {kind} names, got {v!r}"
        bad = [t for t in v if t not in options()]
        return f"unknown {kind}(s) {bad}; known: {', '.join(options())}" if bad else None
    return check


def _profile(v):
    return None if isinstance(v, str) and v.strip() else f"must be a profile name such as 'quick' or 'paper', got {v!r}"


#: Every parameter name used by a page of the book, with its rule.
RULES: dict[str, Rule] = {
    "profile": Rule(_profile, "the settings this page ran with: 'quick' (CPU, minutes) or 'paper'"),
    "datasets": Rule(_datasets, "datasets to run on, e.g. ['mnist', 'fashion_mnist']"),
    "dataset": Rule(lambda v: _datasets([v]) if isinstance(v, str) else f"must be one dataset name, got {v!r}",
                    "the one dataset a page runs on: 'mnist' or 'fashion_mnist'"),
    "n_train": Rule(_int(0), "training images to use per dataset (0 = all available)"),
    "n_test": Rule(_int(0), "test images to use per dataset (0 = all available)"),
    "n_train_by_dataset": Rule(_per_dataset_counts, "training images of named datasets, overriding n_train for "
                                                    "them, e.g. {fashion_mnist: 20000} (0 = all available)"),
    "subset_seed": Rule(_int(0), "seed of the stratified subset when n_train/n_test is set"),
    "seeds": Rule(_int(1), "independent training runs (seeds 0..seeds-1)"),
    "seed": Rule(_int(0), "seed of a single training run"),
    "epochs": Rule(_int(1), "training epochs"),
    "batch_size": Rule(_int(1), "mini-batch size"),
    "batch_sizes": Rule(lambda v: None if isinstance(v, list) and v and all(
        isinstance(b, int) and not isinstance(b, bool) and b >= 1 for b in v) else
        f"must be a non-empty list of whole numbers of at least 1, got {v!r}", "batch sizes of a sweep"),
    "lr": Rule(_float(0.0), "learning rate"),
    "momentum": Rule(_float(0.0, 1.0, lo_open=False), "SGD momentum"),
    "thresholds": Rule(_thresholds, "percentages of pixels removed, each in (0, 100)"),
    "ig_steps": Rule(_int(1), "integration steps of Integrated Gradients"),
    "estimators": Rule(_names("saliency estimator", lambda: ESTIMATORS),
                       "Hooker et al.'s estimators and controls, e.g. ['ig', 'ig_sg2', 'sobel', 'random']"),
    "modes": Rule(_names("mode", lambda: roar.MODES), "'roar' (remove the top t %) and/or 'kar' (keep it)"),
    "leakage": Rule(lambda v: None if isinstance(v, bool) else f"must be true or false, got {v!r}",
                    "also train on the removal mask alone (the mask-leakage control)"),
    # saliency-guided training (SGT / SMOOT chapter)
    "val_fraction": Rule(_float(0.0, 1.0), "share of the training images held out for model selection"),
    "sgt_k": Rule(_float(0.0, 1.0, lo_open=False, hi_open=False), "SGT: fraction of pixels masked per image"),
    "lam": Rule(_float(0.0, lo_open=False), "SGT: weight λ of the KL term"),
    "rank_by": Rule(_choice(RANK_BY), "SGT masking rank: 'abs' (smallest magnitudes) or 'signed'"),
    "alpha": Rule(_float(0.0, 1.0, lo_open=False, hi_open=False), "SMOOT: weight α of the top-1 change"),
    "top_n": Rule(_int(2), "SMOOT: classes 2..n enter the top-n change"),
    "w": Rule(_float(0.0, lo_open=False), "SMOOT: step of the masking fraction per unit of output change"),
    "k_min": Rule(_float(0.0, 1.0, lo_open=False, hi_open=False), "SMOOT: lowest masking fraction"),
    "k_max": Rule(_float(0.0, 1.0, lo_open=False, hi_open=False), "SMOOT: highest masking fraction"),
    "k_init": Rule(_float(0.0, 1.0, lo_open=False, hi_open=False), "SMOOT: initial masking fraction"),
    "signed_seeds": Rule(_int(0), "seeds of the extra SGT run ranking by the signed gradient (0 = none)"),
    "log_prob_seeds": Rule(_int(0), "seeds of the extra SGT run whose saliency differentiates log p_y (0 = none)"),
    "drop_methods": Rule(_names("saliency estimator", lambda: ESTIMATORS), "saliency methods of the accuracy-drop curves, e.g. ['grad', 'ig', 'random']"),
    "n_drop": Rule(_int(1), "test images of the accuracy-drop curves"),
    "nt_samples": Rule(_int(1), "noisy samples of SmoothGrad"),
    "cifar_datasets": Rule(_cifars, "CIFAR datasets of the SGT chapter: ['cifar10', 'cifar100']"),
    "device": Rule(_device, "'auto' (GPU when available), 'cpu' or 'cuda'"),
    # input perturbation chapter
    "n_images": Rule(_int(0), "test images explained and evaluated per dataset (0 = every loaded test image)"),
    "windows": Rule(_int_list(1, "occlusion window sizes in pixels"), "occlusion window sizes in pixels"),
    "strides": Rule(_int_list(1, "occlusion strides in pixels"), "occlusion strides in pixels (at most the window)"),
    "rise_masks": Rule(_int_list(1, "numbers of RISE masks"), "numbers of RISE masks (nested: the largest costs all)"),
    "rise_cell": Rule(_int_list(1, "RISE cell sizes in pixels"), "RISE cell sizes in pixels"),
    "rise_p": Rule(_prob_list, "RISE keep probabilities, each in (0, 1)"),
    "baselines": Rule(_names("baseline", lambda: BASELINES), "baselines that replace removed pixels"),
    "methods": Rule(_names("saliency method", lambda: METHODS), "saliency methods to evaluate"),
    "metric_steps": Rule(_int(2), "steps of a perturbation curve from 0 to 100 % of the pixels removed"),
    "sanity_images": Rule(_int(0), "test images in the randomisation test (0 = all n_images)"),
}


def _same_kind(default, value) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, numbers.Real) and isinstance(value, numbers.Real):
        return not (isinstance(default, numbers.Integral) and not isinstance(value, numbers.Integral))
    if isinstance(default, (list, tuple)):
        return isinstance(value, (list, tuple))
    return isinstance(value, type(default))


def check(values: dict[str, Any], defaults: dict[str, Any], *, page: str = "this page") -> dict[str, Any]:
    """Validate ``values`` (declared and injected) against the page's ``defaults``.

    Raises :class:`ParameterError` listing every unknown name and every invalid value.
    """
    problems = []
    for name in values:
        if name not in defaults:
            problems.append(f"unknown parameter {name!r}")
    for name, value in values.items():
        if name not in defaults:
            continue
        rule = RULES.get(name)
        why = rule.check(value) if rule else None
        if why is None and not _same_kind(defaults[name], value):
            why = f"must be of the same kind as its default {defaults[name]!r}, got {value!r}"
        if why:
            problems.append(f"parameter {name!r} {why}")
    if problems:
        takes = "\n".join(
            f"  {n} = {defaults[n]!r}" + (f"  # {RULES[n].help}" if n in RULES else "") for n in defaults)
        raise ParameterError(
            f"{page}: " + "; ".join(problems) + ".\nFix the -p option or profile file. "
            f"{page} takes these parameters (paper values shown):\n{takes}")
    return dict(values)

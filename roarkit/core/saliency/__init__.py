"""Saliency methods, one per file behind one call (Captum's ``attr/_core`` layout):

* :mod:`.gradients`: Hooker et al.'s gradient estimators through Captum, and the controls;
* :mod:`.perturbation`: occlusion and RISE;
* :mod:`.baselines`: what a perturbation puts in place of the pixels it removes;
* :mod:`.methods`: the one vocabulary (:data:`METHODS`) and :func:`attribute` for every method.
"""
from roarkit.core.saliency.baselines import BASELINES, Stats
from roarkit.core.saliency.gradients import ESTIMATORS, AttributionConfig
from roarkit.core.saliency.methods import METHODS, MapConfig, attribute, check_methods

__all__ = ["BASELINES", "Stats", "ESTIMATORS", "AttributionConfig", "METHODS", "MapConfig", "attribute",
           "check_methods"]

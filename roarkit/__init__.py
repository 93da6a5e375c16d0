"""roarkit: a reproducible companion to research on evaluating saliency maps.

Layers, each importing only those before it (a test checks it): :mod:`roarkit.core` (the science) ←
:mod:`roarkit.store` (the results store; imports nothing of the science) ← :mod:`roarkit.experiments`
(one module per page) ← :mod:`roarkit.figures` (plots, from core alone) ← :mod:`roarkit.book` (page
parameters, provenance, running and building the book).
"""

__version__ = "0.1.0"
__all__ = ["__version__"]

"""roarkit: a reproducible companion to research on evaluating saliency maps.

One module per concept: :mod:`roarkit.data` (datasets with provenance), :mod:`roarkit.models`
(the papers' CNNs), :mod:`roarkit.train` (a short, fast trainer), :mod:`roarkit.results` (the
on-disk results store), :mod:`roarkit.params` and :mod:`roarkit.page` (parameters and provenance of
executed pages), :mod:`roarkit.runner` (papermill + Jupyter Book).
"""

__version__ = "0.1.0"

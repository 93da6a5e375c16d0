"""The science: datasets, models, training, saliency methods and their evaluation. Imports nothing
outside itself, so every result can be recomputed from here alone.

* data and models: :mod:`.data` (and its file readers, :mod:`.datafiles`), :mod:`.cifar`, :mod:`.models`, :mod:`.device`;
* training: :mod:`.training` (the one loop and its :class:`~.training.Step`), :mod:`.engine` (many
  models in lock-step), :mod:`.sgt`, :mod:`.smoot`, :mod:`.guided` (the SGT chapter's trainings);
* saliency: :mod:`.saliency` (every method behind one call), :mod:`.removal` (ranking, the pixel-count
  rule and the removal mask), :mod:`.curves` (faithfulness curves and their areas), :mod:`.roar`;
* comparing maps and metrics: :mod:`.similarity`, :mod:`.divergence`, :mod:`.evaluation`,
  :mod:`.reliability`, :mod:`.sanity`, :mod:`.stats`;
* reference: :mod:`.labels` (the one label table), :mod:`.paper` (the papers' own numbers).
"""

__all__ = ["cifar", "curves", "data", "datafiles", "device", "divergence", "engine", "evaluation", "guided", "labels", "models",
           "paper", "reliability", "removal", "roar", "saliency", "sanity", "sgt", "similarity", "smoot", "stats",
           "training"]

"""Figures drawn from experiment results: one plot style for the whole book (:mod:`.theme`) and one
module per chapter's figures (:mod:`.data`, :mod:`.roar`, :mod:`.sgt`, :mod:`.perturbation`). Imports
only :mod:`roarkit.core` (for labels and the data a figure shows)."""
from roarkit.figures.theme import PALETTE, style

__all__ = ["PALETTE", "style", "theme", "data", "perturbation", "roar", "sgt"]

"""The lock-step engine: M independent small CNNs trained at once, each bit-for-bit the model that
:func:`roarkit.core.training.train` gives it, up to float rounding.

* :mod:`.views`: what each model sees (:class:`Shared` data, ROAR/KAR :class:`Masked` views);
* :mod:`.stacked`: the stacked forward (grouped convs, batched linears, per-model dropout);
* :mod:`.optim`: SGD / Adadelta / Adam on stacked parameters;
* :mod:`.lockstep`: the training and evaluation loops, grouped over threads on the CPU.
"""
from roarkit.core.engine.lockstep import CPU_GROUP, evaluate_many, fit_many, groups, train_many
from roarkit.core.engine.views import Masked, Shared, Views

__all__ = ["Views", "Shared", "Masked", "CPU_GROUP", "groups", "train_many", "evaluate_many", "fit_many"]

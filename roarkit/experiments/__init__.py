"""One module per page of the book, named after the page: each runs its page's experiment through the
results store (``run(P)`` of the page's parameters gives a result of tables, tensors and numbers) and
holds the page's verdict rules. The stored units several pages share live beside them:
:mod:`.base_models` (the foundation's trained models and the explained test images), :mod:`.roar_grid`
(ROAR/KAR retrainings), :mod:`.sgt_study` (SGT/SMOOT trainings and their accuracy-drop curves).

The SGT chapter's source ``notebooks/sgt.py`` serves two pages (MNIST, Fashion-MNIST), so its module is
:mod:`.sgt`."""

__all__ = ["base_models", "data_and_models", "perturbation_saliency", "roar_benchmark", "roar_grid", "roar_mnist",
           "saliency_metrics", "sgt", "sgt_cifar", "sgt_study"]

"""Shared fixtures: the real data this machine has (no synthetic stand-ins for MNIST/Fashion)."""
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# MNIST: the offline copy beside the checkout (../shared/data/mnist) unless ROARKIT_DATA says otherwise.
DATA_ROOT = Path(os.environ.get("ROARKIT_DATA", REPO.parent / "shared" / "data"))
MNIST_DIR = DATA_ROOT / "mnist"
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    if not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").exists():
        pytest.fail(f"MNIST not found at {MNIST_DIR}: set ROARKIT_DATA to the folder holding mnist/")
    return MNIST_DIR


@pytest.fixture(scope="session")
def fashion_dir() -> Path:
    if not any(FASHION_DIR.glob("*")):
        pytest.fail(f"Fashion-MNIST not found at {FASHION_DIR}: apt-get install dataset-fashion-mnist")
    return FASHION_DIR


@pytest.fixture
def one_thread():
    """Small tensors: one intra-op thread (two OpenMP threads on a busy 2-core machine are far slower)."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def mnist_base(mnist_dir, tmp_path_factory):
    """2,000 MNIST digits, a results store and the base model trained in it (2 epochs of Adam, 1 thread):
    ``(ds, store, config, model, entry)``."""
    import torch

    from roarkit.core import data, training
    from roarkit.experiments.base_models import base_model
    from roarkit.store import Store
    ds = data.load("mnist", root=mnist_dir, n_train=2000, n_test=40, seed=0)
    store = Store(tmp_path_factory.mktemp("store"))
    cfg = training.TrainConfig(epochs=2, batch_size=32, optimizer="adam", lr=2e-3)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    model, entry = base_model(store, ds, cfg, seed=0)
    torch.set_num_threads(before)
    return ds, store, cfg, model, entry

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

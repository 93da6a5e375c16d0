"""Running a page's experiment in a test: on the local MNIST, with a fresh results store and one thread."""
import pytest
import torch

from roarkit.store import Store


@pytest.fixture(scope="module")
def run_experiment(mnist_dir, tmp_path_factory):
    """``run(fn, params) -> (store, fn(params, store))`` with ``ROARKIT_DATA`` on the local MNIST, a fresh
    store and one intra-op thread (small tensors on a shared 2-core machine)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("ROARKIT_DATA", str(mnist_dir.parent))

    def run(fn, params):
        store = Store(tmp_path_factory.mktemp("store"))
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return store, fn(params, store)
        finally:
            torch.set_num_threads(before)

    yield run
    mp.undo()

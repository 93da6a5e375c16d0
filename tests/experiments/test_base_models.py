"""roarkit.experiments.base_models: the foundation's trained models as stored units shared by later pages."""
import pytest
import torch

from roarkit.experiments.base_models import base_model


@pytest.fixture(scope="module")
def trained(mnist_base):
    return mnist_base  # conftest.py: the base model of 2,000 MNIST digits, in its store


def test_base_model_is_the_foundations_stored_unit_with_its_weights(trained):
    ds, store, cfg, model, entry = trained
    assert entry.kind == "train" and not entry.hit and entry.value["metrics"]["accuracy"] > 0.8
    assert all(torch.equal(v, entry.value["state_dict"][k]) for k, v in model.state_dict().items())
    again, hit = base_model(store, ds, cfg, seed=0)
    assert hit.hit and hit.key == entry.key
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))



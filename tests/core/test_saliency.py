"""Saliency estimators through real Captum on a real (briefly trained) model."""
import pytest
import torch

from roarkit.core import data, labels, models, removal, training
from roarkit.core.saliency import gradients as attribution
from roarkit.core.saliency import ESTIMATORS, METHODS, AttributionConfig, check_methods


@pytest.fixture(scope="module")
def trained(mnist_dir):
    ds = data.load("mnist", root=mnist_dir, n_train=1000, n_test=200)
    net = training.fit("roar", ds, training.TrainConfig(epochs=1, batch_size=32), seed=0, progress=False)
    model = models.build("roar", seed=0)
    model.load_state_dict(net.state_dict)
    return model.eval(), ds.x_test[:12], ds.y_test[:12]


CFG = AttributionConfig(ig_steps=16, nt_samples=4, batch_size=5)


@pytest.mark.parametrize("method", ESTIMATORS)
def test_every_method_gives_finite_maps_of_the_input_shape(trained, method):
    model, x, y = trained
    a = attribution.attribute(model, x, y, method, CFG, seed=0)
    assert a.shape == x.shape and torch.isfinite(a).all() and a.abs().sum() > 0
    assert torch.equal(a, attribution.attribute(model, x, y, method, CFG, seed=0))  # seeded, reproducible
    if method.endswith(("_sg2", "_var")):
        assert (a >= 0).all()  # mean of squares and variance are non-negative


def test_gradient_is_the_input_gradient_of_the_target_logit(trained):
    model, x, y = trained
    xg = x.clone().requires_grad_(True)
    model(xg).gather(1, y[:, None]).sum().backward()
    assert torch.allclose(attribution.attribute(model, x, y, "grad", CFG), xg.grad, atol=1e-6)


def test_integrated_gradients_is_complete(trained):
    """IG's axiom: attributions sum to f(x) − f(baseline) for the explained class (baseline 0 = mean)."""
    model, x, y = trained
    a = attribution.attribute(model, x, y, "ig", AttributionConfig(ig_steps=200, batch_size=12))
    with torch.no_grad():
        gap = (model(x) - model(torch.zeros_like(x))).gather(1, y[:, None]).squeeze(1)
    assert torch.allclose(a.flatten(1).sum(1), gap, rtol=0.02, atol=0.02)


def test_smoothgrad_differs_from_plain_and_uses_the_seed(trained):
    model, x, y = trained
    plain = attribution.attribute(model, x, y, "grad", CFG)
    s0 = attribution.attribute(model, x, y, "grad_sg", CFG, seed=0)
    s1 = attribution.attribute(model, x, y, "grad_sg", CFG, seed=1)
    assert not torch.allclose(plain, s0) and not torch.equal(s0, s1)


def test_predicted_target_explains_the_prediction(trained):
    model, x, y = trained
    with torch.no_grad():
        pred = model(x).argmax(1)
    cfg = AttributionConfig(target="predicted", batch_size=5)
    assert torch.equal(attribution.attribute(model, x, y, "grad", cfg), attribution.attribute(model, x, pred, "grad", CFG))


def test_sobel_marks_a_vertical_edge():
    x = torch.zeros(1, 1, 8, 8)
    x[..., 4:] = 1.0
    e = attribution.sobel(x)[0, 0]
    assert torch.allclose(e[2:6, 3], torch.full((4,), 4.0)) and torch.allclose(e[2:6, 4], torch.full((4,), 4.0))
    assert (e[2:6, :2] == 0).all() and (e[2:6, 6:7] == 0).all()


def test_scores_sum_absolute_values_over_channels():
    a = torch.tensor([[[[1.0, -2.0]], [[-3.0, 0.5]]]])  # (1, 2, 1, 2)
    assert torch.equal(removal.scores(a), torch.tensor([[4.0, 2.5]]))


def test_unknown_method_and_bad_config_are_refused():
    with pytest.raises(ValueError, match=r"unknown saliency method\(s\) \['lime'\]"):
        check_methods(["lime"])
    with pytest.raises(ValueError, match="unknown gradient estimator 'deeplift'"):
        attribution.attribute(None, torch.zeros(1, 1, 2, 2), torch.zeros(1, dtype=torch.long), "deeplift")
    with pytest.raises(ValueError, match="target must be"):
        AttributionConfig(target="true")
    with pytest.raises(ValueError, match="ig_steps must be at least 1"):
        AttributionConfig(ig_steps=0)


def test_labels_name_the_papers_methods():
    assert labels.label("method", "ig_sg2") == "Integrated Gradients + SmoothGrad²"
    assert labels.label("method", "grad") == "Gradient"
    assert len(ESTIMATORS) == 14  # 3 estimators × 4 variants + Sobel + random
    assert METHODS == ESTIMATORS + ("deeplift", "occlusion", "rise")  # one vocabulary for the whole book
    assert all(labels.label("method", m) for m in METHODS)  # every method has a label
    with pytest.raises(KeyError, match="no method label for 'lime'"):
        labels.label("method", "lime")

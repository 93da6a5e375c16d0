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


def test_sobel_keeps_float64_and_each_channel_by_hand():
    """Two channels in float64: a vertical step (|G_x| = 4 beside it) and a horizontal one of height 0.5
    (|G_y| = 2); a corner pixel of the zero padding: √(G_x² + G_y²) written out."""
    x = torch.zeros(1, 2, 6, 6, dtype=torch.float64)
    x[0, 0, :, 3:] = 1.0
    x[0, 1, 3:, :] = 0.5
    e = attribution.sobel(x)
    assert e.shape == x.shape and e.dtype == torch.float64
    torch.testing.assert_close(e[0, 0, 2:4, 2], torch.full((2,), 4.0, dtype=torch.float64), rtol=0, atol=0)
    torch.testing.assert_close(e[0, 1, 2, 2:4], torch.full((2,), 2.0, dtype=torch.float64), rtol=0, atol=0)
    # channel 0 at (0, 5): G_x = -(2·1 + 1·1) = -3 (zero padding right and above), G_y = 1·1 + 2·1 = 3
    assert e[0, 0, 0, 5].item() == pytest.approx((3.0 ** 2 + 3.0 ** 2) ** 0.5, abs=1e-12)


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


# -- the ensembles and Guided Backprop against closed forms and against Captum itself ----------------------
def _linear(seed=0):
    """f(x) = Wx + b on 2×3 images, 3 classes: every input gradient of class c is the row W[c]."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(6, 3)).eval()


def _images(n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 2, 3, generator=g), torch.randint(0, 3, (n,), generator=g)


@pytest.mark.parametrize("base", ["grad", "gb"])
def test_ensembles_of_a_linear_model_have_closed_forms(base, one_thread):
    """Noise does not move a linear model's gradient: SmoothGrad = w, SmoothGrad² = w², VarGrad = 0 (and Guided
    Backprop, with no ReLU to guide, is the gradient)."""
    net, (x, y) = _linear(), _images()
    w = net[1].weight.detach()[y].view(x.shape)
    cfg = AttributionConfig(nt_samples=5, batch_size=3)
    torch.testing.assert_close(attribution.attribute(net, x, y, base, cfg), w)
    torch.testing.assert_close(attribution.attribute(net, x, y, f"{base}_sg", cfg), w)
    torch.testing.assert_close(attribution.attribute(net, x, y, f"{base}_sg2", cfg), w ** 2)
    torch.testing.assert_close(attribution.attribute(net, x, y, f"{base}_var", cfg), torch.zeros_like(x),
                               atol=1e-6, rtol=0)


def _relu_net():
    """x (4 pixels) → Linear → ReLU → Linear, with weights chosen by hand (see the test)."""
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3, bias=False), torch.nn.ReLU(),
                              torch.nn.Linear(3, 2, bias=False))
    with torch.no_grad():
        net[1].weight.copy_(torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]]))
        net[3].weight.copy_(torch.tensor([[2.0, -3.0, 1.0], [1.0, 1.0, 1.0]]))
    return net.eval()


@pytest.mark.filterwarnings("ignore:Setting backward hooks on ReLU")
def test_guided_backprop_by_hand_and_against_captum(one_thread):
    """Guided Backprop passes only positive gradients back through a ReLU: for class 0 (v = [2, −3, 1]) and
    an image whose three hidden units are all active, the gradient is Uᵀv = [2, −3, 1, 1] and Guided
    Backprop Uᵀ relu(v) = [2, 0, 1, 1]."""
    from captum.attr import GuidedBackprop, NoiseTunnel
    net = _relu_net()
    x = torch.tensor([[0.5, 0.5, 0.2, 0.3]]).view(1, 1, 2, 2)
    y = torch.tensor([0])
    cfg = AttributionConfig(nt_samples=6, batch_size=1)
    gb = attribution.attribute(net, x, y, "gb", cfg)
    assert gb.flatten().tolist() == [2.0, 0.0, 1.0, 1.0]
    assert attribution.attribute(net, x, y, "grad", cfg).flatten().tolist() == [2.0, -3.0, 1.0, 1.0]
    # the ensembles of Guided Backprop are Captum's NoiseTunnel around Captum's GuidedBackprop, same noise
    g = torch.Generator().manual_seed(1)
    xs, ys = torch.randn(5, 1, 2, 2, generator=g), torch.tensor([0, 1, 0, 1, 0])
    for ens, nt_type in (("sg", "smoothgrad"), ("sg2", "smoothgrad_sq"), ("var", "vargrad")):
        got = attribution.attribute(net, xs, ys, f"gb_{ens}", cfg, seed=3)
        want = []
        with torch.random.fork_rng():
            torch.manual_seed(3)
            for i in range(5):
                xb = xs[i:i + 1]
                want.append(NoiseTunnel(GuidedBackprop(net)).attribute(
                    xb, nt_type=nt_type, nt_samples=6, nt_samples_batch_size=6, target=ys[i:i + 1],
                    stdevs=0.15 * float(xb.max() - xb.min())))
        torch.testing.assert_close(got, torch.cat(want), msg=lambda m: f"gb_{ens}: {m}")


def test_gradient_ensembles_equal_captums_noise_tunnel_with_the_same_noise(one_thread):
    """grad_sg, grad_sg2 and grad_var on a small ReLU network against Captum's NoiseTunnel(Saliency) with
    the noise of the same seed; the three differ from each other."""
    from captum.attr import NoiseTunnel, Saliency
    net = _relu_net()
    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(6, 1, 2, 2, generator=g), torch.tensor([0, 1, 1, 0, 0, 1])
    cfg = AttributionConfig(nt_samples=8, nt_stdev=0.3, batch_size=6)
    out = {}
    for ens, nt_type in (("sg", "smoothgrad"), ("sg2", "smoothgrad_sq"), ("var", "vargrad")):
        out[ens] = attribution.attribute(net, x, y, f"grad_{ens}", cfg, seed=5)
        with torch.random.fork_rng():
            torch.manual_seed(5)
            want = NoiseTunnel(Saliency(net)).attribute(x, nt_type=nt_type, nt_samples=8, nt_samples_batch_size=8,
                                                        target=y, abs=False, stdevs=0.3 * float(x.max() - x.min()))
        torch.testing.assert_close(out[ens], want)
    # VarGrad = SmoothGrad² − SmoothGrad² of the mean (population variance), so the three are distinct
    torch.testing.assert_close(out["var"], out["sg2"] - out["sg"] ** 2, atol=1e-5, rtol=1e-4)
    assert not torch.allclose(out["var"], out["sg2"])


# -- from the mutation run of saliency.gradients (2026-12-04) -------------------------------------------------
class _Square(torch.nn.Module):
    """f_c(x) = Σ_i w_ci x_i²: IG from the zero baseline is exactly w_ci x_i² (the path integral of 2αw x² dα)."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor([[1.0, -2.0, 0.5, 3.0, 0.0, 1.5], [0.5, 1.0, -1.0, 2.0, 1.0, 0.0]]))

    def forward(self, x):
        return (x.flatten(1) ** 2) @ self.w.T


def test_integrated_gradients_from_the_zero_baseline_with_the_configured_steps(one_thread):
    from captum.attr import IntegratedGradients
    x, _ = _images(3)
    y = torch.tensor([0, 1, 0])
    sq = _Square()
    torch.testing.assert_close(attribution.attribute(sq, x, y, "ig", AttributionConfig(ig_steps=2)),
                               sq.w.detach()[y].view(x.shape) * x ** 2)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(6, 4), torch.nn.Tanh(), torch.nn.Linear(4, 3))
    torch.nn.init.normal_(net[1].weight, std=2.0)
    ours = attribution.attribute(net, x, y, "ig", AttributionConfig(ig_steps=3, batch_size=2))
    theirs = IntegratedGradients(net).attribute(x, target=y, baselines=0.0, n_steps=3)
    torch.testing.assert_close(ours, theirs)
    assert not torch.allclose(ours, IntegratedGradients(net).attribute(x, target=y, baselines=0.0), atol=1e-4)


def test_attribution_defaults_to_seed_0_and_names_the_estimators():
    net, (x, y) = _linear(), _images()
    for method in ("random", "grad_sg"):
        assert torch.equal(attribution.attribute(net, x, y, method, CFG),
                           attribution.attribute(net, x, y, method, CFG, seed=0))
    with pytest.raises(ValueError, match=r"^unknown gradient estimator 'lime'; known: grad, grad_sg, grad_sg2, "):
        attribution.attribute(net, x, y, "lime")


class _Warns(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(6, 3)

    def forward(self, x):
        import warnings
        warnings.warn("a warning of the model's own", UserWarning)
        return self.lin(x.flatten(1))


def test_attribution_silences_only_captums_two_known_warnings(one_thread):
    """Captum's 'did not already require gradients' and the ReLU hook notice are silenced; a warning of the
    model itself still reaches the caller."""
    import warnings
    x, y = _images()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        attribution.attribute(_relu_net(), x.view(4, 1, 2, 3)[:, :, :, :2].reshape(4, 1, 2, 2), y % 2, "gb")
    assert not [w for w in seen if "did not already require gradients" in str(w.message)
                or "backward hooks on ReLU" in str(w.message)], [str(w.message) for w in seen]
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        attribution.attribute(_Warns(), x, y, "grad")
    assert any("a warning of the model's own" in str(w.message) for w in seen)

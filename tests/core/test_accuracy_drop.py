"""roarkit.core.curves' accuracy drop (SGT, SMOOT): AUC by hand, the MoRF accuracy curve, SGT's fill
and the motivational share."""
import pytest
import torch

from roarkit.core import curves, data, models, removal, training
from roarkit.core.saliency import baselines as B
from roarkit.core.saliency import gradients


def test_auc_percent_on_hand_computable_curves():
    assert curves.auc_percent([0, 50, 100], [1.0, 0.5, 0.0]) == pytest.approx(50.0)
    assert curves.auc_percent(curves.PERCENTS, [1.0] * 11) == pytest.approx(100.0)
    # steps of 10: trapezoids (1 + .9)/2·10 + (.9 + .1)/2·10 + 8 × .1·10 = 9.5 + 5 + 8
    acc = [1.0, 0.9] + [0.1] * 9
    assert curves.auc_percent(curves.PERCENTS, acc) == pytest.approx(22.5)
    # the same curve on the 0..1 scale is a hundredth of it: one area, two named scales
    assert curves.auc(torch.tensor(acc, dtype=torch.float64)).item() == pytest.approx(0.225)
    with pytest.raises(ValueError, match="fractions in \\[0, 1\\]"):
        curves.auc_percent([0, 100], [99.0, 10.0])
    with pytest.raises(ValueError, match="increase within 0..100"):
        curves.auc_percent([0, 50, 40], [1.0, 0.5, 0.4])
    with pytest.raises(ValueError, match="equally long"):
        curves.auc_percent([0, 50], [1.0])


def test_image_uniform_fill_stays_within_each_images_whole_range():
    """SGT's randomMask: noise within the min/max of the whole image (per channel), not of the kept pixels."""
    x = torch.zeros(2, 2, 4, 4)
    x[0, 0, 0, 0], x[0, 0, 3, 3] = -1.0, 3.0  # image 0, channel 0 spans [-1, 3]
    x[0, 1] = 0.5  # a constant channel stays constant
    x[1, 0, 1, 1] = 2.0  # image 1, channel 0 spans [0, 2]
    x[1, 1, 2, 2] = -2.0
    f = B.fill("image_uniform", x, None, seed=0)
    assert f.shape == x.shape and torch.equal(f[0, 1], torch.full((4, 4), 0.5))
    for i, c, lo, hi in ((0, 0, -1, 3), (1, 0, 0, 2), (1, 1, -2, 0)):
        v = f[i, c]
        assert v.min() >= lo and v.max() <= hi
        assert v.max() - v.min() > 0.5 * (hi - lo)  # spread over the whole range, not the kept pixels'
    assert torch.equal(f, B.fill("image_uniform", x, None, seed=0)) and not torch.equal(f, B.fill("image_uniform", x, None, seed=1))


@pytest.fixture(scope="module")
def trained(mnist_dir):
    ds = data.load("mnist", mnist_dir, n_train=640, n_test=60, seed=0)
    r = training.fit("sgt", ds, training.TrainConfig(epochs=1, batch_size=64, optimizer="adadelta", lr=1.0), seed=0,
                     progress=False)
    net = models.build("sgt", seed=0)
    net.load_state_dict(r.state_dict)
    return ds, net.eval(), r.metrics.accuracy


def test_morf_accuracy_starts_at_the_model_accuracy_and_ends_near_chance(trained):
    ds, net, acc = trained
    x, y = ds.x_test, ds.y_test
    rank = removal.ranks(removal.scores(gradients.attribute(net, x, y, "grad")))
    prob, hit = curves.morf(net, x, y, rank, baseline="image_uniform", stats=None, steps=10, correct=True)
    a = hit.float().mean(0)
    assert a[0].item() == pytest.approx(acc)
    assert prob.shape == hit.shape == (60, 11)
    assert a[-1] <= 0.35  # every pixel replaced by noise
    assert a[3] < a[0]


def test_accuracy_drop_runs_every_method_and_gradient_beats_random(trained):
    ds, net, _ = trained
    cfg = gradients.AttributionConfig(ig_steps=4, nt_samples=3)
    out = curves.accuracy_drop(net, ds.x_test, ds.y_test, ("grad", "ig", "grad_sg", "random"), config=cfg, seed=0)
    assert set(out) == {"grad", "ig", "grad_sg", "random"}
    for r in out.values():
        assert 0 <= r["auc"] <= 100 and len(r["accuracy"]) == 11
        assert r["accuracy"] == pytest.approx(r["correct"].float().mean(0).tolist())
        assert r["auc"] == pytest.approx(curves.auc_percent(curves.PERCENTS, r["accuracy"]))
    assert out["grad"]["auc"] < out["random"]["auc"]
    # batch size changes nothing (the fill is drawn per image, the curve per batch of images)
    again = curves.accuracy_drop(net, ds.x_test, ds.y_test, ("grad",), config=cfg, seed=0, batch_size=77)
    assert again["grad"]["accuracy"] == out["grad"]["accuracy"]


def test_rises_first_shares():
    p = torch.tensor([[0.5, 0.6, 0.1], [0.5, 0.4, 0.1], [0.2, 0.3, 0.0], [0.9, 0.9, 0.0]])
    c = torch.tensor([[True, True, False], [True, False, False], [False, True, False], [True, True, False]])
    r = curves.rises_first({"true_prob": p, "correct": c})
    assert r == {"prob": 0.5, "correct": 0.25, "n": 4}
    with pytest.raises(ValueError, match="more than 1 steps"):
        curves.rises_first({"true_prob": p[:, :1], "correct": c[:, :1]})


SEEN = []  # what Recorder was shown (a module-level list: Probability deep-copies the model)


class Recorder(torch.nn.Module):
    """Two classes, logits (mean pixel, 0); keeps every batch it is shown."""

    def forward(self, x):
        SEEN.append(x.detach().clone())
        return torch.stack([x.flatten(1).mean(1), torch.zeros(len(x))], 1)


def test_accuracy_drop_fills_from_the_whole_images_range(one_thread):
    """Images black but for one bright pixel (and a dark one): the Sobel ranking removes the bright pixel and
    its neighbours first, after which every kept pixel is 0. SGT's fill still draws from the whole image's
    range ([0, 1], [−1, 2]), not from the kept pixels' (a single value, 0)."""
    x = torch.zeros(2, 1, 28, 28)
    x[0, 0, 10, 10] = 1.0
    x[1, 0, 5, 20], x[1, 0, 6, 20] = 2.0, -1.0
    y = torch.zeros(2, dtype=torch.long)
    SEEN.clear()
    out = curves.accuracy_drop(Recorder(), x, y, ("sobel",), percents=[0, 50, 100], seed=0)
    shown = torch.cat(SEEN).view(2, 3, 1, 28, 28)  # image-major: image i, step j
    assert torch.equal(shown[:, 0], x)  # nothing removed at 0 %
    for i, (lo, hi) in enumerate(((0.0, 1.0), (-1.0, 2.0))):
        for j, k in ((1, 392), (2, 784)):
            changed = shown[i, j] != x[i]
            assert changed.sum() >= k - 2  # k pixels replaced (a draw equal to the old value is ~impossible)
            fills = shown[i, j][changed]
            assert fills.min() >= lo and fills.max() <= hi
            assert fills.mean().item() == pytest.approx((lo + hi) / 2, abs=0.1 * (hi - lo))
            assert fills.max() - fills.min() > 0.9 * (hi - lo)
        kept = shown[i, 1][shown[i, 1] == x[i]]
        assert kept.abs().max() == 0  # the bright and dark pixels were removed at 50 %: the kept range is {0}
    assert len(out["sobel"]["accuracy"]) == 3


def test_auc_percent_checks_its_inputs_at_the_boundaries():
    assert curves.auc_percent([0, 50, 100], [1, 1, 0]) == pytest.approx(75.0)  # whole numbers are fine
    assert curves.auc_percent([0, 0.5, 1.0], [1.0, 1.0, 1.0]) == pytest.approx(1.0)  # steps below one percent
    assert curves.auc_percent([0, 100], [0.0, 1.0]) == pytest.approx(50.0)
    for bad in ([-10, 50], [0, 110], [0, 100.5], [0, 50, 50, 100]):
        with pytest.raises(ValueError, match=r"^percents must increase within 0\.\.100"):
            curves.auc_percent(bad, [0.5] * len(bad))
    with pytest.raises(ValueError, match=r"^accuracies must be fractions in \[0, 1\] \(not percentages\)$"):
        curves.auc_percent([0, 100], [1.5, 0.5])
    with pytest.raises(ValueError, match="at least 2 points, got 1 percents and 1 accuracies"):
        curves.auc_percent([50], [0.5])


def test_check_steps_refuses_booleans_and_fewer_than_two():
    assert curves.check_steps(2) == 2
    for bad in (True, 1, 2.0):
        with pytest.raises(ValueError, match="steps must be a whole number of at least 2"):
            curves.check_steps(bad)


def test_accuracy_drop_is_the_morf_curve_of_each_methods_ranking_with_its_seeds(one_thread):
    """The composition written out: method j's map with seed 101·seed + j, its ranks (ties by ``seed``), the
    MoRF curve with SGT's fill of ``seed``; the defaults are seed 0 and the default AttributionConfig."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(36, 3)).eval()
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(5, 1, 6, 6, generator=g), torch.tensor([0, 1, 2, 0, 1])
    percents = [0, 25, 50, 100]
    out = curves.accuracy_drop(net, x, y, ("grad", "random"), percents=percents, seed=1)
    assert set(out) == {"grad", "random"} and set(out["random"]) == {"accuracy", "auc", "true_prob", "correct"}
    for j, m in enumerate(("grad", "random")):
        a = gradients.attribute(net, x, y, m, gradients.AttributionConfig(), seed=101 + j)
        rank = removal.ranks(removal.scores(a), 1)
        prob, hit = curves.curve(net, x, y, rank, order="morf", baseline="image_uniform", stats=None,
                                 steps=[p / 100 for p in percents], seed=1, correct=True)
        assert torch.equal(out[m]["true_prob"], prob) and torch.equal(out[m]["correct"], hit)
    default = curves.accuracy_drop(net, x, y, ("random",), percents=percents)  # seed 0, default config
    zero = curves.accuracy_drop(net, x, y, ("random",), percents=percents, seed=0,
                                config=gradients.AttributionConfig())
    assert torch.equal(default["random"]["true_prob"], zero["random"]["true_prob"])
    assert not torch.equal(default["random"]["true_prob"], out["random"]["true_prob"])


def test_accuracy_drop_passes_its_config_and_breaks_ties_with_its_seed(one_thread):
    """A config that changes the map (the predicted class explained, not the label) reaches the attribution,
    and ``seed`` breaks the ranking's ties: the Sobel map of images whose lower half is flat zero ties 12 of
    36 pixels (its two bottom rows), and at 75 % three of them are removed."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(36, 3)).eval()
    g = torch.Generator().manual_seed(2)
    x = torch.zeros(5, 1, 6, 6)
    x[:, :, :3] = torch.rand(5, 1, 3, 6, generator=g)
    pred = net(x).argmax(1)
    y = (pred + 1) % 3  # every label differs from the prediction
    cfg = gradients.AttributionConfig(target="predicted")
    grad_cfg = gradients.attribute(net, x, y, "grad", cfg, seed=0)
    assert not torch.equal(grad_cfg, gradients.attribute(net, x, y, "grad", gradients.AttributionConfig(), seed=0))
    percents = [0, 25, 50, 75, 100]
    out = curves.accuracy_drop(net, x, y, ("grad", "sobel"), percents=percents, config=cfg, seed=3)
    ties = (removal.scores(gradients.attribute(net, x, y, "sobel", cfg)) == 0).sum(1)
    assert bool((ties == 12).all())
    for j, m in enumerate(("grad", "sobel")):
        a = gradients.attribute(net, x, y, m, cfg, seed=303 + j)
        rank = removal.ranks(removal.scores(a), 3)
        prob, hit = curves.curve(net, x, y, rank, order="morf", baseline="image_uniform", stats=None,
                                 steps=[p / 100 for p in percents], seed=3, correct=True)
        assert torch.equal(out[m]["true_prob"], prob) and torch.equal(out[m]["correct"], hit)
    # another tie-break (the same map and fill seeds) moves the 75 % point
    other = removal.ranks(removal.scores(gradients.attribute(net, x, y, "sobel", cfg, seed=304)), 4)
    prob4, _ = curves.curve(net, x, y, other, order="morf", baseline="image_uniform", stats=None,
                            steps=[p / 100 for p in percents], seed=3, correct=True)
    assert torch.equal(prob4[:, :3], out["sobel"]["true_prob"][:, :3])
    assert not torch.equal(prob4[:, 3], out["sobel"]["true_prob"][:, 3])

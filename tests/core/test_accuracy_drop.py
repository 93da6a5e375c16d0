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

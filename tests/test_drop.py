"""roarkit.drop: AUC by hand, the removal curve and the motivational share."""
import pytest
import torch

from roarkit import attribution, data, drop, models, train


def test_auc_on_hand_computable_curves():
    assert drop.auc([0, 50, 100], [1.0, 0.5, 0.0]) == pytest.approx(50.0)
    assert drop.auc(drop.PERCENTS, [1.0] * 11) == pytest.approx(100.0)
    # steps of 10: trapezoids (1 + .9)/2·10 + (.9 + .1)/2·10 + 8 × .1·10 = 9.5 + 5 + 8
    acc = [1.0, 0.9] + [0.1] * 9
    assert drop.auc(drop.PERCENTS, acc) == pytest.approx(22.5)
    with pytest.raises(ValueError, match="fractions in \\[0, 1\\]"):
        drop.auc([0, 100], [99.0, 10.0])
    with pytest.raises(ValueError, match="increase within 0..100"):
        drop.auc([0, 50, 40], [1.0, 0.5, 0.4])
    with pytest.raises(ValueError, match="equally long"):
        drop.auc([0, 50], [1.0])


@pytest.fixture(scope="module")
def trained(mnist_dir):
    ds = data.load("mnist", mnist_dir, n_train=640, n_test=60, seed=0)
    r = train.fit("sgt", ds, train.TrainConfig(epochs=1, batch_size=64, optimizer="adadelta", lr=1.0), seed=0,
                  progress=False)
    net = models.build("sgt", seed=0)
    net.load_state_dict(r.state_dict)
    return ds, net.eval(), r.metrics.accuracy


def test_removal_curve_starts_at_the_model_accuracy_and_ends_near_chance(trained):
    ds, net, acc = trained
    x, y = ds.x_test, ds.y_test
    rank = attribution.ranks(attribution.scores(attribution.attribute(net, x, y, "grad")))
    curve = drop.removal_curve(net, x, y, rank, seed=0)
    assert curve["accuracy"][0] == pytest.approx(acc)
    assert len(curve["accuracy"]) == 11 and curve["true_prob"].shape == (60, 11)
    assert curve["correct"].float().mean(0)[0].item() == pytest.approx(acc)
    assert curve["accuracy"][-1] <= 0.35  # every pixel replaced by noise
    assert curve["accuracy"][3] < curve["accuracy"][0]


def test_accuracy_drop_runs_every_method_and_gradient_beats_random(trained):
    ds, net, _ = trained
    cfg = attribution.AttributionConfig(ig_steps=4, nt_samples=3)
    out = drop.accuracy_drop(net, ds.x_test, ds.y_test, ("grad", "ig", "grad_sg", "random"), config=cfg, seed=0)
    assert set(out) == {"grad", "ig", "grad_sg", "random"}
    for r in out.values():
        assert 0 <= r["auc"] <= 100 and len(r["accuracy"]) == 11
    assert out["grad"]["auc"] < out["random"]["auc"]


def test_rises_first_shares():
    p = torch.tensor([[0.5, 0.6, 0.1], [0.5, 0.4, 0.1], [0.2, 0.3, 0.0], [0.9, 0.9, 0.0]])
    c = torch.tensor([[True, True, False], [True, False, False], [False, True, False], [True, True, False]])
    r = drop.rises_first({"true_prob": p, "correct": c})
    assert r == {"prob": 0.5, "correct": 0.25, "n": 4}
    with pytest.raises(ValueError, match="more than 1 steps"):
        drop.rises_first({"true_prob": p[:, :1], "correct": c[:, :1]})

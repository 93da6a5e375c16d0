"""roarkit.experiments.roar_grid: the ROAR grid's checks, its units and its stored units."""
from types import SimpleNamespace

import pytest
import torch

from roarkit.core import data, roar, training
from roarkit.experiments.roar_grid import CODE, Grid, metrics_row
from roarkit.store import Store

CFG = training.TrainConfig(epochs=1, batch_size=32, lr=1e-2)
FAKE = SimpleNamespace(image_shape=(1, 28, 28))  # the checks need only the image shape


@pytest.mark.parametrize("kw, match", [({"methods": ("ig", "saliency")}, "unknown saliency estimator"),
                                       ({"thresholds": (0,)}, "threshold"), ({"thresholds": (100,)}, "threshold"),
                                       ({"modes": ("roar", "keep")}, "mode")])
def test_grid_refuses_unknown_settings(kw, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        Grid(FAKE, CFG, store=Store(tmp_path), **kw)


def test_units_run_method_mode_threshold_seed(tmp_path):
    g = Grid(FAKE, CFG, methods=("ig", "random"), thresholds=(10, 90), seeds=(0, 1), modes=("roar", "kar"),
             store=Store(tmp_path))
    units = g.units()
    assert len(units) == 16 and units[:3] == [("ig", "roar", 10, 0), ("ig", "roar", 10, 1), ("ig", "roar", 90, 0)]
    assert g.pixels == 784 and CODE == ("roarkit.experiments.roar_grid",)


def test_metrics_row_has_accuracy_and_per_class_precision():
    assert metrics_row({"accuracy": 0.5, "precision": [0.25, 0.75], "recall": [1, 0]}) == {
        "accuracy": 0.5, "precision_0": 0.25, "precision_1": 0.75}


def test_stored_units_are_computed_once(mnist_dir, tmp_path, one_thread):
    ds = data.load("mnist", root=mnist_dir, n_train=200, n_test=50, seed=0)
    store = Store(tmp_path)
    g = Grid(ds, CFG, methods=("grad", "random"), thresholds=(50,), seeds=(0,), store=store)
    rows = g.run()
    assert [r["hit"] for r in rows] == [False, False]
    kinds = sorted(e.kind for e in store.entries())
    assert kinds == ["ranks", "ranks", "roar", "roar", "train"]
    again = Grid(ds, CFG, methods=("grad", "random"), thresholds=(50,), seeds=(0,), store=store)
    rows2 = again.run()
    assert all(r["hit"] for r in rows2) and [r["accuracy"] for r in rows2] == [r["accuracy"] for r in rows]
    assert torch.equal(again.ranks("grad", 0)["test"], g.ranks("grad", 0)["test"])
    control = again.run(control=True)  # the mask-only control: its own units
    assert not any(r["hit"] for r in control) and {r["input"] for r in control} == {"mask"}


def test_every_unit_trains_on_roar_remove_of_its_own_ranking(mnist_dir, tmp_path, one_thread):
    """Each stored unit of a small grid is the model :func:`training.fit` gives on the images that
    :func:`roar.remove` makes from that unit's ranking, threshold and mode (ROAR removes, KAR keeps)."""
    ds = data.load("mnist", root=mnist_dir, n_train=200, n_test=50, seed=0)
    cfg = training.TrainConfig(epochs=2, batch_size=16, optimizer="adam", lr=3e-3)  # learns enough to tell sets apart
    g = Grid(ds, cfg, methods=("grad", "random"), thresholds=(30,), seeds=(0,), modes=("roar", "kar"),
             store=Store(tmp_path))
    rows = g.run()
    losses = {}
    for r in rows:
        m, mode, t, s = r["method"], r["mode"], r["threshold"], r["seed"]
        rk = g.ranks(m, s)
        ref_data = SimpleNamespace(x_train=roar.remove(ds.x_train, rk["train"], t, mode), y_train=ds.y_train,
                                   x_test=roar.remove(ds.x_test, rk["test"], t, mode), y_test=ds.y_test,
                                   num_classes=10, image_shape=ds.image_shape, device=ds.device)
        ref = training.fit("roar", ref_data, cfg, seed=s, progress=False)
        got = g.data_get("roar", g._unit_params((m, mode, t, s), False)).value
        assert got["history"]["loss"] == pytest.approx(ref.history["loss"], abs=1e-4), (m, mode)
        assert r["accuracy"] == pytest.approx(ref.metrics.accuracy, abs=0.021), (m, mode)
        losses[(m, mode)] = got["history"]["loss"][-1]
    # the four units saw four different training sets: their losses differ by far more than the tolerance
    v = sorted(losses.values())
    assert min(b - a for a, b in zip(v, v[1:])) > 1e-3, losses
    # the rankings differ by method, and the base model's gradient ranking is not the random one
    assert not torch.equal(g.ranks("grad", 0)["train"], g.ranks("random", 0)["train"])

"""roarkit.core.guided / training / cifar and roarkit.experiments.sgt_study: the one training loop with the
three trainings' steps, model selection on a validation split, the results store round trip, and the
CIFAR code path on synthetic 32×32×3 tensors."""
import pytest
import torch

from roarkit.core import cifar, data, guided, models, removal, sgt, smoot, training
from roarkit.experiments.sgt_study import Study
from roarkit.store import Store

CFG = training.TrainConfig(epochs=2, batch_size=64, optimizer="adadelta", lr=1.0)


def train_guided(model, x, y, config, *, training_name="sgt", seed, smoot_config=smoot.SMOOTConfig(), **kw):
    """One of the SGT chapter's trainings through the book's one loop; returns (history, step)."""
    step = guided.step(training_name, sgt.SGTConfig(), smoot_config)
    hist = training.train(model, x, y, config, seed=seed, step=step, channels_last=True, progress=False, **kw)
    return hist, step


def test_each_training_gets_its_own_step_with_the_configs_passed():
    s_cfg, m_cfg = sgt.SGTConfig(k=0.3, lam=2.0), smoot.SMOOTConfig(alpha=0.9, top_n=3)
    assert type(guided.step("traditional")) is guided.Traditional
    got = guided.step("sgt", s_cfg, m_cfg)
    assert type(got) is sgt.SGTStep and got.config == s_cfg
    got = guided.step("smoot", s_cfg, m_cfg)
    assert type(got) is smoot.SMOOTStep and got.config == s_cfg and got.smoot == m_cfg
    with pytest.raises(ValueError, match="training must be one of traditional, sgt, smoot, got 'SGT'"):
        guided.step("SGT")


def test_split_validation_is_stratified_disjoint_and_seeded():
    y = torch.arange(10).repeat_interleave(torch.tensor([50, 30, 20, 10, 10, 10, 10, 10, 10, 2]))
    tr, va = training.split_validation(y, 0.2, seed=3)
    assert len(set(tr.tolist()) & set(va.tolist())) == 0 and len(tr) + len(va) == len(y)
    counts = torch.bincount(y[va], minlength=10).tolist()
    assert counts == [10, 6, 4, 2, 2, 2, 2, 2, 2, 1]
    tr2, va2 = training.split_validation(y, 0.2, seed=3)
    assert torch.equal(va, va2)
    assert not torch.equal(va, training.split_validation(y, 0.2, seed=4)[1])
    with pytest.raises(ValueError, match="val_fraction"):
        training.split_validation(y, 1.0)


@pytest.fixture(scope="module")
def mnist(mnist_dir):
    return data.load("mnist", mnist_dir, n_train=240, n_test=60, seed=0)


@pytest.mark.parametrize("kind", ["traditional", "sgt"])
def test_training_is_deterministic_and_keeps_the_best_validation_epoch(mnist, kind):
    tr, va = training.split_validation(mnist.y_train, 0.25)
    runs = []
    for _ in range(2):
        model = models.build("sgt", seed=1)
        hist, _ = train_guided(model, mnist.x_train[tr], mnist.y_train[tr], CFG, training_name=kind, seed=1,
                               x_val=mnist.x_train[va], y_val=mnist.y_train[va])
        runs.append((model, hist))
    (m1, h1), (m2, h2) = runs
    for a, b in zip(m1.state_dict().values(), m2.state_dict().values()):
        assert torch.equal(a, b)
    assert {k: v for k, v in h1.items() if k != "seconds"} == {k: v for k, v in h2.items() if k != "seconds"}
    best = max(h1["val_accuracy"])
    assert h1["selected_epoch"] == h1["val_accuracy"].index(best)
    assert training.evaluate(m1, mnist.x_train[va], mnist.y_train[va]).accuracy == pytest.approx(best)
    if kind == "traditional":
        assert h1["kl"] == [0.0, 0.0]
    else:
        assert all(k > 0 for k in h1["kl"])


def test_bad_training_and_device_mismatch_are_named(mnist):
    model = models.build("sgt", seed=0)
    with pytest.raises(ValueError, match="training must be one of traditional, sgt, smoot"):
        train_guided(model, mnist.x_train, mnist.y_train, CFG, training_name="sgd", seed=0)
    with pytest.raises(ValueError, match="differ in length"):
        train_guided(model, mnist.x_train, mnist.y_train[:5], CFG, seed=0)


def test_study_stores_each_unit_once_and_reads_it_back(mnist, tmp_path):
    st = Study(mnist, training.TrainConfig(epochs=1, batch_size=128, optimizer="adadelta", lr=1.0),
               smoot_config=smoot.SMOOTConfig(), store=Store(tmp_path), progress=False)
    e = st.train("smoot", 0)
    assert not e.hit and e.value["n_train"] + e.value["n_val"] == 240
    assert e.value["smoot"]["k_final"].shape == (e.value["n_train"],)
    again = Study(mnist, st.config, store=Store(tmp_path), progress=False).train("smoot", 0)
    assert again.hit and torch.equal(again.value["smoot"]["k_final"], e.value["smoot"]["k_final"])
    assert st.train_params("sgt_signed", 0)["sgt"]["rank_by"] == "signed"
    d = st.evaluate("smoot", 0, methods=("grad", "random"), n_drop=20)
    assert set(d.value) == {"grad", "random", "rises_first"}
    assert st.evaluate("smoot", 0, methods=("grad", "random"), n_drop=20).hit
    with pytest.raises(ValueError, match="n_drop must lie in 1..60"):
        st.drop_subset(61)


def _synthetic_cifar(n=64, classes=100, seed=0):
    """Synthetic 32×32×3 images whose class is written in a coloured square (learnable, not CIFAR)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, classes, (n,), generator=g)
    x = torch.randn(n, 3, 32, 32, generator=g) * 0.3
    for i in range(n):
        r, c = divmod(int(y[i]) % 64, 8)
        x[i, int(y[i]) % 3, 4 * r:4 * r + 4, 4 * c:4 * c + 4] += 2.0
    return x, y


@pytest.mark.parametrize("kind", ["sgt", "smoot"])
def test_cifar_code_path_on_synthetic_32x32x3_tensors(kind):
    x, y = _synthetic_cifar()
    model = models.build("sgt", seed=0, in_channels=3, image_size=32, num_classes=100)
    cfg = training.TrainConfig(epochs=2, batch_size=32, optimizer="adadelta", lr=1.0)
    hist, step = train_guided(model, x, y, cfg, training_name=kind, seed=0, smoot_config=smoot.SMOOTConfig(alpha=0.8))
    assert len(hist["loss"]) == 2 and all(torch.isfinite(torch.tensor(hist["loss"])))
    # masking of colour images: k of the 1024 pixels, every channel of a masked pixel replaced
    grad, _ = sgt.input_gradient(model, x[:8], y[:8])
    xt = sgt.mask_lowest(x[:8], grad, removal.n_pixels(0.5, 1024), "abs", torch.Generator().manual_seed(0))
    changed = (xt != x[:8])
    assert changed.any(1).flatten(1).sum(1).eq(512).all()
    assert torch.equal(changed.any(1), changed.all(1))
    if kind == "smoot":
        assert step.book.visits.eq(2).all() and len(step.book) == 64


def test_cifar_loader_names_the_missing_folder_and_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("ROARKIT_DATA", str(tmp_path))
    for name, folder in (("cifar10", "cifar-10-batches-py"), ("cifar100", "cifar-100-python")):
        with pytest.raises(data.DataNotFound) as e:
            cifar.load(name)
        assert folder in str(e.value) and "To fix" in str(e.value)
    (tmp_path / "cifar-100-python").mkdir()
    (tmp_path / "cifar-100-python" / "train").write_bytes(b"not a pickle")
    with pytest.raises(data.DataNotFound, match="not found or corrupted"):
        cifar.load("cifar100")
    with pytest.raises(data.DataError, match="unknown CIFAR dataset"):
        cifar.load("cifar5")

"""roarkit.core.smoot: SMOOT's output change, its update rule (sign, clamp) and per-image bookkeeping."""
import pytest
import torch

from roarkit.core import data, guided, models, removal, smoot, training


def test_output_change_by_hand():
    p = torch.tensor([[0.6, 0.2, 0.1, 0.05, 0.03, 0.02]])  # ranked c1..c6 = classes 0..5
    q = torch.tensor([[0.5, 0.3, 0.05, 0.05, 0.05, 0.05]])
    d1 = 0.5 - 0.6
    dn = (0.3 - 0.2) + (0.05 - 0.1) + (0.05 - 0.05)  # classes 2..4 (n = 4)
    got = smoot.output_change(p, q, alpha=0.8, top_n=4)
    assert got.item() == pytest.approx(0.8 * d1 + 0.2 * dn)
    # ranking is by p, not by class index
    perm = torch.tensor([3, 5, 0, 1, 4, 2])
    assert smoot.output_change(p[:, perm], q[:, perm], 0.8, 4).item() == pytest.approx(got.item())
    with pytest.raises(ValueError, match=r"\(N, classes\)"):
        smoot.output_change(p, q[:, :5], 0.8, 4)


def test_update_moves_towards_more_masking_when_masking_helped_and_clamps():
    cfg = smoot.SMOOTConfig(w=0.1, k_min=0.2, k_max=0.8, k_init=0.5)
    book = smoot.MaskBook(4, cfg)
    book.update(torch.tensor([0, 1, 2, 3]), torch.tensor([0.3, -0.3, 5.0, -5.0]))
    assert book.fraction.tolist() == pytest.approx([0.53, 0.47, 0.8, 0.2])  # +, -, clamped max, clamped min
    assert book.k(torch.tensor([0, 1, 2, 3]), 784).tolist() == [416, 368, 627, 157]
    with pytest.raises(ValueError, match="repeats an image"):
        book.update(torch.tensor([1, 1]), torch.tensor([0.1, 0.1]))
    with pytest.raises(ValueError, match="one Δ per image"):
        book.update(torch.tensor([1, 2]), torch.tensor([0.1]))


def test_bookkeeping_follows_images_across_shuffled_batches():
    n, cfg = 100, smoot.SMOOTConfig(w=0.1)
    book = smoot.MaskBook(n, cfg)
    g = torch.Generator().manual_seed(0)
    sign = torch.where(torch.arange(n) % 2 == 0, 1.0, -1.0)  # image i: masking helps iff i is even
    for epoch in range(3):
        order = torch.randperm(n, generator=g)
        for i in range(0, n, 32):
            idx = order[i:i + 32]
            book.update(idx, 0.2 * sign[idx])
        book.end_epoch()
    expect = 0.5 + 3 * 0.1 * 0.2 * sign
    torch.testing.assert_close(book.fraction, expect)
    assert book.visits.eq(3).all() and len(book.snapshots) == 4
    s = book.summary(784)
    assert s["k_final"].tolist() == removal.n_pixels(expect, 784).to(torch.int16).tolist()
    assert s["k_quantiles"].shape == (4, 7)
    assert s["k_step"].item() == pytest.approx(0.02 * 784, rel=1e-4)


def test_smoot_training_visits_every_image_once_per_epoch_on_real_mnist(mnist_dir):
    ds = data.load("mnist", mnist_dir, n_train=192, n_test=10, seed=0)
    model = models.build("sgt", seed=0)
    cfg = training.TrainConfig(epochs=2, batch_size=64, optimizer="adadelta", lr=1.0)
    sc = smoot.SMOOTConfig(w=0.5, k_min=0.3, k_max=0.7)
    step = guided.step("smoot", smoot_config=sc)
    training.train(model, ds.x_train, ds.y_train, cfg, seed=0, step=step, channels_last=True, progress=False)
    book = step.book
    assert book.visits.eq(2).all()
    assert len(book.snapshots) == 3
    assert (book.fraction >= 0.3).all() and (book.fraction <= 0.7).all()
    assert (book.snapshots[1] != 0.5).any()  # the fractions moved after the first epoch
    # an image's fraction changes only at its own visit: epoch-1 changes are per image, not per batch slot
    assert book.snapshots[1].unique().numel() > 10


@pytest.mark.parametrize("kw,words", [({"alpha": 1.5}, "alpha must lie in"), ({"top_n": 1}, "top_n"),
                                      ({"k_min": 0.6, "k_init": 0.5}, "k_min <= k_init <= k_max"),
                                      ({"w": -1}, "w must be")])
def test_smoot_config_names_the_problem(kw, words):
    with pytest.raises(ValueError, match=words):
        smoot.SMOOTConfig(**kw)

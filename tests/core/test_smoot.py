"""roarkit.core.smoot: SMOOT's output change, its update rule (sign, clamp) and per-image bookkeeping."""
import pytest
import torch

from roarkit.core import data, guided, models, removal, sgt, smoot, training


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
    with pytest.raises(ValueError, match="^idx repeats an image; each image is updated once per visit$"):
        book.update(torch.tensor([1, 1]), torch.tensor([0.1, 0.1]))
    assert book.visits.dtype == torch.long and book.visits.tolist() == [1, 1, 1, 1]
    assert book.fraction.dtype == torch.float32 and len(book) == 4
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


def test_output_change_counts_the_nth_class():
    # classes ranked by p: 0, 1, 2, 3; only the 3rd-ranked class changes besides the top one
    p = torch.tensor([[0.4, 0.3, 0.2, 0.1]])
    q = torch.tensor([[0.35, 0.3, 0.25, 0.1]])
    # top_n = 3: Δ1 = −0.05, Δn = (0.3 − 0.3) + (0.25 − 0.2) = 0.05
    assert smoot.output_change(p, q, alpha=0.8, top_n=3).item() == pytest.approx(0.8 * -0.05 + 0.2 * 0.05)  # −0.03
    assert smoot.output_change(p, q, alpha=0.8, top_n=2).item() == pytest.approx(0.8 * -0.05)  # 3rd left out
    # top_n larger than the number of classes: every class enters Δn
    assert smoot.output_change(p, q, alpha=0.0, top_n=9).item() == pytest.approx(0.05, abs=1e-7)


# A linear model on 2×2 images [a, b, a, b] (labels 0, 1, 2), as in test_sgt.py: the input gradient of class
# c is W[c]; rows 0-2 make the magnitude ranking mask pixels 1 and 3 and keep 0 and 2, whose equal values
# fill x̃ = [a, a, a, a] exactly. Masking changes the logit of class c by s_c·(a − b), s_c = W[c, 1] + W[c, 3];
# class 0 has the largest s and is every image's top-1 class, so its probability provably rises when a > b
# (image 0) and falls when a < b (images 1, 2).
W = torch.tensor([[-3.0, 0.5, -2.0, 0.1], [-1.0, 0.2, -4.0, -0.3], [-2.0, 0.2, -1.5, 0.1], [0.5, -0.2, 0.3, -0.2]])
BIAS = torch.tensor([2.0, 0.0, 0.0, 0.0])
AB = [(0.3, 0.0), (0.0, 0.6), (0.2, 1.0)]


def test_one_smoot_step_moves_each_images_k_by_the_output_change_by_hand(one_thread):
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 4))
    with torch.no_grad():
        net[1].weight.copy_(W)
        net[1].bias.copy_(BIAS)
    x = torch.tensor([[a, b, a, b] for a, b in AB]).view(3, 1, 2, 2)
    y = torch.tensor([0, 1, 2])
    x_tilde = torch.tensor([[a] * 4 for a, _ in AB])
    logits, masked = x.flatten(1) @ W.T + BIAS, x_tilde @ W.T + BIAS
    p = logits.exp() / logits.exp().sum(1, keepdim=True)
    q = masked.exp() / masked.exp().sum(1, keepdim=True)
    assert (p.argmax(1) == 0).all()  # class 0 is top-1 everywhere
    s = W[:, 1] + W[:, 3]
    assert s.argmax() == 0
    d1 = q[:, 0] - p[:, 0]
    assert d1[0] > 0 and (d1[1:] < 0).all()  # masking raised image 0's top-1 probability, lowered the others'
    order = p.argsort(1, descending=True)[:, :3]  # top_n = 3
    dn = (q.gather(1, order[:, 1:]) - p.gather(1, order[:, 1:])).sum(1)
    delta = 0.9 * d1 + 0.1 * dn
    cfg = smoot.SMOOTConfig(alpha=0.9, top_n=3, w=0.5, k_min=0.1, k_max=0.9, k_init=0.5)
    step = smoot.SMOOTStep(sgt.SGTConfig(k=0.5, lam=1.0), cfg)
    step.begin(net, x, y, seed=0)
    assert step.k(torch.arange(3)).tolist() == [2, 2, 2]
    loss, _, kl = step(net, x, y, torch.arange(3))
    torch.testing.assert_close(kl, (p * (p / q).log()).sum(1).mean())  # SGT's loss on SMOOT's x̃
    torch.testing.assert_close(step.book.fraction, 0.5 + 0.5 * delta)
    assert step.book.fraction[0] > 0.5 and (step.book.fraction[1:] < 0.5).all()  # K moves the right way
    assert net.training  # observe() switches to eval mode and back


def test_summary_by_hand_with_unequal_epochs():
    cfg = smoot.SMOOTConfig(w=1.0, k_min=0.0, k_max=1.0, k_init=0.5)
    book = smoot.MaskBook(2, cfg)
    s0 = book.summary(10)  # before any epoch: K = 5, no step
    assert s0["k_final"].dtype == torch.int16 and s0["k_final"].tolist() == [5, 5]
    assert s0["k_step"].item() == 0.0 and s0["pixels"] == 10 and s0["k_mean"].tolist() == [5.0]
    idx = torch.tensor([0, 1])
    for d in ([0.1, -0.1], [0.2, 0.0], [-0.05, 0.05]):  # fractions .6/.4, .8/.4, .75/.45
        book.update(idx, torch.tensor(d))
        book.end_epoch()
    s = book.summary(10)
    assert s["quantile_levels"].tolist() == pytest.approx([0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0])
    # K per epoch (⌊10·f + ½⌋): [5, 5], [6, 4], [8, 4], [8, 5] (7.5 → 8, 4.5 → 5)
    assert s["k_final"].tolist() == [8, 5]
    assert s["k_mean"].tolist() == pytest.approx([5.0, 5.0, 6.0, 6.5])
    assert s["k_quantiles"][:, 0].tolist() == [5.0, 4.0, 4.0, 5.0] and s["k_quantiles"][:, -1].tolist() == [5.0, 6.0, 8.0, 8.0]
    assert s["k_quantiles"][2, 3].item() == pytest.approx(6.0)  # median of 8 and 4
    # the last epoch's mean |change| of the unrounded fraction, in pixels: (0.05 + 0.05) / 2 · 10
    assert s["k_step"].item() == pytest.approx(0.5, rel=1e-5)
    assert set(s) == {"k_final", "k_quantiles", "quantile_levels", "k_mean", "k_step", "pixels"}


def test_smoot_config_bounds_are_inclusive_and_problems_are_listed_together():
    smoot.SMOOTConfig(alpha=0, top_n=2, w=0, k_min=0, k_max=1, k_init=0)
    smoot.SMOOTConfig(alpha=1, k_min=0.5, k_max=0.5, k_init=0.5)  # k_init may equal both bounds
    smoot.SMOOTConfig(k_min=0.2, k_max=1.0, k_init=1.0)
    with pytest.raises(ValueError, match=r"^SMOOTConfig: alpha must lie in \[0, 1\], got True; top_n must be a whole "
                                         r"number >= 2 \(classes 2\.\.n enter Δn\), got True; w must be a number >= 0, "
                                         r"got '1'; k_max is a fraction of the pixels and must lie in \[0, 1\], got 1\.5$"):
        smoot.SMOOTConfig(alpha=True, top_n=True, w="1", k_max=1.5)
    with pytest.raises(ValueError, match="top_n must be a whole number >= 2"):
        smoot.SMOOTConfig(top_n=2.0)
    with pytest.raises(ValueError, match=r"^SMOOTConfig: k_init is a fraction of the pixels and must lie in \[0, 1\], "
                                         r"got '0\.5'$"):
        smoot.SMOOTConfig(k_init="0.5")
    with pytest.raises(ValueError, match="need k_min <= k_init <= k_max, got 0.2 <= 0.9 <= 0.8"):
        smoot.SMOOTConfig(k_init=0.9)


def test_smoot_step_state_restores_the_book_and_the_noise():
    """A checkpoint's SMOOT state: the masking noise, every image's K fraction, its visits and the epoch
    snapshots. Loaded into a fresh step, they equal the saved ones and are copies (the saved state does not
    move with the new run)."""
    x, y = torch.rand(4, 1, 4, 4), torch.tensor([0, 1, 0, 1])
    step = smoot.SMOOTStep()
    step.begin(None, x, y, seed=3)
    step.book.update(torch.tensor([0, 2]), torch.tensor([0.5, -0.5]))
    step.end_epoch()
    step.book.update(torch.tensor([1]), torch.tensor([0.25]))
    saved = step.state()
    assert set(saved) == {"noise", "fraction", "visits", "snapshots"}
    assert torch.equal(saved["noise"], torch.Generator().manual_seed(3 + 7919).get_state())
    fresh = smoot.SMOOTStep()
    fresh.begin(None, x, y, seed=99)
    fresh.load_state(saved)
    assert torch.equal(fresh.noise.get_state(), saved["noise"])
    assert torch.equal(fresh.book.fraction, step.book.fraction) and torch.equal(fresh.book.visits, step.book.visits)
    assert fresh.book.visits.tolist() == [1, 1, 1, 0]
    assert len(fresh.book.snapshots) == 2
    assert all(torch.equal(a, b) for a, b in zip(fresh.book.snapshots, step.book.snapshots))
    fresh.book.update(torch.tensor([3]), torch.tensor([1.0]))
    fresh.book.snapshots[0] += 1
    assert saved["fraction"][3] == step.book.fraction[3] != fresh.book.fraction[3]
    assert torch.equal(saved["snapshots"][0], step.book.snapshots[0])


def test_k_step_after_one_epoch_is_the_mean_change_in_pixels():
    """Two snapshots (the start and one epoch): k_step = mean |Δ fraction| · pixels; with one snapshot it is 0."""
    book = smoot.MaskBook(4, smoot.SMOOTConfig())
    assert float(book.summary(784)["k_step"]) == 0.0
    before = book.fraction.clone()
    book.update(torch.tensor([0, 2]), torch.tensor([0.5, -0.5]))
    book.end_epoch()
    want = (book.fraction - before).abs().mean() * 784
    assert float(want) > 0
    assert float(book.summary(784)["k_step"]) == pytest.approx(float(want))


@pytest.mark.parametrize("epochs", [2, 4])
def test_k_step_is_the_last_epochs_change_however_many_epochs(epochs):
    """k_step compares the last two snapshots, whatever their number (3 or 5 here: snapshot 2 is then the
    last one, or neither of the last two)."""
    book = smoot.MaskBook(2, smoot.SMOOTConfig(w=1.0, k_min=0.0, k_max=1.0, k_init=0.5))
    for e in range(epochs):
        book.update(torch.tensor([0, 1]), torch.tensor([0.01 * (e + 1), -0.02 * (e + 1)]))
        book.end_epoch()
    # the last epoch moved image 0 by 0.01·epochs and image 1 by 0.02·epochs: mean 0.015·epochs, in 100 pixels
    assert float(book.summary(100)["k_step"]) == pytest.approx(1.5 * epochs, rel=1e-5)

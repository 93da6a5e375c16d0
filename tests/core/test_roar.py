"""ROAR/KAR masking: exact pixel counts, mean replacement, ties, complementarity; an oracle beats random."""
from types import SimpleNamespace

import pytest
import torch

from roarkit.core import data, removal, roar, training

P = 28 * 28


@pytest.mark.parametrize("t,k", [(10, 78), (30, 235), (50, 392), (70, 549), (90, 706)])
def test_exact_pixel_count_per_image_at_each_threshold(t, k):
    assert roar.n_pixels(t, P) == k
    rank = removal.ranks(torch.rand(64, P, generator=torch.Generator().manual_seed(t)))
    removed = roar.removal_mask(rank, t, "roar")
    kept_by_kar = ~roar.removal_mask(rank, t, "kar")
    assert (removed.sum(1) == k).all() and (kept_by_kar.sum(1) == k).all()


@pytest.mark.parametrize("t", [0, 100, -5, 120, True, "50"])
def test_threshold_outside_open_interval_is_refused(t):
    with pytest.raises(ValueError, match="strictly between 0 and 100"):
        roar.n_pixels(t, P)


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="unknown mode 'rar'"):
        roar.removal_mask(torch.zeros(1, P, dtype=torch.int16), 10, "rar")
    with pytest.raises(ValueError, match=r"^unknown mode 'ROAR'; known: roar, kar$"):
        roar.check_mode("ROAR")


@pytest.mark.parametrize("t, k", [(0.5, 4), (0.06, 0), (0.07, 1), (1, 8), (99.5, 780)])
def test_thresholds_below_one_percent_are_counted(t, k):
    """Any percentage strictly between 0 and 100 is a threshold, fractions of one percent too:
    ⌊784·t/100 + ½⌋ pixels (0.5 % → 3.92 → 4; 0.06 % → 0.47 → 0; 0.07 % → 0.55 → 1)."""
    assert roar.n_pixels(t, P) == k


def test_removed_pixels_take_the_dataset_mean(mnist_dir):
    ds = data.load("mnist", root=mnist_dir, n_train=200, n_test=100)
    x = ds.x_train
    rank = removal.ranks(removal.scores(x))  # brightest pixels first
    out = roar.remove(x, rank, 30)
    mask = roar.removal_mask(rank, 30).reshape(x.shape)
    pixels = ds.unnormalize(out)[mask]
    assert torch.allclose(pixels, ds.mean.expand_as(pixels), atol=1e-6)  # 0 after normalisation = the mean
    assert torch.equal(out[~mask], x[~mask])  # everything else untouched
    assert (mask.flatten(1).sum(1) == 235).all()


def test_ties_are_broken_at_random_and_reproducibly():
    score = torch.zeros(3, P)
    score[:, :10] = 1.0  # ten strictly more important pixels, the rest all tied
    r0, r1 = removal.ranks(score, 0), removal.ranks(score, 1)
    for r in (r0, r1):
        assert (torch.sort(r.long(), 1).values == torch.arange(P)).all()  # a permutation per image
        assert (r[:, :10].long() < 10).all()  # ties never jump a strictly larger score
    assert torch.equal(r0, removal.ranks(score, 0))
    assert not torch.equal(r0, r1) and not torch.equal(r0[0], r0[1])
    # among tied pixels every position is equally likely to go first: the chosen ones spread out
    picked = roar.removal_mask(removal.ranks(torch.zeros(2000, P), 3), 10)
    freq = picked.float().mean(0)
    assert abs(freq.mean().item() - 78 / P) < 1e-6 and freq.std().item() < 0.03


@pytest.mark.parametrize("t", [10, 30, 50, 70, 90])
def test_roar_and_kar_are_complements(t):
    rank = removal.ranks(torch.randn(16, P))
    r, k = roar.removal_mask(rank, t, "roar"), roar.removal_mask(rank, t, "kar")
    assert torch.equal(r, ~k)
    x = torch.randn(16, 1, 28, 28)
    assert torch.equal(roar.remove(x, rank, t, "roar") + roar.remove(x, rank, t, "kar"), x)


def _patch_data(n, seed):
    """10 classes; class c lights a 4×4 patch at its own place on a noise background."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 10
    x = torch.randn(n, 1, 28, 28, generator=g)
    where = torch.zeros(10, 28, 28, dtype=torch.bool)
    for c in range(10):
        r, col = 2 + (c // 5) * 12, 2 + (c % 5) * 5
        where[c, r:r + 4, col:col + 4] = True
    x[where[y].unsqueeze(1)] += 3.0
    return x, y, where.any(0).flatten()


def test_perfect_saliency_oracle_beats_random():
    """An oracle that ranks every informative pixel (the union of the class patches) first takes ROAR
    to chance at 25 %; random removal of the same number of pixels leaves the task learnable."""
    xtr, ytr, informative = _patch_data(3000, 0)
    xte, yte, _ = _patch_data(1000, 1)
    oracle = informative.float().expand(len(xtr), P)
    cfg = training.TrainConfig(epochs=3, batch_size=32, lr=1e-2, momentum=0.9)
    acc = {}
    for name, score_tr, score_te in (("oracle", oracle, informative.float().expand(len(xte), P)),
                                     ("random", torch.rand(len(xtr), P), torch.rand(len(xte), P))):
        ds = SimpleNamespace(x_train=roar.remove(xtr, removal.ranks(score_tr, 0), 25), y_train=ytr,
                             x_test=roar.remove(xte, removal.ranks(score_te, 1), 25), y_test=yte,
                             num_classes=10, image_shape=(1, 28, 28), device=torch.device("cpu"))
        acc[name] = training.fit("roar", ds, cfg, seed=0, progress=False).metrics.accuracy
    assert acc["oracle"] < 0.2, acc
    assert acc["random"] > 0.8, acc


def test_views_give_every_unit_its_own_ranking_threshold_and_mode():
    """The engine's view of a grid against :func:`roar.remove` unit by unit: the (method, seed) ranking of
    each unit, its threshold's count, ROAR removing and KAR keeping the top pixels."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5, 1, 28, 28, generator=g)
    y = torch.arange(5)
    ranks = {(m, s): removal.ranks(torch.rand(5, P, generator=g), s) for m in ("ig", "random") for s in (0, 1)}
    units = [(m, mode, t, s) for m in ("random", "ig") for mode in ("kar", "roar") for t in (10, 70) for s in (1, 0)]
    view = roar.views(x, y, ranks, units)
    for i, (m, mode, t, s) in enumerate(units):
        want = roar.remove(x, ranks[(m, s)], t, mode)
        assert torch.equal(view.materialize(i), want), (m, mode, t, s)
    # and as the engine reads a batch: model i sees its own images
    idx = torch.tensor([[3, 1]] * len(units))
    xb, yb = view(idx)
    for i, (m, mode, t, s) in enumerate(units):
        assert torch.equal(xb[i], roar.remove(x, ranks[(m, s)], t, mode)[[3, 1]])
    assert yb.tolist() == [[3, 1]] * len(units)
    # the mask-only control: 1 where kept, 0 where removed
    ctl = roar.views(x, y, ranks, units, control=True)
    for i, (m, mode, t, s) in enumerate(units):
        kept = ~roar.removal_mask(ranks[(m, s)], t, mode)
        assert torch.equal(ctl.materialize(i), kept.float().view(5, 1, 28, 28))


def test_views_of_non_square_colour_images_and_their_mask_control():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 3, 4, 7, generator=g)  # 28 pixels, 3 channels
    ranks = {("grad", 0): removal.ranks(torch.rand(3, 28, generator=g), 0)}
    units = [("grad", "roar", 30, 0), ("grad", "kar", 30, 0)]
    view = roar.views(x, torch.arange(3), ranks, units)
    ctl = roar.views(x, torch.arange(3), ranks, units, control=True)
    for i, (m, mode, t, s) in enumerate(units):
        assert torch.equal(view.materialize(i), roar.remove(x, ranks[(m, s)], t, mode))
        kept = ~roar.removal_mask(ranks[(m, s)], t, mode)
        assert torch.equal(ctl.materialize(i), kept.float().view(3, 1, 4, 7))  # one channel: the mask
    assert int((view.materialize(0) == 0).all(1).flatten(1).sum(1)[0]) == 8  # round(0.3 · 28) = 8 pixels

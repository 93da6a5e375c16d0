"""roarkit.core.sgt: SGT's masking (counts, ranking, value ranges), its input gradient and its loss."""
import math

import pytest
import torch
import torch.nn.functional as F
from captum.attr import Saliency

from roarkit.core import data, models, removal, sgt


@pytest.fixture(scope="module")
def mnist(mnist_dir):
    return data.load("mnist", mnist_dir, n_train=200, n_test=100, seed=0)


@pytest.fixture(scope="module")
def net():
    return models.build("sgt", seed=0).eval()


def test_input_gradient_equals_captum_saliency_and_uses_eval_mode(mnist, net):
    x, y = mnist.x_test[:32], mnist.y_test[:32]
    net.train()  # dropout on: input_gradient must switch it off and restore the mode
    grad, logits = sgt.input_gradient(net, x, y)
    assert net.training
    net.eval()
    captum = Saliency(net).attribute(x.clone().requires_grad_(), target=y, abs=False)
    torch.testing.assert_close(grad, captum, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(logits, net(x).detach())
    assert grad.abs().sum() > 0


def test_pixel_scores_by_magnitude_and_by_sign():
    g = torch.tensor([[[[-3.0, 0.5], [2.0, -0.1]]]])
    torch.testing.assert_close(sgt.pixel_scores(g, "abs"), torch.tensor([[3.0, 0.5, 2.0, 0.1]]))
    torch.testing.assert_close(sgt.pixel_scores(g, "signed"), torch.tensor([[-3.0, 0.5, 2.0, -0.1]]))
    rgb = torch.stack([g[0, 0], -g[0, 0], g[0, 0]]).unsqueeze(0)  # channels sum to g, |.| to 3|g|
    torch.testing.assert_close(sgt.pixel_scores(rgb, "signed"), sgt.pixel_scores(g, "signed"))
    torch.testing.assert_close(sgt.pixel_scores(rgb, "abs"), 3 * sgt.pixel_scores(g, "abs"))
    with pytest.raises(ValueError, match="rank_by"):
        sgt.pixel_scores(g, "magnitude")


def test_abs_masks_smallest_magnitudes_signed_masks_most_negative():
    g = torch.tensor([[[[-3.0, 0.5], [2.0, -0.1]]]])
    by_abs = sgt.lowest_mask(sgt.pixel_scores(g, "abs"), 2)
    by_sign = sgt.lowest_mask(sgt.pixel_scores(g, "signed"), 2)
    assert by_abs.tolist() == [[False, True, False, True]]  # |0.5| and |-0.1|
    assert by_sign.tolist() == [[True, False, False, True]]  # -3 and -0.1


def test_lowest_mask_counts_exact_per_image_with_random_ties():
    score = torch.zeros(64, 784)  # all tied: random pixels, but exactly k of them
    g = torch.Generator().manual_seed(0)
    m = sgt.lowest_mask(score, 392, g)
    assert m.sum(1).eq(392).all()
    assert not (m[0] == m[1]).all()  # ties broken differently per image
    k = torch.arange(64) * 12  # per-image counts, 0..756
    m = sgt.lowest_mask(torch.randn(64, 784), k, g)
    assert m.sum(1).tolist() == k.tolist()
    with pytest.raises(ValueError, match="one count in 0..784 or one per image"):
        sgt.lowest_mask(score, 785)
    with pytest.raises(ValueError, match="one per image"):
        sgt.lowest_mask(score, torch.tensor([1, 2, 3]))


def test_k_is_392_of_784_at_half():
    assert removal.n_pixels(0.5, 784) == 392
    assert removal.n_pixels(torch.tensor([0.2, 0.8]), 1024).tolist() == [205, 819]


def test_fill_uniform_draws_within_the_range_of_the_remaining_pixels():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(16, 3, 8, 8)
    mask = torch.rand(16, 64, generator=g) < 0.5
    out = sgt.fill_uniform(x, mask, g)
    m3 = mask.view(16, 1, 8, 8).expand_as(x)
    torch.testing.assert_close(out[~m3], x[~m3])  # unmasked pixels untouched
    kept = x.masked_fill(m3, float("nan")).flatten(2)
    lo, hi = kept.nan_to_num(float("inf")).amin(2), kept.nan_to_num(float("-inf")).amax(2)
    filled = out.masked_fill(~m3, float("nan")).flatten(2)
    assert (filled.nan_to_num(float("inf")).amin(2) >= lo).all()
    assert (filled.nan_to_num(float("-inf")).amax(2) <= hi).all()
    assert (out[m3] != x[m3]).float().mean() > 0.99  # fresh noise, not the old values
    # every pixel masked: the image's own range
    full = sgt.fill_uniform(x, torch.ones(16, 64, dtype=torch.bool), g)
    assert (full.flatten(2).amin(2) >= x.flatten(2).amin(2)).all()
    assert (full.flatten(2).amax(2) <= x.flatten(2).amax(2)).all()


def test_mask_lowest_on_real_mnist_replaces_exactly_k_pixels_within_range(mnist, net):
    x, y = mnist.x_train[:64], mnist.y_train[:64]
    grad, _ = sgt.input_gradient(net, x, y)
    g = torch.Generator().manual_seed(0)
    xt = sgt.mask_lowest(x, grad, 392, "abs", g)
    changed = (xt != x).flatten(1)
    # each image: 392 pixels replaced (a draw can equal the old value only with probability ~0)
    assert changed.sum(1).eq(392).all()
    lo, hi = x.flatten(1).amin(1), x.flatten(1).amax(1)
    assert (xt.flatten(1).amin(1) >= lo).all() and (xt.flatten(1).amax(1) <= hi).all()
    # the replaced pixels are the 392 with the smallest |gradient|
    score = grad.abs().flatten(1)
    assert (score[changed].view(64, 392).amax(1) <= score[~changed].view(64, 392).amin(1)).all()


def test_kl_is_from_the_unmasked_to_the_masked_output():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 0.0]])
    masked = torch.tensor([[0.0, 1.0, 0.0], [3.0, -1.0, 0.0]])
    p, q = F.softmax(logits, 1), F.softmax(masked, 1)
    kl_pq = (p * (p.log() - q.log())).sum(1).mean()
    kl_qp = (q * (q.log() - p.log())).sum(1).mean()
    got = sgt.kl_divergence(logits, masked)
    torch.testing.assert_close(got, kl_pq)
    assert not math.isclose(float(kl_pq), float(kl_qp), rel_tol=1e-3)  # the direction matters here
    assert float(sgt.kl_divergence(logits, logits)) == pytest.approx(0.0, abs=1e-7)
    # the official code's nn.KLDivLoss(log_target=True)(log q, log p) is the same quantity
    official = torch.nn.KLDivLoss(reduction="batchmean", log_target=True)(F.log_softmax(masked, 1),
                                                                          F.log_softmax(logits, 1))
    torch.testing.assert_close(got, official)


def test_sgt_loss_is_ce_plus_lambda_kl():
    g = torch.Generator().manual_seed(0)
    logits, masked = torch.randn(8, 10, generator=g), torch.randn(8, 10, generator=g)
    y = torch.randint(0, 10, (8,), generator=g)
    loss, ce, kl = sgt.sgt_loss(logits, masked, y, lam=2.5)
    torch.testing.assert_close(ce, F.cross_entropy(logits, y))
    torch.testing.assert_close(loss, ce + 2.5 * kl)
    assert kl > 0


@pytest.mark.parametrize("kw,words", [({"k": 1.5}, "fraction of pixels masked"), ({"lam": -1}, "KL term"),
                                      ({"rank_by": "magnitude"}, "'abs'")])
def test_sgt_config_names_the_problem(kw, words):
    with pytest.raises(ValueError, match=words):
        sgt.SGTConfig(**kw)

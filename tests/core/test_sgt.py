"""roarkit.core.sgt: SGT's masking (counts, ranking, value ranges), its input gradient and its loss."""
import math

import pytest
import torch
import torch.nn.functional as F
from captum.attr import Saliency

from roarkit.core import data, models, removal, sgt, training


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


# -- one training step on a model whose masking is known ------------------------------------------------
# A linear model on 2×2 images: the input gradient of class c is the row W[c], whatever the image, so the
# masked pixels are known. Rows 0-2 put large negative weights on pixels 0 and 2 and small ones on 1 and 3:
# by magnitude ("abs") pixels 1 and 3 are masked and 0 and 2 kept; by signed value pixels 0 and 2 (the most
# negative) are masked and 1 and 3 kept. Image [a, b, a, b] thus keeps two equal pixels either way, so the
# uniform fill within the kept range is that value exactly: x̃ = [a, a, a, a] (abs) or [b, b, b, b] (signed).
W = torch.tensor([[-3.0, 0.5, -2.0, 0.1], [-1.0, 0.2, -4.0, -0.3], [-2.0, 0.2, -1.5, 0.1], [0.5, -0.2, 0.3, -0.2]])
BIAS = torch.tensor([2.0, 0.0, 0.0, 0.0])
AB = [(0.3, 0.0), (0.0, 0.6), (0.2, 1.0)]  # (a, b) of images 0-2, labels 0-2


def linear_model():
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 4))
    with torch.no_grad():
        net[1].weight.copy_(W)
        net[1].bias.copy_(BIAS)
    return net


def batch():
    x = torch.tensor([[a, b, a, b] for a, b in AB]).view(3, 1, 2, 2)
    return x, torch.tensor([0, 1, 2])


def hand_loss(x, x_tilde, y, lam):
    """CE(f(x), y) + λ·KL(f(x) ‖ f(x̃)), written out with p = softmax(Wx + b), q = softmax(Wx̃ + b)."""
    logits, masked = x.flatten(1) @ W.T + BIAS, x_tilde.flatten(1) @ W.T + BIAS
    p, q = logits.exp() / logits.exp().sum(1, keepdim=True), masked.exp() / masked.exp().sum(1, keepdim=True)
    ce = -p[torch.arange(len(y)), y].log().mean()
    kl = (p * (p / q).log()).sum(1).mean()
    return ce + lam * kl, ce, kl


@pytest.mark.parametrize("rank_by", sgt.RANK_BY)
def test_one_sgt_step_equals_ce_plus_lambda_kl_by_hand(rank_by, one_thread):
    x, y = batch()
    fill = torch.tensor([a if rank_by == "abs" else b for a, b in AB]).view(3, 1, 1, 1)
    x_tilde = fill.expand(3, 1, 2, 2)
    step = sgt.SGTStep(sgt.SGTConfig(k=0.5, lam=0.7, rank_by=rank_by))
    model = linear_model()
    step.begin(model, x, y, seed=0)
    assert step.k_fixed == 2
    loss, ce, kl = step(model, x, y, torch.arange(3))
    want = hand_loss(x, x_tilde, y, 0.7)
    for got, ref in zip((loss, ce, kl), want):
        torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-7)
    # the other ranking masks other pixels, so it gives another x̃ and another loss: the step uses rank_by
    other = torch.tensor([b if rank_by == "abs" else a for a, b in AB]).view(3, 1, 1, 1)
    assert not torch.allclose(kl, hand_loss(x, other.expand(3, 1, 2, 2), y, 0.7)[2], rtol=1e-3)
    # KL(q ‖ p) is not what the step minimises
    logits, masked = x.flatten(1) @ W.T + BIAS, x_tilde.flatten(1) @ W.T + BIAS
    reverse = (masked.softmax(1) * (masked.log_softmax(1) - logits.log_softmax(1))).sum(1).mean()
    assert not torch.allclose(kl, reverse, rtol=1e-3)
    loss.backward()  # gradients flow through both halves of the batch
    assert model[1].weight.grad.abs().sum() > 0


def test_abs_and_signed_rankings_mask_different_pixels_of_the_same_gradient():
    x, y = batch()
    grad, _ = sgt.input_gradient(linear_model(), x, y)
    torch.testing.assert_close(grad, W[y].view(3, 1, 2, 2))  # a linear model's input gradient is its row
    by_abs = sgt.lowest_mask(sgt.pixel_scores(grad, "abs"), 2)
    by_sign = sgt.lowest_mask(sgt.pixel_scores(grad, "signed"), 2)
    assert by_abs.tolist() == [[False, True, False, True]] * 3
    assert by_sign.tolist() == [[True, False, True, False]] * 3


@pytest.mark.parametrize("field,choices", [("rank_by", sgt.RANK_BY), ("grad_of", sgt.GRAD_OF)])
def test_sgt_training_differs_by_rank_by_and_grad_of(field, choices, one_thread):
    """The loop passes rank_by and grad_of on: two trainings that differ only in one end with different weights."""
    x, y = batch()
    x, y = x.repeat(4, 1, 1, 1), y.repeat(4)
    weights = {}
    for choice in choices:
        model = linear_model()
        training.train(model, x, y, training.TrainConfig(epochs=1, batch_size=6, lr=0.5), seed=0,
                       step=sgt.SGTStep(sgt.SGTConfig(**{field: choice})), progress=False)
        weights[choice] = model[1].weight.detach().clone()
    assert not torch.allclose(*weights.values(), atol=1e-4)


def test_sgt_config_bounds_are_inclusive_and_booleans_are_refused():
    for k in (0, 0.0, 1, 1.0):
        assert sgt.SGTConfig(k=k).k == k
    assert sgt.SGTConfig(lam=0).lam == 0
    with pytest.raises(ValueError, match=r"^SGTConfig\.k is the fraction of pixels masked and must lie in \[0, 1\], "
                                         r"got True \(e\.g\. 0\.5 masks 392 of 784 MNIST pixels\)$"):
        sgt.SGTConfig(k=True)
    for bad in ("0.5", -0.01, 1.01):
        with pytest.raises(ValueError, match="fraction of pixels masked"):
            sgt.SGTConfig(k=bad)
    for bad in (True, "1", -0.5):
        with pytest.raises(ValueError, match=r"^SGTConfig\.lam weighs the KL term and must be a number >= 0, got "):
            sgt.SGTConfig(lam=bad)
    with pytest.raises(ValueError, match=r"^SGTConfig\.rank_by must be 'abs' \(mask the smallest magnitudes, the "
                                         r"paper\) or 'signed' \(mask the most negative gradients, the official code\), "
                                         r"got 'x'$"):
        sgt.SGTConfig(rank_by="x")
    assert sgt.SGTConfig(k=0.3, lam=2.0, rank_by="signed").as_dict() == {"k": 0.3, "lam": 2.0, "rank_by": "signed",
                                                                          "grad_of": "logit"}


def test_masking_noise_comes_from_the_given_generator_only(one_thread):
    """Tied scores and random fills: the same generator seed gives the same x̃ whatever the global RNG did."""
    g = torch.Generator().manual_seed(0)
    x, grad = torch.rand(4, 2, 5, 5, generator=g), torch.ones(4, 2, 5, 5)  # every score tied
    outs = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)
        outs.append(sgt.mask_lowest(x, grad, 10, generator=torch.Generator().manual_seed(5)))
    assert torch.equal(outs[0], outs[1])
    assert torch.equal(outs[0], sgt.mask_lowest(x, grad, 10, "abs", torch.Generator().manual_seed(5)))  # default abs
    assert not torch.equal(outs[0], sgt.mask_lowest(x, grad, 10, generator=torch.Generator().manual_seed(6)))
    mask = torch.rand(4, 25, generator=g) < 0.5
    fills = [sgt.fill_uniform(x, mask, torch.Generator().manual_seed(7)) for _ in range(2)]
    assert torch.equal(*fills)


def test_fill_uniform_per_image_when_only_some_images_are_fully_masked():
    x = torch.stack([torch.linspace(0, 1, 16), torch.linspace(-2, 2, 16)]).view(2, 1, 4, 4)
    mask = torch.zeros(2, 16, dtype=torch.bool)
    mask[0] = True  # image 0: everything masked → its whole range [0, 1]
    mask[1, :8] = True  # image 1: the lower half masked → the kept range [0.13, 2]
    out = sgt.fill_uniform(x, mask, torch.Generator().manual_seed(0)).flatten(1)
    assert out[0].min() >= 0 and out[0].max() <= 1 and out[0].max() - out[0].min() > 0.5
    kept_lo = float(x.flatten(1)[1, 8])
    assert out[1, :8].min() >= kept_lo and out[1, :8].max() <= 2.0
    assert torch.equal(out[1, 8:], x.flatten(1)[1, 8:])


def test_sgt_step_draws_from_its_own_seeded_generator(one_thread):
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))
    with torch.no_grad():
        net[1].weight.copy_(torch.tensor([[0.1], [0.5], [-0.3]]).expand(3, 16))  # a class's pixels all tied
    x, y = torch.rand(6, 1, 4, 4, generator=torch.Generator().manual_seed(1)), torch.tensor([0, 1, 2] * 2)
    losses = []
    for global_seed, seed in ((1, 0), (2, 0), (1, 3)):
        torch.manual_seed(global_seed)
        step = sgt.SGTStep(sgt.SGTConfig(k=0.5))
        step.begin(net, x, y, seed=seed)
        assert step.noise.initial_seed() == seed + 7919  # the masking noise's own stream
        losses.append(step(net, x, y, torch.arange(6))[0].item())
    assert losses[0] == losses[1] and losses[0] != losses[2]


def test_sgt_loss_default_lambda_is_one():
    g = torch.Generator().manual_seed(3)
    logits, masked, y = torch.randn(4, 5, generator=g), torch.randn(4, 5, generator=g), torch.tensor([0, 1, 2, 3])
    loss, ce, kl = sgt.sgt_loss(logits, masked, y)
    torch.testing.assert_close(loss, ce + kl)


def test_log_prob_saliency_equals_captum_on_a_log_softmax_network_and_its_closed_form(mnist, net):
    """``grad_of="log_prob"``: Captum's ``Saliency`` on the official code's network (which returns
    ``log_softmax``) and ``∂z_y/∂x − Σ_c p_c ∂z_c/∂x`` by hand; it is not the logit's gradient."""
    x, y = mnist.x_test[:16], mnist.y_test[:16]
    grad, logits = sgt.input_gradient(net, x, y, of="log_prob")
    log_net = torch.nn.Sequential(net, torch.nn.LogSoftmax(1)).eval()
    want = Saliency(log_net).attribute(x, target=y, abs=False)
    torch.testing.assert_close(grad, want)
    logit_grad, same_logits = sgt.input_gradient(net, x, y, of="logit")
    torch.testing.assert_close(logits, same_logits)  # the logits it returns are the raw ones either way
    per_class = torch.stack([sgt.input_gradient(net, x, torch.full_like(y, c))[0] for c in range(10)], 1)
    p = logits.softmax(1).view(16, 10, 1, 1, 1)
    torch.testing.assert_close(grad, logit_grad - (p * per_class).sum(1), rtol=1e-4, atol=1e-6)
    assert not torch.allclose(grad, logit_grad, atol=1e-4)
    with pytest.raises(ValueError, match="of must be one of"):
        sgt.input_gradient(net, x, y, of="prob")


def test_grad_of_defaults_to_the_logit_and_is_checked():
    assert sgt.SGTConfig().grad_of == "logit"
    with pytest.raises(ValueError, match="grad_of must be 'logit'.*got 'softmax'"):
        sgt.SGTConfig(grad_of="softmax")


def test_sgt_step_state_restores_its_masking_noise():
    """A checkpoint's SGT state is the masking noise generator (seeded seed + 7919): loading it makes the
    next draws repeat, as a resumed training needs."""
    x, y = torch.rand(2, 1, 4, 4), torch.tensor([0, 1])
    step = sgt.SGTStep(sgt.SGTConfig())
    step.begin(None, x, y, seed=3)
    assert torch.equal(step.state()["noise"], torch.Generator().manual_seed(3 + 7919).get_state())
    saved = step.state()
    first = torch.rand(5, generator=step.noise)
    assert not torch.equal(torch.rand(5, generator=step.noise), first)
    other = sgt.SGTStep(sgt.SGTConfig())
    other.begin(None, x, y, seed=99)
    other.load_state(saved)
    assert torch.equal(torch.rand(5, generator=other.noise), first)


def test_lowest_mask_may_mask_every_pixel_and_scores_rank_by_abs_by_default():
    score = torch.tensor([[0.3, -0.1, 0.2, 0.0]])
    assert sgt.lowest_mask(score, 4).all()  # k = P: every pixel
    with pytest.raises(ValueError):
        sgt.lowest_mask(score, 5)
    grad = torch.tensor([[[[1.0, -2.0], [0.5, -0.25]]]])
    assert torch.equal(sgt.pixel_scores(grad), sgt.pixel_scores(grad, "abs"))
    assert sgt.pixel_scores(grad).tolist() == [[1.0, 2.0, 0.5, 0.25]]


def test_lowest_mask_breaks_ties_with_the_generator_it_is_given():
    """The tie-break draws from the caller's generator (SGTStep's seeded noise), not from ``removal.ranks``'s
    own default seed: two seeds give two masks of tied scores, one seed the same mask twice, and the mask is
    the ``k`` first pixels of the permutation that generator draws."""
    score = torch.zeros(3, 50)
    masks = [sgt.lowest_mask(score, 20, torch.Generator().manual_seed(s)) for s in (5, 5, 6)]
    assert torch.equal(masks[0], masks[1]) and not torch.equal(masks[0], masks[2])
    assert not torch.equal(masks[0], sgt.lowest_mask(score, 20))  # None: ranks' own seed 0, not seed 5
    perm = torch.rand(3, 50, generator=torch.Generator().manual_seed(5)).argsort(1)  # ranks' draw, by hand
    expected = torch.zeros(3, 50, dtype=torch.bool).scatter_(1, perm[:, :20], True)
    assert torch.equal(masks[0], expected)


def test_fill_uniform_draws_in_the_images_dtype():
    """float64 images get float64 noise: ``lo + u·(hi − lo)`` with ``u`` drawn as float64 (a float32 draw is
    a different stream of values, rounded to 24 bits)."""
    x = torch.linspace(-1.0, 3.0, 2 * 16, dtype=torch.float64).view(2, 1, 4, 4)
    mask = torch.zeros(2, 16, dtype=torch.bool)
    mask[:, 10:] = True
    out = sgt.fill_uniform(x, mask, torch.Generator().manual_seed(3))
    assert out.dtype == torch.float64
    flat = x.flatten(1)
    lo, hi = flat[:, :10].amin(1, keepdim=True), flat[:, :10].amax(1, keepdim=True)
    u = torch.rand(2, 1, 16, generator=torch.Generator().manual_seed(3), dtype=torch.float64).view(2, 16)
    expected = torch.where(mask, lo + u * (hi - lo), flat)
    torch.testing.assert_close(out.flatten(1), expected, rtol=0, atol=1e-15)

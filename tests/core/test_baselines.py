"""The baselines of roarkit.core.saliency.baselines on three channels, against torchvision, dense solves
with torch.linalg.solve and values worked out by hand (issue 16: the gaps a mutation run found)."""
import re

import pytest
import torch
import torchvision.transforms.functional as TF

from roarkit.core.data import Dataset
from roarkit.core.saliency import baselines as B

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py

#: per-channel input range and dataset mean of a three-channel input space (none of them equal)
RGB = B.Stats(lo=torch.tensor([-2.0, -1.0, -3.0]), hi=torch.tensor([2.0, 3.0, 7.0]),
              mean=torch.tensor([0.5, -0.25, 1.0]))
FALLBACK = torch.tensor([0.5, -1.0, 2.0])  # a per-channel fallback far from the images' values
EDGE, CORNER = 1 / 6, 1 / 12                # ROAD's neighbour weights
OFFSETS = [(di, dj, EDGE if di == 0 or dj == 0 else CORNER)
           for di in (-1, 0, 1) for dj in (-1, 0, 1) if (di, dj) != (0, 0)]
STREAM = 0x9E3779B9  # the documented offset of the fills' noise stream (seed + offset)
PULL = 1e-6          # the solver's tiny pull of every removed pixel to the fallback


def _rgb(n=2, h=6, w=7, seed=0, dtype=torch.float32):
    """Images whose channels live on different scales and offsets: [0, 1], [-3, -1] and [10, 14]."""
    x = torch.rand(n, 3, h, w, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    x = x * torch.tensor([1.0, 2.0, 4.0]).view(1, 3, 1, 1) + torch.tensor([0.0, -3.0, 10.0]).view(1, 3, 1, 1)
    return x.to(dtype)


def _noise_gen(seed):
    return torch.Generator().manual_seed(STREAM + seed)


def _neighbour_mean(img, i, j):
    """Σ w_j img_j / Σ w_j over the in-image neighbours of (i, j), written out (python floats)."""
    h, w = img.shape
    num = den = 0.0
    for di, dj, wt in OFFSETS:
        a, b = i + di, j + dj
        if 0 <= a < h and 0 <= b < w:
            num += wt * float(img[a, b])
            den += wt
    return num / den


def _dense(img, removed, fallback=0.0):
    """The imputation's linear system on the removed pixels, built by loops and solved with
    torch.linalg.solve (float64): (Σ_j w_ij + PULL) z_i − Σ_{j removed} w_ij z_j = Σ_{j kept} w_ij v_j with
    v = img − fallback. Returns (the imputed image, A, b) with z = A⁻¹ b."""
    h, w = img.shape
    wm = torch.zeros(h * w, h * w, dtype=torch.float64)
    for i in range(h):
        for j in range(w):
            for di, dj, wt in OFFSETS:
                if 0 <= i + di < h and 0 <= j + dj < w:
                    wm[i * w + j, (i + di) * w + j + dj] = wt
    v = img.double().flatten() - fallback
    u, k = removed.flatten().nonzero()[:, 0], (~removed.flatten()).nonzero()[:, 0]
    a = torch.diag(wm.sum(1)[u] + PULL) - wm[u][:, u]
    b = wm[u][:, k] @ v[k]
    out = v.clone()
    out[u] = torch.linalg.solve(a, b)
    return (out + fallback).view(h, w), a, b


# ------------------------------------------------------------------------------------------- blur
@pytest.mark.parametrize("sigma", [0.8, None, 3.5, 9.0])  # None: the default σ = 2; 9.0: radius capped
def test_blur_equals_torchvision_on_a_non_square_rgb_image(sigma):
    x = _rgb(2, 13, 19, dtype=torch.float64)
    s = B.BLUR_SIGMA if sigma is None else sigma
    r = min(-(-3 * s // 1), 13 - 1)  # radius ⌈3σ⌉, capped by the shorter side (reflect padding needs r < 13)
    ks = int(2 * r + 1)
    expect = TF.gaussian_blur(x, [ks, ks], [s, s])  # reflect padding, the same truncated Gaussian
    out = B.gaussian_blur(x) if sigma is None else B.gaussian_blur(x, sigma)
    assert out.shape == x.shape and out.dtype == torch.float64
    torch.testing.assert_close(out, expect, rtol=0, atol=1e-12)
    torch.testing.assert_close(B.fill("blur", x, RGB, **({} if sigma is None else {"sigma": sigma})),
                               expect, rtol=0, atol=1e-12)


@pytest.mark.parametrize("sigma", [0.0, -1.0])
def test_blur_needs_a_positive_sigma(sigma):
    with pytest.raises(ValueError, match=f"^blur sigma must be positive, got {sigma}$"):
        B.gaussian_blur(_rgb(), sigma)


# ------------------------------------------------------------------------------- shared imputation
#: masks on a 6 × 7 image: nothing, one interior / edge / corner pixel, a block at the border, everything
MASK_NAMES = ("nothing", "interior", "edge", "corner", "block", "everything")


def _masks(h=6, w=7):
    m = torch.zeros(len(MASK_NAMES), h, w, dtype=torch.bool)
    m[1, 2, 3] = True
    m[2, 0, 3] = True
    m[3, h - 1, w - 1] = True
    m[4, 1:4, 0:3] = True
    m[5] = True
    return m


def _impute(how, x, removed, fallback):
    """(K, N, C, H, W) from each of the three imputations (ROAD's noise off)."""
    if how == "shared":
        return B.impute_shared(x, removed, fallback=fallback)
    one = B.impute_linear if how == "linear" else lambda *a, **k: B.noisy_linear(*a, noise=0.0, **k)
    return torch.stack([one(x, m.expand(len(x), 1, *m.shape), fallback=fallback) for m in removed])


@pytest.mark.parametrize("how", ["shared", "linear", "noisy_linear"])
def test_imputation_of_nothing_a_pixel_a_block_and_everything_by_hand(how):
    x = _rgb(2)
    removed = _masks()
    out = _impute(how, x, removed, FALLBACK)
    assert out.shape == (len(removed), *x.shape) and out.dtype == x.dtype
    atol = 1e-5 if how == "shared" else 2e-3  # the iterative solver stops at a relative residual of 1e-4
    for k, name in enumerate(MASK_NAMES):
        m = removed[k]
        assert torch.equal(out[k][:, :, ~m], x[:, :, ~m]), name  # kept pixels bit-exact
        for i in range(len(x)):
            for c in range(3):
                img = out[k, i, c]
                for (a, b) in m.nonzero().tolist():
                    if name == "everything":  # no kept neighbour anywhere: the fallback of the channel
                        assert img[a, b].item() == pytest.approx(FALLBACK[c].item(), abs=1e-6)
                    elif name == "block":  # solved jointly: each the weighted mean of its neighbours'
                        # final values (up to the solver's 1e-6 pull to the fallback)
                        assert img[a, b].item() == pytest.approx(_neighbour_mean(img, a, b), rel=1e-5, abs=atol)
                    else:                      # a lone pixel: the weighted mean of the kept ones
                        assert img[a, b].item() == pytest.approx(_neighbour_mean(x[i, c], a, b), rel=1e-5)
    # the lone pixels written out: interior 1/6 and 1/12 (sum 1), edge (sum 2/3), corner (sum 5/12)
    v = x[1, 2].double()
    interior = (EDGE * (v[1, 3] + v[3, 3] + v[2, 2] + v[2, 4])
                + CORNER * (v[1, 2] + v[1, 4] + v[3, 2] + v[3, 4]))
    edge = (EDGE * (v[0, 2] + v[0, 4] + v[1, 3]) + CORNER * (v[1, 2] + v[1, 4])) / (2 / 3)
    corner = (EDGE * (v[4, 6] + v[5, 5]) + CORNER * v[4, 5]) / (5 / 12)
    assert out[1, 1, 2, 2, 3].item() == pytest.approx(interior.item(), rel=1e-5)
    assert out[2, 1, 2, 0, 3].item() == pytest.approx(edge.item(), rel=1e-5)
    assert out[3, 1, 2, 5, 6].item() == pytest.approx(corner.item(), rel=1e-5)
    # the block against a dense solve of the system, channel by channel
    for c in range(3):
        expect, _, _ = _dense(x[0, c], removed[4], FALLBACK[c].item())
        torch.testing.assert_close(out[4, 0, c].double(), expect, rtol=0, atol=atol)


@pytest.mark.parametrize("how", ["shared", "linear", "noisy_linear"])
def test_imputation_fallbacks_default_to_zero_and_a_scalar_serves_every_channel(how):
    x = _rgb(2)
    everything = torch.ones(1, 6, 7, dtype=torch.bool)
    assert torch.equal(_impute(how, x, everything, None), torch.zeros(1, *x.shape))
    assert torch.allclose(_impute(how, x, everything, 0.3), torch.full((1, *x.shape), 0.3), rtol=0, atol=1e-6)
    # in float64 the fallback is taken in float64 too: 0.3 exactly, not float32's 0.30000001192...
    x64 = x.double()
    out = _impute(how, x64, everything, 0.3)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, torch.full((1, *x.shape), 0.3, dtype=torch.float64), rtol=0, atol=1e-12)


def test_per_channel_masks_fall_back_per_channel():
    """Channel 0 loses everything (its fallback), channel 1 one pixel (its neighbours), channel 2 nothing."""
    x = _rgb(2)
    m = torch.zeros(2, 3, 6, 7, dtype=torch.bool)
    m[:, 0] = True
    m[:, 1, 2, 3] = True
    for out in (B.impute_linear(x, m, fallback=FALLBACK), B.noisy_linear(x, m, noise=0.0, fallback=FALLBACK)):
        assert torch.allclose(out[:, 0], torch.full((2, 6, 7), 0.5), rtol=0, atol=1e-6)
        for i in range(2):
            assert out[i, 1, 2, 3].item() == pytest.approx(_neighbour_mean(x[i, 1], 2, 3), rel=1e-5)
        assert torch.equal(out[:, 1][~m[:, 1]], x[:, 1][~m[:, 1]])
        assert torch.equal(out[:, 2], x[:, 2])


# ----------------------------------------------------------------------------------- seeded noise
def test_noisy_linear_adds_road_noise_from_the_seeded_stream_on_removed_pixels_only():
    x = _rgb(4, 12, 12)
    m = torch.zeros(4, 1, 12, 12, dtype=torch.bool)
    m[..., ::2, ::3] = True  # lone pixels: the noise-free values are the neighbour means
    clean = B.noisy_linear(x, m, noise=0.0)
    a, same, other = (B.noisy_linear(x, m, seed=s) for s in (5, 5, 6))
    default = B.noisy_linear(x, m)  # seed 0
    mm = m.expand_as(x)
    assert torch.equal(a, same) and not torch.equal(a[mm], other[mm])
    assert torch.equal(a[~mm], x[~mm]) and torch.equal(default[~mm], x[~mm])
    resid = (a - clean)[mm]
    assert resid.std().item() == pytest.approx(B.ROAD_NOISE, rel=0.1)
    for seed, out in ((5, a), (0, default)):  # the documented stream, drawn over the whole batch
        draw = torch.randn(x.shape, generator=_noise_gen(seed))
        torch.testing.assert_close(out, clean + B.ROAD_NOISE * draw * mm, rtol=0, atol=1e-6)
    torch.testing.assert_close(B.noisy_linear(x, m, noise=0.05, seed=5) - clean,
                               0.05 * torch.randn(x.shape, generator=_noise_gen(5)) * mm, rtol=0, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_shared_imputation_noise_is_seeded_and_drawn_mask_by_mask(dtype):
    x = _rgb(3, 6, 7, dtype=dtype)
    removed = _masks()
    clean = B.impute_shared(x, removed, fallback=FALLBACK)
    assert torch.equal(clean, B.impute_shared(x, removed, fallback=FALLBACK, noise=0.0, seed=9))  # noise off
    noisy = B.impute_shared(x, removed, fallback=FALLBACK, noise=B.ROAD_NOISE, seed=5)
    assert torch.equal(noisy, B.impute_shared(x, removed, fallback=FALLBACK, noise=B.ROAD_NOISE, seed=5))
    assert not torch.equal(noisy, B.impute_shared(x, removed, fallback=FALLBACK, noise=B.ROAD_NOISE, seed=6))
    assert torch.equal(B.impute_shared(x, removed, fallback=FALLBACK, noise=B.ROAD_NOISE),
                       B.impute_shared(x, removed, fallback=FALLBACK, noise=B.ROAD_NOISE, seed=0))
    mm = removed[:, None, None].expand_as(noisy)
    assert torch.equal(noisy[~mm], clean[~mm])
    assert (noisy - clean)[mm].std().item() == pytest.approx(B.ROAD_NOISE, rel=0.1)
    # the documented stream: one draw of (N·C, removed pixels) per mask that removes any, in mask order
    for seed in (0, 5):
        g = _noise_gen(seed)
        out = B.impute_shared(x, removed, fallback=FALLBACK, noise=B.ROAD_NOISE, seed=seed)
        for k, m in enumerate(removed):
            u = m.flatten().nonzero()[:, 0]
            if len(u):
                draw = torch.randn(3 * 3, len(u), generator=g, dtype=dtype)  # drawn in the images' dtype
                got = (out[k] - clean[k]).reshape(9, -1)[:, u]
                assert got.dtype == dtype
                torch.testing.assert_close(got, B.ROAD_NOISE * draw, rtol=0, atol=1e-6 if dtype == torch.float32 else 1e-12)


# ------------------------------------------------------------------------------- stats and fills
def _dataset(normalized):
    x = torch.rand(4, 3, 5, 6, generator=torch.Generator().manual_seed(0))
    y = torch.zeros(4, dtype=torch.long)
    return Dataset(name="rgb", x_train=x, y_train=y, x_test=x, y_test=y, mean=torch.tensor([0.5, 0.4, 0.3]),
                   std=torch.tensor([0.25, 0.2, 0.1]), classes=["a", "b"], info=None, normalized=normalized)


def test_stats_of_a_three_channel_dataset_per_channel():
    st = B.Stats.of(_dataset(True))  # pixel 0 → −m/s, pixel 1 → (1 − m)/s, the training mean → 0
    torch.testing.assert_close(st.lo, torch.tensor([-2.0, -2.0, -3.0]))
    torch.testing.assert_close(st.hi, torch.tensor([2.0, 3.0, 7.0]))
    torch.testing.assert_close(st.mean, torch.zeros(3), rtol=0, atol=1e-6)
    st = B.Stats.of(_dataset(False))  # not normalised: the pixel range and the training mean itself
    torch.testing.assert_close(st.lo, torch.zeros(3))
    torch.testing.assert_close(st.hi, torch.ones(3))
    torch.testing.assert_close(st.mean, torch.tensor([0.5, 0.4, 0.3]))
    x = torch.zeros(2, 3, 4, 5, dtype=torch.float64)
    v = RGB.view(x, "hi")
    assert v.shape == (1, 3, 1, 1) and v.dtype == torch.float64
    assert v.flatten().tolist() == [2.0, 3.0, 7.0]


def _expected_fill(name, x, seed):
    """Every fill by hand, on images (2, 3, H, W) inside RGB's range; noisy_linear with _fill_mask."""
    n, c, h, w = x.shape
    per_channel = lambda vals: torch.tensor(vals, dtype=x.dtype).view(1, 3, 1, 1).expand_as(x)  # noqa: E731
    if name == "zero":
        return per_channel([-2.0, -1.0, -3.0])
    if name == "white":
        return per_channel([2.0, 3.0, 7.0])
    if name == "dataset_mean":
        return per_channel([0.5, -0.25, 1.0])
    if name == "image_mean":
        out = torch.empty_like(x)
        for i in range(n):
            for ch in range(c):
                out[i, ch] = sum(float(t) for t in x[i, ch].flatten()) / (h * w)
        return out
    if name == "blur":
        return TF.gaussian_blur(x, [13, 13], [2.0, 2.0])  # σ = 2: radius 6
    draw = torch.rand(x.shape, generator=_noise_gen(seed), dtype=x.dtype)
    if name == "uniform":  # over the input range of each channel
        return per_channel([-2.0, -1.0, -3.0]) + per_channel([4.0, 4.0, 10.0]) * draw
    if name == "image_uniform":  # over each image's own range, per channel
        lo = torch.tensor([[min(x[i, ch].flatten().tolist()) for ch in range(c)] for i in range(n)], dtype=x.dtype)
        hi = torch.tensor([[max(x[i, ch].flatten().tolist()) for ch in range(c)] for i in range(n)], dtype=x.dtype)
        return lo.view(n, c, 1, 1) + (hi - lo).view(n, c, 1, 1) * draw
    assert name == "noisy_linear"  # image 0: everything removed (dataset mean); image 1: one pixel
    out = x.clone()
    out[0] = per_channel([0.5, -0.25, 1.0])[0]
    for ch in range(c):
        out[1, ch, 2, 3] = _neighbour_mean(x[1, ch], 2, 3)
    return out + B.ROAD_NOISE * torch.randn(x.shape, generator=_noise_gen(seed), dtype=x.dtype) * _fill_mask(x)


def _fill_mask(x):
    m = torch.zeros(2, 1, *x.shape[-2:], dtype=torch.bool)
    m[0] = True
    m[1, 0, 2, 3] = True
    return m.expand_as(x)


@pytest.mark.parametrize("seed", [None, 4])  # None: the default seed, 0
@pytest.mark.parametrize("name", B.FILLS)
def test_every_fill_on_three_channels_by_hand(name, seed):
    x = _rgb(2, 7, 8, dtype=torch.float64) / 10 + torch.tensor([-0.5, 0.5, 0.0], dtype=torch.float64).view(1, 3, 1, 1)
    kw = {} if seed is None else {"seed": seed}
    out = B.fill(name, x, RGB, mask=_fill_mask(x)[:, :1] if name == "noisy_linear" else None, **kw)
    expect = _expected_fill(name, x, seed or 0)
    assert out.shape == x.shape and out.dtype == torch.float64
    torch.testing.assert_close(out, expect, rtol=0, atol=2e-5 if name == "noisy_linear" else 1e-12)
    out += 1  # a tensor of its own, not a view of the stats or of x
    if name in ("uniform", "image_uniform"):  # one draw per image and pixel, inside the range
        assert not torch.equal(expect[0], expect[1])
        lo = RGB.lo.double().view(1, 3, 1, 1) if name == "uniform" else x.amin((2, 3), keepdim=True)
        hi = RGB.hi.double().view(1, 3, 1, 1) if name == "uniform" else x.amax((2, 3), keepdim=True)
        assert bool(((expect >= lo) & (expect <= hi)).all())


def test_fill_passes_sigma_noise_and_seed_on():
    x = _rgb(2, 9, 11, dtype=torch.float64)
    torch.testing.assert_close(B.fill("blur", x, RGB, sigma=1.3), TF.gaussian_blur(x, [9, 9], [1.3, 1.3]),
                               rtol=0, atol=1e-12)
    m = torch.ones(2, 1, 9, 11, dtype=torch.bool)
    assert torch.allclose(B.fill("noisy_linear", x, RGB, mask=m, noise=0.0),
                          RGB.mean.double().view(1, 3, 1, 1).expand_as(x), rtol=0, atol=1e-6)
    out = B.fill("noisy_linear", x, RGB, mask=m, noise=0.2, seed=3)
    expect = RGB.mean.double().view(1, 3, 1, 1) + 0.2 * torch.randn(x.shape, generator=_noise_gen(3), dtype=x.dtype)
    torch.testing.assert_close(out, expect, rtol=0, atol=1e-6)


def test_noisy_linear_without_a_mask_fails_with_the_whole_message():
    with pytest.raises(ValueError, match=r"^the noisy_linear baseline depends on which pixels are removed: "
                                         r"pass mask= \(True where a pixel is removed\)$"):
        B.fill("noisy_linear", _rgb(), RGB)


# --------------------------------------------------------------------------- the iterative solver
def _relative(x, removed, out, fallback=0.0):
    """Per image: the relative residual ‖b − A z‖ / ‖b‖ of the solver's answer and its relative error
    against torch.linalg.solve."""
    res, err = [], []
    for i in range(len(x)):
        expect, a, b = _dense(x[i, 0], removed[i, 0], fallback)
        u = removed[i, 0].flatten()
        z = out[i, 0].double().flatten()[u] - fallback
        res.append(((b - a @ z).norm() / b.norm()).item())
        e = expect.flatten()[u] - fallback
        err.append(((z - e).norm() / e.norm()).item())
    return res, err


@pytest.mark.parametrize("scales,hard", [((1e3, 1e-3), 0), ((1e3, 1e-3), 1), ((1.0, 1e-6), 1)])
def test_solver_stops_on_each_images_own_tolerance(scales, hard):
    """Two images whose scales differ by 10⁶: one needs many iterations (a block at the border), the other
    none (lone pixels, exact from the Jacobi start). Each must reach its own relative residual."""
    x = torch.rand(2, 1, 12, 12, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    x = x * torch.tensor(scales, dtype=torch.float64).view(2, 1, 1, 1)
    m = torch.zeros(2, 1, 12, 12, dtype=torch.bool)
    m[hard, 0, 0:9, 0:10] = True
    m[1 - hard, 0, 5, 5] = m[1 - hard, 0, 0, 11] = True
    res, err = _relative(x, m, B.impute_linear(x, m))  # default tol 1e-4
    assert max(res) <= 1e-4, res
    assert max(err) <= 1e-2, err
    res, err = _relative(x, m, B.impute_linear(x, m, tol=1e-10))
    assert max(res) <= 1e-10, res
    assert max(err) <= 1e-8, err


def test_conjugate_gradients_end_in_as_many_steps_as_unknowns():
    """Preconditioned CG on n unknowns reaches the solution in n steps (exact arithmetic): 8 removed pixels
    at the border (weights sums 5/12, 2/3 and 1, so the Jacobi preconditioner matters), small values."""
    x = 1e-3 * torch.rand(2, 1, 6, 7, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    m = torch.zeros(2, 1, 6, 7, dtype=torch.bool)
    m[0, 0, 0:2, 0:4] = True
    m[1, 0, 3:5, 3:7] = True
    res, err = _relative(x, m, B.impute_linear(x, m, tol=1e-15, max_iter=8))
    assert max(err) <= 1e-9, err


def test_the_start_is_one_jacobi_step_exact_for_lone_pixels():
    """With no iteration at all, lone removed pixels (interior, edge, corner) hold their neighbour means."""
    x = _rgb(2, 6, 7, dtype=torch.float64)
    m = torch.zeros(2, 1, 6, 7, dtype=torch.bool)
    for a, b in ((0, 0), (0, 3), (3, 3), (5, 6), (3, 0)):
        m[:, 0, a, b] = True
    out = B.impute_linear(x, m, fallback=FALLBACK, max_iter=0)
    for i in range(2):
        for c in range(3):
            for a, b in m[0, 0].nonzero().tolist():
                assert out[i, c, a, b].item() == pytest.approx(_neighbour_mean(x[i, c], a, b), rel=1e-5)


def test_a_start_already_within_tolerance_is_returned_without_iterating():
    """The solver stops on each image's own relative residual: with ``tol`` = 1e3 both images (scales 10³
    and 10⁻³, a block removed from each) are within tolerance at the Jacobi start, so the answer is the
    start itself (``max_iter=0``), although one image's residual exceeds the other's whole right-hand side.
    A tight tolerance moves the block away from the start."""
    x = torch.rand(2, 1, 12, 12, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    x = x * torch.tensor([1e3, 1e-3], dtype=torch.float64).view(2, 1, 1, 1)
    m = torch.zeros(2, 1, 12, 12, dtype=torch.bool)
    m[:, 0, 2:8, 3:9] = True
    start = B.impute_linear(x, m, max_iter=0)
    assert torch.equal(B.impute_linear(x, m, tol=1e3), start)
    solved = B.impute_linear(x, m, tol=1e-10)
    assert not torch.allclose(solved, start, rtol=1e-3, atol=0)


def _lone_pixel_masks(n, h=5, w=6):
    """One to three non-adjacent removed pixels per image, at places that vary with the image."""
    m = torch.zeros(n, 1, h, w, dtype=torch.bool)
    for i in range(n):
        m[i, 0, i % h, (2 * i) % w] = True
        if i % 2:
            m[i, 0, (i % h + 2) % h, ((2 * i) % w + 3) % w] = True
    return m


@pytest.mark.parametrize("chunk", [None, 1, 7, 1000])
def test_chunks_of_images_give_the_hand_values(chunk):
    x = _rgb(100, 5, 6)  # 300 image-channels: more than the default chunk of 256
    m = _lone_pixel_masks(100)
    out = B.impute_linear(x, m, fallback=FALLBACK, **({} if chunk is None else {"chunk": chunk}))
    mm = m.expand_as(x)
    assert torch.equal(out[~mm], x[~mm])
    expect = torch.tensor([_neighbour_mean(x[i, c], a, b) for i in range(100) for c in range(3)
                           for a, b in m[i, 0].nonzero().tolist()])
    torch.testing.assert_close(out[mm], expect, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------------------- perturb
def test_perturb_blends_the_image_and_the_baseline_by_the_mask():
    x = _rgb(2, 4, 5, dtype=torch.float64)
    lo = torch.tensor([-2.0, -1.0, -3.0], dtype=torch.float64).view(1, 3, 1, 1)
    soft = torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0]).view(1, 1, 1, 5).expand(1, 1, 4, 5)  # one mask, both images
    out = B.perturb(x, soft, "zero", RGB)
    assert out.shape == x.shape and out.dtype == torch.float64
    for j, mj in enumerate([0.0, 0.25, 0.5, 0.75, 1.0]):
        torch.testing.assert_close(out[..., j], (1 - mj) * x[..., j] + mj * lo[..., 0], rtol=0, atol=1e-12)
    hard = torch.zeros(2, 3, 4, 5, dtype=torch.bool)  # per image and channel, as booleans
    hard[0, 1, 2, 3] = hard[1, 2, 0, 0] = True
    out = B.perturb(x, hard, "white", RGB)
    expect = x.clone()
    expect[0, 1, 2, 3], expect[1, 2, 0, 0] = 3.0, 7.0
    assert torch.equal(out, expect)
    base = torch.full_like(x, 42.0)  # a precomputed baseline replaces the named one
    assert torch.equal(B.perturb(x, hard, "white", RGB, base=base), torch.where(hard, 42.0, x))


def test_perturb_seeds_the_fill_and_defaults_to_seed_zero():
    x = _rgb(2, 4, 5, dtype=torch.float64)
    m = torch.ones(1, 1, 4, 5, dtype=torch.bool)
    span = torch.tensor([4.0, 4.0, 10.0], dtype=torch.float64).view(1, 3, 1, 1)
    lo = torch.tensor([-2.0, -1.0, -3.0], dtype=torch.float64).view(1, 3, 1, 1)
    for seed, out in ((7, B.perturb(x, m, "uniform", RGB, seed=7)), (0, B.perturb(x, m, "uniform", RGB))):
        draw = torch.rand(x.shape, generator=_noise_gen(seed), dtype=x.dtype)
        torch.testing.assert_close(out, lo + span * draw, rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", [None, 3])
def test_perturb_imputes_only_pixels_with_mask_above_one_half(seed):
    """A soft mask with noisy_linear: pixels with m > 0.5 are imputed (from the others' values) and blended;
    pixels with m ≤ 0.5 are not imputed, so blending them with themselves leaves them as they were."""
    x = _rgb(2, 6, 7, dtype=torch.float64)
    soft = torch.zeros(1, 1, 6, 7, dtype=torch.float64)
    imputed = {(1, 1): 0.75, (4, 5): 1.0, (4, 1): 0.51}
    untouched = {(1, 4): 0.5, (3, 3): 0.25}
    for (a, b), v in {**imputed, **untouched}.items():
        soft[0, 0, a, b] = v
    out = B.perturb(x, soft, "noisy_linear", RGB, **({} if seed is None else {"seed": seed}))
    noise = torch.randn(x.shape, generator=_noise_gen(seed or 0), dtype=x.dtype)
    expect = x.clone()
    for i in range(2):
        for c in range(3):
            for (a, b), mv in imputed.items():
                b_ = _neighbour_mean(x[i, c], a, b) + B.ROAD_NOISE * noise[i, c, a, b].item()
                expect[i, c, a, b] = (1 - mv) * x[i, c, a, b] + mv * b_
    torch.testing.assert_close(out, expect, rtol=1e-5, atol=1e-6)  # (the solver's 1e-6 pull to the fallback)
    for a, b in untouched:
        torch.testing.assert_close(out[..., a, b], x[..., a, b], rtol=0, atol=1e-12)


def test_perturb_with_noisy_linear_imputes_in_chunks_like_by_hand():
    x = _rgb(100, 5, 6)  # 300 image-channels: two chunks of the solver
    m = _lone_pixel_masks(100)
    out = B.perturb(x, m, "noisy_linear", RGB, seed=2)
    mm = m.expand_as(x)
    noise = torch.randn(x.shape, generator=_noise_gen(2))
    expect = torch.tensor([_neighbour_mean(x[i, c], a, b) + B.ROAD_NOISE * noise[i, c, a, b].item()
                           for i in range(100) for c in range(3) for a, b in m[i, 0].nonzero().tolist()])
    torch.testing.assert_close(out[mm], expect, rtol=1e-5, atol=1e-5)
    assert torch.equal(out[~mm], x[~mm])


@pytest.mark.parametrize("shape", [(3, 1, 6, 7), (2, 1, 5, 7), (2, 1, 6, 8), (2, 2, 6, 7), (2, 4, 6, 7)])
def test_a_mask_that_does_not_fit_the_images_fails_clearly(shape):
    x = _rgb(2, 6, 7)
    msg = f"^{re.escape(f'mask of shape {shape} does not fit images of shape (2, 3, 6, 7)')}$"
    with pytest.raises(ValueError, match=msg):
        B.impute_linear(x, torch.zeros(shape, dtype=torch.bool))
    if shape[0] == 2:  # (perturb broadcasts the mask over the images first)
        with pytest.raises(ValueError, match=msg):
            B.perturb(x, torch.zeros(shape, dtype=torch.bool), "noisy_linear", RGB)


@pytest.mark.parametrize("channels", [1, 3])
def test_masks_of_one_or_every_channel_fit(channels):
    x = _rgb(2, 6, 7)
    out = B.impute_linear(x, torch.zeros(2, channels, 6, 7, dtype=torch.bool))
    assert torch.equal(out, x)


# ------------------------------------------------------------------------------------ the names
FILL_NAMES = "zero, white, dataset_mean, image_mean, blur, uniform, noisy_linear, image_uniform"
BASELINE_NAMES = "zero, white, dataset_mean, image_mean, blur, uniform, noisy_linear"


def _unknown(name):
    return "^" + re.escape(f"unknown baseline '{name}'; choose one of {FILL_NAMES}") + "$"


def test_check_baseline_names_the_bad_value_and_the_choices():
    assert B.check_baseline("blur") == "blur"
    with pytest.raises(ValueError, match=_unknown("black")):
        B.check_baseline("black")
    with pytest.raises(ValueError, match=_unknown("black")):
        B.fill("black", _rgb(), RGB)


def test_check_baselines_names_the_bad_value_and_the_choices():
    assert B.check_baselines(("zero", "image_uniform")) == ["zero", "image_uniform"]
    for bad, shown in (("zero", "'zero'"), ([], "[]"), ((), "()")):
        msg = f"baselines must be a non-empty list of names from {BASELINE_NAMES}, got {shown}"
        with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
            B.check_baselines(bad)
    with pytest.raises(ValueError, match=_unknown("Blur")):
        B.check_baselines(["zero", "Blur"])

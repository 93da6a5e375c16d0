"""Baselines, occlusion, RISE and the divergence measures, on inputs whose answers are known by hand."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from roarkit.core import similarity as S
from roarkit.core.saliency import baselines as B
from roarkit.core.saliency import perturbation as P



pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


RAW = B.Stats(lo=torch.tensor([0.0]), hi=torch.tensor([1.0]), mean=torch.tensor([0.25]))
NORM = B.Stats(lo=torch.tensor([-0.4242]), hi=torch.tensor([2.8215]), mean=torch.tensor([0.0]))


def _images(n=3, h=6, w=7, seed=0):
    return torch.rand(n, 1, h, w, generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------------------------------- baselines
def test_constant_baselines_are_the_input_range_and_dataset_mean():
    x = _images()
    assert torch.all(B.fill("zero", x, NORM) == NORM.lo)
    assert torch.all(B.fill("white", x, NORM) == NORM.hi)
    assert torch.all(B.fill("dataset_mean", x, NORM) == 0.0)
    assert torch.all(B.fill("dataset_mean", x, RAW) == 0.25)


def test_stats_of_a_normalised_dataset_map_black_white_and_mean():
    class Fake:  # the interface Stats.of reads, with MNIST's statistics
        image_shape, device = (1, 28, 28), torch.device("cpu")
        mean, std = torch.tensor([0.1307]), torch.tensor([0.3081])

        def normalize(self, t):
            return (t - self.mean.view(-1, 1, 1)) / self.std.view(-1, 1, 1)

    st = B.Stats.of(Fake())
    assert st.lo.item() == pytest.approx(-0.1307 / 0.3081)
    assert st.hi.item() == pytest.approx((1 - 0.1307) / 0.3081)
    assert st.mean.item() == pytest.approx(0.0, abs=1e-7)


def test_image_mean_is_each_images_own_mean():
    x = _images()
    b = B.fill("image_mean", x, RAW)
    for i in range(len(x)):
        assert torch.allclose(b[i], x[i].mean().expand_as(b[i]))


def test_blur_keeps_constants_and_spreads_a_point_like_a_gaussian():
    const = torch.full((1, 1, 15, 15), 0.7)
    assert torch.allclose(B.gaussian_blur(const, 2.0), const, atol=1e-6)
    delta = torch.zeros(1, 1, 21, 21)
    delta[0, 0, 10, 10] = 1.0
    out = B.gaussian_blur(delta, 2.0)[0, 0]
    assert out.sum().item() == pytest.approx(1.0, abs=1e-5)  # far from the border nothing is lost
    t = torch.arange(21.0) - 10
    var = (out.sum(0) * t ** 2).sum().item()  # second moment along one axis = σ² (kernel truncated at 3σ)
    assert var == pytest.approx(4.0, rel=0.03)
    assert out[10, 10] == out.max() and torch.allclose(out, out.T)


def test_uniform_noise_spans_the_input_range_and_is_seeded():
    x = torch.zeros(4, 1, 28, 28)
    a, b, c = (B.fill("uniform", x, NORM, seed=s) for s in (1, 1, 2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.min() >= NORM.lo and a.max() <= NORM.hi
    assert a.mean().item() == pytest.approx((NORM.lo + NORM.hi).item() / 2, abs=0.05)


def test_noisy_linear_one_pixel_is_the_weighted_mean_of_its_neighbours():
    x = torch.arange(9.0).view(1, 1, 3, 3) ** 2
    m = torch.zeros_like(x, dtype=torch.bool)
    m[0, 0, 1, 1] = True
    out = B.impute_linear(x, m)
    v = x[0, 0]
    edge = (v[0, 1] + v[1, 0] + v[1, 2] + v[2, 1]) / 6
    corner = (v[0, 0] + v[0, 2] + v[2, 0] + v[2, 2]) / 12
    assert out[0, 0, 1, 1].item() == pytest.approx((edge + corner).item(), rel=1e-4)
    assert torch.equal(out[~m], x[~m])  # kept pixels untouched
    # a corner pixel: only 3 neighbours inside the image, weights renormalised (1/6, 1/6, 1/12)
    m = torch.zeros_like(m)
    m[0, 0, 0, 0] = True
    out = B.impute_linear(x, m)
    expect = (v[0, 1] / 6 + v[1, 0] / 6 + v[1, 1] / 12) / (5 / 12)
    assert out[0, 0, 0, 0].item() == pytest.approx(expect.item(), rel=1e-4)


def test_noisy_linear_solves_the_joint_system_of_adjacent_removed_pixels():
    """Two removed neighbours depend on each other: compare with the 2×2 system solved by hand."""
    x = torch.tensor([[1.0, 2.0, 3.0, 4.0], [5.0, 0.0, 0.0, 8.0], [9.0, 10.0, 11.0, 12.0]]).view(1, 1, 3, 4)
    m = x == 0
    v = x[0, 0].double()
    e, c = 1 / 6, 1 / 12
    # a = pixel (1,1), b = pixel (1,2): each has weight sum 1; b is a's right neighbour and vice versa.
    ka = e * (v[0, 1] + v[1, 0] + v[2, 1]) + c * (v[0, 0] + v[0, 2] + v[2, 0] + v[2, 2])
    kb = e * (v[0, 2] + v[1, 3] + v[2, 2]) + c * (v[0, 1] + v[0, 3] + v[2, 1] + v[2, 3])
    a, b = np.linalg.solve([[1.0, -e], [-e, 1.0]], [ka.item(), kb.item()])
    out = B.impute_linear(x, m, tol=1e-8)
    assert out[0, 0, 1, 1].item() == pytest.approx(a, rel=1e-5)
    assert out[0, 0, 1, 2].item() == pytest.approx(b, rel=1e-5)


def test_noisy_linear_reproduces_a_linear_ramp_inside_and_adds_seeded_noise():
    i, j = torch.meshgrid(torch.arange(12.0), torch.arange(12.0), indexing="ij")
    x = (0.1 * i + 0.2 * j).expand(2, 1, 12, 12).clone()
    m = torch.zeros_like(x, dtype=torch.bool)
    m[..., 3:9, 2:10] = True
    assert torch.allclose(B.impute_linear(x, m, tol=1e-8), x, atol=1e-4)
    noisy = B.fill("noisy_linear", x, RAW, mask=m, seed=3)
    resid = (noisy - x)[m]
    assert resid.std().item() == pytest.approx(B.ROAD_NOISE, rel=0.25)
    assert torch.equal(noisy[~m], x[~m])
    assert torch.equal(noisy, B.fill("noisy_linear", x, RAW, mask=m, seed=3))


def test_noisy_linear_with_nothing_kept_falls_back_to_the_dataset_mean():
    x = _images(2)
    out = B.impute_linear(x, torch.ones_like(x, dtype=torch.bool), fallback=RAW.mean)
    assert torch.allclose(out, torch.full_like(x, 0.25), atol=1e-6)


def test_bad_baseline_names_and_missing_mask_fail_clearly():
    with pytest.raises(ValueError, match="unknown baseline 'black'.*zero"):
        B.fill("black", _images(), RAW)
    with pytest.raises(ValueError, match="pass mask="):
        B.fill("noisy_linear", _images(), RAW)
    with pytest.raises(ValueError, match="does not fit"):
        B.impute_linear(_images(2), torch.zeros(3, 1, 6, 7, dtype=torch.bool))


# --------------------------------------------------------------------- occlusion and RISE
class Region(nn.Module):
    """Two classes; the logit of class 0 is 10 × (mean of the pixels inside a known square − 0.5) and
    the logit of class 1 is 0: only the square matters, by construction."""

    def __init__(self, top=8, left=10, side=6, size=28):
        super().__init__()
        self.mask = torch.zeros(size, size)
        self.mask[top:top + side, left:left + side] = 1

    def forward(self, x):
        s = (x[:, 0] * self.mask).sum((1, 2)) / self.mask.sum()
        return torch.stack([10 * (s - 0.5), torch.zeros_like(s)], 1)


def test_windows_cover_every_pixel_like_captum():
    m = P.windows(28, 28, 5, 3)
    assert len(m) == (math.ceil(23 / 3) + 1) ** 2
    assert m.any(0).all() and m[-1, -1, -1]


@pytest.mark.parametrize("baseline", ["zero", "white", "blur", "uniform", "image_mean"])
def test_occlusion_written_out_equals_captum_for_fixed_baselines(baseline):
    net = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 26 * 26, 4))
    torch.nn.init.normal_(net[3].weight, std=0.05)
    x, y = torch.rand(5, 1, 28, 28), torch.tensor([0, 1, 2, 3, 0])
    captum = P.occlusion(net, x, y, window=5, stride=3, baseline=baseline, stats=RAW, seed=1)
    mine = P.occlusion_masked(P.Probability(net), x, y, P.windows(28, 28, 5, 3), baseline, RAW, seed=1)
    assert captum.abs().max() > 1e-4
    assert torch.allclose(captum, mine, atol=1e-6)


def test_occlusion_finds_the_square_that_the_model_reads():
    model, x, y = Region(), torch.ones(2, 1, 28, 28), torch.tensor([0, 0])
    exact = P.occlusion(model, x, y, window=2, stride=2, baseline="zero", stats=RAW)[:, 0]  # patches tile the square
    assert torch.all(exact[:, model.mask.bool()] > 0) and torch.all(exact[:, ~model.mask.bool()] == 0)
    coarse = P.occlusion(model, x, y, window=4, stride=2, baseline="zero", stats=RAW)[0, 0]
    grown = torch.nn.functional.max_pool2d(model.mask[None, None], 7, 1, 3)[0, 0].bool()  # square + window
    assert torch.all(coarse[~grown] == 0) and torch.all(coarse[model.mask.bool()] > 0)
    # the baseline matters: occluding with the image's own value changes nothing at all
    same = P.occlusion(model, x, y, window=4, stride=2, baseline="image_mean", stats=RAW)
    assert torch.all(same == 0)
    ir = P.occlusion(model, x, y, window=4, stride=2, baseline="noisy_linear", stats=RAW)
    assert ir.abs().max() < 0.01  # imputing a constant image gives it back (up to ROAD's noise)


def test_rise_masks_keep_p_of_the_image_and_are_nested():
    m = P.rise_masks(400, (28, 28), 4, 0.3, seed=0)
    assert m.shape == (400, 1, 28, 28) and m.min() >= 0 and m.max() <= 1
    assert m.mean().item() == pytest.approx(0.3, abs=0.03)
    assert torch.equal(P.rise_masks(100, (28, 28), 4, 0.3, seed=0), m[:100])


def test_rise_finds_the_square_and_nested_counts_match_separate_runs():
    model, x, y = Region(), torch.ones(1, 1, 28, 28), torch.tensor([0])
    maps = P.rise(model, x, y, n_masks=[300, 2000], cell=4, p=0.5, baseline="zero", stats=RAW, seed=0)
    sal = maps[2000][0, 0]
    inside = sal[model.mask.bool()].mean()
    far = sal[~torch.nn.functional.max_pool2d(model.mask[None, None], 17, 1, 8)[0, 0].bool()].mean()
    assert inside > far + 0.05
    top = sal.flatten().topk(36).indices
    near = torch.nn.functional.max_pool2d(model.mask[None, None], 9, 1, 4)[0, 0].flatten().bool()
    assert near[top].all()
    alone = P.rise(model, x, y, n_masks=300, cell=4, p=0.5, baseline="zero", stats=RAW, seed=0)
    assert torch.allclose(alone, maps[300], atol=1e-6)


def test_bad_perturbation_parameters_fail_clearly():
    x, y = torch.rand(1, 1, 28, 28), torch.tensor([0])
    with pytest.raises(ValueError, match="stride 5 exceeds the window 3"):
        P.occlusion(Region(), x, y, window=3, stride=5, stats=RAW)
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        P.rise(Region(), x, y, n_masks=10, cell=4, p=1.5, stats=RAW)
    with pytest.raises(ValueError, match="at least 1"):
        P.rise(Region(), x, y, n_masks=0, cell=4, p=0.5, stats=RAW)


# --------------------------------------------------------------------------- divergence measures
def test_spearman_with_ties_matches_the_hand_value():
    a, b = torch.tensor([[1.0, 2.0, 2.0, 3.0]]), torch.tensor([[1.0, 3.0, 2.0, 4.0]])
    assert S.rankdata(a).tolist() == [[1.0, 2.5, 2.5, 4.0]]
    assert S.spearman(a, b).item() == pytest.approx(3 / math.sqrt(10))
    assert S.spearman(b, b.exp()).item() == pytest.approx(1.0)
    assert S.spearman(b, -b).item() == pytest.approx(-1.0)
    assert math.isnan(S.spearman(b, torch.ones_like(b)).item())


def test_pearson_per_image_matches_numpy_at_any_offset_and_scale():
    """Each row is centred on its own mean (rows with different means, as maps of different images have),
    and a small spread (denominator below 1) is no reason for NaN."""
    g = torch.Generator().manual_seed(0)
    a = torch.rand(3, 20, generator=g, dtype=torch.float64) + torch.tensor([[0.0], [5.0], [-2.0]])
    b = 0.5 * a + torch.rand(3, 20, generator=g, dtype=torch.float64) + torch.tensor([[1.0], [-3.0], [0.0]])
    want = [np.corrcoef(a[i].numpy(), b[i].numpy())[0, 1] for i in range(3)]
    assert S.pearson(a, b).tolist() == pytest.approx(want, rel=1e-12)
    assert S.pearson(1e-3 * a, 1e-3 * b).tolist() == pytest.approx(want, rel=1e-9)
    assert S.pearson(a.float(), b.float()).dtype == torch.float64  # computed in float64 whatever comes in


def test_topk_intersection_by_hand():
    a = torch.tensor([[9.0, 8.0, 7.0, 1.0, 0.0]])
    b = torch.tensor([[9.0, 0.0, 7.0, 8.0, 1.0]])
    assert S.topk_intersection(a, b, 3).item() == pytest.approx(2 / 3)
    assert S.topk_intersection(a, a, 0.4).item() == 1.0
    assert S.topk_intersection(a, b, 1).item() == 1.0  # both maps' top pixel is pixel 0
    assert S.topk_intersection(a, b.roll(1, 1), 1).item() == 0.0
    assert S.topk_intersection(a, b, 5).item() == 1.0  # k = every pixel
    two = S.topk_intersection(torch.cat([a, a]), torch.cat([b, b.roll(1, 1)]), 1)  # image by image
    assert two.tolist() == [1.0, 0.0] and two.dtype == torch.float64
    with pytest.raises(ValueError, match="1 <= k <= 5"):
        S.topk_intersection(a, b, 6)
    with pytest.raises(ValueError, match="1 <= k <= 5"):
        S.topk_intersection(a, b, 0)


def _ssim_loop(a, b, window=7, sigma=1.5):
    """SSIM written out window by window in numpy (independent of the torch convolution)."""
    a = (a - a.min()) / (a.max() - a.min())
    b = (b - b.min()) / (b.max() - b.min())
    t = np.arange(window) - (window - 1) / 2
    g = np.exp(-t ** 2 / (2 * sigma ** 2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    vals = []
    for i in range(a.shape[0] - window + 1):
        for j in range(a.shape[1] - window + 1):
            pa, pb = a[i:i + window, j:j + window], b[i:i + window, j:j + window]
            ma, mb = (w * pa).sum(), (w * pb).sum()
            va, vb = (w * pa * pa).sum() - ma ** 2, (w * pb * pb).sum() - mb ** 2
            cov = (w * pa * pb).sum() - ma * mb
            c1, c2 = 0.01 ** 2, 0.03 ** 2
            vals.append((2 * ma * mb + c1) * (2 * cov + c2) / ((ma ** 2 + mb ** 2 + c1) * (va + vb + c2)))
    return float(np.mean(vals))


def test_ssim_matches_the_formula_written_out_and_ignores_scale():
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(2, 12, 14, generator=g), torch.rand(2, 12, 14, generator=g)
    got = S.ssim(a, b)
    for i in range(2):
        assert got[i].item() == pytest.approx(_ssim_loop(a[i].double().numpy(), b[i].double().numpy()), rel=1e-9)
    assert torch.allclose(S.ssim(a, a), torch.ones(2, dtype=torch.float64))
    assert torch.allclose(S.ssim(a, 3 * a + 1), torch.ones(2, dtype=torch.float64))
    small = a[:, :7, :7]  # the window fits a 7×7 map exactly: one position
    assert S.ssim(small, b[:, :7, :7])[0].item() == pytest.approx(
        _ssim_loop(small[0].double().numpy(), b[0, :7, :7].double().numpy()), rel=1e-9)
    with pytest.raises(ValueError, match=r"SSIM window 7 is larger than the \(5, 6\) maps"):
        S.ssim(a[:, None, :5, :6], b[:, None, :5, :6])


def test_pairwise_is_symmetric_with_unit_diagonal():
    g = torch.Generator().manual_seed(0)
    maps = [torch.rand(4, 1, 10, 10, generator=g) for _ in range(3)] + [torch.full((4, 1, 10, 10), 0.5)]
    for name in S.MEASURES:
        m = S.pairwise(maps, name)
        assert m.shape == (4, 4, 4) and m.dtype == torch.float64
        assert torch.allclose(m, m.transpose(1, 2), equal_nan=True)
        assert torch.all(m.diagonal(dim1=1, dim2=2) == 1)  # a constant map too, though its Spearman ρ is NaN
        for i in range(4):
            for j in range(i + 1, 4):  # every pair, adjacent or not, is the measure of that pair
                assert torch.allclose(m[:, i, j], S.measure(name, maps[i], maps[j]), atol=1e-12, equal_nan=True)
        assert torch.equal(S.pairwise(maps[:1], name), torch.ones(4, 1, 1, dtype=torch.float64))
    assert torch.isnan(S.pairwise(maps, "spearman")[:, 0, 3]).all()
    with pytest.raises(ValueError, match="unknown similarity measure 'kendall'; choose one of spearman, topk, ssim"):
        S.measure("kendall", maps[0], maps[1])
    with pytest.raises(ValueError, match="unknown similarity measure 'kendall'; choose one of spearman, topk, ssim"):
        S.pairwise(maps, "kendall")


def test_shared_mask_imputation_equals_the_iterative_solver():
    x = torch.rand(5, 1, 12, 12, generator=torch.Generator().manual_seed(1))
    removed = P.rise_masks(3, (12, 12), 3, 0.5, seed=2)[:, 0] < 0.5
    shared = B.impute_shared(x, removed, fallback=RAW.mean)
    for k in range(3):
        alone = B.impute_linear(x, removed[k].expand(5, 1, 12, 12), fallback=RAW.mean, tol=1e-7)
        assert torch.allclose(shared[k], alone, atol=1e-5)


def test_occlusion_and_rise_with_noisy_linear_agree_for_few_and_many_images():
    """Below SHARED_FROM images the imputation iterates per image, above it solves per mask: same maps."""
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 10 * 10, 3))
    x = torch.rand(P.SHARED_FROM, 1, 12, 12, generator=torch.Generator().manual_seed(0))
    y = torch.arange(P.SHARED_FROM) % 3
    kw = dict(baseline="noisy_linear", stats=RAW)
    many = P.occlusion(net, x, y, window=4, stride=4, **kw)
    few = torch.cat([P.occlusion(net, x[i:i + 8], y[i:i + 8], window=4, stride=4, **kw) for i in range(0, len(x), 8)])
    assert torch.allclose(many, few, atol=5e-3)  # they differ only by ROAD's noise draws
    many = P.rise(net, x, y, n_masks=40, cell=3, p=0.5, **kw)
    few = torch.cat([P.rise(net, x[i:i + 8], y[i:i + 8], n_masks=40, cell=3, p=0.5, **kw) for i in range(0, len(x), 8)])
    assert torch.allclose(many, few, atol=5e-3)


def test_divergence_counts_pairs_below_the_threshold_and_the_noise_floor():
    from roarkit.core import divergence as D
    sim = torch.ones(5, 3, 3)  # 5 images, 3 settings
    sim[:, 0, 1] = sim[:, 1, 0] = 0.3
    sim[:, 0, 2] = sim[:, 2, 0] = torch.tensor([0.1, 0.2, 0.45, 0.9, 0.9])  # median 0.45
    assert D.pair_medians(sim).tolist() == pytest.approx([0.3, 0.45, 1.0])
    assert D.below(sim, 0.5).tolist() == [True, True, False]
    assert D.below(sim, 0.5, floor=0.4).tolist() == [True, False, False]
    grid = D.Grid(windows=[4, 2], strides=[2, 4], rise_masks=[50], rise_cell=[4], rise_p=[0.5, 0.3])
    assert grid.occlusion_configs() == [(4, 2), (4, 4), (2, 2)]
    assert grid.labels("rise") == ["N50 c4 p0.5", "N50 c4 p0.3"]
    with pytest.raises(ValueError, match="no occlusion configuration"):
        D.Grid(windows=[2], strides=[4])
    with pytest.raises(ValueError, match="rise_p must not be empty"):
        D.Grid(rise_p=[])
    # exactly at the threshold or at the floor is not below it
    sim[:, 0, 1] = sim[:, 1, 0] = 0.5
    assert D.below(sim, 0.5).tolist() == [False, True, False]
    assert D.below(sim, 0.6, floor=0.45).tolist() == [False, False, False]
    # pairs of the last two dimensions, whatever the dimensions before them: (images, baselines = 2, K = 3, K)
    four = torch.stack([sim, 0.5 * sim], 1)
    assert D.off_diagonal(four).shape == (5, 2, 3)
    assert torch.allclose(D.pair_medians(four), torch.tensor([[0.5, 0.45, 1.0], [0.25, 0.225, 0.5]]))


def test_page_parameters_of_the_chapter_are_checked_with_one_clear_message():
    from roarkit.book.params import ParameterError, check
    defaults = {"windows": [4], "strides": [2], "rise_p": [0.5], "baselines": ["zero"], "methods": ["rise"],
                "metric_steps": 20}
    assert check(dict(defaults), defaults) == defaults
    for name, value, words in [("windows", [4, 0], "at least 1"), ("rise_p", [0.5, 1.0], "strictly between 0 and 1"),
                               ("baselines", ["zero", "grey"], "unknown baseline(s) ['grey']"),
                               ("methods", ["lime"], "unknown saliency method(s) ['lime']"),
                               ("metric_steps", 1, "at least 2"), ("strides", 2, "non-empty list")]:
        with pytest.raises(ParameterError, match="parameter '" + name) as err:
            check({**defaults, name: value}, defaults, page="page 'x'")
        assert words in str(err.value)


class Constant(nn.Module):
    """Probabilities (0.7, 0.3) whatever the input: nothing the masks hide matters."""

    def forward(self, x):
        return torch.tensor([0.7, 0.3]).log().expand(len(x), 2)


@pytest.mark.parametrize("p", [0.5, 0.25])
def test_rise_of_a_constant_model_is_that_constant(p):
    """RISE = Σ_i f(x ⊙ M_i) M_i / (N·p): with f ≡ 0.7 it is 0.7 · mean(M) / p, which is 0.7 up to the
    masks' sampling noise (each pixel is kept with probability p)."""
    x, y = torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(0)), torch.tensor([0, 1])
    sal = P.rise(Constant(), x, y, n_masks=2000, cell=4, p=p, baseline="zero", stats=RAW, seed=0)
    masks = P.rise_masks(2000, (28, 28), 4, p, seed=0)
    torch.testing.assert_close(sal[0], 0.7 * masks.mean(0) / p, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(sal[1], 0.3 * masks.mean(0) / p, rtol=1e-4, atol=1e-6)
    assert sal[0].mean().item() == pytest.approx(0.7, rel=0.03)
    assert sal[0].flatten().std().item() < 0.1 * 0.7


def test_fill_noise_is_independent_of_the_tie_breaks_of_the_same_seed():
    """A ranking of all-tied scores (random order from seed 0) and a uniform fill of seed 0: the pixels that
    go first get noise like the others (before the fix both drew the same numbers, so they got the smallest)."""
    from roarkit.core import removal
    x = torch.zeros(8, 1, 28, 28)
    first = removal.ranks(torch.zeros(8, 784), 0).view(8, 1, 28, 28) < 392
    base = B.fill("uniform", x, RAW, seed=0)
    assert base[first].mean().item() == pytest.approx(0.5, abs=0.02)
    assert base[~first].mean().item() == pytest.approx(0.5, abs=0.02)
    masks = P.rise_masks(8, (28, 28), 4, 0.5, seed=0)  # RISE's masks and its fill: independent draws too
    keep = masks > 0.5
    assert base[:, 0][keep[:, 0]].mean().item() == pytest.approx(0.5, abs=0.03)


def test_divergence_run_chunk_equals_its_maps_compared_one_pair_at_a_time():
    """``divergence.run_chunk`` against a reference written out here: every occlusion and RISE map computed
    one at a time (baseline j on seed + j, for both families), then compared pair by pair: each
    configuration across baselines, each baseline across configurations, the RISE noise floor (first
    configuration and baseline, seed vs seed + number of baselines), the neutral images' probabilities of
    the true class, the examples and the timings' keys."""
    from roarkit.core import divergence as D
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 6 * 6, 3)).eval()
    x, y = _images(4, 8, 8, seed=1), torch.tensor([0, 1, 2, 1])
    grid = D.Grid(windows=(4, 2), strides=(2,), rise_masks=(8, 16), rise_cell=(4,), rise_p=(0.5, 0.3),
                  baselines=("zero", "uniform", "blur"))
    seed, nb = 5, len(grid.baselines)
    out = D.run_chunk(net, x, y, grid, RAW, seed=seed, examples=2)

    occ = torch.stack([torch.stack([P.occlusion(net, x, y, window=w, stride=s, baseline=b, stats=RAW, seed=seed + j)
                                    .sum(1) for w, s in grid.occlusion_configs()]) for j, b in enumerate(grid.baselines)])
    rise = torch.stack([torch.stack([P.rise(net, x, y, n_masks=n, cell=c, p=p, baseline=b, stats=RAW, seed=seed + j)
                                     .sum(1) for n, c, p in grid.rise_configs()]) for j, b in enumerate(grid.baselines)])
    assert occ.shape == (nb, 2, 4, 8, 8) and rise.shape == (nb, 4, 4, 8, 8)  # (baselines, configs, N, H, W)
    assert grid.rise_configs() == [(8, 4, 0.5), (16, 4, 0.5), (8, 4, 0.3), (16, 4, 0.3)]
    for family, maps in (("occlusion", occ), ("rise", rise)):
        assert torch.allclose(out["examples"][family], maps[:, :, :2], atol=1e-6)
        for name in S.MEASURES:
            across_b = out[f"baselines/{family}/{name}"]
            across_c = out[f"configs/{family}/{name}"]
            assert across_b.shape == (4, maps.shape[1], nb, nb) and across_c.shape == (4, nb, maps.shape[1], maps.shape[1])
            for k in range(maps.shape[1]):
                want = S.pairwise([maps[j, k] for j in range(nb)], name).float()
                assert torch.allclose(across_b[:, k], want, atol=1e-5, equal_nan=True), (family, name, k)
            for j in range(nb):
                want = S.pairwise([maps[j, k] for k in range(maps.shape[1])], name).float()
                assert torch.allclose(across_c[:, j], want, atol=1e-5, equal_nan=True), (family, name, j)
    assert not torch.allclose(rise[0, 0], rise[1, 0])  # the baselines' RISE masks differ (seed + j)
    again = P.rise(net, x, y, n_masks=8, cell=4, p=0.5, baseline="zero", stats=RAW, seed=seed + nb).sum(1)
    for name in S.MEASURES:
        want = S.measure(name, rise[0, 0], again).float()
        assert torch.allclose(out[f"floor/{name}"], want, atol=1e-5), name
    assert out["floor/spearman"].lt(1).all()  # two mask seeds: Monte-Carlo noise, not identical maps
    with torch.no_grad():
        prob = lambda t: torch.softmax(net(t), 1).gather(1, y[:, None])[:, 0]  # noqa: E731
        whole = torch.ones_like(x, dtype=torch.bool)
        want = torch.stack([prob(B.fill(b, x, RAW, mask=whole, seed=seed)) for b in grid.baselines])
        assert torch.allclose(out["neutral"]["prob"], want, atol=1e-6)
        assert torch.allclose(out["neutral"]["p0"], prob(x), atol=1e-6)
        assert torch.allclose(out["neutral"]["prob"][0], prob(torch.zeros_like(x)), atol=1e-6)  # zero: black
    assert set(out["seconds"]) == {f"{f}/{b}" for f in D.FAMILIES for b in grid.baselines}
    assert grid.as_dict() == {"windows": [4, 2], "strides": [2], "rise_masks": [8, 16], "rise_cell": [4],
                              "rise_p": [0.5, 0.3], "baselines": ["zero", "uniform", "blur"]}
    assert grid.labels("occlusion") == ["w4 s2", "w2 s2"]


# ------------------------------------------------------ occlusion and RISE against their sums written out
def _net(seed=0, dtype=torch.float32):
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 10 * 10, 3)).to(dtype)
    torch.nn.init.normal_(net[3].weight, std=0.3)
    return net


def _occlusion_by_hand(f, x, y, masks, filled):
    """Σ_k m_k (f(x) − f(x with patch k filled)) / Σ_k m_k, one patch at a time; ``filled(k)``: the images
    whose patch k holds the baseline."""
    with torch.no_grad():
        p0 = f(x).gather(1, y[:, None])[:, 0]
        m = masks.to(x.dtype)
        out = torch.zeros(len(x), *masks.shape[1:], dtype=x.dtype)
        for k in range(len(m)):
            pk = f(filled(k)).gather(1, y[:, None])[:, 0]
            out += (p0 - pk)[:, None, None] * m[k]
        return (out / m.sum(0).clamp_min(1))[:, None].expand(-1, x.shape[1], -1, -1)


def test_occlusion_with_shared_imputation_equals_its_sum_written_out():
    """From SHARED_FROM images on, noisy linear imputation is solved once per patch for all images of a
    batch (fallback: the dataset mean, ROAD's noise, seed + the batch's first image). Two batches of
    exactly SHARED_FROM images of two channels, and a patch covering the whole image (nothing kept: the
    fallback). A linear model, so that every fill moves the probability."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(2 * 12 * 12, 3))
    torch.nn.init.normal_(net[1].weight, std=0.3)
    f = P.Probability(net)
    n = 2 * P.SHARED_FROM
    x = torch.rand(n, 2, 12, 12, generator=torch.Generator().manual_seed(0))
    y = torch.arange(n) % 3
    masks = torch.cat([P.windows(12, 12, 4, 4), torch.ones(1, 12, 12, dtype=torch.bool)])
    K = len(masks)
    mine = P.occlusion_masked(f, x, y, masks, "noisy_linear", RAW, seed=3, batch_size=K * P.SHARED_FROM)
    parts = []
    for i in (0, P.SHARED_FROM):
        xb, yb = x[i:i + P.SHARED_FROM], y[i:i + P.SHARED_FROM]
        bs = B.impute_shared(xb, masks, fallback=RAW.mean, noise=B.ROAD_NOISE, seed=3 + i)  # (K, N, C, H, W)
        parts.append(_occlusion_by_hand(f, xb, yb, masks, lambda k: xb * ~masks[k] + bs[k] * masks[k]))
    torch.testing.assert_close(mine, torch.cat(parts), rtol=0, atol=1e-6)
    # the whole-image patch is filled with the dataset mean plus noise, not zeros
    assert mine.abs().max() > 1e-3


def test_occlusion_with_per_image_imputation_equals_its_sum_written_out():
    """Below SHARED_FROM images each perturbed image is imputed on its own; with one image per batch its
    noise comes from seed + the image's index."""
    net = _net(1)
    f = P.Probability(net)
    x = torch.rand(3, 1, 12, 12, generator=torch.Generator().manual_seed(2))
    y = torch.tensor([0, 1, 2])
    masks = P.windows(12, 12, 6, 6)
    K = len(masks)
    mine = P.occlusion_masked(f, x, y, masks, "noisy_linear", RAW, seed=5, batch_size=K)  # one image a batch
    parts = []
    for j in range(3):
        xs = x[j:j + 1].repeat(K, 1, 1, 1)
        pert = B.perturb(xs, masks[:, None], "noisy_linear", RAW, seed=5 + j)
        parts.append(_occlusion_by_hand(f, x[j:j + 1], y[j:j + 1], masks, lambda k: pert[k:k + 1]))
    torch.testing.assert_close(mine, torch.cat(parts), rtol=0, atol=1e-6)


def test_occlusion_with_a_fixed_baseline_and_many_images_uses_that_baseline():
    """A fixed baseline is never imputed, however many images a batch holds."""
    net = _net(2)
    f = P.Probability(net)
    x = torch.rand(P.SHARED_FROM, 1, 12, 12, generator=torch.Generator().manual_seed(4))
    y = torch.arange(P.SHARED_FROM) % 3
    masks = P.windows(12, 12, 4, 4)
    mine = P.occlusion_masked(f, x, y, masks, "dataset_mean", RAW, batch_size=len(masks) * P.SHARED_FROM)
    ref = _occlusion_by_hand(f, x, y, masks, lambda k: torch.where(masks[k], RAW.mean, x))
    torch.testing.assert_close(mine, ref, rtol=0, atol=1e-6)


def test_rise_with_a_seeded_baseline_equals_its_sum_written_out():
    """RISE = Σ_i f(x·M_i + b·(1 − M_i)) M_i / (N·p), b the uniform fill of the same seed; masks in chunks of
    two (batch_size 8 over 4 images), the sum the same."""
    net = _net(3)
    x = torch.rand(4, 1, 12, 12, generator=torch.Generator().manual_seed(6))
    y = torch.tensor([0, 1, 2, 0])
    mine = P.rise(net, x, y, n_masks=30, cell=3, p=0.4, baseline="uniform", stats=RAW, seed=7, batch_size=8)
    masks = P.rise_masks(30, (12, 12), 3, 0.4, seed=7)
    b = B.fill("uniform", x, RAW, seed=7)
    f = P.Probability(net)
    with torch.no_grad():
        ref = sum(f(x * m + b * (1 - m)).gather(1, y[:, None])[:, 0, None, None, None] * m for m in masks)
    torch.testing.assert_close(mine, ref / (30 * 0.4), rtol=1e-5, atol=1e-6)


def test_perturbation_saliency_keeps_float64_and_defaults_to_seed_0():
    """Occlusion keeps float64 images in float64. (RISE's masks are float32: RISE of float64 images fails,
    a known gap, tests/README.md.)"""
    net = _net(4, torch.float64)
    x = torch.rand(2, 1, 12, 12, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    y = torch.tensor([1, 2])
    f, masks = P.Probability(net), P.windows(12, 12, 6, 6)
    occ = P.occlusion_masked(f, x, y, masks, "noisy_linear", RAW)
    assert occ.dtype == torch.float64
    assert torch.equal(occ, P.occlusion_masked(f, x, y, masks, "noisy_linear", RAW, seed=0))
    net, x = net.float(), x.float()
    rise = P.rise(net, x, y, n_masks=5, cell=3, p=0.5, baseline="uniform", stats=RAW)
    assert torch.equal(rise, P.rise(net, x, y, n_masks=5, cell=3, p=0.5, baseline="uniform", stats=RAW, seed=0))


def test_rise_checks_its_cell_against_the_image_it_is_given():
    x, y = torch.rand(1, 1, 16, 16), torch.tensor([0])
    with pytest.raises(ValueError, match="RISE cell size 20 is larger than the 16-pixel image; use at most 16"):
        P.rise(Region(size=16, top=2, left=2), x, y, n_masks=3, cell=20, p=0.5, stats=RAW)
    with pytest.raises(ValueError, match="occlusion window 20 is larger than the 16-pixel image"):
        P.occlusion(Region(size=16, top=2, left=2), x, y, window=20, stride=2, stats=RAW)


def test_rise_masks_by_hand_on_a_non_square_image():
    """Mask i: a 3×4 grid of 5-pixel cells (12×20 image), cell kept where its draw < p, bilinearly upsampled
    (align_corners False) to (3+1)·5 × (4+1)·5 pixels, then the 12×20 crop at offset ⌊5·u⌋ for the last two
    draws u of its row, written with slices."""
    n, h, w, cell, p = 60, 12, 20, 5, 0.3
    masks = P.rise_masks(n, (h, w), cell, p, seed=4)
    draw = torch.rand(n, 3 * 4 + 2, generator=torch.Generator().manual_seed(4))
    shifts = set()
    for i in range(n):
        grid = (draw[i, :12] < p).float().view(1, 1, 3, 4)
        up = torch.nn.functional.interpolate(grid, size=(20, 25), mode="bilinear", align_corners=False)[0, 0]
        sy, sx = int(draw[i, 12] * cell), int(draw[i, 13] * cell)
        shifts |= {sy, sx}
        torch.testing.assert_close(masks[i, 0], up[sy:sy + h, sx:sx + w], rtol=0, atol=0)
    assert shifts == set(range(cell))  # every offset in [0, cell) occurs, the largest included
    assert torch.equal(P.rise_masks(5, (h, w), cell, p), P.rise_masks(5, (h, w), cell, p, seed=0))
    with pytest.raises(ValueError, match="RISE cell size 20 is larger than the 16-pixel image"):
        P.rise_masks(3, (16, 16), 20, 0.5)


def test_occlusion_defaults_to_seed_0():
    net = _net(5)
    x, y = torch.rand(2, 1, 12, 12, generator=torch.Generator().manual_seed(9)), torch.tensor([0, 2])
    a = P.occlusion(net, x, y, window=4, stride=4, baseline="uniform", stats=RAW)
    assert torch.equal(a, P.occlusion(net, x, y, window=4, stride=4, baseline="uniform", stats=RAW, seed=0))
    assert not torch.equal(a, P.occlusion(net, x, y, window=4, stride=4, baseline="uniform", stats=RAW, seed=1))


@pytest.mark.parametrize("call,message", [
    (lambda: P.check_occlusion(0, 1), "window must be a whole number of at least 1, got 0"),
    (lambda: P.check_occlusion(True, 1), "window must be a whole number of at least 1, got True"),
    (lambda: P.check_occlusion(3, 2.0), "stride must be a whole number of at least 1, got 2.0"),
    (lambda: P.check_occlusion(29, 1), "occlusion window 29 is larger than the 28-pixel image; use at most 28"),
    (lambda: P.check_occlusion(3, 4), "occlusion stride 4 exceeds the window 3 (pixels would be skipped); "
                                      "use a stride of at most the window size"),
    (lambda: P.check_rise(0, 4, 0.5), "number of RISE masks must be a whole number of at least 1, got 0"),
    (lambda: P.check_rise([10, -1], 4, 0.5), "number of RISE masks must be a whole number of at least 1, got -1"),
    (lambda: P.check_rise(10, True, 0.5), "RISE cell size must be a whole number of at least 1, got True"),
    (lambda: P.check_rise(10, 29, 0.5), "RISE cell size 29 is larger than the 28-pixel image; use at most 28"),
    (lambda: P.check_rise(10, 4, 0), "RISE keep probability p must lie strictly between 0 and 1, got 0"),
    (lambda: P.check_rise(10, 4, 1.0), "RISE keep probability p must lie strictly between 0 and 1, got 1.0"),
    (lambda: P.check_rise(10, 4, True), "RISE keep probability p must lie strictly between 0 and 1, got True"),
])
def test_perturbation_parameters_out_of_range_are_named_with_the_fix(call, message):
    import re
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        call()


def test_perturbation_parameters_at_their_limits_are_accepted():
    """Window, stride, cell and mask count of 1; a window or cell as large as the (28-pixel) image."""
    P.check_occlusion(1, 1)
    P.check_occlusion(28, 28)
    P.check_rise(1, 1, 0.5)
    P.check_rise([1, 2], 28, 1e-9)
    P.check_rise(2, 4, 1 - 1e-9)


def test_occlusion_passes_its_seed_and_batch_size_and_covers_every_image():
    """Noisy linear occlusion is occlusion_masked with the same seed and batches; a fixed baseline in
    chunks of 16 images (batch_size 16) still fills all 40 images."""
    net = _net(6)
    x = torch.rand(40, 1, 12, 12, generator=torch.Generator().manual_seed(10))
    y = torch.arange(40) % 3
    masks = P.windows(12, 12, 6, 6)
    kw = dict(window=6, stride=6, stats=RAW)
    a = P.occlusion(net, x[:3], y[:3], baseline="noisy_linear", seed=3, batch_size=len(masks), **kw)
    b = P.occlusion_masked(P.Probability(net), x[:3], y[:3], masks, "noisy_linear", RAW, seed=3,
                           batch_size=len(masks))
    assert torch.equal(a, b)
    chunked = P.occlusion(net, x, y, baseline="zero", batch_size=16, **kw)
    whole = P.occlusion_masked(P.Probability(net), x, y, masks, "zero", RAW)
    torch.testing.assert_close(chunked, whole, rtol=0, atol=1e-6)


def test_probability_leaves_the_model_it_wraps_as_it_was():
    net = _net(7).train()
    P.occlusion(net, torch.rand(1, 1, 12, 12), torch.tensor([0]), window=6, stride=6, stats=RAW)
    assert all(m.training for m in net.modules()) and net[0].weight.is_contiguous()


def test_rise_with_noisy_linear_imputation_equals_its_sum_written_out():
    """RISE with noisy linear imputation, one mask at a time (step 1), mask j of a batch starting at image i
    imputed with seed + j·n + i: per image below SHARED_FROM images, one shared solve per mask from
    SHARED_FROM on (two batches of exactly SHARED_FROM). p = 0.1 on a 2×2 grid: most masks remove the whole
    image, which then gets the dataset mean (the fallback) plus ROAD's noise."""
    net = _net(8)
    f = P.Probability(net)
    N, cell, p, seed = 6, 6, 0.1, 3
    masks = P.rise_masks(N, (12, 12), cell, p, seed=seed)
    assert (masks.flatten(1).max(1).values < 0.5).any()  # a mask that removes every pixel

    def by_hand(x, y, per, shared):
        n = len(x)
        acc = torch.zeros(n, 1, 12, 12)
        with torch.no_grad():
            for j, m in enumerate(masks):
                for i in range(0, n, per):
                    xb, yb = x[i:i + per], y[i:i + per]
                    s = seed + j * n + i
                    if shared:
                        b = B.impute_shared(xb, m < 0.5, fallback=RAW.mean, noise=B.ROAD_NOISE, seed=s)[0]
                        pert = xb * m + b * (1 - m)
                    else:
                        pert = B.perturb(xb, (1 - m).expand(len(xb), 1, 12, 12), "noisy_linear", RAW, seed=s)
                    acc[i:i + per] += f(pert).gather(1, yb[:, None])[:, 0, None, None, None] * m
        return acc / (N * p)

    x = torch.rand(2 * P.SHARED_FROM, 1, 12, 12, generator=torch.Generator().manual_seed(11))
    y = torch.arange(len(x)) % 3
    few = P.rise(net, x[:3], y[:3], n_masks=N, cell=cell, p=p, baseline="noisy_linear", stats=RAW, seed=seed,
                 batch_size=4)  # 3 images < 4: step max(1, 4 // 3) = 1
    torch.testing.assert_close(few, by_hand(x[:3], y[:3], 3, shared=False), rtol=0, atol=1e-6)
    few = P.rise(net, x[:3], y[:3], n_masks=N, cell=cell, p=p, baseline="noisy_linear", stats=RAW, seed=seed,
                 batch_size=2)  # batches of images 0-1 and 2, one mask at a time
    torch.testing.assert_close(few, by_hand(x[:3], y[:3], 2, shared=False), rtol=0, atol=1e-6)
    many = P.rise(net, x, y, n_masks=N, cell=cell, p=p, baseline="noisy_linear", stats=RAW, seed=seed,
                  batch_size=P.SHARED_FROM)  # batches of SHARED_FROM images, one mask at a time
    torch.testing.assert_close(many, by_hand(x, y, P.SHARED_FROM, shared=True), rtol=0, atol=1e-6)


def test_divergence_run_chunk_passes_its_batch_size_and_first_baseline_and_defaults_to_seed_0():
    """Noisy linear imputation draws its noise per batch, so the chunk's batch size must reach every map;
    the noise floor reruns RISE with the first baseline (here not 'zero'); seed 0 and no examples by default;
    each timing lies within the call."""
    import time
    from roarkit.core import divergence as D
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 6 * 6, 3)).eval()
    x, y = _images(3, 8, 8, seed=2), torch.tensor([0, 1, 2])
    grid = D.Grid(windows=(4,), strides=(4,), rise_masks=(6,), rise_cell=(4,), rise_p=(0.5,),
                  baselines=("uniform", "noisy_linear"))
    t0 = time.perf_counter()
    out = D.run_chunk(net, x, y, grid, RAW, batch_size=4)
    took = time.perf_counter() - t0
    kw = dict(stats=RAW, batch_size=4)
    occ = [P.occlusion(net, x, y, window=4, stride=4, baseline=b, seed=j, **kw).sum(1) for j, b in enumerate(grid.baselines)]
    rise = [P.rise(net, x, y, n_masks=6, cell=4, p=0.5, baseline=b, seed=j, **kw).sum(1) for j, b in enumerate(grid.baselines)]
    for family, maps in (("occlusion", occ), ("rise", rise)):
        want = S.pairwise(maps, "ssim").float()  # SSIM reads values, not only their order
        torch.testing.assert_close(out[f"baselines/{family}/ssim"][:, 0], want, rtol=0, atol=1e-6, equal_nan=True)
    again = P.rise(net, x, y, n_masks=6, cell=4, p=0.5, baseline="uniform", seed=2, **kw).sum(1)
    torch.testing.assert_close(out["floor/ssim"], S.measure("ssim", rise[0].view(-1, 8, 8), again.view(-1, 8, 8)).float(),
                               rtol=0, atol=1e-6)
    assert out["examples"] == {}
    assert all(0 <= s <= took for s in out["seconds"].values()) and len(out["seconds"]) == 4

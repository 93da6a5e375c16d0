"""Faithfulness curves (roarkit.core.curves) on hand-computable examples, Krippendorff's α on published worked examples,
the randomisation cascade and the saliency methods on a real trained model."""
import math
import re
import time

import pytest
import torch
from torch import nn

from roarkit.core import curves as metrics
from roarkit.core import evaluation, reliability, sanity, saliency
from roarkit.core.models import build
from roarkit.core.saliency import baselines as B

RAW = B.Stats(lo=torch.tensor([0.0]), hi=torch.tensor([1.0]), mean=torch.tensor([0.5]))
NAN = math.nan


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


class MeanPixel(nn.Module):
    """Two classes with softmax probabilities exactly (s, 1 − s), s = the image's mean pixel value."""

    def forward(self, x):
        s = x.flatten(1).mean(1).clamp(1e-7, 1 - 1e-7)
        return torch.stack([s.log(), (1 - s).log()], 1)


X = torch.tensor([0.8, 0.6, 0.4, 0.2]).view(1, 1, 2, 2)
RANK = torch.tensor([[0, 1, 2, 3]])  # pixel 0 (0.8) most important, pixel 3 (0.2) least
Y = torch.tensor([0])


def _curve(order, baseline="zero", steps=4):
    return metrics.curve(MeanPixel(), X, Y, RANK, order=order, baseline=baseline, stats=RAW, steps=steps)[0]


def test_morf_and_lerf_curves_by_hand():
    # zero baseline: the probability is the mean of the pixels still there
    assert _curve("morf").tolist() == pytest.approx([0.5, 0.3, 0.15, 0.05, 0.0], abs=1e-6)
    assert _curve("lerf").tolist() == pytest.approx([0.5, 0.45, 0.35, 0.2, 0.0], abs=1e-6)
    # white baseline (1): removed pixels count as 1
    assert _curve("morf", "white").tolist() == pytest.approx([0.5, 0.55, 0.65, 0.8, 1.0], abs=1e-6)
    # dataset mean 0.5 and two steps of two pixels
    assert _curve("morf", "dataset_mean", steps=2).tolist() == pytest.approx([0.5, 0.4, 0.5], abs=1e-6)


def test_summaries_by_hand():
    morf, lerf = _curve("morf")[None], _curve("lerf")[None]
    assert metrics.auc(morf).item() == pytest.approx((0.25 + 0.3 + 0.15 + 0.05) / 4)
    assert metrics.aopc(morf).item() == pytest.approx(0.5 - (0.5 + 0.3 + 0.15 + 0.05) / 5)
    assert metrics.auc(lerf).item() == pytest.approx((0.25 + 0.45 + 0.35 + 0.2) / 4)
    assert metrics.abpc(lerf, morf).item() == pytest.approx(0.3125 - 0.1875)


def test_insertion_is_lerf_read_backwards():
    ins = _curve("insertion")
    assert ins.tolist() == pytest.approx([0.0, 0.2, 0.35, 0.45, 0.5], abs=1e-6)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(6, 1, 28, 28, generator=g)
    rank = torch.stack([torch.randperm(784, generator=g) for _ in range(6)])
    kw = dict(stats=RAW, steps=7, baseline="blur")
    a = metrics.insertion(MeanPixel(), x, torch.zeros(6, dtype=torch.long), rank, **kw)
    b = metrics.lerf(MeanPixel(), x, torch.zeros(6, dtype=torch.long), rank, **kw)
    assert torch.allclose(a, b.flip(1)) and torch.allclose(metrics.auc(a), metrics.auc(b))


def test_road_imputes_the_removed_pixel_from_its_neighbours():
    x = torch.tensor([0.1, 0.2, 0.3, 0.4, 0.9, 0.6, 0.7, 0.8, 0.9]).view(1, 1, 3, 3)
    rank = torch.tensor([[1, 2, 3, 4, 0, 5, 6, 7, 8]])  # the centre goes first
    c = metrics.road(MeanPixel(), x, Y, rank, order="morf", stats=RAW, steps=9)[0]
    v = x.flatten()
    centre = (v[[1, 3, 5, 7]].sum() / 6 + v[[0, 2, 6, 8]].sum() / 12).item()  # = 0.5
    assert c[1].item() == pytest.approx((v.sum().item() - 0.9 + centre) / 9, abs=0.01)  # ± ROAD's noise / 9
    with pytest.raises(ValueError, match="'morf' or 'lerf'"):
        metrics.road(MeanPixel(), x, Y, rank, order="insertion", stats=RAW, steps=9)


def test_bad_metric_arguments_fail_clearly():
    with pytest.raises(ValueError, match="at least 2"):
        _curve("morf", steps=1)
    with pytest.raises(ValueError, match="unknown perturbation order 'random'"):
        _curve("random")
    with pytest.raises(ValueError, match="rank must be"):
        metrics.curve(MeanPixel(), X, Y, RANK[:, :3], order="morf", baseline="zero", stats=RAW, steps=4)


# ------------------------------------------------------------------------------------- reliability
# Krippendorff (2011), "Computing Krippendorff's alpha-reliability", section C: 4 observers, 12 units,
# missing values; published α: nominal 0.743, ordinal 0.815, interval 0.849, ratio 0.797.
FOUR = [[1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
        [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN]]
# Wikipedia's computational example (3 coders, 15 units): nominal 0.691, interval 0.811.
WIKI = [[NAN, NAN, NAN, NAN, NAN, 3, 4, 1, 2, 1, 1, 3, 3, NAN, 3],
        [1, NAN, 2, 1, 3, 3, 4, 3, NAN, NAN, NAN, NAN, NAN, NAN, NAN],
        [NAN, NAN, 2, 1, 3, 4, 4, NAN, 2, 1, 1, 3, 3, NAN, 4]]


@pytest.mark.parametrize("level,value", [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849),
                                         ("ratio", 0.797)])
def test_krippendorff_alpha_matches_the_published_worked_example(level, value):
    assert reliability.krippendorff_alpha(FOUR, level) == pytest.approx(value, abs=5e-4)


def test_krippendorff_alpha_wikipedia_example_and_limits():
    assert reliability.krippendorff_alpha(WIKI, "nominal") == pytest.approx(0.691, abs=5e-4)
    assert reliability.krippendorff_alpha(WIKI, "interval") == pytest.approx(0.811, abs=5e-4)
    assert reliability.krippendorff_alpha([[1, 2, 3], [1, 2, 3]], "ordinal") == 1.0
    assert math.isnan(reliability.krippendorff_alpha([[1, 1], [1, 1]], "ordinal"))
    with pytest.raises(ValueError, match="unknown level of measurement 'ranked'; choose one of nominal, ordinal, interval, ratio"):
        reliability.krippendorff_alpha(FOUR, "ranked")
    with pytest.raises(ValueError, match=r"data must be a 2-D table \(raters × units\), got shape \(4,\)"):
        reliability.krippendorff_alpha([1, 2, 3, 4])
    assert reliability.krippendorff_alpha(FOUR) == reliability.krippendorff_alpha(FOUR, "ordinal")  # the default


def test_krippendorff_alpha_with_one_pairable_unit_small_values_and_float32_tables():
    """One pairable unit, two raters disagreeing: D_o = D_e, α = 0 (an unpairable unit beside it changes
    nothing). Interval α is scale-free: values a hundred times smaller (D_e below 1) give the same α. A
    float32 table is computed in float64 like any other."""
    assert reliability.krippendorff_alpha([[1.0], [2.0]], "interval") == 0.0
    assert reliability.krippendorff_alpha([[1.0, 5.0], [2.0, NAN]], "interval") == 0.0
    assert reliability.krippendorff_alpha(0.01 * torch.tensor(WIKI, dtype=torch.float64), "interval") == pytest.approx(
        reliability.krippendorff_alpha(WIKI, "interval"), rel=1e-12)
    third = torch.tensor(WIKI, dtype=torch.float32) / 3
    assert reliability.krippendorff_alpha(third, "interval") == pytest.approx(
        reliability.krippendorff_alpha(third.double(), "interval"), rel=1e-12)


def test_inter_rater_reliability_of_images_ranking_methods():
    same = torch.tensor([[0.9, 0.5, 0.1]] * 5)  # every image ranks the three methods alike
    assert reliability.inter_rater(same) == 1.0
    assert reliability.method_ranks(same, higher_is_better=True)[0].tolist() == [1.0, 2.0, 3.0]
    assert reliability.method_ranks(same, higher_is_better=False)[0].tolist() == [3.0, 2.0, 1.0]
    flip = torch.tensor([[0.9, 0.5, 0.1], [0.1, 0.5, 0.9]] * 3)  # half the images reverse the order
    assert reliability.inter_rater(flip) < 0


def test_cronbach_alpha_and_internal_consistency_by_hand():
    items = torch.tensor([[1.0, 1.0], [2.0, 3.0], [3.0, 2.0]])  # item variances 1, 1; sums 2, 5, 5: var 3
    assert reliability.cronbach_alpha(items) == pytest.approx(2 * (1 - 2 / 3))
    ic = reliability.internal_consistency(items.T)
    assert ic[0, 1].item() == pytest.approx(0.5) and ic[0, 0] == 1
    with pytest.raises(ValueError, match="at least 2 cases"):
        reliability.cronbach_alpha(torch.ones(1, 3))



def test_krippendorff_alpha_ratio_by_hand_with_values_summing_to_one():
    """Units (0, 1), (1, 1), (3, 3); ratio δ² = ((c − k)/(c + k))²: δ²(0,1) = δ²(0,3) = 1, δ²(1,3) = 1/4.
    n_0 = 1, n_1 = 3, n_3 = 2 (n = 6); Σ o·δ² = 2; Σ n_c n_k δ² = 2·(3 + 2 + 1.5) = 13, D_e = 13/5;
    α = 1 − 2/(13/5) = 3/13. (0 and 1 sum to 1, the case a wrong guard on c + k would miss.)"""
    data = [[0, 1, 3], [1, 1, 3]]
    assert reliability.krippendorff_alpha(data, "ratio") == pytest.approx(3 / 13, rel=1e-12)
    assert math.isnan(reliability.krippendorff_alpha([[0, 0], [0, 0]], "ratio"))  # 0/0 never reached


def test_cronbach_alpha_by_hand_for_three_items_small_variances_and_integer_tables():
    """Items (1,2,3), (2,2,5), (3,4,5): variances 1, 3, 1 (Σ 5); case sums 6, 8, 13: variance 13;
    α = 3/2·(1 − 5/13) = 12/13, whatever the scale (0.1·x: total variance 0.13)."""
    x = [[1, 2, 3], [2, 2, 4], [3, 5, 5]]  # a table of Python ints is accepted
    assert reliability.cronbach_alpha(x) == pytest.approx(12 / 13, rel=1e-12)
    assert reliability.cronbach_alpha(0.1 * torch.tensor(x, dtype=torch.float64)) == pytest.approx(12 / 13, rel=1e-12)
    # two cases are enough: variances 2 and 4.5, sums (3, 8) variance 12.5: α = 2·(1 − 6.5/12.5) = 0.96
    assert reliability.cronbach_alpha([[1.0, 2.0], [3.0, 5.0]]) == pytest.approx(0.96, rel=1e-12)
    # item variances but constant case sums (total variance 0): undefined, not −inf
    assert math.isnan(reliability.cronbach_alpha([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]))
    for bad in (torch.ones(4), torch.ones(3, 2, 2), torch.ones(3, 1)):
        with pytest.raises(ValueError, match="at least 2 cases × 2 items"):
            reliability.cronbach_alpha(bad)


def test_internal_consistency_keeps_a_unit_diagonal_for_a_constant_variant():
    """A variant constant over the images has no rank correlation with another (NaN), but is itself
    perfectly consistent: the diagonal stays 1, as for every variant."""
    s = torch.tensor([[1.0, 2.0, 3.0, 4.0], [5.0, 5.0, 5.0, 5.0], [4.0, 3.0, 1.0, 2.0]])
    ic = reliability.internal_consistency(s)
    assert ic.diagonal().tolist() == [1.0, 1.0, 1.0]
    assert math.isnan(ic[0, 1]) and math.isnan(ic[1, 2]) and math.isnan(ic[2, 1])
    assert ic[0, 2].item() == pytest.approx(-0.8) and ic[2, 0].item() == pytest.approx(-0.8)


def test_metric_variant_names():
    """Only MoRF and LeRF under the noisy-linear baseline are ROAD's; every other pair is 'metric · baseline'."""
    assert evaluation.variant("morf", "noisy_linear") == "ROAD-MoRF"
    assert evaluation.variant("lerf", "noisy_linear") == "ROAD-LeRF"
    assert evaluation.variant("morf", "zero") == "MoRF · zero (black)"
    assert evaluation.variant("abpc", "noisy_linear") == "ABPC · noisy linear (ROAD)"


# ------------------------------------------------------------------------- randomisation, methods
def test_cascade_reinitialises_from_the_logits_down_and_leaves_the_model_alone():
    model = build("roar", seed=0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    steps = sanity.cascade(model, seed=1)
    assert [name for name, _ in steps] == ["classifier.4", "classifier.2", "classifier.0", "features.3", "features.0"]
    for i, (_, m) in enumerate(steps):
        changed = {k.rsplit(".", 1)[0] for k, v in m.state_dict().items() if not torch.equal(v, before[k])}
        assert changed == {name for name, _ in steps[:i + 1]}
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    again = sanity.cascade(model, seed=1)
    assert all(torch.equal(a, b) for a, b in zip(steps[-1][1].state_dict().values(), again[-1][1].state_dict().values()))


@pytest.fixture(scope="module")
def trained(mnist_base):
    return mnist_base  # conftest.py: the base model of 2,000 MNIST digits, in its store


def test_every_method_explains_the_trained_model(trained):
    ds, _, _, model, _ = trained
    x, y = ds.x_test[:6], ds.y_test[:6]
    cfg = saliency.MapConfig(window=4, stride=4, rise_masks=50)
    st = B.Stats.of(ds)
    for method in saliency.METHODS:
        a = saliency.attribute(model, x, y, method, saliency.AttributionConfig(ig_steps=8, nt_samples=3), maps=cfg,
                               stats=st)
        assert a.shape[0] == 6 and a.shape[-2:] == (28, 28) and torch.isfinite(a).all(), method
        assert a.abs().sum() > 0, method
    with pytest.raises(ValueError, match="unknown saliency method"):
        saliency.attribute(model, x, y, "lime", stats=st)
    with pytest.raises(ValueError, match="pass stats="):
        saliency.attribute(model, x, y, "occlusion")
    with pytest.raises(ValueError, match="unknown baseline"):
        saliency.MapConfig(baseline="grey")


# ------------------------------------------------------------------------------------- evaluation
def test_scores_are_oriented_so_that_higher_is_more_faithful():
    fast = torch.tensor([1.0, 0.2, 0.1, 0.0])  # probability falls at once
    slow = torch.tensor([1.0, 0.9, 0.8, 0.0])
    c = torch.empty(2, 1, 2, 3, 4)  # methods A, B; one baseline; MoRF/LeRF; 3 images; 4 points
    c[0, 0, 0], c[0, 0, 1] = fast, slow  # A: a faithful map
    c[1, 0, 0], c[1, 0, 1] = slow, fast  # B: its reverse
    s = evaluation.scores(c, ["zero"])
    for kind in evaluation.KINDS:
        assert torch.all(s[(kind, "zero")][:, 0] > s[(kind, "zero")][:, 1]), kind
    assert evaluation.rankings(s)[("abpc", "zero")].tolist() == [1.0, 2.0]
    assert evaluation.agreement(s) == 1.0
    assert evaluation.variant("morf", "noisy_linear") == "ROAD-MoRF"
    assert evaluation.variant("abpc", "zero") == "ABPC · zero (black)"


def test_internal_consistency_averages_over_methods():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(50, 3, generator=g)
    c = evaluation.consistency({("morf", "zero"): a, ("lerf", "zero"): 2 * a + 1, ("abpc", "zero"): -a})
    assert torch.allclose(c, torch.tensor([[1.0, 1, -1], [1, 1, -1], [-1, -1, 1]], dtype=torch.float64))


def test_evaluation_chunk_on_the_trained_model(trained):
    ds, _, _, model, _ = trained
    x, y = ds.x_test[:6], ds.y_test[:6]
    cfg = saliency.MapConfig(window=4, stride=4, rise_masks=40)
    out = evaluation.run_chunk(model, x, y, ["grad", "occlusion", "random"], ["zero", "noisy_linear"], B.Stats.of(ds),
                               config=cfg, steps=4, examples=2)
    c = out["curves"]
    assert c.shape == (3, 2, 2, 6, 5) and out["examples"].shape == (3, 2, 28, 28)
    assert torch.allclose(c[:, :, :, :, 0], c[0, 0, 0, :, 0].expand_as(c[:, :, :, :, 0]), atol=1e-5)  # nothing removed
    assert torch.allclose(c[:, 0, :, :, -1], c[0, 0, 0, :, -1].expand_as(c[:, 0, :, :, -1]), atol=1e-5)  # all black
    assert set(out["map_seconds"]) == {"grad", "occlusion", "random"} and len(out["curve_seconds"]) == 4


def test_evaluation_chunk_equals_its_maps_and_curves_written_out():
    """``run_chunk`` against the experiment written out here: each method's map with the chunk's
    attribution config, map config, statistics, seed and batch size; pixels ranked by |map| with ties broken
    by the seed (occlusion's blocks tie); then MoRF and LeRF curves under every baseline, each curve
    filling its own baseline image (the chunk precomputes it once per baseline)."""
    from roarkit.core import removal
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 6 * 6, 3)).eval()
    g = torch.Generator().manual_seed(2)
    x, y = torch.rand(5, 1, 8, 8, generator=g), torch.tensor([0, 1, 2, 0, 1])
    methods, baselines = ["occlusion", "rise", "grad_sg", "random"], ["zero", "uniform", "noisy_linear"]
    cfg = saliency.MapConfig(window=2, stride=2, rise_masks=12, baseline="noisy_linear")
    attr = saliency.AttributionConfig(nt_samples=3, nt_stdev=0.3)
    t0 = time.perf_counter()
    out = evaluation.run_chunk(model, x, y, methods, baselines, RAW, config=cfg, steps=5, attr=attr, seed=3,
                               examples=2, batch_size=2)
    elapsed = time.perf_counter() - t0
    maps = {m: saliency.attribute(model, x, y, m, attr, maps=cfg, stats=RAW, seed=3, batch_size=2) for m in methods}
    assert torch.allclose(out["examples"], torch.stack([maps[m][:2].sum(1) for m in methods]), atol=1e-6)
    assert out["curves"].shape == (4, 3, 2, 5, 6)  # 5 steps of 12.8 pixels cut the tied 2×2 blocks
    for i, m in enumerate(methods):
        rank = removal.ranks(removal.scores(maps[m]), 3)
        for j, b in enumerate(baselines):
            for o, order in enumerate(evaluation.ORDERS):
                want = metrics.curve(model, x, y, rank, order=order, baseline=b, stats=RAW, steps=5, seed=3, batch_size=2)
                assert torch.allclose(out["curves"][i, j, o], want, atol=1e-6), (m, b, order)
    other = removal.ranks(removal.scores(maps["occlusion"]), 4)
    assert not torch.equal(other, removal.ranks(removal.scores(maps["occlusion"]), 3))  # the tie-break seed matters
    assert set(out["map_seconds"]) == set(methods) and len(out["curve_seconds"]) == 6
    assert all(0 <= t <= elapsed for t in [*out["map_seconds"].values(), *out["curve_seconds"].values()])
    default = evaluation.run_chunk(model, x, y, ["random"], ["zero"], RAW, config=cfg, steps=4)
    assert default["examples"].shape == (1, 0, 8, 8)  # no examples unless asked for
    want = metrics.curve(model, x, y, removal.ranks(removal.scores(saliency.attribute(model, x, y, "random", stats=RAW)), 0),
                         order="morf", baseline="zero", stats=RAW, steps=4)
    assert torch.allclose(default["curves"][0, 0, 0], want, atol=1e-6)  # seed 0 by default


def test_randomisation_leaves_the_random_map_alone_and_changes_the_gradient(trained):
    ds, _, _, model, _ = trained
    out = evaluation.sanity_chunk(model, ds.x_test[:8], ds.y_test[:8], ["grad", "random"], B.Stats.of(ds),
                                  config=saliency.MapConfig(window=4, stride=4, rise_masks=20))
    assert out["layers"][0] == "classifier.4" and out["spearman"].shape == (5, 2, 8)
    assert torch.allclose(out["spearman"][:, 1], torch.ones(5, 8))
    assert out["spearman"][-1, 0].median() < 0.9


def test_randomisation_chunk_equals_the_cascade_written_out():
    """``sanity_chunk`` against the cascade written out here: each method's |map| summed over channels on
    the trained model and on each model of ``sanity.cascade(model, seed)``, compared with every measure.
    The settings that change the maps are all passed on: the attribution config (SmoothGrad's samples),
    the perturbation maps' config and statistics (occlusion and RISE with ROAD's imputation, whose noise
    RISE draws per batch), the seed (the random map, the cascade) and the batch size."""
    from roarkit.core import similarity
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 6 * 6, 3)).eval()
    g = torch.Generator().manual_seed(2)
    x, y = torch.rand(5, 1, 8, 8, generator=g), torch.tensor([0, 1, 2, 0, 1])
    methods = ["occlusion", "rise", "grad_sg", "random"]
    cfg = saliency.MapConfig(window=2, stride=2, rise_masks=12, baseline="noisy_linear")
    attr = saliency.AttributionConfig(nt_samples=3, nt_stdev=0.3)

    def reference(seed, batch_size, attr=attr):
        def absmap(net, m):
            return saliency.attribute(net, x, y, m, attr, maps=cfg, stats=RAW, seed=seed, batch_size=batch_size).abs().sum(1)
        original = {m: absmap(model, m) for m in methods}
        return {name: torch.stack([torch.stack([similarity.measure(name, original[m], absmap(net, m)).float()
                                                for m in methods]) for _, net in sanity.cascade(model, seed=seed)])
                for name in similarity.MEASURES}

    out = evaluation.sanity_chunk(model, x, y, methods, RAW, config=cfg, attr=attr, seed=3, batch_size=2)
    want = reference(3, 2)
    assert out["layers"] == ["3", "0"]
    for name in similarity.MEASURES:
        assert out[name].shape == (2, 4, 5)
        assert torch.allclose(out[name], want[name], atol=1e-6, equal_nan=True), name
    assert not torch.allclose(want["spearman"], reference(3, 5)["spearman"], equal_nan=True)  # the batch size matters here
    assert not torch.allclose(want["spearman"], reference(3, 2, saliency.AttributionConfig())["spearman"], equal_nan=True)
    default = evaluation.sanity_chunk(model, x, y, methods, RAW, config=cfg, attr=attr, batch_size=2)
    assert torch.allclose(default["spearman"], reference(0, 2)["spearman"], atol=1e-6, equal_nan=True)  # seed 0


def test_aopc_ranks_methods_like_the_morf_area_when_curves_share_their_ends():
    """Per image all methods start at f(x) and (with a fixed baseline) end at f(baseline), so AOPC and
    the MoRF area order the methods identically: AOPC adds no distinct ranking."""
    g = torch.Generator().manual_seed(0)
    c = torch.rand(5, 30, 11, generator=g)  # 5 methods, 30 images, 11 points
    c[:, :, 0], c[:, :, -1] = c[0, :, 0], c[0, :, -1]
    by_aopc = reliability.method_ranks(torch.stack([metrics.aopc(m) for m in c], 1))
    by_auc = reliability.method_ranks(-torch.stack([metrics.auc(m) for m in c], 1))
    assert torch.equal(by_aopc, by_auc)


def test_road_imputes_rather_than_filling_with_the_dataset_mean():
    """As above with a dataset mean (0.1) far from the imputed centre (0.5): ROAD's value is the imputation."""
    x = torch.tensor([0.1, 0.2, 0.3, 0.4, 0.9, 0.6, 0.7, 0.8, 0.9]).view(1, 1, 3, 3)
    rank = torch.tensor([[1, 2, 3, 4, 0, 5, 6, 7, 8]])
    low_mean = B.Stats(lo=torch.tensor([0.0]), hi=torch.tensor([1.0]), mean=torch.tensor([0.1]))
    c = metrics.road(MeanPixel(), x, Y, rank, order="morf", stats=low_mean, steps=9)[0]
    assert c[1].item() == pytest.approx((x.sum().item() - 0.9 + 0.5) / 9, abs=0.01)  # not (… + 0.1) / 9
    assert abs(c[1].item() - (x.sum().item() - 0.9 + 0.1) / 9) > 0.04
    # LeRF order: the least important pixel (0.9, bottom right) goes first; its neighbours 0.6, 0.8 (edges,
    # weight 1/6) and 0.9 (corner, 1/12) give (0.6/6 + 0.8/6 + 0.9/12) / (2/6 + 1/12) = 0.74
    lerf = metrics.road(MeanPixel(), x, Y, rank, order="lerf", stats=low_mean, steps=9)[0]
    assert lerf[1].item() == pytest.approx((x.sum().item() - 0.9 + 0.74) / 9, abs=0.01)


@pytest.mark.parametrize("baseline", ["uniform", "image_uniform", "blur"])
def test_curve_does_not_depend_on_the_batch_size(baseline):
    """Noise fills are drawn once per image, so splitting the images into batches changes nothing."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(7, 1, 6, 6, generator=g)
    rank = torch.stack([torch.randperm(36, generator=g) for _ in range(7)])
    y = torch.zeros(7, dtype=torch.long)
    kw = dict(order="morf", baseline=baseline, stats=RAW, steps=6, seed=4)
    whole = metrics.curve(MeanPixel(), x, y, rank, batch_size=1024, **kw)
    for bs in (7, 15, 30):  # 1, 2 and 4 images per batch
        assert torch.equal(metrics.curve(MeanPixel(), x, y, rank, batch_size=bs, **kw), whole), bs
    assert not torch.equal(whole, metrics.curve(MeanPixel(), x, y, rank, batch_size=7, **(kw | {"seed": 5}))) \
        or baseline == "blur"


def test_road_removes_the_most_relevant_first_by_default():
    x = torch.rand(2, 1, 5, 5, generator=torch.Generator().manual_seed(0))
    rank = torch.stack([torch.randperm(25, generator=torch.Generator().manual_seed(i)) for i in range(2)])
    y = torch.zeros(2, dtype=torch.long)
    kw = dict(stats=RAW, steps=5, seed=2)
    assert torch.equal(metrics.road(MeanPixel(), x, y, rank, **kw),
                       metrics.road(MeanPixel(), x, y, rank, order="morf", **kw))


# -------------------------------------------------------------- from the mutation run of curves (2026-12-04)
@pytest.mark.parametrize("steps", [[0.5], [[0.1, 0.2], [0.3, 0.4]], [0.2, 0.2], [0.3, 0.1], [-0.1, 0.5],
                                   [0.5, 1.5]])
def test_fractions_refuse_each_bad_list_with_one_message(steps):
    """Too few fractions, a table, a repeated or decreasing fraction, one below 0 or above 1: each alone."""
    msg = f"steps must be a whole number >= 2 or increasing fractions within [0, 1], got {steps!r}"
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        metrics.fractions(steps)


def test_fractions_are_float64_and_two_are_enough():
    f = metrics.fractions(3)
    assert f.dtype == torch.float64 and f.tolist() == [0.0, 1 / 3, 2 / 3, 1.0]
    g = metrics.fractions([0.1, 0.3])
    assert g.dtype == torch.float64 and g.tolist() == [0.1, 0.3]
    assert metrics.fractions([0.0, 1.0]).tolist() == [0.0, 1.0]


def test_unknown_order_lists_the_orders():
    with pytest.raises(ValueError, match=r"^unknown perturbation order 'up'; choose one of morf, lerf, insertion$"):
        metrics.removal_masks(RANK, "up", 4)


def test_curve_on_non_square_images_checks_the_rank_shape_by_height_times_width():
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4, 2))
    x, y = torch.rand(2, 1, 3, 4), torch.tensor([0, 1])
    rank = torch.stack([torch.randperm(12), torch.randperm(12)])
    assert metrics.curve(net, x, y, rank, order="morf", baseline="zero", stats=RAW, steps=4).shape == (2, 5)
    with pytest.raises(ValueError, match=re.escape("rank must be (N, H·W) = (2, 12), got (2, 9)")):
        metrics.curve(net, x, y, rank[:, :9], order="morf", baseline="zero", stats=RAW, steps=4)


def test_curve_with_noisy_linear_imputation_draws_each_batch_from_seed_plus_its_first_image():
    """ROAD's curve, one image per batch (batch_size = steps + 1), against each image's perturbed copies
    written out with seed + i; float64 in, float64 out; the default seed is 0."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(36, 3)).double()
    x = torch.rand(3, 1, 6, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    y = torch.tensor([0, 1, 2])
    rank = torch.stack([torch.randperm(36, generator=torch.Generator().manual_seed(i)) for i in range(3)])
    got = metrics.road(net, x, y, rank, stats=RAW, steps=4, seed=5, batch_size=5)
    assert got.dtype == torch.float64
    masks = metrics.removal_masks(rank, "morf", 4)  # (N, S, H·W)
    for i in range(3):
        m = masks[i].view(5, 1, 6, 6)
        pert = B.perturb(x[i:i + 1].repeat_interleave(5, 0), m, "noisy_linear", RAW, seed=5 + i)
        ref = torch.softmax(net(pert), 1)[:, y[i]]
        torch.testing.assert_close(got[i], ref, rtol=0, atol=1e-12)
    assert torch.equal(metrics.road(net, x, y, rank, stats=RAW, steps=4),
                       metrics.road(net, x, y, rank, stats=RAW, steps=4, seed=0))


def test_auc_over_given_points_in_float64_by_hand():
    v = torch.tensor([1.0, 0.5, 0.25], dtype=torch.float64)
    # trapezoids over [0, 0.1] and [0.1, 0.3]: 0.1·0.75 + 0.2·0.375
    assert metrics.auc(v, [0.0, 0.1, 0.3]).item() == pytest.approx(0.15, rel=0, abs=1e-15)

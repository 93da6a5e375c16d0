"""The perturbation-saliency page's verdict rules, with hand-worked numbers, and the shared set-up of the
perturbation chapter's pages (:func:`roarkit.experiments.base_models.explained`) on real MNIST."""
import math
from types import SimpleNamespace

import pytest
import torch

from roarkit.experiments import base_models
from roarkit.experiments import perturbation_saliency as ps
from roarkit.store import Store


def pair_sim(values_01, values_02=None, values_12=None):
    """(N, 1, K, K) similarities over N images of K = 2 (or 3) maps with the given upper-diagonal values."""
    k = 2 if values_02 is None else 3
    n = len(values_01)
    s = torch.ones(n, 1, k, k)
    pairs = {(0, 1): values_01, (0, 2): values_02, (1, 2): values_12}
    for (i, j), v in pairs.items():
        if v is not None:
            s[:, 0, i, j] = s[:, 0, j, i] = torch.tensor(v)
    return s


def test_a_pair_diverges_when_its_median_over_images_is_below_one_half():
    # medians: 0.4 (diverges), 0.6 (does not)
    assert ps.diverging(pair_sim([0.3, 0.4, 0.9])).tolist() == [True]
    assert ps.diverging(pair_sim([0.6, 0.7, 0.2])).tolist() == [False]


def test_exactly_one_half_does_not_diverge():
    assert ps.DIVERGE == 0.5
    assert ps.diverging(pair_sim([0.5, 0.5, 0.5])).tolist() == [False]


def test_rise_must_also_fall_below_its_noise_floor():
    sim = pair_sim([0.3, 0.4, 0.9])  # median 0.4
    assert ps.diverging(sim, floor=0.45).tolist() == [True]
    assert ps.diverging(sim, floor=0.35).tolist() == [False]  # 0.4 is within the noise of two mask seeds


def test_pairs_are_flattened_in_upper_diagonal_order():
    # three maps: pairs (0,1), (0,2), (1,2) with medians 0.2, 0.8, 0.45
    sim = pair_sim([0.2, 0.2, 0.3], [0.8, 0.9, 0.7], [0.45, 0.1, 0.9])
    assert ps.diverging(sim).tolist() == [True, False, True]


def test_verdict_supported_only_when_every_method_diverges_on_every_dataset():
    every = {("mnist", "occlusion"): True, ("mnist", "rise"): True,
             ("fashion_mnist", "occlusion"): True, ("fashion_mnist", "rise"): True}
    assert ps.verdict(every) == "supported"
    assert ps.verdict({k: False for k in every}) == "not supported"
    some = every | {("mnist", "occlusion"): False, ("fashion_mnist", "occlusion"): False,
                    ("fashion_mnist", "rise"): False}
    assert ps.verdict(some) == "partly supported (RISE on mnist only)"


def test_share_is_the_percentage_of_diverging_pairs_over_all_groups():
    pct, n = ps.share([torch.tensor([True, False]), torch.tensor([True, False, False, False])])
    assert n == 6 and pct == pytest.approx(100 * 2 / 6)


def test_group_mean_averages_the_first_baseline_over_images_and_datasets():
    configs = [(4, 2), (4, 4), (7, 2)]  # (window, stride)
    a = torch.zeros(2, 2, 3, 3)  # two images, two baselines: only baseline 0 counts
    a[:, 0, 0, 1] = torch.tensor([0.8, 0.6])   # same window: mean 0.7
    a[:, 0, 0, 2] = torch.tensor([0.2, 0.4])   # different windows: 0.3
    a[:, 0, 1, 2] = torch.tensor([0.0, 0.2])   # different windows: 0.1
    a[:, 1] = 9.0
    b = a.clone()
    b[:, 0, 0, 1] = torch.tensor([0.5, 0.5])   # second dataset, same window: 0.5
    same_w = ps.group_mean([a, b], configs, lambda u, v: u[0] == v[0])
    diff_w = ps.group_mean([a], configs, lambda u, v: u[0] != v[0])
    assert same_w == pytest.approx((0.7 + 0.5) / 2)
    assert diff_w == pytest.approx((0.3 + 0.1) / 2)
    assert math.isnan(ps.group_mean([a], configs, lambda u, v: False))


def test_explained_loads_the_subsets_trains_the_base_model_and_picks_stratified_images(mnist_dir, tmp_path,
                                                                                         one_thread, monkeypatch):
    monkeypatch.setenv("ROARKIT_DATA", str(mnist_dir.parent))
    p = SimpleNamespace(datasets=["mnist"], n_train=300, n_test=200, n_images=20, subset_seed=0, epochs=1,
                        batch_size=32, lr=0.01, momentum=0.9, seed=0, device="cpu")
    store = Store(tmp_path)
    ex = base_models.explained(p, store)["mnist"]
    assert len(ex.picks) == 20 and ex.info.n_test == 20 and ex.data.info.n_test == 200
    assert torch.bincount(ex.data.y_test[ex.picks], minlength=10).tolist() == [2] * 10  # stratified: 2 per class
    assert (ex.picks.diff() > 0).all()
    x, y = ex.images(5, 8)
    assert torch.equal(x, ex.data.x_test[ex.picks[5:8]]) and torch.equal(y, ex.data.y_test[ex.picks[5:8]])
    assert not ex.model.training
    again = base_models.explained(p, store)["mnist"]  # read back: the same stored unit and weights
    assert again.model_key == ex.model_key and torch.equal(again.picks, ex.picks)
    p.n_images = 0  # every loaded test image
    assert torch.equal(base_models.explained(p, store)["mnist"].picks, torch.arange(200))

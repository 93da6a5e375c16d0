"""The saliency-metrics page's verdict rules on claim (c), with hand-worked numbers, and its reading of
the ROAR chapter's stored retrainings."""
import math

import pandas as pd
import pytest
import torch

from roarkit.core.data import DataInfo
from roarkit.experiments import saliency_metrics as sm
from roarkit.store import Store

NAN = math.nan


def info(name="mnist", n_train=1000):
    return DataInfo(name=name, source="/nowhere", files=(("t10k-images", "0" * 32, 10),), n_train=n_train,
                    n_test=500, n_train_available=60000, n_test_available=10000, subset_seed=0)


def test_krippendorffs_thresholds():
    assert sm.RELIABLE == 0.8 and sm.TENTATIVE == 0.667


def test_reliable_count_counts_from_point_eight_and_leaves_nan_out():
    assert sm.reliable_count([0.9, 0.8, 0.5, NAN]) == (2, 1, 3)
    assert sm.reliable_count([[0.79, 0.81], [0.1, 0.2]]) == (1, 3, 4)


def test_claim_c_is_supported_when_most_pairs_are_unreliable():
    assert sm.supported([0.5, 0.6, 0.9], alpha_all=0.9)           # 2 of 3 below 0.8
    assert not sm.supported([0.5, 0.9], alpha_all=0.9)            # exactly half is not "most"
    assert not sm.supported([0.9, 0.85, 0.5], alpha_all=0.7)      # 1 of 3, and the variants agree (0.7 >= 0.667)


def test_claim_c_is_supported_when_the_variants_disagree_on_the_ranking():
    assert sm.supported([0.9, 0.85, 0.5], alpha_all=0.6)
    assert not sm.supported([0.9, 0.85, 0.5], alpha_all=0.667)


def test_nan_reliabilities_count_in_the_total_but_not_as_unreliable():
    # 1 of 3 below 0.8 (the NaN is neither): not most
    assert not sm.supported([0.5, NAN, 0.9], alpha_all=0.9)
    assert sm.c_verdict([0.5, 0.6, 0.9], 0.9) == "Supported"
    assert sm.c_verdict([0.9, 0.9, 0.9], 0.9) == "Not supported"


def test_winners_text():
    assert sm.winners_text(3) == "3 different methods come out best depending on the variant"
    assert sm.winners_text(1) == "every variant names the same best method, but they disagree below it"


def test_random_map_in_the_better_half():
    # 8 methods: ranks up to 4 are the better half (ties averaged: 4.5 is not)
    assert sm.random_top_half(pd.Series([1.0, 4.0, 4.5, 8.0]), 8) == 2
    assert sm.random_top_half(pd.Series([2.0, 3.0]), 4) == 1


def put_roar(store, method, accuracy, *, dataset="mnist", mode="roar", inp="image", epochs=2, n_train=1000, seed=0,
             threshold=10):
    params = {"model": "roar", "config": {"epochs": epochs}, "seed": seed, "method": method, "mode": mode,
              "threshold": threshold, "attr": {}, "input": inp}
    store.put("roar", params, info(dataset, n_train), {"metrics": {"accuracy": accuracy}}, seconds=1.0,
              code=("roarkit.experiments.roar_grid",))


def test_roar_ranking_averages_the_largest_group_of_roar_units(tmp_path):
    store = Store(tmp_path)
    assert sm.roar_ranking(store, "mnist") is None
    put_roar(store, "grad", 0.5, seed=0)
    put_roar(store, "grad", 0.7, seed=1)
    put_roar(store, "ig", 0.3)
    put_roar(store, "ig", 0.9, mode="kar")                    # KAR: not ROAR
    put_roar(store, "ig", 0.9, inp="mask")                    # the mask-only control
    put_roar(store, "ig", 0.9, dataset="fashion_mnist")       # another dataset
    put_roar(store, "sobel", 0.9)                             # not a method of the page
    put_roar(store, "grad", 0.1, epochs=5)                    # a smaller group (other training settings)
    put_roar(store, "ig", 0.1, epochs=5)
    acc, units, settings = sm.roar_ranking(store, "mnist", ["grad", "ig", "random"])
    assert acc == pytest.approx({"grad": 0.6, "ig": 0.3})
    assert units == 3 and settings["config"] == {"epochs": 2} and settings["n_train"] == 1000
    acc, units, _ = sm.roar_ranking(store, "mnist")            # every method: sobel joins the group
    assert units == 4 and acc["sobel"] == pytest.approx(0.9)
    acc, units, _ = sm.roar_ranking(store, "mnist", ["grad", "ig"], model_params={"config": {"epochs": 5}})
    assert units == 2 and acc == pytest.approx({"grad": 0.1, "ig": 0.1})


def test_roar_lines_rank_by_accuracy_and_correlate_the_variants(tmp_path):
    store = Store(tmp_path)
    for m, a in (("grad", 0.6), ("ig", 0.2), ("random", 0.9)):  # lower accuracy after removal = more faithful
        put_roar(store, m, a)
    methods = ["grad", "ig", "deeplift", "random"]
    # two variants over 2 images; columns follow methods; higher = more faithful
    agree = torch.tensor([[0.5, 0.9, 0.0, 0.1], [0.5, 0.9, 0.0, 0.1]])   # ig > grad > random: as ROAR
    reverse = torch.tensor([[0.1, 0.0, 0.0, 0.9], [0.1, 0.0, 0.0, 0.9]])  # random > grad > ig
    text = sm.roar_lines(store, methods, {"mnist": {("morf", "zero"): agree, ("lerf", "zero"): reverse},
                                          "fashion_mnist": {("morf", "zero"): agree}})
    first, second = text.strip().split("\n")
    assert first.startswith("- **mnist**: ROAR ranks Integrated Gradients, Gradient, Random (best first; mean "
                            "test accuracy over 3 stored retraining units: 2 epochs, 1,000 training images)")
    assert "these 3 methods correlate with it at Spearman 0.00 (median; from -1.00 to 1.00)" in first
    assert "held no ROAR retraining results" in second

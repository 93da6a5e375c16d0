"""roarkit.experiments.roar_benchmark: "beats random" from paired differences (hand-worked numbers),
Hooker et al.'s verdict, the mask-only table, and the page's assembled result on a small real-MNIST grid."""
import math
import types

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from roarkit.experiments import roar_benchmark as RB
from roarkit.figures import roar as figs

T_975_2 = 4.302652729911275  # Student t quantile 0.975 with 2 degrees of freedom


def bench_rows(per_seed: dict, mode="roar", dataset="mnist", thresholds=(10, 90)) -> pd.DataFrame:
    """Rows of one dataset and mode from {method: [per-seed accuracies per threshold]} (lists of tuples)."""
    return pd.DataFrame([{"dataset": dataset, "mode": mode, "method": m, "seed": s, "threshold": t, "accuracy": a}
                         for m, seeds in per_seed.items() for s, accs in enumerate(seeds)
                         for t, a in zip(thresholds, accs)])


def test_compare_roar_beats_random_only_when_the_interval_is_below_zero():
    assert RB.compare(-0.05, 0.02, "roar") == "beats random"        # [-0.07, -0.03]
    assert RB.compare(0.05, 0.02, "roar") == "worse than random"    # [0.03, 0.07]
    assert RB.compare(-0.01, 0.02, "roar") == "no difference"       # [-0.03, 0.01]
    assert RB.compare(-0.02, 0.02, "roar") == "no difference"       # touches 0: not excluded


def test_compare_kar_is_the_mirror_image():
    assert RB.compare(0.05, 0.02, "kar") == "beats random"
    assert RB.compare(-0.05, 0.02, "kar") == "worse than random"
    assert RB.compare(0.01, 0.02, "kar") == "no difference"


def test_compare_without_an_interval_is_no_difference():
    assert RB.compare(-0.5, float("nan"), "roar") == "no difference"  # one seed: no CI
    assert RB.compare(0.5, float("nan"), "kar") == "no difference"


def test_differences_are_paired_by_seed_and_averaged_over_thresholds():
    # per-seed means over thresholds: random 0.8, 0.7, 0.9; ig 0.6, 0.6, 0.6 -> differences -0.2, -0.1, -0.3
    rows = bench_rows({"random": [(0.9, 0.7), (0.8, 0.6), (1.0, 0.8)], "ig": [(0.8, 0.4), (0.7, 0.5), (0.9, 0.3)]})
    d = RB.differences(rows, ["ig", "random"]).set_index("method")
    assert list(d.index) == ["ig"]
    ci = T_975_2 * 0.1 / math.sqrt(3)  # std of the differences 0.1: 0.2484
    assert d.loc["ig", "difference (pp)"] == pytest.approx(-20.0)
    assert d.loc["ig", "95 % CI"] == f"[{100 * (-0.2 - ci):.2f}, {100 * (-0.2 + ci):.2f}]" == "[-44.84, 4.84]"
    assert d.loc["ig", "verdict"] == "no difference"  # the interval includes 0
    assert d.loc["ig", "estimator"] == "Integrated Gradients" and d.loc["ig", "mode"] == "ROAR"


def test_consistent_differences_beat_random_under_roar_and_lose_under_kar():
    # differences -0.2, -0.21, -0.19: std 0.01, CI half-width 0.0248, interval [-0.225, -0.175]
    accs = {"random": [(0.8, 0.8), (0.8, 0.8), (0.8, 0.8)], "grad_var": [(0.6, 0.6), (0.59, 0.59), (0.61, 0.61)]}
    rows = pd.concat([bench_rows(accs, "roar"), bench_rows(accs, "kar")])
    d = RB.differences(rows, ["grad_var", "random"]).set_index("mode")
    assert d.loc["ROAR", "verdict"] == "beats random"
    assert d.loc["KAR", "verdict"] == "worse than random"
    assert d.loc["ROAR", "difference (pp)"] == pytest.approx(-20.0)
    assert d.loc["ROAR", "95 % CI"] == f"[{-20 - 100 * T_975_2 * 0.01 / math.sqrt(3):.2f}, " \
                                       f"{-20 + 100 * T_975_2 * 0.01 / math.sqrt(3):.2f}]" == "[-22.48, -17.52]"
    table = RB.verdict_table(RB.differences(rows, ["grad_var", "random"]))
    assert table.loc["Gradient + VarGrad", ("mnist", "ROAR")] == "beats random"


def test_hooker_set_is_the_squared_and_variance_ensembles():
    est = ["grad", "grad_sg", "grad_sg2", "ig_var", "sobel", "random"]
    assert RB.hooker_set(est) == {"grad_sg2", "ig_var"}


def test_hooker_holds_when_exactly_the_ensembles_beat_random():
    est = ["grad", "grad_sg2", "ig_var", "sobel", "random"]
    assert RB.hooker_holds({"grad_sg2", "ig_var"}, est)
    assert RB.hooker_holds({"grad_sg2", "ig_var", "sobel"}, est)  # the controls are not Hooker's estimators
    assert not RB.hooker_holds({"grad_sg2"}, est)                  # VarGrad did not
    assert not RB.hooker_holds({"grad", "grad_sg2", "ig_var"}, est)  # plain Gradient did too
    assert not RB.hooker_holds(set(), est)
    assert RB.hooker_holds(set(), ["grad", "ig", "random"])         # no ensemble tested, none beat random


def test_hooker_texts_hand_worked():
    diffs = pd.DataFrame([
        {"dataset": "mnist", "mode": "ROAR", "method": "grad_sg2", "verdict": "beats random"},
        {"dataset": "mnist", "mode": "ROAR", "method": "grad", "verdict": "no difference"},
        {"dataset": "mnist", "mode": "KAR", "method": "grad", "verdict": "beats random"},  # KAR does not count
    ])
    t = RB.hooker_texts(diffs, ["mnist"], ["grad", "grad_sg2", "random"])
    assert t["hooker_mnist"] == "**holds**: 1 of 2 estimators beat random"
    assert t["hooker_fashion_mnist"] == "not run"
    assert t["hooker_verdict"] == (
        "- **mnist**: under ROAR, 1 of 2 estimators beat random (Gradient + SmoothGrad²). Hooker et al.'s ImageNet "
        "finding (only the SmoothGrad² and VarGrad ensembles beat random) **holds** here.")
    t = RB.hooker_texts(diffs.iloc[1:], ["mnist"], ["grad", "grad_sg2", "random"])
    assert t["hooker_mnist"] == "**does not hold**: 0 of 2 estimators beat random"
    worse = pd.DataFrame([
        {"dataset": "fashion_mnist", "mode": "ROAR", "method": "sobel", "verdict": "beats random"},
        {"dataset": "fashion_mnist", "mode": "ROAR", "method": "grad", "verdict": "worse than random"},
        {"dataset": "fashion_mnist", "mode": "ROAR", "method": "grad_sg2", "verdict": "worse than random"},
        {"dataset": "fashion_mnist", "mode": "KAR", "method": "ig", "verdict": "worse than random"},  # KAR does not count
    ])
    t = RB.hooker_texts(worse, ["fashion_mnist"], ["grad", "grad_sg2", "ig", "sobel", "random"])
    assert t["hooker_fashion_mnist"] == "**does not hold**: 1 of 4 estimators beat random, 2 worse"
    assert t["hooker_mnist"] == "not run"
    assert t["hooker_verdict"] == (
        "- **fashion_mnist**: under ROAR, 1 of 4 estimators beat random (Sobel edges); 2 do worse than random (the "
        "network retrained on their removal keeps a higher accuracy than after random removal). Hooker et al.'s "
        "ImageNet finding (only the SmoothGrad² and VarGrad ensembles beat random) **does not hold** here.")


def test_label_rows_family_and_variant():
    rows = RB.label_rows(pd.DataFrame({"method": ["ig_sg2", "grad", "sobel", "random"]}))
    assert list(rows.estimator) == ["Integrated Gradients + SmoothGrad²", "Gradient", "Sobel edges", "Random"]
    assert list(rows.family) == ["Integrated Gradients", "Gradient", "Sobel edges", "Random"]
    assert list(rows.variant) == ["SmoothGrad²", "plain", "plain", "plain"]


def test_leak_table_hand_worked():
    leak = pd.DataFrame([{"dataset": "mnist", "method": m, "threshold": 50, "seed": s, "accuracy": a}
                         for m, accs in {"sobel": [0.30, 0.40], "random": [0.10, 0.12]}.items()
                         for s, a in enumerate(accs)])
    table, numbers = RB.leak_table(leak)
    ci = 12.706204736174698 * math.sqrt(0.005) / math.sqrt(2)  # t(0.975, 1) · std / √2 of (0.3, 0.4): 0.635
    assert table.loc[("mnist", "Sobel edges"), "50 %"] == f"35.0 ± {100 * ci:.1f}" == "35.0 ± 63.5"
    assert numbers["leak_max"] == pytest.approx(35.0)
    assert numbers["leak_where"] == "Sobel edges at 50 % on mnist"
    table, numbers = RB.leak_table(leak[leak.seed == 0])  # one seed: no interval
    assert table.loc[("mnist", "Random"), "50 %"] == "10.0"
    table, numbers = RB.leak_table(pd.DataFrame())
    assert table.empty and math.isnan(numbers["leak_max"]) and "did not run" in numbers["leak_where"]


def params(**kw):
    p = dict(datasets=["mnist"], estimators=["grad", "random"], modes=["roar", "kar"], thresholds=[50], seeds=2,
             leakage=True, n_train=200, n_test=100, subset_seed=0, epochs=1, batch_size=32, lr=1e-2, momentum=0.9,
             ig_steps=4, nt_samples=2, device="cpu")
    return types.SimpleNamespace(**(p | kw))


def test_estimators_must_include_random():
    with pytest.raises(ValueError, match="random"):
        RB.run(params(estimators=["grad", "ig"]))


@pytest.fixture(scope="module")
def result(run_experiment):
    return run_experiment(RB.run, params())


def test_run_assembles_the_page(result):
    _, R = result
    # 2 base models + 2 estimators × 2 modes × 1 threshold × 2 seeds + the mask-only control (ROAR only)
    assert len(R.rows) == 8 and len(R.leak) == 4
    assert R.numbers["n_trainings"] == 8 + 4 + 2
    assert set(R.rows.columns) >= {"estimator", "family", "variant"}
    assert list(R.diffs[["dataset", "mode", "method"]].itertuples(index=False, name=None)) == [
        ("mnist", "KAR", "grad"), ("mnist", "ROAR", "grad")]
    for _, d in R.diffs.iterrows():
        sub = R.rows[R.rows["mode"] == d["mode"].lower()].pivot_table(index="seed", columns="method",
                                                                      values="accuracy")
        assert d["difference (pp)"] == pytest.approx(100 * (sub["grad"] - sub["random"]).mean())
    assert set(R.markdown) == {"hooker_mnist", "hooker_fashion_mnist", "hooker_verdict", "leak_where"}
    assert R.markdown["hooker_fashion_mnist"] == "not run"
    assert R.numbers["leak_max"] == pytest.approx(100 * R.leak.groupby("method")["accuracy"].mean().max())
    assert list(R.leak_table.columns) == ["50 %"]
    assert set(R.examples["mnist"]) == {"grad", "random"} and R.examples["mnist"]["grad"].shape == (1, 784)


def test_training_images_per_dataset_override_n_train(run_experiment):
    """n_train_by_dataset sets one dataset's training images (the full-cpu profile: all of MNIST, 20,000
    of Fashion-MNIST); the others keep n_train."""
    kw = dict(datasets=["mnist", "fashion_mnist"], leakage=False, n_test=50, n_train_by_dataset={"fashion_mnist": 120})
    _, R = run_experiment(RB.run, params(**kw))
    assert {n: g.data.info.n_train for n, g in R.grids.items()} == {"mnist": 200, "fashion_mnist": 120}


def test_rerun_reads_every_unit_back(result):
    store, R = result
    again = RB.run(params(), store)
    assert again.rows["hit"].all() and again.leak["hit"].all()
    assert again.numbers == R.numbers and again.markdown == R.markdown


def test_figures_draw_from_the_result(result):
    _, R = result
    for fig in (figs.fig_bench_examples(R.datasets, R.examples, [50]), figs.fig_bench_curves(R.rows)):
        assert isinstance(fig, plt.Figure) and fig.axes
        plt.close(fig)

"""roarkit.experiments.data_and_models: the batch-size rule, the step count and the page's assembled result."""
import types

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from roarkit.experiments import data_and_models as DM
from roarkit.figures import data as figs


def test_steps_count_the_last_partial_batch():
    assert DM.steps(2, 3000, 16) == 2 * 188  # 3000 / 16 = 187.5 -> 188 batches per epoch
    assert DM.steps(1, 32, 16) == 2
    assert DM.steps(1, 33, 16) == 3
    assert DM.steps(10, 10000, 128) == 790  # 78.125 -> 79


def test_closest_batch_is_the_one_nearest_the_reports_accuracy():
    acc = pd.Series({16: 0.95, 32: 0.978, 64: 0.99})  # distances 0.03, 0.002, 0.01 from 0.98
    assert DM.closest_batch(acc, 0.98) == 32
    assert DM.closest_batch(acc, 0.995) == 64
    assert DM.closest_batch(pd.Series({16: 0.5, 128: 0.97})) == 128  # the report's 98 % by default
    assert DM.REPORT_ACCURACY == 0.98


def test_closest_batch_tie_goes_to_the_first_of_the_sweep():
    assert DM.closest_batch(pd.Series({16: 0.25, 32: 0.75}), 0.5) == 16
    assert DM.closest_batch(pd.Series({32: 0.75, 16: 0.25}), 0.5) == 32


@pytest.fixture(scope="module")
def result(run_experiment):
    p = types.SimpleNamespace(datasets=["mnist"], n_train=300, n_test=100, subset_seed=0, epochs=1, batch_size=32,
                              lr=1e-2, momentum=0.9, seed=0, batch_sizes=[32, 64], device="cpu")
    store, result = run_experiment(DM.run, p)
    return p, store, result


def test_run_assembles_tables_and_numbers(result):
    p, _, R = result
    assert set(R.numbers) == {"acc_mnist", "acc_report", "best_batch"}
    assert R.numbers["acc_report"] == pytest.approx(98.0)
    assert R.numbers["acc_mnist"] == pytest.approx(100 * R.summary.loc["mnist", "test accuracy"])
    assert R.used.loc["mnist", "train used"] == 300 and R.used.loc["mnist", "test used"] == 100
    assert list(R.files.index.names) == ["dataset", "file"] and (R.files["images"] > 0).all()
    assert R.per_class.shape == (10, 2) and list(R.per_class.columns.get_level_values(1)) == ["precision", "recall"]
    assert int(R.confusion["mnist"].sum()) == 100
    # the sweep: one row per batch size, its step count, and the rule's pick
    assert list(R.sweep.index) == [32, 64]
    assert list(R.sweep["steps"]) == [DM.steps(1, 300, 32), DM.steps(1, 300, 64)] == [10, 5]
    assert R.numbers["best_batch"] == DM.closest_batch(R.sweep["test accuracy"])
    # the page's own batch size is the sweep's first: the same stored unit, the same accuracy
    assert R.sweep.loc[32, "test accuracy"] == R.summary.loc["mnist", "test accuracy"]


def test_second_run_reads_every_training_back(result):
    p, store, R = result
    again = DM.run(p, store)
    assert all(e.hit for e in again.runs.values())
    assert (again.summary["from store"] == "yes").all()
    assert again.numbers == R.numbers


def test_figures_draw_from_the_result(result):
    _, _, R = result
    for fig in (figs.fig_samples(R.datasets.values()), figs.class_balance(list(R.datasets.values())),
                figs.fig_confusion(R.confusion, {n: ds.classes for n, ds in R.datasets.items()})):
        assert isinstance(fig, plt.Figure) and fig.axes
        plt.close(fig)

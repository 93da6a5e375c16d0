"""roarkit.experiments.roar_mnist: the report's claims as verdict rules (hand-worked numbers), Table I's
tolerance, the tables, and the page's assembled result on a small real-MNIST grid."""
import math
import types

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from roarkit.core import paper
from roarkit.experiments import roar_mnist as RM
from roarkit.figures import roar as figs

REPORT = {"thresholds": [10, 30, 50, 70, 90],
          "table1_std_percent": {"ig": [0.44, 0.83, 2.10, 31.64, 0.00], "random": [0.42, 0.28, 0.39, 0.58, 0.65]}}


def grid_rows(acc: dict) -> pd.DataFrame:
    """One row per retraining from {(method, threshold): [accuracy per seed]}."""
    return pd.DataFrame([{"method": m, "threshold": t, "seed": s, "accuracy": a}
                         for (m, t), accs in acc.items() for s, a in enumerate(accs)])


def test_ig_at_90_falls_to_chance_within_five_points():
    assert RM.CHANCE_TOLERANCE_PP == 5
    assert RM.falls_to_chance(14.9, 10.0) and RM.falls_to_chance(5.1, 10.0) and RM.falls_to_chance(10.0, 10.0)
    assert not RM.falls_to_chance(15.1, 10.0) and not RM.falls_to_chance(4.9, 10.0)
    assert not RM.falls_to_chance(float("nan"), 10.0)  # threshold not run: not reproduced


def test_random_at_90_stays_high_against_the_reports_own_table_iii():
    assert RM.stays_high(70.0, 75.0, 5.0) and RM.stays_high(90.0, 75.0, 5.0)
    assert not RM.stays_high(69.9, 75.0, 5.0) and not RM.stays_high(float("nan"), 75.0, 5.0)
    assert not RM.stays_high(70.0, 75.0, float("nan"))  # one run: no tolerance, no verdict
    report = paper.value("roar_report")
    row = report["table3_precision_percent_random"]["mean"][4]  # the 90 % row of Table III
    assert min(row) == 56.8 and max(row) == 89.2 and sum(row) / 10 == pytest.approx(75.5)


def test_precision_tolerance_is_twice_the_standard_error_of_a_difference_of_means():
    # 2 · sqrt((s_ours² + s_report²) / n)
    assert RM.precision_tolerance(3.0, 4.0, 4) == pytest.approx(5.0)        # 2·√(25/4)
    assert RM.precision_tolerance(0.0, 6.97, 5) == pytest.approx(2 * 6.97 / math.sqrt(5))
    assert math.isnan(RM.precision_tolerance(1.0, 1.0, 1))


def precision_rows(values: dict) -> pd.DataFrame:
    """One row per retraining from {(method, threshold): [[precision per class] per seed]} (0..1)."""
    return pd.DataFrame([{"method": m, "threshold": t, "seed": s, "accuracy": 0.5,
                          **{f"precision_{c}": p for c, p in enumerate(ps)}}
                         for (m, t), seeds in values.items() for s, ps in enumerate(seeds)])


def test_tables_ii_and_iii_beside_the_report_hand_worked():
    report = paper.value("roar_report")
    digits = [str(d) for d in range(10)]
    # random at 90 %: digit 0 at 0.85/0.89 (mean 87, std 2.83) vs the report's 87.4 ± 1.96
    rows = precision_rows({("random", 90): [[0.85] + [0.5] * 9, [0.89] + [0.5] * 9]})
    t = RM.precision_vs_report(rows, "random", report, digits)
    cell = t.loc[(90, "0")]
    assert cell["ours (%)"] == pytest.approx(87.0) and cell["report (%)"] == 87.4
    assert cell["ours std (pp)"] == pytest.approx(100 * math.sqrt(0.0008))
    tol = 2 * math.sqrt((100 * math.sqrt(0.0008)) ** 2 + 1.96 ** 2) / math.sqrt(2)  # 6.88
    assert cell["tolerance (pp)"] == pytest.approx(tol) and cell["within"] == "yes"
    assert t.loc[(90, "3")]["within"] == "no"  # 50 vs 67.6 ± 4.36, std 0: tolerance 6.17
    assert list(t.index.get_level_values(0).unique()) == [90] and len(t) == 10
    m = RM.macro_precision(rows, "random", 90, report)
    assert m["ours"] == pytest.approx((87 + 9 * 50) / 10) and m["report"] == pytest.approx(75.5)
    ours_std = 100 * math.sqrt(0.0008) / 10  # only digit 0 varies
    assert m["tolerance"] == pytest.approx(2 * math.sqrt((ours_std ** 2 + np.mean([1.96, 0.98, 4.32, 4.36, 8.80, 5.31,
                                                                                    1.17, 2.86, 4.96, 6.97]) ** 2) / 2))
    assert math.isnan(RM.macro_precision(rows, "random", 70, report)["ours"])


def test_ig_spread_explodes_at_70_when_at_least_ten_points_and_the_largest():
    report = pd.Series(dict(zip(REPORT["thresholds"], REPORT["table1_std_percent"]["ig"])))
    assert RM.spread_explodes(report)                           # the report's own 31.64 pp
    assert not RM.spread_explodes(report.replace(31.64, 9.9))   # below 10 pp
    assert not RM.spread_explodes(pd.Series({10: 0.4, 50: 15.0, 70: 12.0}))  # 12 >= 10 but 50 % spreads more
    assert RM.spread_explodes(pd.Series({50: 12.0, 70: 12.0}))   # a tie with the largest counts
    assert not RM.spread_explodes(pd.Series({10: 20.0, 90: 30.0}))  # 70 % not run
    assert not RM.spread_explodes(pd.Series(dtype=float))


def test_base_accuracy_reproduced_within_one_point_of_the_report():
    assert RM.BASE_TOLERANCE_PP == 1
    assert RM.base_reproduced(0.971, 0.98) and RM.base_reproduced(0.989, 0.98)  # 0.9 pp either side
    assert not RM.base_reproduced(0.969, 0.98) and not RM.base_reproduced(0.991, 0.98)  # 1.1 pp
    assert not RM.base_reproduced(0.423, 0.98)  # the quick profile's 42.3 %
    assert RM.verdict(True) == "reproduced" and RM.verdict(False) == "not reproduced"


def test_table1_tolerance_is_twice_the_standard_error_of_the_larger_std():
    # 2 · max(σ_ours, σ_report) / sqrt(2 (n − 1))
    assert RM.std_tolerance(4.0, 1.0, 3) == pytest.approx(4.0)          # 2·4/√4
    assert RM.std_tolerance(2.0, 31.64, 5) == pytest.approx(2 * 31.64 / math.sqrt(8))  # 22.373
    assert RM.std_tolerance(0.5, 0.65, 2) == pytest.approx(2 * 0.65 / math.sqrt(2))
    assert math.isnan(RM.std_tolerance(3.0, 1.0, 1))  # one run: no spread to compare


def test_table1_rows_hand_worked():
    rows = grid_rows({("ig", 10): [0.1, 0.1, 0.1, 0.1, 0.6],        # std √0.05 = 22.36 pp
                      ("ig", 70): [0.5, 0.6, 0.7, 0.5, 0.7],
                      ("random", 90): [0.90, 0.92, 0.90, 0.92, 0.91],
                      ("ig", 55): [0.2] * 5})                       # not a report threshold: left out
    t = RM.table1(rows, REPORT)
    assert list(t.index) == [("Integrated Gradients", 10), ("Integrated Gradients", 70), ("Random", 90)]
    ig10 = t.loc[("Integrated Gradients", 10)]
    assert ig10["mean accuracy (%)"] == pytest.approx(20.0)
    assert ig10["std, ours (pp)"] == pytest.approx(100 * math.sqrt(0.05))           # 22.36
    assert ig10["difference (pp)"] == pytest.approx(100 * math.sqrt(0.05) - 0.44)   # 21.92
    assert ig10["tolerance (pp)"] == pytest.approx(2 * 100 * math.sqrt(0.05) / math.sqrt(8))  # 15.81
    assert ig10["within"] == "no"
    ig70 = t.loc[("Integrated Gradients", 70)]  # std 10 pp vs the report's 31.64: tolerance 2·31.64/√8 = 22.37
    assert ig70["std, ours (pp)"] == pytest.approx(10.0)
    assert ig70["difference (pp)"] == pytest.approx(-21.64)
    assert ig70["tolerance (pp)"] == pytest.approx(22.373, abs=1e-3) and ig70["within"] == "yes"  # 21.64 <= 22.37
    rnd90 = t.loc[("Random", 90)]  # std 1.0 pp vs 0.65: diff 0.35 <= 2·1/√8 = 0.707
    assert rnd90["std, ours (pp)"] == pytest.approx(1.0) and rnd90["within"] == "yes"


def test_claims_from_hand_made_rows():
    report = paper.value("roar_report")
    rows = grid_rows({("ig", 70): [0.30, 0.60], ("ig", 90): [0.11, 0.13], ("ig", 10): [0.95, 0.96],
                      ("random", 90): [0.84, 0.86]})
    rows[[f"precision_{c}" for c in range(10)]] = 0.8  # random at 90 %: 80 % per class, above 75.5 %
    c = RM.claims(rows, chance=0.1, report=report)
    assert c["rnd90_prec"] == pytest.approx(80.0) and c["report_rnd90_prec"] == pytest.approx(75.5)
    assert c["ig90"] == pytest.approx(12.0) and c["rnd90"] == pytest.approx(85.0)
    assert c["ig70std"] == pytest.approx(100 * 0.3 / math.sqrt(2))  # 21.2 pp, the largest IG spread
    assert c["verdict_ig90"] == c["verdict_rnd90"] == c["verdict_std70"] == "reproduced"
    rows = grid_rows({("ig", 90): [0.50, 0.52], ("random", 90): [0.70, 0.72]})
    rows[[f"precision_{c}" for c in range(10)]] = 0.6  # 60 %: 15.5 points below the report
    c = RM.claims(rows, chance=0.1, report=report)
    assert c["verdict_ig90"] == c["verdict_rnd90"] == c["verdict_std70"] == "not reproduced"
    assert math.isnan(c["ig70std"])


def test_verdict_text_counts_the_claims_and_flags_reduced_runs():
    v = ["reproduced", "not reproduced", "reproduced"]
    assert RM.verdict_text(v, "paper") == "2 of the report's 3 claims hold in this run. "
    quick = RM.verdict_text(iter(v), "quick")
    assert quick.startswith("2 of the report's 3 claims hold in this run. This run used reduced settings")


def test_precision_table_mean_and_std_over_seeds():
    rows = pd.DataFrame([{"method": "ig", "threshold": 50, "seed": s, "precision_0": p0, "precision_1": p1}
                         for s, (p0, p1) in enumerate([(0.5, 1.0), (0.7, 1.0)])])
    t = RM.precision_table(rows, "ig", ["zero", "one"])
    assert list(t.columns) == ["50 %"] and list(t.index) == ["zero", "one"]
    assert t.loc["zero", "50 %"] == f"0.600 ± {math.sqrt(0.02):.3f}"  # std of (0.5, 0.7) = 0.141
    assert t.loc["one", "50 %"] == "1.000 ± 0.000"


def test_curve_starts_at_the_base_models():
    rows = grid_rows({("ig", 50): [0.4, 0.6], ("random", 50): [0.8, 0.8]})
    c = RM.curve(rows, np.array([0.9, 0.95]))
    base = c[c.threshold == 0].set_index("method")
    assert list(base.index) == ["Integrated Gradients", "Random"]
    assert base.loc["Random", "mean"] == pytest.approx(0.925)
    assert base.loc["Random", "std"] == pytest.approx(np.std([0.9, 0.95], ddof=1))
    assert c[(c.threshold == 50) & (c.method == "Integrated Gradients")]["mean"].item() == pytest.approx(0.5)
    assert RM.curve(rows, np.array([0.9]))["std"].iloc[0] == 0.0  # one seed: no band


@pytest.fixture(scope="module")
def result(run_experiment):
    p = types.SimpleNamespace(profile="quick", n_train=300, n_test=100, subset_seed=0, epochs=1, batch_size=32,
                              lr=1e-2, momentum=0.9, seeds=2, thresholds=[50, 90], ig_steps=4, device="cpu")
    store, result = run_experiment(RM.run, p)
    return p, store, result


def test_run_assembles_the_page(result):
    p, _, R = result
    assert R.numbers["n_units"] == len(R.rows) == 2 * 2 * 2 and R.numbers["n_seeds"] == 2
    assert not R.rows["hit"].any()  # trained by this run
    assert set(R.rows.method) == {"ig", "random"} and set(R.rows.threshold) == {50, 90}
    assert R.numbers["base_mean"] == pytest.approx(100 * R.base_accuracy.mean())
    assert R.numbers["verdict_base"] == RM.verdict(RM.base_reproduced(R.base_accuracy.mean(), 0.98))
    ig90 = 100 * R.rows[(R.rows.method == "ig") & (R.rows.threshold == 90)]["accuracy"].mean()
    assert R.numbers["ig90"] == pytest.approx(ig90)
    assert R.markdown["verdict_ig90"] == f"**{RM.verdict(RM.falls_to_chance(ig90, 10.0))}**"
    assert math.isnan(R.numbers["ig70std"]) and R.markdown["verdict_std70"] == "**not reproduced**"  # 70 % not run
    assert R.numbers["report_ig70std"] == 31.64 and R.numbers["report_base"] == pytest.approx(98.0)
    assert "reduced settings" in R.markdown["verdict_text"]
    assert list(R.table1.index.get_level_values(1)) == [50, 90, 50, 90]
    assert R.precision["ig"].shape == (10, 2)
    vs = R.versus_report["random"]
    assert len(vs) == 20 and list(vs.index.get_level_values(0).unique()) == [50, 90]
    assert vs.loc[(90, "0")]["report (%)"] == 87.4 and vs.loc[(50, "9")]["report (%)"] == 95.0
    assert R.markdown["verdict_rnd90"] == "**" + RM.verdict(RM.stays_high(
        R.numbers["rnd90_prec"], R.numbers["report_rnd90_prec"], R.numbers["rnd90_tol"])) + "**"
    assert R.examples["ig"].shape == (RM.N_EXAMPLES, 784)
    assert paper.value("roar_report.thresholds") == REPORT["thresholds"]


def test_rerun_reads_the_grid_back(result):
    p, store, R = result
    again = RM.run(p, store)
    assert again.rows["hit"].all()
    pd.testing.assert_frame_equal(again.rows.drop(columns="hit"), R.rows.drop(columns="hit"))


def test_figures_draw_from_the_result(result):
    _, _, R = result
    for fig in (figs.fig_examples(R.data, R.examples, R.grid.thresholds),
                figs.fig_roar_curve(R.curve, R.grid.thresholds, R.chance)):
        assert isinstance(fig, plt.Figure) and fig.axes
        plt.close(fig)

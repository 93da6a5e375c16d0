"""roarkit.core.stats: the 95 % interval, group summaries and paired differences on hand-worked numbers.

Student-t quantiles from the printed table (two-sided 95 %): t(1) = 12.706, t(2) = 4.303, t(3) = 3.182."""
import math

import pandas as pd
import pytest

from roarkit.core import stats


def test_ci95_is_t_times_the_standard_error():
    # [1, 2, 3]: mean 2, sample std 1 (ddof 1), standard error 1/√3, t(2) = 4.303
    assert stats.ci95([1.0, 2.0, 3.0]) == pytest.approx(4.303 / math.sqrt(3), rel=1e-4)
    # [10, 14]: std √8, se 2, t(1) = 12.706
    assert stats.ci95([10, 14]) == pytest.approx(12.706 * 2, rel=1e-4)
    # [0, 0, 0, 4]: mean 1, std 2 (Σ(x − 1)² = 12, / 3 = 4), se 1, t(3) = 3.182
    assert stats.ci95([0, 0, 0, 4]) == pytest.approx(3.182, rel=1e-3)
    assert stats.ci95([5.0, 5.0, 5.0]) == 0.0
    assert math.isnan(stats.ci95([7.0])) and math.isnan(stats.ci95([]))


def test_summarize_per_group_in_order_of_appearance():
    df = pd.DataFrame({"method": ["random", "ig", "random", "ig", "ig"], "t": [10, 10, 10, 10, 10],
                       "accuracy": [0.9, 0.5, 0.9, 0.7, 0.6]})
    out = stats.summarize(df, ["method", "t"])
    assert out["method"].tolist() == ["random", "ig"] and out["t"].tolist() == [10, 10]  # not sorted
    rnd, ig = out.iloc[0], out.iloc[1]
    assert ig["mean"] == pytest.approx(0.6) and ig["std"] == pytest.approx(0.1) and ig["n"] == 3
    assert ig["ci95"] == pytest.approx(4.303 * 0.1 / math.sqrt(3), rel=1e-4)
    assert rnd["mean"] == pytest.approx(0.9) and rnd["std"] == 0.0 and rnd["n"] == 2 and rnd["ci95"] == 0.0
    one = stats.summarize(df.iloc[:2], ["method"], "accuracy")
    assert list(one.columns) == ["method", "mean", "std", "n", "ci95"]
    assert one["n"].tolist() == [1, 1] and one["std"].isna().all() and one["ci95"].isna().all()


def test_paired_difference_pairs_by_seed():
    # seed s: ig = base_s − 0.1·(1 + s), random = base_s; the seed effect (base_s) cancels in the pairs
    rows = []
    for s, base in enumerate([0.9, 0.5, 0.7]):
        rows += [{"t": 50, "seed": s, "method": "ig", "accuracy": base - 0.1 * (1 + s)},
                 {"t": 50, "seed": s, "method": "random", "accuracy": base}]
    rows += [{"t": 90, "seed": s, "method": m, "accuracy": 0.3} for s in range(2) for m in ("ig", "random")]
    out = stats.paired_difference(pd.DataFrame(rows), "ig", "random", ["t"])
    d50 = out[out.t == 50].iloc[0]  # differences −0.1, −0.2, −0.3
    assert d50["mean"] == pytest.approx(-0.2) and d50["std"] == pytest.approx(0.1) and d50["n"] == 3
    assert d50["ci95"] == pytest.approx(4.303 * 0.1 / math.sqrt(3), rel=1e-4)
    d90 = out[out.t == 90].iloc[0]
    assert d90["mean"] == 0.0 and d90["n"] == 2 and d90["ci95"] == 0.0
    # unpaired, the seed spread (std of 0.9, 0.5, 0.7 = 0.2) would swamp the interval: pairing is what narrows it
    assert d50["ci95"] < stats.ci95([0.9, 0.5, 0.7])
    # the other direction flips the sign only
    back = stats.paired_difference(pd.DataFrame(rows), "random", "ig", ["t"])
    assert back[back.t == 50].iloc[0]["mean"] == pytest.approx(0.2)

"""roarkit.experiments.checks: each page's sanity rule on hand-built results, passing and failing."""
from types import SimpleNamespace

import pandas as pd
import pytest
import torch

from roarkit.experiments import checks


def test_base_accuracy_floor_is_one_and_a_half_times_chance():
    checks.base_accuracy("p", {"mnist": 0.15, "fashion_mnist": 0.9}, 10)  # exactly 15 % passes
    with pytest.raises(checks.PageCheckError, match=r"page 'p' failed its sanity check 'base accuracy': "
                                                    r"fashion_mnist 14\.9 % below the floor of 15\.0 %"):
        checks.base_accuracy("p", {"mnist": 0.9, "fashion_mnist": 0.149}, 10)
    with pytest.raises(checks.PageCheckError, match="below the floor of 75.0 %"):  # two classes: 1.5 × 50 %
        checks.base_accuracy("p", {"m": 0.7}, 2)
    with pytest.raises(checks.PageCheckError, match="nan"):
        checks.base_accuracy("p", {"m": float("nan")}, 10)


def grid_rows(acc: dict) -> pd.DataFrame:
    """One row per (dataset, method, mode, threshold, seed) from {(dataset, method, mode, threshold): [per seed]}."""
    return pd.DataFrame([{"dataset": d, "method": m, "mode": mode, "threshold": t, "seed": s, "accuracy": a}
                         for (d, m, mode, t), v in acc.items() for s, a in enumerate(v)])


def test_kar_above_roar_at_the_largest_threshold_per_dataset():
    rows = grid_rows({("mnist", "ig", "roar", 90): [0.2, 0.3], ("mnist", "ig", "kar", 90): [0.9, 0.8],
                      ("mnist", "ig", "roar", 10): [0.9, 0.9], ("mnist", "ig", "kar", 10): [0.1, 0.1],
                      ("fashion", "ig", "roar", 90): [0.30, 0.30], ("fashion", "ig", "kar", 90): [0.26, 0.25]})
    checks.kar_above_roar("roar_benchmark", rows)  # fashion: KAR 25.5 % ≥ 30 % − 5 pp; the 10 % rows don't count
    rows.loc[(rows.dataset == "fashion") & (rows["mode"] == "kar"), "accuracy"] = [0.25, 0.24]  # 24.5 % < 25 %
    with pytest.raises(checks.PageCheckError, match=r"'KAR ≥ ROAR': fashion: at 90 % KAR 24\.5 % < ROAR 30\.0 %"):
        checks.kar_above_roar("roar_benchmark", rows)
    checks.kar_above_roar("roar_mnist", rows[rows["mode"] == "roar"])  # ROAR alone: nothing to compare


def test_faithful_map_hurts_at_least_as_much_as_random():
    rows = grid_rows({("mnist", "ig", "roar", 90): [0.12, 0.14], ("mnist", "random", "roar", 90): [0.10, 0.06],
                      ("mnist", "ig", "roar", 10): [0.9, 0.9], ("mnist", "random", "roar", 10): [0.1, 0.1]})
    checks.faithful_below_random("roar_mnist", rows, "ig")  # 13 % ≤ 8 % + 5 pp
    rows.loc[(rows.method == "ig") & (rows.threshold == 90), "accuracy"] = [0.14, 0.14]
    with pytest.raises(checks.PageCheckError, match=r"'ig ≤ random': ROAR at 90 %: ig 14\.0 % > random 8\.0 %"):
        checks.faithful_below_random("roar_mnist", rows, "ig")


def test_smoot_k_within_its_rounded_bounds():
    # 784 pixels: k_min 0.2 → 157 (156.8), k_max 0.8 → 627 (627.2)
    checks.k_within_bounds("sgt_mnist", [torch.tensor([157, 400, 627])], 784, 0.2, 0.8)
    with pytest.raises(checks.PageCheckError, match="seed 1: K spans 156-400, outside 157-627 of 784"):
        checks.k_within_bounds("sgt_mnist", [torch.tensor([300]), torch.tensor([156, 400])], 784, 0.2, 0.8)


def test_identity_gap():
    checks.identity_holds("saliency_metrics", "x", 1e-4)
    with pytest.raises(checks.PageCheckError, match="'x': gap -0.00011 exceeds 0.0001"):
        checks.identity_holds("saliency_metrics", "x", -1.1e-4)


def test_page_checks_read_the_page_results():
    entry = lambda a: SimpleNamespace(value={"metrics": {"accuracy": a}})  # noqa: E731
    ten = SimpleNamespace(num_classes=10)
    checks.data_and_models(SimpleNamespace(runs={"mnist": entry(0.5)}, datasets={"mnist": ten}))
    with pytest.raises(checks.PageCheckError, match="'data_and_models'.*mnist 10.0 %"):
        checks.data_and_models(SimpleNamespace(runs={"mnist": entry(0.1)}, datasets={"mnist": ten}))
    rows = grid_rows({("mnist", "ig", "roar", 90): [0.1], ("mnist", "random", "roar", 90): [0.5]})
    checks.roar_mnist(SimpleNamespace(base_accuracy=[0.9, 0.95], data=ten, rows=rows))
    with pytest.raises(checks.PageCheckError, match="'roar_mnist'.*seed 1 12.0 %"):
        checks.roar_mnist(SimpleNamespace(base_accuracy=[0.9, 0.12], data=ten, rows=rows))
    runs = pd.DataFrame({"training": ["traditional", "sgt", "smoot", "sgt"], "accuracy": [0.9, 0.1, 0.8, 0.3]})
    R = SimpleNamespace(dataset="mnist", data=ten, runs=runs, k_final=[torch.tensor([200, 500])],
                        numbers={"pixels": 784, "kmin_pct": 20.0, "kmax_pct": 80.0})
    checks.sgt(R)  # SGT's mean over seeds is 20 %
    R.runs = runs.assign(accuracy=[0.9, 0.1, 0.8, 0.1])
    with pytest.raises(checks.PageCheckError, match="'sgt_mnist'.*sgt 10.0 %"):
        checks.sgt(R)
    with pytest.raises(checks.PageCheckError, match="'insertion area = LeRF area'"):
        checks.saliency_metrics(SimpleNamespace(numbers={"identity_gap": 0.01}))
    checks.roar_benchmark(SimpleNamespace(rows=grid_rows({("mnist", "ig", "roar", 90): [0.1],
                                                           ("mnist", "ig", "kar", 90): [0.9]})))

"""roarkit.experiments.sgt_cifar: the paper's table and the page's "no data" path (no CIFAR files here)."""
import types

import pytest

from roarkit.core import data as D
from roarkit.experiments import sgt_cifar as C
from roarkit.store import Store


def params(**kw):
    p = dict(profile="quick", cifar_datasets=["cifar10", "cifar100"], n_train=100, n_test=50, subset_seed=0,
             val_fraction=0.1, seeds=1, epochs=1, batch_size=64, lr=1.0, sgt_k=0.5, lam=1.0, rank_by="abs", alpha=0.8,
             top_n=5, w=0.1, k_min=0.2, k_max=0.8, k_init=0.5, drop_methods=["grad", "random"], n_drop=16, ig_steps=2,
             nt_samples=2, device="cpu")
    return types.SimpleNamespace(**(p | kw))


def test_paper_table_holds_the_papers_accuracies_in_percent():
    t = C.paper_table()
    assert list(t.columns) == ["CIFAR-10", "CIFAR-100"] and list(t.index) == ["Traditional", "SGT", "SMOOT"]
    assert t.loc["Traditional", "CIFAR-10"] == pytest.approx(95.65)
    assert t.loc["SMOOT", "CIFAR-100"] == pytest.approx(79.65)


def test_looked_at_lists_the_places_of_the_message_without_the_fix():
    e = D.DataNotFound("Dataset 'cifar10' not found. Looked at:\n  - /a/cifar-10-batches-py (no such folder)\n"
                       "  - /b/cifar/cifar-10-batches-py (no such folder)\nTo fix:\n  - set ROARKIT_DATA")
    assert C.looked_at(e) == ("looked at /a/cifar-10-batches-py (no such folder); "
                              "/b/cifar/cifar-10-batches-py (no such folder)")


def test_without_cifar_files_the_page_runs_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("ROARKIT_DATA", str(tmp_path))
    R = C.run(params(), Store(tmp_path / "store"))
    assert R.loaded == {} and R.runs == {} and list(R.missing) == ["cifar10", "cifar100"]
    assert R.missing["cifar10"] == (f"looked at {tmp_path}/cifar-10-batches-py (no such folder); "
                                    f"{tmp_path}/cifar/cifar-10-batches-py (no such folder)")
    assert R.numbers == {"ran_any": "did not run"}
    assert R.ours["note"].tolist() == ["no CIFAR data on this machine: nothing ran"]
    lines = R.status.splitlines()
    assert len(lines) == 2 and lines[1].startswith("- **cifar100**: not found on this machine")
    assert lines[0].endswith(f"(Roarkit {R.missing['cifar10']}.)")
    assert R.paper.equals(C.paper_table())

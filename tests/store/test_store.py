"""The results store and provenance: keys, hits/misses, atomic writes, resume after SIGKILL."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import psutil
import pytest
import torch

import roarkit
from roarkit.book import page, status
from roarkit.core.device import resolve_device
from roarkit.store import codeversion, provenance, usage
from roarkit.store import store as results
from roarkit.store.provenance import pid_space
from roarkit.store.store import Store

REPO = Path(__file__).resolve().parents[2]
WORKER = REPO / "tests" / "store" / "_store_worker.py"
sys.path.insert(0, str(REPO / "tests" / "store"))
import _store_worker  # noqa: E402


@dataclass(frozen=True)
class FakeDataInfo:
    """Stand-in with the DataInfo interface (roarkit.core.data is written separately)."""

    source: str = "/data/mnist"
    md5: str = "0" * 32
    n_train: int = 1000
    n_test: int = 500
    subset_seed: int = 0

    def as_dict(self):
        return {"name": "mnist", "source": self.source, "n_train": self.n_train, "n_test": self.n_test,
                "subset_seed": self.subset_seed,
                "files": [{"file": "train-images-idx3-ubyte.gz", "md5": self.md5, "n": 60000},
                          {"file": "t10k-images-idx3-ubyte.gz", "md5": "f" * 32, "n": 10000}]}


def tensors_bitwise_equal(a, b) -> bool:
    """Deep equality of values, tensors compared bit for bit (dtype, shape and bytes)."""
    if isinstance(a, torch.Tensor):
        return (isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape
                and torch.equal(a.contiguous().view(torch.uint8), b.contiguous().view(torch.uint8)))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(tensors_bitwise_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(tensors_bitwise_equal, a, b))
    return type(a) is type(b) and a == b


def final_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.pt") if not p.name.startswith("."))


# ---------------------------------------------------------------- keys

def test_key_depends_on_what_matters(monkeypatch):
    store, data = Store("unused"), FakeDataInfo()
    base = store.key("train", {"lr": 0.1, "model": {"depth": 2, "act": "relu"}}, data)
    assert re.fullmatch(r"[0-9a-f]{64}", base)
    # stable under dict ordering and tuple/list spelling
    assert store.key("train", {"model": {"act": "relu", "depth": 2}, "lr": 0.1}, [data]) == base
    assert store.key("t", {"shape": (1, 2)}) == store.key("t", {"shape": [1, 2]})
    # moving the data folder does not recompute
    assert store.key("train", {"lr": 0.1, "model": {"depth": 2, "act": "relu"}}, replace(data, source="/elsewhere")) == base
    changed = [
        store.key("eval", {"lr": 0.1, "model": {"depth": 2, "act": "relu"}}, data),
        store.key("train", {"lr": 0.2, "model": {"depth": 2, "act": "relu"}}, data),
        store.key("train", {"lr": 0.1, "model": {"depth": 3, "act": "relu"}}, data),
        store.key("train", {"lr": 0.1, "model": {"depth": 2, "act": "relu"}}, None),
        store.key("train", {"lr": 0.1, "model": {"depth": 2, "act": "relu"}}, replace(data, md5="1" * 32)),
        store.key("train", {"lr": 0.1, "model": {"depth": 2, "act": "relu"}}, replace(data, n_train=999)),
        store.key("train", {"lr": 0.1, "model": {"depth": 2, "act": "relu"}}, replace(data, n_test=499)),
        store.key("train", {"lr": 0.1, "model": {"depth": 2, "act": "relu"}}, replace(data, subset_seed=1)),
        store.key("train", {"lr": 0.1, "model": {"depth": 2, "act": "relu"}}, [data, data]),
    ]
    assert len(set(changed)) == len(changed) and base not in changed
    # another code version: the modules computing the unit, or their sources, differ
    assert store.key("train", {"lr": 0.1, "model": {"depth": 2, "act": "relu"}}, data,
                     code=("roarkit.core.models",)) != base


def test_key_rejects_unserialisable_params():
    store = Store("unused")
    with pytest.raises(TypeError, match=r"params\['model'\]\['act'\]"):
        store.key("train", {"model": {"act": torch.nn.ReLU()}})
    with pytest.raises(TypeError, match=r"params\['seeds'\]"):
        store.key("train", {"seeds": {1, 2}})
    with pytest.raises(TypeError, match="keys must be str"):
        store.key("train", {"by_seed": {1: "a"}})
    with pytest.raises(ValueError, match="kind"):
        store.key("../escape", {})


def _package_copy(tmp_path) -> Path:
    pkg = tmp_path / "roarkit"
    shutil.copytree(codeversion.ROOT, pkg, ignore=shutil.ignore_patterns("__pycache__"))
    return pkg


def test_code_version_ignores_the_store_figures_and_book_layers(tmp_path):
    pkg = _package_copy(tmp_path)
    real = codeversion.code_version()
    assert re.fullmatch(re.escape(roarkit.__version__) + r"\+[0-9a-f]{12}", real)
    assert codeversion.code_version(root=pkg) == real
    for rel in ("book/cli.py", "book/page.py", "book/params.py", "figures/theme.py", "store/store.py", "__main__.py"):
        (pkg / rel).write_text((pkg / rel).read_text() + "\n# reworded\n")
    (pkg / "figures" / "newplot.py").write_text("x = 1\n")
    assert codeversion.code_version(root=pkg) == real  # how results are shown or stored does not change them
    (pkg / "core" / "models.py").write_text((pkg / "core" / "models.py").read_text() + "\n# changed\n")
    changed = codeversion.code_version(root=pkg)
    assert changed != real
    (pkg / "core" / "newcompute.py").write_text("y = 2\n")
    assert codeversion.code_version(root=pkg) not in (real, changed)


# ---------------------------------------------------------------- hits, misses, values

def test_cached_hit_and_miss(tmp_path):
    calls = []
    data = FakeDataInfo()

    def compute():
        calls.append(1)
        g = torch.Generator().manual_seed(0)
        return {"w": torch.randn(4, 3, generator=g, requires_grad=True) * 2, "acc": 0.5, "name": "x",
                "curve": [1, 2.5], "nested": {"b": torch.arange(3)}, "np": np.arange(4.0), "np_scalar": np.float32(2)}

    store = Store(tmp_path)
    first = store.cached("train", {"lr": 0.1}, data, compute, device="cpu")
    assert not first.hit and store.misses == 1 and store.hits == 0 and len(calls) == 1
    assert isinstance(first.value["np"], torch.Tensor) and first.value["np_scalar"] == 2.0
    assert not first.value["w"].requires_grad
    second = store.cached("train", {"lr": 0.1}, data, compute, device="cpu")
    assert second.hit and store.hits == 1 and len(calls) == 1
    assert tensors_bitwise_equal(first.value, second.value)
    assert second.key == first.key and second.path == first.path == store.path("train", first.key)
    assert first.path == tmp_path / "train" / first.key[:2] / f"{first.key}.pt"
    # a fresh store (as in a new notebook process) also hits
    third = Store(tmp_path).cached("train", {"lr": 0.1}, data, compute)
    assert third.hit and len(calls) == 1 and tensors_bitwise_equal(first.value, third.value)

    prov = second.provenance
    for k in ("kind", "params", "data", "device", "versions", "commit", "platform", "hostname",
              "seconds", "created", "code_version"):
        assert k in prov, k
    assert prov["params"] == {"lr": 0.1} and prov["kind"] == "train"
    assert prov["data"][0]["files"][0]["md5"] == data.md5 and prov["data"][0]["source"] == data.source
    assert prov["device"].startswith("CPU: ") and prov["code_version"] == results.code_version()
    assert prov["seconds"] >= 0 and prov["created"].endswith("+00:00")
    assert json.loads(first.path.with_suffix(".json").read_text()) == prov

    listed = list(store)
    assert [(e.key, e.kind, e.value) for e in listed] == [(first.key, "train", None)]
    with_values = list(store.entries("train", values=True))
    assert tensors_bitwise_equal(with_values[0].value, first.value)
    assert list(store.entries("other")) == []
    with pytest.raises(KeyError):
        store.cached("train", {"lr": 0.3}, data)


def test_values_are_cpu_compact_and_checked(tmp_path):
    store = Store(tmp_path)
    big = torch.arange(1_000_000, dtype=torch.float32)
    entry = store.put("slice", {}, None, {"head": big[:10], "sd": torch.nn.Linear(3, 2).state_dict()}, seconds=0.0)
    assert entry.path.stat().st_size < 50_000  # the view's 4 MB base was not saved
    loaded = store.get("slice", {})
    assert torch.equal(loaded.value["head"], big[:10]) and loaded.value["head"].device.type == "cpu"
    torch.nn.Linear(3, 2).load_state_dict(loaded.value["sd"])
    with pytest.raises(TypeError, match=r"value\['model'\]"):
        store.put("bad", {}, None, {"model": torch.nn.Linear(2, 2)}, seconds=0.0)
    with pytest.raises(TypeError, match="dict"):
        store.put("bad", {}, None, [1, 2], seconds=0.0)
    assert not (tmp_path / "bad").exists()


def test_default_root(monkeypatch, tmp_path):
    monkeypatch.setenv("ROARKIT_CACHE", str(tmp_path / "c"))
    assert Store().root == tmp_path / "c"
    assert Store(tmp_path / "x").root == tmp_path / "x"
    monkeypatch.delenv("ROARKIT_CACHE")
    assert provenance.repo_root() == REPO  # running from the checkout
    assert Store().root == REPO / ".roarkit-cache"


# ---------------------------------------------------------------- atomicity

def test_no_tmp_left_and_corrupt_or_partial_files_are_not_read(tmp_path, monkeypatch):
    store = Store(tmp_path)
    calls = []

    def compute():
        calls.append(1)
        return {"x": torch.full((100,), float(len(calls)))}

    entry = store.cached("k", {"a": 1}, None, compute)
    assert not list(tmp_path.rglob("*.tmp"))
    # a half-written temp file for another key, named like the store's own: ignored, no warning
    other = store.key("k", {"a": 2})
    partial = store.path("k", other).parent / f".{other}.pt.999999.deadbeef.tmp"
    partial.parent.mkdir(parents=True, exist_ok=True)
    partial.write_bytes(entry.path.read_bytes()[:500])
    planted = entry.path.parent / ".x.tmp"
    planted.write_bytes(b"garbage")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert store.get("k", {"a": 2}) is None
        assert [e.key for e in store.entries()] == [entry.key]
    # a truncated final file (damaged by something else): warns, recomputes, overwrites
    entry.path.write_bytes(entry.path.read_bytes()[:300])
    with pytest.warns(RuntimeWarning, match=re.escape(entry.path.name)):
        again = store.cached("k", {"a": 1}, None, compute)
    assert not again.hit and len(calls) == 2 and torch.equal(again.value["x"], torch.full((100,), 2.0))
    assert store.get("k", {"a": 1}).hit
    # young temp files are left alone (their writer may be alive); old ones are swept on the next put
    assert planted.exists() and partial.exists()
    old = time.time() - 2 * results.STALE_TMP_SECONDS
    os.utime(planted, (old, old))
    # this pid space's temp files: a dead writer's (a process that ran and exited, and a zombie) are swept at
    # once, a live writer's stay; another host's young one stays (its writer may run there), and so does one
    # of a container with this host name but its own pid namespace (its pids are not ours)
    host = pid_space()
    exited = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                            text=True, check=True)
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    while psutil.Process(zombie.pid).status() != psutil.STATUS_ZOMBIE:
        time.sleep(0.01)
    tmp = lambda writer, pid: entry.path.parent / f".{other}.pt.{writer}.{pid}.0123abcd.tmp"
    dead, undead, live, elsewhere = (tmp(host, int(exited.stdout)), tmp(host, zombie.pid),
                                     tmp(host, os.getpid()), tmp("another-host.example", int(exited.stdout)))
    twin = tmp(f"{socket.gethostname()}-00000000", int(exited.stdout))
    for f in (dead, undead, live, elsewhere, twin):
        f.write_bytes(b"half")
    store.put("k", {"a": 1}, None, {"y": 1}, seconds=0.0)
    zombie.wait()
    assert not planted.exists() and partial.exists()
    assert not dead.exists() and not undead.exists() and live.exists() and elsewhere.exists() and twin.exists()
    # and the store's own temp names carry this pid space and pid, so a killed writer's leftover is swept
    seen = []
    with monkeypatch.context() as m:
        m.setattr(results.os, "replace", lambda src, dst: seen.append(Path(src).name) or os.rename(src, dst))
        store.put("k", {"a": 3}, None, {"y": 1}, seconds=0.0)
    assert len(seen) == 2 and all(f".{host}.{os.getpid()}." in n for n in seen), seen


def test_pid_space_tells_apart_containers_with_one_host_name(monkeypatch):
    """Same host name, another pid namespace or another boot: another pid space (its pids are not ours)."""
    here = pid_space()
    assert here.startswith(socket.gethostname() + "-") and re.fullmatch(r"[0-9a-f]{8}", here.rsplit("-", 1)[1])
    try:
        with monkeypatch.context() as m:
            pid_space.cache_clear()
            assert pid_space() == here  # a pure function of host, boot and namespace
            pid_space.cache_clear()
            m.setattr(provenance.os, "readlink", lambda p: "pid:[1]" if p == "/proc/self/ns/pid" else p)
            assert pid_space() != here and pid_space().startswith(socket.gethostname() + "-")
    finally:
        pid_space.cache_clear()
    assert pid_space() == here


def _popen_worker(*args):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, str(WORKER), *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)


def _wait_for(predicate, proc, timeout=60.0, poll=0.002):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(poll)
    raise AssertionError("timed out waiting for the worker")


def test_resume_after_sigkill_matches_uninterrupted_run(tmp_path):
    n, k = 8, 3
    killed, reference = tmp_path / "killed", tmp_path / "reference"
    ref = _popen_worker(reference, n)
    proc = _popen_worker(killed, n)
    assert _wait_for(lambda: len(final_files(killed)) >= k, proc, poll=0.02), proc.communicate()
    proc.send_signal(signal.SIGKILL)
    out, _ = proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    present = final_files(killed)
    assert k <= len(present) < n

    rerun = _popen_worker(killed, n)
    out, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err
    computed = [int(m) for m in re.findall(r"^computed (\d+)$", out, re.M)]
    assert len(computed) == n - len(present) and len(set(computed)) == len(computed)
    assert f"done hits={len(present)} misses={n - len(present)}" in out
    ref_out, ref_err = ref.communicate(timeout=120)
    assert ref.returncode == 0, ref_err
    assert len(re.findall(r"^computed \d+$", ref_out, re.M)) == n

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every final entry loads
        got = {e.key: e for e in Store(killed).entries(values=True)}
        want = {e.key: e for e in Store(reference).entries(values=True)}
    assert len(got) == n and got.keys() == want.keys()
    assert sorted(e.provenance["params"]["i"] for e in got.values()) == list(range(n))
    recomputed = {e.provenance["params"]["i"] for e in got.values() if e.path not in present}
    assert recomputed == set(computed)
    for key in got:
        assert tensors_bitwise_equal(got[key].value, want[key].value), got[key].provenance["params"]


def test_kill_during_large_write_never_exposes_partial_file(tmp_path):
    """SIGKILL while torch.save streams a 50 MB value: the final name never holds a partial file."""
    for attempt in range(3):
        root = tmp_path / f"try{attempt}"
        proc = _popen_worker(root, "--big", 50)
        _wait_for(lambda: root.exists() and any(root.rglob(".*.pt.*.tmp")), proc)
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        tmps = list(root.rglob(".*.pt.*.tmp"))
        if proc.returncode == -signal.SIGKILL and tmps:
            break  # killed before the rename: the interesting case
    else:
        pytest.fail("never managed to kill the worker between temp-file creation and rename")
    assert final_files(root) == []  # the half-written data only ever lived under the temp name
    # The sidecar is written before the .pt, so a .pt never lacks its sidecar: the killed write left a
    # lone sidecar, which no reader takes for an entry (list(store) == [] below).
    assert len(list(root.glob("big/??/*.json"))) == 1
    store = Store(root)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert store.get("big", {"mb": 50}, code=_store_worker.CODE) is None and list(store) == []
        entry = store.cached("big", {"mb": 50}, None, lambda: _store_worker.big(50), code=_store_worker.CODE)
    # never read; the write into its directory swept it at once, its writer (this host's) being dead
    assert not entry.hit and store.misses == 1 and not tmps[0].exists()
    assert tensors_bitwise_equal(torch.load(entry.path, weights_only=True)["value"], _store_worker.big(50))


# ---------------------------------------------------------------- provenance

def test_environment_and_device():
    env = provenance.environment("cpu")
    assert set(env) >= {"device", "versions", "commit", "platform", "hostname"}
    assert re.fullmatch(r"CPU: .+ \(\d+ threads\)", env["device"])
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    if torch.cuda.is_available():
        assert provenance.device_name("cuda").endswith("(cuda:0)")
    v = env["versions"]
    assert v["torch"] == torch.__version__ and v["roarkit"] == roarkit.__version__ and v["numpy"] == np.__version__
    assert {"python", "torchvision", "captum"} <= set(v)
    assert isinstance(env["commit"], str) and env["commit"]


def test_versions_reports_missing_package(monkeypatch):
    monkeypatch.setattr(provenance, "_PACKAGES", {**provenance._PACKAGES, "no_such_pkg_zz": "no-such-pkg-zz"})
    monkeypatch.setattr(provenance, "_VERSIONS", None)
    assert provenance.versions()["no_such_pkg_zz"] == "not installed"


def _git(cwd, *args):
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args], cwd=cwd,
                          check=True, capture_output=True, text=True).stdout.strip()


def test_git_commit(tmp_path):
    assert provenance.git_commit(tmp_path) == "unknown"  # not a checkout
    _git(tmp_path, "init", "-q")
    assert provenance.git_commit(tmp_path, refresh=True) == "unknown"  # no commit yet
    (tmp_path / "a.py").write_text("x = 1\n")
    _git(tmp_path, "add", "a.py")
    _git(tmp_path, "commit", "-q", "-m", "first")
    head = _git(tmp_path, "rev-parse", "--short", "HEAD")
    assert provenance.git_commit(tmp_path, refresh=True) == head
    (tmp_path / "untracked.txt").write_text("ignored for dirtiness\n")
    assert provenance.git_commit(tmp_path, refresh=True) == head
    (tmp_path / "a.py").write_text("x = 2\n")
    assert provenance.git_commit(tmp_path) == head  # cached per process
    assert provenance.git_commit(tmp_path, refresh=True) == head + "-dirty"
    assert isinstance(provenance.git_commit(), str)  # this checkout (may have no commit yet)


def test_scoped_code_version_follows_imports_only(tmp_path):
    """A unit's code version covers its modules and what they import, not other chapters' code."""
    pkg = _package_copy(tmp_path)
    deps = codeversion.dependencies(["roarkit.core.training"], pkg)
    assert deps == ["roarkit.core.models", "roarkit.core.training"]  # training imports models
    before = codeversion.code_version(["roarkit.core.training"], pkg)
    (pkg / "core" / "similarity.py").write_text((pkg / "core" / "similarity.py").read_text() + "\n# unrelated edit\n")
    assert codeversion.code_version(["roarkit.core.training"], pkg) == before
    (pkg / "core" / "models.py").write_text((pkg / "core" / "models.py").read_text() + "\n# dependency edit\n")
    assert codeversion.code_version(["roarkit.core.training"], pkg) != before
    # relative imports resolve too, and a package's facade pulls in what it re-exports
    (pkg / "experiments" / "rel.py").write_text("from ..core import removal\nfrom . import base_models\n")
    assert {"roarkit.core.removal", "roarkit.experiments.base_models"} <= set(
        codeversion.dependencies(["roarkit.experiments.rel"], pkg))
    assert "roarkit.core.saliency.methods" in codeversion.dependencies(["roarkit.core.saliency"], pkg)
    # the book's imports are not followed: presentation never enters a unit's version
    (pkg / "book" / "x.py").write_text("from roarkit.core import similarity\n")
    assert codeversion.dependencies(["roarkit.book.x"], pkg) == []


def test_usage_counts_computed_and_reused_units_once(tmp_path):
    import time as _time

    store = Store(tmp_path)
    usage(reset=True)

    def slow():
        _time.sleep(0.2)
        return {"y": 1}

    store.cached("k", {"a": 1}, None, slow)
    store.cached("k", {"a": 1}, None, slow)  # the same unit again: counted once, as computed
    u = usage(reset=True)
    assert u["computed"] == 1 and u["computed_seconds"] >= 0.2 and u["reused"] == 0
    assert usage() == {"computed": 0, "computed_seconds": 0.0, "reused": 0, "reused_seconds": 0.0, "devices": {}}
    # a new process (a page re-rendered from the store) reuses it, with the seconds it took then
    Store(tmp_path).cached("k", {"a": 1}, None, slow)
    Store(tmp_path).get("k", {"a": 1})
    u = usage()
    assert u["reused"] == 1 and u["reused_seconds"] >= 0.2 and u["computed"] == 0
    rec = {"seconds": 8.0, "units": {"computed": 0, "computed_seconds": 0.0, "reused": 55, "reused_seconds": 850.0}}
    assert page.computed_in(rec) == "; it reused 55 stored unit(s) of work that took 14.2 min to compute"
    assert status.duration(rec) == "8 s (+ 14.2 min in 55 stored units)"
    assert page.computed_in({"seconds": 3}) == "" and status.duration({"seconds": 3.0}) == "3 s"  # older records


def test_the_provenance_block_names_the_devices_that_computed_units_when_one_is_not_the_pages(tmp_path):
    """A page re-executed on a CPU from units a GPU computed says so; units on the page's own device add nothing."""
    store = Store(tmp_path)
    store.put("k", {"a": 1}, None, {"y": 1}, seconds=1.0)  # this process's device: the CPU
    store.put("k", {"a": 2}, None, {"y": 2}, seconds=1.0)
    gpu = store.put("k", {"a": 3}, None, {"y": 3}, seconds=1.0)
    sidecar = json.loads(gpu.path.with_suffix(".json").read_text())
    sidecar["device"] = "NVIDIA H200 (cuda:0)"  # as the GPU machine's sidecar reads
    gpu.path.with_suffix(".json").write_text(json.dumps(sidecar))
    obj = torch.load(gpu.path, weights_only=True)
    obj["provenance"]["device"] = sidecar["device"]
    torch.save(obj, gpu.path)
    cpu = provenance.device_name("cpu")
    usage(reset=True)
    for a in (1, 2):
        Store(tmp_path).get("k", {"a": a})
    rec = {"device": cpu, "units": usage()}
    assert rec["units"]["devices"] == {cpu: 2} and page._unit_devices(rec) == ""
    Store(tmp_path).get("k", {"a": 3})
    rec = {"device": cpu, "units": usage(reset=True)}
    assert rec["units"]["devices"] == {cpu: 2, "NVIDIA H200 (cuda:0)": 1}
    assert page._unit_devices(rec) == f"; its units of work were computed on {cpu} × 2, NVIDIA H200 (cuda:0) × 1"


def test_a_resumable_unit_gets_a_checkpoint_resumes_from_it_and_the_store_removes_it(tmp_path):
    """An interrupted long unit keeps its checkpoint; the rerun resumes there, and once its entry is
    written the checkpoint is gone. The checkpoint file is no part of the key."""
    from roarkit.store import Unit
    from roarkit.store.executor import InProcess, UnitError
    store = Store(tmp_path / "store")
    key = store.key("count", {"steps": 5}, None, _store_worker.CODE)
    ck = store.checkpoint("count", key)
    assert ck.parent == tmp_path / "store" / ".checkpoints" / "count"
    unit = Unit("count", {"steps": 5}, None, _store_worker.counting, (5,), {"stop_at": 3}, code=_store_worker.CODE,
                resumable=True)
    with pytest.raises(UnitError, match="interrupted after 3 steps"):
        store.map([unit], executor=InProcess())
    assert torch.load(ck, weights_only=True) == {"done": 3} and list(store) == []
    # a checkpoint writer killed mid-write (training.py's temp names: no pid space) leaves a temp file; once
    # it is STALE_TMP_SECONDS old a finished resumable unit sweeps it, a young one (a live writer) stays
    killed, writing = (ck.parent / f".{'0' * 64}.pt.{pid}.0123abcd.tmp" for pid in (999999, os.getpid()))
    for f in (killed, writing):
        f.write_bytes(b"half")
    old = time.time() - 2 * results.STALE_TMP_SECONDS
    os.utime(killed, (old, old))
    entry = store.map([replace(unit, kwargs={})], executor=InProcess())[0]
    assert entry.value == {"steps": 5, "resumed_from": 3, "checkpoint": str(ck)} and entry.key == key
    assert not ck.exists() and [e.key for e in store] == [key]  # the listing never shows checkpoints
    assert not killed.exists() and writing.exists()
    # a unit that is not resumable gets no checkpoint
    plain = store.map([Unit("count", {"steps": 2}, None, _store_worker.counting, (2,), code=_store_worker.CODE)],
                      executor=InProcess())[0]
    assert plain.value == {"steps": 2, "resumed_from": 0, "checkpoint": ""}
    assert list((tmp_path / "store" / ".checkpoints").rglob("*.pt")) == []

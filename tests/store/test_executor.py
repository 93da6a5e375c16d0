"""roarkit.store.executor on real Ray (loopback only): the executor never changes a result, a two-node
cluster on this machine, faults (a killed worker, a stopped node, a killed driver, a unit that raises)
and bad settings.

The page is ``data_and_models`` with the quick profile: five trainings (two base models and the batch-size
sweep's other three), about 15 s in-process. Every run writes its own store and book root.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import torch

from roarkit.book import glued
from roarkit.core import data, training
from roarkit.experiments import base_models
from roarkit.store import Store, UnitError
from roarkit.store.executor import InProcess, RayExecutor
from roarkit.store.settings import Settings

PAGE = "data_and_models"
UNITS = 5  # trainings of the page's quick profile
RAY = str(Path(sys.executable).parent / "ray")
TIMING = ("seconds", "created")  # what differs from run to run in a value or a sidecar


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """The environment of every page run and cluster here: token auth on (Ray 2.60's default), no
    executor settings inherited from the caller."""
    out = {k: v for k, v in os.environ.items() if not k.startswith("ROARKIT_") or k == "ROARKIT_DATA"}
    out["RAY_AUTH_MODE"] = "token"
    out["RAY_USAGE_STATS_ENABLED"] = "0"
    out.setdefault("ROARKIT_DATA", str(Path(__file__).resolve().parents[3] / "shared" / "data"))
    return out


def start_page(tmp: Path, name: str, env: dict, *opts: str, **extra) -> tuple[subprocess.Popen, Path, Path]:
    cache, root = tmp / f"cache-{name}", tmp / f"root-{name}"
    proc = subprocess.Popen([sys.executable, "-m", "roarkit", "run", PAGE, "--profile", "quick", "--root", str(root),
                             "--no-build", *opts], env={**env, "ROARKIT_CACHE": str(cache), **extra},
                            stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    return proc, cache, root


def run_page(tmp: Path, name: str, env: dict, *opts: str, **extra) -> tuple[Path, Path]:
    proc, cache, root = start_page(tmp, name, env, *opts, **extra)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    (root / "output.txt").write_text(out)
    return cache, root


def values(cache: Path, killed: set[int] = frozenset()) -> dict:
    """Every stored entry's value by key, timings left out; also checks each entry is whole and once, and
    that no temp file is left but those of the ``killed`` writers (pids), which a kill mid-write leaves."""
    out = {}
    pts = sorted(cache.glob("*/??/*.pt"))
    left = [p.name for p in cache.glob("*/??/.*.tmp")]
    assert all(int(n.split(".")[-3]) in killed for n in left), f"a half-written entry was left behind: {left}"
    for pt in pts:
        entry = torch.load(pt, weights_only=True)
        assert entry["provenance"]["key"] == pt.stem == json.loads(pt.with_suffix(".json").read_text())["key"]
        out[pt.stem] = strip(entry["value"])
    return out


def strip(value):
    if isinstance(value, dict):
        return {k: strip(v) for k, v in value.items() if k not in TIMING}
    return value


def same(a, b) -> bool:
    """Bitwise equality of two values (tensors by torch.equal)."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def nodes(cache: Path) -> list[dict]:
    return [json.loads(p.read_text())["node"] for p in sorted(cache.glob("*/??/*.json"))]


def numbers(root: Path) -> dict:
    return glued.glued(root / "book" / f"{PAGE}.ipynb")


def provenance(root: Path) -> dict:
    nb = json.loads((root / "book" / f"{PAGE}.ipynb").read_text())
    for cell in nb["cells"]:
        for o in cell.get("outputs", []):
            if o.get("metadata", {}).get("scrapbook", {}).get("name") == "provenance":
                return next(v for k, v in o["data"].items() if "provenance+json" in k)
    raise AssertionError("no provenance glued")


@pytest.fixture(scope="module")
def reference(tmp_path_factory, env):
    """The page run in-process: what every executor must reproduce."""
    cache, root = run_page(tmp_path_factory.mktemp("ref"), "ref", env)
    ref = values(cache)
    assert len(ref) == UNITS
    assert provenance(root)["executor"]["executor"] == "in-process"
    return ref, numbers(root)


@pytest.mark.parametrize("workers", [1, 2])
def test_ray_gives_bitwise_the_in_process_entries_and_numbers(reference, workers, tmp_path, env):
    cache, root = run_page(tmp_path, f"ray{workers}", env, "--executor", "ray", "--workers", str(workers),
                           ROARKIT_PROGRESS="1")
    # one bar over the units, on the command's terminal (the kernel's own stderr), never in the notebook
    assert "trainings: 100%" in (root / "output.txt").read_text()
    assert "trainings: " not in (root / "book" / f"{PAGE}.ipynb").read_text()
    ref_values, ref_numbers = reference
    got = values(cache)
    assert got.keys() == ref_values.keys()
    assert all(same(got[k], ref_values[k]) for k in got), "an entry differs from the in-process run"
    assert numbers(root) == ref_numbers
    rec = provenance(root)
    assert rec["executor"]["executor"] == "ray" and rec["executor"]["workers"] == workers
    assert rec["executor"]["nodes"] == 1 and sum(rec["executor"]["computed_by"].values()) == UNITS
    assert {n["host"] for n in nodes(cache)} == {socket.gethostname()} and all("ray_node" in n for n in nodes(cache))
    assert all(json.loads(p.read_text())["threads"] == 1 for p in cache.glob("*/??/*.json"))


def ray_workers_running(parent: psutil.Process) -> list[psutil.Process]:
    """Ray worker processes under ``parent`` now running a unit (Ray titles them ``ray::_ray_task``): never
    one of another Ray on this machine (a long run beside the tests)."""
    try:
        procs = parent.children(recursive=True)
    except psutil.Error:
        return []
    out = []
    for p in procs:
        try:
            if p.cmdline() and p.cmdline()[0].startswith("ray::_ray_task"):
                out.append(p)
        except psutil.Error:
            pass
    return out


def wait_for(condition, proc: subprocess.Popen, timeout: float = 120, what: str = ""):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = condition()
        if found:
            return found
        if proc.poll() is not None:
            pytest.fail(f"the page ended before {what}: {proc.stdout.read()}")
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def test_a_worker_killed_mid_run_loses_nothing(reference, tmp_path, env):
    proc, cache, root = start_page(tmp_path, "kill-worker", env, "--executor", "ray", "--workers", "2")
    victim = wait_for(lambda: ray_workers_running(psutil.Process(proc.pid)), proc, what="a unit to start")[0]
    victim.send_signal(signal.SIGKILL)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    got = values(cache)
    assert got.keys() == reference[0].keys() and all(same(got[k], reference[0][k]) for k in got)
    assert numbers(root) == reference[1]


def test_a_killed_driver_resumes_from_the_store(reference, tmp_path, env):
    proc, cache, root = start_page(tmp_path, "kill-driver", env, "--executor", "ray", "--workers", "2")
    wait_for(lambda: list(cache.glob("*/??/*.pt")), proc, what="the first stored unit")
    family = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    for p in family:  # the CLI, papermill's kernel (Ray's driver) and the local Ray it started
        try:
            p.kill()
        except psutil.Error:
            pass
    proc.wait(timeout=60)
    before = values(cache, killed={p.pid for p in family})  # killed mid-write, it may leave its temp file
    assert 1 <= len(before) < UNITS, "the driver was not killed mid-run"
    cache2, root2 = run_page(tmp_path, "kill-driver", env, "--executor", "ray", "--workers", "2")
    assert cache2 == cache
    got = values(cache)  # the rerun wrote into that directory and swept the dead writer's temp file
    assert got.keys() == reference[0].keys() and all(same(got[k], reference[0][k]) for k in got)
    units = provenance(root2)["units"]
    assert units["reused"] == len(before) and units["computed"] == UNITS - len(before)
    assert numbers(root2) == reference[1]


def tiny_units(mnist_dir, bad: bool):
    ds = data.load("mnist", root=mnist_dir, n_train=200, n_test=50, seed=0)
    cfg = training.TrainConfig(epochs=1, batch_size=32)
    units = [base_models.fit_unit("roar", ds, cfg, seed=s) for s in (0, 1)]
    return units + [base_models.fit_unit("no_such_model", ds, cfg, seed=0)] if bad else units


@pytest.mark.parametrize("backend", ["in-process", "ray"])
def test_a_unit_that_raises_names_itself_and_keeps_the_finished_ones(backend, mnist_dir, tmp_path):
    import ray  # a local Ray in this process (ray.init's own default authentication)
    store = Store(tmp_path)
    ex = InProcess() if backend == "in-process" else RayExecutor(Settings(executor="ray", workers=2))
    try:
        with pytest.raises(UnitError) as err:
            store.map(tiny_units(mnist_dir, bad=True), executor=ex)
    finally:
        ray.shutdown()
    msg = str(err.value)
    assert "'train' unit with parameters" in msg and '"model": "no_such_model"' in msg and '"seed": 0' in msg
    assert "unknown model" in msg and "are stored; a rerun resumes from them" in msg
    assert len(list(store.entries("train"))) == 2  # both good trainings kept
    again = store.map(tiny_units(mnist_dir, bad=False), executor=InProcess())
    assert all(e.hit for e in again)


def test_workers_may_write_the_store_themselves(mnist_dir, tmp_path):
    import ray
    from roarkit.store import usage
    store = Store(tmp_path)
    usage(reset=True)
    try:
        entries = store.map(tiny_units(mnist_dir, bad=False),
                            executor=RayExecutor(Settings(executor="ray", workers=2, worker_writes=True)))
    finally:
        ray.shutdown()
    assert [e.hit for e in entries] == [False, False] and all(e.value["state_dict"] for e in entries)
    sidecars = [json.loads(p.read_text()) for p in tmp_path.glob("train/??/*.json")]
    assert len(sidecars) == 2 and all("ray_node" in s["node"] and s["threads"] == 1 for s in sidecars)
    assert usage()["computed"] == 2
    assert all(e.hit for e in store.map(tiny_units(mnist_dir, bad=False), executor=InProcess()))
    fresh = Store(tmp_path / "fresh").map(tiny_units(mnist_dir, bad=False), executor=InProcess())
    assert all(same(strip(a.value), strip(b.value)) for a, b in zip(entries, fresh))


# -- a two-node cluster on this machine ----------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster(env):
    """``ray start --head --num-cpus 1 --port P``, then a second node ``ray start --address 127.0.0.1:P
    --num-cpus 1`` (kept in the foreground with ``--block`` so that a test can stop it alone)."""
    port = free_port()
    subprocess.run([RAY, "start", "--head", "--num-cpus", "1", "--port", str(port), "--include-dashboard", "false"],
                   env=env, check=True, capture_output=True, timeout=120)
    second = subprocess.Popen([RAY, "start", "--address", f"127.0.0.1:{port}", "--num-cpus", "1", "--block"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        end = time.monotonic() + 90
        while True:
            status = subprocess.run([RAY, "status", "--address", f"127.0.0.1:{port}"], env=env, capture_output=True,
                                    text=True, timeout=60).stdout
            if status.split("Pending:")[0].count(" node_") == 2:
                break
            assert time.monotonic() < end, f"the second node never joined:\n{status}"
            time.sleep(1)
        yield f"127.0.0.1:{port}", second
    finally:
        second.terminate()
        try:
            second.wait(timeout=30)
        except subprocess.TimeoutExpired:
            second.kill()
        stop_cluster(port)


def stop_cluster(port: int) -> None:
    """Stop the Ray processes of the cluster at ``port`` and what they started, and no other: ``ray stop``
    would also end every other Ray on this machine (a long run beside the tests)."""
    def ours(p):
        try:
            return any(a.endswith(f":{port}") or a.endswith(f"={port}") for a in p.cmdline())
        except psutil.Error:
            return False
    procs = [p for p in psutil.process_iter() if p.pid != os.getpid() and ours(p)]
    for p in list(procs):
        try:
            procs += p.children(recursive=True)
        except psutil.Error:
            pass
    for p in procs:
        try:
            p.terminate()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(procs, timeout=20)
    for p in alive:
        try:
            p.kill()
        except psutil.Error:
            pass


def test_a_two_node_cluster_computes_units_on_both_nodes(reference, cluster, tmp_path, env):
    address, _ = cluster
    cache, root = run_page(tmp_path, "cluster", env, "--executor", "ray", "--address", address)
    got = values(cache)
    assert got.keys() == reference[0].keys() and all(same(got[k], reference[0][k]) for k in got)
    assert len({n["ray_node"] for n in nodes(cache)}) == 2, nodes(cache)
    rec = provenance(root)["executor"]
    assert rec["nodes"] == 2 and rec["workers"] == 2 and rec["address"] == address


def test_gpus_per_unit_on_a_cluster_without_gpus_is_refused(cluster, tmp_path, env):
    address, _ = cluster
    proc, cache, root = start_page(tmp_path, "gpu", env, "--executor", "ray", "--address", address,
                                   "--gpus-per-unit", "0.25")
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "needs GPUs, and the Ray cluster at" in out and "leave it out" in out
    assert not cache.exists() and not root.exists()


def test_the_second_node_stopped_mid_run_loses_nothing(reference, cluster, tmp_path, env):
    address, second = cluster
    proc, cache, root = start_page(tmp_path, "stop-node", env, "--executor", "ray", "--address", address)
    wait_for(lambda: ray_workers_running(psutil.Process(second.pid)), proc, what="a unit on the second node")
    second.terminate()  # `ray start --block` stops its node's processes on SIGTERM
    second.wait(timeout=60)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    got = values(cache)
    assert got.keys() == reference[0].keys() and all(same(got[k], reference[0][k]) for k in got)
    assert numbers(root) == reference[1]


# -- bad settings: one clear message each, nothing written -----------------------------------------
@pytest.mark.parametrize("opts, message", [
    (["--executor", "dask"], "unknown executor 'dask' (--executor (ROARKIT_EXECUTOR)); use 'in-process' or 'ray'"),
    (["--executor", "ray", "--workers", "0"], "--workers (ROARKIT_WORKERS) must be at least 1, got 0"),
    (["--executor", "ray", "--address", "127.0.0.1:{closed}"], "cannot reach a Ray cluster at 127.0.0.1:{closed}"),
    (["--workers", "2"], "--workers (ROARKIT_WORKERS) applies to the Ray executor only"),
])
def test_bad_settings_get_one_clear_message_and_run_nothing(opts, message, tmp_path, env):
    closed = free_port()
    opts = [o.format(closed=closed) for o in opts]
    proc, cache, root = start_page(tmp_path, "bad", env, *opts)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2 and out.count("\n") == 1 and out.startswith("roarkit: ")
    assert message.format(closed=closed) in out
    assert not cache.exists() and not root.exists()


def test_gpus_per_unit_needs_a_gpu_here():
    local = Settings(executor="ray", gpus_per_unit=0.25)
    if torch.cuda.device_count():
        assert local.check() == local
    else:
        with pytest.raises(ValueError, match=r"0.25 needs a GPU, and this machine has none .* leave it out"):
            local.check()
    with pytest.raises(ValueError, match="a fraction in"):
        Settings(executor="ray", gpus_per_unit=1.5).check()


def test_settings_from_the_environment_are_checked_the_same_way(env):
    bad = Settings.from_env({"ROARKIT_EXECUTOR": "ray", "ROARKIT_WORKERS": "0"})
    with pytest.raises(ValueError, match="must be at least 1"):
        bad.check()
    with pytest.raises(ValueError, match="must be an integer"):
        Settings.from_env({"ROARKIT_WORKERS": "two"})
    s = Settings.from_env({"ROARKIT_EXECUTOR": "ray", "ROARKIT_WORKERS": "3", "ROARKIT_WORKER_WRITES": "1"})
    assert s.check() == Settings(executor="ray", workers=3, worker_writes=True)
    assert Settings.from_env(s.to_env()) == s


# -- allocator settings of the processes that run units -------------------------------------------------
def test_malloc_env_gives_roarkit_settings_keeps_the_users_and_can_be_turned_off():
    from roarkit.store.executor import MALLOC, malloc_env
    from roarkit.store.settings import ExecutorError
    assert malloc_env({}) == MALLOC == {"MALLOC_MMAP_THRESHOLD_": "33554432",
                                        "MALLOC_TRIM_THRESHOLD_": "68719476736",
                                        "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}
    assert malloc_env({"MALLOC_MMAP_THRESHOLD_": "1024"}) == {k: v for k, v in MALLOC.items()
                                                               if k != "MALLOC_MMAP_THRESHOLD_"}
    assert malloc_env({"ROARKIT_MALLOC": "glibc"}) == {} and malloc_env({"ROARKIT_MALLOC": " Roarkit "}) == MALLOC
    with pytest.raises(ExecutorError, match="ROARKIT_MALLOC='jemalloc': use 'roarkit'.*or 'glibc'"):
        malloc_env({"ROARKIT_MALLOC": "jemalloc"})


@pytest.mark.parametrize("choice", ["roarkit", "glibc"])
def test_ray_workers_start_with_the_allocator_settings(choice, monkeypatch):
    """The workers' environment holds MALLOC (or nothing with ROARKIT_MALLOC=glibc); the driver's own
    environment is left alone. (test_workers_may_write_the_store_themselves compares their entries
    bitwise with in-process ones computed without these settings.)"""
    import ray
    import _store_worker
    from roarkit.store import Unit
    from roarkit.store.executor import MALLOC
    for k in MALLOC:
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("ROARKIT_MALLOC", choice)
    ray.cloudpickle.register_pickle_by_value(_store_worker)
    unit = Unit("env", {}, None, _store_worker.malloc_environment)
    try:
        seen = [done.value for _, done in RayExecutor(Settings(executor="ray", workers=1)).run([unit])]
    finally:
        ray.shutdown()
        ray.cloudpickle.unregister_pickle_by_value(_store_worker)
    assert seen == [MALLOC if choice == "roarkit" else dict.fromkeys(MALLOC)]
    assert all(k not in os.environ for k in MALLOC)

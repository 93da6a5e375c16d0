"""The grid, IG and SGT/SMOOT benchmarks run end to end at smoke settings and write the JSON they promise."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "benchmarks"


def run(script: str, out, *args: str) -> dict:
    cmd = [sys.executable, str(BENCH / script), "--device", "cpu", "--threads", "1", "--out", str(out), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    files = list(out.glob("*.json"))
    assert len(files) == 1, files
    result = json.loads(files[0].read_text())
    assert result["environment"]["device"].startswith("CPU")
    datas = [result["data"]] if "data" in result else [row["data"] for row in result["sizes"]]  # sweep: per size
    assert all(f["md5"] for d in datas for f in d["files"]) and {d["name"] for d in datas} == {"fashion_mnist"}
    return result, proc.stdout


def test_bench_ig_smoke(tmp_path, fashion_dir):
    r, printed = run("bench_ig.py", tmp_path, "--n", "700", "--ref-images", "128", "--steps", "4",
                     "--train-epochs", "0")
    assert tmp_path.joinpath("cpu-ig-fashionmnist0.7k.json").exists()
    assert r["images"] == 700 and r["steps"] == 4
    assert r["reference"]["seconds"] > 0 and r["roarkit"]["seconds"] > 0 and r["ratio"] > 0
    assert r["reference"]["scaled"] is True and r["reference"]["images_timed"] == 128
    assert "SCALED" in printed
    eq = r["equal_work"]
    # the same IG on the same images, batched differently (64 vs 250 images per call): float32 convolutions
    # of an untrained net then differ by up to 0.4 % of the largest attribution on this CPU (measured 1.9e-5
    # of 4.8e-3, also with the code before the layered layout); a wrong baseline or target differs by far more
    assert eq["max_abs_attribution"] > 0 and eq["max_abs_difference"] <= 1e-2 * eq["max_abs_attribution"]
    assert r["roarkit"]["shapes"] == {"train": [600, 784], "test": [100, 784]}


def test_bench_sgt_smoke(tmp_path, fashion_dir):
    r, printed = run("bench_sgt.py", tmp_path, "--epochs", "1", "--n-train", "600", "--n-test", "300",
                     "--ref-epochs", "1")
    assert tmp_path.joinpath("cpu-sgt-fashionmnist0.6k.json").exists()
    assert set(r["trainings"]) == {"sgt", "smoot"}
    for row in r["trainings"].values():
        ref, mine = row["reference"], row["roarkit"]
        assert ref["seconds"] > 0 and mine["seconds"] > 0 and row["ratio"] > 0
        assert ref["scaled"] is False and ref["epochs_timed"] == 1
        assert ref["n_train"] == mine["n_train"] == 540  # the same 90 % split: equal work
        assert 0 <= ref["test_accuracy"] <= 1 and 0 <= mine["test_accuracy"] <= 1
    assert r["config"]["batch_size"] == 256 and r["config"]["optimizer"] == "adadelta"


def test_bench_grid_smoke(tmp_path, fashion_dir):
    r, printed = run("bench_grid.py", tmp_path, "--dataset", "fashion_mnist", "--n-train", "3600",
                     "--n-test", "200", "--epochs", "1", "--ref-models", "2")
    assert tmp_path.joinpath("cpu-grid-fashionmnist3k.json").exists()
    assert r["settings"]["grid_models"] == 55 and len(r["accuracy"]["engine"]) == 55
    assert r["reference"]["scaled"] is True and len(r["reference"]["sample"]) == 2 and "SCALED" in printed
    assert r["ratio"] == r["reference"]["seconds"] / r["engine"]["seconds"] > 0
    # equal work: the reference's fully trained cells sit beside the engine's same cells
    assert len(r["accuracy"]["reference_fully_trained"]) == 2
    assert set(r["accuracy"]["engine_roar_curve"]) == {"base@0"} | {f"{a}@{t}" for a in ("ig", "random")
                                                                     for t in (10, 30, 50, 70, 90)}


def test_bench_grid_sizes_and_variants(tmp_path, fashion_dir):
    r, printed = run("bench_grid.py", tmp_path / "sizes", "--dataset", "fashion_mnist", "--sizes", "320", "640",
                     "--n-test", "100", "--epochs", "1")
    assert [row["n_train"] for row in r["sizes"]] == [320, 640]
    assert all(row["seconds"] > 0 and row["peak_rss_mb"] > 0 for row in r["sizes"]) and "s of training per 1k" in printed
    r, printed = run("bench_grid.py", tmp_path / "variants", "--dataset", "fashion_mnist", "--variants", "bf16",
                     "--n-train", "320", "--n-test", "100", "--epochs", "1")
    runs = r["variants"]
    assert [v["variant"] for v in runs] == ["fp32", "bf16", "fp32"]
    assert runs[0]["accuracies"] == runs[2]["accuracies"]  # an fp32 rerun is exact: changes are the variant's
    assert len(runs[1]["accuracies"]) == 55 and runs[1]["speedup_vs_fp32"] > 0
    assert runs[1]["max_abs_accuracy_diff_vs_fp32"] == max(abs(a - b) for a, b in zip(runs[1]["accuracies"],
                                                                                       runs[0]["accuracies"]))


def test_bench_grid_tf32_needs_cuda(tmp_path, fashion_dir):
    cmd = [sys.executable, str(BENCH / "bench_grid.py"), "--device", "cpu", "--variants", "tf32", "--n-train", "320",
           "--dataset", "fashion_mnist", "--out", str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 2 and "tf32 is a CUDA tensor-core format" in proc.stderr
    assert "Traceback" not in proc.stderr  # one message, before any data is loaded
    assert not list(tmp_path.glob("*.json"))


def test_gpu_script_says_what_is_missing(tmp_path):
    (tmp_path / "benchmarks").mkdir()
    script = tmp_path / "benchmarks" / "gpu.sh"
    script.write_text((BENCH / "gpu.sh").read_text())
    proc = subprocess.run(["bash", str(script), "run"], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 2 and "run 'bash benchmarks/gpu.sh bundle'" in proc.stderr
    proc = subprocess.run(["bash", str(script), "bogus"], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.startswith("usage: bash benchmarks/gpu.sh bundle | check | run")


def test_bench_executor_smoke(tmp_path, mnist_dir):
    """In-process and Ray (2 workers) side by side: the same entries, bitwise, and the figures it promises."""
    cmd = [sys.executable, str(BENCH / "bench_executor.py"), "--device", "cpu", "--out", str(tmp_path), "--epochs", "1",
           "--n-train", "300", "--n-test", "200", "--chunks", "2", "--chunk-images", "2", "--noop", "3",
           "--no-two-threads"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    r = json.loads((tmp_path / "cpu-executor-mnist0.3k.json").read_text())
    assert r["data"]["name"] == "mnist" and all(f["md5"] for f in r["data"]["files"])
    rows = r["results"]
    assert set(rows) == {f"{w} | {b}" for w in ("trainings", "perturbation chunks", "no-op units")
                         for b in ("in-process", "ray, 2 workers")}
    assert all(row["bitwise_equal_to_in_process"] for name, row in rows.items() if "ray" in name)
    workloads = ("trainings", "perturbation chunks", "no-op units")
    assert [rows[f"{w} | in-process"]["units"] for w in workloads] == [4, 2, 3]
    assert r["speedup"]["trainings"] > 0 and r["ray_overhead_seconds_per_unit"] > 0 and r["ray_start_seconds"] > 0
    assert all(row["peak_mb"] > 0 for row in rows.values())
    # the driver's CPU time: in-process it trains (one thread, so at most its wall time); on Ray the workers do
    t_in, t_ray = rows["trainings | in-process"], rows["trainings | ray, 2 workers"]
    assert 0 < t_in["driver_cpu_seconds"] <= 1.1 * t_in["seconds"] + 1
    assert 0 < t_ray["driver_cpu_seconds"] < 0.5 * t_ray["unit_seconds"]
    assert "speed-up on Ray, 2 workers: trainings" in proc.stdout and "overhead per unit: Ray" in proc.stdout
    from roarkit.store.executor import MALLOC
    assert r["malloc"] == "roarkit" and r["malloc_env"] == MALLOC  # the process restarted with the settings


def test_bench_executor_with_glibcs_allocator_defaults(tmp_path):
    """--malloc glibc: the process runs without roarkit's allocator settings (and says so in its JSON)."""
    from roarkit.store.executor import MALLOC
    cmd = [sys.executable, str(BENCH / "bench_executor.py"), "--device", "cpu", "--out", str(tmp_path), "--epochs", "1",
           "--n-train", "300", "--n-test", "100", "--chunks", "1", "--chunk-images", "1", "--noop", "1",
           "--no-two-threads", "--malloc", "glibc"]
    env = {**os.environ, **MALLOC}  # even when the caller's environment has them
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=REPO, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    r = json.loads((tmp_path / "cpu-executor-mnist0.3k-glibc-malloc.json").read_text())
    assert r["malloc"] == "glibc" and r["malloc_env"] == dict.fromkeys(MALLOC)


def test_estimate_counts_a_pages_units_and_scales_timed_samples(tmp_path, mnist_dir):
    """benchmarks/estimate.py on the quick profiles: every unit of the page counted, each kind timed on a
    sample, and the totals the sum of the rows; a training stored like one of the page's (another seed, half
    the epochs) gives that row's measured cost, scaled by epochs."""
    sys.path.insert(0, str(BENCH))
    try:
        import estimate
    finally:
        sys.path.remove(str(BENCH))
    from roarkit.core import data
    from roarkit.experiments import sgt
    from roarkit.store import Store
    p = estimate.params("sgt_mnist", "quick", {"epochs": 1})
    store = Store(tmp_path / "store")
    st = sgt.study(p, data.load("mnist", root=mnist_dir, n_train=p.n_train, n_test=p.n_test, seed=p.subset_seed), store)
    stored = store.map([st.train_unit("traditional", 5)])[0]
    # roar_benchmark: one ranking and the first retraining group of the page's own grid stored (dummy values)
    from roarkit.core.saliency import AttributionConfig
    from roarkit.experiments import roar_grid
    from roarkit.experiments.base_models import train_config
    q = estimate.params("roar_benchmark", "quick", {})
    first = q.datasets[0]
    ds = data.load(first, n_train=getattr(q, "n_train_by_dataset", {}).get(first, q.n_train) or None,
                   n_test=q.n_test or None, seed=q.subset_seed)
    grid = roar_grid.Grid(ds, train_config(q), methods=tuple(q.estimators), thresholds=tuple(q.thresholds),
                          seeds=tuple(range(q.seeds)), modes=tuple(q.modes),
                          attr=AttributionConfig(ig_steps=q.ig_steps, nt_samples=q.nt_samples), store=store)
    rank = grid._rank_unit(q.estimators[0], 0, None)
    store.put(rank.kind, rank.params, rank.data, {"x": 1}, seconds=1.0, code=rank.code)
    for u in grid.groups()[0]:
        store.put("roar", grid._unit_params(u, False), ds.info, {"x": 1}, seconds=1.0, code=roar_grid.CODE)
    assert estimate.schedule([3.0, 3.0, 3.0], 2) == 6.0 and estimate.schedule([4.0, 1.0, 1.0, 1.0], 2) == 4.0
    for page, kinds in (("sgt_mnist", {"sgt_train traditional", "sgt_train sgt", "sgt_train smoot", "sgt_drop"}),
                        ("roar_benchmark", None)):
        out = tmp_path / f"{page}.json"
        cmd = [sys.executable, str(BENCH / "estimate.py"), page, "--profile", "quick", "--sample", "300",
               "--out", str(out)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=REPO,
                              env={**os.environ, "ROARKIT_CACHE": str(tmp_path / "store")})
        assert proc.returncode == 0, proc.stdout + proc.stderr
        r = json.loads(out.read_text())
        rows = {row["unit"]: row for row in r["rows"]}
        assert all(row["seconds_each"] > 0 for row in rows.values()), rows
        assert abs(r["core_hours"] - sum(row["seconds_total"] for row in rows.values()) / 3600) < 1e-9
        assert f"estimate of {page} --profile quick" in proc.stdout and "core-hours" in proc.stdout
        p = r["params"]
        if kinds:
            assert set(rows) == kinds
            assert rows["sgt_train sgt"]["units"] == p["seeds"] and rows["sgt_drop"]["units"] == 3 * p["seeds"]
            assert rows["sgt_drop"]["to_run"] == 3 * p["seeds"]  # nothing of it in this test's store
            # 540 of the 600 images trained on (60 held out), 1 epoch stored, the page's 2 epochs scaled
            trad = rows["sgt_train traditional"]
            assert trad["measured_each"] == pytest.approx(stored.provenance["seconds"] * p["epochs"] / 1)
            assert trad["measured_from"].startswith("1 stored unit(s)")
            assert not any("measured_each" in rows[k] for k in kinds - {"sgt_train traditional"})
            left = [trad["measured_each"]] + [rows[k]["seconds_each"] for k in ("sgt_train sgt", "sgt_train smoot")
                                              for _ in range(p["seeds"])] + [rows["sgt_drop"]["seconds_each"]] * 3
            assert r["measured"]["core_hours_to_run"] == pytest.approx(sum(left) / 3600)
            assert "measured basis" in proc.stdout
        else:
            assert r["measured"] is None and "measured basis" not in proc.stdout
            models = len(p["estimators"]) * len(p["modes"]) * len(p["thresholds"]) * p["seeds"] \
                + (len(p["estimators"]) * len(p["thresholds"]) * p["seeds"] if p["leakage"] else 0)
            for d in p["datasets"]:
                group = rows[f"{d}: base models and ROAR/KAR retrainings (lock-step groups of 16)"]
                assert group["models"] == models + p["seeds"]
                assert {f"{d}: ranks {m}" for m in p["estimators"]} <= set(rows)
                # what the store holds is not to run: one ranking and one group of the first dataset
                assert group["to_run"] == group["units"] - (d == first)
                assert [rows[f"{d}: ranks {m}"]["to_run"] for m in p["estimators"]] == \
                    [p["seeds"] - (d == first and m == p["estimators"][0]) for m in p["estimators"]]
                assert f"{group['units']} units ({group['to_run']} to run)" in proc.stdout


TINY = {"n_train": 300, "n_test": 100, "epochs": 1, "seeds": 2, "n_drop": 32, "ig_steps": 2, "nt_samples": 2}


def gpu_units(store, *args):
    cmd = [sys.executable, str(BENCH / "gpu_units.py"), "sgt_mnist", "--profile", "quick", "--store", str(store),
           "--poll", "0.5", *[a for k, v in TINY.items() for a in ("--set", f"{k}={v}")], *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=REPO)


def test_gpu_units_share_a_pages_units_among_processes_and_the_page_reads_them_back(tmp_path, mnist_dir):
    """Two processes compute the page's units, each once (a dead process's claim is taken over); the page's own
    run then reads every unit back; past --until nothing is claimed and the exit status says so."""
    sys.path.insert(0, str(BENCH))
    import gpu_units as G
    from roarkit.core import data as D
    from roarkit.experiments import sgt
    from roarkit.store import Store

    store = tmp_path / "store"
    p = G.page_params("sgt_mnist", "quick", [f"{k}={v}" for k, v in TINY.items()])
    ds = D.load(p.dataset, n_train=p.n_train, n_test=p.n_test, seed=p.subset_seed, device="cpu")
    unit = sgt.study(p, ds, Store(store)).train_unit("traditional", 0)
    dead = subprocess.Popen(["true"])
    dead.wait()
    (store / ".claims").mkdir(parents=True)
    (store / ".claims" / Store(store).key(unit.kind, unit.params, unit.data, unit.code)).write_text(str(dead.pid))

    proc = gpu_units(store, "--processes", "2", "--until", str(time.time() + 300))  # a lost unit: exit 3, not a hang
    assert proc.returncode == 0, proc.stdout + proc.stderr
    done = [line.split()[-4] for line in proc.stdout.splitlines() if " done  " in line]
    assert len(done) == 12 and len(set(done)) == 12  # 3 trainings x 2 seeds, then their 6 curves: each once
    assert len({line.split()[2] for line in proc.stdout.splitlines() if " done  " in line}) == 2  # both worked
    R = sgt.run(p, Store(store))
    assert R.runs.from_store.all() and len(R.runs) == 6

    proc = gpu_units(tmp_path / "late", "--processes", "1", "--until", "1")
    assert proc.returncode == 3 and "time ran out first" in proc.stdout
    assert not list((tmp_path / "late").rglob("*.pt"))


def test_gpu_pack_returns_the_store_in_parts_that_rebuild_it(tmp_path):
    (tmp_path / "benchmarks").mkdir()
    script = tmp_path / "benchmarks" / "gpu.sh"
    script.write_text((BENCH / "gpu.sh").read_text())
    store, out, back = tmp_path / "store", tmp_path / "out", tmp_path / "back"
    files = {"k/ab/ab1.json": b"{}", "k/ab/ab1.pt": os.urandom(9000), "sgt_train/cd/cd2.pt": os.urandom(30000),
             ".checkpoints/sgt_train/ef.pt": os.urandom(100)}
    for name, blob in files.items():
        (store / name).parent.mkdir(parents=True, exist_ok=True)
        (store / name).write_bytes(blob)
    (store / ".claims").mkdir()
    (store / ".claims" / "ab1").write_text("123")
    env = {**os.environ, "ROARKIT_CACHE": str(store), "OUT": str(out)}
    got = []
    for n in (1, 2, 3):
        out.mkdir()
        proc = subprocess.run(["bash", str(script), "pack", str(n), "1"], capture_output=True, text=True, timeout=60,
                              cwd=tmp_path, env=env)
        assert proc.returncode == 0, proc.stderr
        got += sorted(out.iterdir())
        for f in out.iterdir():
            f.rename(tmp_path / f.name)
        out.rmdir()
    assert len(got) == 1 and "4 files in 1 part(s)" in proc.stdout  # later calls return nothing more
    back.mkdir()
    subprocess.run(["tar", "-xf", str(tmp_path / got[0].name), "-C", str(back)], check=True)
    assert {str(f.relative_to(back)): f.read_bytes() for f in back.rglob("*") if f.is_file()} == files

"""The IG and SGT/SMOOT benchmarks run end to end at smoke settings and write the JSON they promise."""
import json
import subprocess
import sys
from pathlib import Path

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
    assert all(f["md5"] for f in result["data"]["files"]) and result["data"]["name"] == "fashion_mnist"
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
    assert eq["max_abs_attribution"] > 0 and eq["max_abs_difference"] <= 1e-4 * eq["max_abs_attribution"] + 1e-7
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

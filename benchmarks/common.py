"""Helpers shared by the benchmarks: measuring a phase, the common options, writing the JSON."""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import threading
import time
import warnings
from pathlib import Path

import psutil
import torch

from roarkit.core.device import resolve_device
from roarkit.store import provenance

RESULTS = Path(__file__).parent / "results"


class PeakMemory:
    """Peak resident memory (CPU, sampled every 10 ms) or peak allocated (CUDA) inside a block; also
    its wall and process CPU seconds (``seconds``, ``cpu_seconds``; CUDA synchronised at both ends)."""

    def __init__(self, device):
        self.device, self.proc = device, psutil.Process()

    def __enter__(self):
        self.start, self.peak, self._stop = self.proc.memory_info().rss, 0, False
        self.rss_mb = None
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        self._t = threading.Thread(target=self._sample, daemon=True)
        self._t.start()
        self._t0, self._c0 = time.perf_counter(), time.process_time()
        return self

    def _sample(self):
        while not self._stop:
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.01)

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        self.seconds, self.cpu_seconds = time.perf_counter() - self._t0, time.process_time() - self._c0
        self._stop = True
        self._t.join()
        if self.device.type == "cuda":
            self.peak_mb = torch.cuda.max_memory_allocated() / 2**20
            self.what = "torch.cuda.max_memory_allocated"
        else:
            self.peak_mb = (self.peak - self.start) / 2**20
            self.rss_mb = self.peak / 2**20
            self.what = "peak RSS above the phase's start (psutil, 10 ms sampling)"

    def as_dict(self) -> dict:
        return dict(seconds=self.seconds, cpu_seconds=self.cpu_seconds, peak_mb=self.peak_mb,
                    peak_rss_mb=self.rss_mb, memory=self.what)


@contextlib.contextmanager
def quiet():
    """Silence Captum's warning on inputs without requires_grad (given once per call: noise here)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*did not already require gradients")
        yield


def parser(doc: str) -> argparse.ArgumentParser:
    """The options every benchmark has: ``--device``, ``--out``, ``--threads``."""
    p = argparse.ArgumentParser(description=doc.split("\n")[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default=str(RESULTS), help="folder of the JSON (default benchmarks/results/)")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads first")
    return p


def setup(args) -> torch.device:
    """Apply ``--threads``, point ``ROARKIT_DATA`` at ``../shared/data`` when unset, resolve the device."""
    if args.threads:
        torch.set_num_threads(args.threads)
    if not os.environ.get("ROARKIT_DATA"):
        shared = Path(__file__).resolve().parents[2] / "shared" / "data"
        if shared.is_dir():
            os.environ["ROARKIT_DATA"] = str(shared)
    return resolve_device(args.device)


def header(device, args) -> dict:
    """The first fields of every result: environment, load, threads, settings."""
    return dict(environment=provenance.environment(device), load_average_start=os.getloadavg(),
                torch_threads=torch.get_num_threads(), settings=dict(vars(args)))


def kilo(n: int) -> str:
    """``60000`` -> ``60k``, ``2500`` -> ``2.5k`` (result file names)."""
    return f"{n / 1000:g}k"


def write(out: dict, folder, name: str) -> Path:
    path = Path(folder) / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1, default=str) + "\n")
    print(f"wrote {path}")
    return path

"""A page's units of work in-process, then on Ray with 2 workers, side by side (roarkit.store.executor).

Workloads, each handed to :meth:`roarkit.store.Store.map` at once, as the pages do:

(a) **trainings**: four SGT/SMOOT trainings of ``sgt_mnist``'s cpu profile (MNIST, 6,000 training images
    of which 10 % are held out, 5 epochs, batch 256, Adadelta lr 1.0, k = 50 %): SGT and SMOOT, seeds 0
    and 1, as ``roarkit.experiments.sgt_study.Study.train_unit`` builds them;
(b) **perturbation chunks**: ``--chunks`` chunks of ``--chunk-images`` MNIST test images through
    ``perturbation_saliency``'s cpu grid (occlusion windows 4/2/8 x strides 2/4, RISE 1000/250 masks x
    cells 4/7 x p 0.5/0.25, seven baselines), on a base model trained first (outside the timing);
(c) **overhead**: ``--noop`` units that do nothing, whose wall time per unit is a Ray task's round trip
    (submission, scheduling, the result back, the store's write).

Each backend writes into its own new store; the entries of every backend are compared bitwise (the
executor never changes a result). Every unit runs with one intra-op thread (``threads`` = 1, the
executor's default); ``--two-threads`` adds the trainings in-process with 2 intra-op threads, roarkit's
behaviour before the executor (not bitwise equal to the others). Peak memory: the resident memory of this
process and every process under it (Ray's workers, raylet and GCS), summed, sampled every
``--memory-interval`` seconds (default 1; walking the process tree costs CPU time, which on Ray is
taken from the workers being measured). The CPU seconds this process spends in each workload are
reported too: in-process that is the whole work, on Ray the driver's share of the two cores.

The units run with roarkit's allocator settings (``--malloc roarkit``, the default:
:data:`roarkit.store.executor.MALLOC` in this process, which computes the in-process units, and in Ray's
workers) or with glibc's defaults (``--malloc glibc``); the script restarts itself once with the chosen
environment, since glibc reads it when a process starts.

    python benchmarks/bench_executor.py                                     # the figures in benchmarks/README.md
    python benchmarks/bench_executor.py --malloc glibc                      # the same with glibc's defaults
    python benchmarks/bench_executor.py --epochs 1 --n-train 300 --n-test 200 --chunks 2 --chunk-images 2 \
        --noop 3 --no-two-threads --out /tmp/x                               # smoke test
"""
from __future__ import annotations

import os
import sys
import tempfile
import threading
import time

import psutil
import torch

from roarkit.core import data, divergence, models, training
from roarkit.core.saliency.baselines import Stats
from roarkit.experiments import sgt_study
from roarkit.store import Settings, Store, Unit
from roarkit.store.executor import MALLOC, InProcess, RayExecutor, malloc_env

from common import header, kilo, parser, quiet, setup, write


def noop(i: int) -> dict:
    """A unit that does nothing: what is left of its wall time is the executor's overhead."""
    return {"i": i}


class TreeMemory:
    """Peak of the summed resident memory of this process and all its descendants (sampled every
    ``interval`` seconds), wall time, and this process's CPU time over the block."""

    def __init__(self, interval: float = 1.0):
        self.interval = interval

    def __enter__(self):
        self.peak, self._stop = 0, threading.Event()
        self._t = threading.Thread(target=self._sample, daemon=True)
        self._t.start()
        self._t0, self._cpu0 = time.perf_counter(), time.process_time()
        return self

    def _sample(self):
        me = psutil.Process()
        while True:
            total = 0
            for p in [me, *me.children(recursive=True)]:
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            if self._stop.wait(self.interval):
                return

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self._t0
        self.cpu_seconds = time.process_time() - self._cpu0
        self._stop.set()
        self._t.join()
        self.peak_mb = self.peak / 2**20


def strip(value):
    """A value without its timings (they differ from run to run)."""
    if isinstance(value, dict):
        return {k: strip(v) for k, v in value.items() if k != "seconds"}
    if isinstance(value, (list, tuple)):
        return [strip(v) for v in value]
    return value


def same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b or (a != a and b != b)


def measure(name: str, units: list, executor, results: dict, reference: dict, interval: float = 1.0) -> dict:
    with tempfile.TemporaryDirectory() as tmp, TreeMemory(interval) as mem:
        entries = Store(tmp).map(units, executor=executor, desc=name)
    values = [strip(e.value) for e in entries]
    ok = None
    if name.split(" | ")[0] in reference:
        ok = all(same(a, b) for a, b in zip(values, reference[name.split(" | ")[0]]))
    else:
        reference[name.split(" | ")[0]] = values
    out = {"seconds": mem.seconds, "peak_mb": mem.peak_mb, "driver_cpu_seconds": mem.cpu_seconds, "units": len(units),
           "unit_seconds": sum(float(e.provenance["seconds"]) for e in entries), "bitwise_equal_to_in_process": ok}
    results[name] = out
    print(f"  {name:<44} {out['seconds']:8.1f} s  ({out['seconds'] / len(units):6.2f} s/unit)  "
          f"peak {out['peak_mb']:7.0f} MB  driver CPU {out['driver_cpu_seconds']:6.1f} s"
          + ("" if ok is None else f"  bitwise equal: {ok}"), flush=True)
    return out


def main():
    p = parser(__doc__)
    p.add_argument("--n-train", type=int, default=6000)
    p.add_argument("--n-test", type=int, default=None, help="test images the trainings evaluate (default all)")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--chunks", type=int, default=4)
    p.add_argument("--chunk-images", type=int, default=25)
    p.add_argument("--noop", type=int, default=100)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--two-threads", action=argparse_bool, default=True)
    p.add_argument("--memory-interval", type=float, default=1.0, help="seconds between memory samples")
    p.add_argument("--malloc", choices=("roarkit", "glibc"), default="roarkit",
                   help="allocator settings of every process that runs units (default: roarkit's)")
    args = p.parse_args()
    restart_with_allocator(args.malloc)
    device = setup(args)
    out = header(device, args)
    ds = data.load("mnist", n_train=args.n_train, n_test=args.n_test, seed=0, device=device)
    config = training.TrainConfig(epochs=args.epochs, batch_size=256, optimizer="adadelta", lr=1.0)
    study = sgt_study.Study(ds, config, progress=False)
    trainings = [study.train_unit(v, s) for s in (0, 1) for v in ("sgt", "smoot")]
    fitted = training.fit("roar", data.load("mnist", n_train=3000, n_test=None, seed=0, device=device),
                          training.TrainConfig(epochs=1, batch_size=16), seed=0)
    base = models.build("roar", seed=0, device=device)
    base.load_state_dict(fitted.state_dict)
    base.eval()
    grid = divergence.Grid((4, 2, 8), (2, 4), (1000, 250), (4, 7), (0.5, 0.25),
                           ("zero", "white", "dataset_mean", "image_mean", "blur", "uniform", "noisy_linear"))
    stats, n = Stats.of(ds), args.chunk_images
    chunks = [Unit("divergence", {"chunk": c}, ds.info, divergence.run_chunk,
                   (base, ds.x_test[c * n:(c + 1) * n], ds.y_test[c * n:(c + 1) * n], grid, stats), {"seed": c * n})
              for c in range(args.chunks)]
    noops = [Unit("noop", {"i": i}, None, noop, (i,)) for i in range(args.noop)]
    print(f"executor benchmark: {len(trainings)} trainings (MNIST {kilo(args.n_train)}, {args.epochs} epochs), "
          f"{len(chunks)} perturbation chunks of {n} images, {len(noops)} no-op units; {os.cpu_count()} cores")
    results, reference = {}, {}
    ray_ex = RayExecutor(Settings(executor="ray", workers=args.workers))
    with quiet():
        for name, units in (("trainings", trainings), ("perturbation chunks", chunks), ("no-op units", noops)):
            measure(f"{name} | in-process", units, InProcess(), results, reference, args.memory_interval)
            if name == "trainings" and args.two_threads:
                measure(f"{name} | in-process, 2 intra-op threads", units, InProcess(Settings(threads=2)), results,
                        {}, args.memory_interval)
            if name == "trainings":
                t0 = time.perf_counter()
                ray_ex.start()
                out["ray_start_seconds"] = time.perf_counter() - t0
                print(f"  Ray started with {args.workers} workers in {out['ray_start_seconds']:.1f} s")
            measure(f"{name} | ray, {args.workers} workers", units, ray_ex, results, reference, args.memory_interval)
    import ray
    ray.shutdown()
    r = results
    speed = {
        "trainings": r["trainings | in-process"]["seconds"] / r[f"trainings | ray, {args.workers} workers"]["seconds"],
        "perturbation_chunks": r["perturbation chunks | in-process"]["seconds"]
        / r[f"perturbation chunks | ray, {args.workers} workers"]["seconds"]}
    if args.two_threads:
        speed["trainings_vs_two_threads"] = (r["trainings | in-process, 2 intra-op threads"]["seconds"]
                                             / r[f"trainings | ray, {args.workers} workers"]["seconds"])
    overhead = (r[f"no-op units | ray, {args.workers} workers"]["seconds"] / args.noop) if args.noop else None
    out |= {"malloc": args.malloc, "malloc_env": {k: os.environ.get(k) for k in MALLOC},
            "data": ds.info.as_dict(), "results": results, "speedup": speed, "ray_overhead_seconds_per_unit": overhead,
            "in_process_overhead_seconds_per_unit": r["no-op units | in-process"]["seconds"] / args.noop
            if args.noop else None, "target_trainings_speedup": 1.7}
    print(f"speed-up on Ray, {args.workers} workers: trainings {speed['trainings']:.2f}x (target >= 1.7x), "
          f"perturbation chunks {speed['perturbation_chunks']:.2f}x"
          + (f"; trainings vs in-process with 2 intra-op threads {speed['trainings_vs_two_threads']:.2f}x"
             if args.two_threads else ""))
    if overhead is not None:
        print(f"overhead per unit: Ray {1000 * overhead:.1f} ms, in-process "
              f"{1000 * out['in_process_overhead_seconds_per_unit']:.1f} ms (a round trip and a store write)")
    write(out, args.out, f"{device.type}-executor-mnist{kilo(args.n_train)}"
          + ("-glibc-malloc" if args.malloc == "glibc" else ""))


def restart_with_allocator(choice: str) -> None:
    """Re-execute this script once with the allocator environment ``choice`` asks for (glibc reads it at
    process start): roarkit's :data:`MALLOC` entries, or none of them and ``ROARKIT_MALLOC=glibc``."""
    env = {k: v for k, v in os.environ.items() if k not in MALLOC or choice == "roarkit"}
    env["ROARKIT_MALLOC"] = choice
    env |= malloc_env(env)
    if all(os.environ.get(k) == env.get(k) for k in set(env) | set(MALLOC)):
        return
    os.execve(sys.executable, [sys.executable, *sys.argv], env)


def argparse_bool(*a, **kw):
    import argparse
    return argparse.BooleanOptionalAction(*a, **kw)


if __name__ == "__main__":
    main()

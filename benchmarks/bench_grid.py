"""Time the ROAR seed grid: the report authors' way (DataLoader, one model at a time) vs roarkit.core.engine.

Grid: 5 base models + (IG, random) x thresholds (10, 30, 50, 70, 90 %) x 5 seeds = 55 RoarNet
trainings, SGD lr 1e-3 momentum 0.9, batch 32, each evaluated on its own masked test set. This times
*training*, so the "IG" ranking is a stand-in: pixel-intensity rank per image (brightest first).

    python benchmarks/bench_grid.py                                  # MNIST 10k, 10 epochs
    python benchmarks/bench_grid.py --dataset fashion_mnist --sizes 10000 30000 60000 --epochs 1
    python benchmarks/bench_grid.py --variants bf16 compile --epochs 2   # engine variants (+ tf32 on CUDA)

The reference is timed on a sample of the grid (``--ref-models`` models, fully trained, so their
accuracies sit next to the engine's) and scaled linearly to the 55 models; ``--ref-models 55``
runs all of it. 100 steps are probed at the process's thread count and at 1 thread; the
sample then runs at the faster setting.
"""
from __future__ import annotations

import contextlib
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from roarkit.core import data, models
from roarkit.core.engine import Masked, evaluate_many, lockstep, train_many
from roarkit.core.training import TrainConfig, evaluate
from roarkit.store import provenance

from common import PeakMemory, header, parser, setup, write

THRESHOLDS, SEEDS = (10, 30, 50, 70, 90), (0, 1, 2, 3, 4)
CONFIG = dict(batch_size=32, optimizer="sgd", lr=1e-3, momentum=0.9)
VARIANTS = ("fp32", "tf32", "bf16", "compile")


def intensity_ranks(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, H*W) int16 rank of each pixel, brightest first (stand-in for IG)."""
    order = x.sum(1).flatten(1).argsort(dim=1, descending=True, stable=True)
    return torch.empty_like(order).scatter_(1, order, torch.arange(order.shape[1]).expand_as(order)).short()


def random_ranks(n: int, hw: int, seed: int) -> torch.Tensor:
    return torch.rand(n, hw, generator=torch.Generator().manual_seed(seed)).argsort(1).short()


def grid(ds) -> tuple[list[dict], Masked, Masked]:
    """The 55 cells and their train/test views (group 0: IG stand-in, group 1: random)."""
    hw = ds.x_train.shape[-1] * ds.x_train.shape[-2]
    cells = [dict(arm="base", t=0, seed=s) for s in SEEDS]
    cells += [dict(arm=a, t=t, seed=s) for a in ("ig", "random") for t in THRESHOLDS for s in SEEDS]
    k = [round(c["t"] / 100 * hw) for c in cells]
    group = [int(c["arm"] == "random") for c in cells]
    views = []
    for x, y, seed in ((ds.x_train, ds.y_train, 1), (ds.x_test, ds.y_test, 2)):
        ranks = torch.stack([intensity_ranks(x.cpu()), random_ranks(len(x), hw, seed)]).to(x.device)
        views.append(Masked(x, y, ranks, k, group=group))
    return cells, *views


def reference(ds, train_view, test_view, cells, i, epochs, device, threads, max_steps=None):
    """One grid cell as the report's authors would: materialise the masked data, DataLoader over a
    TensorDataset (shuffle, batch 32), fresh model and torch.optim.SGD, batches moved per step.
    Returns (seconds, test accuracy); ``max_steps`` (probes): (seconds per step, None)."""
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        start, cpu = time.perf_counter(), time.process_time()
        x_train, x_test = train_view.materialize(i).cpu(), test_view.materialize(i)
        torch.manual_seed(cells[i]["seed"])
        model = models.build("roar", seed=cells[i]["seed"], device=device)
        opt = torch.optim.SGD(model.parameters(), lr=CONFIG["lr"], momentum=CONFIG["momentum"])
        loader = DataLoader(TensorDataset(x_train, ds.y_train.cpu()), batch_size=32, shuffle=True)
        model.train()
        steps = 0
        for _ in range(epochs):
            for xb, yb in loader:
                if steps == max_steps:
                    break
                if max_steps is not None and steps == 10:  # probes time steps 10.. (warm)
                    start = time.perf_counter()
                xb, yb = xb.to(device), yb.to(device)
                loss = F.cross_entropy(model(xb), yb)
                opt.zero_grad()
                loss.backward()
                opt.step()
                steps += 1
        if max_steps is not None:
            return (time.perf_counter() - start) / (max_steps - 10), None
        acc = evaluate(model, x_test, ds.y_test, ds.num_classes).accuracy
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start, acc, time.process_time() - cpu, os.getloadavg()[0]
    finally:
        torch.set_num_threads(saved)


def run_engine(cells, train_view, test_view, config, device, args):
    load = os.getloadavg()[0]
    with PeakMemory(device) as mem:
        start, cpu = time.perf_counter(), time.process_time()
        nets, hist = train_many("roar", train_view, config, [c["seed"] for c in cells], device=device,
                                chunk=args.chunk, workers=args.workers, progress=False)
        trained = time.perf_counter()
        metrics = evaluate_many(nets, test_view, num_classes=10)
        done = time.perf_counter()
    return dict(seconds=done - start, train_seconds=trained - start, eval_seconds=done - trained,
                cpu_seconds=time.process_time() - cpu, load_average=(load, os.getloadavg()[0]),
                peak_mb=mem.peak_mb, peak_rss_mb=mem.rss_mb, memory=mem.what, accuracies=[m.accuracy for m in metrics],
                final_loss=hist["loss"][:, -1].tolist())


def roar_curve(cells, accs) -> dict:
    out = {}
    for c, a in zip(cells, accs):
        out.setdefault(f"{c['arm']}@{c['t']}", []).append(a)
    return {k: round(statistics.mean(v), 4) for k, v in out.items()}


def bench_grid(args, device) -> dict:
    ds = data.load(args.dataset, n_train=args.n_train, n_test=args.n_test, seed=0, device=device)
    cells, train_view, test_view = grid(ds)
    config = TrainConfig(epochs=args.epochs, **CONFIG)
    n_ref = min(args.ref_models, len(cells))
    sample = [0, 5 + 2 * 5, 30 + 2 * 5, 1, 6, 31][:n_ref] if n_ref <= 6 else list(range(n_ref))
    ref_epochs = args.ref_epochs or args.epochs
    threads = torch.get_num_threads()
    print(f"{ds.info.summary()}\n{len(cells)} trainings x {args.epochs} epochs on "
          f"{provenance.device_name(device)}; load average {os.getloadavg()[0]:.1f}", flush=True)

    # Reference threads: probe 100 steps at the process's thread count and at 1 thread, keep the
    # faster (on a busy 2-core machine 2 OpenMP threads were up to 58x slower per step).
    probes = {th: reference(ds, train_view, test_view, cells, sample[0], 1, device, th, 110)[0]
              for th in sorted({threads, 1})} if device.type == "cpu" else {threads: None}
    ref_threads = min(probes, key=lambda th: probes[th] or 0)
    print("  reference probe: " + ", ".join(f"{t * 1e3:.1f} ms/step at {th} thread(s)"
                                             for th, t in probes.items() if t), flush=True)
    ref, ref_cpu, ref_load = [], [], []

    def ref_run(i):
        t, acc, cpu, load = reference(ds, train_view, test_view, cells, i, ref_epochs, device, ref_threads)
        ref.append((i, t, acc))
        ref_cpu.append(cpu)
        ref_load.append(load)
        print(f"  reference cell {i} {cells[i]}: {t:.1f} s (cpu {cpu:.1f} s, load {load:.1f}), "
              f"accuracy {acc:.4f}", flush=True)

    with PeakMemory(device) as ref_mem:
        for i in sample[: (len(sample) + 1) // 2]:  # half before the engine, half after it
            ref_run(i)
    eng = run_engine(cells, train_view, test_view, config, device, args)
    print(f"  engine: {eng['seconds']:.1f} s (train {eng['train_seconds']:.1f}, evaluate "
          f"{eng['eval_seconds']:.1f}; cpu {eng['cpu_seconds']:.1f} s, load {eng['load_average'][1]:.1f}), "
          f"peak {eng['peak_mb']:.0f} MiB", flush=True)
    for i in sample[(len(sample) + 1) // 2:]:
        ref_run(i)
    per_model_epoch = statistics.mean(t for _, t, _ in ref) / ref_epochs
    ref_total = per_model_epoch * args.epochs * len(cells)
    ref_cpu_total = statistics.mean(ref_cpu) / ref_epochs * args.epochs * len(cells)
    scaled = not (n_ref == len(cells) and ref_epochs == args.epochs)
    out = dict(
        benchmark="roar-seed-grid", environment=provenance.environment(device),
        load_average_start=os.getloadavg(), torch_threads=threads,
        settings=dict(vars(args), grid_models=len(cells), thresholds=THRESHOLDS, seeds=SEEDS,
                      config=config.as_dict(), ig_stand_in="pixel-intensity rank, brightest first"),
        data=ds.info.as_dict(),
        reference=dict(seconds=ref_total, scaled=scaled, threads=ref_threads,
                       how=(f"mean time of {n_ref} grid models x {ref_epochs} epochs at {ref_threads} "
                            f"thread(s) (the faster in a 100-step probe), per model-epoch, x "
                            f"{args.epochs} epochs x {len(cells)} models") if scaled
                       else f"all models fully trained at {ref_threads} thread(s)",
                       per_model_epoch_seconds=per_model_epoch,
                       sample=[dict(cell=cells[i], seconds=t, cpu_seconds=c, load_average_end=ld,
                                    accuracy=a, epochs=ref_epochs)
                               for (i, t, a), c, ld in zip(ref, ref_cpu, ref_load)],
                       probe_seconds_per_step_by_threads=probes, peak_mb=ref_mem.peak_mb,
                       peak_rss_mb=ref_mem.rss_mb,
                       memory=ref_mem.what),
        engine=dict(eng, chunk=args.chunk, workers=args.workers),
        ratio=ref_total / eng["seconds"],
        cpu_seconds=dict(reference=ref_cpu_total, engine=eng["cpu_seconds"],
                         ratio=ref_cpu_total / eng["cpu_seconds"],
                         note="process CPU time: the work each path does, robust to other "
                              "processes' load; the wall-time ratio also credits the engine's 2nd core"),
        accuracy=dict(engine=[dict(c, accuracy=a) for c, a in zip(cells, eng["accuracies"])],
                      engine_roar_curve=roar_curve(cells, eng["accuracies"]),
                      reference_fully_trained={str(i): dict(cells[i], accuracy=a, engine=eng["accuracies"][i])
                                               for i, _, a in ref if ref_epochs == args.epochs}),
    )
    print(f"\nreference: {ref_total:.1f} s{' (SCALED: ' + out['reference']['how'] + ')' if scaled else ''}"
          f"\nengine:    {eng['seconds']:.1f} s for all {len(cells)} models (train + evaluate)"
          f"\nratio:     {out['ratio']:.1f}x wall; CPU time {ref_cpu_total:.0f} s vs "
          f"{eng['cpu_seconds']:.0f} s = {out['cpu_seconds']['ratio']:.1f}x less work"
          f"\nmemory:    engine {eng['peak_mb']:.0f} MiB, reference {ref_mem.peak_mb:.0f} MiB ({eng['memory']}"
          f"{'; process peak RSS %.0f / %.0f MiB' % (eng['peak_rss_mb'], ref_mem.rss_mb) if ref_mem.rss_mb else ''})"
          f"\naccuracy (same cell, same seed; different shuffles):")
    for i, _, a in ref:
        if ref_epochs == args.epochs:
            print(f"  {cells[i]}: reference {a:.4f}  engine {eng['accuracies'][i]:.4f}")
    print("engine ROAR curve (mean over seeds):", out["accuracy"]["engine_roar_curve"])
    return out


def bench_sizes(args, device) -> dict:
    """Engine only: how the grid's time grows with the training-set size."""
    rows = []
    config = TrainConfig(epochs=args.epochs, **CONFIG)
    for n in args.sizes:
        ds = data.load(args.dataset, n_train=n, n_test=args.n_test, seed=0, device=device)
        cells, train_view, test_view = grid(ds)
        eng = run_engine(cells, train_view, test_view, config, device, args)
        rows.append(dict(n_train=ds.info.n_train, data=ds.info.as_dict(), load_average=os.getloadavg(),
                         **{k: eng[k] for k in ("seconds", "train_seconds", "eval_seconds", "cpu_seconds",
                                                "peak_mb", "peak_rss_mb")},
                         mean_accuracy=statistics.mean(eng["accuracies"])))
        rss = f", process peak RSS {eng['peak_rss_mb']:.0f} MiB" if eng["peak_rss_mb"] else ""
        print(f"  n_train {n:>6}: {eng['seconds']:.1f} s ({eng['train_seconds'] / n * 1e3:.2f} s of "
              f"training per 1k images), peak {eng['peak_mb']:.0f} MiB above the start{rss}", flush=True)
    return dict(benchmark="roar-seed-grid-sizes", environment=provenance.environment(device),
                settings=dict(vars(args), config=config.as_dict()), sizes=rows)


def check_variant(name: str, device) -> None:
    """ValueError naming the problem and the fix for a variant this device cannot run."""
    if name not in VARIANTS:
        raise ValueError(f"unknown variant {name!r}; use one of {', '.join(VARIANTS)}")
    if name == "tf32" and device.type != "cuda":
        raise ValueError(f"--variants tf32 needs CUDA (tf32 is a CUDA tensor-core format); on {device.type} use "
                         "fp32, bf16 or compile")


@contextlib.contextmanager
def variant(name: str, device):
    """The engine's step as it is (``fp32``) or in a variant this benchmark tries before the engine
    adopts it: ``tf32`` (CUDA: TF32 matmuls and convolutions), ``bf16`` (the stacked forward under
    ``torch.autocast(bfloat16)``, loss in fp32), ``compile`` (the step, ``grad_and_value`` of the
    loss, through ``torch.compile``). ``bf16`` and ``compile`` swap an engine function for the
    block (in every worker thread, which a thread-local autocast would not reach); ``fp32`` turns
    TF32 off on CUDA, where PyTorch's defaults (which the book's pages run with) let cuDNN
    convolutions use it."""
    check_variant(name, device)
    flags = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    forward, step = lockstep.forward, lockstep.grad_and_value
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = name == "tf32"
    if name == "bf16":
        def autocast_forward(*a, **kw):
            with torch.autocast(device.type, dtype=torch.bfloat16):
                return forward(*a, **kw).float()
        lockstep.forward = autocast_forward
    elif name == "compile":
        lockstep.grad_and_value = lambda fn, **kw: torch.compile(step(fn, **kw))
    try:
        yield
    finally:
        lockstep.forward, lockstep.grad_and_value = forward, step
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = flags


def bench_variants(args, device) -> dict:
    """Engine only: the whole grid under each variant, same data and seeds, fp32 first and last
    (drift), each variant first untimed on 256+ images of the same grid: the same model groups and batch
    shapes, so compilation and kernel choice are not timed."""
    ds = data.load(args.dataset, n_train=args.n_train, n_test=args.n_test, seed=0, device=device)
    cells, train_view, test_view = grid(ds)
    config = TrainConfig(epochs=args.epochs, **CONFIG)
    order = ["fp32", *[v for v in args.variants if v != "fp32"], "fp32"]
    print(f"{ds.info.summary()}\n{len(cells)} trainings x {args.epochs} epochs per variant on "
          f"{provenance.device_name(device)}; load average {os.getloadavg()[0]:.1f}", flush=True)
    warm = TrainConfig(epochs=1, **CONFIG)
    w = 256 + train_view.n % CONFIG["batch_size"]  # the same model groups and batch shapes
    small = Masked(train_view.x[:w], train_view.y[:w], train_view.ranks[:, :w], train_view.k, group=train_view.group)
    runs = []
    for name in order:
        with variant(name, device):
            train_many("roar", small, warm, [c["seed"] for c in cells], device=device, chunk=args.chunk,
                       workers=args.workers, progress=False)
            eng = run_engine(cells, train_view, test_view, config, device, args)
        runs.append(dict(variant=name, **eng, roar_curve=roar_curve(cells, eng["accuracies"])))
        print(f"  {name:8s} {eng['seconds']:7.1f} s (train {eng['train_seconds']:.1f}), mean accuracy "
              f"{statistics.mean(eng['accuracies']):.4f}, peak {eng['peak_mb']:.0f} MiB", flush=True)
    base = statistics.mean(r["seconds"] for r in runs if r["variant"] == "fp32")
    ref_acc = torch.tensor(runs[0]["accuracies"], dtype=torch.float64)
    for r in runs:
        acc = torch.tensor(r["accuracies"], dtype=torch.float64)
        r.update(speedup_vs_fp32=base / r["seconds"], mean_accuracy=acc.mean().item(),
                 max_abs_accuracy_diff_vs_fp32=(acc - ref_acc).abs().max().item(),
                 mean_accuracy_diff_vs_fp32=(acc - ref_acc).mean().item())
    print("\nvariant   speed-up vs fp32 (mean of both fp32 runs)   accuracy: mean, mean and max |diff| per cell vs fp32")
    for r in runs:
        print(f"  {r['variant']:8s} {r['speedup_vs_fp32']:5.2f}x   {r['mean_accuracy']:.4f}  "
              f"{r['mean_accuracy_diff_vs_fp32']:+.4f}  {r['max_abs_accuracy_diff_vs_fp32']:.4f}")
    return dict(benchmark="roar-seed-grid-variants", **header(device, args), data=ds.info.as_dict(),
                config=config.as_dict(), variants=runs,
                note="fp32 runs first and last: their difference is the run-to-run drift (load, clocks); "
                     "an fp32 rerun reproduces the accuracies exactly, so any accuracy change is the variant's")


def main(argv=None):
    p = parser(__doc__)
    p.add_argument("--dataset", default="mnist", choices=["mnist", "fashion_mnist"])
    p.add_argument("--n-train", type=int, default=10000)
    p.add_argument("--n-test", type=int, default=None, help="default: the whole test split")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--ref-models", type=int, default=3, help="grid models the reference trains")
    p.add_argument("--ref-epochs", type=int, default=None, help="default: --epochs")
    p.add_argument("--chunk", type=int, default=None, help="engine: models per train_many chunk")
    p.add_argument("--workers", type=int, default=None, help="engine: CPU worker threads")
    p.add_argument("--sizes", type=int, nargs="*", help="size sweep of the engine instead")
    p.add_argument("--variants", nargs="*", choices=VARIANTS,
                   help="engine variants instead (fp32 runs first and last): " + ", ".join(VARIANTS))
    args = p.parse_args(argv)
    device = setup(args)
    try:
        for v in args.variants or ():
            check_variant(v, device)
    except ValueError as e:
        p.error(str(e))
    if args.variants:
        out, mode = bench_variants(args, device), "variants"
    else:
        out, mode = (bench_sizes(args, device), "sizes") if args.sizes else (bench_grid(args, device), "grid")
    name = f"{device.type}-{mode}-{args.dataset.replace('_', '')}"
    name += "" if args.sizes else f"{args.n_train // 1000}k"
    write(out, args.out, name)


if __name__ == "__main__":
    sys.exit(main())

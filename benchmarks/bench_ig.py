"""Time Integrated Gradients on Fashion-MNIST: Captum in a DataLoader loop vs roarkit's path (the book's).

Workload: IG (zero baseline, true class, ``--steps`` Gauss-Legendre steps, default 50) of one RoarNet
for ``--n`` images, by default all 70k Fashion-MNIST images (60k train + 10k test), plus the pixel
ranking ROAR removes by.

    python benchmarks/bench_ig.py                       # 70k images, 50 steps, auto device
    python benchmarks/bench_ig.py --n 2000 --ref-images 256 --steps 8 --out /tmp/x   # smoke test

(a) Reference, as the report's authors would write it: ``DataLoader(TensorDataset(x, y), batch_size=64)``,
one batch at a time moved to the device, ``IntegratedGradients(model).attribute(xb, baselines=0,
target=yb, n_steps=steps)`` with Captum's defaults (``internal_batch_size=None``), then each image's
pixels sorted by |attribution|. Timed on the first ``--ref-images`` images (half before roarkit's
path, half after) and scaled linearly to ``--n``; ``--ref-images 0`` runs all of them.

(b) roarkit: what the book runs for a ROAR grid's IG rankings (``roar.Grid.ranks``, without the
results store): per split, ``attribution.attribute(model, x, y, "ig", AttributionConfig(ig_steps=steps))``
then ``removal.ranks(removal.scores(a))``.

Equal work: the maximum absolute difference between both paths' attributions on the reference's first
batch. The model is trained ``--train-epochs`` epochs (ROAR report settings, default 1; 0 = untrained
weights): the timing of IG does not depend on how well the model is trained.
"""
from __future__ import annotations

import os
import sys

import torch
from torch.utils.data import DataLoader, TensorDataset

from roarkit.core import data, models, removal
from roarkit.core import training as train
from roarkit.core.saliency import gradients as attribution
from roarkit.core.saliency.gradients import IntegratedGradients  # Captum's class (imported there without tqdm's warning)
from roarkit.store import provenance

from common import PeakMemory, header, kilo, parser, quiet, setup, write

REF_BATCH = 64


def reference(model, x, y, steps, device) -> tuple[torch.Tensor, torch.Tensor]:
    """(pixel order per image, most important first; the first batch's attributions), the authors' way."""
    ig = IntegratedGradients(model)
    orders, first = [], None
    for xb, yb in DataLoader(TensorDataset(x, y), batch_size=REF_BATCH):
        xb, yb = xb.to(device), yb.to(device)
        a = ig.attribute(xb, baselines=0, target=yb, n_steps=steps)
        orders.append(a.abs().sum(1).flatten(1).argsort(1, descending=True).cpu())
        if first is None:
            first = a.detach()
    return torch.cat(orders), first


def roarkit_ranks(model, ds, config, seed=0) -> dict:
    """``roar.Grid.ranks(method="ig", seed)`` without the store: attributions, scores, ranks per split."""
    out = {}
    for split in ("train", "test"):
        x, y = getattr(ds, f"x_{split}"), getattr(ds, f"y_{split}")
        a = attribution.attribute(model, x, y, "ig", config, seed=seed * 2 + (split == "test"))
        out[split] = removal.ranks(removal.scores(a), seed)
    return out


def model_for(ds, epochs, device):
    net = models.build("roar", seed=0, device=device)
    if epochs:
        cfg = train.TrainConfig(epochs=epochs, batch_size=32, optimizer="sgd", lr=1e-3, momentum=0.9)
        train.train(net, ds.x_train, ds.y_train, cfg, seed=0, progress=False)
    return net.eval(), train.evaluate(net, ds.x_test, ds.y_test, ds.num_classes).accuracy


def main(argv=None):
    p = parser(__doc__)
    p.add_argument("--n", type=int, default=70000, help="images (6/7 train, 1/7 test; default all 70k)")
    p.add_argument("--steps", type=int, default=50, help="IG integration steps")
    p.add_argument("--ref-images", type=int, default=7000, help="images the reference runs (0: all)")
    p.add_argument("--train-epochs", type=int, default=1, help="epochs of the RoarNet (0: untrained)")
    args = p.parse_args(argv)
    device = setup(args)
    n_test = min(10000, round(args.n / 7))
    ds = data.load("fashion_mnist", n_train=args.n - n_test, n_test=n_test, seed=0, device=device)
    n = ds.info.n_train + ds.info.n_test
    model, acc = model_for(ds, args.train_epochs, device)
    config = attribution.AttributionConfig(ig_steps=args.steps)
    x_all, y_all = torch.cat([ds.x_train, ds.x_test]).cpu(), torch.cat([ds.y_train, ds.y_test]).cpu()
    n_ref = min(args.ref_images or n, n)
    print(f"{ds.info.summary()}\nIG, {args.steps} steps, {n:,} images, RoarNet ({args.train_epochs} epoch(s) "
          f"trained, test accuracy {acc:.4f}) on {provenance.device_name(device)}; load average "
          f"{os.getloadavg()[0]:.1f}", flush=True)

    with quiet():
        # warm-up (kernels, allocator) for both paths, untimed
        reference(model, x_all[:REF_BATCH], y_all[:REF_BATCH], args.steps, device)
        attribution.attribute(model, ds.x_train[:REF_BATCH], ds.y_train[:REF_BATCH], "ig", config)
        halves, first = [(0, n_ref // 2), (n_ref // 2, n_ref)], None
        ref_seconds, ref_cpu, ref_peak = 0.0, 0.0, 0.0
        for h, (lo, hi) in enumerate(halves):
            if h == 1:
                with PeakMemory(device) as eng:
                    ranks = roarkit_ranks(model, ds, config)
                print(f"  roarkit: {eng.seconds:.2f} s for {n:,} images (cpu {eng.cpu_seconds:.1f} s), "
                      f"peak {eng.peak_mb:.0f} MiB", flush=True)
            if hi > lo:
                with PeakMemory(device) as mem:
                    _, a0 = reference(model, x_all[lo:hi], y_all[lo:hi], args.steps, device)
                first = a0 if first is None else first
                ref_seconds, ref_cpu = ref_seconds + mem.seconds, ref_cpu + mem.cpu_seconds
                ref_peak = max(ref_peak, mem.peak_mb)
                print(f"  reference images {lo}-{hi}: {mem.seconds:.2f} s (cpu {mem.cpu_seconds:.1f} s)",
                      flush=True)
        # equal work: both paths' attributions of the reference's first batch
        mine = attribution.attribute(model, x_all[:len(first)].to(device), y_all[:len(first)].to(device), "ig",
                                     config)
    diff = (mine - first).abs().max().item()
    scale = first.abs().max().item()
    scaled = n_ref < n
    ref_total = ref_seconds / n_ref * n
    out = dict(
        benchmark="integrated-gradients", **header(device, args),
        data=ds.info.as_dict(), images=n, steps=args.steps,
        model=dict(name="roar", seed=0, train_epochs=args.train_epochs, test_accuracy=acc,
                   note="IG's cost does not depend on the weights' quality" + ("" if args.train_epochs
                                                                               else "; untrained weights")),
        reference=dict(seconds=ref_total, scaled=scaled, images_timed=n_ref, measured_seconds=ref_seconds,
                       cpu_seconds=ref_cpu / n_ref * n, batch_size=REF_BATCH, internal_batch_size=None,
                       how=(f"{n_ref:,} images timed ({ref_seconds:.2f} s, half before roarkit's path, half after), "
                            f"x {n:,} / {n_ref:,}") if scaled else f"all {n:,} images timed",
                       peak_mb=ref_peak, memory=mem.what),
        roarkit=dict(eng.as_dict(), config=config.as_dict(), shapes={k: list(v.shape) for k, v in ranks.items()},
                     path="gradients.attribute(..., 'ig', AttributionConfig) + removal.ranks(scores(a)) "
                          "per split, as roar.Grid.ranks"),
        ratio=ref_total / eng.seconds,
        equal_work=dict(max_abs_difference=diff, max_abs_attribution=scale, images=len(first),
                        what="max |IG_reference - IG_roarkit| over the reference's first batch"),
        seconds_per_model=eng.seconds,
    )
    print(f"\nreference: {ref_total:.2f} s" + (f" (SCALED: {out['reference']['how']})" if scaled else "") +
          f"\nroarkit:   {eng.seconds:.2f} s for {n:,} images = {eng.seconds:.2f} s per model "
          f"(target on one H100: <= 0.2 s at 70k, 50 steps)"
          f"\nratio:     {out['ratio']:.1f}x"
          f"\nmemory:    roarkit {eng.peak_mb:.0f} MiB, reference {ref_peak:.0f} MiB ({eng.what})"
          f"\nequal work: max |difference| of the attributions on the first {len(first)} images "
          f"{diff:.2e} (largest |attribution| {scale:.2e})")
    write(out, args.out, f"{device.type}-ig-fashionmnist{kilo(n)}")


if __name__ == "__main__":
    sys.exit(main())

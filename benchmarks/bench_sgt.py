"""Time one SGT and one SMOOT training on Fashion-MNIST: the official code's loop vs roarkit's (the book's).

Workload (the papers): SGTNet, Fashion-MNIST 60k training images, batch 256, Adadelta lr 1.0,
``--epochs`` (default 100); SGT masks k = 50 % of the pixels (the lowest |input gradient| of the
true class) with uniform noise and adds KL(f(x) || f(x~)) to the cross-entropy; SMOOT moves k per
image online. As in the book (``roarkit.experiments.sgt_study.Study``), 10 % of the training images (stratified, seed 0)
are held out, the weights of the epoch with the best validation accuracy are kept, and the test
accuracy of those weights is reported; both paths do all of that.

    python benchmarks/bench_sgt.py                                  # 100 epochs, 60k, auto device
    python benchmarks/bench_sgt.py --epochs 1 --n-train 2000 --ref-epochs 1 --out /tmp/x   # smoke test

(a) Reference, the official SGT code's style (Scripts/interpretable.py): ``DataLoader(TensorDataset(...),
batch_size=256, shuffle=True)``, per batch in eval mode Captum ``Saliency(model).attribute(xb, target=yb,
abs=False)``, pixels sorted by |gradient|, then per image the k lowest replaced by uniform values in
[min, max] of that image (a Python loop over the batch, as the official code), forward of x and of x~,
CE + KL, ``torch.optim.Adadelta``; validation accuracy per epoch through a DataLoader. SMOOT: the same
loop with each image's k read from a tensor of fractions and updated from the eval-mode softmax of x
and x~ (roarkit.core.smoot's rule, written out). Timed for ``--ref-epochs`` epochs and scaled linearly.

(b) roarkit: ``training.fit("sgt", data, config, step=guided.step(training), ...)`` with the book's settings, i.e. what
``roarkit.experiments.sgt_study.Study.train`` computes (without the results store's I/O).
"""
from __future__ import annotations

import copy
import dataclasses
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from roarkit.core import data, guided, models, sgt, smoot
from roarkit.core import training as train
from roarkit.core.saliency.gradients import Saliency  # Captum's class (imported there without tqdm's warning)
from roarkit.store import provenance

from common import PeakMemory, header, kilo, parser, quiet, setup, write

SEED, VAL_FRACTION = 0, 0.1


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def _accuracy(model, loader, device) -> float:
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for xb, yb in loader:
            xb, yb = xb.to(device), yb.to(device)
            correct += (model(xb).argmax(1) == yb).sum().item()
            total += len(yb)
    return correct / total


def reference(ds, training, config, sgt_cfg, smoot_cfg, epochs, device) -> dict:
    """One SGT / SMOOT training the official code's way; per-epoch seconds and the test accuracy."""
    tr, va = train.split_validation(ds.y_train, VAL_FRACTION, SEED)  # the book's split: equal work
    x, y = ds.x_train.cpu(), ds.y_train.cpu()
    torch.manual_seed(SEED)
    model = models.build("sgt", seed=SEED, device=device)
    loader = DataLoader(TensorDataset(x[tr], y[tr], torch.arange(len(tr))), batch_size=config.batch_size,
                        shuffle=True)
    val_loader = DataLoader(TensorDataset(x[va], y[va]), batch_size=1000)
    optimizer = torch.optim.Adadelta(model.parameters(), lr=config.lr)
    saliency = Saliency(model)
    pixels = x.shape[1] * x.shape[2] * x.shape[3]
    fraction = torch.full((len(tr),), smoot_cfg.k_init) if training == "smoot" else None
    best_acc, best_state, seconds = -1.0, None, []
    for _ in range(epochs):
        start = time.perf_counter()
        for xb, yb, ib in loader:
            xb, yb = xb.to(device), yb.to(device)
            model.eval()
            grads = saliency.attribute(xb, target=yb, abs=False)
            order = grads.abs().sum(1).flatten(1).sort(dim=1).indices  # lowest |gradient| first
            if fraction is not None:
                ks = (fraction[ib] * pixels).round().long().tolist()
                with torch.no_grad():
                    p = F.softmax(model(xb), 1)
            else:
                ks = [round(sgt_cfg.k * pixels)] * len(xb)
            masked = xb.detach().clone().view(len(xb), -1)
            for i, k in enumerate(ks):
                lo, hi = masked[i].min().item(), masked[i].max().item()
                masked[i, order[i, :k]] = torch.empty(k, device=device).uniform_(lo, hi)
            masked = masked.view_as(xb)
            if fraction is not None:
                with torch.no_grad():
                    q = F.softmax(model(masked), 1)
                top = p.topk(smoot_cfg.top_n, 1).indices
                change = q.gather(1, top) - p.gather(1, top)
                delta = smoot_cfg.alpha * change[:, 0] + (1 - smoot_cfg.alpha) * change[:, 1:].sum(1)
                fraction[ib] = (fraction[ib] + smoot_cfg.w * delta.cpu()).clamp(smoot_cfg.k_min, smoot_cfg.k_max)
            model.train()
            out, out_masked = model(xb), model(masked)
            kl = F.kl_div(F.log_softmax(out_masked, 1), F.log_softmax(out, 1), reduction="batchmean", log_target=True)
            loss = F.cross_entropy(out, yb) + sgt_cfg.lam * kl
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        acc = _accuracy(model, val_loader, device)
        if acc > best_acc:
            best_acc, best_state = acc, copy.deepcopy(model.state_dict())
        _sync(device)
        seconds.append(time.perf_counter() - start)
    model.load_state_dict(best_state)
    test = _accuracy(model, DataLoader(TensorDataset(ds.x_test.cpu(), ds.y_test.cpu()), batch_size=1000), device)
    return dict(epoch_seconds=seconds, test_accuracy=test, val_accuracy=best_acc, n_train=len(tr), n_val=len(va))


def roarkit_fit(ds, training, config, sgt_cfg, smoot_cfg) -> dict:
    """What ``experiments.sgt_study.Study.train`` computes for ``training`` (no store)."""
    return train.fit("sgt", ds, config, seed=SEED, step=guided.step(training, sgt_cfg, smoot_cfg),
                     val_fraction=VAL_FRACTION, split_seed=SEED, channels_last=True, progress=False).value()


def warm_up(ds, config, sgt_cfg, smoot_cfg, device):
    """Untimed, CUDA only: one small SMOOT epoch through both paths (kernels, allocator, cuDNN choices)."""
    small = train.TrainConfig(epochs=1, batch_size=config.batch_size, optimizer="adadelta", lr=config.lr)
    net = models.build("sgt", seed=SEED, device=device)
    n = min(2 * config.batch_size, len(ds.y_train))
    train.train(net, ds.x_train[:n], ds.y_train[:n], small, seed=SEED, step=guided.step("smoot", sgt_cfg, smoot_cfg),
                channels_last=True, progress=False)
    tiny = dataclasses.replace(ds, x_train=ds.x_train[:n], y_train=ds.y_train[:n])
    with quiet():
        reference(tiny, "smoot", small, sgt_cfg, smoot_cfg, 1, device)


def bench(ds, training, config, sgt_cfg, smoot_cfg, args, device) -> dict:
    ref_epochs = min(args.ref_epochs or args.epochs, args.epochs)
    with PeakMemory(device) as ref_mem, quiet():
        ref = reference(ds, training, config, sgt_cfg, smoot_cfg, ref_epochs, device)
    per_epoch = statistics.mean(ref["epoch_seconds"])
    overhead = max(0.0, ref_mem.seconds - sum(ref["epoch_seconds"]))
    ref_total = per_epoch * args.epochs + overhead
    scaled = ref_epochs < args.epochs
    with PeakMemory(device) as mem:
        fit = roarkit_fit(ds, training, config, sgt_cfg, smoot_cfg)
    hist = fit["history"]
    row = dict(
        reference=dict(seconds=ref_total, scaled=scaled, epochs_timed=ref_epochs, seconds_per_epoch=per_epoch,
                       epoch_seconds=ref["epoch_seconds"], measured_seconds=ref_mem.seconds,
                       cpu_seconds_measured=ref_mem.cpu_seconds, peak_mb=ref_mem.peak_mb,
                       peak_rss_mb=ref_mem.rss_mb, memory=ref_mem.what, test_accuracy=ref["test_accuracy"],
                       val_accuracy=ref["val_accuracy"], n_train=ref["n_train"], n_val=ref["n_val"],
                       how=(f"mean of {ref_epochs} epoch(s), {per_epoch:.2f} s, x {args.epochs} epochs "
                            f"+ {overhead:.2f} s set-up and test") if scaled else f"all {args.epochs} epochs run"),
        roarkit=dict(mem.as_dict(), seconds_per_epoch=statistics.mean(hist["seconds"]),
                     epoch_seconds=hist["seconds"], fit_seconds=fit["seconds"],
                     test_accuracy=fit["metrics"]["accuracy"], selected_epoch=hist["selected_epoch"],
                     val_accuracy=hist["val_accuracy"], n_train=fit["n_train"], n_val=fit["n_val"],
                     path=f"training.fit(step=guided.step({training!r})) as experiments.sgt_study.Study.train"),
    )
    row["ratio"] = ref_total / mem.seconds
    row["ratio_per_epoch"] = per_epoch / row["roarkit"]["seconds_per_epoch"]
    print(f"  {training}: reference {per_epoch:.2f} s/epoch, {ref_total:.1f} s for {args.epochs} epoch(s)"
          f"{' (SCALED from ' + str(ref_epochs) + ' epoch(s))' if scaled else ''}, peak {ref_mem.peak_mb:.0f} MiB,"
          f" test accuracy {ref['test_accuracy']:.4f} after {ref_epochs} epoch(s)\n"
          f"  {training}: roarkit   {row['roarkit']['seconds_per_epoch']:.2f} s/epoch, {mem.seconds:.1f} s for "
          f"{args.epochs} epoch(s), peak {mem.peak_mb:.0f} MiB, test accuracy {fit['metrics']['accuracy']:.4f}\n"
          f"  {training}: ratio {row['ratio']:.1f}x (per epoch {row['ratio_per_epoch']:.1f}x)", flush=True)
    return row


def main(argv=None):
    p = parser(__doc__)
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--n-train", type=int, default=60000, help="training images loaded (10 %% held out)")
    p.add_argument("--n-test", type=int, default=None, help="default: the whole test split")
    p.add_argument("--ref-epochs", type=int, default=2, help="epochs the reference runs (scaled); 0: all")
    p.add_argument("--trainings", nargs="+", default=["sgt", "smoot"], choices=["sgt", "smoot"])
    args = p.parse_args(argv)
    device = setup(args)
    ds = data.load("fashion_mnist", n_train=args.n_train, n_test=args.n_test, seed=0, device=device)
    config = train.TrainConfig(epochs=args.epochs, batch_size=256, optimizer="adadelta", lr=1.0)
    sgt_cfg, smoot_cfg = sgt.SGTConfig(), smoot.SMOOTConfig(alpha=smoot.ALPHA["fashion_mnist"])
    print(f"{ds.info.summary()}\n{', '.join(args.trainings)}: {args.epochs} epoch(s), batch 256, Adadelta lr 1.0 on "
          f"{provenance.device_name(device)}; load average {os.getloadavg()[0]:.1f}", flush=True)
    if device.type == "cuda":
        warm_up(ds, config, sgt_cfg, smoot_cfg, device)
    rows = {t: bench(ds, t, config, sgt_cfg, smoot_cfg, args, device) for t in args.trainings}
    out = dict(benchmark="sgt-smoot-training", **header(device, args), data=ds.info.as_dict(),
               config=config.as_dict(), sgt=sgt_cfg.as_dict(), smoot=smoot_cfg.as_dict(),
               val_fraction=VAL_FRACTION, trainings=rows)
    print("\naccuracy (test set, weights of the best validation epoch):")
    for t, r in rows.items():
        note = "" if not r["reference"]["scaled"] else f" (reference after {r['reference']['epochs_timed']} epoch(s))"
        print(f"  {t}: reference {r['reference']['test_accuracy']:.4f}, roarkit {r['roarkit']['test_accuracy']:.4f}{note}")
    write(out, args.out, f"{device.type}-sgt-fashionmnist{kilo(ds.info.n_train)}")


if __name__ == "__main__":
    sys.exit(main())

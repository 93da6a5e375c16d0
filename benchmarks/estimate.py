"""What a long page will cost before it runs: its units of work, counted as the page builds them, and
each kind timed on a sample (one intra-op thread, CPU seconds of this process, so that runs beside it
do not inflate the figure), then scaled to the page's settings.

    python benchmarks/estimate.py sgt_mnist --profile full-cpu
    python benchmarks/estimate.py sgt_fashion_mnist --profile full-cpu -p epochs 30
    python benchmarks/estimate.py roar_benchmark --profile full-cpu --workers 2

Pages: ``sgt_mnist``, ``sgt_fashion_mnist`` (trainings: one epoch of each variant on a sample of the
training images, scaled by images and epochs; accuracy-drop curves: every method on a sample of the test
images, scaled to ``n_drop``) and ``roar_benchmark`` (lock-step groups: one epoch of a 16-model group on
a sample, scaled by models, images and epochs, plus the group's building and testing, scaled to the test
images; rankings: each estimator on a sample of images, scaled to
the training and test images). The units already in the store (``ROARKIT_CACHE``) are counted as done.
Wall time on ``--workers`` cores assumes the units spread evenly, times ``--contention`` (the slow-down of
a training while the other core trains too: 1.3 measured by bench_executor.py on the build machine).

Measured beside the estimate: where the store already holds trainings computed like one of the page's
(same network, variant and settings; any seed, epoch count and data of the same image size), their
seconds per training image and epoch, scaled to the page's images and epochs (``measured_each``), and the
wall time of the units still to run on ``--workers`` workers as a list schedule in the page's order. No
contention factor there: the stored times were taken under whatever ran beside them (the long runs: the
other Ray worker). On the build machine this basis was the better one: sgt_mnist's 22 units took 6.5
core-hours where the estimate said 8.9 (2026-12-04).
The JSON (``--out``) holds every row.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import types
from dataclasses import replace
from pathlib import Path

import torch
import yaml

from roarkit.book import discover
from roarkit.core import curves, data as D, engine, models, training
from roarkit.core.saliency import AttributionConfig, attribute
from roarkit.core.device import resolve_device
from roarkit.experiments import roar_grid, sgt as S
from roarkit.experiments.base_models import train_config
from roarkit.experiments.sgt_study import _net
from roarkit.store import Store

PAGES = ("sgt_mnist", "sgt_fashion_mnist", "roar_benchmark")
PIXELS = {"mnist": 784, "fashion_mnist": 784, "cifar10": 3072}  # values per image (channels x height x width)


def params(page: str, profile: str, overrides: dict) -> types.SimpleNamespace:
    """The page's parameters as ``python -m roarkit run PAGE --profile P -p ...`` would give them."""
    with open(discover.profile_file(profile, page)) as f:
        p = yaml.safe_load(f) or {}
    p |= overrides | discover.fixed_parameters(page)
    return types.SimpleNamespace(**p)


def cpu_seconds(fn) -> float:
    torch.set_num_threads(1)
    t0 = time.process_time()
    fn()
    return time.process_time() - t0


def epoch_and_fixed(run) -> tuple[float, float]:
    """CPU seconds of one epoch and of the rest (building, testing) from ``run(epochs)`` timed at 1, 1 and
    2 epochs (the first call warms up; one epoch less than two is an epoch's cost)."""
    sec = [cpu_seconds(lambda: run(e)) for e in (1, 1, 2)]
    return sec[2] - sec[1], max(0.0, 2 * sec[1] - sec[2])


def subset(ds, n_train: int, n_test: int | None = None):
    return replace(ds, x_train=ds.x_train[:n_train], y_train=ds.y_train[:n_train],
                   **({} if n_test is None else {"x_test": ds.x_test[:n_test], "y_test": ds.y_test[:n_test]}))


def _like(params: dict) -> str:
    """A training's parameters without what the measured rate is scaled by (seed, epochs)."""
    q = json.loads(json.dumps(params, default=str))
    q.pop("seed", None)
    q.get("config", {}).pop("epochs", None)
    return json.dumps(q, sort_keys=True)


def measured_rate(store: Store, unit, pixels: int) -> tuple[float, int] | None:
    """Seconds per training image and epoch of the stored trainings computed like ``unit`` (its parameters
    but seed and epochs; data of ``pixels`` pixels per image): the median over them, and how many.
    Images trained on: the data's training images less the ``val_fraction`` held out."""
    want, rates = _like(unit.params), []
    for e in store.entries(unit.kind):
        pr = e.provenance
        params, data = pr.get("params", {}), pr.get("data", [])
        if _like(params) != want or len(data) != 1 or PIXELS.get(data[0].get("name")) != pixels:
            continue
        images = data[0]["n_train"] - round(params.get("val_fraction", 0.0) * data[0]["n_train"])
        rates.append(pr["seconds"] / (images * params["config"]["epochs"]))
    return (float(torch.tensor(rates).median()), len(rates)) if rates else None


def schedule(seconds: list[float], workers: int) -> float:
    """Wall seconds of ``seconds`` run in that order on ``workers`` workers, each unit to the first free one."""
    free = [0.0] * max(1, workers)
    for s in seconds:
        i = free.index(min(free))
        free[i] += s
    return max(free)


def sgt_rows(p, sample: int) -> list[dict]:
    ds = D.load(p.dataset, n_train=p.n_train or None, n_test=p.n_test or None, seed=p.subset_seed,
                device=resolve_device(p.device))
    store = Store()
    st = S.study(p, ds, store)
    seeds = list(range(p.seeds))
    runs = [(v, s) for v in S.VARIANTS for s in seeds] + [("sgt_signed", s) for s in seeds[:p.signed_seeds]] \
        + [("sgt_log_prob", s) for s in seeds[:getattr(p, "log_prob_seeds", 0)]]
    n_img = len(ds.y_train)
    small = S.study(p, subset(ds, min(sample, n_img), 200), Store(Path("/nonexistent")))
    rows = []
    for variant in dict.fromkeys(v for v, _ in runs):
        def train(epochs):
            small.config = training.TrainConfig(epochs=epochs, batch_size=p.batch_size, optimizer="adadelta", lr=p.lr)
            unit = small.train_unit(variant, 0)
            return unit.fn(*unit.args, **unit.kwargs)
        epoch, fixed = epoch_and_fixed(train)  # fixed: building, testing on 200 images
        each = epoch * n_img / len(small.data.y_train) * p.epochs + fixed * len(ds.y_test) / 200
        todo = [s for v, s in runs if v == variant and store._get_unit(st.train_unit(v, s)) is None]
        row = {"unit": f"sgt_train {variant}", "units": sum(v == variant for v, _ in runs), "to_run": len(todo),
               "sample": f"an epoch on {len(small.data.y_train)} images: {epoch:.1f} s", "seconds_each": each}
        rate = measured_rate(store, st.train_unit(variant, 0), int(ds.x_train[0].numel()))
        if rate:
            trained = n_img - round(p.val_fraction * n_img)
            row |= {"measured_each": rate[0] * trained * p.epochs,
                    "measured_from": f"{rate[1]} stored unit(s): {rate[0] * 1e3:.2f} ms per image and epoch"}
        rows.append(row)
    n_drop = min(p.n_drop, len(ds.y_test))
    k = min(100, n_drop)
    net = _net(st.model_name, ds, 0, models.build(st.model_name, seed=0, in_channels=ds.image_shape[0],
                                                 image_size=ds.image_shape[1], num_classes=ds.num_classes).state_dict())
    attr = AttributionConfig(ig_steps=p.ig_steps, nt_samples=p.nt_samples)
    sec = cpu_seconds(lambda: curves.accuracy_drop(net, ds.x_test[:k], ds.y_test[:k], p.drop_methods,
                                                   curves.PERCENTS, attr))
    done = sum(store._get_unit(st.evaluate_unit(v, s, methods=p.drop_methods, n_drop=n_drop, attr=attr,
                                                state_dict={})) is not None for v, s in runs)
    rows.append({"unit": "sgt_drop", "units": len(runs), "to_run": len(runs) - done,
                 "sample": f"{len(p.drop_methods)} methods on {k} test images: {sec:.1f} s",
                 "seconds_each": sec * n_drop / k})
    return rows


def roar_rows(p, sample: int) -> list[dict]:
    device = resolve_device(p.device)
    config, attr = train_config(p), AttributionConfig(ig_steps=p.ig_steps, nt_samples=p.nt_samples)
    rows = []
    for name in p.datasets:
        n_train = getattr(p, "n_train_by_dataset", {}).get(name, p.n_train)
        ds = D.load(name, n_train=n_train or None, n_test=p.n_test or None, seed=p.subset_seed, device=device)
        n_tr, n_te = len(ds.y_train), len(ds.y_test)
        small = subset(ds, min(sample, n_tr), min(sample, n_te))
        group = engine.CPU_GROUP
        sec, fixed = epoch_and_fixed(
            lambda e: roar_grid.base_group("roar", small, replace(config, epochs=e), list(range(group))))
        # an epoch of the group scaled to the training images, building and testing to the test images
        per_model = (sec * n_tr / len(small.y_train) * config.epochs + fixed * n_te / len(small.y_test)) / group
        kw = dict(methods=tuple(p.estimators), thresholds=tuple(p.thresholds), seeds=tuple(range(p.seeds)), attr=attr)
        grid = roar_grid.Grid(ds, config, modes=tuple(p.modes), **kw)
        store = grid.store  # the page's store ($ROARKIT_CACHE): what it holds is done
        stored = lambda kind, params, code: store.path(kind, store.key(kind, params, ds.info, code)).is_file()  # noqa: E731
        groups = [(grid, part, False) for part in grid.groups()]
        if p.leakage:
            leak = roar_grid.Grid(ds, config, modes=("roar",), **kw)
            groups += [(leak, part, True) for part in leak.groups()]
        left = sum(not all(stored("roar", g._unit_params(u, control), roar_grid.CODE) for u in part)
                   for g, part, control in groups)
        left += not all(stored("train", grid._params(seed=s), roar_grid.CODE) for s in range(p.seeds))
        models_roar = sum(len(part) for _, part, _ in groups)
        rows.append({"unit": f"{name}: base models and ROAR/KAR retrainings (lock-step groups of {group})",
                     "units": len(groups) + 1, "to_run": left, "models": models_roar + p.seeds,
                     "sample": f"1 epoch of {group} models on {len(small.y_train)} images: {sec:.1f} s",
                     "seconds_each": per_model * group, "seconds_total": per_model * (models_roar + p.seeds)})
        net = models.build("roar", seed=0, in_channels=ds.image_shape[0], image_size=ds.image_shape[1],
                           num_classes=ds.num_classes, device=device).eval()
        k = 64
        for m in p.estimators:
            sec = cpu_seconds(lambda: attribute(net, small.x_test[:k], small.y_test[:k], m, attr, seed=0))
            each = sec * (n_tr + n_te) / k
            ranks = [grid._rank_unit(m, seed, None) for seed in range(p.seeds)]
            rows.append({"unit": f"{name}: ranks {m}", "units": p.seeds,
                         "to_run": sum(not stored(u.kind, u.params, u.code) for u in ranks),
                         "sample": f"{k} images: {sec:.2f} s", "seconds_each": each, "seconds_total": each * p.seeds})
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("page", choices=PAGES)
    ap.add_argument("--profile", default="full-cpu")
    ap.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--contention", type=float, default=1.3)
    ap.add_argument("--sample", type=int, default=2000, help="training images of the timed samples")
    ap.add_argument("--out", help="write the rows and totals to this JSON file")
    a = ap.parse_args(argv)
    p = params(a.page, a.profile, {k: discover.parse_value(v) for k, v in a.parameter})
    rows = roar_rows(p, a.sample) if a.page == "roar_benchmark" else sgt_rows(p, a.sample)
    total = todo = 0.0
    print(f"estimate of {a.page} --profile {a.profile} (CPU seconds, one intra-op thread; this machine)")
    for r in rows:
        r.setdefault("seconds_total", r["seconds_each"] * r["units"])
        left = r["seconds_total"] if r["to_run"] is None else r["seconds_each"] * r["to_run"]
        total, todo = total + r["seconds_total"], todo + left
        togo = "" if r["to_run"] is None else f" ({r['to_run']} to run)"
        print(f"  {r['unit']:<62} {r['units']:>4} units{togo}  {r['seconds_each'] / 3600:6.2f} core-h each  "
              f"{r['seconds_total'] / 3600:6.2f} core-h  (sample: {r['sample']})")
    wall = todo / a.workers * a.contention / 3600
    print(f"total {total / 3600:.1f} core-hours; still to run {todo / 3600:.1f} core-hours, about {wall:.1f} h "
          f"wall on {a.workers} workers (x{a.contention} contention)")
    measured = None
    if any("measured_each" in r for r in rows):
        left = [r.get("measured_each", r["seconds_each"]) for r in rows if r["to_run"]
                for _ in range(r["to_run"])]
        measured = {"core_hours_to_run": sum(left) / 3600, "wall_hours": schedule(left, a.workers) / 3600}
        for r in rows:
            if "measured_each" in r:
                print(f"  measured: {r['unit']:<52} {r['measured_each'] / 3600:6.2f} core-h each  "
                      f"(from {r['measured_from']})")
        print(f"measured basis (stored units where there are any, the estimate elsewhere): still to run "
              f"{measured['core_hours_to_run']:.1f} core-hours, about {measured['wall_hours']:.1f} h wall on "
              f"{a.workers} workers (list schedule, no contention factor)")
    if a.out:
        Path(a.out).write_text(json.dumps({"page": a.page, "profile": a.profile, "params": vars(p), "rows": rows,
                                           "core_hours": total / 3600, "core_hours_to_run": todo / 3600,
                                           "wall_hours": wall, "workers": a.workers, "measured": measured},
                                          indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())

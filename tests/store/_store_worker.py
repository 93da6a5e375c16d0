"""Subprocess worker for tests/store/test_store.py (resume-after-kill).

``python tests/_store_worker.py STORE N``: trains N tiny seeded models through ``Store.cached``,
printing ``computed <i>`` for each unit it actually computes and ``done hits=H misses=M`` at the end.
``python tests/_store_worker.py STORE --big MB``: stores one unit holding an MB-sized tensor.
"""
import argparse
import sys

import torch

from roarkit.store import Store

STEPS = 400
#: The units here are computed by no roarkit module (``code=()``), so concurrent edits of roarkit's
#: sources cannot change their keys between the runs of one test.
CODE = ()


def unit(i: int, steps: int = STEPS) -> dict:
    """A few hundred SGD steps of a small MLP on seeded random regression data (CPU, deterministic)."""
    g = torch.Generator().manual_seed(1000 + i)
    x = torch.randn(512, 32, generator=g)
    y = torch.tanh(x @ torch.randn(32, 1, generator=g)) + 0.1 * torch.randn(512, 1, generator=g)
    torch.manual_seed(i)
    model = torch.nn.Sequential(torch.nn.Linear(32, 128), torch.nn.Tanh(), torch.nn.Linear(128, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
    return {"state": model.state_dict(), "loss": loss.item(), "pred": model(x[:16]).detach(), "unit": i}


def counting(steps: int, *, stop_at: int | None = None, checkpoint=None) -> dict:
    """A resumable unit: counts to ``steps``, writing its progress to ``checkpoint`` after each step and
    starting from it when present; raises after ``stop_at`` steps (an interrupted run)."""
    import os
    start = torch.load(checkpoint, weights_only=True)["done"] if checkpoint and os.path.exists(checkpoint) else 0
    for done in range(start, steps):
        if stop_at is not None and done == stop_at:
            raise RuntimeError(f"interrupted after {done} steps")
        if checkpoint:
            os.makedirs(os.path.dirname(checkpoint), exist_ok=True)
            torch.save({"done": done + 1}, checkpoint)
    return {"steps": steps, "resumed_from": start, "checkpoint": checkpoint or ""}


def big(mb: int) -> dict:
    g = torch.Generator().manual_seed(7)
    return {"big": torch.randn(mb * 2**20 // 4, generator=g), "mb": mb}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("store")
    ap.add_argument("n", nargs="?", type=int, default=8)
    ap.add_argument("--big", type=int, default=0, help="store one value with a tensor of this many MB")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    store = Store(args.store)

    def announce(name, fn):
        def compute():
            value = fn()
            print(f"computed {name}", flush=True)
            return value
        return compute

    if args.big:
        store.cached("big", {"mb": args.big}, None, announce("big", lambda: big(args.big)), device="cpu",
                     code=CODE)
    else:
        for i in range(args.n):
            store.cached("unit", {"i": i, "steps": STEPS}, None, announce(i, lambda i=i: unit(i)), device="cpu",
                         code=CODE)
    print(f"done hits={store.hits} misses={store.misses}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])


def malloc_environment() -> dict:
    """A unit's view of the allocator variables of the process that runs it."""
    import os
    return {k: os.environ.get(k) for k in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")}

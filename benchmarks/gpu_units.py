"""Compute the results-store units of pages with several processes on one machine, for a GPU machine
that has no Ray (the device machines: PyTorch, no Ray wheel within the 64 MiB a call carries).

    python benchmarks/gpu_units.py sgt_fashion_mnist sgt_mnist --profile paper --processes 16 --until EPOCH

Each of ``--processes`` processes runs every page's experiment (``roarkit.experiments.<module>.run(P,
store)``, the very call the page's notebook makes, with the profile's parameters) against one store.
Their store hands its missing units to :class:`Claiming`, which takes each unit with a claim file
(``<store>/.claims/<key>``, created with ``O_EXCL``; a dead process's claim is taken over), computes
and writes the units it claimed, and skips those claimed by another process. A page whose remaining
units are all claimed elsewhere is left for the next round, so a process goes on to the next page's
units rather than wait. The keys are the page's own (same parameters, data and code), so
``python -m roarkit run PAGE --profile P`` afterwards finds every unit stored.

Processes share the GPU by time slicing: one small training (SGT's net, batch 256) keeps a Hopper GPU
busy only part of the time, so several at once finish more units per second. ``--until`` (a Unix time)
stops claiming new units; the parent ends every process at that time, and a training in flight keeps
its checkpoint (written every ``roarkit.core.training.CHECKPOINT_SECONDS``) for the next call.

Exit status: 0 when every page's run finished (all units stored), 3 when time ran out first.
"""
from __future__ import annotations

import argparse
import importlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from roarkit.book import params as _params  # noqa: E402
from roarkit.book.page import Params, profile_values  # noqa: E402
from roarkit.store import Store  # noqa: E402
from roarkit.store import executor as X  # noqa: E402
from roarkit.store.settings import Settings  # noqa: E402

#: The experiment module of each page whose name is not its module's.
MODULES = {"sgt_mnist": "sgt", "sgt_fashion_mnist": "sgt"}


class Pending(Exception):
    """Every unit this process could take is done; the others are claimed by other processes."""


class OutOfTime(Exception):
    """``--until`` has passed: no new unit is claimed."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')} pid {os.getpid()}] {msg}", flush=True)


class Claiming:
    """An executor for :meth:`Store.map`: the missing units this process claims, computed here and
    written to the store (``worker_writes``: the store reads them back); units claimed elsewhere raise
    :class:`Pending` once this process has computed what it could."""

    def __init__(self, claims: Path, until: float, threads: int = 1):
        self.claims = claims
        self.until = until
        self.settings = Settings(threads=threads, worker_writes=True)
        self.computed = Counter()
        claims.mkdir(parents=True, exist_ok=True)

    def claim(self, key: str) -> bool:
        path = self.claims / key
        for _ in range(2):
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                try:
                    pid = int(path.read_text() or 0)
                except (OSError, ValueError):
                    return False
                if not pid or _alive(pid):
                    return False
                path.unlink(missing_ok=True)  # its process died: take the unit over
                continue
            os.write(fd, str(os.getpid()).encode())
            os.close(fd)
            return True
        return False

    def run(self, units, store=None, desc: str = "units"):
        node = X.local_node()
        waiting = []
        for i, unit in enumerate(units):
            if store._get_unit(unit) is not None:
                yield i, X.Done(None, 0.0, node)
                continue
            key = store.key(unit.kind, unit.params, unit.data, unit.code)
            if time.time() >= self.until:
                raise OutOfTime(desc)
            if not self.claim(key):
                waiting.append(i)
                continue
            log(f"start {desc} {key[:12]} {unit.describe()[:160]}")
            try:
                value, seconds = X._compute(unit, self.settings.threads)
                store.write(unit, X.Done(value, seconds, node), threads=self.settings.threads)
            except BaseException:
                (self.claims / key).unlink(missing_ok=True)
                raise
            self.computed[node["host"]] += 1
            log(f"done  {desc} {key[:12]} in {seconds:.1f} s")
            yield i, X.Done(None, seconds, node)
        for i in waiting:
            if store._get_unit(units[i]) is None:
                raise Pending(desc)
            yield i, X.Done(None, 0.0, node)


class ClaimingStore(Store):
    """A :class:`Store` whose :meth:`map` always uses one executor (the page's ``run`` takes a store)."""

    def __init__(self, root, executor):
        super().__init__(root)
        self.executor = executor

    def map(self, units, *, desc=None, executor=None):
        return super().map(units, desc=desc, executor=self.executor)


def page_params(page: str, profile: str, sets: list[str]) -> Params:
    """The page's parameters: its profile file, then ``NAME=VALUE`` overrides (YAML values), checked."""
    values = profile_values(profile, page)
    if values is None:
        raise SystemExit(f"gpu_units: no profile {profile!r} for page {page!r} (notebooks/profiles/{profile}/{page}.yaml)")
    for s in sets:
        name, _, text = s.partition("=")
        if not _ or name not in values:
            raise SystemExit(f"gpu_units: --set {s!r}: give NAME=VALUE with a parameter of {page} ({', '.join(values)})")
        values[name] = yaml.safe_load(text)
    return Params(**_params.check(values, values, page=f"page {page!r}"))


def experiment(page: str):
    module = importlib.import_module(f"roarkit.experiments.{MODULES.get(page, page)}")
    if not hasattr(module, "run"):
        raise SystemExit(f"gpu_units: roarkit.experiments.{module.__name__} has no run(P, store)")
    return module.run


def worker(a) -> int:
    store_root = Path(a.store or os.environ.get("ROARKIT_CACHE") or ROOT / ".roarkit-cache")
    ex = Claiming(store_root / ".claims", a.until, a.threads)
    store = ClaimingStore(store_root, ex)
    todo = {page: (experiment(page), page_params(page, a.profile, a.set)) for page in a.pages}
    while todo:
        progressed = False
        for page, (run, p) in list(todo.items()):
            try:
                run(p, store)
            except Pending:
                continue
            except OutOfTime:
                log(f"out of time; computed {sum(ex.computed.values())} unit(s)")
                return 3
            log(f"{page}: every unit stored")
            del todo[page]
            progressed = True
        if todo and not progressed:
            if time.time() >= a.until:
                return 3
            time.sleep(a.poll)
    log(f"finished; computed {sum(ex.computed.values())} unit(s)")
    return 0


def parent(a) -> int:
    for page in a.pages:  # a bad page, profile or parameter fails here, once, before any process starts
        experiment(page), page_params(page, a.profile, a.set)
    args = [sys.executable, str(Path(__file__).resolve()), *a.pages, "--profile", a.profile, "--until", str(a.until),
            "--threads", str(a.threads), "--poll", str(a.poll), "--worker"]
    for s in a.set:
        args += ["--set", s]
    if a.store:
        args += ["--store", a.store]
    until = "no time limit" if a.until == float("inf") else "until " + time.strftime("%H:%M:%S", time.localtime(a.until))
    log(f"{a.processes} processes for {', '.join(a.pages)} ({a.profile}); {until}")
    procs = [subprocess.Popen(args) for _ in range(a.processes)]
    try:
        while any(p.poll() is None for p in procs) and time.time() < a.until + a.grace:
            time.sleep(1)
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
        for p in procs:
            p.wait()
    codes = Counter(p.returncode for p in procs)
    done = bool(codes.get(0))  # a process that returned 0 ran every page to its end: all units stored
    log(f"processes ended: exit codes {dict(codes)}; " + ("every unit stored" if done else "time ran out first"))
    return 0 if done else 3


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pages", nargs="+")
    ap.add_argument("--profile", default="paper")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="override a profile parameter")
    ap.add_argument("--processes", type=int, default=max(1, (os.cpu_count() or 1)))
    ap.add_argument("--until", type=float, default=float("inf"), help="Unix time after which no unit is claimed")
    ap.add_argument("--grace", type=float, default=0.0, help="seconds after --until before processes are killed")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads per process")
    ap.add_argument("--poll", type=float, default=5.0, help="seconds between rounds while others finish units")
    ap.add_argument("--store", help="results store (default: $ROARKIT_CACHE)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.processes < 1:
        raise SystemExit("gpu_units: --processes must be >= 1")
    return worker(a) if a.worker else parent(a)


if __name__ == "__main__":
    sys.exit(main())

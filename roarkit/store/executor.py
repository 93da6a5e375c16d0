"""Executors: compute the results store's missing units of work in this process, or on Ray.

A :class:`Unit` is one stored result (one training, one attribution or perturbation chunk, one
SGT/SMOOT training) or one lock-step group of trainings (``params`` a list: one entry per model). Its
work is ``fn(*args, **kwargs)``, a module-level function returning the value dict (a list of them
for a group), so that Ray can ship it to another process or machine. Page code hands the store all
the units it needs at once (:meth:`roarkit.store.Store.map`); the store keeps those it has and gives
the others to the executor, which yields each result as it arrives, and the store writes it.

Two backends, chosen by :class:`Settings` (command-line options of ``python -m roarkit run`` or the
environment variables below, which direct ``papermill`` runs read too):

=================  ==========================  ==================================================
setting            environment variable        meaning
=================  ==========================  ==================================================
``executor``       ``ROARKIT_EXECUTOR``        ``in-process`` (default: one unit after another)
                                               or ``ray``
``workers``        ``ROARKIT_WORKERS``         local Ray: units at once (default: every core)
``address``        ``ROARKIT_ADDRESS``         an existing Ray cluster (``host:port``, or
                                               ``auto``) instead of a local one
``gpus_per_unit``  ``ROARKIT_GPUS_PER_UNIT``   Ray: the GPU fraction each unit holds (0.25: four
                                               small models share a device)
``threads``        ``ROARKIT_THREADS``         torch intra-op threads per unit (default 1)
``worker_writes``  ``ROARKIT_WORKER_WRITES``   Ray workers write the store themselves (only where
                                               every node shares the store's filesystem)
=================  ==========================  ==================================================

**The executor never changes a result.** On the CPU a unit's floats depend on torch's intra-op
thread count (it sets the order of partial sums), so every backend runs each unit with the same
``threads``: in-process, Ray with one worker and Ray with many give bitwise-identical entries. Neither
the executor nor ``threads`` enters a unit's key; the sidecar of each entry records both and the node
that computed it.

**Faults.** A Ray task whose worker process or node dies is retried (``max_retries``); a unit that
raises is not: the run stores every unit that finishes, then raises one :class:`UnitError` naming the
failed unit and its parameters. Nothing is written before a unit has finished, and writes are atomic,
so a killed driver loses only the units in flight: a rerun resumes from the store.
"""
from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterator

import torch

from roarkit.store.codeversion import code_version
from roarkit.store.settings import ExecutorError, Settings, option

__all__ = ["MALLOC", "UnitError", "Unit", "Done", "InProcess", "RayExecutor", "preflight", "current", "configure",
           "describe", "local_node", "malloc_env"]

MAX_RETRIES = 3          # Ray retries of a unit whose worker or node died

#: glibc's allocator settings for the processes that run units (Ray's workers, a page's kernel). With
#: glibc's defaults a training's large activation blocks are mmap'ed and zeroed afresh at every step,
#: and a third of an SGT training's CPU time went to the kernel: blocks below 32 MiB now come from the
#: heap and are reused, the heap is never trimmed back, and what is mapped uses transparent huge pages.
#: Same floats (tests/store/test_executor.py). Three variables, not one GLIBC_TUNABLES list: glibc 2.36
#: passes on only the first entry of such a list to the processes it starts.
MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(32 * 2**20), "MALLOC_TRIM_THRESHOLD_": str(2**36),
          "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}


def malloc_env(env=None) -> dict:
    """The entries of :data:`MALLOC` to add to a unit-running process's environment: none when
    ``ROARKIT_MALLOC=glibc`` (glibc's defaults), and never one the user has set."""
    env = os.environ if env is None else env
    choice = env.get("ROARKIT_MALLOC", "roarkit").strip().lower()
    if choice not in ("roarkit", "glibc"):
        raise ExecutorError(f"ROARKIT_MALLOC={env['ROARKIT_MALLOC']!r}: use 'roarkit' (the allocator settings "
                            "of roarkit.store.executor.MALLOC, the default) or 'glibc' (glibc's defaults)")
    if choice == "glibc":
        return {}
    return {k: v for k, v in MALLOC.items() if k not in env}


class UnitError(RuntimeError):
    """A unit of work raised; the message names it and its parameters."""


@dataclass
class Unit:
    """One unit of work: stored under ``(kind, params, data, code)``, computed by ``fn(*args, **kwargs)``.

    ``params`` a list makes it a lock-step group: ``fn`` returns one value per element, each stored
    as its own entry. ``fn`` must be a module-level function (Ray ships it by name); large arguments
    (a dataset) are sent to the Ray object store once per map, however many units share them.
    ``resumable``: the store hands ``fn`` a ``checkpoint`` file of its own (:meth:`Store.checkpoint`), so
    a unit longer than a session resumes where it stopped."""

    kind: str
    params: dict | list
    data: Any
    fn: Callable
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    code: tuple | None = None
    device: Any = "cpu"
    resumable: bool = False  # fn takes ``checkpoint=PATH`` and resumes from it (a long training)

    @property
    def group(self) -> bool:
        return isinstance(self.params, list)

    def describe(self) -> str:
        text = json.dumps(self.params, sort_keys=True, default=str)
        return f"{self.kind!r} unit with parameters {text if len(text) <= 400 else text[:400] + ' ...'}"


@dataclass
class Done:
    """A finished unit: its value (a list for a group; None when the worker wrote it), its compute
    seconds and the node that computed it."""

    value: Any
    seconds: float
    node: dict


def local_node() -> dict:
    """This process as a node: host name and, inside a Ray worker, Ray's node id."""
    node = {"host": socket.gethostname()}
    if "ray" in sys.modules:
        import ray
        if ray.is_initialized():
            try:
                node["ray_node"] = ray.get_runtime_context().get_node_id()
            except Exception:  # a driver outside any job
                pass
    return node


def _to_cpu(value):
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        out = type(value)((k, _to_cpu(v)) for k, v in value.items())
        if hasattr(value, "_metadata"):
            out._metadata = value._metadata
        return out
    if isinstance(value, (list, tuple)):
        return type(value)(_to_cpu(v) for v in value)
    return value


def _compute(unit: Unit, threads: int):
    """``unit``'s value and compute seconds, with ``threads`` intra-op threads (restored after)."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        start = time.perf_counter()
        value = unit.fn(*unit.args, **unit.kwargs)
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
    finally:
        torch.set_num_threads(before)
    if unit.group and (not isinstance(value, (list, tuple)) or len(value) != len(unit.params)):
        raise TypeError(f"{unit.kind!r} group of {len(unit.params)} returned "
                        f"{len(value) if isinstance(value, (list, tuple)) else type(value).__name__} values")
    return value, seconds


def _bar(total: int, desc: str):
    """One tqdm bar over the units, with its ETA, on the process's own stderr: inside a page's kernel
    that is the terminal of ``python -m roarkit run``, never the notebook. Shown on a terminal outside
    CI, or when ``ROARKIT_PROGRESS`` is 1 (0: never)."""
    from tqdm import tqdm  # the text bar: a widget would land in the notebook
    err = sys.__stderr__ or sys.stderr
    show = os.environ.get("ROARKIT_PROGRESS")
    show = show.lower() in ("1", "true", "yes", "on") if show else err.isatty() and not os.environ.get("CI")
    return tqdm(total=total, desc=desc, unit="unit", disable=not show or total == 0, dynamic_ncols=True, file=err)


class InProcess:
    """Units one after another in this process (today's behaviour)."""

    name = "in-process"

    def __init__(self, settings: Settings = Settings()):
        self.settings = settings
        self.computed = Counter()

    def run(self, units: list[Unit], store=None, desc: str = "units") -> Iterator[tuple[int, Done]]:
        node = local_node()
        with _bar(len(units), desc) as bar:
            for i, unit in enumerate(units):
                try:
                    value, seconds = _compute(unit, self.settings.threads)
                except Exception as exc:
                    raise UnitError(f"{unit.describe()} failed: {type(exc).__name__}: {exc} (the {i} unit(s) "
                                    "before it are stored; a rerun resumes from them)") from exc
                self.computed[node["host"]] += 1
                bar.update()
                yield i, Done(value, seconds, node)

    def describe(self) -> dict:
        return {"executor": self.name, "workers": 1, "nodes": 1, "threads": self.settings.threads}


def _ray_task(unit: Unit, threads: int, version: str, store, keys: list, *values):
    """A unit inside a Ray worker: its arguments arrive as ``values`` (positional, then those of
    ``keys``), where Ray has resolved them from the object store. Check the worker runs the driver's
    code, compute, return on the CPU (or write the entry itself when ``store`` is given)."""
    n = len(values) - len(keys)
    unit = replace(unit, args=tuple(values[:n]), kwargs=dict(zip(keys, values[n:])))
    here = code_version(unit.code)
    node = local_node()
    if here != version:
        raise ExecutorError(f"node {node['host']} runs roarkit code {here}, the driver {version}: install the "
                            "same checkout on every node of the cluster")
    value, seconds = _compute(unit, threads)
    if store is not None:
        store.write(unit, Done(value, seconds, node), threads=threads)
        return Done(None, seconds, node)
    return Done(_to_cpu(value), seconds, node)


class RayExecutor:
    """Units as Ray tasks: a local Ray with ``workers`` CPUs (default every core), or the cluster at
    ``address``. ``gpus_per_unit`` reserves that fraction of a GPU per unit."""

    name = "ray"

    def __init__(self, settings: Settings):
        self.settings = settings
        self.computed = Counter()
        self._task = None

    def start(self):
        import ray
        if not ray.is_initialized():
            s = self.settings
            kw = dict(include_dashboard=False, log_to_driver=False, configure_logging=True,
                      logging_level="warning", runtime_env={"env_vars": malloc_env()})
            if s.address:
                ray.init(address=s.address, **kw)
            else:
                # "local": a new Ray of its own, even where `ray start` left a cluster on this machine
                ray.init(address="local", num_cpus=s.workers or os.cpu_count() or 1, **kw)
            if s.gpus_per_unit and not ray.cluster_resources().get("GPU"):
                ray.shutdown()
                raise ExecutorError(f"{option('gpus_per_unit')} {s.gpus_per_unit} needs GPUs, and the Ray cluster "
                                    f"{'at ' + s.address if s.address else 'here'} has none: leave it out to "
                                    "run on CPUs")
        if self._task is None:
            self._task = ray.remote(_ray_task).options(
                num_cpus=1, num_gpus=self.settings.gpus_per_unit or 0, max_retries=MAX_RETRIES,
                retry_exceptions=False)
        return ray

    def run(self, units: list[Unit], store=None, desc: str = "units") -> Iterator[tuple[int, Done]]:
        if not units:
            return
        on_gpu = [u for u in units if str(u.device).startswith("cuda")]
        if on_gpu and not self.settings.gpus_per_unit:
            raise ExecutorError(f"{on_gpu[0].describe()} runs on {on_gpu[0].device}, and Ray gives a worker a GPU "
                                f"only when asked: add {option('gpus_per_unit')} (1, or 0.25 to share a device)")
        ray = self.start()
        shared: dict[int, Any] = {}

        def ref(obj):  # every large argument goes to the object store once
            if isinstance(obj, (type(None), bool, int, float, str)):
                return obj
            if id(obj) not in shared:
                shared[id(obj)] = (ray.put(obj), obj)
            return shared[id(obj)][0]

        writer = store if self.settings.worker_writes else None
        pending = {}
        for i, unit in enumerate(units):
            bare = replace(unit, args=(), kwargs={})
            values = [ref(a) for a in unit.args] + [ref(v) for v in unit.kwargs.values()]
            pending[self._task.remote(bare, self.settings.threads, code_version(unit.code), writer,
                                      list(unit.kwargs), *values)] = i
        failed: list[tuple[int, BaseException]] = []
        with _bar(len(units), desc) as bar:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                for r in ready:
                    i = pending.pop(r)
                    try:
                        done = ray.get(r)
                    except Exception as exc:  # the unit raised, or its retries ran out
                        failed.append((i, exc))
                        continue
                    self.computed[done.node.get("ray_node", done.node["host"])] += 1
                    bar.update()
                    yield i, done
        if failed:
            i, exc = failed[0]
            cause = getattr(exc, "cause", None) or exc
            more = f"; {len(failed) - 1} other unit(s) failed too" if len(failed) > 1 else ""
            raise UnitError(f"{units[i].describe()} failed: {type(cause).__name__}: {cause}{more} (the "
                            f"{len(units) - len(failed)} unit(s) that finished are stored; a rerun resumes from "
                            "them)") from exc

    def describe(self) -> dict:
        out = {"executor": self.name, "threads": self.settings.threads,
               "address": self.settings.address or "local"}
        if "ray" in sys.modules:
            import ray
            if ray.is_initialized():
                out["workers"] = int(ray.cluster_resources().get("CPU", 0))
                out["nodes"] = sum(1 for n in ray.nodes() if n.get("Alive"))
        out.setdefault("workers", self.settings.workers or os.cpu_count())
        out.setdefault("nodes", None)
        if self.settings.gpus_per_unit:
            out["gpus_per_unit"] = self.settings.gpus_per_unit
        return out


def preflight(settings: Settings) -> Settings:
    """``settings`` checked (:meth:`Settings.check`), and, for a cluster's address with
    ``gpus_per_unit``, that the cluster has GPUs (a short connection): what the command line checks
    before any page runs."""
    settings = settings.check()
    if settings.executor == "ray" and settings.address and settings.gpus_per_unit:
        import ray
        ex = RayExecutor(settings)
        try:
            ex.start()
        finally:
            ray.shutdown()
    return settings


_CURRENT: dict[Settings, Any] = {}


def configure(settings: Settings | None = None):
    """The executor for ``settings`` (checked; default: from the environment), made current."""
    settings = (settings or Settings.from_env()).check()
    if settings not in _CURRENT:
        _CURRENT.clear()
        _CURRENT[settings] = RayExecutor(settings) if settings.executor == "ray" else InProcess(settings)
    return _CURRENT[settings]


def current():
    """The current executor: the one :func:`configure` made, else the environment's."""
    if _CURRENT:
        return next(iter(_CURRENT.values()))
    return configure()


def describe() -> dict:
    """The current executor for a page's provenance: name, workers, nodes, threads, and the units each
    node computed in this process."""
    ex = current()
    return {**ex.describe(), "computed_by": dict(ex.computed)}

"""The on-disk results store: every expensive unit of work is computed once and loaded afterwards.

An entry is addressed by ``(kind, params, data, code_version())``; its file is
``<root>/<kind>/<key[:2]>/<key>.pt`` (``torch.save`` of ``{"value", "provenance"}``) plus a
human-readable ``<key>.json`` sidecar holding the provenance (the ``.pt`` is authoritative and written last, so an
entry whose ``.pt`` exists is whole), including the node and device that computed it. :meth:`Store.map` takes many
units at once and hands the missing ones to the executor (:mod:`roarkit.store.executor`), writing each result as it
arrives. A resumable unit (a long training) checkpoints into ``<root>/.checkpoints/<kind>/<key>.pt``; a rerun resumes.

Writes are atomic: a hidden ``.<name>.<pid space>.<pid>.<rand>.tmp`` file in the same directory is written, flushed,
fsync'ed and ``os.replace``'d onto the final name, so a reader (or a process killed mid-write) never sees a
half-written entry. Readers only open final names, with ``torch.load(weights_only=True)``; an unreadable final file
warns and is recomputed. A writer killed mid-write leaves its temp file behind; the next write into that directory
removes it once its writer is known dead (same pid space, process gone) or, for writers elsewhere, once it is
:data:`STALE_TMP_SECONDS` old.

Values must be dicts of tensors, python scalars, str, bytes, lists/tuples and nested dicts (e.g. a ``state_dict``).
Tensors are detached and moved to CPU before saving (and stay on CPU when loaded); numpy arrays become tensors and
numpy scalars python scalars; anything else (a module, an arbitrary object) raises TypeError naming where it sits.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import time
import uuid
import warnings
from collections import Counter, OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from roarkit.store.codeversion import code_version
from roarkit.store.executor import Done, Unit, current, local_node
from roarkit.store.provenance import environment, pid_space, repo_root

__all__ = ["STALE_TMP_SECONDS", "usage", "Entry", "Store"]

STALE_TMP_SECONDS = 3600  # .tmp files older than this are leftovers of killed writers, whoever wrote them
_USED: dict[str, tuple[bool, float, str]] = {}  # key -> (computed in this process?, seconds to compute, device)
_KIND_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_SCALARS = (type(None), bool, int, float, complex, str, bytes, torch.dtype, torch.Size)


def _use(computed: bool, provenance: dict) -> tuple[bool, float, str]:  # a unit's row of _USED, from its provenance
    return computed, float(provenance.get("seconds", 0.0)), provenance.get("device", "?")


def usage(reset: bool = False) -> dict:
    """Units of work this process took from any store: how many it ``computed`` (and their seconds)
    and how many it ``reused`` (and the seconds they took when computed), each unit once, and
    ``devices``: how many of them each device computed (``{name: count}``, most first).
    A page re-rendered from the store runs in seconds; this says what its numbers cost."""
    out = {"computed": 0, "computed_seconds": 0.0, "reused": 0, "reused_seconds": 0.0}
    for computed, seconds, _ in _USED.values():
        name = "computed" if computed else "reused"
        out[name] += 1
        out[f"{name}_seconds"] += seconds
    out = {k: round(v, 1) if isinstance(v, float) else v for k, v in out.items()}
    out["devices"] = dict(Counter(device for *_, device in _USED.values()).most_common())
    if reset:
        _USED.clear()
    return out


def _canonical(obj, where: str):
    """``obj`` as plain JSON types (tuples -> lists); TypeError naming ``where`` otherwise."""
    if isinstance(obj, np.generic):
        obj = obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, (list, tuple)):
        return [_canonical(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, Mapping):
        bad = [k for k in obj if not isinstance(k, str)]
        if bad:
            raise TypeError(f"{where}: keys must be str for a stable key, got {bad[0]!r}")
        return {k: _canonical(v, f"{where}[{k!r}]") for k, v in obj.items()}
    raise TypeError(f"{where} is {type(obj).__name__} ({obj!r:.60}), not JSON-serialisable; "
                    "use str/int/float/bool/None, lists and dicts")


def _storable(obj, where: str):
    """``obj`` with tensors detached on CPU and numpy converted; TypeError for anything else."""
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu()
        if t.layout == torch.strided and (not t.is_contiguous()
                                          or t.untyped_storage().nbytes() > t.numel() * t.element_size()):
            t = t.clone(memory_format=torch.contiguous_format)  # don't save a view's whole base
        return t
    if isinstance(obj, np.ndarray):
        try:
            return torch.from_numpy(np.ascontiguousarray(obj)).clone()
        except TypeError as e:
            raise TypeError(f"{where}: numpy array of dtype {obj.dtype} cannot become a tensor") from e
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, _SCALARS):
        return obj
    if isinstance(obj, (list, tuple)):
        return type(obj)(_storable(v, f"{where}[{i}]") for i, v in enumerate(obj))
    if isinstance(obj, Mapping):
        out = OrderedDict() if isinstance(obj, OrderedDict) else {}
        for k, v in obj.items():
            out[k] = _storable(v, f"{where}[{k!r}]")
        if hasattr(obj, "_metadata"):  # state_dict version info
            out._metadata = obj._metadata
        return out
    raise TypeError(f"{where} is {type(obj).__name__}; the results store keeps only tensors, numbers, str, "
                    "bytes, lists and dicts (store a state_dict, not a module)")


def _json_safe(obj):
    return json.loads(json.dumps(obj, default=str))


def _data_list(data) -> list[dict]:
    items = [] if data is None else list(data) if isinstance(data, (list, tuple)) else [data]
    for d in items:
        if not (hasattr(d, "as_dict") or isinstance(d, Mapping)):
            raise TypeError(f"data must be DataInfo objects (with .as_dict()), got {type(d).__name__}")
    return [dict(d.as_dict()) if hasattr(d, "as_dict") else dict(d) for d in items]


def _data_identity(info: dict) -> dict:
    """What of a DataInfo enters the key: content and subset, never where the files live."""
    return {"name": info.get("name"), "files": [f.get("md5") for f in info.get("files", [])],
            "n_train": info.get("n_train"), "n_test": info.get("n_test"), "subset_seed": info.get("subset_seed")}


def _default_root() -> Path:
    if os.environ.get("ROARKIT_CACHE"):
        return Path(os.environ["ROARKIT_CACHE"])
    repo = repo_root()
    return repo / ".roarkit-cache" if repo is not None else Path.home() / ".cache" / "roarkit"


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _atomic_write(path: Path, write) -> None:
    """``write(f)`` into a hidden temp file beside ``path``, fsync, then rename onto ``path``."""
    tmp = path.parent / f".{path.name}.{pid_space()}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` of this host runs (a zombie, killed but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)  # PermissionError (another user's process): alive
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except ProcessLookupError:
        return False
    except (OSError, IndexError):  # no /proc (not Linux), or another user's process
        return True


def _clean_stale_tmp(directory: Path) -> None:
    """Remove the temp files of killed writers: this pid space's (:func:`pid_space`) whose process is gone, any
    other once it is :data:`STALE_TMP_SECONDS` old (a writer elsewhere, or a name without one, may be alive)."""
    cutoff = time.time() - STALE_TMP_SECONDS
    mine = re.compile(rf"\.{re.escape(pid_space())}\.(\d+)\.[0-9a-f]{{8}}\.tmp$")
    for tmp in directory.glob(".*.tmp"):
        try:
            m = mine.search(tmp.name)
            if (m and not _alive(int(m.group(1)))) or tmp.stat().st_mtime < cutoff:
                tmp.unlink()
        except OSError:
            pass


@dataclass
class Entry:
    """One stored result. ``value`` is None when listed by :meth:`Store.entries` without values."""

    key: str
    kind: str
    value: dict | None
    provenance: dict
    hit: bool  # True when loaded from disk, False when computed now
    path: Path


class Store:
    """Results store under ``root``: explicit > ``$ROARKIT_CACHE`` > ``<checkout>/.roarkit-cache`` > ``~/.cache/roarkit``."""

    def __init__(self, root=None):
        self.root = Path(root if root is not None else _default_root()).expanduser()
        self.hits = 0
        self.misses = 0

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r}, hits={self.hits}, misses={self.misses})"

    def key(self, kind: str, params: dict, data=None, code=None) -> str:
        """sha256 of canonical JSON of kind, params, data identity (md5s, sizes, subset seed) and the
        :func:`~roarkit.store.codeversion.code_version` of ``code`` (the modules computing the unit, e.g.
        ``("roarkit.experiments.roar_grid",)``; None: all of roarkit's computing code)."""
        if not isinstance(kind, str) or not _KIND_RE.match(kind):
            raise ValueError(f"kind must be a simple name like 'train' or 'attributions', got {kind!r}")
        payload = {"kind": kind, "params": _canonical(params, "params"),
                   "data": [_data_identity(d) for d in _data_list(data)], "code": code_version(code)}
        blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return hashlib.sha256(blob.encode()).hexdigest()

    def path(self, kind: str, key: str) -> Path:
        return self.root / kind / key[:2] / f"{key}.pt"

    def checkpoint(self, kind: str, key: str) -> Path:
        """Where a resumable unit in progress keeps its checkpoint (deleted once the unit is written)."""
        return self.root / ".checkpoints" / kind / f"{key}.pt"

    def _load(self, path: Path, kind: str, key: str) -> Entry | None:
        if not path.is_file():
            return None
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
            if not (isinstance(obj, dict) and isinstance(obj.get("value"), dict)
                    and isinstance(obj.get("provenance"), dict)):
                raise ValueError("not a results-store entry")
        except Exception as e:  # truncated / corrupted by something else: recompute
            warnings.warn(f"results store: cannot read {path} ({type(e).__name__}: {e}); "
                          "treating it as missing", RuntimeWarning, stacklevel=3)
            return None
        return Entry(key, kind, obj["value"], obj["provenance"], hit=True, path=path)

    def get(self, kind: str, params: dict, data=None, code=None) -> Entry | None:
        """The stored entry, or None when absent (or unreadable, with a warning)."""
        key = self.key(kind, params, data, code)
        entry = self._load(self.path(kind, key), kind, key)
        if entry is not None:
            _USED.setdefault(key, _use(False, entry.provenance))
        return entry

    def put(self, kind: str, params: dict, data, value: dict, *, seconds: float, device="cpu",
            code=None, node: dict | None = None, threads: int | None = None) -> Entry:
        """Store ``value`` (atomically, overwriting) and return its entry (``hit=False``, CPU tensors).
        The sidecar records ``node`` (the machine and Ray node that computed it; default this process)
        and ``threads`` (the intra-op threads it ran with, when an executor ran it)."""
        key = self.key(kind, params, data, code)
        if not isinstance(value, Mapping):
            raise TypeError(f"value must be a dict, got {type(value).__name__}")
        value = _storable(dict(value), "value")
        provenance = _json_safe({
            "kind": kind, "key": key, "params": _canonical(params, "params"), "data": _data_list(data),
            "code_version": code_version(code), "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "seconds": float(seconds), "node": node or local_node(),
            **({"threads": threads} if threads else {}), **environment(device)})
        path = self.path(kind, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        _clean_stale_tmp(path.parent)
        # The sidecar first, the .pt last: a .pt on disk always has its sidecar beside it, so a process
        # killed between the two writes leaves at most a lone sidecar, which no reader looks at.
        text = json.dumps(provenance, indent=2, sort_keys=True) + "\n"
        _atomic_write(path.with_suffix(".json"), lambda f: f.write(text.encode()))
        _atomic_write(path, lambda f: torch.save({"value": value, "provenance": provenance}, f))
        _USED[key] = _use(True, provenance)
        return Entry(key, kind, value, provenance, hit=False, path=path)

    def cached(self, kind: str, params: dict, data=None, compute=None, *, device="cpu", code=None) -> Entry:
        """Load the entry if stored, else time ``compute()`` (returning a dict), store and return it: one
        unit computed in this process, ``compute`` any callable (pages hand units to :meth:`map`, which
        gives the missing ones to the executor).
        ``code``: the modules that compute the unit (see :func:`~roarkit.store.codeversion.code_version`)."""
        entry = self.get(kind, params, data, code)
        if entry is not None:
            self.hits += 1
            return entry
        if compute is None:
            raise KeyError(f"no stored {kind!r} result for params={params!r} and no compute given")
        start = time.perf_counter()
        value = compute()
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        self.misses += 1
        return self.put(kind, params, data, value, seconds=seconds, device=device, code=code)

    def _get_unit(self, unit: Unit):
        """A unit's stored entry (a list for a group; None if any member is missing)."""
        if not unit.group:
            return self.get(unit.kind, unit.params, unit.data, unit.code)
        entries = [self.get(unit.kind, p, unit.data, unit.code) for p in unit.params]
        return None if any(e is None for e in entries) else entries

    def write(self, unit: Unit, done: Done, *, threads: int | None = None):
        """Store a finished unit's value (each member of a group; each shares the group's seconds
        evenly) and return its entry (a list for a group)."""
        if not unit.group:
            return self.put(unit.kind, unit.params, unit.data, done.value, seconds=done.seconds,
                            device=unit.device, code=unit.code, node=done.node, threads=threads)
        share = done.seconds / max(len(unit.params), 1)
        return [self.put(unit.kind, p, unit.data, v, seconds=share, device=unit.device, code=unit.code,
                         node=done.node, threads=threads) for p, v in zip(unit.params, done.value)]

    def map(self, units: list[Unit], *, desc: str | None = None, executor=None) -> list:
        """The entry of every unit (a list of entries for a group), in order: those stored are read
        back, the missing ones are computed together by ``executor`` (default
        :func:`roarkit.store.executor.current`) and written as each arrives. Units with the same key
        are computed once. If a unit raises, the finished ones are stored before the error rises."""
        units = list(units)
        out, todo, first = [None] * len(units), [], {}
        for i, u in enumerate(units):
            entry = self._get_unit(u)
            if entry is not None:
                self.hits += 1
                out[i] = entry
                continue
            key = self.key(u.kind, u.params, u.data, u.code)
            if key in first:
                continue
            first[key] = i
            todo.append(i)
        ex = executor or current()
        writes, threads = ex.settings.worker_writes, ex.settings.threads
        checkpoints = {}
        for i in todo:
            u = units[i]
            if u.resumable and not u.group:
                checkpoints[i] = self.checkpoint(u.kind, self.key(u.kind, u.params, u.data, u.code))
                units[i] = replace(u, kwargs={**u.kwargs, "checkpoint": str(checkpoints[i])})
        for j, done in ex.run([units[i] for i in todo], store=self, desc=desc or units[todo[0]].kind if todo else ""):
            i = todo[j]
            self.misses += 1
            if writes:  # the worker wrote it: read it back, count it as computed here
                out[i] = self._get_unit(units[i])
                for e in out[i] if isinstance(out[i], list) else [out[i]]:
                    e.hit = False
                    _USED[e.key] = _use(True, e.provenance)
            else:
                out[i] = self.write(units[i], done, threads=threads)
            if i in checkpoints:  # done: its checkpoint, and the temp files of checkpoint writers killed mid-write
                checkpoints[i].unlink(missing_ok=True)
                _clean_stale_tmp(checkpoints[i].parent)
        for i, u in enumerate(units):  # duplicates of a computed unit
            if out[i] is None:
                out[i] = self._get_unit(u)
        return out

    def map_named(self, named: dict, *, desc: str | None = None, executor=None) -> dict:
        """:meth:`map` over ``{name: [units]}`` in one go (every name's units run concurrently);
        returns ``{name: [entries]}``."""
        flat = self.map([u for units in named.values() for u in units], desc=desc, executor=executor)
        out, i = {}, 0
        for name, units in named.items():
            out[name], i = flat[i:i + len(units)], i + len(units)
        return out

    def entries(self, kind: str | None = None, *, values: bool = False):
        """Iterate stored entries (sorted), provenance from the JSON sidecar unless ``values=True``."""
        if not self.root.is_dir():
            return
        kinds = [kind] if kind else sorted(p.name for p in self.root.iterdir()
                                           if p.is_dir() and not p.name.startswith("."))
        for k in kinds:
            for path in sorted((self.root / k).glob("??/*.pt")):
                if path.name.startswith("."):
                    continue
                key = path.stem
                if not values:
                    try:
                        prov = json.loads(path.with_suffix(".json").read_text())
                        if prov.get("key") == key:
                            yield Entry(key, k, None, prov, hit=True, path=path)
                            continue
                    except (OSError, ValueError):
                        pass  # no / stale sidecar: fall back to the authoritative .pt
                entry = self._load(path, k, key)
                if entry is not None:
                    if not values:
                        entry.value = None
                    yield entry

    def __iter__(self):
        return self.entries()

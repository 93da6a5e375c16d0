"""Where and with what a result was computed: device, library versions, git commit, host.

Everything here is cheap after the first call (versions and git state are cached per process),
so :func:`environment` can be recorded with every cached result.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path

import torch

__all__ = ["device_name", "versions", "repo_root", "git_commit", "environment", "pid_space"]

_PACKAGES = {"torch": "torch", "torchvision": "torchvision", "captum": "captum", "numpy": "numpy"}
_VERSIONS: dict | None = None
_GIT_CACHE: dict[str, str] = {}


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def device_name(device="cpu") -> str:
    """Human-readable device, e.g. ``"NVIDIA H100 80GB HBM3 (cuda:0)"`` or ``"CPU: <model> (8 threads)"``.
    ``device``: the one a result was computed on (a ``torch.device`` or its name; never ``"auto"``,
    which the science resolves before it computes)."""
    dev = torch.device(device)
    if dev.type == "cuda":
        index = dev.index if dev.index is not None else torch.cuda.current_device()
        return f"{torch.cuda.get_device_name(index)} (cuda:{index})"
    if dev.type == "cpu":
        return f"CPU: {_cpu_model()} ({torch.get_num_threads()} threads)"
    return str(dev)


def _version(module: str, dist: str) -> str:
    mod = sys.modules.get(module)
    if mod is not None and getattr(mod, "__version__", None):
        return str(mod.__version__)
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def versions() -> dict:
    """Versions of python, torch, torchvision, captum, numpy and roarkit (``"not installed"`` if missing)."""
    global _VERSIONS
    if _VERSIONS is None:
        from roarkit import __version__

        out = {"python": platform.python_version()}
        out.update({name: _version(name, dist) for name, dist in _PACKAGES.items()})
        out["roarkit"] = __version__
        _VERSIONS = out
    return dict(_VERSIONS)


def repo_root() -> Path | None:
    """The checkout holding roarkit (parent of the package dir if it has ``pyproject.toml``), else None."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() else None


def _git(root: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", "-c", "safe.directory=*", "-C", str(root), *args],
        capture_output=True, text=True, timeout=10, check=True,
        env={**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"},
    )
    return proc.stdout.strip()


def git_commit(root=None, *, refresh: bool = False) -> str:
    """Short commit of the checkout (``root`` or :func:`repo_root`), ``+"-dirty"`` if tracked files changed.

    ``"unknown"`` when not a git checkout, no commit yet, or git is missing. Cached per process and
    root; pass ``refresh=True`` to look again.
    """
    root = Path(root) if root is not None else repo_root()
    if root is None:
        return "unknown"
    cache_key = str(root.resolve())
    if refresh or cache_key not in _GIT_CACHE:
        try:
            commit = _git(root, "rev-parse", "--short", "HEAD")
            if _git(root, "status", "--porcelain", "--untracked-files=no"):
                commit += "-dirty"
        except (OSError, subprocess.SubprocessError):
            commit = "unknown"
        _GIT_CACHE[cache_key] = commit or "unknown"
    return _GIT_CACHE[cache_key]


def environment(device="cpu") -> dict:
    """``{"device", "versions", "commit", "platform", "hostname"}`` describing this run."""
    return {
        "device": device_name(device),
        "versions": versions(),
        "commit": git_commit(),
        "platform": platform.platform(),
        "hostname": socket.gethostname(),
    }


@functools.cache
def pid_space() -> str:
    """The name of the space this process's pid lives in: ``<hostname>-<8 hex>``, the hex a digest of the host
    name, the kernel's boot id and the pid namespace. Two containers with the same host name (the GPU
    machine's is "vm"), or one name on two machines, sharing a store get different names, so none reads
    another's pids as its own (:func:`roarkit.store.store._clean_stale_tmp`)."""
    ids = [socket.gethostname()]
    for read, path in ((lambda p: Path(p).read_text().strip(), "/proc/sys/kernel/random/boot_id"),
                       (os.readlink, "/proc/self/ns/pid")):
        try:
            ids.append(read(path))
        except OSError:  # not Linux: the host name alone, as before
            pass
    return f"{ids[0]}-{hashlib.sha256('|'.join(ids).encode()).hexdigest()[:8]}"

"""The executor's settings: where a page's units of work run (see :mod:`roarkit.store.executor`).

Each setting comes from a command-line option of ``python -m roarkit run`` or from its environment
variable (which direct ``papermill`` runs read too). :meth:`Settings.check` turns a bad one into one
:class:`ExecutorError` naming the setting and its fix, before any unit runs.
"""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["EXECUTORS", "ENV", "CONNECT_TIMEOUT", "ExecutorError", "Settings", "option"]

EXECUTORS = ("in-process", "ray")
#: Setting name -> (environment variable, command-line option).
ENV = {"executor": ("ROARKIT_EXECUTOR", "--executor"), "workers": ("ROARKIT_WORKERS", "--workers"),
       "address": ("ROARKIT_ADDRESS", "--address"), "gpus_per_unit": ("ROARKIT_GPUS_PER_UNIT", "--gpus-per-unit"),
       "threads": ("ROARKIT_THREADS", "--threads"), "worker_writes": ("ROARKIT_WORKER_WRITES", "--worker-writes")}
CONNECT_TIMEOUT = 3.0    # seconds to reach a cluster's address before giving up


class ExecutorError(ValueError):
    """A bad executor setting: the message names the setting and the fix."""


def option(name: str) -> str:
    """A setting as the user gives it: ``--flag (ENV_VAR)``."""
    env, flag = ENV[name]
    return f"{flag} ({env})"


@dataclass(frozen=True)
class Settings:
    """Where units run: each field is a row of the table in :mod:`roarkit.store.executor`'s docstring;
    :meth:`check` validates them."""

    executor: str = "in-process"
    workers: int | None = None
    address: str | None = None
    gpus_per_unit: float | None = None
    threads: int = 1
    worker_writes: bool = False

    @classmethod
    def from_env(cls, env=None) -> Settings:
        """The settings the environment variables give (unset: the defaults), not yet checked."""
        env = os.environ if env is None else env
        raw = {name: env.get(var) for name, (var, _) in ENV.items()}
        kw: dict[str, Any] = {}
        if raw["executor"]:
            kw["executor"] = raw["executor"].strip()
        for name, kind in (("workers", int), ("threads", int), ("gpus_per_unit", float)):
            if raw[name] not in (None, ""):
                try:
                    kw[name] = kind(raw[name])
                except ValueError:
                    raise ExecutorError(f"{option(name)} must be a{'n integer' if kind is int else ' number'}, "
                                        f"got {raw[name]!r}") from None
        if raw["address"]:
            kw["address"] = raw["address"].strip()
        if raw["worker_writes"]:
            kw["worker_writes"] = raw["worker_writes"].strip().lower() in ("1", "true", "yes", "on")
        return cls(**kw)

    def to_env(self) -> dict[str, str]:
        """The environment variables that give these settings (for a page's kernel)."""
        out = {}
        for name, (var, _) in ENV.items():
            value = getattr(self, name)
            if value is not None and value is not False:
                out[var] = "1" if value is True else str(value)
        return out

    def check(self) -> Settings:
        """These settings, or one :class:`ExecutorError` that names the bad one and how to fix it. Checks
        that need no cluster: names and ranges, and that an address answers."""
        if self.executor not in EXECUTORS:
            raise ExecutorError(f"unknown executor {self.executor!r} ({option('executor')}); use "
                                + " or ".join(repr(e) for e in EXECUTORS))
        if self.workers is not None and (isinstance(self.workers, bool) or self.workers < 1):
            raise ExecutorError(f"{option('workers')} must be at least 1, got {self.workers}; leave it out to use "
                                "every local core")
        if self.threads < 1:
            raise ExecutorError(f"{option('threads')} must be at least 1, got {self.threads}")
        if self.gpus_per_unit is not None and not 0 < self.gpus_per_unit <= 1 \
                and not float(self.gpus_per_unit).is_integer():
            raise ExecutorError(f"{option('gpus_per_unit')} must be a fraction in (0, 1] or a whole number of "
                                f"GPUs, got {self.gpus_per_unit}")
        if self.executor != "ray":
            given = [n for n in ("workers", "address", "gpus_per_unit") if getattr(self, n) is not None]
            given += ["worker_writes"] if self.worker_writes else []
            if given:
                raise ExecutorError(f"{option(given[0])} applies to the Ray executor only: add --executor ray "
                                    "(ROARKIT_EXECUTOR=ray), or leave it out")
            return self
        if self.address and self.workers is not None:
            raise ExecutorError(f"{option('workers')} sizes a local Ray; with {option('address')} the cluster's "
                                "CPUs decide how many units run at once: leave one of them out")
        if self.address and self.address != "auto":
            _reachable(self.address)
        if self.gpus_per_unit and not self.address and torch.cuda.device_count() == 0:
            raise ExecutorError(f"{option('gpus_per_unit')} {self.gpus_per_unit} needs a GPU, and this machine "
                                "has none (torch.cuda.device_count() == 0): leave it out to run on the CPU cores")
        return self


def _reachable(address: str) -> None:
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ExecutorError(f"{option('address')} must be host:port of a Ray cluster's head (the port "
                            f"`ray start --head --port P` opened), got {address!r}")
    try:
        with socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT):
            pass
    except OSError as exc:
        raise ExecutorError(f"cannot reach a Ray cluster at {address} ({exc.strerror or exc}): start one with "
                            f"`ray start --head --port {port}` on that machine, or fix {option('address')}") from None



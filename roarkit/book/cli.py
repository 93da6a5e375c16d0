"""``python -m roarkit``: run pages with a profile, build the book, show page status."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from roarkit.book import build, discover, execute, glued, status
from roarkit.book.params import ParameterError
from roarkit.store.executor import malloc_env, preflight
from roarkit.store.settings import ENV, ExecutorError, Settings

__all__ = ["main", "executor_settings"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m roarkit", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="execute pages with papermill, then build the book")
    r.add_argument("pages", nargs="+", help="page names (notebooks/<page>.py) or 'all'")
    r.add_argument("--profile", default="quick", help="'quick', 'paper', or a folder of <page>.yaml files")
    r.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="override one parameter (value parsed as YAML: 3, 0.5, [10, 30], text)")
    r.add_argument("--root", help="book root to write book/<page>.ipynb and _build/ into (default: the checkout)")
    r.add_argument("--no-build", action="store_true", help="execute only, do not build the book")
    r.add_argument("--progress", action="store_true", help="show papermill's cell progress bar")
    x = r.add_argument_group("where units of work run (never changes a result; environment variables "
                             "ROARKIT_EXECUTOR, _WORKERS, _ADDRESS, _GPUS_PER_UNIT, _THREADS, _WORKER_WRITES)")
    x.add_argument("--executor", help="'in-process' (default: one unit after another) or 'ray'")
    x.add_argument("--workers", type=int, help="Ray: units at once on this machine (default: every core)")
    x.add_argument("--address", help="Ray: an existing cluster's head, host:port (see `ray start --head`)")
    x.add_argument("--gpus-per-unit", type=float, help="Ray: the GPU fraction each unit holds (e.g. 0.25)")
    x.add_argument("--threads", type=int, help="torch intra-op threads per unit (default 1)")
    x.add_argument("--worker-writes", action="store_true", default=None,
                   help="Ray: workers write the store (only where every node shares its filesystem)")
    b = sub.add_parser("build", help="build the HTML book from the executed pages (jupyter-book -W)")
    b.add_argument("--root")
    s = sub.add_parser("status", help="list each page, its profile, and whether it is stale")
    s.add_argument("--root")
    c = sub.add_parser("compare", help="the glued values that differ between two folders of executed pages")
    c.add_argument("old", help="folder of executed pages, e.g. an older checkout's book/")
    c.add_argument("new", help="folder of executed pages, e.g. book/ or <root>/book of a --root run")
    a = ap.parse_args(argv)
    try:
        if a.cmd == "run":
            overrides = {k: discover.parse_value(v) for k, v in a.parameter}
            executor_settings(a)
            execute.run(a.pages, a.profile, overrides, root=a.root, build_book=not a.no_build,
                       progress=a.progress)
        elif a.cmd == "compare":
            for folder in (a.old, a.new):
                if not any(Path(folder).glob("*.ipynb")):
                    raise discover.RunError(f"{folder} holds no executed pages (*.ipynb): give a book/ folder")
            print(glued.report(Path(a.old), Path(a.new)))
        elif a.cmd == "build":
            print(f"built the book: {build.build(a.root) / 'index.html'}")
        else:
            rows = status.status(a.root)
            width = max(len(r["page"]) for r in rows)
            for r in rows:
                state = (f"STALE: {r['why']}" if r["stale"] else "current") + \
                    (f" ({r['unchecked']})" if r["unchecked"] else "")
                print(f"{r['page']:<{width}}  {r['profile']:<8} {r['executed']:<21} {state}")
    except (discover.RunError, ParameterError, ExecutorError) as exc:
        print(f"roarkit: {exc}", file=sys.stderr)
        return 2
    return 0


def executor_settings(a) -> Settings:
    """The executor the options and the environment give, checked before any page starts (a bad one is
    one clear error and nothing runs), and exported to the environment, which the pages' kernels read,
    with the allocator settings (:func:`roarkit.store.executor.malloc_env`) the kernels start with."""
    given = {name: getattr(a, name) for name in ("executor", "workers", "address", "gpus_per_unit", "threads",
                                                 "worker_writes") if getattr(a, name) is not None}
    env = Settings.from_env()
    settings = preflight(Settings(**{**{k: getattr(env, k) for k in env.__dataclass_fields__}, **given}))
    for var in [v for v, _ in ENV.values()]:
        os.environ.pop(var, None)
    os.environ.update(settings.to_env())
    os.environ.update(malloc_env())
    return settings

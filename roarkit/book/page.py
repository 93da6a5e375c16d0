"""An executed page: its parameters, the data it used, and its provenance block.

Every notebook follows the same three steps::

    # cell tagged "parameters" (paper values), last line:
    page = Page("roar_mnist", globals())
    # first cell after papermill's injected parameters:
    P = page.start(globals())          # rejects unknown/invalid parameters, starts the clock
    R = experiment.run(P)              # the page's experiment (roarkit.experiments.<page>)
    page.use(R)                        # records R.data, glues R.numbers
    page.figure("fig_x", figures.x(R)) # each figure, glued for {glue:figure} and closed
    page.finish()                      # last cell: glues the provenance block shown at the top

The top markdown cell shows the block with ``{glue:md} provenance`` (format ``myst``); the exercises
section opens with ``{glue:md} exercises_intro`` (format ``myst``), the text every page shares.
"""
from __future__ import annotations

import datetime as _dt
import json
import time
import types
from typing import Any

import yaml

from roarkit.book import discover
from roarkit.book import params as _params
from roarkit.core.device import resolve_device
from roarkit.store import code_version, executor, usage
from roarkit.store.provenance import environment, repo_root

__all__ = ["CANONICAL", "MIME", "profile_values", "Params", "Page", "exercises_intro", "computed_in", "markdown"]

#: Canonical (train, test) sizes; a smaller split on disk is flagged on the page.
CANONICAL = {"mnist": (60_000, 10_000), "fashion_mnist": (60_000, 10_000), "cifar10": (50_000, 10_000)}
#: Mime type of the glued provenance record (a ``+json`` type, so notebooks may store it as an object).
MIME = "application/vnd.roarkit.provenance+json"
_IPYTHON_NAMES = {"In", "Out", "get_ipython", "exit", "quit", "open"}


def _is_param(name: str, value: Any) -> bool:
    return not (name.startswith("_") or name in _IPYTHON_NAMES or isinstance(value, (types.ModuleType, Page))
                or callable(value))


def profile_values(profile: str, page: str) -> dict | None:
    """The parameters a profile file sets for a page (``notebooks/profiles/<profile>/<page>.yaml``), if found."""
    try:
        return yaml.safe_load(discover.profile_file(profile, page).read_text()) or {}
    except discover.RunError:
        return None


class Params(types.SimpleNamespace):
    """Validated parameters with attribute access; ``as_dict()`` for caching keys and provenance."""

    def as_dict(self) -> dict:
        return dict(vars(self))


class Page:
    """Parameters, data and provenance of one executed notebook page."""

    def __init__(self, name: str, namespace: dict):
        """``name`` may hold ``{parameter}`` fields, filled from the validated parameters at
        :meth:`start` (one source serving several pages, e.g. ``"sgt_{dataset}"``)."""
        self.defaults = {k: v for k, v in namespace.items() if _is_param(k, v)}
        self._name = name
        self.name = name.format(**self.defaults)
        self.data: list = []
        self.params: Params | None = None
        self._t0 = None

    def start(self, namespace: dict) -> Params:
        """Validate the declared and injected parameters and start the clock."""
        values = {k: v for k, v in namespace.items() if _is_param(k, v)}
        checked = _params.check(values, self.defaults, page=f"page {self.name!r}")
        self.params = Params(**checked)
        self.name = self._name.format(**checked)
        self.device = resolve_device(checked.get("device", "auto"))
        self._t0, self._started = time.perf_counter(), _dt.datetime.now(_dt.timezone.utc)
        usage(reset=True)  # count only the units this page uses
        return self.params

    def add_data(self, info) -> None:
        """Record a dataset used by the page (a :class:`roarkit.core.data.DataInfo`)."""
        if all(d.name != info.name for d in self.data):
            self.data.append(info)

    def use(self, result) -> None:
        """Record what an experiment's result ran on and glue what the prose quotes: every page's step
        after ``run(P)``. ``result.infos``: the :class:`~roarkit.core.data.DataInfo` of each dataset it
        used; ``result.numbers``: ``{glue key: value}``; ``result.markdown``: ``{glue key: Markdown
        text}``, glued as Markdown for ``{glue:md}`` (any of the three may be absent)."""
        from IPython.display import Markdown
        for info in getattr(result, "infos", ()) or ():
            self.add_data(info)
        self.glue(**(getattr(result, "numbers", None) or {}))
        self.glue(**{k: Markdown(v) for k, v in (getattr(result, "markdown", None) or {}).items()})

    @staticmethod
    def glue(**values) -> None:
        """Glue each value under its name (``{glue:text}`` in the prose), without displaying it."""
        from myst_nb import glue
        for name, value in values.items():
            glue(name, value, display=False)

    @staticmethod
    def figure(name: str, fig) -> None:
        """Glue a matplotlib figure for the prose's ``{glue:figure}`` and close it."""
        import matplotlib.pyplot as plt
        from myst_nb import glue
        glue(name, fig, display=False)
        plt.close(fig)

    # -- provenance ---------------------------------------------------------------------------
    def reduced(self) -> dict:
        """Parameters that differ from the paper profile (empty when the page ran the paper's settings)."""
        paper = profile_values("paper", self.name)
        if paper is None:
            paper = {k: v for k, v in self.defaults.items()}
        ran = self.params.as_dict()
        return {k: (ran[k], v) for k, v in paper.items() if k != "profile" and k in ran and ran[k] != v}

    def rerun_command(self) -> str:
        ran = self.params.as_dict()
        prof = profile_values(ran.get("profile", "paper"), self.name) or {}
        extra = [(k, v) for k, v in ran.items() if k != "profile" and k in prof and prof[k] != v]
        opts = "".join(f" -p {k} {json.dumps(v) if not isinstance(v, str) else v}" for k, v in extra)
        return f"python -m roarkit run {self.name} --profile {ran.get('profile', 'paper')}{opts}"

    def record(self) -> dict:
        """The page's provenance as a JSON-able dict (read back by the Status page)."""
        env = environment(self.device)
        src = discover.sources().get(self.name) if repo_root() else None
        return {
            "page": self.name,
            "profile": self.params.profile if hasattr(self.params, "profile") else "paper",
            "parameters": self.params.as_dict(),
            "reduced": {k: {"ran": a, "paper": b} for k, (a, b) in self.reduced().items()},
            "data": [d.as_dict() for d in self.data],
            "device": env["device"], "versions": env["versions"], "commit": env["commit"],
            "executed": self._started.strftime("%Y-%m-%d %H:%M UTC"),
            "seconds": round(time.perf_counter() - self._t0, 1),
            "units": usage(),
            "executor": executor.describe(),
            "rerun": self.rerun_command(),
            "code_modules": (mods := discover.page_modules(src) if src else None),
            "code_version": code_version(mods),
            "source_sha256": discover.file_sha256(src) if src else None,
        }

    def finish(self, exercises: str = "") -> dict:
        """Glue the provenance block (``provenance``) for the top of the page, ``page_minutes`` and the
        exercises' shared opening (``exercises_intro``, Markdown: :func:`exercises_intro` followed by the
        page's own ``exercises`` note); returns the record."""
        from IPython.display import Markdown
        from myst_nb import glue
        rec = self.record()
        glue("provenance", _Block(rec), display=False)
        # what the page's results took to compute: its own run plus the stored units it reused
        minutes = max((rec["seconds"] + rec["units"]["reused_seconds"]) / 60, 0.1)
        glue("page_minutes", minutes, display=False)
        glue("exercises_intro", Markdown(exercises_intro(minutes) + (f" {exercises}" if exercises else "")),
             display=False)
        return rec


def exercises_intro(minutes: float) -> str:
    """The opening every page's exercises share: what they run on and what this page took."""
    return (f"Each exercise runs on a laptop CPU with the quick profile; this page took {minutes:.1f} minutes with "
            "the settings in its provenance block (units of work already in the results store are read back, so a "
            "rerun with unchanged settings takes seconds).")


def _data_line(d: dict) -> str:
    canon = CANONICAL.get(d["name"])
    md5 = ", ".join(f"`{f['file']}` {f['md5']}" for f in d["files"])
    line = (f"**{d['name']}**: {d['n_train']:,} train / {d['n_test']:,} test images used "
            f"(of {d['n_train_available']:,} / {d['n_test_available']:,} on disk), from `{d['source']}`; md5: {md5}.")
    if canon and (d["n_train_available"], d["n_test_available"]) != canon:
        line += (f" *The files here hold {d['n_train_available']:,} training images, not the canonical "
                 f"{canon[0]:,}.*")
    return line


def _span(secs: float) -> str:
    return f"{secs:.0f} s" if secs < 120 else f"{secs / 60:.1f} min" if secs < 7200 else f"{secs / 3600:.1f} h"


def computed_in(rec: dict) -> str:
    """What the page's results cost: its own run plus the stored units it reused ("" if none)."""
    u = rec.get("units") or {}
    if not u.get("reused"):
        return ""
    return (f"; it reused {u['reused']:,} stored unit(s) of work that took {_span(u['reused_seconds'])} to compute"
            + (f" and computed {u['computed']:,} ({_span(u['computed_seconds'])})" if u.get("computed") else ""))


def _executor_text(ex: dict | None) -> str:
    """How the page's units ran, e.g. ``"; units on Ray, 2 workers on 1 node"`` ("" in-process)."""
    if not ex or ex.get("executor") in (None, "in-process"):
        return ""
    nodes = ex.get("nodes")
    where = f" on {nodes} node{'s' if nodes != 1 else ''}" if nodes else ""
    gpu = f", {ex['gpus_per_unit']} GPU per unit" if ex.get("gpus_per_unit") else ""
    return f"; units on Ray, {ex.get('workers')} workers{where}{gpu}"


def _unit_devices(rec: dict) -> str:
    """Where the page's units of work were computed, when any device differs from the page's own ("" if none):
    a page re-executed from the store on a CPU can hold units a GPU computed (each entry's sidecar says which)."""
    devices = (rec.get("units") or {}).get("devices") or {}
    if set(devices) <= {rec.get("device")}:
        return ""
    return "; its units of work were computed on " + ", ".join(f"{d} × {n:,}" for d, n in devices.items())


def _setting(name: str, value) -> str:
    """A parameter's value as the provenance block says it: the image counts ``n_*`` use 0 for "every
    image" (each page's parameters cell says so), written out as ``all``."""
    return "all" if name.startswith("n_") and value == 0 and not isinstance(value, bool) else str(value)


def markdown(rec: dict) -> str:
    """The provenance block as MyST markdown."""
    took = _span(rec["seconds"]) + computed_in(rec)
    v = rec["versions"]
    vers = ", ".join(f"{k} {v[k]}" for k in ("torch", "torchvision", "captum", "roarkit") if k in v)
    params = ", ".join(f"`{k}={val}`" for k, val in rec["parameters"].items())
    data = "\n".join(f"- {_data_line(d)}" for d in rec["data"]) or "- (no dataset)"
    if rec["reduced"]:
        diffs = ", ".join(f"`{k}` {_setting(k, x['ran'])} (paper: {_setting(k, x['paper'])})"
                          for k, x in rec["reduced"].items())
        kind, head = "warning", (f"Ran with reduced settings (profile `{rec['profile']}`): {diffs}. "
                                 "Numbers on this page are not the paper-setting results.")
    else:
        kind, head = "note", f"Ran with the paper's settings (profile `{rec['profile']}`)."
    return (f":::{{admonition}} Provenance\n:class: {kind}\n{head}\n\n"
            f"- **Parameters**: {params}\n{data}\n"
            f"- **Device**: {rec['device']}{_executor_text(rec.get('executor'))}{_unit_devices(rec)}; "
            f"**versions**: {vers}; "
            f"**commit**: `{rec['commit']}`\n"
            f"- **Executed** {rec['executed']} in {took}. **Rerun this page**: `{rec['rerun']}`\n:::\n")


class _Block:
    """Glued object: markdown for the page, JSON for the Status page."""

    def __init__(self, rec: dict):
        self.rec = rec

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"text/markdown": markdown(self.rec), MIME: self.rec}

    def __repr__(self):
        return f"<provenance of {self.rec['page']}>"

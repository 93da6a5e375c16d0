"""Execute a page: its source through papermill with a profile's parameters into ``book/<page>.ipynb``.
A page that fails is kept aside in ``_build/failed/`` and never replaces the last good executed page."""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import yaml

from roarkit.book.build import build
from roarkit.book.discover import RunError, pages as find_pages, profile_file, repo, sources

__all__ = ["execute", "run"]


def execute(page: str, profile: str = "quick", overrides: dict | None = None, *, root: Path | None = None,
            progress: bool = False) -> Path:
    """Run one page through papermill into ``<root>/book/<page>.ipynb``; returns that path."""
    import jupytext
    import papermill as pm

    pages = find_pages()
    if page not in pages:
        raise RunError(f"unknown page {page!r}; pages: {', '.join(pages)} (or 'all')")
    src, fixed = pages[page]
    root = Path(root or repo())
    with open(profile_file(profile, page)) as f:
        parameters = yaml.safe_load(f) or {}
    parameters.setdefault("profile", Path(profile).name)
    parameters.update(overrides or {})
    for key, value in fixed.items():
        if key in parameters and parameters[key] != value:
            others = [p for p, (s, _) in pages.items() if s == src and p != page]
            raise RunError(f"page {page!r} is {src.name} with {key} = {value!r}, but the profile or -p sets "
                           f"{key} = {parameters[key]!r}; run the page for that value instead "
                           f"({', '.join(others) or 'none'}), or fix {profile_file(profile, page)}")
        parameters[key] = value
    nb = jupytext.read(src)
    nb.metadata.pop("jupytext", None)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    out = root / "book" / f"{page}.ipynb"
    out.parent.mkdir(parents=True, exist_ok=True)
    work = root / "_build" / "running"  # not in book/: a build running meanwhile must not see it
    work.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".ipynb", dir=work, prefix=f"{page}.")
    os.close(fd)
    t0 = time.perf_counter()
    try:
        pm.execute_notebook(nb, tmp, parameters=parameters, kernel_name="python3", cwd=str(root),
                            progress_bar=progress, log_output=False)
    except pm.PapermillExecutionError as exc:
        failed = root / "_build" / "failed" / f"{page}.ipynb"
        failed.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(tmp, failed)
        raise RunError(f"page {page!r} failed in cell {exc.exec_count}: {exc.ename}: {exc.evalue}\n"
                       f"(the executed notebook is kept at {failed}; {out.name} was left as it was)") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    os.replace(tmp, out)
    print(f"executed {page} ({profile}) in {time.perf_counter() - t0:.0f} s -> {out}", flush=True)
    return out


def run(pages: list[str], profile: str, overrides: dict | None = None, *, root: Path | None = None,
        build_book: bool = True, progress: bool = False) -> list[Path]:
    """Execute ``pages`` (``["all"]`` for every page) with a profile, then build the book."""
    names = list(sources()) if pages == ["all"] else pages
    done = [execute(p, profile, overrides, root=root, progress=progress) for p in names]
    if build_book:
        html = build(root)
        print(f"built the book: {html / 'index.html'}")
    return done

"""Every number a page glued, read back from executed notebooks, and a comparison of two runs.

``python -m roarkit compare OLD NEW`` lists, page by page, each glued key whose value differs between
two folders of executed pages (``book/`` of two checkouts, or two ``--root`` runs), and the keys only
one of them has. Figures and HTML tables are compared as present or absent, never pixel by pixel; the
provenance record, ``page_minutes`` (run time) and the exercises' opening that quotes it are left out:
they differ from run to run.
"""
from __future__ import annotations

import json
from pathlib import Path

__all__ = ["SKIP", "glued", "glued_pages", "compare", "report"]

#: Glued keys that describe the run, not its results (``exercises_intro`` quotes ``page_minutes``).
SKIP = ("provenance", "page_minutes", "exercises_intro")
_RECORD = "application/papermill.record/"


def glued(path: Path) -> dict[str, str]:
    """``{key: value}`` of every value a notebook glued: its text (``text/plain`` or the Markdown
    source), ``"<figure>"`` for an image and ``"<html>"`` for a table."""
    nb = json.loads(Path(path).read_text())
    out = {}
    for cell in nb.get("cells", []):
        for o in cell.get("outputs", []) or []:
            name = o.get("metadata", {}).get("scrapbook", {}).get("name")
            if not name or name in SKIP:
                continue
            data = {k.removeprefix(_RECORD): v for k, v in o.get("data", {}).items()}
            if "image/png" in data:
                out[name] = "<figure>"
            elif "text/markdown" in data:
                out[name] = "".join(data["text/markdown"])
            elif "text/html" in data:
                out[name] = "<html>"
            else:
                out[name] = "".join(data.get("text/plain", ""))
    return out


def glued_pages(folder: Path) -> dict[str, dict[str, str]]:
    """:func:`glued` of every ``*.ipynb`` in ``folder``, by page name."""
    return {p.stem: glued(p) for p in sorted(Path(folder).glob("*.ipynb"))}


def compare(old: Path, new: Path) -> dict[str, list[tuple[str, str | None, str | None]]]:
    """Per page present in both folders: ``[(key, old value, new value)]`` for every key whose value
    differs (None where a run lacks the key)."""
    a, b = glued_pages(old), glued_pages(new)
    out = {}
    for page in sorted(set(a) & set(b)):
        keys = sorted(set(a[page]) | set(b[page]))
        diff = [(k, a[page].get(k), b[page].get(k)) for k in keys if a[page].get(k) != b[page].get(k)]
        if diff:
            out[page] = diff
    return out


def report(old: Path, new: Path) -> str:
    """:func:`compare` as text: one line per differing key, and a count of the identical ones."""
    a, b = glued_pages(old), glued_pages(new)
    diffs = compare(old, new)
    lines = []
    for page in sorted(set(a) & set(b)):
        same = len(set(a[page]) & set(b[page])) - sum(1 for _, x, y in diffs.get(page, []) if x and y)
        lines.append(f"{page}: {same} glued values identical, {len(diffs.get(page, []))} differ")
        lines += [f"  {k}: {x!r} -> {y!r}" for k, x, y in diffs.get(page, [])]
    lines += [f"{page}: only in {old}" for page in sorted(set(a) - set(b))]
    lines += [f"{page}: only in {new}" for page in sorted(set(b) - set(a))]
    return "\n".join(lines)

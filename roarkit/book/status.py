"""Which executed pages still match their code, source, data and profile: ``python -m roarkit status``
and the book's Status page."""
from __future__ import annotations

import json
from pathlib import Path

import yaml

from roarkit.book.discover import RunError, file_sha256, profile_file, repo, sources
from roarkit.book.page import MIME
from roarkit.core import data
from roarkit.store import code_version
from roarkit.store.codeversion import module_file

__all__ = ["STATUS_PAGE", "record", "stale", "unchecked", "status", "duration", "write_status"]

STATUS_PAGE = "status.md"


def record(path: Path) -> dict | None:
    """The provenance record a page glued (see :class:`roarkit.book.page.Page`), or None."""
    nb = json.loads(Path(path).read_text())
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []) or []:
            if out.get("metadata", {}).get("scrapbook", {}).get("name") == "provenance":
                data = out.get("data", {})
                rec = next((v for k, v in data.items() if k.endswith(MIME)), None)
                return rec if isinstance(rec, dict) else None
    return None


def stale(page: str, rec: dict | None) -> list[str]:
    """Why an executed page no longer matches the code, its source, its data or its profile ([] = current).

    A dataset this machine does not hold is not a reason: its files cannot be compared here
    (:func:`unchecked` names it), and a clone without the data must not report every page stale.
    """
    if rec is None:
        return ["never executed"]
    why = []
    gone = [m for m in rec.get("code_modules") or [] if module_file(m) is None]
    now = code_version(rec.get("code_modules"))
    if gone:  # a record from before a module was renamed or removed: no version of it to compare
        why.append(f"roarkit code changed (the page was computed by modules that no longer exist: {', '.join(gone)})")
    elif rec.get("code_version") != now:
        why.append(f"roarkit code changed ({rec.get('code_version')} -> {now})")
    src = sources().get(page)
    if src is None or rec.get("source_sha256") != file_sha256(src):
        why.append(f"source notebooks/{src.name if src else page + '.py'} changed")
    for d in rec.get("data", []):
        try:
            folder = data.locate(d["name"])
        except data.DataError:
            continue  # not on this machine: unchecked(), not stale
        changed = [f["file"] for f in d["files"]
                   if not (folder / f["file"]).exists() or data.md5_file(folder / f["file"]) != f["md5"]]
        if changed:
            why.append(f"data {d['name']} changed ({', '.join(changed)})")
    try:
        with open(profile_file(rec["profile"], page)) as f:
            wanted = yaml.safe_load(f) or {}
        diff = [k for k, v in wanted.items() if rec["parameters"].get(k) != v]
        if diff:
            why.append(f"profile {rec['profile']} now sets {', '.join(diff)} differently")
    except RunError:
        pass
    return why


def unchecked(rec: dict | None) -> list[str]:
    """The datasets of an executed page that this machine does not hold, so :func:`stale` could not compare
    their files (set ``ROARKIT_DATA`` to check them)."""
    missing = []
    for d in (rec or {}).get("data", []):
        try:
            data.locate(d["name"])
        except data.DataError:
            missing.append(d["name"])
    return missing


def _unchecked_text(missing: list[str]) -> str:
    return f"data not checked: {', '.join(missing)} not found here (set ROARKIT_DATA)"


def status(root: Path | None = None) -> list[dict]:
    """One row per page: profile, when executed, whether (and why) it is stale, and the datasets it could not
    check here."""
    root = Path(root or repo())
    rows = []
    for page in sources():
        path = root / "book" / f"{page}.ipynb"
        rec = record(path) if path.exists() else None
        why = stale(page, rec)
        rows.append({"page": page, "profile": rec["profile"] if rec else "-",
                     "executed": rec["executed"] if rec else "-", "stale": bool(why), "why": "; ".join(why),
                     "unchecked": _unchecked_text(missing) if (missing := unchecked(rec)) else ""})
    return rows


def duration(rec: dict) -> str:
    """The page's run time, plus what the stored units it reused took to compute."""
    u = rec.get("units") or {}
    own = f"{rec['seconds']:.0f} s"
    return own + (f" (+ {u['reused_seconds'] / 60:.1f} min in {u['reused']:,} stored units)" if u.get("reused") else "")


def write_status(root: Path | None = None) -> Path:
    """Write ``book/status.md``: one row per page with its provenance and whether it is stale."""
    root = Path(root or repo())
    rows = []
    for page in sources():
        path = root / "book" / f"{page}.ipynb"
        rec = record(path) if path.exists() else None
        if rec is None:
            rows.append(f"| {page} | not executed | | | | | | |")
            continue
        data = "<br>".join(f"{d['name']} {d['n_train']:,}/{d['n_test']:,}" for d in rec["data"])
        settings = "paper" if not rec["reduced"] else "reduced: " + ", ".join(rec["reduced"])
        why = stale(page, rec)
        missing = unchecked(rec)
        state = ("stale: " + "; ".join(why) if why else "current") + \
            (f" ({_unchecked_text(missing)})" if missing else "")
        rows.append(f"| [{page}]({page}.ipynb) | `{rec['profile']}` ({settings}) | {data} | {rec['device']} "
                    f"| `{rec['commit']}` | {rec['executed']} | {duration(rec)} "
                    f"| {state} |")
    text = ("# Status\n\nEvery page of this book is a notebook executed by `python -m roarkit run`. "
            "This table is generated from the provenance each executed page recorded and is rewritten at "
            "every build. A page is *stale* when the roarkit code, its source, its data or its profile "
            "changed after it was executed (`python -m roarkit status` says the same); data this machine does "
            "not hold are marked *not checked*, not stale. *Duration* is the "
            "page's own run; a page that reused units of work from the results store adds the time "
            "those units took when they were computed.\n\n"
            "| Page | Profile | Data (train/test images) | Device | Commit | Executed | Duration | Current? |\n"
            "|---|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n")
    out = root / "book" / STATUS_PAGE
    if not out.exists() or out.read_text() != text:
        out.write_text(text)
    return out

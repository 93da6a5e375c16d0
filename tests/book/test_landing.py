"""The landing page's results-at-a-glance table: every cell glued from another page names a key that
the committed executed page holds, in a form that myst-nb resolves across documents."""
import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
INTRO = REPO / "book" / "intro.md"
# {glue}`page.ipynb::key`, {glue:text}`page.ipynb::key:fmt`, {glue:md}`...` (the last never crosses documents)
REF = re.compile(r"\{glue(?::(\w+))?\}`([^`:]+\.ipynb)::([^`]+)`")


def _refs():
    return [(m.group(1) or "any", m.group(2), m.group(3)) for m in REF.finditer(INTRO.read_text())]


def _glued(page: str) -> dict[str, dict]:
    nb = json.loads((INTRO.parent / page).read_text())
    return {o["metadata"]["scrapbook"]["name"]: o.get("data", {}) for c in nb["cells"] for o in c.get("outputs", []) or []
            if o.get("metadata", {}).get("scrapbook")}


def test_landing_page_glues_from_other_pages():
    assert len(_refs()) >= 10


@pytest.mark.parametrize("role,page,key", _refs(), ids=[f"{p}::{k}" for _, p, k in _refs()])
def test_cross_page_glue_key_exists_in_the_committed_page(role, page, key):
    assert role != "md", "{glue:md} does not resolve across documents; use {glue} for markdown objects"
    if role == "text":
        # the role splits its text at the last ':' — without a format spec '::key' itself would be split
        assert ":" in key, f"write {{glue:text}}`{page}::{key}:s` (or another format spec)"
        key = key.rsplit(":", 1)[0]
    glued = _glued(page)
    assert key in glued, f"book/{page} glues no {key!r} (execute it: python -m roarkit run {page[:-6]})"
    if role == "text":
        assert any(m.endswith("text/plain") for m in glued[key]), f"{key!r} has no text/plain to paste"

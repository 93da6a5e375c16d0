"""roarkit.book.glued: glued values read back from executed notebooks and compared between two runs."""
import json
import subprocess
import sys

from roarkit.book import glued

REC = "application/papermill.record/"


def notebook(path, values: dict):
    """An executed notebook whose one cell glued ``values`` the way myst-nb's glue stores them."""
    outputs = []
    for name, (mime, value) in values.items():
        outputs.append({"output_type": "display_data", "data": {REC + mime: value},
                        "metadata": {"scrapbook": {"name": name, "mime_prefix": REC}}})
    path.write_text(json.dumps({"cells": [{"cell_type": "code", "outputs": outputs, "source": ""}],
                                "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))


def test_compare_lists_every_changed_missing_and_added_key(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    new.mkdir()
    notebook(old / "p.ipynb", {"acc": ("text/plain", "97.5"), "gone": ("text/plain", "1"),
                               "verdict": ("text/markdown", "**reproduced**"), "fig": ("image/png", "AAAA"),
                               "page_minutes": ("text/plain", "3.0")})
    notebook(new / "p.ipynb", {"acc": ("text/plain", "97.6"), "added": ("text/plain", "2"),
                               "verdict": ("text/markdown", "**reproduced**"), "fig": ("image/png", "BBBB"),
                               "page_minutes": ("text/plain", "9.0")})
    notebook(new / "only_new.ipynb", {"x": ("text/plain", "1")})
    assert glued.glued(old / "p.ipynb") == {"acc": "97.5", "gone": "1", "verdict": "**reproduced**", "fig": "<figure>"}
    assert glued.compare(old, new) == {"p": [("acc", "97.5", "97.6"), ("added", None, "2"), ("gone", "1", None)]}
    text = glued.report(old, new)
    assert "p: 2 glued values identical, 3 differ" in text and "only_new: only in" in text
    proc = subprocess.run([sys.executable, "-m", "roarkit", "compare", str(old), str(new)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0 and "acc: '97.5' -> '97.6'" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "roarkit", "compare", str(tmp_path), str(new)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2 and "holds no executed pages" in proc.stderr

"""roarkit.book.execute on a tiny real page (jupytext source, papermill, a real kernel): a failure in a later
cell and an interrupted run both leave the last good executed page as it was."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from roarkit.book import discover, execute

SOURCE = '''# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% tags=["parameters"]
fail = False
marker = ""

# %%
first = 41 + 1
print("first cell ran", first)

# %%
import pathlib
import time
if marker:
    pathlib.Path(marker).write_text("running")
    time.sleep(120)

# %%
if fail:
    raise ValueError(f"boom after {first}")
print("last cell ran")
'''


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """A page ``tiny`` (its source and a profile folder) in ``tmp_path``; the runner finds it there."""
    src = tmp_path / "tiny.py"
    src.write_text(SOURCE)
    (tmp_path / "profile").mkdir()
    (tmp_path / "profile" / "tiny.yaml").write_text("fail: false\n")
    monkeypatch.setattr(execute, "find_pages", lambda: {"tiny": (src, {})})
    return tmp_path


def _code_cells(path: Path) -> list:
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def test_a_failure_in_a_later_cell_keeps_the_last_good_page(tiny):
    root = tiny / "root"
    good = execute.execute("tiny", str(tiny / "profile"), root=root)
    assert good == root / "book" / "tiny.ipynb"
    kept = good.read_bytes()
    assert "last cell ran" in kept.decode()
    with pytest.raises(discover.RunError, match=r"page 'tiny' failed in cell \d+: ValueError: boom after 42") as err:
        execute.execute("tiny", str(tiny / "profile"), {"fail": True}, root=root)
    failed = root / "_build" / "failed" / "tiny.ipynb"
    assert str(failed) in str(err.value) and "tiny.ipynb was left as it was" in str(err.value)
    assert good.read_bytes() == kept  # the last good page is untouched
    cells = _code_cells(failed)
    outputs = [[o["output_type"] for o in c.get("outputs", [])] for c in cells]
    assert outputs[-1] == ["error"] and "first cell ran 42" in json.dumps(cells)  # earlier cells ran
    assert not list((root / "_build" / "running").iterdir())  # no half-written notebook left behind


RUNNER = '''
import sys
from pathlib import Path
from roarkit.book import execute
src, profile, root, marker = sys.argv[1:]
execute.find_pages = lambda: {"tiny": (Path(src), {})}
execute.execute("tiny", profile, {"marker": marker}, root=Path(root))
'''


def _default_sigint():
    """Ctrl-C as a terminal delivers it, even where the suite itself was started in the background of a
    shell without job control, whose children inherit SIGINT ignored (Python then never raises
    KeyboardInterrupt)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_an_interrupted_run_keeps_the_last_good_page_and_leaves_no_partial_notebook(tiny):
    root = tiny / "root"
    good = execute.execute("tiny", str(tiny / "profile"), root=root)
    kept = good.read_bytes()
    marker = tiny / "started"
    proc = subprocess.Popen([sys.executable, "-c", RUNNER, str(tiny / "tiny.py"), str(tiny / "profile"), str(root),
                             str(marker)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(Path(execute.__file__).resolve().parents[2])},
                            preexec_fn=_default_sigint)
    try:
        deadline = time.monotonic() + 90
        while not marker.exists():  # the kernel is inside the long cell
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0 and "KeyboardInterrupt" in err
    assert good.read_bytes() == kept
    assert not list((root / "_build" / "running").iterdir())
    assert not (root / "_build" / "failed" / "tiny.ipynb").exists()  # an interruption is not a failed page

"""The whole pipeline, for real: every page through papermill in the quick profile, the results store,
``jupyter-book build -W``, and a headless-browser check of the built HTML (Debian's Chromium)."""
import json
import re
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from roarkit.book import build, discover, execute, status
from roarkit.core import data

REPO = Path(__file__).resolve().parents[2]
PAGES = list(discover.sources())
ARTIFACTS = REPO / "test-artifacts"
pytestmark = pytest.mark.book


def _book_skeleton(root: Path, executed: bool) -> Path:
    """A copy of the book's sources in ``root`` (with the committed executed pages when ``executed``)."""
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(REPO / name, root / name)
    (root / "book").mkdir()
    for f in (REPO / "book").iterdir():
        if f.suffix in (".md", ".bib") or (executed and f.suffix == ".ipynb"):
            shutil.copy(f, root / "book" / f.name)
    return root


def _cli(*args, env, timeout=900):
    return subprocess.run([sys.executable, "-m", "roarkit", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """The book executed from scratch with the quick profile into a fresh root and an empty store."""
    root = _book_skeleton(tmp_path_factory.mktemp("quick"), executed=False)
    env = {**os.environ, "ROARKIT_CACHE": str(root / ".cache"), "CI": "1"}
    proc = _cli("run", "all", "--profile", "quick", "--root", str(root), env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return root, env


@pytest.fixture(scope="module")
def committed(tmp_path_factory):
    """The committed executed pages, built as `make book` builds them."""
    root = _book_skeleton(tmp_path_factory.mktemp("committed"), executed=True)
    missing = [p for p in PAGES if not (root / "book" / f"{p}.ipynb").exists()]
    assert not missing, f"pages without a committed executed notebook: {missing} (run python -m roarkit run)"
    proc = _cli("build", "--root", str(root), env=dict(os.environ))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return root


def _outputs(nb):
    return [o for c in nb["cells"] for o in c.get("outputs", [])]


@pytest.mark.parametrize("page", PAGES)
def test_page_executed_by_papermill_with_quick_profile(quick, page):
    root, _ = quick
    nb = json.loads((root / "book" / f"{page}.ipynb").read_text())
    assert nb["metadata"]["papermill"]["parameters"]["profile"] == "quick"
    assert not [o for o in _outputs(nb) if o["output_type"] == "error"]
    rec = status.record(root / "book" / f"{page}.ipynb")
    assert rec["profile"] == "quick" and rec["reduced"], "a quick run must say it used reduced settings"
    for d in rec["data"]:
        assert d["n_train"] > 0 and all(len(f["md5"]) == 32 for f in d["files"])
    assert rec["device"] and rec["versions"]["torch"] and rec["commit"]


def test_status_page_lists_every_page(quick):
    root, _ = quick
    text = (root / "book" / "status.md").read_text()
    for page in PAGES:
        assert f"| [{page}]({page}.ipynb) | `quick` (reduced: " in text
    assert "stale" not in text.split("| Current? |")[1]  # just executed: every page current


def _set(rec, path, value):
    node = rec
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value


@pytest.mark.parametrize("path,value,words", [
    (("code_version",), "0.0.0+000000000000", "roarkit code changed"),
    (("code_modules",), ["roarkit.core.data", "sgt_runs"], "modules that no longer exist: sgt_runs"),
    (("source_sha256",), "0" * 64, "source notebooks/data_and_models.py changed"),
    (("data", 0, "files", 0, "md5"), "0" * 32, "data mnist changed"),
    (("parameters", "epochs"), 7, "profile quick now sets epochs differently"),
])
def test_status_says_why_a_page_is_stale(quick, path, value, words):
    import copy
    root, _ = quick
    rec = status.record(root / "book" / "data_and_models.ipynb")
    assert status.stale("data_and_models", rec) == []
    changed = copy.deepcopy(rec)
    _set(changed, path, value)
    assert any(words in w for w in status.stale("data_and_models", changed)), status.stale("data_and_models", changed)


def test_status_without_the_data_says_not_checked_not_stale(quick, monkeypatch, tmp_path):
    """A clone without the datasets cannot compare their md5s: the page stays current, marked not checked."""
    root, _ = quick
    rec = status.record(root / "book" / "data_and_models.ipynb")
    names = [d["name"] for d in rec["data"]]
    monkeypatch.setenv("ROARKIT_DATA", str(tmp_path / "empty"))
    monkeypatch.delenv("ROARKIT_DOWNLOAD", raising=False)
    monkeypatch.setattr(data, "DEBIAN_ROOT", tmp_path / "no-debian")
    assert status.stale("data_and_models", rec) == []
    assert status.unchecked(rec) == names
    row = next(r for r in status.status(root) if r["page"] == "data_and_models")
    assert not row["stale"] and f"{', '.join(names)} not found here (set ROARKIT_DATA)" in row["unchecked"]
    text = status.write_status(root).read_text()
    assert "| current (data not checked: " in text and "stale" not in text.split("| Current? |")[1]


def test_rerun_reads_every_unit_from_the_store(quick):
    root, env = quick
    cache = root / ".cache"
    before = {p: p.stat().st_mtime_ns for p in cache.rglob("*.pt")}
    assert before, "the quick run stored no units"
    proc = _cli("run", "data_and_models", "--profile", "quick", "--root", str(root), "--no-build", env=env)
    assert proc.returncode == 0, proc.stderr
    assert {p: p.stat().st_mtime_ns for p in cache.rglob("*.pt")} == before  # nothing recomputed
    nb = json.loads((root / "book" / "data_and_models.ipynb").read_text())
    shown = " ".join("".join(v) if isinstance(v, list) else str(v)
                     for o in _outputs(nb) for k, v in o.get("data", {}).items() if k in ("text/html", "text/plain"))
    assert "from store" in shown and "computed now" not in shown  # outputs only: the source names both


@pytest.mark.parametrize("args,words", [
    (["-p", "batchsize", "64"], "unknown parameter 'batchsize'"),
    (["-p", "epochs", "0"], "parameter 'epochs' must be at least 1"),
    (["-p", "datasets", "[mnist, imagenet]"], "unknown dataset(s) ['imagenet']"),
])
def test_bad_parameter_fails_in_first_cell_and_keeps_the_page(quick, args, words):
    root, env = quick
    page = root / "book" / "data_and_models.ipynb"
    kept = page.read_bytes()
    proc = _cli("run", "data_and_models", "--profile", "quick", "--root", str(root), "--no-build", *args, env=env)
    assert proc.returncode == 2
    assert "ParameterError" in proc.stderr and words in proc.stderr
    assert page.read_bytes() == kept  # the last good page is untouched
    failed = json.loads((root / "_build" / "failed" / "data_and_models.ipynb").read_text())
    code = [c for c in failed["cells"] if c["cell_type"] == "code"]
    tags = [c["metadata"].get("tags", []) for c in code]
    first = tags.index(["injected-parameters"]) + 1  # the first cell after papermill's injection
    assert [o["output_type"] for o in code[first]["outputs"]] == ["error"]
    assert all(not c.get("outputs") for c in code[first + 1:])


def test_unknown_profile_and_page_are_named():
    env = dict(os.environ)
    proc = _cli("run", "data_and_models", "--profile", "fast", "--no-build", env=env)
    assert proc.returncode == 2 and "profile 'fast' has no file" in proc.stderr and "paper, quick" in proc.stderr
    proc = _cli("run", "nosuchpage", "--no-build", env=env)
    assert proc.returncode == 2 and "unknown page 'nosuchpage'" in proc.stderr


def test_one_source_serves_the_sgt_pages_and_guards_their_dataset(quick, tmp_path):
    """sgt.py declares two pages; each fixes its dataset, and a contradicting -p is refused up front."""
    root, _ = quick
    assert discover.sources()["sgt_mnist"] == discover.sources()["sgt_fashion_mnist"] == REPO / "notebooks" / "sgt.py"
    assert discover.fixed_parameters("sgt_fashion_mnist") == {"dataset": "fashion_mnist"}
    assert discover.fixed_parameters("roar_mnist") == {}
    for page, name in [("sgt_mnist", "mnist"), ("sgt_fashion_mnist", "fashion_mnist")]:
        rec = status.record(root / "book" / f"{page}.ipynb")
        assert rec["page"] == page and rec["parameters"]["dataset"] == name
        assert rec["rerun"].startswith(f"python -m roarkit run {page} ")
        assert rec["data"][0]["name"] == name
    with pytest.raises(discover.RunError, match="run the page for that value instead \\(sgt_fashion_mnist\\)"):
        execute.execute("sgt_mnist", "quick", {"dataset": "fashion_mnist"}, root=tmp_path)
    assert not (tmp_path / "book").exists()
    src = tmp_path / "two.py"
    src.write_text("# ---\n# jupyter:\n#   roarkit:\n#     pages:\n#       a_x: {d: x}\n#       a_y: {d: y}\n# ---\n")
    assert discover.header_pages(src) == {"a_x": {"d": "x"}, "a_y": {"d": "y"}}
    src.write_text("# %%\nprint(1)\n")
    assert discover.header_pages(src) is None


# -- launch buttons: the repository address comes from the git remote 'origin' -----------------------
def _git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(["git", "-c", "user.name=roarkit test", "-c", "user.email=test@example.org",
                           "-c", "commit.gpgsign=false", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return proc.stdout.strip()


@pytest.fixture
def checkout(tmp_path):
    """A real git repository holding the book's _config.yml, one commit on branch main, no remote."""
    root = tmp_path / "checkout"
    root.mkdir()
    shutil.copy(REPO / "_config.yml", root / "_config.yml")
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "_config.yml")
    _git(root, "commit", "-qm", "book")
    return root


def _unchanged_except_buttons(cfg: dict):
    base = yaml.safe_load((REPO / "_config.yml").read_text())
    assert {k: v for k, v in cfg.items() if k not in ("repository", "launch_buttons", "html")} == \
        {k: v for k, v in base.items() if k != "html"}
    assert cfg["html"] == {**base["html"], "use_repository_button": True}


def test_generated_config_points_launch_buttons_at_origin(checkout):
    _git(checkout, "remote", "add", "origin", "git@github.com:someone/roarkit.git")
    _git(checkout, "checkout", "-qb", "reader-experience")
    path, note = build.write_book_config(checkout)
    assert note is None
    assert path == checkout / "_build" / "_config.generated.yml"
    cfg = yaml.safe_load(path.read_text())
    assert cfg["repository"] == {"url": "https://github.com/someone/roarkit", "branch": "reader-experience",
                                 "path_to_book": ""}
    assert cfg["launch_buttons"] == {"notebook_interface": "classic", "binderhub_url": "https://mybinder.org",
                                     "colab_url": "https://colab.research.google.com"}
    _unchanged_except_buttons(cfg)
    # what jupyter-book makes of it: the theme's repository and launch options
    from jupyter_book.config import get_final_config
    sphinx, _ = get_final_config(user_yaml=path, sourcedir=checkout, raise_on_invalid=True,
                                 cli_config={"latex_individualpages": False})
    opts = sphinx["html_theme_options"]
    assert opts["repository_url"] == "https://github.com/someone/roarkit"
    assert opts["repository_branch"] == "reader-experience" and opts["use_repository_button"] is True
    assert opts["launch_buttons"]["binderhub_url"] == "https://mybinder.org"


def test_generated_config_https_remote_detached_head_and_subfolder(checkout):
    _git(checkout, "remote", "add", "origin", "https://someone:s3cret@github.com/someone/roarkit.git")
    sha = _git(checkout, "rev-parse", "HEAD")
    _git(checkout, "checkout", "-q", "--detach")
    book = checkout / "docs"
    book.mkdir()
    shutil.copy(REPO / "_config.yml", book / "_config.yml")
    path, note = build.write_book_config(book)
    text = path.read_text()
    assert note is None and "s3cret" not in text  # credentials never reach the pages
    cfg = yaml.safe_load(text)
    assert cfg["repository"] == {"url": "https://github.com/someone/roarkit", "branch": sha, "path_to_book": "docs"}


def test_generated_config_gitlab_remote_has_no_colab(checkout):
    _git(checkout, "remote", "add", "origin", "git@gitlab.com:someone/roarkit.git")
    cfg, note = build.book_config(checkout)
    assert note is None and cfg["repository"]["url"] == "https://gitlab.com/someone/roarkit"
    assert cfg["repository"]["branch"] == "main"
    assert "colab_url" not in cfg["launch_buttons"] and cfg["launch_buttons"]["binderhub_url"]


@pytest.mark.parametrize("remote", [None, "/srv/git/roarkit.git"])
def test_without_a_web_origin_the_book_has_no_launch_buttons(checkout, remote):
    if remote:
        _git(checkout, "remote", "add", "origin", remote)
    path, note = build.write_book_config(checkout)
    cfg = yaml.safe_load(path.read_text())
    assert cfg == yaml.safe_load((REPO / "_config.yml").read_text())  # _config.yml as it is
    assert "\n" not in note and "without launch" in note and "git remote add origin" in note


def test_papermill_cli_takes_a_profile_file_directly(tmp_path):
    """The README's pipe: jupytext → papermill -f profile; a bad -p still stops in the first cell."""
    bindir = Path(sys.executable).parent
    src = REPO / "notebooks" / "data_and_models.py"
    prof = REPO / "notebooks" / "profiles" / "quick" / "data_and_models.yaml"
    out = tmp_path / "out.ipynb"
    cmd = (f"{bindir / 'jupytext'} --to ipynb -o - {src} | {bindir / 'papermill'} - {out} -f {prof} "
           f"-p nonsense 1 -k python3")
    proc = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode != 0
    assert "unknown parameter 'nonsense'" in proc.stderr
    nb = json.loads(out.read_text())
    assert nb["metadata"]["papermill"]["parameters"]["profile"] == "quick"


# -- the built HTML in a real browser ----------------------------------------------------------------
def _browser_check(html: Path, label: str):
    from functools import partial
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    assert Path(chromium).exists(), "Chromium is needed for the browser check: apt-get install chromium"
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(html)))
    Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    executed = {f"book/{p}.html" for p in PAGES}
    pages = ["book/intro.html", "book/status.html", "book/architecture.html", *sorted(executed)]
    problems, fetched = [], {}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=[
                "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"])
            tab = browser.new_page()
            js_errors = []
            tab.on("pageerror", lambda e: js_errors.append(str(e)))
            for rel in pages:
                js_errors.clear()
                resp = tab.goto(f"{base}/{rel}", wait_until="load")
                found = []
                if resp is None or resp.status != 200:
                    found.append(f"HTTP {resp.status if resp else 'no response'}")
                else:
                    imgs = tab.eval_on_selector_all("img", "els => els.map(e => [e.getAttribute('src'), e.complete && e.naturalWidth > 0])")
                    found += [f"broken image {src}" for src, ok in imgs if not ok]
                    bad = tab.eval_on_selector_all(
                        ".output.traceback, .output.stderr, .system-message, .problematic, .error",
                        "els => els.map(e => e.innerText.slice(0, 200))")
                    found += [f"error output: {b}" for b in bad]
                    if rel in executed:
                        if not tab.locator(".admonition", has_text="Provenance").count():
                            found.append("no provenance block")
                        if not tab.locator("figure img, .cell_output img").count():
                            found.append("no rendered figure")
                    found += [f"javascript error: {e}" for e in js_errors]
                    found += _broken_links(tab, base, fetched)
                if rel == "book/intro.html" and resp is not None and resp.status == 200:
                    found += _landing_problems(tab)
                if found:
                    ARTIFACTS.mkdir(exist_ok=True)
                    shot = ARTIFACTS / f"{label}-{rel.replace('/', '_')}.png"
                    tab.screenshot(path=str(shot), full_page=True)
                    problems.append(f"{rel}: {'; '.join(found)} (screenshot {shot})")
            tab.goto(f"{base}/index.html")  # the root only redirects to the landing page
            tab.wait_for_url("**/book/intro.html", timeout=15000)
            for term, page in SEARCH_TERMS.items():
                tab.goto(f"{base}/search.html?q={term}", wait_until="load")
                try:
                    tab.wait_for_selector("#search-results li", timeout=15000)
                except Exception:
                    pass
                hits = tab.eval_on_selector_all("#search-results li a", "els => els.map(e => e.getAttribute('href'))")
                if not any(page in (h or "") for h in hits):
                    ARTIFACTS.mkdir(exist_ok=True)
                    tab.screenshot(path=str(ARTIFACTS / f"{label}-search-{term}.png"), full_page=True)
                    problems.append(f"search for {term!r} does not find {page} (hits: {hits[:5]})")
            browser.close()
    finally:
        server.shutdown()
    assert not problems, "\n".join(problems)


def _broken_links(tab, base: str, fetched: dict) -> list[str]:
    """Links inside the book that do not resolve: a missing page, or an anchor no element carries."""
    from urllib.parse import unquote, urldefrag
    found = []
    for href in sorted(set(tab.eval_on_selector_all("a[href]", "els => els.map(e => e.href)"))):
        if not href.startswith(base + "/"):
            continue  # external (bibliography DOIs, launch buttons): not checked offline
        url, frag = urldefrag(href)
        if url not in fetched:
            resp = tab.request.get(url)
            fetched[url] = resp.text() if resp.status == 200 else None
        body = fetched[url]
        if body is None:
            found.append(f"broken link {href[len(base):]}")
        elif frag and f'id="{unquote(frag)}"' not in body:
            found.append(f"broken anchor {href[len(base):]}")
    return found


#: A term from each chapter and the page search must find it on.
SEARCH_TERMS = {"Retrain": "roar_mnist", "occlusion": "perturbation_saliency", "SMOOT": "sgt_mnist"}


def _landing_problems(tab) -> list[str]:
    """The results-at-a-glance table: every glued cell holds a value (a number or a verdict)."""
    rows = tab.eval_on_selector_all("section#results-at-a-glance table tbody tr",
                                    "trs => trs.map(tr => Array.from(tr.cells).map(td => td.innerText.trim()))")
    if not rows:
        return ["landing page: no results-at-a-glance table"]
    bad = [r for r in rows if len(r) < 5 or not r[3] or not r[4]]
    return [f"landing page: empty glued cell in {r}" for r in bad]


def test_quick_book_in_browser(quick):
    root, _ = quick
    html = build.build(root)
    _browser_check(html, "quick")


def test_committed_book_in_browser(committed):
    _browser_check(committed / "_build" / "html", "committed")


def test_landing_page_pastes_glued_verdicts_not_object_reprs(committed):
    """Cross-document {glue} of a Markdown verdict renders it (roarkit.book.sphinxext), not its repr."""
    import html as _html
    text = (committed / "_build" / "html" / "book" / "intro.html").read_text()
    assert "object>" not in _html.unescape(text) and "IPython.core" not in text
    verdicts = re.findall(r"<td>(?:<p>)?<strong>(reproduced|not reproduced|holds|does not hold)</strong>", text)
    assert len(verdicts) >= 3, "the landing table shows no glued verdicts"

"""Execute the book's pages and build it.

``notebooks/<page>.py`` (jupytext percent source) → papermill with the profile's parameters
(``notebooks/profiles/<profile>/<page>.yaml``, the same file ``papermill -f`` takes) and ``-p`` overrides →
``book/<page>.ipynb`` → ``jupyter-book build`` with execution off. A page that fails is kept aside
in ``_build/failed/`` and never replaces the last good executed page.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from roarkit import provenance
from roarkit.page import MIME

STATUS_PAGE = "status.md"


class RunError(RuntimeError):
    """A page could not be run or the book could not be built (the message says why and how to fix)."""


def repo() -> Path:
    root = provenance.repo_root()
    if root is None:
        raise RunError("roarkit is not running from a checkout: the runner needs the repository "
                       "(notebooks/, notebooks/profiles/, _config.yml). Clone it and `pip install -e .`.")
    return root


def _header_pages(src: Path) -> dict[str, dict] | None:
    """The ``roarkit: pages:`` table of a source's jupytext header: page name → parameters it fixes.

    One source can serve several pages that differ only in such parameters (the SGT chapter runs
    one source on MNIST and on Fashion-MNIST); a source without the table is the page of its name.
    """
    lines = src.read_text().splitlines()
    if not lines or lines[0].strip() != "# ---":
        return None
    end = next((i for i, line in enumerate(lines[1:], 1) if line.strip() == "# ---"), None)
    if end is None:
        return None
    header = yaml.safe_load("\n".join(line[2:] for line in lines[1:end])) or {}
    pages = ((header.get("jupyter") or {}).get("roarkit") or {}).get("pages")
    return {str(k): dict(v or {}) for k, v in pages.items()} if pages else None


def _pages() -> dict[str, tuple[Path, dict]]:
    found = {}
    for src in sorted((repo() / "notebooks").glob("*.py")):
        for page, fixed in (_header_pages(src) or {src.stem: {}}).items():
            found[page] = (src, fixed)
    toc = (repo() / "_toc.yml").read_text()
    return dict(sorted(found.items(), key=lambda kv: (toc.find(f"book/{kv[0]}") % (len(toc) + 1), kv[0])))


def sources() -> dict[str, Path]:
    """Page name → jupytext source, in the order of the table of contents."""
    return {page: src for page, (src, _) in _pages().items()}


def fixed_parameters(page: str) -> dict:
    """Parameters a page fixes in its source's ``roarkit: pages:`` header (``{}`` for most pages)."""
    return dict(_pages().get(page, (None, {}))[1])


def profiles() -> list[str]:
    return sorted(p.name for p in (repo() / "notebooks" / "profiles").iterdir() if p.is_dir())


def profile_file(profile: str, page: str) -> Path:
    """``notebooks/profiles/<profile>/<page>.yaml``, or ``<profile>/<page>.yaml`` when ``profile`` is a folder."""
    folder = Path(profile) if Path(profile).is_dir() else repo() / "notebooks" / "profiles" / profile
    path = folder / f"{page}.yaml"
    if not path.exists():
        raise RunError(f"profile {profile!r} has no file for page {page!r} ({path}). Known profiles: "
                       f"{', '.join(profiles())}; a custom profile is a folder holding <page>.yaml files.")
    return path


def parse_value(text: str):
    """``-p`` values as papermill reads them: numbers, booleans, lists (YAML), else the string."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def execute(page: str, profile: str = "quick", overrides: dict | None = None, *, root: Path | None = None,
            progress: bool = False) -> Path:
    """Run one page through papermill into ``<root>/book/<page>.ipynb``; returns that path."""
    import jupytext
    import papermill as pm

    pages = _pages()
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


def record(path: Path) -> dict | None:
    """The provenance record a page glued (see :class:`roarkit.page.Page`), or None."""
    nb = json.loads(Path(path).read_text())
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []) or []:
            if out.get("metadata", {}).get("scrapbook", {}).get("name") == "provenance":
                data = out.get("data", {})
                rec = next((v for k, v in data.items() if k.endswith(MIME)), None)
                return rec if isinstance(rec, dict) else None
    return None


def file_sha256(path: Path) -> str:
    import hashlib
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def page_modules(src: Path) -> list[str]:
    """The roarkit modules a page's source imports (its results depend on their code)."""
    from roarkit import results
    return sorted(results._roarkit_imports(Path(src)))


def stale(page: str, rec: dict | None) -> list[str]:
    """Why an executed page no longer matches the code, its source, its data or its profile ([] = current)."""
    from roarkit import data, results
    if rec is None:
        return ["never executed"]
    why = []
    now = results.code_version(rec.get("code_modules"))
    if rec.get("code_version") != now:
        why.append(f"roarkit code changed ({rec.get('code_version')} -> {now})")
    src = sources().get(page)
    if src is None or rec.get("source_sha256") != file_sha256(src):
        why.append(f"source notebooks/{src.name if src else page + '.py'} changed")
    for d in rec.get("data", []):
        try:
            folder = data.locate(d["name"])
        except data.DataError:
            why.append(f"data {d['name']} no longer found")
            continue
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


def status(root: Path | None = None) -> list[dict]:
    """One row per page: profile, when executed, and whether (and why) it is stale."""
    root = Path(root or repo())
    rows = []
    for page in sources():
        path = root / "book" / f"{page}.ipynb"
        rec = record(path) if path.exists() else None
        why = stale(page, rec)
        rows.append({"page": page, "profile": rec["profile"] if rec else "-",
                     "executed": rec["executed"] if rec else "-", "stale": bool(why), "why": "; ".join(why)})
    return rows


def _duration(rec: dict) -> str:
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
        rows.append(f"| [{page}]({page}.ipynb) | `{rec['profile']}` ({settings}) | {data} | {rec['device']} "
                    f"| `{rec['commit']}` | {rec['executed']} | {_duration(rec)} "
                    f"| {'stale: ' + '; '.join(why) if why else 'current'} |")
    text = ("# Status\n\nEvery page of this book is a notebook executed by `python -m roarkit run`. "
            "This table is generated from the provenance each executed page recorded and is rewritten at "
            "every build. A page is *stale* when the roarkit code, its source, its data or its profile "
            "changed after it was executed (`python -m roarkit status` says the same). *Duration* is the "
            "page's own run; a page that reused units of work from the results store adds the time "
            "those units took when they were computed.\n\n"
            "| Page | Profile | Data (train/test images) | Device | Commit | Executed | Duration | Current? |\n"
            "|---|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n")
    out = root / "book" / STATUS_PAGE
    if not out.exists() or out.read_text() != text:
        out.write_text(text)
    return out


#: Where :func:`write_book_config` writes the configuration the build uses (``_build/`` is not part of the book).
GENERATED_CONFIG = Path("_build") / "_config.generated.yml"
#: Launch buttons of every executed page (sphinx-book-theme); Colab only opens GitHub repositories.
LAUNCH_BUTTONS = {"notebook_interface": "classic", "binderhub_url": "https://mybinder.org",
                  "colab_url": "https://colab.research.google.com"}
_PROVIDERS = ("github", "gitlab", "bitbucket")  # the hosts sphinx-book-theme builds repository links for


def _git_out(root: Path, *args: str) -> str | None:
    """``git -C root <args>``'s output, or None when git is missing or the command fails."""
    try:
        proc = subprocess.run(["git", "-c", "safe.directory=*", "-C", str(root), *args], capture_output=True,
                              text=True, timeout=20, env={**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"})
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def https_url(remote: str) -> str | None:
    """A git remote as the https address of its repository page, or None when it is not a web host.

    ``git@github.com:owner/name.git``, ``ssh://git@github.com/owner/name.git``, ``git://…`` and
    ``https://user:token@github.com/owner/name.git`` all give ``https://github.com/owner/name``
    (credentials are dropped: the address ends up in every page of the book).
    """
    import re
    from urllib.parse import urlsplit
    remote = remote.strip()
    scp = re.fullmatch(r"(?:[^@/]+@)?([^:/]+):(?!//)/?(.+)", remote)  # git@host:owner/name(.git)
    if scp and "://" not in remote:
        host, path = scp.groups()
    else:
        parts = urlsplit(remote)
        if parts.scheme not in ("https", "http", "ssh", "git", "git+ssh", "ssh+git") or not parts.hostname:
            return None
        host, path = parts.hostname, parts.path
    path = path.strip("/")
    if path.endswith(".git"):
        path = path[:-4]
    if path.count("/") < 1 or not host or "." not in host:
        return None
    return f"https://{host.lower()}/{path}"


def repository_info(root: Path | None = None) -> dict | None:
    """``{url, branch, path_to_book}`` of the checkout holding the book at ``root``, from its remote
    ``origin`` (``git remote get-url origin``) and ``git rev-parse --abbrev-ref HEAD``; None without an
    origin that is a GitHub, GitLab or Bitbucket address. A detached HEAD gives the commit."""
    root = Path(root or repo())
    remote = _git_out(root, "remote", "get-url", "origin")
    url = https_url(remote) if remote else None
    if url is None or not any(p in url.split("/")[2] for p in _PROVIDERS):
        return None
    branch = _git_out(root, "rev-parse", "--abbrev-ref", "HEAD")
    if not branch:  # no commit yet: the branch HEAD names
        branch = _git_out(root, "symbolic-ref", "--short", "-q", "HEAD")
    if branch == "HEAD":  # detached (as CI checks out): link to the commit itself
        branch = _git_out(root, "rev-parse", "HEAD")
    prefix = _git_out(root, "rev-parse", "--show-prefix") or ""
    return {"url": url, "branch": branch or "main", "path_to_book": prefix.strip("/")}


def book_config(root: Path | None = None) -> tuple[dict, str | None]:
    """``_config.yml`` plus the repository, its button and the launch buttons when the checkout has a
    usable ``origin``; returns the configuration and, without one, a line saying how to enable them."""
    root = Path(root or repo())
    config = yaml.safe_load((root / "_config.yml").read_text()) or {}
    info = repository_info(root)
    if info is None:
        remote = _git_out(root, "remote", "get-url", "origin")
        why = ("no git remote 'origin'" if not remote else
               f"the git remote 'origin' ({https_url(remote) or 'a local path'}) is not a GitHub, GitLab or Bitbucket address")
        return config, (f"{why}: building without launch (Binder, Colab) and repository buttons; to enable them "
                        "add the repository as origin: git remote add origin https://github.com/OWNER/NAME.git")
    config["repository"] = info
    buttons = dict(LAUNCH_BUTTONS)
    if info["url"].split("/")[2] != "github.com":
        buttons.pop("colab_url")  # Colab opens github.com only (the theme warns otherwise, which -W makes an error)
    config["launch_buttons"] = buttons
    config.setdefault("html", {})["use_repository_button"] = True
    return config, None


def write_book_config(root: Path | None = None) -> tuple[Path, str | None]:
    """Write :func:`book_config` to ``<root>/_build/_config.generated.yml``; returns its path and the note."""
    root = Path(root or repo())
    config, note = book_config(root)
    out = root / GENERATED_CONFIG
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("# Generated by `python -m roarkit build` from _config.yml and the git remote 'origin';"
                   " edit _config.yml instead.\n" + yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    return out, note


def build(root: Path | None = None, *, strict: bool = True) -> Path:
    """``jupyter-book build`` (execution off, ``-W``) of the book at ``root``; returns the HTML folder.

    The configuration is ``_config.yml`` plus the repository address and launch buttons derived from the
    git remote ``origin`` (:func:`write_book_config`); without one the book has no launch buttons.
    """
    root = Path(root or repo())
    write_status(root)
    config, note = write_book_config(root)
    if note:
        print(f"roarkit: {note}", flush=True)
    cmd = [sys.executable, "-c", "from jupyter_book.cli.main import main; main()", "build", str(root),
           "--path-output", str(root), "--config", str(config)]
    if strict:
        cmd += ["-W", "--keep-going"]
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RunError(f"jupyter-book build failed (exit {proc.returncode}):\n{proc.stdout[-4000:]}\n"
                       f"{proc.stderr[-4000:]}")
    return root / "_build" / "html"


def run(pages: list[str], profile: str, overrides: dict | None = None, *, root: Path | None = None,
        build_book: bool = True, progress: bool = False) -> list[Path]:
    """Execute ``pages`` (``["all"]`` for every page) with a profile, then build the book."""
    names = list(sources()) if pages == ["all"] else pages
    done = [execute(p, profile, overrides, root=root, progress=progress) for p in names]
    if build_book:
        html = build(root)
        print(f"built the book: {html / 'index.html'}")
    return done

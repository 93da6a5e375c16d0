"""Build the book: the Status page, the configuration with launch buttons from the git remote, then
``jupyter-book build`` with execution off and warnings as errors."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from roarkit.book.discover import RunError, repo
from roarkit.book.status import write_status

__all__ = ["GENERATED_CONFIG", "LAUNCH_BUTTONS", "https_url", "repository_info", "book_config", "write_book_config",
           "build"]


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

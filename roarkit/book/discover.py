"""Find the book's pages and their profiles: ``notebooks/<source>.py`` (jupytext percent files; one
source may serve several pages through its header) and ``notebooks/profiles/<profile>/<page>.yaml``."""
from __future__ import annotations

import hashlib
from pathlib import Path

import yaml

from roarkit.store import codeversion, provenance

__all__ = ["RunError", "repo", "header_pages", "sources", "fixed_parameters", "pages", "profiles", "profile_file", "parse_value",
           "file_sha256", "page_modules"]


class RunError(RuntimeError):
    """A page could not be run or the book could not be built (the message says why and how to fix)."""


def repo() -> Path:
    root = provenance.repo_root()
    if root is None:
        raise RunError("roarkit is not running from a checkout: the runner needs the repository "
                       "(notebooks/, notebooks/profiles/, _config.yml). Clone it and `pip install -e .`.")
    return root


def header_pages(src: Path) -> dict[str, dict] | None:
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


def pages() -> dict[str, tuple[Path, dict]]:
    found = {}
    for src in sorted((repo() / "notebooks").glob("*.py")):
        for page, fixed in (header_pages(src) or {src.stem: {}}).items():
            found[page] = (src, fixed)
    toc = (repo() / "_toc.yml").read_text()
    return dict(sorted(found.items(), key=lambda kv: (toc.find(f"book/{kv[0]}") % (len(toc) + 1), kv[0])))


def sources() -> dict[str, Path]:
    """Page name → jupytext source, in the order of the table of contents."""
    return {page: src for page, (src, _) in pages().items()}


def fixed_parameters(page: str) -> dict:
    """Parameters a page fixes in its source's ``roarkit: pages:`` header (``{}`` for most pages)."""
    return dict(pages().get(page, (None, {}))[1])


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


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes (a page source's identity)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def page_modules(src: Path) -> list[str]:
    """The roarkit modules a page's source imports (its results depend on their code)."""
    return sorted(codeversion.imported_modules(Path(src)))

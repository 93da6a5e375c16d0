"""Code versions: which source code a stored result was computed by.

A unit of work names the modules that compute it (dotted names such as
``"roarkit.experiments.roar_grid"``). Its code version hashes those modules' sources and every roarkit
module they import, transitively (lazy imports included), so editing one chapter's code never
invalidates another chapter's results. The layers that compute nothing are never hashed nor followed:
the store itself, the figures and the book machinery (:data:`NOT_HASHED`): editing how results are
stored or shown keeps them.
"""
from __future__ import annotations

import ast
import hashlib
from pathlib import Path

from roarkit import __version__

__all__ = ["PACKAGE", "NOT_HASHED", "ROOT", "module_file", "modules", "imported_modules", "dependencies", "code_version"]

PACKAGE = "roarkit"
#: Packages and modules whose source never enters a code version.
NOT_HASHED = ("roarkit.store", "roarkit.figures", "roarkit.book", "roarkit.__main__")
#: The roarkit package folder whose sources are hashed (``root=`` of the functions below overrides it).
ROOT = Path(__file__).resolve().parents[1]
_SCOPED: dict[tuple, str] = {}
_IMPORTS: dict[tuple, set] = {}  # (file, its size and mtime, name, root) -> the roarkit modules it imports


def module_file(name: str, root: Path | None = None) -> Path | None:
    """The source file of roarkit module ``name`` (a package's ``__init__.py``) under ``root``, or None."""
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    base = Path(root or ROOT).joinpath(*parts[1:])
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def modules(root: Path | None = None) -> list[str]:
    """Every module of the roarkit package, as dotted names, sorted."""
    root = Path(root or ROOT)
    out = []
    for path in root.rglob("*.py"):
        rel = path.relative_to(root).with_suffix("")
        parts = [p for p in rel.parts if p != "__init__"]
        out.append(".".join([PACKAGE, *parts]))
    return sorted(out)


def _hashed(name: str) -> bool:
    return not any(name == n or name.startswith(n + ".") for n in NOT_HASHED)


def imported_modules(path: Path, name: str | None = None, root: Path | None = None) -> set[str]:
    """The roarkit modules a source file imports, anywhere in it, resolved to modules: ``from
    roarkit.core import data`` gives ``roarkit.core.data`` when that is a module, else the package.
    ``name``: the file's own module name, for relative imports (None: a file outside the package).
    Cached per state of the file (size and modification time): a store writes many entries a second."""
    st = Path(path).stat()
    memo = (str(path), st.st_size, st.st_mtime_ns, name, str(root))
    if memo not in _IMPORTS:
        _IMPORTS[memo] = _imported_modules(path, name, root)
    return set(_IMPORTS[memo])


def _imported_modules(path: Path, name: str | None, root: Path | None) -> set[str]:
    package = None
    if name is not None:
        package = name if Path(path).name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(Path(path).read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                if package is None:
                    continue
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            if base != PACKAGE and not base.startswith(PACKAGE + "."):
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if module_file(sub, root) is not None else base)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name == PACKAGE or a.name.startswith(PACKAGE + ".")}
    return {m for m in found if module_file(m, root) is not None}


def dependencies(names, root: Path | None = None) -> list[str]:
    """``names`` and every roarkit module they import, transitively, leaving out (and not following)
    the layers of :data:`NOT_HASHED` and the package root."""
    seen, todo = set(), list(names)
    while todo:
        name = todo.pop()
        path = module_file(name, root)
        if name in seen or path is None or not _hashed(name) or name == PACKAGE:
            continue
        seen.add(name)
        todo.extend(imported_modules(path, name, root))
    return sorted(seen)


def code_version(names=None, root: Path | None = None) -> str:
    """``"<roarkit version>+<sha256[:12] of the sources>"`` of ``names`` and their dependencies
    (None: every hashed module); ``root``: a copy of the package elsewhere. Cached per process and
    per state of the files (size and modification time), so an edited source is hashed anew."""
    deps = tuple(dependencies(modules(root) if names is None else names, root))
    stats = tuple((s.st_size, s.st_mtime_ns) for s in (module_file(n, root).stat() for n in deps))
    key = (str(root or ROOT), deps, stats)
    if key not in _SCOPED:
        digest = hashlib.sha256()
        for name in deps:
            digest.update(name.encode() + b"\0" + module_file(name, root).read_bytes() + b"\0")
        _SCOPED[key] = f"{__version__}+{digest.hexdigest()[:12]}"
    return _SCOPED[key]

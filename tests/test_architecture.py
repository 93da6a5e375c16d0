"""The package's layers, as the folders show them, checked on every import of every module and page.

| layer | may import |
|---|---|
| roarkit.core (the science) | core |
| roarkit.store (results store) | store |
| roarkit.experiments (one module per page) | core, store, experiments |
| roarkit.figures | core, figures |
| roarkit.book (page lifecycle, runner, CLI) | store, core, book |
| page sources notebooks/*.py | experiments, figures, roarkit.book.page |

Every layer may read ``roarkit.__version__`` from the package root. Imports anywhere in a file count
(lazy imports inside functions too). Besides the direction: no import cycle, no private name used
across a module boundary, ``__all__`` on every module, and no module over 400 lines unless its
docstring says why ("longer than 400 lines because ...").
"""
import ast
from pathlib import Path

import pytest

from roarkit.store import codeversion

REPO = Path(__file__).resolve().parents[1]
ALLOWED = {"core": {"core"}, "store": {"store"}, "experiments": {"core", "store", "experiments"},
           "figures": {"core", "figures"}, "book": {"store", "core", "book"}}
PAGE_MAY_IMPORT = ("roarkit.experiments", "roarkit.figures", "roarkit.book.page")
MAX_LINES = 400
MODULES = codeversion.modules()
PAGES = sorted((REPO / "notebooks").glob("*.py"))


def layer(module: str) -> str | None:
    """The layer of a module: the first folder below roarkit (None for the package root)."""
    parts = module.split(".")
    if len(parts) == 1:
        return None
    return "book" if parts[1] == "__main__" else parts[1]


def imports(module: str) -> set[str]:
    return codeversion.imported_modules(codeversion.module_file(module), module)


def test_every_module_belongs_to_a_layer():
    assert set(ALLOWED) == {layer(m) for m in MODULES if layer(m)}, "a folder of roarkit/ is not a known layer"


@pytest.mark.parametrize("module", MODULES)
def test_imports_point_one_way(module):
    own = layer(module)
    if own is None:
        assert imports(module) == set(), "the package root imports nothing"
        return
    bad = sorted(m for m in imports(module) if layer(m) is not None and layer(m) not in ALLOWED[own])
    assert not bad, f"{module} ({own}) imports {bad}; {own} may import only {sorted(ALLOWED[own])}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_pages_import_only_experiments_figures_and_the_page(page):
    found = codeversion.imported_modules(page)
    bad = sorted(m for m in found if not m.startswith(PAGE_MAY_IMPORT))
    assert not bad, f"{page.name} imports {bad}: pages narrate, plot and glue; logic lives in roarkit.experiments"
    assert any(m.startswith("roarkit.experiments") for m in found), f"{page.name} runs no experiment"


def test_no_import_cycle():
    graph = {m: {d for d in imports(m) if d != "roarkit"} for m in MODULES}
    state, stack = {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for d in sorted(graph.get(m, ())):
            if state.get(d) == "open":
                cycle = stack[stack.index(d):] + [d]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if d not in state:
                visit(d)
        stack.pop()
        state[m] = "done"

    for m in MODULES:
        if m not in state:
            visit(m)


def private_uses(path: Path, module: str | None) -> list[str]:
    """Private names a file takes from other roarkit modules: ``from roarkit.x import _y`` or ``x._y``."""
    tree = ast.parse(path.read_text())
    aliases, found = set(), []
    package = None if module is None else (module if path.name == "__init__.py" else module.rpartition(".")[0])
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level and package:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + ([base] if base else []))
            if not base.startswith("roarkit"):
                continue
            for a in node.names:
                if a.name.startswith("_") and not a.name.startswith("__"):
                    found.append(f"from {base} import {a.name}")
                if codeversion.module_file(f"{base}.{a.name}") is not None:
                    aliases.add(a.asname or a.name)
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("roarkit"):
                    aliases.add(a.asname or a.name.split(".")[0])
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            root = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id in aliases:
                found.append(f"{ast.unparse(node)}")
    return found


@pytest.mark.parametrize("module", MODULES)
def test_no_private_name_crosses_a_module_boundary(module):
    uses = private_uses(codeversion.module_file(module), module)
    assert not uses, f"{module} uses private names of other modules: {uses}; make them public (and in __all__)"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_pages_use_no_private_names(page):
    uses = private_uses(page, None)
    assert not uses, f"{page.name} uses private names: {uses}"


@pytest.mark.parametrize("module", [m for m in MODULES if not m.endswith("__main__")])
def test_every_module_declares_its_public_names(module):
    tree = ast.parse(codeversion.module_file(module).read_text())
    names = [t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)]
    names += [n.target.id for n in tree.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)]
    assert "__all__" in names, f"{module} has no __all__"
    exported = next(ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)
                    and any(isinstance(t, ast.Name) and t.id == "__all__" for t in n.targets))
    defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    defined |= set(names) | {a.asname or a.name for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))
                             for a in n.names}
    path = codeversion.module_file(module)
    if path.name == "__init__.py":  # a facade may list its submodules
        defined |= {p.stem for p in path.parent.glob("*.py")} | {p.name for p in path.parent.iterdir() if p.is_dir()}
    assert not [n for n in exported if n not in defined], f"{module}.__all__ names what it does not define"


@pytest.mark.parametrize("module", MODULES)
def test_modules_stay_short_or_say_why(module):
    path = codeversion.module_file(module)
    lines = len(path.read_text().splitlines())
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    assert lines <= MAX_LINES or "longer than 400 lines because" in doc.lower(), \
        f"{module} has {lines} lines: split it by concern, or state in its docstring why it is longer"


def test_the_checks_catch_a_violation(tmp_path):
    """The checks above can fail: a core module importing the store, a private import and a cycle."""
    bad = tmp_path / "bad.py"
    bad.write_text("from roarkit.core.data import _canonical\nimport roarkit.core.data as D\nD._subset\n")
    assert private_uses(bad, None) == ["from roarkit.core.data import _canonical", "D._subset"]
    pkg = tmp_path / "roarkit"
    (pkg / "core").mkdir(parents=True)
    (pkg / "store").mkdir()
    (pkg / "core" / "a.py").write_text("from roarkit.store import b\n")
    (pkg / "store" / "b.py").write_text("from roarkit.core import a\n")
    got = codeversion.imported_modules(pkg / "core" / "a.py", "roarkit.core.a", pkg)
    assert got == {"roarkit.store.b"} and layer("roarkit.store.b") not in ALLOWED["core"]
    assert codeversion.imported_modules(pkg / "store" / "b.py", "roarkit.store.b", pkg) == {"roarkit.core.a"}

"""The conda route (environment.yml) installs exactly what the pip route (pyproject.toml + the Makefile's
torch pins, which CI installs) does: same packages, same version specifiers, a Python both accept."""
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
PINNED_BY_MAKEFILE = {"torch", "torchvision"}  # pyproject gives a floor; `make` installs $(TORCH)


def _requirements(lines, where) -> dict[str, SpecifierSet]:
    out = {}
    for line in lines:
        req = Requirement(line)
        name = canonicalize_name(req.name)
        assert name not in out, f"{where}: {name} listed twice"
        assert not req.extras and req.marker is None and req.url is None, f"{where}: keep {line!r} a plain pin"
        out[name] = req.specifier
    return out


def pip_route() -> tuple[dict[str, SpecifierSet], dict[str, SpecifierSet], SpecifierSet]:
    """pyproject's dependencies + the book and test extras; the Makefile's TORCH pins; requires-python."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    reqs = _requirements(project["dependencies"] + extras["book"] + extras["test"], "pyproject.toml")
    torch = re.search(r"^TORCH\s*\?=\s*(.+)$", (REPO / "Makefile").read_text(), flags=re.M)
    assert torch, "the Makefile no longer sets TORCH ?= ..."
    pins = _requirements(torch.group(1).split(), "Makefile TORCH")
    return reqs, pins, SpecifierSet(project["requires-python"])


def conda_route(text: str | None = None) -> tuple[dict[str, SpecifierSet], str, list]:
    """environment.yml's pip requirements, its conda python pin, and its other entries."""
    env = yaml.safe_load(text if text is not None else (REPO / "environment.yml").read_text())
    deps = env["dependencies"]
    pip = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    python = [d for d in deps if isinstance(d, str) and re.match(r"python\s*[=<>]", d)]
    assert len(python) == 1, f"environment.yml pins python once, found {python}"
    others = [d for d in deps if isinstance(d, str) and d not in python]
    local = [p for p in pip if p.startswith("-")]
    assert local == ["-e ."], f"environment.yml installs the checkout itself once (-e .), found {local}"
    return _requirements([p for p in pip if not p.startswith("-")], "environment.yml"), python[0], others


def mismatches(env_text: str | None = None) -> list[str]:
    """Every difference between the two routes (empty when they agree)."""
    reqs, pins, requires_python = pip_route()
    conda, python, others = conda_route(env_text)
    problems = []
    for name in sorted(set(reqs) | set(conda)):
        if name not in conda:
            problems.append(f"{name}: in pyproject.toml ({reqs[name]}) but not in environment.yml")
        elif name not in reqs:
            problems.append(f"{name}: in environment.yml ({conda[name]}) but not in pyproject.toml")
        elif name in PINNED_BY_MAKEFILE:
            if conda[name] != pins.get(name):
                problems.append(f"{name}: environment.yml pins {conda[name]}, the Makefile's TORCH {pins.get(name)}")
            pinned = next(iter(pins[name])).version if name in pins else None
            if pinned and not reqs[name].contains(pinned):
                problems.append(f"{name}: the Makefile's {pinned} does not satisfy pyproject's {reqs[name]}")
        elif conda[name] != reqs[name]:
            problems.append(f"{name}: environment.yml has {conda[name] or 'no pin'}, pyproject.toml {reqs[name] or 'no pin'}")
    if set(pins) != PINNED_BY_MAKEFILE:
        problems.append(f"the Makefile's TORCH pins {sorted(pins)}, expected {sorted(PINNED_BY_MAKEFILE)}")
    version = re.fullmatch(r"python\s*=\s*(\d+\.\d+)", python)
    if not version:
        problems.append(f"environment.yml should pin python=X.Y, found {python!r}")
    elif not requires_python.contains(Version(version.group(1))):
        problems.append(f"environment.yml's {python} is outside pyproject's requires-python {requires_python}")
    if others != ["pip"]:
        problems.append(f"environment.yml's conda packages besides python should be just pip, found {others}")
    return problems


def test_environment_yml_pins_what_pip_installs():
    assert mismatches() == []


@pytest.mark.parametrize("edit", [
    ("captum>=0.9,<0.10", "captum>=0.9,<0.11"),          # a bump in one file only
    ("papermill==2.7.0", "papermill==2.8.0"),
    ("torch==2.14.1", "torch==2.15.0"),                  # the Makefile still says 2.14.1
    ("      - playwright>=1.45,<2\n", ""),                # dropped from environment.yml
    ("      - pytest>=8,<9\n", "      - pytest>=8,<9\n      - nbclient>=0.10,<0.11\n"),  # only in environment.yml
    ("python=3.11", "python=3.9"),                       # outside requires-python
])
def test_a_pin_changed_in_one_file_only_is_caught(edit):
    text = (REPO / "environment.yml").read_text()
    old, new = edit
    assert old in text
    assert mismatches(text.replace(old, new)), f"editing {old!r} -> {new!r} went unnoticed"


CONDA = next((shutil.which(x) for x in ("conda", "mamba", "micromamba") if shutil.which(x)), None)


def test_environment_yml_resolves(tmp_path):
    """With conda on PATH: `conda env create --dry-run` resolves environment.yml. Without it (as here:
    conda cannot be installed from the package registries this machine reaches), the pip route that
    environment.yml mirrors is what this interpreter has installed: every requirement it lists is
    installed at a version its specifier accepts, and the book's stack imports."""
    if CONDA is not None:
        exe = Path(CONDA).name
        sub = ["create"] if exe == "micromamba" else ["env", "create"]
        cmd = [CONDA, *sub, "--dry-run", "-f", str(REPO / "environment.yml"), "-n", "roarkit-dry-run"]
        if exe == "micromamba":
            cmd += ["--yes", "--root-prefix", str(tmp_path / "mamba")]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=REPO)
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
        return
    from importlib.metadata import PackageNotFoundError, version
    conda, _, _ = conda_route()
    wrong = []
    for name, spec in conda.items():
        try:
            have = version(name)
        except PackageNotFoundError:
            wrong.append(f"{name}: not installed")
            continue
        if not spec.contains(Version(have), prereleases=True):
            wrong.append(f"{name}: {have} installed, environment.yml asks {spec}")
    assert not wrong, "\n".join(wrong)
    code = "import captum, jupyter_book, myst_nb, papermill, jupytext, torch, torchvision, roarkit.book.execute"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]

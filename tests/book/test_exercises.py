"""Every chapter ends with 2-4 exercises whose commands a reader can paste: each names a page, the quick
profile and only parameters that page declares, with values its rules accept (checked without running)."""
import re

import jupytext
import pytest

from roarkit.book import discover as runner
from roarkit.book import page as page_module
from roarkit.book import params
from roarkit.book.page import Page

PAGES = list(runner.sources())
PAGE_PLACEHOLDER = "PAGE"  # a source serving several pages may write `run PAGE` and name them in the text
RUN = re.compile(r"python -m roarkit run (\S+)")
OPTION = re.compile(r"""-p\s+(\w+)\s+("[^"]*"|'[^']*'|[^\s`]+)""")


def _cells(page):
    return jupytext.read(runner.sources()[page]).cells


def _defaults(page) -> dict:
    """The page's declared parameters (its cell tagged ``parameters``), with what its source header fixes."""
    cell = next(c for c in _cells(page) if "parameters" in c.metadata.get("tags", []))
    namespace = {"Page": Page}
    exec(cell.source, namespace)
    return {**namespace["page"].defaults, **runner.fixed_parameters(page)}


def _exercises(page):
    cells = _cells(page)
    finish = max(i for i, c in enumerate(cells) if c.cell_type == "code" and "page.finish(" in c.source)
    found = [i for i, c in enumerate(cells) if c.cell_type == "markdown" and "## Exercises" in c.source]
    return cells, finish, found


@pytest.mark.parametrize("page", PAGES)
def test_chapter_ends_with_exercises_after_finish(page):
    cells, finish, found = _exercises(page)
    assert found, f"{runner.sources()[page].name} has no '## Exercises' section"
    at = found[-1]
    assert at > finish, "the exercises must follow the cell calling page.finish(), which glues their opening"
    assert at == len(cells) - 1, "the exercises must end the page"
    text = cells[at].source
    # every page shares one opening (what exercises run on, what the page took), glued by page.finish
    assert re.search(r"```\{glue:md\} exercises_intro\n:format: myst\n```", text), \
        "the exercises open with the shared {glue:md} exercises_intro block"
    assert "this page took" not in text.split("## Exercises", 1)[1], "the run-time sentence is glued, not copied"
    assert "this page took 2.5 minutes" in page_module.exercises_intro(2.5)
    items = re.findall(r"^\d+\. ", text.split("## Exercises", 1)[1], flags=re.M)
    assert 2 <= len(items) <= 4, f"{len(items)} exercises; a chapter ends with 2 to 4"


@pytest.mark.parametrize("page", PAGES)
def test_exercise_commands_take_only_declared_valid_parameters(page):
    cells, _, found = _exercises(page)
    if not found:
        pytest.skip("no exercises (reported by test_chapter_ends_with_exercises_after_finish)")
    src = runner.sources()[page]
    siblings = [p for p, s in runner.sources().items() if s == src]
    text = cells[found[-1]].source.split("## Exercises", 1)[1]
    text = re.sub(r"```.*?```", "", text, flags=re.S)  # directive blocks (the glued opening) hold no command
    checked = 0
    for span in re.findall(r"`([^`]+)`", text):
        options = OPTION.findall(span)
        run = RUN.search(span)
        if run:
            assert "--profile quick" in span, f"exercises run with the quick profile: {span}"
            target = run.group(1)
            targets = siblings if target == PAGE_PLACEHOLDER else [target]
            assert all(t in runner.sources() for t in targets), f"unknown page in {span}"
        elif options:
            targets = siblings
        else:
            continue
        overrides = {name: runner.parse_value(value.strip("\"'")) for name, value in options}
        for target in targets:
            defaults = _defaults(target)
            fixed = set(overrides) & set(runner.fixed_parameters(target))
            assert not fixed, f"{span}: {target} fixes {fixed} (the runner refuses to change them)"
            assert set(overrides) <= set(params.RULES), f"{span}: parameter without a rule in roarkit/params.py"
            params.check({**defaults, **overrides}, defaults, page=f"page {target!r} ({span})")
            checked += 1
    assert checked, "no exercise names a command or a -p option"

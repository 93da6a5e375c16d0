"""The papers' own numbers (``paper_values.yaml``), the single place they live in the book."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

__all__ = ["values", "value"]


@lru_cache(maxsize=None)
def values() -> dict:
    """All paper values, keyed by source (``roar_report``, ``hooker2019``, ``smoot``, ``sgt``)."""
    return yaml.safe_load((Path(__file__).with_name("paper_values.yaml")).read_text())


def value(path: str):
    """One value by dotted path, e.g. ``value("roar_report.base_accuracy_mnist")``."""
    node = values()
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(f"no paper value {path!r} (stopped at {part!r}); see roarkit/core/paper_values.yaml")
        node = node[part]
    return node

"""The results store: every expensive unit of work computed once, keyed by its parameters, its data
and the version of the code that computes it, written atomically and read back on the next run.

* :mod:`.store`: :class:`Store` and its entries, and :func:`usage` (what a page computed or reused);
* :mod:`.codeversion`: the code version of a unit;
* :mod:`.provenance`: where and with what a result was computed (device, versions, commit).
"""
from roarkit.store.codeversion import code_version
from roarkit.store.provenance import environment, git_commit, repo_root
from roarkit.store.store import Entry, Store, usage

__all__ = ["Store", "Entry", "usage", "code_version", "environment", "git_commit", "repo_root"]

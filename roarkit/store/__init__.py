"""The results store: every expensive unit of work computed once, keyed by its parameters, its data
and the version of the code that computes it, written atomically and read back on the next run.

* :mod:`.store`: :class:`Store` and its entries, and :func:`usage` (what a page computed or reused);
* :mod:`.codeversion`: the code version of a unit;
* :mod:`.provenance`: where and with what a result was computed (device, versions, commit);
* :mod:`.executor`: where missing units are computed (in this process, or on Ray), and the
  :class:`Unit` of work that :meth:`Store.map` takes.
"""
from roarkit.store import executor
from roarkit.store.codeversion import code_version
from roarkit.store.executor import Unit, UnitError
from roarkit.store.settings import ExecutorError, Settings
from roarkit.store.provenance import environment, git_commit, repo_root
from roarkit.store.store import Entry, Store, usage

__all__ = ["Store", "Entry", "usage", "Unit", "Settings", "ExecutorError", "UnitError", "executor", "code_version",
           "environment", "git_commit", "repo_root"]

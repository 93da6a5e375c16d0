"""The book machinery: page parameters and provenance (:mod:`.params`, :mod:`.page`), finding pages
and profiles (:mod:`.discover`), executing them (:mod:`.execute`), their status (:mod:`.status`),
building the book (:mod:`.build`), the command line (:mod:`.cli`) and the Sphinx extension
(:mod:`.sphinxext`). Imports the science and the store, never a page's experiment."""

__all__ = ["build", "cli", "discover", "execute", "glued", "page", "params", "sphinxext", "status"]

"""Sphinx extension for the book: two fixes to the Jupyter Book 1.0.4 stack.

* sphinx-thebe 0.3.1 emits its inline configuration script twice on every page, and the second copy
  throws "Identifier 'THEBE_JS_URL' has already been declared": drop the duplicate.
* myst-nb 1.4's cross-document ``{glue}`page.ipynb::key``` has no case for ``text/markdown``, so a
  glued ``Markdown`` object (the landing page's verdicts) would show as
  ``<IPython.core.display.Markdown object>``: render it before myst-nb's own resolver runs.
"""
from docutils import nodes
from sphinx.transforms.post_transforms import SphinxPostTransform

__all__ = ["MarkdownGlue", "setup"]


def _dedupe(app, pagename, templatename, context, doctree):
    seen, kept = set(), []
    for js in context.get("script_files", []):
        # the second copy differs only in filename ('' instead of None)
        key = (getattr(js, "filename", js) or "", repr(sorted(getattr(js, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            kept.append(js)
    context["script_files"] = kept


class MarkdownGlue(SphinxPostTransform):
    """Paste ``text/markdown`` outputs glued in another document, as HTML (CommonMark)."""

    default_priority = 4  # before myst-nb's ReplacePendingGlueReferences (5)
    formats = ("html",)

    def run(self, **kwargs):
        from markdown_it import MarkdownIt
        from myst_nb.ext.glue.crossref import read_glue_cache
        from myst_nb.ext.glue.utils import PendingGlueReference

        md = MarkdownIt("commonmark")
        folder = self.env.mystnb_config.output_folder
        for node in list(self.document.findall(PendingGlueReference)):
            if node.gtype == "text":
                continue
            text = read_glue_cache(folder, node.refdoc).get(node.key, {}).get("data", {}).get("text/markdown")
            if text is None:
                continue
            html = md.renderInline(text) if node.inline else md.render(text)
            node.replace_self(nodes.raw(text, html, format="html"))


def setup(app):
    app.connect("html-page-context", _dedupe, priority=900)
    app.add_post_transform(MarkdownGlue)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

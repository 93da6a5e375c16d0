"""Sphinx extension for the book: drop duplicate inline scripts.

Jupyter Book 1.0.4 with sphinx-thebe 0.3.1 emits sphinx-thebe's inline configuration script twice on
every page, and the second copy throws "Identifier 'THEBE_JS_URL' has already been declared".
"""


def _dedupe(app, pagename, templatename, context, doctree):
    seen, kept = set(), []
    for js in context.get("script_files", []):
        # the second copy differs only in filename ('' instead of None)
        key = (getattr(js, "filename", js) or "", repr(sorted(getattr(js, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            kept.append(js)
    context["script_files"] = kept


def setup(app):
    app.connect("html-page-context", _dedupe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

"""Fixes to what the book's pages load, found by the browser test (tests/test_browser.py).

- sphinx-thebe (which Jupyter Book always loads) adds its inline configuration script to every page
  twice; the second copy redeclares its constants and throws a SyntaxError in every reader's
  console. Identical scripts are kept once.
"""

from __future__ import annotations


def drop_repeated_scripts(app, pagename, templatename, context, doctree):
    """Keep the first of identical script entries (same file, same attributes and inline body).

    An inline script's file is ``None`` or ``""`` depending on when it was added: the same.
    """
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for script in scripts:
        attributes = getattr(script, "attributes", {}) or {}
        filename = str(getattr(script, "filename", script) or "")
        key = (filename, tuple(sorted((k, str(v)) for k, v in attributes.items())))
        if key not in seen:
            seen.add(key)
            kept.append(script)
    scripts[:] = kept


def setup(app):
    app.connect("html-page-context", drop_repeated_scripts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

"""The book's Sphinx extension (``skelnb.sphinx_ext`` in _config.yml): drops duplicated inline <script>s.

Sphinx 7.4 adds inline scripts that extensions register after the builder exists twice (filename None vs
''), and the second ``const THEBE_JS_URL = ...`` of sphinx-thebe is a JavaScript error on every page.
"""
from __future__ import annotations


def setup(app):
    """Sphinx's entry point: deduplicate the scripts of every HTML page."""
    app.connect("html-page-context", _dedupe_scripts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    seen, scripts = set(), []
    for js in context.get("script_files", []):
        key = (js.filename or "", js.priority, tuple(sorted(js.attributes.items())))
        if key not in seen:
            seen.add(key)
            scripts.append(js)
    context["script_files"] = scripts

"""The book's Sphinx extension keeps the first of each duplicated script and connects to every page."""
from types import SimpleNamespace

from skelnb import sphinx_ext


def js(filename, priority=500, **attributes):
    return SimpleNamespace(filename=filename, priority=priority, attributes=attributes)


def test_duplicated_inline_scripts_are_dropped():
    # Sphinx 7.4 registers an inline script twice, once with filename None and once with ''
    thebe = dict(body="const THEBE_JS_URL = 'x'")
    scripts = [js("plotly.min.js"), js(None, **thebe), js("", **thebe), js("plotly.min.js", 200), js("a.js")]
    context = {"script_files": list(scripts)}
    sphinx_ext._dedupe_scripts(None, "page", "page.html", context, None)
    assert context["script_files"] == [scripts[0], scripts[1], scripts[3], scripts[4]]


def test_setup_connects_the_page_hook():
    calls = []
    app = SimpleNamespace(connect=lambda event, fn: calls.append((event, fn)))
    meta = sphinx_ext.setup(app)
    assert calls == [("html-page-context", sphinx_ext._dedupe_scripts)]
    assert meta == {"parallel_read_safe": True, "parallel_write_safe": True}

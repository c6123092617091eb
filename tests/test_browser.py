"""The built book in a real headless Chromium: offline, no JS errors, every plotly figure drawn
and its sliders / menus working, no code cell, code block or output wider than the page's column
(at 1280 px: nothing scrolls sideways); the Colab launch button and badge of every chapter and
every link to the repository point to the one address (_config.yml's repository url and pinned ref).

Needs `make book` (_build/html) and Chromium (Debian: `apt-get install chromium`); skipped
otherwise. Screenshots go to _build/screenshots/<page>.png.
"""
import functools
import http.server
import io
import json
import re
import shutil
import tempfile
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from skelnb import colab

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
CODE_LINE_MAX = 82    # characters of a chapter's code line
BOXED_LINE_MAX = 74   # ... of a code block in an admonition (an exercise's solution)
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    # WebGL (plotly Scatter3d) without a GPU: ANGLE on SwiftShader, the CPU Vulkan/GL renderer.
    "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
]
# Hidden while comparing drawings: the slider's "frame N" label and the buttons change by themselves.
CAPTURE_CSS = """.modebar-container, .hoverlayer {display: none !important}
.skelnb-capture .slider-container, .skelnb-capture .updatemenu-container {visibility: hidden}"""


def chromium_path():
    for p in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if p and Path(p).exists():
            return p
    return None


def book_pages():
    """Every page of the book (not search/genindex, not _static/_sources, not the index redirect)."""
    if not HTML.is_dir():
        return []
    pages = []
    for p in sorted(HTML.rglob("*.html")):
        rel = p.relative_to(HTML)
        if rel.parts[0].startswith("_") or rel.name in ("search.html", "genindex.html"):
            continue
        if 'http-equiv="Refresh"' in p.read_text(errors="replace")[:2000]:
            continue
        pages.append(rel.as_posix())
    return pages


PAGES = book_pages()
# Chapters that are notebooks (from _toc.yml, so a new chapter is covered): page -> notebook path
CHAPTER_PAGES = {nb.relative_to(ROOT).with_suffix(".html").as_posix(): nb.relative_to(ROOT).as_posix()
                 for nb in colab.toc_notebooks(ROOT)}
URL, REF = colab.repo_config(ROOT)
LINKS_JS = """() => [...document.querySelectorAll('a[href]')].map(a => {
  const img = a.querySelector('img[alt="Open in Colab"]');
  const tip = (a.getAttribute('title') || '') + (a.getAttribute('data-bs-original-title') || '');
  return {href: a.href, badge: !!img && !!a.closest('article, main'),
          badgeDrawn: !!img && img.complete && img.naturalWidth > 0,
          launch: !img && (!!a.closest('.dropdown-menu') || tip.includes('Colab'))};
})"""
HREF_JS = re.compile(r'<a[^>]+href="([^"]+)"')


def address_problems(page_path: str, links: list[dict]) -> list[str]:
    """What on a page disagrees with the one address: Colab links not at the repository's ref,
    links to the repository elsewhere; on a chapter, a missing launch button or badge."""
    out, slug = [], URL.split("github.com/")[1]
    nb = CHAPTER_PAGES.get(page_path)
    for link in links:
        h = link["href"]
        if h.startswith(colab.COLAB):
            want = colab.badge_url(nb, URL, REF) if nb else f"{colab.COLAB}/github/{slug}/blob/{REF}/"
            if not (h == want if nb else h.startswith(want)):
                out.append(f"{page_path}: Colab link {h} should be {want}")
        u = urlsplit(h)
        parts = u.path.strip("/").split("/")
        if u.hostname == "github.com" and len(parts) >= 2 and colab._ours("/".join(parts[:2]), URL):
            if "/".join(parts[:2]) != slug:
                out.append(f"{page_path}: {h} is not on {URL}")
            elif len(parts) > 3 and parts[2] in ("blob", "tree") and parts[3] != REF:
                out.append(f"{page_path}: {h} should name the ref {REF}")
    if nb:
        want = colab.badge_url(nb, URL, REF)
        if not any(link["launch"] and link["href"] == want for link in links):
            out.append(f"{page_path}: no Colab launch button to {want}")
        if not any(link["badge"] and link["href"] == want for link in links):
            out.append(f"{page_path}: no Open in Colab badge linking to {want}")
    return out


def test_every_chapter_has_a_page_with_its_colab_links():
    """Without a browser: every notebook chapter of _toc.yml was built and its HTML carries the
    launch button and the badge to the one address."""
    if not PAGES:
        pytest.skip("book not built: run `make book` first")
    missing = sorted(set(CHAPTER_PAGES) - set(PAGES))
    assert not missing, f"chapters of _toc.yml without a page in {HTML}: {missing}"
    for page, nb in CHAPTER_PAGES.items():
        html = (HTML / page).read_text()
        hrefs = [h.replace("&amp;", "&") for h in HREF_JS.findall(html)]
        assert hrefs.count(colab.badge_url(nb, URL, REF)) >= 2, \
            f"{page}: expected the launch button and the badge to link to {colab.badge_url(nb, URL, REF)}"
        assert 'alt="Open in Colab"' in html, f"{page}: no Open in Colab badge"
        assert not address_problems(page, [dict(href=h, launch=True, badge=True) for h in hrefs])


def _code_lines(cell):
    """(line, limit) for the lines of a code cell and those inside the ``` fences of a
    markdown cell; a fence inside a ::: directive (an exercise's Solution box) has a
    narrower column."""
    lines = "".join(cell["source"]).splitlines()
    if cell["cell_type"] == "code":
        return [(line, CODE_LINE_MAX) for line in lines]
    out, fenced, boxes = [], False, 0
    for line in lines:
        s = line.strip()
        if s.startswith("```"):
            fenced = not fenced
        elif fenced:
            out.append((line, BOXED_LINE_MAX if boxes else CODE_LINE_MAX))
        elif s.startswith(":::"):
            boxes += 1 if s.rstrip(":") else -1
    return out


def test_code_lines_fit_the_column():
    """Without a browser: a chapter's code line (code cells, and code blocks of the text such
    as the exercises' solutions) fits the column of a 1280-px-wide window, which holds 83
    characters of the book's 13px code (_static/skelnb.css), 75 inside an admonition.
    Cell 1 is skelnb.colab.install_cell() (tests/test_notebooks.py); test_page measures it."""
    long = [f"{nb.name} cell {k}: {len(line)} > {limit} characters: {line[:60]!r}"
            for nb in colab.toc_notebooks(ROOT)
            for k, cell in enumerate(json.loads(nb.read_text())["cells"]) if k != 1
            for line, limit in _code_lines(cell) if len(line) > limit]
    assert not long, "code lines wider than the column:\n" + "\n".join(long)


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path == "/favicon.ico" and not (HTML / "favicon.ico").exists():
            self.send_response(204)  # the browser asks for it on its own; the book has none
            self.end_headers()
            return
        super().do_GET()


@pytest.fixture(scope="module")
def base_url():
    if not (HTML / "index.html").exists():
        pytest.skip("book not built: run `make book` first (_build/html/index.html missing)")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(HTML)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def context(base_url):
    exe = chromium_path()
    if exe is None:
        pytest.skip("no Chromium (/usr/bin/chromium); `apt-get install chromium` to run the browser test")
    sync_api = pytest.importorskip("playwright.sync_api")
    with tempfile.TemporaryDirectory(prefix="skelnb-chromium-") as profile, sync_api.sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            profile, executable_path=exe, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900}, service_workers="block")
        ctx.external_requests = []

        def route(r):
            if urlsplit(r.request.url).hostname in LOCAL_HOSTS:
                r.continue_()
            else:  # the book must be fully offline: record and refuse
                ctx.external_requests.append(r.request.url)
                r.abort()

        ctx.route("**/*", route)
        yield ctx
        ctx.close()


def test_book_has_plotly_figures():
    """A figure dropped by myst-nb (unknown mime type) would silently vanish: require some."""
    if not PAGES:
        pytest.skip("book not built: run `make book` first")
    n = sum((HTML / p).read_text().count('class="plotly-graph-div"') for p in PAGES)
    assert n > 0, "no plotly figure in the built book"


FIGURES_JS = """() => [...document.querySelectorAll('.plotly-graph-div')].map(gd => {
  const fl = gd._fullLayout || {};
  const norm = c => { const x = document.createElement('canvas').getContext('2d');
                      x.fillStyle = '#000'; x.fillStyle = c; return x.fillStyle; };
  const gl = (gd._fullData || []).filter(t => t.visible === true && t.type === 'scatter3d');
  const colors = gl.flatMap(t => [t.line && t.line.color, t.marker && t.marker.color])
                   .filter(c => typeof c === 'string').map(norm);
  return {
    id: gd.id,
    plotted: !!gd._fullLayout,
    svg: !!gd.querySelector('.main-svg'),
    has3d: !!(fl._has && fl._has('gl3d')),
    canvases: [...gd.querySelectorAll('canvas')].map(c => [c.width, c.height]),
    svgTraces: gd.querySelectorAll('.main-svg g.trace, .main-svg g.hm, .main-svg .imagelayer image').length,
    colors3d: [...new Set(colors)],
    sliders: (fl.sliders || []).map((s, k) => s.visible ? k : -1).filter(k => k >= 0),
    menus: (fl.updatemenus || []).filter(m => m.visible)
      .map(m => ({type: m.type, n: m.buttons.length, active: m.active})),
  };
})"""


# Every point of every scatter trace (the figure as shown, and every animation frame) lies
# inside its axes wherever an axis range is fixed (a 3D scene fitted to the data, a set range):
# a point outside is cut off (a head outside the scene box). Autoranged axes fit by themselves.
INSIDE_JS = """(id) => {
  const gd = document.getElementById(id), L = gd._fullLayout, out = [];
  const T = {f8: Float64Array, f4: Float32Array, i1: Int8Array, u1: Uint8Array, i2: Int16Array,
             u2: Uint16Array, i4: Int32Array, u4: Uint32Array};
  const decode = v => {                       // plotly's base64 arrays ({dtype, bdata}) in frames
    if (!v || v.bdata === undefined || !T[v.dtype]) return v;
    const bin = atob(v.bdata), u8 = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) u8[i] = bin.charCodeAt(i);
    return new T[v.dtype](u8.buffer);
  };
  const extent = v => {
    let lo = Infinity, hi = -Infinity;
    const walk = a => {
      a = decode(a);
      if (a == null || typeof a === "string") return;
      if (typeof a === "number") { if (isFinite(a)) { lo = Math.min(lo, a); hi = Math.max(hi, a); } return; }
      if (a.length !== undefined) for (const e of a) walk(e);
    };
    walk(v);
    return [lo, hi];
  };
  const axesOf = t => {
    if (t.type === "scatter3d") {
      const s = L[t.scene || "scene"];
      return s ? {x: s.xaxis, y: s.yaxis, z: s.zaxis} : {};
    }
    return {x: L["xaxis" + (t.xaxis || "x").slice(1)], y: L["yaxis" + (t.yaxis || "y").slice(1)]};
  };
  const check = (t, d, where) => {
    if (!t || !d || d.visible === false || !["scatter", "scatter3d", "scattergl"].includes(t.type)) return;
    const axes = axesOf(t);
    for (const k of ["x", "y", "z"]) {
      const ax = axes[k];
      if (!ax || ax.autorange || ax.type !== "linear" || !ax.range || d[k] === undefined) continue;
      let [lo, hi] = ax.range.map(Number);
      if (lo > hi) [lo, hi] = [hi, lo];
      const tol = (hi - lo) * 0.002, [a, b] = extent(d[k]);
      if (a < lo - tol || b > hi + tol)
        out.push(`${where}, trace ${JSON.stringify(t.name || t.index)}: ${k} from ${a.toPrecision(4)} ` +
                 `to ${b.toPrecision(4)}, outside the ${k} axis [${lo.toPrecision(4)}, ${hi.toPrecision(4)}]`);
    }
  };
  gd._fullData.forEach((t, i) => check(t, t, "as shown"));
  for (const f of (gd._transitionData && gd._transitionData._frames) || [])
    (f.data || []).forEach((d, j) => check(gd._fullData[f.traces ? f.traces[j] : j], d, `frame ${f.name}`));
  return out;
}"""

# Blocks that must fit the page's column at 1280 px, dropdowns opened (code lines:
# test_code_lines_fit_the_column; printed output wraps, _static/skelnb.css). scrollWidth >
# clientWidth: the block scrolls sideways, or its content spills out of it.
WIDE_JS = """() => {
  // open the dropdowns (exercise hints and solutions) while measuring, close them after
  const hidden = [...document.querySelectorAll(".toggle-hidden")];
  const closed = [...document.querySelectorAll("details:not([open])")];
  hidden.forEach(e => e.classList.remove("toggle-hidden"));
  closed.forEach(d => { d.open = true; });
  const kinds = [["code cell", "div.cell_input pre"],
                 ["output", "div.cell_output pre, div.cell_output .output, div.cell_output"],
                 ["code block", "div.highlight pre"]];   // a code block of the text
  const seen = new Set(), out = [];
  for (const [kind, sel] of kinds) {
    for (const el of document.querySelectorAll(sel.split(",").map(s => `article ${s}`).join())) {
      if (seen.has(el)) continue;
      seen.add(el);
      if (el.scrollWidth <= el.clientWidth + 1) continue;
      const lines = (el.innerText || el.textContent || "").split("\\n");
      const widest = lines.reduce((a, b) => (b.length > a.length ? b : a), "");
      out.push({kind, scroll: el.scrollWidth, client: el.clientWidth,
                start: lines.join(" ").trim().slice(0, 40), widest: widest.trim().slice(0, 60)});
    }
  }
  const doc = document.documentElement;
  if (doc.scrollWidth > window.innerWidth + 1)
    out.push({kind: "page", scroll: doc.scrollWidth, client: window.innerWidth, start: "", widest: ""});
  hidden.forEach(e => e.classList.add("toggle-hidden"));
  closed.forEach(d => { d.open = false; });
  return out;
}"""


def _image(png):
    from PIL import Image
    return Image.open(io.BytesIO(png)).convert("RGB")


def _changed_pixels(a, b):
    from PIL import ImageChops
    diff = ImageChops.difference(_image(a), _image(b)).convert("L")
    return sum(diff.point(lambda v: 255 if v > 30 else 0).histogram()[255:])


def _pixels_near(png, hex_colors, tol=40):
    """How many pixels are within `tol` of one of the colors (#rrggbb): drawn trace pixels."""
    img = _image(png)
    targets = [tuple(int(c[i:i + 2], 16) for i in (1, 3, 5)) for c in hex_colors if c.startswith("#")]
    return sum(n for n, px in img.getcolors(img.width * img.height)
               if any(max(abs(p - q) for p, q in zip(px, t)) <= tol for t in targets))


def _capture(page, gd):
    """Screenshot of the figure's drawing (controls hidden, mouse out of the way)."""
    page.mouse.move(1, 1)
    page.wait_for_timeout(150)
    gd.evaluate("el => el.classList.add('skelnb-capture')")
    png = gd.screenshot(animations="disabled")
    gd.evaluate("el => el.classList.remove('skelnb-capture')")
    return png


def _settle(page, ms=400):
    page.mouse.move(1, 1)
    page.wait_for_timeout(ms)


@pytest.mark.parametrize("page_path", PAGES or [None])
def test_page(context, base_url, page_path):
    if page_path is None:
        pytest.skip("book not built: run `make book` first")
    page = context.new_page()
    errors, http_errors, interacting = [], [], []

    def on_pageerror(e):
        # Pausing a playing animation rejects the pending Plotly.animate promise with no reason,
        # and plotly.js's own buttons don't catch it: expected while we click, never on load.
        if not (interacting and str(e) == "undefined"):
            errors.append(f"pageerror: {e}")

    page.on("pageerror", on_pageerror)
    page.on("console", lambda m: m.type == "error" and errors.append(f"console: {m.text} @ {m.location.get('url')}"))
    page.on("response", lambda r: r.status >= 400 and http_errors.append(f"{r.status} {r.url}"))
    n_external = len(context.external_requests)

    page.goto(base_url + page_path, wait_until="load")
    page.add_style_tag(content=CAPTURE_CSS)
    try:  # every figure plotted (a figure whose script failed never gets _fullLayout)
        page.wait_for_function("() => [...document.querySelectorAll('.plotly-graph-div')]"
                               ".every(gd => gd._fullLayout && gd.querySelector('.main-svg'))", timeout=20_000)
    except Exception:
        pass  # reported figure by figure below
    page.evaluate("async () => { if (window.MathJax && MathJax.startup && MathJax.startup.promise)"
                  " await MathJax.startup.promise; }")
    page.wait_for_timeout(300)
    links = page.evaluate(LINKS_JS)
    problems = address_problems(page_path, links)
    problems += [f"{page_path}: the Colab badge image did not load" for link in links
                 if link["badge"] and not link["badgeDrawn"]]
    assert not problems, "\n".join(problems)
    wide = page.evaluate(WIDE_JS)   # nothing scrolls sideways
    assert not wide, f"{page_path}: wider than the column (scrollWidth > clientWidth):\n" + "\n".join(
        f"  {w['kind']} {w['start']!r}: {w['scroll']} > {w['client']} px, widest line {w['widest']!r}"
        for w in wide)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / (page_path[:-len(".html")].replace("/", "_") + ".png"), full_page=True)

    figures = page.evaluate(FIGURES_JS)
    interacting.append(True)
    for fig in figures:
        where = f"{page_path} #{fig['id']}"
        gd = page.locator(f'[id="{fig["id"]}"]')
        gd.scroll_into_view_if_needed()
        assert fig["plotted"] and fig["svg"], f"{where}: figure not drawn (Plotly.newPlot failed?)"
        if fig["has3d"]:
            assert any(w > 0 and h > 0 for w, h in fig["canvases"]), f"{where}: no WebGL canvas"
            if fig["colors3d"]:
                assert _pixels_near(_capture(page, gd), fig["colors3d"]) > 50, f"{where}: 3D traces not drawn"
        else:
            assert fig["svgTraces"] > 0, f"{where}: no trace drawn"
        outside = page.evaluate(INSIDE_JS, fig["id"])
        assert not outside, f"{where}: traces outside the axes (cut off):\n  " + "\n  ".join(outside[:8])

        for i, menu in enumerate(fig["menus"]):  # click every other item; one must change the drawing
            group = gd.locator(".updatemenu-container .updatemenu-header-group").nth(i)
            before, changed = _capture(page, gd), 0
            for j in range(menu["n"]):
                if menu["type"] == "dropdown":
                    if j == menu["active"]:
                        continue
                    group.locator(".updatemenu-header").click()
                    gd.locator(".updatemenu-dropdown-button-group "
                               "g:is(.updatemenu-dropdown-button, .updatemenu-button)").nth(j).click()
                else:
                    group.locator(".updatemenu-button").nth(j).click()
                _settle(page)
                after = _capture(page, gd)
                changed = max(changed, _changed_pixels(before, after))
                before = after
            assert changed > 100, f"{where}: updatemenu {i} ({menu['type']}) changed nothing"

        for i, k in enumerate(fig["sliders"]):  # click the rail near the end farther from the grip
            active, n = gd.evaluate(f"el => [el._fullLayout.sliders[{k}].active, "
                                    f"el._fullLayout.sliders[{k}].steps.length]")
            x = 0.1 if active > (n - 1) / 2 else 0.9
            before = _capture(page, gd)
            rail = gd.locator(".slider-container .slider-group").nth(i).locator(".slider-rail-touch-rect")
            rail.scroll_into_view_if_needed()
            box = rail.bounding_box()
            page.mouse.click(box["x"] + x * box["width"], box["y"] + box["height"] / 2)
            try:
                page.wait_for_function(f"([id, a]) => "
                                       f"document.getElementById(id)._fullLayout.sliders[{k}].active !== a",
                                       arg=[fig["id"], active], timeout=5_000)
            except Exception:
                pytest.fail(f"{where}: clicking slider {i} did not move it (still at step {active})")
            _settle(page)
            assert _changed_pixels(before, _capture(page, gd)) > 100, f"{where}: slider {i} changed nothing"

    page.close()
    external = context.external_requests[n_external:]
    assert not external, f"{page_path}: requests outside the book (not offline): {external}"
    assert not http_errors, f"{page_path}: failed requests: {http_errors}"
    assert not errors, f"{page_path}: JavaScript errors: {errors}"

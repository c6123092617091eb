"""skelnb.viz without a browser: renderers, plotly.js install, skeleton_animation."""
import os
import re
import subprocess
import sys
import types

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import pytest

from skelnb import viz
from skelnb.data.layouts import NTU25

PLOTLYJS_HEADER = "* plotly.js v"   # first lines of plotly.min.js


@pytest.fixture(autouse=True)
def _restore_renderer():
    """Each test may switch context; put the default renderer and session state back."""
    default, session = pio.renderers.default, dict(viz._session, ids=viz._session["ids"].copy())
    yield
    pio.renderers.default = default
    viz._session.clear()
    viz._session.update(session)


@pytest.fixture
def fresh_session():
    viz._session["plotlyjs_sent"] = False
    viz._session["ids"].clear()


def small_fig(k=0):
    return go.Figure(go.Scatter(x=[0, 1, 2], y=[k, 1, 0]))


def script_srcs(html):
    return re.findall(r"<script[^>]*\bsrc=", html)


def test_import_sets_default_renderer():
    assert pio.renderers.default in (viz.BOOK_RENDERER, viz.LIVE_RENDERER, "colab")


def test_book_renderer_has_no_plotlyjs_and_no_cdn(monkeypatch, fresh_session):
    monkeypatch.setenv("SKELNB_PLOTLY", "book")
    assert viz.is_book_build() and not viz.live_widgets_available()
    assert viz.setup() == viz.BOOK_RENDERER == pio.renderers.default
    for _ in range(2):                       # never inlines plotly.js, not even the first time
        bundle = small_fig()._repr_mimebundle_()
        assert set(bundle) == {"text/html"}
        html = bundle["text/html"]
        assert "Plotly.newPlot" in html and 'class="plotly-graph-div"' in html
        assert PLOTLYJS_HEADER not in html and len(html) < 20_000
        assert "cdn.plot.ly" not in html and "https://" not in html and not script_srcs(html)
        assert "MathJax" not in html          # plotly's HtmlRenderer would add a MathJax CDN script


def test_book_div_ids_are_deterministic_and_unique(monkeypatch, fresh_session):
    monkeypatch.setenv("SKELNB_PLOTLY", "book")
    viz.setup()
    ids = lambda: [re.search(r'id="(skelnb-[^"]+)"', small_fig(k)._repr_mimebundle_()["text/html"])[1]
                   for k in (0, 1, 0)]
    first = ids()
    assert first[0] != first[1] and first[2] == first[0] + "-1"   # same figure twice: still unique
    viz._session["ids"].clear()                                   # a new kernel: same ids again
    assert ids() == first


def test_live_renderer_inlines_plotlyjs_once(monkeypatch, fresh_session):
    monkeypatch.delenv("SKELNB_PLOTLY", raising=False)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.delenv("COLAB_NOTEBOOK_ID", raising=False)
    assert viz.setup() == viz.LIVE_RENDERER == pio.renderers.default
    assert viz.live_widgets_available()
    htmls = [small_fig(k)._repr_mimebundle_()["text/html"] for k in range(3)]
    assert [h.count(PLOTLYJS_HEADER) for h in htmls] == [1, 0, 0]
    js = viz.plotlyjs_path().read_text()
    assert htmls[0].count(js) == 1                               # the installed plotly.js, verbatim
    for h in (h.replace(js, "") for h in htmls):
        assert "Plotly.newPlot" in h and not script_srcs(h) and "https://" not in h


def test_colab_uses_plotly_colab_renderer(monkeypatch):
    monkeypatch.delenv("SKELNB_PLOTLY", raising=False)
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    assert viz.setup() == "colab" == pio.renderers.default


def test_show_goes_through_the_default_renderer(monkeypatch, fresh_session):
    monkeypatch.setenv("SKELNB_PLOTLY", "book")
    viz.setup()
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj, raw=False: shown.append(obj))
    viz.show(small_fig())
    assert len(shown) == 1 and "Plotly.newPlot" in shown[0]["text/html"]


def test_install_static_copies_plotlyjs(tmp_path):
    dest = viz.install_static(tmp_path / "_static")
    assert dest == tmp_path / "_static" / "plotly.min.js"
    assert dest.read_bytes() == viz.plotlyjs_path().read_bytes()
    assert PLOTLYJS_HEADER in dest.read_text()[:200]
    os.utime(dest, (1, 1))
    viz.install_static(tmp_path / "_static")             # identical: not copied again
    assert dest.stat().st_mtime == 1


def test_install_static_cli(tmp_path):
    subprocess.run([sys.executable, "-m", "skelnb.viz", "--install-static", str(tmp_path)], check=True,
                   capture_output=True)
    assert (tmp_path / "plotly.min.js").read_bytes() == viz.plotlyjs_path().read_bytes()


def synthetic_seq(T=10, M=3, seed=0):
    """Person 0 in frames 0-7, person 1 in frames 2-7, person 2 never, frames 8-9 padding."""
    rng = np.random.default_rng(seed)
    seq = np.zeros((3, T, NTU25.num_joints, M))
    seq[:, :8, :, 0] = rng.normal(size=(3, 8, NTU25.num_joints))
    seq[:, 2:8, :, 1] = rng.normal(size=(3, 6, NTU25.num_joints)) + 3
    return seq


def test_skeleton_animation_frames_and_slider():
    seq = synthetic_seq()
    fig = viz.skeleton_animation(seq, NTU25, title="t", frame_step=2)
    names = [f.name for f in fig.frames]
    assert names == ["0", "2", "4", "6"]                       # stepped, padding frames skipped
    steps = fig.layout.sliders[0].steps
    assert [s.label for s in steps] == names and [s.args[0][0] for s in steps] == names
    assert {b.label.split()[-1] for b in fig.layout.updatemenus[0].buttons} == {"play", "pause"}
    # 2 persons (the all-zero one is skipped) x (bones, joints); the same traces in every frame
    assert len(fig.data) == 4 and all(len(f.data) == 4 for f in fig.frames)
    assert all(isinstance(t, go.Scatter3d) for t in fig.data)
    assert fig.data[0].mode == "lines" and fig.data[1].mode == "markers"
    assert list(fig.data[1].text) == list(NTU25.joints)
    assert len(fig.data[0].x) == 3 * len(NTU25.bones)            # (child, parent, None) per bone
    assert len(fig.data[2].x) == 0 and len(fig.frames[1].data[2].x) == 3 * len(NTU25.bones)
    assert fig.layout.scene.camera.up.to_plotly_json() == dict(x=0, y=1, z=0)
    assert fig.layout.scene.aspectmode == "manual" and max(fig.layout.scene.aspectratio.to_plotly_json().values()) == 1


def test_skeleton_animation_ranges_cover_all_joints():
    seq = synthetic_seq()
    fig = viz.skeleton_animation(seq, NTU25)
    assert len(fig.frames) == 8
    pts = seq[:, :8].transpose(0, 1, 3, 2).reshape(3, -1)
    pts = pts[:, np.abs(pts).sum(0) > 0]
    for axis, c in zip("xyz", pts):
        lo, hi = fig.layout.scene[f"{axis}axis"].range
        assert lo < c.min() and c.max() < hi
    # every drawn coordinate (all frames) lies inside the fixed ranges
    for f in fig.frames:
        for t in f.data:
            for axis in "xyz":
                v = np.array([u for u in t[axis] if u is not None], float)
                lo, hi = fig.layout.scene[f"{axis}axis"].range
                assert v.size == 0 or (lo <= v.min() and v.max() <= hi)


def test_skeleton_animation_rejects_empty_and_wrong_shape():
    with pytest.raises(ValueError):
        viz.skeleton_animation(np.zeros((3, 4, 25, 2)), NTU25)
    with pytest.raises(AssertionError):
        viz.skeleton_animation(np.ones((3, 4, 20, 1)), NTU25)


def test_skeleton_traces_by_body_part_and_the_centre_joint():
    from skelnb.viz import PART_COLORS, fitted_scene, present_joints, skeleton_traces

    P = np.random.default_rng(0).normal(size=(3, 25))
    P[:, 1] = 0                                                  # centred on the middle of the spine: drawn
    assert present_joints(P).all()
    cam = P + np.array([[0.1], [0.2], [3.0]])                    # camera coordinates: origin outside the body
    cam[:, 7] = 0                                                # a lone zero joint there is a dropped one
    assert present_joints(cam).sum() == 24 and not present_joints(cam)[7]
    P[:, 7] = 0                                                  # a second zero joint: both are dropped
    assert present_joints(P).sum() == 23
    traces = skeleton_traces(P, NTU25)
    assert [t.name for t in traces] == list(NTU25.parts) + ["joints"]
    part = NTU25.part_of()
    for k, t in enumerate(traces[:-1]):
        assert t.line.color == PART_COLORS[k]
        bones = [(c, p) for c, p in NTU25.bones if part[c] == k and c not in (1, 7) and p not in (1, 7)]
        assert len(t.x) == 3 * len(bones)                        # one segment + None per bone of the part
    assert list(traces[-1].marker.color) == [PART_COLORS[k] for k in part]
    given = skeleton_traces(P, NTU25, present=np.arange(25) != 3)    # an explicit mask wins
    assert sum(len(t.x) for t in given[:-1]) == 3 * (len(NTU25.bones) - 1)  # the head, a leaf: one bone
    scene = fitted_scene(np.array([[1.0, 2.0], [1.0, 3.0], [1.0, 1.5]]), pad=0.0)
    assert scene["aspectratio"] == {"x": 0.5, "y": 1.0, "z": 0.25}  # the body's proportions kept

"""skelnb.diagrams: the traced shapes are the shapes the modules produce, and every diagram is valid,
readable SVG (labels inside their boxes, nothing outside the view box, at most 760 px wide)."""
import xml.etree.ElementTree as ET

import pytest
import torch

from skelnb import diagrams
from skelnb.diagrams import CHAR, WIDTH, Sparse, fmt, trace_shapes, traced
from skelnb.sem import MSTFF, SEMNet
from skelnb.spa import SPANet

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def sem():
    torch.manual_seed(0)
    return SEMNet.quick(num_classes=5, width=8, depth=3, num_frames=8)


@pytest.fixture(scope="module")
def x():
    return torch.randn(2, 3, 8, 25, 2, generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="module")
def spa():
    torch.manual_seed(0)
    return {kind: SPANet.quick(kind, num_classes=5, space=8, widths=(8, 16), num_frames=8, backend="reference")
            for kind in ("3+1d", "4d")}


# ============================================================================ tracing
def test_traced_shapes_are_those_of_a_direct_forward(sem, x):
    tr = trace_shapes(sem, x)
    with torch.no_grad():
        sem.eval()
        h = sem.stem(x.permute(0, 4, 1, 2, 3).reshape(4, 3, 8, 25))           # (N*M, C_0, T, V)
        assert traced(tr, "stem").input == ((4, 3, 8, 25),)
        assert traced(tr, "stem").output == tuple(h.shape)
        for i, blk in enumerate(sem.blocks):
            assert traced(tr, f"blocks.{i}").input == (tuple(h.shape),)
            y = blk.att(h)
            assert traced(tr, f"blocks.{i}.att").output == tuple(y.shape)
            h = blk(h)
            assert traced(tr, f"blocks.{i}").output == tuple(h.shape)
        assert traced(tr, "fc").input == (tuple(sem.features(x).shape),)
        assert traced(tr, "").output == tuple(sem(x).shape) == (2, 5)
    assert h.shape[2] == 4                                     # the stride-2 block halves T: shapes really change


def test_traced_mstff_branches(x):
    m = MSTFF(8, 8, kernels=(3, 3), dilations=(1, 3), stride=2)
    inp = torch.randn(2, 8, 9, 25)
    tr = trace_shapes(m, inp)
    with torch.no_grad():
        m.eval()
        parts = m.split(inp).split(m.branch_channels, dim=1)
        for i, (conv, p) in enumerate(zip(m.branches, parts)):
            assert traced(tr, f"branches.{i}").input == (tuple(p.shape),)
            assert traced(tr, f"branches.{i}").output == tuple(conv(p).shape) == (2, 4, 5, 25)
    words = texts(check_svg(diagrams.mstff(m, inp).svg()))
    assert "(2, 8, 9, 25)" in words and "(2, 8, 5, 25)" in words and "(2, 4, 5, 25)" in words


def test_traced_sparse_shapes_are_the_activations(spa, x):
    model = spa["3+1d"]
    tr = trace_shapes(model, x)
    acts = model.activations(x)
    for i, a in enumerate(acts):
        assert traced(tr, f"stages.{i}").output == Sparse(a.num_active, a.num_channels, tuple(a.spatial_shape))
    assert traced(tr, "stem").input[0].channels == 25 and traced(tr, "stem").input[0].grid == (8, 8, 8, 8)
    assert fmt(traced(tr, "stages.1").output) == f"({acts[1].num_active}, 16)"


def test_tracing_leaves_the_model_as_it_was(sem, x):
    sem.train()
    before = {k: v.clone() for k, v in sem.state_dict().items()}
    trace_shapes(sem, x)
    assert sem.training
    assert all(torch.equal(before[k], v) for k, v in sem.state_dict().items())   # BN statistics untouched
    sem.eval()


# ============================================================================ the SVG
def _text_box(el):
    """Estimated (x0, y0, x1, y1) of a <text>: CHAR * size per character, ascent 0.8, descent 0.2."""
    size, x, y = float(el.get("font-size")), float(el.get("x")), float(el.get("y"))
    w = CHAR * size * len(el.text or "")
    x0 = {"start": x, "middle": x - w / 2, "end": x - w}[el.get("text-anchor", "start")]
    return x0, y - 0.8 * size, x0 + w, y + 0.2 * size


def _shape_box(el):
    if el.tag == SVG + "rect":
        x, y = float(el.get("x")), float(el.get("y"))
        return x, y, x + float(el.get("width")), y + float(el.get("height"))
    cx, cy, r = (float(el.get(k)) for k in ("cx", "cy", "r"))
    return cx - r, cy - r, cx + r, cy + r


def _inside(a, b, tol=0.5):
    return a[0] >= b[0] - tol and a[1] >= b[1] - tol and a[2] <= b[2] + tol and a[3] <= b[3] + tol


def _overlap(a, b):
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def check_svg(svg: str):
    root = ET.fromstring(svg)                                  # parses as XML
    w, h = float(root.get("width")), float(root.get("height"))
    assert w <= WIDTH and root.get("viewBox") == f"0 0 {root.get('width')} {root.get('height')}"
    view = (0, 0, w, h)
    shapes, free = [], []
    for g in root.iter(SVG + "g"):                             # a box: its labels lie inside its rect/circle
        (outline,) = [e for e in g if e.tag in (SVG + "rect", SVG + "circle")]
        ob = _shape_box(outline)
        shapes.append(ob)
        for t in g.iter(SVG + "text"):
            assert _inside(_text_box(t), ob), f"label {t.text!r} does not fit its box {ob}"
    boxed = {id(t) for g in root.iter(SVG + "g") for t in g.iter(SVG + "text")}
    for t in root.iter(SVG + "text"):
        assert float(t.get("font-size")) >= 12
        tb = _text_box(t)
        assert _inside(tb, view), f"text {t.text!r} outside the view box"
        if id(t) not in boxed:
            free.append((t.text, tb))
    for text, tb in free:                                      # free text (shapes, notes) covers no box
        for ob in shapes:
            assert not _overlap(tb, ob), f"text {text!r} overlaps a box {ob}"
    for i, (a, ta) in enumerate(free):
        for b, tb in free[i + 1:]:
            assert not _overlap(ta, tb), f"texts {a!r} and {b!r} overlap"
    for el in root.iter():
        if el.tag in (SVG + "polyline", SVG + "polygon"):
            for pt in el.get("points").split():
                px, py = (float(v) for v in pt.split(","))
                assert 0 <= px <= w and 0 <= py <= h, f"{el.tag} point {pt} outside the view box"
        elif el.tag in (SVG + "rect", SVG + "circle"):
            assert _inside(_shape_box(el), view)
    return root


def texts(root):
    return [t.text for t in root.iter(SVG + "text")]


def test_pipeline(sem, spa, x):
    bone = SEMNet.quick(num_classes=5, width=8, depth=3, num_frames=8, stream="bone")
    d = diagrams.pipeline(sem, bone, spa["4d"], x)
    root = check_svg(d._repr_svg_())
    words = texts(root)
    assert any("Fig. 2" in s for s in words)
    assert fmt(sem(x).shape) in words and fmt(sem.features(x).shape) in words
    st = spa["4d"].voxelize(x)
    assert fmt((st.num_active, 25)) in words                   # the voxelised input's (P, C)


@pytest.mark.parametrize("block", [0, 1])
def test_sem_figures(sem, x, block):
    tr = trace_shapes(sem, x)
    for fig, name in ((diagrams.gr_cfsa, "Fig. 3"), (diagrams.mstff, "Fig. 4"), (diagrams.sem_block, "Fig. 5")):
        words = texts(check_svg(fig(sem, x, block=block).svg()))
        assert any(name in s for s in words)
        assert fmt(traced(tr, f"blocks.{block}").input[0]) in words
        if fig is not diagrams.gr_cfsa:
            assert fmt(traced(tr, f"blocks.{block}").output) in words
    att_words = texts(check_svg(diagrams.gr_cfsa(sem, x, block=block).svg()))
    assert fmt(sem.blocks[block].att.alpha_hat.shape) in att_words


def test_spa_figure(spa, x):
    for kind, model in spa.items():
        words = texts(check_svg(diagrams.spa_net(model, x).svg()))
        assert any("Fig. 6" in s for s in words)
        for a in model.activations(x):
            assert fmt((a.num_active, a.num_channels)) in words


def test_a_single_block_or_layer(sem, x):
    h = torch.randn(4, 8, 8, 25)
    blk = sem.blocks[2]                                        # 8 -> 16 channels: residual projections
    words = texts(check_svg(diagrams.sem_block(blk, h).svg()))
    assert "(4, 8, 8, 25)" in words and "(4, 16, 8, 25)" in words and "1×1 conv, BN" in words
    words = texts(check_svg(diagrams.gr_cfsa(blk.att, h).svg()))
    assert "(4, 2, 25, 25)" in words                            # the (N, S, V, V) weights
    with pytest.raises(ValueError, match="give the input"):
        diagrams.sem_block(blk)


def test_a_notebook_displays_the_svg(sem, x):
    d = diagrams.sem_block(sem, x)
    assert d._repr_svg_().startswith("<svg") and d._repr_html_() == d._repr_svg_()
    with pytest.raises(ValueError, match="cross-frame"):
        diagrams.gr_cfsa(SEMNet.quick(num_classes=5, width=8, depth=2, num_frames=8, attention="single-frame"), x)

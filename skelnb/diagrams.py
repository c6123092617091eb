"""The paper's block diagrams (Fig. 2-6), drawn as SVG from the package's own modules.

Every tensor shape written in a diagram is traced: the module runs once on a small input
(``trace_shapes``: forward hooks on its sub-modules, plus the layer's own ``embed`` /
``weights`` / ``aggregate`` for the inside of GR-CFSA), so a diagram cannot disagree with the
code. Shapes follow the package's names (STYLE.md): N batch, C channels, T frames, V joints (the
paper's N), M persons; sparse tensors are (P, C): P active sites. No dependency beyond the
standard library: :class:`Diagram` builds the SVG as a string and displays inline in a notebook
(``_repr_svg_``, and ``_repr_html_`` so the static book embeds the SVG in the page).

Drawn in book/04_global_regularization.ipynb (Fig. 3), book/05_mstff.ipynb (Fig. 4),
book/06_semnet.ipynb (Fig. 5), book/11_spanet.ipynb (Fig. 6) and book/13_fusion.ipynb (Fig. 2).
"""
from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape

import torch
import torch.nn as nn

from .sem.attention import GRCFSA
from .sem.mstff import MSTFF, receptive_field
from .sem.net import SEMBlock, SEMNet
from .spa.net import SPABlock, SPANet
from .spa.sparse import SparseMaxPool, SparseTensor

WIDTH = 760                       # the book's text column, px
CHAR = 0.6                        # estimated text width per character, in units of the font size
FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"
MONO = "DejaVu Sans Mono, Menlo, Consolas, monospace"
SYMBOLS = "N batch, C channels, T frames, V joints (the paper's N), M persons, P active sites, K classes."
STYLES = {                        # box kind -> (fill, stroke)
    "op": ("#f3f4f6", "#4b5563"),
    "param": ("#dbeafe", "#1d4ed8"),       # learnable parameters: blue, as the paper's Fig. 3
    "data": ("#fef3c7", "#b45309"),
    "out": ("#dcfce7", "#15803d"),
}


# ============================================================================ tracing
@dataclass(frozen=True)
class Sparse:
    """The shape of a SparseTensor: P active sites x C channels on a grid (batch_size x spatial_shape)."""
    sites: int
    channels: int
    grid: tuple

    def __iter__(self):                     # indexes and unpacks like the (P, C) feature matrix
        return iter((self.sites, self.channels))

    def __getitem__(self, i):
        return (self.sites, self.channels)[i]


def shape_of(obj):
    """A tensor's shape as a tuple, a SparseTensor's as :class:`Sparse`, a sequence's element-wise."""
    if isinstance(obj, SparseTensor):
        return Sparse(obj.num_active, obj.num_channels, tuple(obj.spatial_shape))
    if torch.is_tensor(obj):
        return tuple(obj.shape)
    if isinstance(obj, (tuple, list)):
        return tuple(shape_of(o) for o in obj)
    return None


@dataclass(frozen=True)
class Traced:
    name: str                  # the sub-module's name in ``module.named_modules()`` ("" for the module)
    input: tuple               # shapes of its positional inputs
    output: object             # shape of its output


@torch.no_grad()
def trace_shapes(module: nn.Module, *inputs) -> list[Traced]:
    """Run ``module(*inputs)`` once in eval mode (no gradient, BN statistics untouched) with a forward
    hook on every sub-module; returns one :class:`Traced` per call, in call order."""
    records: list[Traced] = []
    hooks = [m.register_forward_hook(lambda mod, inp, out, name=name: records.append(
        Traced(name, shape_of(inp), shape_of(out)))) for name, m in module.named_modules()]
    was = module.training
    module.eval()
    try:
        module(*inputs)
    finally:
        module.train(was)
        for h in hooks:
            h.remove()
    return records


def traced(records: list[Traced], name: str) -> Traced:
    """The first call of the sub-module ``name``."""
    for r in records:
        if r.name == name:
            return r
    raise KeyError(f"trace_shapes: no call of a sub-module named {name!r}")


def fmt(shape) -> str:
    """(8, 24, 32, 25) -> '(8, 24, 32, 25)'; a sparse shape -> '(P, C)' numbers."""
    shape = tuple(int(s) for s in shape)
    return f"({shape[0]},)" if len(shape) == 1 else "(" + ", ".join(map(str, shape)) + ")"


def sample_input(model: nn.Module, batch: int = 2, persons: int = 2, seed: int = 0) -> torch.Tensor:
    """A seeded random batch (N, 3, T, V, M) at the model's frames and joints (for shapes only)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 3, model.num_frames, model.layout.num_joints, persons, generator=g)


# ============================================================================ SVG building
@dataclass
class Box:
    x: float
    y: float
    w: float
    h: float

    @property
    def cx(self):
        return self.x + self.w / 2

    @property
    def cy(self):
        return self.y + self.h / 2

    @property
    def bottom(self):
        return self.y + self.h

    @property
    def right(self):
        return self.x + self.w


class Diagram:
    """A small SVG canvas: boxes with centred labels, arrows with shape labels, free text.

    Text width is estimated as ``CHAR * size * len(text)`` (exact for the monospaced shape labels);
    the height is that of the content. ``_repr_svg_`` / ``_repr_html_`` display it in a notebook."""

    def __init__(self, title: str, caption: str, width: int = WIDTH):
        self.width, self.title, self.caption = width, title, caption
        self.parts: list[str] = []
        self.bottom = 0.0
        self.text(12, 22, title, size=15, anchor="start", weight="bold")

    # ------------------------------------------------------------------ primitives
    def text(self, x, y, s, size=12, anchor="middle", mono=False, color="#111827", weight="normal",
             italic=False) -> str:
        el = (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
              f'font-family="{MONO if mono else FONT}" fill="{color}"'
              + (f' font-weight="{weight}"' if weight != "normal" else "")
              + (' font-style="italic"' if italic else "") + f'>{escape(s)}</text>')
        self.parts.append(el)
        self.bottom = max(self.bottom, y + 0.25 * size)
        return el

    @staticmethod
    def text_width(s: str, size: float) -> float:
        return CHAR * size * len(s)

    def box(self, cx, y, lines, kind="op", w=None, size=13, pad=12) -> Box:
        """A rounded box centred at ``cx`` from ``y`` down; first line ``size`` px, the others 12 px."""
        sizes = [size] + [12] * (len(lines) - 1)
        need = max(self.text_width(s, z) for s, z in zip(lines, sizes)) + 2 * pad
        w = max(w or 0, need)
        h = 10 + sum(1.3 * z for z in sizes) + 2
        b = Box(cx - w / 2, y, w, h)
        fill, stroke = STYLES[kind]
        self.parts.append(f'<g class="box"><rect x="{b.x:.1f}" y="{b.y:.1f}" width="{b.w:.1f}" '
                          f'height="{b.h:.1f}" rx="6" fill="{fill}" stroke="{stroke}" stroke-width="1.3"/>')
        ty = y + 6
        for i, (s, z) in enumerate(zip(lines, sizes)):
            ty += 1.3 * z
            self.text(cx, ty - 0.35 * z, s, size=z, color="#111827" if i == 0 else "#374151",
                      weight="bold" if i == 0 else "normal")
        self.parts.append("</g>")
        self.bottom = max(self.bottom, b.bottom)
        return b

    def circle(self, cx, cy, s="+", r=11) -> Box:
        self.parts.append(f'<g class="box"><circle cx="{cx:.1f}" cy="{cy:.1f}" r="{r}" fill="#fff" '
                          f'stroke="#4b5563" stroke-width="1.3"/>')
        self.text(cx, cy + 5, s, size=15, weight="bold")
        self.parts.append("</g>")
        self.bottom = max(self.bottom, cy + r)
        return Box(cx - r, cy - r, 2 * r, 2 * r)

    def arrow(self, points, label=None, side="right", dashed=False, head=True):
        """A polyline through ``points`` with an arrowhead at the end; ``label`` (lines of text,
        monospaced) beside the middle of the longest segment."""
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        dash = ' stroke-dasharray="5,4"' if dashed else ""
        self.parts.append(f'<polyline points="{pts}" fill="none" stroke="#4b5563" stroke-width="1.4"{dash}/>')
        if head:
            (x0, y0), (x1, y1) = points[-2], points[-1]
            d = max(((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5, 1e-9)
            ux, uy = (x1 - x0) / d, (y1 - y0) / d
            a = [(x1, y1), (x1 - 8 * ux + 4 * uy, y1 - 8 * uy - 4 * ux), (x1 - 8 * ux - 4 * uy, y1 - 8 * uy + 4 * ux)]
            self.parts.append('<polygon points="' + " ".join(f"{x:.1f},{y:.1f}" for x, y in a)
                              + '" fill="#4b5563"/>')
        for x, y in points:
            self.bottom = max(self.bottom, y)
        if label:
            segs = list(zip(points[:-1], points[1:]))
            (x0, y0), (x1, y1) = max(segs, key=lambda s: abs(s[1][0] - s[0][0]) + abs(s[1][1] - s[0][1]))
            self.label((x0 + x1) / 2, (y0 + y1) / 2, label, side=side, vertical=abs(x1 - x0) < abs(y1 - y0))

    def label(self, x, y, lines, side="right", vertical=True):
        """Monospaced lines (a tensor shape) beside (x, y): right/left of a vertical arrow, above a
        horizontal one; the first line (the symbols) grey, the others (the numbers) dark."""
        if isinstance(lines, str):
            lines = [lines]
        n = len(lines)
        if vertical:
            anchor, tx = ("start", x + 7) if side == "right" else ("end", x - 7)
            y0 = y - (n - 1) * 7 + 4
        else:
            anchor, tx, y0 = "middle", x, y - 6 - (n - 1) * 14
        for i, s in enumerate(lines):
            self.text(tx, y0 + 14 * i, s, size=12, anchor=anchor, mono=True,
                      color="#6b7280" if (i == 0 and n > 1) else "#1f2937")

    # ------------------------------------------------------------------ output
    def svg(self) -> str:
        lines = ([self.caption] if isinstance(self.caption, str) else list(self.caption)) + [SYMBOLS]
        y = self.bottom + 24
        foot = ""
        for i, line in enumerate(lines):
            foot += (f'<text x="12" y="{y + 17 * i:.1f}" font-size="12" font-family="{FONT}" fill="#374151" '
                     f'font-style="italic">{escape(line)}</text>')
        h = int(y + 17 * (len(lines) - 1) + 12)
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width}" height="{h}" '
                f'viewBox="0 0 {self.width} {h}" style="max-width:100%;height:auto" role="img">'
                f'<rect x="0" y="0" width="{self.width}" height="{h}" fill="#ffffff"/>'
                + "".join(self.parts) + foot + "</svg>")

    def _repr_svg_(self) -> str:
        return self.svg()

    def _repr_html_(self) -> str:
        return self.svg()

    def save(self, path) -> None:
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.svg())


def shape_label(symbols: str, shape) -> list[str]:
    """Two lines for an arrow: the symbolic shape, then the traced numbers."""
    return [symbols, fmt(shape)]


def _chain(d: Diagram, cx, y, steps, w=None, gap=40, side="right"):
    """Boxes one under the other at ``cx``, joined by arrows; steps: (lines, kind, label-or-None) where
    the label goes on the arrow *out of* the box. Returns the boxes and the y below the last arrow."""
    boxes = []
    for i, (lines, kind, lab) in enumerate(steps):
        b = d.box(cx, y, lines, kind, w=w)
        boxes.append(b)
        y = b.bottom
        if lab is not None or i < len(steps) - 1:
            d.arrow([(cx, y), (cx, y + gap)], lab, side=side)
            y += gap
    return boxes, y


# ============================================================================ Fig. 2
def pipeline(sem: SEMNet, bone: SEMNet, spa: SPANet, x: torch.Tensor | None = None) -> Diagram:
    """Fig. 2: the clip x (N, C, T, V, M) goes to SEM-Net on joints (``sem``), SEM-Net on bones
    (``bone``) and SPA-Net on voxels (``spa``); the streams' softmax scores are averaged. Shapes
    traced from the three models on ``x``."""
    x = sample_input(sem) if x is None else x
    d = Diagram("SEM-Net and SPA-Net: the two perspectives, fused",
                "After the paper's Fig. 2 (overview of the pipeline); shapes traced from the package's models.")
    top = d.box(WIDTH / 2, 40, ["skeleton sequence x", "3 coordinates, T frames, V joints, M persons"], "data")
    d.label(top.right + 4, top.cy, shape_label("(N, C, T, V, M)", x.shape), vertical=True)
    cols = [130, 380, 630]
    y0 = top.bottom + 44
    for cx in cols:
        d.arrow([(WIDTH / 2, top.bottom), (WIDTH / 2, top.bottom + 20), (cx, top.bottom + 20), (cx, y0)])
    ends = []
    for cx, (name, m) in zip(cols[:2], (("joints", sem), ("bones", bone))):
        tr = trace_shapes(m, x)
        cfg = m.config
        L, first, last = len(m.blocks), traced(tr, "blocks.0"), traced(tr, f"blocks.{len(m.blocks) - 1}")
        feats = traced(tr, "fc").input[0]
        head = (["SEM-Net on joints", "x as given"] if name == "joints" else
                ["SEM-Net on bones", "x_v − x_parent(v)"])
        steps = [(head, "data", shape_label("(N, C, T, V, M)", x.shape)),
                 (["input embedding", "persons into the batch", f"1×1 conv 3 → {cfg.stem_channels}"], "param",
                  shape_label("(N·M, C₀, T, V)", first.input[0])),
                 ([f"L = {L} SEM-blocks", "GR-CFSA + MS-TFF (Fig. 5)"], "param",
                  shape_label("(N·M, C_L, T_L, V)", last.output)),
                 (["GAP", "over T, V; mean over M"], "op", shape_label("(N, C_L)", feats)),
                 (["FC, softmax", "class scores"], "param", None)]
        boxes, _ = _chain(d, cx, y0, steps, w=210, gap=42)
        ends.append((boxes[-1], traced(tr, "fc").output))
    tr = trace_shapes(spa, x)
    cfg = spa.config
    stem = traced(tr, "stem")
    last = traced(tr, f"stages.{len(spa.stages) - 1}")
    k = "×".join(str(v) for v in cfg.spatial_kernel)
    g0, gl = stem.output.grid, last.output.grid
    steps = [([f"SPA-Net {cfg.kind.upper()}", f"voxels: grid {g0[0]}³ × {g0[3]} (Eq. 8)"], "data",
              shape_label("(P, C=V)", stem.input[0])),
             (["stem", f"sparse conv {k}"], "param", shape_label("(P, C₀)", stem.output)),
             ([f"{len(spa.stages)} stages of SPA-blocks", f"max-pools to {gl[0]}³ × {gl[3]} (Fig. 6)"], "param",
              shape_label("(P_L, C_L)", last.output)),
             (["GAP", f"{cfg.readout} over the sites"], "op", shape_label("(N, C)", traced(tr, "fc").input[0])),
             (["FC, softmax", "class scores"], "param", None)]
    boxes, _ = _chain(d, cols[2], y0, steps, w=210, gap=42)
    ends.append((boxes[-1], traced(tr, "fc").output))
    yf = max(b.bottom for b, _ in ends) + 44
    for b, shp in ends:
        d.arrow([(b.cx, b.bottom), (b.cx, yf)], shape_label("(N, K)", shp))
    fuse = d.box(WIDTH / 2, yf, ["score fusion", "mean of the streams' softmax scores"], "out",
                 w=cols[2] - cols[0] + 60)
    d.arrow([(WIDTH / 2, fuse.bottom), (WIDTH / 2, fuse.bottom + 34)],
            shape_label("(N, K)", traced(tr, "fc").output))
    d.box(WIDTH / 2, fuse.bottom + 34, ["predicted action"], "out")
    return d


# ============================================================================ Fig. 3
def _attention(model, x, block):
    """The GR-CFSA layer, its input tensor and the net's input: from a SEMNet (block ``block``, its input
    captured by a pre-hook during one forward pass), a SEMBlock or the layer itself (input ``x``)."""
    if not isinstance(model, SEMNet):
        if x is None:
            raise ValueError("diagrams.gr_cfsa: give the input x (N, C, T, V) for a single layer or block")
        return (model.att if isinstance(model, SEMBlock) else model), x, x
    x = sample_input(model) if x is None else x
    captured = []
    h = model.blocks[block].register_forward_pre_hook(lambda m, inp: captured.append(inp[0]))
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(x)
    finally:
        model.train(was)
        h.remove()
    return model.blocks[block].att, captured[0], x


def _batch_note(model, x) -> list[str]:
    """The caption line saying what N is inside SEM-Net, where the persons are batch entries."""
    if not isinstance(model, SEMNet):
        return []
    N, M = x.shape[0], x.shape[-1]
    return [f"Inside SEM-Net N = {N * M}: {N} clips × {M} persons (the persons are moved into the batch)."]


def gr_cfsa(model, x: torch.Tensor | None = None, block: int = 0) -> Diagram:
    """Fig. 3: GR-CFSA in tensor form, S heads at once, for block ``block`` of a SEMNet (or a
    SEMBlock / GRCFSA with its input x (N, C, T, V)). Shapes from running the layer's own f12, embed,
    weights, aggregate and forward on its input."""
    att, xin, x = _attention(model, x, block)
    if not isinstance(att, GRCFSA) or att.mode not in ("cross-frame", "cross-frame+GR"):
        raise ValueError(f"gr_cfsa draws a cross-frame GRCFSA, got {getattr(att, 'mode', type(att).__name__)!r}")
    was = att.training
    att.eval()
    with torch.no_grad():
        f1, f2 = att.embed(xin)
        w = att.weights(xin)
        y = att.aggregate(xin, w)
        f12, out = att.f12(xin), att(xin)
        mixed_in = y.reshape(y.shape[0], -1, *y.shape[3:])
    att.train(was)
    S, Ce, C = att.num_heads, att.embed_channels, xin.shape[1]
    gr = att.mode == "cross-frame+GR"
    d = Diagram("GR-CFSA: global-regularised cross-frame self-attention",
                ["After the paper's Fig. 3 (tensor form), S heads at once; shapes traced from the package's GRCFSA.",
                 *_batch_note(model, x)])
    cx, vx = 330, 640
    top = d.box(cx, 40, ["input x", f"C = {C} channels per joint and frame"], "data")
    d.arrow([(cx, top.bottom), (cx, top.bottom + 44)], shape_label("(N, C, T, V)", xin.shape))
    emb = d.box(cx, top.bottom + 44, ["f₁, f₂: one 1×1 conv", f"C → 2·S·Cₑ = 2·{S}·{Ce} (Eq. 3)"], "param")
    d.arrow([(top.right, top.cy), (vx, top.cy), (vx, top.cy + 1)], head=False)
    d.label(vx, top.cy - 10, "values: x itself", vertical=False)
    d.arrow([(cx, emb.bottom), (cx, emb.bottom + 44)], shape_label("(N, 2·S·Cₑ, T, V)", f12.shape))
    split_y = emb.bottom + 44
    lx, rx = cx - 120, cx + 120
    pool = "mean over τ" if att.reduce == "mean" else "sum over τ"
    y1 = split_y + 56
    d.arrow([(cx, split_y), (cx, split_y + 10), (lx, split_y + 10), (lx, y1)])
    d.label(lx, split_y + 35, shape_label("f₁ (N, S, Cₑ, T, V)", f1.shape), side="left")
    d.arrow([(cx, split_y), (cx, split_y + 10), (rx, split_y + 10), (rx, y1)])
    d.label(rx, split_y + 35, shape_label("f₂ (N, S, Cₑ, T, V)", f2.shape))
    pl = d.box(lx, y1, [pool, "f₁ pooled (Eq. 6)"], "op", w=190)
    pr = d.box(rx, y1, [pool, "f₂ pooled (Eq. 6)"], "op", w=190)
    pooled = (f1.shape[0], S, Ce, f1.shape[-1])
    y2 = pl.bottom + 50
    d.arrow([(lx, pl.bottom), (lx, y2 - 12), (cx - 40, y2 - 12), (cx - 40, y2)], side="left")
    d.label(lx, pl.bottom + 19, shape_label("(N, S, Cₑ, V)", pooled), side="left")
    d.arrow([(rx, pr.bottom), (rx, y2 - 12), (cx + 40, y2 - 12), (cx + 40, y2)])
    d.label(rx, pr.bottom + 19, shape_label("(N, S, Cₑ, V)", pooled))
    qk = d.box(cx, y2, ["f₁ᵀ f₂ / √Cₑ", "one V × V map per head, all frames"], "op")
    y3 = qk.bottom + 44
    d.arrow([(cx, qk.bottom), (cx, y3)], shape_label("(N, S, V, V)", w.shape))
    if gr:
        g = d.box(cx, y3, ["β · (...) + α̂", "global regularisation (Eq. 7)"], "op")
        pa = d.box(530, g.cy - 30, ["α̂", "(S, V, V)", fmt(att.alpha_hat.shape)], "param", w=110)
        pb = d.box(100, g.cy - 30, ["β", "(S,)", fmt(att.beta.shape)], "param", w=110)
        d.arrow([(pa.x, g.cy), (g.right, g.cy)])
        d.arrow([(pb.right, g.cy), (g.x, g.cy)])
        y4 = g.bottom + 44
        d.arrow([(cx, g.bottom), (cx, y4)], shape_label("(N, S, V, V)", w.shape))
    else:
        y4 = y3
    sm = d.box(cx, y4, ["softmax over joints", "rows sum to 1"], "op")
    y5 = sm.bottom + 44
    d.arrow([(cx, sm.bottom), (cx, y5)], shape_label("weights (N, S, V, V)", w.shape))
    ag = d.box(cx, y5, ["aggregate within each frame t", "x_t · weightsᵀ (Eq. 4)"], "op")
    d.arrow([(vx, top.cy), (vx, ag.cy), (ag.right, ag.cy)])
    d.label(vx, ag.cy - 40, shape_label("(N, C, T, V)", xin.shape), side="left")
    y6 = ag.bottom + 44
    d.arrow([(cx, ag.bottom), (cx, y6)], shape_label("(N, S, C, T, V)", y.shape))
    mx = d.box(cx, y6, ["concatenate heads, linear layer", f"1×1 conv S·C = {S * C} → {att.out_channels}"],
               "param")
    d.label(mx.right + 4, mx.cy, shape_label("in (N, S·C, T, V)", mixed_in.shape))
    y7 = mx.bottom + 44
    d.arrow([(cx, mx.bottom), (cx, y7)], shape_label("(N, C_out, T, V)", out.shape))
    d.box(cx, y7, ["output"], "out")
    d.text(WIDTH - 12, 22, "blue: learnable", size=12, anchor="end", color="#1d4ed8")
    return d


# ============================================================================ Fig. 4
def mstff(model, x: torch.Tensor | None = None, block: int = 0) -> Diagram:
    """Fig. 4: MS-TFF of block ``block`` of a SEMNet (or a SEMBlock / MSTFF with its input x
    (N, C_in, T, V)): 1x1 split, B dilated temporal convs, concat, BN. Shapes traced."""
    if isinstance(model, SEMNet):
        x = sample_input(model) if x is None else x
        tr, prefix = trace_shapes(model, x), f"blocks.{block}.tff"
        layer = model.blocks[block].tff
    elif isinstance(model, (SEMBlock, MSTFF)):
        if x is None:
            raise ValueError("diagrams.mstff: give the input x (N, C, T, V) for a single layer or block")
        tr, prefix = trace_shapes(model, x), ("tff" if isinstance(model, SEMBlock) else "")
        layer = model.tff if isinstance(model, SEMBlock) else model
    else:
        raise ValueError(f"diagrams.mstff: expected a SEMNet, SEMBlock or MSTFF, got {type(model).__name__}")
    name = (lambda s: f"{prefix}.{s}" if prefix else s)
    whole, split = traced(tr, prefix), traced(tr, name("split"))
    B = len(layer.kernels)
    d = Diagram("MS-TFF: multi-scale temporal feed-forward layer",
                [f"After the paper's Fig. 4 (C_out = {layer.branch_channels * B}, B = {B}); "
                "shapes traced from the package's MSTFF.", *_batch_note(model, x)])
    cx = WIDTH / 2
    top = d.box(cx, 40, ["input", "from the GR-CFSA half of the SEM-block"], "data")
    d.arrow([(cx, top.bottom), (cx, top.bottom + 44)], shape_label("(N, C_in, T, V)", whole.input[0]))
    sp = d.box(cx, top.bottom + 44, ["1×1 conv, BN, ReLU",
                                     f"C_in = {whole.input[0][1]} → C_out = {split.output[1]}, split into B = {B}"],
               "param")
    step = min(180, (WIDTH - 40) / B)
    xs = [cx + (i - (B - 1) / 2) * step for i in range(B)]
    yb = sp.bottom + 58
    branch = (split.output[0], layer.branch_channels) + tuple(split.output[2:])
    for i, bx in enumerate(xs):
        d.arrow([(cx, sp.bottom), (cx, sp.bottom + 12), (bx, sp.bottom + 12), (bx, yb)])
    d.label(xs[0], sp.bottom + 36, shape_label("(N, C_out/B, T, V)", branch), side="right")
    outs = []
    for i, (bx, k, dil) in enumerate(zip(xs, layer.kernels, layer.dilations)):
        window = receptive_field([k], [dil])
        b = d.box(bx, yb, [f"k = {k}, d = {dil}", f"{k}×1 temporal conv", f"window {window} frames"], "param",
                  w=step - 14)
        outs.append((b, traced(tr, name(f"branches.{i}")).output))
    yc = max(b.bottom for b, _ in outs) + 58
    for b, shp in outs:
        d.arrow([(b.cx, b.bottom), (b.cx, yc - 12), (cx, yc - 12), (cx, yc)])
    d.label(xs[0], outs[0][0].bottom + 22, shape_label("(N, C_out/B, T', V)", outs[0][1]))
    Cb = layer.branch_channels
    cat = d.box(cx, yc, ["concatenate, BN", f"B × {Cb} = {B * Cb} channels"], "op")
    d.arrow([(cx, cat.bottom), (cx, cat.bottom + 44)], shape_label("(N, C_out, T', V)", whole.output))
    d.box(cx, cat.bottom + 44, ["output", f"T' = ceil(T / stride), stride {layer.stride}"], "out")
    d.text(WIDTH - 12, 22, "blue: learnable", size=12, anchor="end", color="#1d4ed8")
    return d


# ============================================================================ Fig. 5
def sem_block(model, x: torch.Tensor | None = None, block: int = 0) -> Diagram:
    """Fig. 5: SEM-block ``block`` of a SEMNet (or a SEMBlock with its input x (N, C_in, T, V)):
    S GR-CFSA heads, concat + linear layer, BN, residual, ReLU; MS-TFF, residual, ReLU."""
    if isinstance(model, SEMNet):
        x = sample_input(model) if x is None else x
        tr, prefix, blk = trace_shapes(model, x), f"blocks.{block}.", model.blocks[block]
    elif isinstance(model, SEMBlock):
        if x is None:
            raise ValueError("diagrams.sem_block: give the input x (N, C, T, V) for a single block")
        tr, prefix, blk = trace_shapes(model, x), "", model
    else:
        raise ValueError(f"diagrams.sem_block: expected a SEMNet or SEMBlock, got {type(model).__name__}")
    t = (lambda s: traced(tr, prefix + s))
    whole = t("att").input[0]
    S = blk.att.num_heads
    mix, att_bn, tff = t("att.mix"), t("bn_att"), t("tff")
    head = (whole[0], whole[1]) + tuple(whole[2:])
    d = Diagram("SEM-block: S-head GR-CFSA, then MS-TFF, with residuals",
                [f"After the paper's Fig. 5 (S = {S} heads); shapes traced from the package's SEMBlock "
                f"(block {block + 1 if isinstance(model, SEMNet) else 1}).", *_batch_note(model, x)])
    cx, rx = 320, 640
    top = d.box(cx, 40, ["block input"], "data")
    y = top.bottom + 52
    d.arrow([(cx, top.bottom), (cx, y - 16)], head=False)
    d.label(cx, top.bottom + 18, shape_label("(N, C_in, T, V)", whole), side="left")
    step = min(150, 440 / S)
    xs = [cx + (i - (S - 1) / 2) * step for i in range(S)]
    heads = []
    for i, hx in enumerate(xs):
        d.arrow([(cx, y - 16), (hx, y - 16), (hx, y)])
        heads.append(d.box(hx, y, [f"GR-CFSA {i + 1}", "(Fig. 3)"], "param", w=step - 16))
    yc = heads[0].bottom + 50
    for h in heads:
        d.arrow([(h.cx, h.bottom), (h.cx, yc - 14), (cx, yc - 14), (cx, yc)])
    d.label(xs[-1], heads[0].bottom + 18, shape_label("each (N, C_in, T, V)", head))
    cat = d.box(cx, yc, ["concatenate, linear layer", f"1×1 conv S·C_in = {mix.input[0][1]} → {mix.output[1]}"],
                "param")
    d.arrow([(cx, cat.bottom), (cx, cat.bottom + 40)], shape_label("(N, C_out, T, V)", mix.output))
    bn = d.box(cx, cat.bottom + 40, ["BN"], "op")
    add1 = d.circle(cx, bn.bottom + 34)
    d.arrow([(cx, bn.bottom), (cx, add1.y)])
    res1 = blk.res_att
    rl = ["identity"] if isinstance(res1, nn.Identity) else ["1×1 conv, BN", "C_in → C_out"]
    rb = d.box(rx, add1.cy - 60, ["residual", *rl], "op", w=150)
    d.arrow([(cx, y - 16 - 12), (rx, y - 16 - 12), (rx, rb.y)], head=True)
    d.arrow([(rx, rb.bottom), (rx, add1.cy), (add1.right, add1.cy)])
    relu1 = d.box(cx, add1.bottom + 24, ["ReLU"], "op")
    d.arrow([(cx, add1.bottom), (cx, relu1.y)])
    d.arrow([(cx, relu1.bottom), (cx, relu1.bottom + 44)], shape_label("(N, C_out, T, V)", att_bn.output),
            side="left")
    ms = d.box(cx, relu1.bottom + 44, ["MS-TFF (Fig. 4)", f"temporal stride {blk.tff.stride}"], "param")
    add2 = d.circle(cx, ms.bottom + 50)
    d.arrow([(cx, ms.bottom), (cx, add2.y)], shape_label("(N, C_out, T', V)", tff.output))
    res2 = blk.res_tff
    rl = ["identity"] if isinstance(res2, nn.Identity) else ["1×1 conv, BN", f"stride {blk.tff.stride} in time"]
    rb2 = d.box(rx, add2.cy - 66, ["residual", *rl], "op", w=150)
    d.arrow([(cx, relu1.bottom + 12), (rx, relu1.bottom + 12), (rx, rb2.y)])
    d.arrow([(rx, rb2.bottom), (rx, add2.cy), (add2.right, add2.cy)])
    relu2 = d.box(cx, add2.bottom + 24, ["ReLU"], "op")
    d.arrow([(cx, add2.bottom), (cx, relu2.y)])
    d.arrow([(cx, relu2.bottom), (cx, relu2.bottom + 44)],
            shape_label("(N, C_out, T', V)", traced(tr, prefix[:-1]).output))
    d.box(cx, relu2.bottom + 44, ["block output"], "out")
    d.text(WIDTH - 12, 22, "blue: learnable", size=12, anchor="end", color="#1d4ed8")
    return d


# ============================================================================ Fig. 6
def spa_net(model: SPANet, x: torch.Tensor | None = None) -> Diagram:
    """Fig. 6: SPA-Net of either kind: voxelisation, sparse conv stem, stages of SPA-blocks with
    max-pools between them, global pooling, FC; the first SPA-block drawn open on the right."""
    x = sample_input(model) if x is None else x
    tr = trace_shapes(model, x)
    cfg = model.config
    kind = cfg.kind
    stem, fc = traced(tr, "stem"), traced(tr, "fc")
    grid = (lambda s: f"grid {s.grid[0]}³ × {s.grid[3]}")
    d = Diagram(f"SPA-Net with {kind.upper()} blocks",
                f"After the paper's Fig. 6 ({'a' if kind == '3+1d' else 'b'}: SPA-{kind.upper()}); shapes traced "
                "from the package's SPANet.")
    cx, bx = 180, 510
    top = d.box(cx, 40, ["skeleton sequence x"], "data")
    d.arrow([(cx, top.bottom), (cx, top.bottom + 44)], shape_label("(N, C, T, V, M)", x.shape))
    onehot = "one-hot: V joints" if cfg.persons == "shared" else "one-hot: V joints × M persons"
    vox = d.box(cx, top.bottom + 44, ["voxelise (Eq. 8)", grid(stem.input[0]), onehot], "op", w=250)
    d.arrow([(cx, vox.bottom), (cx, vox.bottom + 44)], shape_label("(P, C)", stem.input[0]))
    k = "×".join(str(v) for v in cfg.spatial_kernel)
    b = d.box(cx, vox.bottom + 44, ["stem: sparse conv", f"kernel {k}, BN, ReLU"], "param", w=250)
    d.arrow([(cx, b.bottom), (cx, b.bottom + 44)], shape_label("(P, C₀)", stem.output))
    y = b.bottom + 44
    first_block = None
    for i, stage in enumerate(model.stages):
        for j, m in enumerate(stage):
            name = f"stages.{i}.{j}"
            out = traced(tr, name).output
            if isinstance(m, SparseMaxPool):
                lines = [f"sparse max-pool {cfg.pool}", grid(out)]
                kind_ = "op"
            else:
                lines = [f"SPA-block, stage {i + 1}", f"{traced(tr, name).input[0][1]} → {out[1]} channels"]
                kind_ = "param"
            b = d.box(cx, y, lines, kind_, w=250)
            if first_block is None and isinstance(m, SPABlock):
                first_block = (b, name, m)
            d.arrow([(cx, b.bottom), (cx, b.bottom + 44)], shape_label("(P, C)", out))
            y = b.bottom + 44
    g = d.box(cx, y, ["global pooling", f"{cfg.readout} over each sample's sites"], "op", w=250)
    d.arrow([(cx, g.bottom), (cx, g.bottom + 44)], shape_label("(N, C)", fc.input[0]))
    f = d.box(cx, g.bottom + 44, ["FC"], "param", w=250)
    d.arrow([(cx, f.bottom), (cx, f.bottom + 44)], shape_label("(N, K)", fc.output))
    d.box(cx, f.bottom + 44, ["class scores"], "out", w=250)
    # ---- the first SPA-block, open
    sb, name, m = first_block
    t = (lambda s: traced(tr, f"{name}.{s}"))
    blk_in, blk_out = traced(tr, name).input[0], traced(tr, name).output
    y = 60
    d.text(bx, y - 8, f"({'a' if kind == '3+1d' else 'b'}) SPA-{kind.upper()} block", size=13, weight="bold")
    inp = d.box(bx, y, ["block input"], "data")
    d.arrow([(sb.right, sb.cy), (sb.right + 30, sb.cy), (sb.right + 30, inp.cy), (inp.x, inp.cy)], dashed=True)
    d.arrow([(bx, inp.bottom), (bx, inp.bottom + 44)], shape_label("(P, C_in)", blk_in), side="left")
    kk = "×".join(str(v) for v in m.conv.kernel_size)
    if m.temporal is None:
        steps = [(["submanifold conv", f"kernel {kk}, BN"], "param", shape_label("(P, C)", t("conv").output))]
    else:
        mt = m.temporal
        B = len(mt.kernels)
        dil = ", ".join(str(v) for v in mt.dilations)
        steps = [(["submanifold conv", f"kernel {kk}: 3D per frame", "BN, ReLU"], "param",
                  shape_label("(P, C)", t("conv").output)),
                 (["1×1 split (linear)", f"BN, ReLU, into B = {B}"], "param",
                  shape_label("each (P, C/B)", (blk_out[0], mt.branch_channels))),
                 ([f"{B} temporal convs", f"kernel 1×1×1×{mt.kernels[0]}", f"d = {dil}"], "param",
                  shape_label("each (P, C/B)", t("temporal.branches.0").output)),
                 (["concatenate, BN"], "op", shape_label("(P, C)", t("temporal").output))]
    boxes, y = _chain(d, bx, inp.bottom + 44, steps, w=200, gap=44)
    add = d.circle(bx, y + 11)
    rl = "identity" if m.res.proj is None else "linear + BN"
    rxx = bx + 180
    rb = d.box(rxx, (inp.bottom + add.cy) / 2 - 20, ["residual", rl], "op", w=110)
    d.arrow([(bx, inp.bottom + 12), (rxx, inp.bottom + 12), (rxx, rb.y)])
    d.arrow([(rxx, rb.bottom), (rxx, add.cy), (add.right, add.cy)])
    relu = d.box(bx, add.bottom + 24, ["ReLU"], "op")
    d.arrow([(bx, add.bottom), (bx, relu.y)])
    d.arrow([(bx, relu.bottom), (bx, relu.bottom + 44)], shape_label("(P, C_out)", blk_out))
    d.box(bx, relu.bottom + 44, ["block output"], "out")
    d.text(WIDTH - 12, 22, "blue: learnable", size=12, anchor="end", color="#1d4ed8")
    return d

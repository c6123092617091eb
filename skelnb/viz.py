"""Plotly figures that work offline: in the built book, in live Jupyter and in Colab.

Importing this module calls :func:`setup`, which registers a plotly renderer and makes it the
default, so chapters can call ``fig.show()`` or :func:`show` and get:

* book build (``SKELNB_PLOTLY=book``, set by ``make book``): a small ``text/html`` bundle with
  the figure div and its ``Plotly.newPlot`` call only; the page loads ``_static/plotly.min.js``
  (copied there by ``python -m skelnb.viz --install-static _static``), so no CDN is involved.
  myst-nb would drop plotly's own ``application/vnd.plotly.v1+json`` output.
* Google Colab: plotly's ``colab`` renderer (Colab is online anyway).
* anything else (live Jupyter, nbval): ``text/html`` whose first figure in the kernel session
  inlines plotly.js (as plotly's ``notebook`` renderer does with ``connected=False``), without
  plotly's MathJax CDN script.
"""
from __future__ import annotations

import argparse
import filecmp
import hashlib
import os
import shutil
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from plotly.io._base_renderers import MimetypeRenderer
from plotly.io.json import to_json_plotly

BOOK_RENDERER, LIVE_RENDERER = "skelnb_book", "skelnb_live"
# Shared across renderer copies (plotly copies a renderer for each figure it displays).
_session = {"plotlyjs_sent": False, "ids": Counter()}


def is_book_build() -> bool:
    """True while ``jupyter-book build`` executes the chapters (``SKELNB_PLOTLY=book``)."""
    return os.environ.get("SKELNB_PLOTLY", "").lower() == "book"


def in_colab() -> bool:
    return "google.colab" in sys.modules or "COLAB_NOTEBOOK_ID" in os.environ


def live_widgets_available() -> bool:
    """ipywidgets controls need a kernel; the static book shows plotly sliders/dropdowns instead."""
    return not is_book_build()


def plotlyjs_path() -> Path:
    """plotly.min.js as shipped in the installed plotly package (the same one it inlines)."""
    return Path(pio.__file__).resolve().parents[1] / "package_data" / "plotly.min.js"


def _div_id(fig_dict) -> str:
    """Deterministic, page-unique div id: hash of the figure JSON (+ repeat count if shown again)."""
    h = hashlib.sha1(to_json_plotly(fig_dict).encode()).hexdigest()[:12]
    n = _session["ids"][h]
    _session["ids"][h] += 1
    return f"skelnb-{h}" + (f"-{n}" if n else "")


class _HtmlRenderer(MimetypeRenderer):
    """text/html renderer; ``inline_js``: 'never' (book) or 'once' (first figure of the session)."""

    def __init__(self, inline_js: str, config=None, auto_play=False, animation_opts=None):
        self.inline_js = inline_js
        self.config = dict(config or {})
        self.auto_play, self.animation_opts = auto_play, animation_opts  # like plotly's renderers

    def to_mimebundle(self, fig_dict):
        include_js = self.inline_js == "once" and not _session["plotlyjs_sent"]
        html = pio.to_html(fig_dict, config=self.config, include_plotlyjs=include_js,
                           include_mathjax=False, full_html=False, div_id=_div_id(fig_dict),
                           auto_play=self.auto_play, animation_opts=self.animation_opts,
                           default_width="100%", default_height=525, validate=False)
        _session["plotlyjs_sent"] |= include_js
        return {"text/html": html}


def setup() -> str:
    """Register the skelnb renderers and make the right one the default; returns its name."""
    pio.renderers[BOOK_RENDERER] = _HtmlRenderer("never")
    pio.renderers[LIVE_RENDERER] = _HtmlRenderer("once")
    name = BOOK_RENDERER if is_book_build() else "colab" if in_colab() else LIVE_RENDERER
    if pio.renderers.default != name:
        pio.renderers.default = name
    return name


def show(fig: go.Figure, **kwargs) -> None:
    """Display a figure with the renderer chosen by :func:`setup` (same as ``fig.show()``)."""
    pio.show(fig, **kwargs)


def install_static(dest_dir: str | os.PathLike) -> Path:
    """Copy plotly's bundled plotly.min.js into ``dest_dir`` (no-op if an identical copy exists)."""
    src, dest = plotlyjs_path(), Path(dest_dir) / "plotly.min.js"
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not (dest.exists() and filecmp.cmp(src, dest, shallow=False)):
        shutil.copyfile(src, dest)
    return dest


# --------------------------------------------------------------------------------------------
# Plot helpers

def present_joints(xyz: np.ndarray) -> np.ndarray:
    """(3, V) joints -> (V,) True where a joint is drawn. All-zero joints are missing (dropped),
    except a single one inside the box of the other joints: the joint a centred pose is centred
    on (the middle of the spine of the first frame after ``center_spine``). In camera
    coordinates the origin lies outside the body, so a lone zero joint there is a dropped one."""
    zero = np.abs(xyz).sum(axis=0) == 0
    if zero.sum() != 1 or zero.all():
        return ~zero
    rest = xyz[:, ~zero]
    inside = bool(((rest.min(axis=1) <= 0) & (rest.max(axis=1) >= 0)).all())
    return ~zero | inside


def bone_segments(xyz: np.ndarray, bones, present=None) -> list[list]:
    """(3, V) joints -> x, y, z lists of bone segments separated by None (one line trace).
    Bones with a missing end (``present`` (V,) False; default :func:`present_joints`) are left
    out, so a dropped joint draws no line to 0."""
    out = [[], [], []]
    seen = present_joints(xyz) if present is None else np.asarray(present, dtype=bool)
    for c, p in bones:
        if seen[c] and seen[p]:
            for k in range(3):
                out[k] += [xyz[k, c], xyz[k, p], None]
    return out


def skeleton_animation(seq, layout, *, title=None, person_colors=None, frame_step=1) -> go.Figure:
    """Animated 3D skeleton of one sample: bones + joints per person, a frame slider, play/pause.

    seq: (C=3, T, V, M) array; persons and frames that are all zero (padding) are skipped.
    layout: a :class:`skelnb.data.layouts.Layout` (joint names and bones). y is drawn as "up".
    """
    seq = np.asarray(seq, dtype=float)
    assert seq.ndim == 4 and seq.shape[0] == 3, f"expected (3, T, V, M), got {seq.shape}"
    assert seq.shape[2] == len(layout.joints), f"{layout.name} has {len(layout.joints)} joints, got V={seq.shape[2]}"
    seq = np.round(seq, 3)  # mm precision keeps the figure JSON small
    present = np.abs(seq).sum(axis=(0, 2)) > 0                   # (T, M)
    persons = [m for m in range(seq.shape[3]) if present[:, m].any()]
    frames_t = [t for t in range(0, seq.shape[1], frame_step) if present[t].any()]
    if not frames_t:
        raise ValueError("skeleton_animation: the sequence is all zeros")
    colors = person_colors or pio.templates["plotly"].layout.colorway
    bones, names = layout.bones, list(layout.joints)

    def traces(t):
        out = []
        for i, m in enumerate(persons):
            color = colors[i % len(colors)]
            if present[t, m]:
                xyz = seq[:, t, :, m]
                seen = present_joints(xyz)                               # dropped joints are zeros
                (bx, by, bz) = bone_segments(xyz, bones)
                jx, jy, jz = ([v if ok else None for v, ok in zip(row, seen)] for row in xyz.tolist())
            else:  # keep the trace count fixed across frames
                bx = by = bz = jx = jy = jz = []
            out.append(go.Scatter3d(x=bx, y=by, z=bz, mode="lines", line=dict(color=color, width=6),
                                    hoverinfo="skip", name=f"person {m + 1}", legendgroup=str(m)))
            out.append(go.Scatter3d(x=jx, y=jy, z=jz, mode="markers", marker=dict(color=color, size=3),
                                    text=names if present[t, m] else [], hovertemplate="%{text}",
                                    name=f"person {m + 1}", legendgroup=str(m), showlegend=False))
        return out

    # Fixed axis ranges over every non-zero joint of the shown frames.
    pts = seq[:, frames_t].transpose(0, 1, 3, 2).reshape(3, -1)   # (3, T'*M*V)
    pts = pts[:, np.abs(pts).sum(axis=0) > 0]
    lo, hi = pts.min(axis=1), pts.max(axis=1)
    pad = 0.05 * (hi - lo).max() + 1e-3
    ranges = [[float(a - pad), float(b + pad)] for a, b in zip(lo, hi)]
    # True proportions from the fixed ranges (aspectmode "data" follows each frame's extent and,
    # normalised to a unit volume, blows a thin (flat in depth) skeleton out of the viewport).
    span = (hi - lo) + 2 * pad
    aspect = dict(zip("xyz", (span / span.max()).tolist()))

    fig = go.Figure(data=traces(frames_t[0]),
                    frames=[go.Frame(data=traces(t), name=str(t)) for t in frames_t])
    still = dict(mode="immediate", frame=dict(duration=0, redraw=True), transition=dict(duration=0))
    fig.update_layout(
        title=title, height=560, showlegend=len(persons) > 1, margin=dict(l=0, r=0, t=40 if title else 10, b=0),
        scene=dict(xaxis=dict(range=ranges[0], title="x"), yaxis=dict(range=ranges[1], title="y"),
                   zaxis=dict(range=ranges[2], title="z"), aspectmode="manual", aspectratio=aspect,
                   camera=dict(up=dict(x=0, y=1, z=0), eye=dict(x=0.5, y=0.3, z=-1.6))),
        sliders=[dict(active=0, currentvalue=dict(prefix="frame "), x=0.12, len=0.88, y=0,
                      xanchor="left", yanchor="top", pad=dict(t=10, b=10),
                      steps=[dict(method="animate", label=str(t), args=[[str(t)], still])
                             for t in frames_t])],
        updatemenus=[dict(type="buttons", direction="down", x=0.12, y=0, xanchor="right", yanchor="top",
                          pad=dict(t=10, r=10), showactive=False, buttons=[
                              dict(label="▶ play", method="animate",
                                   args=[None, dict(still, frame=dict(duration=60, redraw=True),
                                                    fromcurrent=True)]),
                              dict(label="❚❚ pause", method="animate", args=[[None], still])])],
    )
    return fig

# ----------------------------------------------------------------------------- chapter figures
# one colour per body part (or person), shared by the chapters' figures
PART_COLORS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c")


def fitted_scene(P, eye=None, pad: float | None = None, titles=("x", "y (up)", "z (depth)")):
    """A 3D scene fitted to the points P (3, K) (all-zero columns: missing), y up, with the true
    proportions of the fitted box (manual aspect ratio: a flat-in-depth body stays flat and no
    frame of an animation is clipped). ``eye``: the camera (default: in front, a little from
    the side and above); ``pad``: margin around the points (default 10 % of the largest side)."""
    pts = P[:, np.abs(P).sum(0) > 0]
    lo, hi = pts.min(1), pts.max(1)
    pad = 0.1 * (hi - lo).max() + 0.05 if pad is None else pad
    span = (hi - lo) + 2 * pad
    aspect = dict(zip("xyz", (span / span.max()).tolist()))
    axes = {f"{a}axis": dict(range=[float(lo[i] - pad), float(hi[i] + pad)], title=titles[i])
            for i, a in enumerate("xyz")}
    return dict(**axes, aspectmode="manual", aspectratio=aspect,
                camera=dict(up=dict(x=0, y=1, z=0), eye=eye or dict(x=0.3, y=0.4, z=-2.0)))


def skeleton_traces(P, layout, *, present=None, width: float = 7, size: float = 4, showlegend: bool = True) -> list:
    """The skeleton of one pose P (3, V) as Scatter3d traces coloured by body part
    (``layout.parts``, :data:`PART_COLORS`): one bone trace per part (a bone takes the part of its
    child joint; the part's name in the legend), then one trace of the joints as markers (hover:
    joint name). Always ``len(layout.parts) + 1`` traces, so animation frames keep the count;
    missing joints (``present`` (V,) False; default :func:`present_joints`) draw nothing (joints
    in no part: one more trace, "other")."""
    P = np.asarray(P, dtype=float)
    part, names = layout.part_of(), list(layout.parts)
    if (part < 0).any():                                                # joints in no part
        part, names = np.where(part < 0, len(names), part), names + ["other"]
    seen = present_joints(P) if present is None else np.asarray(present, dtype=bool)
    out = []
    for k, name in enumerate(names):
        bones = [(c, p) for c, p in layout.bones if part[c] == k]
        xs, ys, zs = bone_segments(P, bones, seen)
        out.append(go.Scatter3d(x=xs, y=ys, z=zs, mode="lines", name=name, legendgroup=name,
                                line=dict(color=PART_COLORS[k % len(PART_COLORS)], width=width),
                                hoverinfo="skip", showlegend=showlegend))
    colors = [PART_COLORS[k % len(PART_COLORS)] for k in part]
    out.append(go.Scatter3d(x=np.where(seen, P[0], None), y=P[1], z=P[2], mode="markers", name="joints",
                            marker=dict(size=size, color=colors, line=dict(color="#333", width=1)),
                            text=list(layout.joints), hovertemplate="%{text}<extra></extra>", showlegend=False))
    return out


def grouping_figure(poses, layout, semantic, spatial, titles, centre: int = 11) -> go.Figure:
    """Fig. 1 of the paper on real numbers: the same joints grouped by meaning (what) or by
    place (where). ``poses``: list of (3, V) frames; ``semantic``/``spatial``: per pose, the set
    of joints in the group of joint ``centre``. A menu switches the colouring."""
    from plotly.subplots import make_subplots
    fig = make_subplots(rows=1, cols=len(poses), specs=[[{"type": "scene"}] * len(poses)],
                        subplot_titles=titles)
    colors = {}
    for i, P in enumerate(poses):
        xs, ys, zs = bone_segments(P, layout.bones)
        fig.add_trace(go.Scatter3d(x=xs, y=ys, z=zs, mode="lines", line=dict(color="#999", width=5),
                                   hoverinfo="skip", showlegend=False), row=1, col=i + 1)
        col = lambda group: ["#d62728" if j == centre else ("#ff7f0e" if j in group else "#1f77b4")
                             for j in range(layout.num_joints)]
        colors[i] = (col(semantic[i]), col(spatial[i]))
        fig.add_trace(go.Scatter3d(x=P[0], y=P[1], z=P[2], mode="markers", text=list(layout.joints),
                                   marker=dict(size=6, color=colors[i][0]), hoverinfo="text",
                                   showlegend=False), row=1, col=i + 1)
        fig.layout[f"scene{i + 1 if i else ''}"].update(fitted_scene(P))
    marker_traces = [2 * i + 1 for i in range(len(poses))]
    buttons = [dict(label=label, method="restyle",
                    args=[{"marker.color": [colors[i][k] for i in range(len(poses))]}, marker_traces])
               for k, label in enumerate(("semantic group (what)", "spatial group (where)"))]
    fig.update_layout(updatemenus=[dict(type="dropdown", buttons=buttons, x=0, y=1.12, xanchor="left")],
                      height=480, margin=dict(l=0, r=0, t=60, b=0),
                      annotations=list(fig.layout.annotations) + [dict(
                          text="red: the centre joint, orange: its group", showarrow=False,
                          x=1, y=1.1, xref="paper", yref="paper", xanchor="right")])
    return fig


def pose_gallery(poses, layout, names) -> go.Figure:
    """One pose per entry (each (3, V, M)), shown one at a time with a dropdown menu."""
    fig = go.Figure()
    for k, P in enumerate(poses):
        for m in range(P.shape[-1]):
            if np.abs(P[..., m]).sum() == 0:
                continue
            xs, ys, zs = bone_segments(P[..., m], layout.bones)
            fig.add_trace(go.Scatter3d(x=xs, y=ys, z=zs, mode="lines+markers", name=f"{names[k]}",
                                       line=dict(color=PART_COLORS[m], width=6), marker=dict(size=3),
                                       visible=k == 0, showlegend=False, hoverinfo="skip"))
    owner = [t.name for t in fig.data]
    buttons = [dict(label=n, method="update",
                    args=[{"visible": [o == n for o in owner]}, {"title.text": n}]) for n in names]
    allp = np.concatenate([P.reshape(3, -1) for P in poses], axis=1)
    fig.update_layout(scene=fitted_scene(allp), title=names[0], height=500, margin=dict(l=0, r=0, t=40, b=0),
                      updatemenus=[dict(type="dropdown", buttons=buttons, x=0, y=1.0, xanchor="left")])
    return fig


def per_class_bars(acc: dict, class_names, title: str = "") -> go.Figure:
    """Grouped bars: per-class accuracy (in %) for each run in ``acc`` {run name: (K,) array, or
    (S, K) over seeds: the bar is the mean, the whisker the spread (sample std) over seeds}."""
    bars = []
    for k, a in acc.items():
        a = 100 * np.atleast_2d(np.asarray(a, dtype=float))                       # (S, K)
        err = dict(type="data", array=a.std(0, ddof=1), visible=True) if len(a) > 1 else None
        bars.append(go.Bar(name=k, x=list(class_names), y=a.mean(0), error_y=err))
    fig = go.Figure(bars)
    fig.update_layout(barmode="group", title=title, yaxis=dict(title="accuracy (%)", range=[0, 105]),
                      height=460, margin=dict(l=50, r=10, t=50, b=150),
                      legend=dict(orientation="h", x=0, y=1.0, yanchor="bottom"))
    fig.update_xaxes(tickangle=-45)
    return fig


def grid_heatmap(values, rows, cols, *, spread=None, title: str = "", zmin=0.0, zmax=100.0,
                 unit: str = "%", colorscale: str = "Viridis") -> go.Figure:
    """A (rows x cols) table of numbers as a heatmap with each cell written in it (``values``
    (R, C); ``spread`` (R, C) is written as +- beside it); hover gives the row and column."""
    v = np.asarray(values, dtype=float)
    text = [[f"{x:.0f}" + (f" ± {spread[i][j]:.0f}" if spread is not None else "") for j, x in enumerate(r)]
            for i, r in enumerate(v)]
    fig = go.Figure(go.Heatmap(z=v, x=list(cols), y=list(rows), text=text, texttemplate="%{text}",
                               zmin=zmin, zmax=zmax, colorscale=colorscale,
                               colorbar=dict(title=unit, thickness=12),
                               hovertemplate="%{y} / %{x}: %{text}" + unit + "<extra></extra>"))
    fig.update_layout(title=title, height=90 + 42 * len(rows), margin=dict(l=10, r=10, t=50, b=10))
    fig.update_yaxes(autorange="reversed", automargin=True)
    fig.update_xaxes(side="top", automargin=True)
    return fig


class Table:
    """Rows shown as an HTML table in a notebook page and as aligned text in a terminal.

    ``rows``: a list of dicts (keys: the columns) or of sequences with ``columns`` given;
    numbers are written with ``digits`` decimals; ``note`` goes under the table."""

    def __init__(self, rows, columns=None, *, title: str | None = None, note: str | None = None,
                 digits: int = 1):
        rows = list(rows)
        if rows and isinstance(rows[0], dict):
            columns = list(columns or rows[0])
            rows = [[r.get(c, "") for c in columns] for r in rows]
        if columns is None:
            raise ValueError("Table: give columns= when rows are not dicts")
        self.columns, self.title, self.note, self.digits = list(columns), title, note, digits
        self.rows = [[self._cell(x) for x in r] for r in rows]
        bad = [i for i, r in enumerate(self.rows) if len(r) != len(self.columns)]
        if bad:
            raise ValueError(f"Table: row {bad[0]} has {len(self.rows[bad[0]])} cells, "
                             f"expected {len(self.columns)} ({self.columns})")

    def _cell(self, x) -> str:
        if isinstance(x, (float, np.floating)):
            return "" if np.isnan(x) else f"{x:.{self.digits}f}"
        return str(x)

    def __str__(self) -> str:
        w = [max(len(str(c)), *(len(r[j]) for r in self.rows)) for j, c in enumerate(self.columns)]
        line = lambda cells: "  ".join(c.ljust(w[0]) if j == 0 else c.rjust(w[j]) for j, c in enumerate(cells))
        out = ([self.title] if self.title else []) + [line(self.columns), line(["-" * n for n in w])]
        out += [line(r) for r in self.rows] + ([self.note] if self.note else [])
        return "\n".join(out)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        from html import escape
        head = "".join(f"<th>{escape(str(c))}</th>" for c in self.columns)
        body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in self.rows)
        cap = f"<caption>{escape(self.title)}</caption>" if self.title else ""
        note = f"<p><small>{escape(self.note)}</small></p>" if self.note else ""
        return f'<table class="skelnb-table">{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}'

    def show(self) -> None:
        """Display now (HTML in a notebook, text elsewhere), for use in the middle of a cell."""
        try:
            from IPython import get_ipython
            from IPython.display import display
            if get_ipython() is not None:
                display(self)
                return
        except ImportError:
            pass
        print(self)


def table(rows, columns=None, **kwargs) -> Table:
    """``Table(rows, columns, title=, note=, digits=)``, displayed by a notebook as HTML."""
    return Table(rows, columns, **kwargs)


setup()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m skelnb.viz", description=__doc__.splitlines()[0])
    ap.add_argument("--install-static", metavar="DIR", required=True,
                    help="copy plotly.min.js into DIR (the book's _static)")
    args = ap.parse_args(argv)
    print(install_static(args.install_static))


if __name__ == "__main__":
    main()

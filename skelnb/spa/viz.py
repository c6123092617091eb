"""Plotly figures for the spatial perspective: voxels, rulebooks, activations (Fig. 7c).

Every figure works in the static book: choices are plotly sliders/menus (no kernel needed).
Import :mod:`skelnb.viz` first in a chapter (it registers the offline renderer).
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from ..data.layouts import Layout, get_layout
from ..viz import PART_COLORS, bone_segments

_STILL = dict(mode="immediate", frame=dict(duration=0, redraw=True), transition=dict(duration=0))


def _sample(st, sample: int):
    rows = (st.coords[:, 0] == sample).cpu().numpy()
    if not rows.any():
        raise ValueError(f"sample {sample} has no active site")
    return st.coords[rows].cpu().numpy().astype(int), st.features[rows].detach().cpu().float().numpy()


def _site_labels(feats: np.ndarray, layout: Layout):
    """Dominant joint's body part (colour) and a hover text listing the joints in each voxel."""
    V = layout.num_joints
    parts = layout.part_of()
    joint = feats.argmax(1) % V
    names = list(layout.joints)
    text = []
    for f in feats:
        idx = np.flatnonzero(f > 0)
        text.append("<br>".join(f"{names[i % V]}{' (person 2)' if i >= V else ''}"
                                f"{'' if f[i] == 1 else f' x{f[i]:g}'}" for i in idx))
    return [PART_COLORS[parts[j] % len(PART_COLORS)] for j in joint], text


def _cube_scene(space: int, extra: dict | None = None) -> dict:
    ax = lambda t: dict(range=[0, space], title=t, showbackground=True, backgroundcolor="#f4f4f4")
    scene = dict(xaxis=ax("x"), yaxis=ax("y (up)"), zaxis=ax("z (depth)"), aspectmode="cube",
                 camera=dict(up=dict(x=0, y=1, z=0), eye=dict(x=0.4, y=0.5, z=-1.9)))
    scene.update(extra or {})
    return scene


def voxel_frames(st, layout: str | Layout = "ntu25", sample: int = 0, norm=None, frame_step: int = 1,
                 title: str | None = None, marker_size: int = 5) -> go.Figure:
    """One sample's voxels frame by frame (a plotly slider picks the frame; works in static HTML).

    st: the voxelized batch (coords (n, x, y, z, t)); voxels are drawn at their centres, coloured by
    the body part of their joint, hover lists the joints in the voxel (x2: two joints summed).
    norm: the :class:`~skelnb.spa.voxel.Normalized` of the same batch, to overlay the continuous
    skeleton (in grid units) on the voxels.
    """
    lay = get_layout(layout)
    coords, feats = _sample(st, sample)
    colors, text = _site_labels(feats, lay)
    colors, text = np.array(colors), np.array(text, dtype=object)
    space = st.spatial_shape[0]
    frames_t = [t for t in np.unique(coords[:, 4]) if t % frame_step == 0]

    def traces(t):
        rows = coords[:, 4] == t
        c = coords[rows, 1:4] + 0.5
        out = [go.Scatter3d(x=c[:, 0], y=c[:, 1], z=c[:, 2], mode="markers", text=text[rows].tolist(),
                            hovertemplate="%{text}<extra>voxel (%{x}, %{y}, %{z})</extra>", name="voxels",
                            marker=dict(symbol="square", size=marker_size, color=colors[rows].tolist(),
                                        line=dict(width=0)))]
        if norm is not None:
            g = norm.grid[sample, :, t].detach().cpu().numpy()              # (3, V, M)
            xs, ys, zs = [], [], []
            for m in range(g.shape[-1]):
                if norm.mask[sample, t, :, m].any():
                    seg = bone_segments(np.where(norm.mask[sample, t, :, m].cpu().numpy(), g[..., m], 0), lay.bones)
                    xs += seg[0]
                    ys += seg[1]
                    zs += seg[2]
            out.append(go.Scatter3d(x=xs, y=ys, z=zs, mode="lines", line=dict(color="#666", width=2),
                                    hoverinfo="skip", name="skeleton"))
        return out

    fig = go.Figure(data=traces(frames_t[0]), frames=[go.Frame(data=traces(t), name=str(t)) for t in frames_t])
    fig.update_layout(
        title=title, height=560, showlegend=False, margin=dict(l=0, r=0, t=40 if title else 10, b=0),
        scene=_cube_scene(space),
        sliders=[dict(active=0, currentvalue=dict(prefix="frame "), pad=dict(t=10, b=10),
                      steps=[dict(method="animate", label=str(t), args=[[str(t)], _STILL]) for t in frames_t])])
    return fig


def voxel_sequence(st, layout: str | Layout = "ntu25", sample: int = 0, title: str | None = None,
                   marker_size: int = 3) -> go.Figure:
    """All frames of one sample in one grid, coloured by time: the 4D tensor seen along t."""
    lay = get_layout(layout)
    coords, feats = _sample(st, sample)
    _, text = _site_labels(feats, lay)
    c = coords[:, 1:4] + 0.5
    fig = go.Figure(go.Scatter3d(
        x=c[:, 0], y=c[:, 1], z=c[:, 2], mode="markers", customdata=coords[:, 4], text=text,
        hovertemplate="%{text}<br>frame %{customdata}<extra></extra>",
        marker=dict(size=marker_size, color=coords[:, 4], colorscale="Viridis", opacity=0.8,
                    colorbar=dict(title="frame t", thickness=12))))
    fig.update_layout(title=title, height=520, margin=dict(l=0, r=0, t=40 if title else 10, b=0),
                      scene=_cube_scene(st.spatial_shape[0]))
    return fig


def rulebook_figure(in_coords, out_coords, rulebook, grid_shape, kernel_size=None,
                    title: str | None = None) -> go.Figure:
    """A 2D rulebook: active input sites (squares), output sites (rings) and, per kernel offset
    (slider; first step: all offsets), an arrow from every input j to the output i it feeds.

    in_coords / out_coords: (P, 3) (batch, x, y) of one sample; rulebook: a
    :class:`~skelnb.spa.sparse.Rulebook`, or a list over kernel offsets (row-major) of
    (input rows, output rows) pairs with ``kernel_size`` given.
    """
    ic, oc = np.asarray(in_coords)[:, 1:], np.asarray(out_coords)[:, 1:]
    if hasattr(rulebook, "pairs"):
        kernel_size = rulebook.kernel_size
        rulebook = [rulebook.pairs(o) for o in range(len(rulebook.counts))]
    K = tuple(kernel_size)
    offsets = [tuple(int(v) for v in o) for o in np.ndindex(*K)]
    H, W = grid_shape
    base = [
        go.Scatter(x=ic[:, 0], y=ic[:, 1], mode="markers+text", text=[str(i) for i in range(len(ic))],
                   textposition="middle center", textfont=dict(color="white", size=10), name="input sites",
                   marker=dict(symbol="square", size=22, color="#4c72b0"), hoverinfo="skip"),
        go.Scatter(x=oc[:, 0], y=oc[:, 1], mode="markers", name="output sites", hoverinfo="skip",
                   marker=dict(symbol="circle-open", size=30, color="#dd8452", line=dict(width=2))),
    ]
    arrows, counts = [], []
    palette = ["#c44e52", "#55a868", "#8172b3", "#937860", "#da8bc3", "#8c8c8c", "#ccb974", "#64b5cd", "#4c72b0"]
    for o in range(len(offsets)):
        i_idx, o_idx = (np.asarray(t) for t in rulebook[o])
        xs, ys, sizes, angles = [], [], [], []
        for i, j in zip(i_idx, o_idx):
            a, b = ic[i].astype(float), oc[j].astype(float)
            if np.array_equal(a, b):                                    # the centre tap: a tick above the site
                xs += [a[0] - 0.25, a[0] + 0.25, None]
                ys += [a[1] + 0.36, a[1] + 0.36, None]
                sizes += [0, 0, 0]
                angles += [0, 0, 0]
            else:
                d = (b - a) / np.linalg.norm(b - a)
                xs += [a[0] + 0.3 * d[0], b[0] - 0.38 * d[0], None]
                ys += [a[1] + 0.3 * d[1], b[1] - 0.38 * d[1], None]
                sizes += [0, 10, 0]
                angles += [0, float(np.degrees(np.arctan2(d[0], d[1]))), 0]
        counts.append(len(i_idx))
        arrows.append(go.Scatter(x=xs, y=ys, mode="lines+markers", name=f"offset {offsets[o]}",
                                 line=dict(color=palette[o % len(palette)], width=2),
                                 marker=dict(symbol="triangle-up", size=sizes, angle=angles,
                                             color=palette[o % len(palette)]),
                                 hoverinfo="name", visible=True))
    n_base = len(base)
    steps = [dict(method="update", label="all",
                  args=[{"visible": [True] * (n_base + len(arrows))},
                        {"title.text": (title or "rulebook") + f": {sum(counts)} pairs"}])]
    for o, off in enumerate(offsets):
        vis = [True] * n_base + [k == o for k in range(len(arrows))]
        steps.append(dict(method="update", label=str(off),
                          args=[{"visible": vis},
                                {"title.text": f"kernel offset {off}: {counts[o]} pair(s) (input -> output)"}]))
    fig = go.Figure(base + arrows)
    fig.update_layout(
        title=(title or "rulebook") + f": {sum(counts)} pairs", height=520, showlegend=False,
        xaxis=dict(range=[-0.6, W - 0.4], dtick=1, title="x", showgrid=True, zeroline=False),
        yaxis=dict(range=[-0.6, H - 0.4], dtick=1, title="y", showgrid=True, zeroline=False, scaleanchor="x"),
        margin=dict(l=40, r=10, t=50, b=10), plot_bgcolor="white",
        sliders=[dict(active=0, currentvalue=dict(prefix="offset "), pad=dict(t=40), steps=steps)])
    fig.update_xaxes(gridcolor="#ddd")
    fig.update_yaxes(gridcolor="#ddd")
    return fig


def activation_figure(st, sample: int = 0, frames=None, title: str | None = None, max_size: int = 14) -> go.Figure:
    """Fig. 7c: one sample's sparse activations in the grid, marker size = activation magnitude
    (L2 norm of the site's features); a slider picks the frame (coordinate t of that stage's grid)."""
    coords, feats = _sample(st, sample)
    mag = np.linalg.norm(feats, axis=1)
    size = 2 + max_size * mag / max(mag.max(), 1e-12)
    frames_t = list(np.unique(coords[:, 4])) if frames is None else list(frames)

    def traces(t):
        rows = coords[:, 4] == t
        c = coords[rows, 1:4] + 0.5
        return [go.Scatter3d(x=c[:, 0], y=c[:, 1], z=c[:, 2], mode="markers", customdata=mag[rows],
                             hovertemplate="|f| = %{customdata:.3f}<extra></extra>",
                             marker=dict(size=size[rows], color=mag[rows], colorscale="Oranges", cmin=0,
                                         cmax=float(mag.max()), opacity=0.85))]

    fig = go.Figure(data=traces(frames_t[0]), frames=[go.Frame(data=traces(t), name=str(t)) for t in frames_t])
    fig.update_layout(title=title, height=520, showlegend=False, margin=dict(l=0, r=0, t=40 if title else 10, b=0),
                      scene=_cube_scene(st.spatial_shape[0]),
                      sliders=[dict(active=0, currentvalue=dict(prefix="frame "), pad=dict(t=10, b=10),
                                    steps=[dict(method="animate", label=str(t), args=[[str(t)], _STILL])
                                           for t in frames_t])])
    return fig

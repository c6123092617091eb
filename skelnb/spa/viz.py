"""Plotly figures for the spatial perspective: voxels, rulebooks, activations (Fig. 7c).

Every figure works in the static book: choices are plotly sliders/menus (no kernel needed).
Import :mod:`skelnb.viz` first in a chapter (it registers the offline renderer).
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from ..data.layouts import Layout, get_layout
from ..viz import PART_COLORS, bone_segments, fitted_scene, skeleton_traces

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
                    seg = bone_segments(g[..., m], lay.bones, norm.mask[sample, t, :, m].cpu().numpy())
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


ACTIVATION_COLORS = "Viridis_r"      # sequential, apart from the body-part colours of the skeleton


def activation_figure(acts, norm=None, layout: str | Layout = "ntu25", sample: int = 0, *, title: str | None = None,
                      stage_labels=None, max_size: float = 40, height: int = 640) -> go.Figure:
    """Fig. 7c: one sample's sparse activations as circles on the skeleton of the frame.

    ``acts``: one stage's output (a SparseTensor, coords (n, x, y, z, t)) or a list of them, e.g.
    ``SPANet.activations``: a dropdown picks the stage (labels ``stage_labels``, default "stage
    1", ... with the grid). ``norm``: the :class:`~skelnb.spa.voxel.Normalized` of the same
    batch, to draw the skeleton (bones coloured by body part, every person) in the input grid's
    coordinates; every site is drawn at its centre in those coordinates too (a site of a stage
    with a grid c times coarser spans c input voxels per axis), so all stages share one scene.
    A slider picks the input frame (labels: its number; without ``norm``, the frame t of the
    finest grid given); each stage shows the frame of its grid that covers it. Circle area and
    colour: |f| / mean |f| (the L2 norm of the site's features over the mean of all sites of
    that stage and sample: 1 = an average site), on the stage's own scale (colour bar, 0 to the
    stage's largest); diameters grow with the site's extent, at most ``max_size`` px.
    Built in book/12_sparse_activations.ipynb.
    """
    lay = get_layout(layout)
    stages = list(acts) if isinstance(acts, (list, tuple)) else [acts]
    labels = list(stage_labels) if stage_labels is not None else (
        [f"stage {i + 1}, grid {tuple(a.spatial_shape)}" for i, a in enumerate(stages)] if len(stages) > 1
        else [f"grid {tuple(stages[0].spatial_shape)}"])
    if len(labels) != len(stages):
        raise ValueError(f"activation_figure: {len(labels)} stage_labels for {len(stages)} stages")
    space = norm.space if norm is not None else max(a.spatial_shape[0] for a in stages)
    T_in = norm.grid.shape[2] if norm is not None else max(a.spatial_shape[-1] for a in stages)
    data = []                                                   # per stage: centres (P, 3), t (P,), rel (P,), cell
    for a in stages:
        coords, feats = _sample(a, sample)
        cell = space / a.spatial_shape[0]                       # input voxels per site, along each axis
        mag = np.linalg.norm(feats, axis=1)
        rel = mag / max(mag.mean(), 1e-12)
        data.append(((coords[:, 1:4] + 0.5) * cell, coords[:, 4], rel, cell, a.spatial_shape[-1]))

    if norm is not None:
        g = norm.grid[sample].detach().cpu().numpy()            # (3, T, V, M) input grid units
        ok = norm.mask[sample].cpu().numpy()                    # (T, V, M)
        persons = [m for m in range(g.shape[-1]) if ok[..., m].any()]
        pts = [g[:, ok]]                                        # (3, K) every valid joint of every frame
    else:
        persons, pts = [], []
    lo = np.min([c.min(0) - d / 2 for c, _, _, d, _ in data] + [p.min(1) for p in pts], axis=0)
    hi = np.max([c.max(0) + d / 2 for c, _, _, d, _ in data] + [p.max(1) for p in pts], axis=0)
    scene = fitted_scene(np.stack([lo, hi], axis=1), pad=0.03 * (hi - lo).max(), eye=dict(x=0.9, y=0.5, z=-1.4),
                         titles=("x (input voxels)", "y (up)", "z (depth)"))
    scene.update({f"{k}axis": dict(scene[f"{k}axis"], showticklabels=False, backgroundcolor="#f6f6f6") for k in "xyz"})
    px = 440 / (hi - lo).max()                                  # ~ pixels per input voxel in the scene
    bar = dict(title=dict(text="|f| / mean |f| (1 = average site)", side="right"), thickness=14, len=0.75)

    def traces(i, initial=False):
        out = []
        if norm is not None:
            t = min(T_in - 1, i)
            for k, m in enumerate(persons):
                out += skeleton_traces(np.round(g[:, t, :, m], 2), lay, present=ok[t, :, m], width=6, size=3,
                                       showlegend=k == 0)
        for li, (c, ts, rel, cell, T_l) in enumerate(data):
            rows = ts == min(T_l - 1, i * T_l // n_frames)
            cmax = float(rel.max())
            size = np.maximum(3, np.minimum(1.5 * px * cell, max_size) * np.sqrt(rel[rows] / cmax))  # area ~ |f|
            out.append(go.Scatter3d(
                x=c[rows, 0], y=c[rows, 1], z=c[rows, 2], mode="markers", name=labels[li],
                **(dict(visible=li == 0) if initial else {}), customdata=np.round(rel[rows], 3),
                hovertemplate="|f| / mean = %{customdata:.2f}<extra>" + labels[li] + "</extra>",
                marker=dict(size=np.round(size, 1), color=np.round(rel[rows], 3), colorscale=ACTIVATION_COLORS,
                            cmin=0, cmax=cmax, opacity=0.7, line=dict(width=0), showscale=True, colorbar=bar),
                showlegend=False))
        return out

    n_frames = T_in if norm is not None else max(T_l for *_, T_l in data)
    n_skel = len(traces(0)) - len(data)
    fig = go.Figure(data=traces(0, initial=True),
                    frames=[go.Frame(data=traces(i), name=str(i)) for i in range(n_frames)] if n_frames > 1 else None)
    note = ("circles: the active sites of the stage in this frame, size and colour |f| / mean |f|"
            + ("; lines: the skeleton, in the input grid" if norm is not None else ""))
    fig.update_layout(
        title=dict(text=title, x=0.01, y=0.98, yanchor="top"), height=height, scene=scene,
        margin=dict(l=0, r=0, t=115 if len(stages) > 1 else 60, b=80 if n_frames > 1 else 0),
        legend=dict(title=dict(text="bones"), x=0.0, y=0.5, yanchor="middle", bgcolor="rgba(0,0,0,0)"),
        annotations=[dict(text=note, showarrow=False, x=0, xanchor="left", y=1.0, yanchor="bottom",
                          xref="paper", yref="paper", font=dict(size=11, color="#555"))])
    if n_frames > 1:
        fig.update_layout(sliders=[dict(active=0, currentvalue=dict(prefix="frame "), x=0.05, len=0.9, y=0,
                                        pad=dict(t=10, b=10),
                                        steps=[dict(method="animate", label=str(i), args=[[str(i)], _STILL])
                                               for i in range(n_frames)])])
    if len(stages) > 1:
        buttons = [dict(label=lab, method="restyle",
                        args=[{"visible": [True] * n_skel + [j == i for j in range(len(stages))]}])
                   for i, lab in enumerate(labels)]
        fig.update_layout(updatemenus=[dict(type="dropdown", x=0, y=1.08, xanchor="left", yanchor="bottom",
                                            pad=dict(b=6), showactive=True, buttons=buttons)])
    return fig

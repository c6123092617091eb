"""Figures for the SEM-Net chapters: attention maps as joint-by-joint heatmaps, the strongest
attention pairs as lines on the 3D skeleton, and temporal receptive fields as heat strips.

Every control is a static plotly dropdown or slider, so the figures work in the built book
without a kernel. Weights follow :meth:`skelnb.sem.GRCFSA.weights`: ``w[u, v]`` is how much
joint u (the output, the row) takes from joint v (the input, the column); rows sum to 1.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go

from ..data.layouts import Layout, get_layout
from ..viz import fitted_scene, present_joints, skeleton_traces


def _as_numpy(a) -> np.ndarray:
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    return np.asarray(a, dtype=float)


def _flatten(weights, prefix=""):
    """{label: array or {label: ...}} -> [(label, array)], nested labels joined by " / "."""
    if not isinstance(weights, Mapping):
        return [(prefix, weights)]
    out = []
    for k, v in weights.items():
        out += _flatten(v, f"{prefix} / {k}" if prefix else str(k))
    return out


def _labelled(weights, V: int, what: str, allow_frames: bool) -> dict[str, np.ndarray]:
    """(V, V) / (T, V, V) array or {label: array}, possibly nested ({block: {head: array}}), ->
    {label: (V, V) or (T, V, V) float array}."""
    out = {}
    for label, w in _flatten(weights):
        w = _as_numpy(w)
        ok = w.ndim == 2 or (allow_frames and w.ndim == 3)
        if not ok or w.shape[-2:] != (V, V):
            want = "(V, V) or per-frame (T, V, V)" if allow_frames else "(V, V)"
            raise ValueError(f"{what}: weights{f' {label!r}' if label else ''} must be {want} with V={V} "
                             f"joints of the layout, got shape {w.shape}")
        if not np.isfinite(w).all():
            raise ValueError(f"{what}: weights{f' {label!r}' if label else ''} contain NaN or inf")
        out[str(label)] = w
    if not out:
        raise ValueError(f"{what}: no weights given")
    return out


def _dropdown(labels, visible_of, x=0.0, y=1.0) -> dict:
    """A dropdown (top left, under the title) whose button ``i`` shows the traces ``visible_of(i)``."""
    return dict(type="dropdown", x=x, y=y, xanchor="left", yanchor="bottom", pad=dict(b=6), showactive=True,
                buttons=[dict(label=lab, method="restyle", args=[{"visible": visible_of(i)}])
                         for i, lab in enumerate(labels)])


# ----------------------------------------------------------------------------- heatmaps
def attention_heatmap(weights, layout: str | Layout, *, title: str | None = None, colorscale: str = "Viridis",
                      zmid: float | None = None, zmin: float | None = None, zmax: float | None = None,
                      colorbar_title: str = "weight", height: int = 640) -> go.Figure:
    """Joint-by-joint heatmap(s): row = the joint that attends (output u), column = the joint it
    takes from (input v); joint names on both axes.

    ``weights``: a (V, V) array/tensor or {label: (V, V)} (nested dicts: labels joined by " / ");
    with several labels a static dropdown picks one. ``zmid`` centres a diverging colour scale
    (e.g. 0 for centred logits, with ``colorscale="RdBu_r"``); ``zmin``/``zmax`` fix the range
    (default: each map its own).
    """
    lay = get_layout(layout)
    names = list(lay.joints)
    maps = _labelled(weights, lay.num_joints, "attention_heatmap", allow_frames=False)
    labels = list(maps)
    fig = go.Figure()
    for i, (label, w) in enumerate(maps.items()):
        hover = "%{y} attends to %{x}: %{z:.4f}<extra>" + (label or "") + "</extra>"
        fig.add_trace(go.Heatmap(z=np.round(w, 5), x=names, y=names, colorscale=colorscale, zmid=zmid,
                                 zmin=zmin, zmax=zmax, visible=i == 0, name=label, hovertemplate=hover,
                                 colorbar=dict(title=dict(text=colorbar_title))))
    fig.update_layout(title=dict(text=title, x=0.01, y=0.98, yanchor="top"), height=height,
                      margin=dict(l=10, r=10, t=100 if len(labels) > 1 else 50, b=10),
                      xaxis=dict(title="input joint v (attended to)", tickangle=-60, tickfont=dict(size=9)),
                      yaxis=dict(title="output joint u (attends)", autorange="reversed", tickfont=dict(size=9),
                                 scaleanchor="x"))
    if len(labels) > 1:
        fig.update_layout(updatemenus=[_dropdown(labels, lambda i: [j == i for j in range(len(labels))])])
    return fig


# ----------------------------------------------------------------------------- lines on the skeleton
LINE_COLORS = [[0, "#b0b0b0"], [1, "#000000"]]    # light grey (weak) to black (strong): apart from PART_COLORS
def _pose_frames(pose, V: int, person: int) -> tuple[np.ndarray, np.ndarray]:
    """(3, V) / (3, T, V) / (3, T, V, M) -> (T', 3, V) float array of the non-padding frames
    (T' = 1 for a single pose) and the (T,) mask of those frames."""
    P = _as_numpy(pose)
    if P.ndim == 4:
        if not 0 <= person < P.shape[3]:
            raise ValueError(f"attention_lines_figure: person={person} but the sequence has M={P.shape[3]}")
        P = P[..., person]
    if P.ndim == 2:
        P = P[:, None]
    if P.ndim != 3 or P.shape[0] != 3 or P.shape[2] != V:
        raise ValueError(f"attention_lines_figure: pose must be (3, V), (3, T, V) or (3, T, V, M) with V={V} "
                         f"joints of the layout, got shape {_as_numpy(pose).shape}")
    keep = np.abs(P).sum(axis=(0, 2)) > 0                              # drop all-zero (padding) frames
    if not keep.any():
        raise ValueError("attention_lines_figure: the pose is all zeros")
    return P[:, keep].transpose(1, 0, 2), keep


def top_pairs(w: np.ndarray, top_k: int, present: np.ndarray | None = None) -> list[tuple[int, int, float, float]]:
    """The ``top_k`` strongest joint pairs {u, v}, u != v, of a (V, V) weight map, ranked by
    max(w[u, v], w[v, u]): a list of (u, v, w[u, v], w[v, u]), strongest first. Joints with
    ``present[j]`` False (dropped) are left out; ties are broken by joint index (deterministic)."""
    V = w.shape[0]
    u, v = np.triu_indices(V, k=1)
    score = np.maximum(w[u, v], w[v, u])
    if present is not None:
        score = np.where(present[u] & present[v], score, -np.inf)
    order = np.lexsort((v, u, -score))[:top_k]
    return [(int(u[i]), int(v[i]), float(w[u[i], v[i]]), float(w[v[i], u[i]]))
            for i in order if np.isfinite(score[i])]


def attention_lines_figure(pose, layout: str | Layout, weights, top_k: int = 20, *, title: str | None = None,
                           person: int = 0, frame_numbers=None, n_widths: int = 4, colorscale=LINE_COLORS,
                           height: int = 640) -> go.Figure:
    """The ``top_k`` strongest attention pairs of every map drawn as lines between the joints of
    the 3D skeleton (bones coloured by body part).

    ``pose``: one pose (3, V) or a sequence (3, T, V) / (3, T, V, M) (person ``person`` is drawn;
    all-zero padding frames are skipped); ``frame_numbers``: the clip's frame number of each of
    the T pose frames (default 0..T-1), the labels of the frame slider. ``weights``: a (V, V)
    map, a per-frame (T_w, V, V) stack, or {label: either}, also nested ({"block 2": {"head 1":
    ...}} is labelled "block 2 / head 1"), e.g. from ``SEMNet.attention_maps``; a static
    dropdown picks the label and, when the pose is a sequence or some weights are per frame, a
    slider picks the frame (the slider moves the data, the dropdown the visibility). Frames are
    matched by relative position, so per-frame weights of a strided block (T_w < T) follow the pose.

    A pair {u, v} is ranked by max(w[u, v], w[v, u]) and drawn with the weight relative to
    uniform, V * max(w[u, v], w[v, u]) (1 = every joint weighted 1/V): colour and width (in
    ``n_widths`` bands of equal value range) grow with it on each label's own scale (its
    smallest to its largest drawn value over all frames), so every block and head shows its
    own contrast; the colour bar gives the values. The hover at the middle of a line gives
    both directions. Built in book/07_attention_on_skeleton.ipynb.
    """
    lay = get_layout(layout)
    V, names = lay.num_joints, list(lay.joints)
    if not isinstance(top_k, (int, np.integer)) or top_k < 1:
        raise ValueError(f"attention_lines_figure: top_k must be a positive int, got {top_k!r}")
    maps = _labelled(weights, V, "attention_lines_figure", allow_frames=True)
    poses, kept = _pose_frames(pose, V, person)                           # (T', 3, V), (T,) mask
    numbers = np.arange(len(kept)) if frame_numbers is None else np.asarray(frame_numbers).ravel()
    if len(numbers) != len(kept):
        raise ValueError(f"attention_lines_figure: frame_numbers has {len(numbers)} entries, "
                         f"the pose has {len(kept)} frames")
    numbers = [int(f) for f in numbers[kept]]
    per_frame = [w.shape[0] for w in maps.values() if w.ndim == 3]
    n_frames = max(per_frame) if per_frame else poses.shape[0]
    labels = list(maps)

    def at(n: int, i: int) -> int:                                          # frame i of n_frames -> of n
        return min(n - 1, i * n // n_frames)

    def frame_pairs(i):
        P = poses[at(len(poses), i)]
        present = present_joints(P)
        return P, {lab: top_pairs(w[at(w.shape[0], i)] if w.ndim == 3 else w, top_k, present)
                   for lab, w in maps.items()}

    frames = [frame_pairs(i) for i in range(n_frames)]
    scale = {}                                                              # label -> (lo, hi) of V * weight
    for lab in labels:
        r = [V * max(a, b) for _, fp in frames for _, _, a, b in fp[lab]] or [1.0]
        lo, hi = min(r), max(r)
        scale[lab] = (lo, hi if hi > lo else lo + 1e-6)
    widths = np.linspace(2, 10, n_widths)
    bar = dict(title=dict(text="V·w (1 = uniform)", side="right"), thickness=14, len=0.75)

    def traces(i, initial=False):
        # animation frames carry no 'visible', so the dropdown's choice survives the slider
        vis = (lambda li: dict(visible=li == 0)) if initial else (lambda li: {})
        P, fp = frames[i]
        P = np.round(P, 3)                                                  # mm: keeps the figure JSON small
        out = skeleton_traces(P, lay, width=8, size=4.5)
        for li, lab in enumerate(labels):
            lo, hi = scale[lab]
            pairs = fp[lab]
            rel = np.array([V * max(a, c) for _, _, a, c in pairs])
            band = np.minimum(((rel - lo) / (hi - lo) * n_widths).astype(int), n_widths - 1)
            for b in range(n_widths):
                xs, ys, zs, cs = [], [], [], []
                for k in np.flatnonzero(band == b):
                    u, v = pairs[k][:2]
                    for arr, d in ((xs, 0), (ys, 1), (zs, 2)):
                        arr += [P[d, u], P[d, v], None]
                    cs += [round(float(rel[k]), 5)] * 3
                out.append(go.Scatter3d(x=xs, y=ys, z=zs, mode="lines", hoverinfo="skip", showlegend=False,
                                        name=f"{lab} band {b}", **vis(li),
                                        line=dict(width=float(widths[b]), color=cs or [lo], colorscale=colorscale,
                                                  cmin=lo, cmax=hi)))
            mid = np.array([(P[:, u] + P[:, v]) / 2 for u, v, _, _ in pairs]).reshape(-1, 3).T
            text = [f"{names[u]} → {names[v]}: {a:.4f} ({V * a:.3f} × uniform)<br>"
                    f"{names[v]} → {names[u]}: {c:.4f} ({V * c:.3f} × uniform)" for u, v, a, c in pairs]
            out.append(go.Scatter3d(x=mid[0], y=mid[1], z=mid[2], mode="markers", **vis(li), text=text,
                                    marker=dict(size=3, color=np.round(rel, 5), colorscale=colorscale, cmin=lo,
                                                cmax=hi, showscale=True, colorbar=bar),
                                    showlegend=False, name=f"{lab} hover",
                                    hovertemplate="%{text}<extra>" + (lab or "") + "</extra>"))
        return out

    n_skel = len(skeleton_traces(poses[0], lay))
    per_label = n_widths + 1
    fig = go.Figure(data=traces(0, initial=True))
    scene = fitted_scene(poses.transpose(1, 0, 2).reshape(3, -1), pad=0.08,
                         eye=dict(x=0.9, y=0.5, z=-1.4))                   # in front, a little from the side, above
    scene.update({f"{a}axis": dict(scene[f"{a}axis"], showticklabels=False, backgroundcolor="#f6f6f6")
                  for a in "xyz"})
    note = (f"lines: the {top_k} strongest pairs {{u, v}} of the map; width and colour: "
            "V·max(w<sub>uv</sub>, w<sub>vu</sub>), the weight relative to uniform (1/V)")
    fig.update_layout(title=dict(text=title, x=0.01, y=0.98, yanchor="top"), height=height, scene=scene,
                      margin=dict(l=0, r=0, t=115 if len(labels) > 1 else 60, b=80 if n_frames > 1 else 0),
                      legend=dict(title=dict(text="bones"), x=0.0, y=0.5, yanchor="middle", bgcolor="rgba(0,0,0,0)"),
                      annotations=[dict(text=note, showarrow=False, x=0, xanchor="left",
                                        y=1.0, yanchor="bottom", xref="paper", yref="paper",
                                        font=dict(size=11, color="#555"))])
    menus = []
    if len(labels) > 1:
        menus.append(_dropdown(labels, lambda i: [True] * n_skel + [j // per_label == i
                                                                    for j in range(per_label * len(labels))],
                               y=1.08))
    if n_frames > 1:
        fig.frames = [go.Frame(data=traces(i), name=str(i)) for i in range(n_frames)]
        still = dict(mode="immediate", frame=dict(duration=0, redraw=True), transition=dict(duration=0))
        steps = [dict(method="animate", label=str(numbers[at(len(numbers), i)]), args=[[str(i)], still])
                 for i in range(n_frames)]
        fig.update_layout(sliders=[dict(active=0, currentvalue=dict(prefix="frame "), x=0.05, len=0.9, y=0,
                                        pad=dict(t=10, b=10), steps=steps)])
    if menus:
        fig.update_layout(updatemenus=menus)
    return fig


# ----------------------------------------------------------------------------- receptive fields
def receptive_field_figure(strips: Mapping[str, np.ndarray], offsets, *, title: str | None = None,
                           colorscale: str = "Blues", height: int | None = None) -> go.Figure:
    """Heat strips: for every row label, how strongly each input frame (``offsets``, relative to
    the output frame) reaches one output frame, e.g. |d y_t0 / d x_{t0 + offset}| per branch.
    Each strip is normalised to its maximum; zeros (frames that do not reach) stay white."""
    offsets = np.asarray(offsets)
    rows, z = [], []
    for label, s in strips.items():
        s = np.abs(_as_numpy(s))
        if s.shape != offsets.shape:
            raise ValueError(f"receptive_field_figure: strip {label!r} has shape {s.shape}, "
                             f"expected one value per offset {offsets.shape}")
        rows.append(label)
        z.append(s / s.max() if s.max() > 0 else s)
    z = np.array(z)
    fig = go.Figure(go.Heatmap(z=np.where(z > 0, np.round(z, 4), np.nan), x=offsets, y=rows,
                               colorscale=colorscale, zmin=0, zmax=1, xgap=1 if len(offsets) <= 64 else 0, ygap=2,
                               colorbar=dict(title="relative |gradient|"),
                               hovertemplate="%{y}<br>input frame t0%{x:+d}: %{z:.3f}<extra></extra>"))
    fig.update_layout(title=title, height=height or 120 + 28 * len(rows), margin=dict(l=10, r=10, t=50, b=40),
                      xaxis=dict(title="input frame relative to the output frame", zeroline=False,
                                 dtick=1 if len(offsets) <= 32 else None),
                      yaxis=dict(autorange="reversed"), plot_bgcolor="white")
    return fig

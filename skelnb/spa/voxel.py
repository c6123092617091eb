"""Skeletons as sparse voxels (Eq. 8): integer coordinates R = (x, y, z, t), one-hot features F.

``voxelize(x, space=64)`` turns a batch of sequences (N, 3, T, V, M) into one
:class:`~skelnb.spa.sparse.SparseTensor` with coordinates (n, x, y, z, t) on a grid
(s, s, s, T) and one feature channel per joint. Every step is a tensor operation over all
points of the batch (no Python loop over points or samples).

Normalisation (per sample, fixed aspect). The paper normalises the coordinates "into the range
of zero to the space size". Here each sample's bounding box over *all* its frames and persons
is scaled by one factor for the three axes (isotropic: the body is not stretched) so that its
longest side spans the s voxels, and the two shorter sides are centred in the cube (a two-person
sample puts both people in one space, each then smaller). The voxel of
a point is ``floor(g)`` with g = (p - lo) * s / extent + centring offset, in [0, s); the upper
face (g = s) is put in voxel s - 1. :func:`normalize` returns g and the map back to metres
(:meth:`Normalized.to_metres`), so a voxel's centre lies within half a voxel of the point on
every axis. ``bounds=(lo, hi)`` uses one fixed box for every sample instead (points outside are
an error, or clipped with ``clip=True``).

What is skipped: missing joints (all three coordinates exactly zero, the Kinect/NTU convention
and what :mod:`skelnb.data` keeps for dropped joints and zero-padded frames and persons), so
padding frames and absent second persons produce no points. (A present joint that sits exactly
at the origin -- the centre joint of the first frame after ``center_on_joint`` -- is then
skipped too: one point per sample at most.)

Options (the paper gives every point a one-hot and says nothing more):

* ``collisions``, joints that share a voxel (same sample and frame): ``'sum'`` (default) adds their one-hot
  vectors (multi-hot counts, no joint lost); ``'max'`` (the authors' ``coor_to_sparse``, SPA-Net's
  paper-size default) keeps every joint as a 0/1 multi-hot, counting none twice; ``'first'`` keeps one joint
  per voxel (lowest person, then joint index) and drops the others -- the paper's "loss of information".
* ``persons``: ``'shared'`` (this function's and ``SPANet.quick``'s default; SPA-Net's paper size follows
  the authors' ``'separate'``): the one-hot is over the V joints whatever the person (C = V), independent of
  the order in which the sensor lists the bodies; ``'separate'`` uses V x M channels.
* ``bone_points``: none by default (the paper's N is "the number of the joints"); ``n`` adds n evenly spaced
  points per bone whose features interpolate the one-hots of the bone's two joints ((1-a) e_child +
  a e_parent at fraction a), so channels stay V.

Built in book/09_voxels.ipynb, which measures each option and the cost of voxelizing.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..data.layouts import Layout, get_layout
from .sparse import SparseTensor, delinearize, linearize

PERSONS = ("shared", "separate")
COLLISIONS = ("sum", "max", "first")


# ============================================================================ input checks
def as_batch(x, name: str = "voxelize") -> torch.Tensor:
    """(N, 3, T, V, M) or one sequence (3, T, V, M) as a float tensor (N, 3, T, V, M); bad input -> ValueError."""
    if isinstance(x, np.ndarray):
        if not np.issubdtype(x.dtype, np.number):
            raise ValueError(f"{name}: expected numeric coordinates, got dtype {x.dtype}")
        x = torch.from_numpy(np.ascontiguousarray(x))
    if not torch.is_tensor(x):
        raise ValueError(f"{name}: expected a tensor or array (N, 3, T, V, M), got {type(x).__name__}")
    if x.ndim == 4:
        x = x[None]
    if x.ndim != 5:
        raise ValueError(f"{name}: expected (N, C=3, T, V, M) or (3, T, V, M), got shape {tuple(x.shape)}")
    if x.shape[1] != 3:
        raise ValueError(f"{name}: expected C=3 coordinates (x, y, z) on axis 1, got shape {tuple(x.shape)}")
    if x.numel() == 0:
        raise ValueError(f"{name}: empty input of shape {tuple(x.shape)}")
    if not x.dtype.is_floating_point:
        x = x.float()
    bad = ~torch.isfinite(x)
    if bad.any():
        n, c, t, v, m = (int(i) for i in bad.nonzero()[0])
        kind = "NaN" if torch.isnan(x).any() else "inf"
        raise ValueError(f"{name}: {int(bad.sum())} non-finite coordinate(s) ({kind}), first at sample {n}, "
                         f"coordinate {'xyz'[c]}, frame {t}, joint {v}, person {m}")
    return x


def valid_mask(x: torch.Tensor) -> torch.Tensor:
    """(N, T, V, M): the joint is present (not all three coordinates zero)."""
    return (x != 0).any(dim=1)


# ============================================================================ normalisation
@dataclass
class Normalized:
    """Grid coordinates g (N, 3, T, V, M) in [0, s] (floor -> voxel), the valid mask (N, T, V, M),
    and the per-sample affine map g = (p - lo) * scale + offset."""
    grid: torch.Tensor
    mask: torch.Tensor
    lo: torch.Tensor        # (N, 3) metres
    scale: torch.Tensor     # (N,) voxels per metre
    offset: torch.Tensor    # (N, 3) voxels (centring of the shorter axes)
    space: int

    def voxels(self) -> torch.Tensor:
        """(N, 3, T, V, M) integer voxel of every point (invalid points: meaningless)."""
        return self.grid.floor().clamp(0, self.space - 1).long()

    def to_metres(self, g: torch.Tensor, sample) -> torch.Tensor:
        """Grid coordinates (..., 3) of samples ``sample`` (broadcastable index) back to metres."""
        sample = torch.as_tensor(sample, device=g.device)
        return (g - self.offset[sample]) / self.scale[sample, None] + self.lo[sample]


def normalize(x, space: int = 64, *, mask: torch.Tensor | None = None, bounds=None, clip: bool = False) -> Normalized:
    """Map each sample's points into [0, space] with one isotropic scale (see the module doc); book/09_voxels.ipynb.

    bounds: None (per-sample bounding box, the default) or ``(lo, hi)``, two 3-vectors in metres
    shared by all samples; with bounds, points outside are a ValueError unless ``clip=True``.
    """
    x = as_batch(x, "normalize")
    if not isinstance(space, (int, np.integer)) or space < 1:
        raise ValueError(f"normalize: space must be a positive integer, got {space!r}")
    N = x.shape[0]
    mask = valid_mask(x) if mask is None else mask.to(torch.bool)
    if mask.shape != (N,) + tuple(x.shape[2:]):
        raise ValueError(f"normalize: mask must be (N, T, V, M) = {(N,) + tuple(x.shape[2:])}, got {tuple(mask.shape)}")
    has = mask.flatten(1).any(1)
    if not has.all():
        empty = torch.nonzero(~has).flatten().tolist()
        raise ValueError(f"normalize: sample(s) {empty[:10]}{'...' if len(empty) > 10 else ''} have no joint "
                         f"(all coordinates zero); nothing to voxelize")
    pts = x.permute(0, 2, 3, 4, 1).reshape(N, -1, 3)                  # (N, P, 3)
    m = mask.reshape(N, -1, 1)
    inf = torch.tensor(float("inf"), dtype=x.dtype, device=x.device)
    if bounds is None:
        lo = torch.where(m, pts, inf).amin(1)
        hi = torch.where(m, pts, -inf).amax(1)
    else:
        lo_b, hi_b = (torch.as_tensor(b, dtype=x.dtype, device=x.device).reshape(3) for b in bounds)
        if not (hi_b > lo_b).all():
            raise ValueError(f"normalize: bounds need lo < hi on every axis, "
                             f"got lo={lo_b.tolist()}, hi={hi_b.tolist()}")
        out = m.squeeze(-1) & ((pts < lo_b) | (pts > hi_b)).any(-1)
        if out.any() and not clip:
            n = int(out.sum())
            worst = (torch.where(m, pts, lo_b).amin((0, 1)), torch.where(m, pts, hi_b).amax((0, 1)))
            raise ValueError(f"normalize: {n} point(s) outside bounds lo={lo_b.tolist()}, hi={hi_b.tolist()} "
                             f"(data spans {worst[0].tolist()} .. {worst[1].tolist()}); widen bounds or clip=True")
        lo, hi = lo_b.expand(N, 3), hi_b.expand(N, 3)
    ext = (hi - lo)                                                   # (N, 3)
    longest = ext.amax(1).clamp(min=1e-6)                             # a single point: any scale
    scale = space / longest                                           # (N,)
    offset = (space - ext * scale[:, None]) / 2                       # centre the shorter axes
    g = (x - lo[:, :, None, None, None]) * scale[:, None, None, None, None] + offset[:, :, None, None, None]
    if bounds is not None and clip:
        g = g.clamp(0, space)
    return Normalized(g, mask, lo, scale, offset, int(space))


# ============================================================================ voxelize
def bone_point_weights(layout: Layout, n: int):
    """For ``n`` points per bone: (child, parent, a) tensors of length n * bones, point at
    (1 - a) child + a parent with a = 1/(n+1), ..., n/(n+1)."""
    bones = torch.tensor(layout.bones, dtype=torch.long).reshape(-1, 2)
    a = torch.arange(1, n + 1, dtype=torch.float32) / (n + 1)
    child = bones[:, 0].repeat_interleave(n)
    parent = bones[:, 1].repeat_interleave(n)
    return child, parent, a.repeat(len(bones))


def _with_bone_points(x, mask, layout, n):
    """Append n interpolated points per bone along V: x (N,3,T,V+nB,M), mask, and per-point
    (channel_a, channel_b, weight_b) so a point's feature is (1-w) e_a + w e_b."""
    V = x.shape[3]
    child, parent, a = (t.to(x.device) for t in bone_point_weights(layout, n))
    xa, xb = x[:, :, :, child], x[:, :, :, parent]
    w = a.to(x.dtype)[None, None, None, :, None]
    xb_pts = (1 - w) * xa + w * xb
    mb = mask[:, :, child] & mask[:, :, parent]
    ch_a = torch.cat([torch.arange(V, device=x.device), child])
    ch_b = torch.cat([torch.arange(V, device=x.device), parent])
    wb = torch.cat([torch.zeros(V, device=x.device, dtype=x.dtype), a.to(x.dtype)])
    return torch.cat([x, xb_pts], 3), torch.cat([mask, mb], 2), ch_a, ch_b, wb


@torch.no_grad()
def voxelize(x, space: int = 64, *, persons: str = "shared", collisions: str = "sum", bone_points: int = 0,
             layout: str | Layout = "ntu25", bounds=None, clip: bool = False, mask=None,
             device=None, num_persons: int | None = None) -> SparseTensor:
    """A batch of sequences (N, 3, T, V, M) -> sparse tensor: coords (n, x, y, z, t), grid (s, s, s, T).

    Features: one channel per joint (``persons='shared'``, C = V) or per joint and person
    (``'separate'``, C = V * ``num_persons``, default M; an input with fewer persons leaves the
    last channels empty), 1 at the joint's voxel; joints colliding in one voxel of one frame
    are summed (``collisions='sum'``), merged by an element-wise max (``'max'``: a multi-hot of
    0/1, the authors' ``coor_to_sparse``) or the first is kept (``'first'``). ``bone_points``:
    extra interpolated points per bone (see the module docstring). The returned tensor's sites are
    sorted by key (n, x, y, z, t). Built in book/09_voxels.ipynb.
    """
    if persons not in PERSONS:
        raise ValueError(f"voxelize: persons must be one of {PERSONS}, got {persons!r}")
    if collisions not in COLLISIONS:
        raise ValueError(f"voxelize: collisions must be one of {COLLISIONS}, got {collisions!r}")
    if not isinstance(bone_points, (int, np.integer)) or bone_points < 0:
        raise ValueError(f"voxelize: bone_points must be a non-negative integer, got {bone_points!r}")
    x = as_batch(x, "voxelize")
    if device is not None:
        x = x.to(device)
    lay = get_layout(layout)
    N, _, T, V, M = x.shape
    P = M if num_persons is None else int(num_persons)
    if persons == "separate" and M > P:
        raise ValueError(f"voxelize: persons='separate' with num_persons={P} channels groups, input has M={M}")
    if bone_points and V != lay.num_joints:
        raise ValueError(f"voxelize: layout {lay.name!r} has {lay.num_joints} joints, input has V={V}")
    mask = valid_mask(x) if mask is None else torch.as_tensor(mask, device=x.device).bool()
    if bone_points:
        x, mask, ch_a, ch_b, w_b = _with_bone_points(x, mask, lay, bone_points)
    else:
        ch_a = ch_b = torch.arange(V, device=x.device)
        w_b = torch.zeros(V, device=x.device, dtype=x.dtype)
    norm = normalize(x, space, mask=mask, bounds=bounds, clip=clip)
    vox = norm.voxels()                                               # (N, 3, T, Vp, M)

    n, t, v, m = mask.nonzero(as_tuple=True)                          # every valid point, in (n, t, v, m) order
    xyz = vox[n, :, t, v, m]                                          # (P, 3)
    coords = torch.stack([n, xyz[:, 0], xyz[:, 1], xyz[:, 2], t], 1)
    shape = (space, space, space, T)
    keys = linearize(coords, shape)
    uniq, inv = torch.unique(keys, return_inverse=True)               # one site per (n, x, y, z, t)
    C = V * (P if persons == "separate" else 1)
    person_shift = (m * V) if persons == "separate" else torch.zeros_like(m)
    ca, cb, wb = ch_a[v] + person_shift, ch_b[v] + person_shift, w_b[v]
    if collisions == "first":                                         # keep the first point of each voxel
        order = (m * x.shape[3] + v)                                  # person, then joint index
        first = torch.full((len(uniq),), torch.iinfo(torch.long).max, device=x.device)
        first = first.scatter_reduce(0, inv, order, "amin")
        keep = order == first[inv]
        inv, ca, cb, wb = inv[keep], ca[keep], cb[keep], wb[keep]
    feats = torch.zeros(len(uniq), C, dtype=torch.float32, device=x.device)
    if collisions == "max":                                           # element-wise max of the one-hots
        cols = torch.cat([inv * C + ca, inv * C + cb])
        vals = torch.cat([1 - wb, wb]).float()
        feats = feats.flatten().scatter_reduce(0, cols, vals, "amax", include_self=True).view(len(uniq), C)
    else:
        feats.index_put_((inv, ca), (1 - wb).float(), accumulate=True)
        feats.index_put_((inv, cb), wb.float(), accumulate=True)
    return SparseTensor(feats, delinearize(uniq, shape), shape, N, check=False)


# ============================================================================ measurements
@torch.no_grad()
def voxel_stats(x, space: int = 64, kernel: int = 5, *, layout: str | Layout = "ntu25", bone_points: int = 0) -> dict:
    """What voxelizing at ``space`` does to a batch (N, 3, T, V, M), per point and per site:

    points: valid joint points; sites: distinct active voxels (n, x, y, z, t);
    collision_rate: fraction of points sharing their voxel (same sample and frame) with another
    point; cross_person_rate: fraction of points whose voxel also holds a point of another
    person; occupancy: sites / (N * s^3 * T); sites_per_frame: mean sites per (sample, frame)
    with any point; bone_reach: fraction of bones (both ends present) whose two joints lie in one
    ``kernel``^3 window (Chebyshev distance <= kernel // 2, same frame); chain_reach: with
    ``bone_points``, the fraction of bones whose consecutive points (joint, bone points, joint)
    are all within that distance; temporal_link_rate: fraction of sites whose voxel is also
    active in the previous or next frame (all that a submanifold (1, 1, 1, 3) kernel can link).
    Used in book/09_voxels.ipynb.
    """
    x = as_batch(x, "voxel_stats")
    lay = get_layout(layout)
    N, _, T, V, M = x.shape
    mask = valid_mask(x)
    st = voxelize(x, space, layout=lay, bone_points=bone_points)
    if bone_points:
        xp, mp, *_ = _with_bone_points(x, mask, lay, bone_points)
    else:
        xp, mp = x, mask
    norm = normalize(xp, space, mask=mp)
    vox = norm.voxels()
    n, t, v, m = mp.nonzero(as_tuple=True)
    xyz = vox[n, :, t, v, m]
    keys = linearize(torch.stack([n, xyz[:, 0], xyz[:, 1], xyz[:, 2], t], 1), (space, space, space, T))
    uniq, inv, cnt = torch.unique(keys, return_inverse=True, return_counts=True)
    shared = cnt[inv] > 1
    # voxels holding points of more than one person
    pk = torch.unique(inv * M + m)
    persons_per_site = torch.bincount(torch.div(pk, M, rounding_mode="floor"), minlength=len(uniq))
    cross = persons_per_site[inv] > 1
    # bones within one kernel window (joints only, same frame)
    r = kernel // 2
    jv = norm.voxels()[:, :, :, :V]
    bones = torch.tensor(lay.bones, dtype=torch.long)
    both = mask[:, :, bones[:, 0]] & mask[:, :, bones[:, 1]]          # (N, T, B, M)
    dist = (jv[:, :, :, bones[:, 0]] - jv[:, :, :, bones[:, 1]]).abs().amax(1)  # (N, T, B, M)
    reach = float((dist[both] <= r).float().mean()) if both.any() else float("nan")
    # sites whose voxel is also active in the next or the previous frame (what a temporal kernel
    # (1, 1, 1, 3) can link on the submanifold)
    sk = st.keys()
    sorted_k = torch.sort(sk).values
    def present(q):
        pos = torch.searchsorted(sorted_k, q).clamp(max=len(sorted_k) - 1)
        return sorted_k[pos] == q
    tcol = st.coords[:, 4].long()
    nxt = present(sk + 1) & (tcol + 1 < T)
    prv = present(sk - 1) & (tcol > 0)
    out = dict(space=space, kernel=kernel, points=int(len(n)), sites=st.num_active,
               collision_rate=float(shared.float().mean()), cross_person_rate=float(cross.float().mean()),
               occupancy=st.num_active / (N * space ** 3 * T),
               sites_per_frame=st.num_active / max(1, int(mask.any(dim=(2, 3)).sum())),
               bone_reach=reach, temporal_link_rate=float((nxt | prv).float().mean()))
    if bone_points:
        child, parent, a = bone_point_weights(lay, bone_points)
        nb = len(lay.bones)
        chain = [torch.tensor([c for c, _ in lay.bones])]
        chain += [V + torch.arange(nb) * bone_points + i for i in range(bone_points)]
        chain += [torch.tensor([p for _, p in lay.bones])]
        steps = torch.stack([(vox[:, :, :, chain[i]] - vox[:, :, :, chain[i + 1]]).abs().amax(1)
                             for i in range(len(chain) - 1)]).amax(0)    # (N, T, B, M)
        out["chain_reach"] = float((steps[both] <= r).float().mean()) if both.any() else float("nan")
    return out


def collision_table(x, spaces=(16, 32, 64, 128), kernel: int = 5, **kw) -> list[dict]:
    """:func:`voxel_stats` for several space sizes (the measurement behind Table 5)."""
    return [voxel_stats(x, s, kernel, **kw) for s in spaces]

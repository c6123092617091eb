"""SPA-Net: the spatial-perspective stream (Sec. 3.2, Fig. 6) -- SPA-3+1D and SPA-4D.

    x (N, 3, T, V, M) --voxelize (inside forward, no gradient)--> sparse (n, x, y, z, t), C = V one-hot
      -> stem: submanifold conv (kernel k^3 x 1 for 3+1D, k^4 for 4D), BN, ReLU
      -> stages; before every stage but the first a sparse max-pool, kernel = stride = 2 in x, y, z, t
         each stage: SPA-blocks (below) at width C_i
      -> per-sample global pooling over the active sites (``readout``: mean, Fig. 2's GAP) -> FC

SPA-blocks (Fig. 6), all convolutions submanifold (the active sites never spread):

* ``kind='3+1d'`` (Fig. 6a): spatial conv (k, k, k, 1) -- a 3D conv on every frame --, BN, ReLU,
  then the multi-scale temporal conv: a 1x1 (per-site linear) split, BN, ReLU, B branches of
  (1, 1, 1, k_b) convs with temporal dilations d_b on C/B channels each (MS-TFF's layout, Fig. 4;
  ``temporal`` is a Table 2 row, default "d=(1,3,5,7)"), concatenated, BN; + residual; ReLU.
* ``kind='4d'`` (Fig. 6b): one 4D conv (k, k, k, k), BN; + residual; ReLU.

Residuals are identity where the width does not change, else a per-site linear map + BN.

Voxelization happens inside :meth:`SPANet.forward` on the model's device, so SPA-Net takes the same
(N, C, T, V, M) batches as the other nets and every data loader works unchanged; ``forward`` also accepts a
ready :class:`SparseTensor` (e.g. voxelized in a collate function).

Choices the paper leaves open (the supplement with the exact architecture is not public), the defaults:
s = 64, k = 5 (Table 5's best), 64 frames, widths (32, 64, 128, 128), four stages (grid 64^3 x 64 ->
32^3 x 32 -> 16^3 x 16 -> 8^3 x 8), ``blocks``: one SPA-block per stage (the paper says only "a stack of L
blocks"). Input and readout follow the authors' sparse pipeline (DSTA-Net's ``coor_to_sparse``) and Fig. 2:
``persons='separate'`` (one-hot over joints x persons, 50 channels), ``collisions='max'`` (joints sharing a
voxel merged by a max), ``readout='mean'`` (global average pooling). ``box``: one fixed voxelisation box for
every sample (metres, points outside clipped) instead of each sample's own; which one the authors used is not
known. ``SPANet.quick`` keeps shared person channels, summed collisions and mean+max (:data:`QUICK_INPUT`).
Why these sizes: book/11_spanet.ipynb.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
import torch.nn as nn

from ..data.layouts import Layout, get_layout
from ..errors import InputError
from ..sem.mstff import TABLE2, receptive_field, tff_config
from .sparse import (BACKENDS, SparseConv, SparseMaxPool, SparseTensor, global_pool, rulebook, set_backend,
                     sparse_layers)
from .voxel import COLLISIONS, PERSONS, voxelize

KINDS = ("3+1d", "4d")
READOUTS = ("mean", "max", "mean+max")
# SPANet.quick's input and readout (the book's small models); the paper size follows the authors (SPAConfig)
QUICK_INPUT = dict(persons="shared", collisions="sum", readout="mean+max")


@dataclass(frozen=True)
class SPAConfig:
    """Everything that defines a SPA-Net; ``SPAConfig()`` is the default SPA-4D for NTU-60.

    Built in book/11_spanet.ipynb."""
    kind: str = "4d"                                    # "3+1d" (Fig. 6a) or "4d" (Fig. 6b)
    num_classes: int = 60
    layout: str | Layout = "ntu25"
    space: int = 64                                     # s: the grid is s x s x s x T
    kernel: int = 5                                     # k
    num_frames: int = 64                                # frames the data pipeline feeds (any T works)
    widths: tuple[int, ...] = (32, 64, 128, 128)        # channels per stage
    blocks: tuple[int, ...] = (1, 1, 1, 1)              # SPA-blocks per stage
    temporal: str = "d=(1,3,5,7)"                       # 3+1D multi-scale temporal conv (Table 2 row)
    pool: int = 2                                       # max-pool kernel = stride (x, y, z, t) between stages
    persons: str = "separate"                           # one-hot over V*num_persons (authors) or V ("shared")
    num_persons: int = 2                                # person channel groups for persons="separate"
    collisions: str = "max"                             # joints in one voxel: "max" (authors), "sum", "first"
    bone_points: int = 0                                # interpolated points per bone
    readout: str = "mean"                               # global pooling: "mean" (Fig. 2's GAP), "max", "mean+max"
    box: tuple | None = None                            # fixed voxelisation box ((x0,y0,z0), (x1,y1,z1)) in m
    dropout: float = 0.0
    backend: str = "auto"                               # sparse backend: auto | reference | spconv

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"SPAConfig: kind must be one of {KINDS}, got {self.kind!r}")
        if len(self.widths) != len(self.blocks) or not self.widths:
            raise ValueError(f"SPAConfig: one block count per stage width, got widths={self.widths}, "
                             f"blocks={self.blocks}")
        if self.temporal not in TABLE2:
            raise ValueError(f"SPAConfig: temporal must be one of {list(TABLE2)}, got {self.temporal!r}")
        if self.readout not in READOUTS:
            raise ValueError(f"SPAConfig: readout must be one of {READOUTS}, got {self.readout!r}")
        if self.persons not in PERSONS or self.collisions not in COLLISIONS:
            raise ValueError(f"SPAConfig: persons in {PERSONS}, collisions in {COLLISIONS}; got "
                             f"{self.persons!r}, {self.collisions!r}")
        if self.backend not in BACKENDS:
            raise ValueError(f"SPAConfig: backend must be one of {BACKENDS}, got {self.backend!r}")
        if self.box is not None:
            try:
                lo, hi = (tuple(float(v) for v in b) for b in self.box)
            except (TypeError, ValueError):
                lo = hi = ()
            if len(lo) != 3 or len(hi) != 3 or not all(a < b for a, b in zip(lo, hi)):
                raise ValueError(f"SPAConfig: box must be ((x0, y0, z0), (x1, y1, z1)) in metres with x0 < x1, "
                                 f"y0 < y1, z0 < z1, or None (each sample's own box); got {self.box!r}")
            object.__setattr__(self, "box", (lo, hi))
        if self.num_persons < 1:
            raise ValueError(f"SPAConfig: num_persons must be >= 1, got {self.num_persons}")
        if self.space < 1 or self.kernel < 1 or self.pool < 1:
            raise ValueError(f"SPAConfig: space, kernel and pool must be positive, got {self.space}, "
                             f"{self.kernel}, {self.pool}")
        if self.num_frames < self.min_frames or self.space < self.min_frames:
            raise ValueError(f"SPAConfig: num_frames={self.num_frames} and space={self.space} must be >= "
                             f"{self.min_frames}: the {len(self.widths) - 1} max-pool(s) of kernel = stride = "
                             f"{self.pool} each divide the grid by {self.pool} and need at least {self.pool} cells")
        get_layout(self.layout)

    @property
    def min_frames(self) -> int:
        """The fewest frames (and grid cells per axis) the poolings allow: pool ** (stages - 1)."""
        return self.pool ** (len(self.widths) - 1)

    @property
    def spatial_kernel(self) -> tuple[int, int, int, int]:
        k = self.kernel
        return (k, k, k, 1) if self.kind == "3+1d" else (k, k, k, k)


def _bn(c):
    return nn.BatchNorm1d(c)


def _on(x: SparseTensor, fn) -> SparseTensor:
    """Apply a feature-wise function (BN, ReLU, Linear) to the active sites."""
    return x.replace(fn(x.features))


class Residual(nn.Module):
    """Identity, or a per-site linear map + BN when the width changes."""

    def __init__(self, cin, cout):
        super().__init__()
        self.proj = None if cin == cout else nn.Sequential(nn.Linear(cin, cout, bias=False), _bn(cout))

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return f if self.proj is None else self.proj(f)


class MultiScaleTemporal(nn.Module):
    """The sparse version of MS-TFF (Fig. 4): 1x1 split -> BN/ReLU -> B (1,1,1,k_b) submanifold convs
    with temporal dilation d_b on C/B channels each -> concat -> BN (no ReLU: the block adds its residual).

    On sparse data a temporal tap links site (x, y, z, t) only to (x, y, z, t +- d): a joint meets
    its own past only while it stays in the same voxel. Built in book/11_spanet.ipynb."""

    def __init__(self, channels: int, kernels=(3, 3, 3, 3), dilations=(1, 3, 5, 7), backend: str = "auto"):
        super().__init__()
        B = len(kernels)
        if channels % B:
            raise ValueError(f"MultiScaleTemporal: {channels} channels not divisible by {B} branches")
        self.kernels, self.dilations, self.branch_channels = tuple(kernels), tuple(dilations), channels // B
        cb = self.branch_channels
        self.split = nn.Linear(channels, channels, bias=False)
        self.bn_split = _bn(channels)
        self.branches = nn.ModuleList(
            SparseConv(4, cb, cb, (1, 1, 1, k), dilation=(1, 1, 1, d), subm=True, backend=backend)
            for k, d in zip(kernels, dilations))
        self.bn = _bn(channels)

    @property
    def receptive_field(self) -> int:
        return receptive_field(self.kernels, self.dilations)

    def forward(self, x: SparseTensor) -> SparseTensor:
        h = torch.relu(self.bn_split(self.split(x.features))).split(self.branch_channels, dim=1)
        y = torch.cat([br(x.replace(hb)).features for br, hb in zip(self.branches, h)], dim=1)
        return x.replace(self.bn(y))


class SPABlock(nn.Module):
    """One SPA-block (Fig. 6): '3+1d' (spatial k^3 x 1 conv + multi-scale temporal conv) or '4d' (k^4 conv).

    Built in book/11_spanet.ipynb."""

    def __init__(self, kind: str, cin: int, cout: int, kernel: int = 5, temporal: str = "d=(1,3,5,7)",
                 backend: str = "auto"):
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"SPABlock: kind must be one of {KINDS}, got {kind!r}")
        self.kind = kind
        k = kernel
        if kind == "3+1d":
            self.conv = SparseConv(4, cin, cout, (k, k, k, 1), subm=True, backend=backend)
            self.bn1 = _bn(cout)
            self.temporal = MultiScaleTemporal(cout, backend=backend, **tff_config(temporal))
        else:
            self.conv = SparseConv(4, cin, cout, (k, k, k, k), subm=True, backend=backend)
            self.bn1 = _bn(cout)
            self.temporal = None
        self.res = Residual(cin, cout)

    def forward(self, x: SparseTensor) -> SparseTensor:
        h = _on(self.conv(x), self.bn1)
        if self.temporal is not None:
            h = self.temporal(_on(h, torch.relu))
        return h.replace(torch.relu(h.features + self.res(x.features)))


class SPANet(nn.Module):
    """SPA-Net (Sec. 3.2). Input (N, C=3, T, V, M) (or a voxelized SparseTensor) -> scores (N, num_classes).

    ``SPANet()`` is the default SPA-4D (s=64, k=5); keyword arguments override :class:`SPAConfig`
    fields, e.g. ``SPANet(kind='3+1d', space=32)``. ``SPANet.quick()`` is a small CPU model.
    Built in book/11_spanet.ipynb.
    """

    def __init__(self, config: SPAConfig | None = None, **overrides):
        super().__init__()
        cfg = replace(config or SPAConfig(), **overrides)
        self.config = cfg
        self.layout = get_layout(cfg.layout)
        V = self.layout.num_joints
        self.in_channels = V * (cfg.num_persons if cfg.persons == "separate" else 1)
        be = cfg.backend
        self.stem = SparseConv(4, self.in_channels, cfg.widths[0], cfg.spatial_kernel, subm=True, backend=be)
        self.stem_bn = _bn(cfg.widths[0])
        stages, cin = [], cfg.widths[0]
        for i, (w, nb) in enumerate(zip(cfg.widths, cfg.blocks)):
            mods = [SparseMaxPool(4, cfg.pool, cfg.pool, backend=be)] if i else []
            for _ in range(nb):
                mods.append(SPABlock(cfg.kind, cin, w, cfg.kernel, cfg.temporal, be))
                cin = w
            stages.append(nn.Sequential(*mods))
        self.stages = nn.ModuleList(stages)
        self.out_channels = cin * (2 if cfg.readout == "mean+max" else 1)
        self.drop = nn.Dropout(cfg.dropout) if cfg.dropout > 0 else nn.Identity()
        self.fc = nn.Linear(self.out_channels, cfg.num_classes)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def quick(cls, kind: str = "4d", num_classes: int = 60, space: int = 32, kernel: int = 3,
              widths=(16, 32, 64), num_frames: int = 32, **overrides) -> "SPANet":
        """A small CPU model: s=32, k=3, three stages of widths 16, 32, 64, 32 frames; shared
        person channels, summed collisions, mean+max readout (unless overridden)."""
        for k, v in QUICK_INPUT.items():
            overrides.setdefault(k, v)
        return cls(SPAConfig(kind=kind, num_classes=num_classes, space=space, kernel=kernel, widths=tuple(widths),
                             blocks=overrides.pop("blocks", (1,) * len(widths)), num_frames=num_frames, **overrides))

    @property
    def kind(self) -> str:
        return self.config.kind

    @property
    def num_frames(self) -> int:
        return self.config.num_frames

    def set_backend(self, backend: str) -> "SPANet":
        """Run every sparse layer on 'auto', 'reference' or 'spconv' (same parameters)."""
        set_backend(self, backend)
        self.config = replace(self.config, backend=backend)
        return self

    # ------------------------------------------------------------------ forward
    def check_input(self, x) -> None:
        V = self.layout.num_joints
        want = f"(N, C=3, T, V={V}, M) for layout {self.layout.name!r}"
        if not torch.is_tensor(x) or x.ndim != 5:
            shape = tuple(x.shape) if hasattr(x, "shape") else type(x).__name__
            raise ValueError(f"SPANet: expected a 5-D input {want} or a SparseTensor, got {shape}")
        N, C, T, Vx, M = x.shape
        if C != 3 or Vx != V:
            raise ValueError(f"SPANet: expected {want}, got {tuple(x.shape)}")
        if self.config.persons == "separate" and M > self.config.num_persons:
            raise ValueError(f"SPANet: persons='separate' has channels for {self.config.num_persons} persons, "
                             f"got M={M}")
        if min(N, T, M) < 1:
            raise ValueError(f"SPANet: empty input {tuple(x.shape)}, expected {want}")
        if T < self.config.min_frames:
            raise InputError(f"SPANet: T={T} frames in {tuple(x.shape)}, expected at least "
                             f"{self.config.min_frames} ({len(self.config.widths) - 1} max-pool(s) of stride "
                             f"{self.config.pool} in time)")
        if x.device.type != "meta" and not bool(torch.isfinite(x).all()):
            raise InputError(f"SPANet: the input {tuple(x.shape)} holds NaN or inf (first at index "
                             f"{tuple(int(i) for i in (~torch.isfinite(x)).nonzero()[0])})")

    def voxelize(self, x: torch.Tensor) -> SparseTensor:
        """The model's voxelization of a batch (N, 3, T, V, M), on the model's device."""
        self.check_input(x)
        cfg = self.config
        dev = self.fc.weight.device
        return voxelize(x.to(dev), cfg.space, persons=cfg.persons, collisions=cfg.collisions,
                        bone_points=cfg.bone_points, layout=self.layout, num_persons=cfg.num_persons,
                        bounds=cfg.box, clip=cfg.box is not None)

    def sparse_features(self, st: SparseTensor, activations: list | None = None) -> SparseTensor:
        """The last stage's sparse output; with ``activations`` a list, every stage's output is appended."""
        if st.num_channels != self.in_channels or st.ndim != 4:
            raise ValueError(f"SPANet: expected a 4-D sparse tensor with {self.in_channels} channels, got "
                             f"{st.ndim}-D with {st.num_channels}")
        if min(st.spatial_shape) < self.config.min_frames:
            raise InputError(f"SPANet: sparse grid {st.spatial_shape} (x, y, z, t), expected at least "
                             f"{self.config.min_frames} cells on every axis for the poolings")
        h = self.stem(st)
        h = h.replace(torch.relu(self.stem_bn(h.features)))
        for stage in self.stages:
            h = stage(h)
            if activations is not None:
                activations.append(h)
        return h

    def features(self, x) -> torch.Tensor:
        """Pooled features (N, out_channels)."""
        st = x if isinstance(x, SparseTensor) else self.voxelize(x)
        h = self.sparse_features(st)
        ro = self.config.readout
        if ro == "mean+max":
            return torch.cat([global_pool(h, "mean"), global_pool(h, "max")], dim=1)
        return global_pool(h, ro)

    def forward(self, x) -> torch.Tensor:
        return self.fc(self.drop(self.features(x)))

    def extra_repr(self) -> str:  # in the repr, so a run key tells e.g. two space sizes apart
        c = self.config
        return (f"space={c.space}, num_frames={c.num_frames}, layout={self.layout.name!r}, "
                f"persons={c.persons!r}, num_persons={c.num_persons}, collisions={c.collisions!r}, "
                f"bone_points={c.bone_points}, readout={c.readout!r}, box={c.box}")

    @torch.no_grad()
    def activations(self, x) -> list[SparseTensor]:
        """Every stage's sparse output (coordinates on that stage's grid) -- Fig. 7c's activations,
        drawn in book/12_sparse_activations.ipynb."""
        acts: list = []
        self.sparse_features(x if isinstance(x, SparseTensor) else self.voxelize(x), acts)
        return acts


# ============================================================================ costs
@dataclass
class LayerCost:
    name: str
    op: str                     # "conv", "pool", "linear"
    in_sites: int
    out_sites: int
    pairs: int                  # rulebook pairs (conv/pool); sites for linear maps
    cin: int
    cout: int
    macs: int                   # multiply-adds actually spent: pairs * cin * cout
    dense_macs: int             # the dense layer on the full grid: grid sites * prod(kernel) * cin * cout
    grid: int                   # output grid sites (batch x prod(shape))
    kernel: tuple = ()

    @property
    def feature_bytes(self) -> int:
        return self.out_sites * self.cout * 4

    @property
    def dense_bytes(self) -> int:
        return self.grid * self.cout * 4


@dataclass
class Costs:
    layers: list[LayerCost] = field(default_factory=list)
    batch: int = 1

    def total(self, attr: str) -> int:
        return sum(getattr(l, attr) for l in self.layers)

    @property
    def macs(self) -> int:
        return self.total("macs")

    @property
    def dense_macs(self) -> int:
        return self.total("dense_macs")

    @property
    def feature_bytes(self) -> int:
        return self.total("feature_bytes")

    @property
    def dense_bytes(self) -> int:
        return self.total("dense_bytes")

    def per_sample(self) -> dict:
        b = max(1, self.batch)
        return dict(macs=self.macs / b, dense_macs=self.dense_macs / b, feature_bytes=self.feature_bytes / b,
                    dense_bytes=self.dense_bytes / b)


@torch.no_grad()
def sparse_costs(model: nn.Module, x) -> Costs:
    """Multiply-adds and activation memory of one forward pass of ``model`` on ``x``, layer by layer,
    against the same layers run densely on the full grid.

    Sparse convs: MACs = rulebook pairs x C_in x C_out (rulebooks from the reference builder, so
    the count does not depend on the backend); per-site linear maps (the 1x1 splits, residual
    projections): sites x C_in x C_out. BN, ReLU, pooling comparisons and the FC are not counted
    (as :func:`skelnb.flops.count_macs`). Memory: output features of every layer (float32)
    vs a dense grid of the same size and width. Used in book/09_voxels.ipynb and book/11_spanet.ipynb.
    """
    records: list = []
    hooks = []
    for name, m in sparse_layers(model):
        hooks.append(m.register_forward_hook(lambda mod, inp, out, name=name: records.append((name, mod, inp[0], out))))
    linears = {}
    for name, m in model.named_modules():
        if isinstance(m, nn.Linear) and m is not getattr(model, "fc", None):
            linears[m] = name
            hooks.append(m.register_forward_hook(
                lambda mod, inp, out, name=name: records.append((name, mod, inp[0], out))))
    was = model.training
    model.eval()
    try:
        model(x)
    finally:
        model.train(was)
        for h in hooks:
            h.remove()
    costs = Costs(batch=x.batch_size if isinstance(x, SparseTensor) else x.shape[0])
    # the grid that goes with a plain feature matrix: the last sparse tensor seen before it
    grid = None
    for name, mod, inp, out in records:
        if isinstance(mod, nn.Linear):
            n = inp.shape[0]
            g = grid if grid is not None else n
            costs.layers.append(LayerCost(name, "linear", n, n, n, mod.in_features, mod.out_features,
                                          n * mod.in_features * mod.out_features,
                                          g * mod.in_features * mod.out_features, g))
            continue
        g_out = out.batch_size * _prod(out.spatial_shape)
        grid = g_out
        if isinstance(mod, SparseConv):
            rb = rulebook(inp, mod.kernel_size, mod.stride, mod.padding, mod.dilation, mod.subm)
            costs.layers.append(LayerCost(name, "conv", inp.num_active, out.num_active, rb.num_pairs,
                                          mod.in_channels, mod.out_channels,
                                          rb.num_pairs * mod.in_channels * mod.out_channels,
                                          g_out * _prod(mod.kernel_size) * mod.in_channels * mod.out_channels,
                                          g_out, mod.kernel_size))
        else:
            rb = rulebook(inp, mod.kernel_size, mod.stride, mod.padding, mod.dilation, subm=False)
            c = inp.num_channels
            costs.layers.append(LayerCost(name, "pool", inp.num_active, out.num_active, rb.num_pairs, c, c, 0, 0,
                                          g_out, mod.kernel_size))
    return costs


def _prod(t) -> int:
    out = 1
    for v in t:
        out *= int(v)
    return out

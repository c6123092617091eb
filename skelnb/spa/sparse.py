"""Sparse convolution (Eq. 9) and sparse max-pooling (Eq. 10), two ways behind one interface.

A sparse tensor is a list of *active sites*: integer coordinates R (P, 1 + D) -- the batch index,
then D spatial(-temporal) coordinates -- and a feature matrix F (P, C) (Eq. 8). Everything that is
not listed is empty. Two operations are defined on it:

    F_out(i) = sum_{R(j) in B(R(i))} W[R(j) - R(i)] F_in(j)          (Eq. 9, sparse convolution)
    F_out(i) = max_{R(j) in B(R(i))} F_in(j)                          (Eq. 10, sparse max-pooling)

where B(R(i)) is the kernel window around output site i. Which output sites exist:

* **submanifold** convolution (``subm=True``): exactly the input's sites, so sparsity never
  grows however many layers are stacked; the window is centred ("same" padding,
  ``d (K - 1) // 2`` before, as ``torch.nn.functional.conv3d(padding='same')``, so even kernels
  reach one step further forward than back);
* **regular** (strided) convolution and max-pooling: every output position p of the dense
  convolution with the same stride/padding/dilation whose window holds at least one active
  input, i.e. p = (R(j) + pad - o d) / stride for some input j and kernel offset o.

Weight layout is spconv's, ``(C_out, *kernel, C_in)``; bias ``(C_out,)``. The two backends:

``reference`` -- plain PyTorch, written to be read. A *rulebook* lists, for every kernel offset
  o, the pairs (input j, output i) it connects; it is built by linearising integer coordinates
  into int64 keys and looking the shifted keys up with ``torch.searchsorted`` in the sorted keys
  (submanifold), or by computing and de-duplicating the candidate outputs of every input
  (regular). The convolution is then gather -> matmul -> scatter-add per offset (summed in
  float32 under autocast); pooling is :func:`max_by_rulebook`. Autograd flows through
  ``index_add``/``gather``. Any D
  (2-4 are tested), any kernel (odd or even), stride, padding and dilation.
``spconv`` -- the spconv 2.x library (SubMConvNd, SparseConvNd; N = 1-4), with
  ``ConvAlgo.Native`` on CPU (its default algorithm fails there for several 4D shapes and for
  pooling -- measured, see ``/work/shared/reference/facts.md``) and the default on CUDA. Pooling
  takes spconv's output sites and pairs and the shared :func:`max_by_rulebook` (one tie rule).
  spconv has no bfloat16 kernels and its autocast hooks are CUDA-only: under CPU autocast its
  layers run in float32.
``auto`` (the default) -- spconv where it is installed, can do the layer and passes one small
  test convolution on the device (:func:`spconv_problem`), else the reference, with one warning.

One module, :class:`SparseConv` (and :class:`SparseMaxPool`), owns the parameters and runs either
backend with them: the spconv layer it drives *shares* the module's weight and bias Parameter
objects, so switching ``module.backend`` needs no copy and gradients land in the same tensors;
:func:`make_spconv` / :func:`load_spconv` convert to and from stand-alone spconv layers.

Differences between the backends (measured here, spconv-cu120 2.3.6 on CPU):

* spconv's submanifold convolution requires odd kernels (Table 5's k=6 therefore runs on the
  reference; ``auto`` falls back with a warning);
* max-pooling is Eq. 10 as written on both (max over active sites only, negative maxima kept)
  with one tie rule -- the first active input in the window's row-major order takes the whole
  gradient, as dense ``max_pool`` does. spconv's own pooling kernel is not used: on CPU it
  starts its max from 0 and gives a tie's *full* gradient to every tied input (measured), which
  made whole-net gradients of the two backends differ by several per cent;
* output sites of a strided layer come back in a different order (sorted by key in the
  reference): compare by coordinates (:func:`align`), not row by row.
"""
from __future__ import annotations

import contextlib
import itertools
import math
import warnings
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn as nn

BACKENDS = ("auto", "reference", "spconv")


# ============================================================================ the sparse tensor
class SparseTensor:
    """Active sites of a batch of D-dimensional grids.

    features: (P, C) float; coords: (P, 1 + D) integers (batch index, then one coordinate per
    dimension, each in ``[0, spatial_shape[d])``), stored as contiguous int32 (spconv's format);
    rows are unique sites. ``cache`` holds rulebooks (reference) and spconv's index pairs for
    *these coordinates*; tensors made with :meth:`replace` (same sites, new features) share it, so
    consecutive submanifold layers build each rulebook once.
    """

    def __init__(self, features: torch.Tensor, coords: torch.Tensor, spatial_shape: Sequence[int],
                 batch_size: int | None = None, cache: dict | None = None, check: bool = True):
        spatial_shape = tuple(int(s) for s in spatial_shape)
        if check:
            if not torch.is_tensor(features) or features.ndim != 2:
                raise ValueError(f"SparseTensor: features must be a (P, C) tensor, got "
                                 f"{tuple(features.shape) if torch.is_tensor(features) else type(features).__name__}")
            if not torch.is_tensor(coords) or coords.ndim != 2 or coords.shape[1] != 1 + len(spatial_shape):
                raise ValueError(f"SparseTensor: coords must be (P, 1 + D) = (P, {1 + len(spatial_shape)}) for "
                                 f"spatial_shape {spatial_shape}, got "
                                 f"{tuple(coords.shape) if torch.is_tensor(coords) else type(coords).__name__}")
            if coords.dtype.is_floating_point or coords.dtype == torch.bool:
                raise ValueError(f"SparseTensor: coords must be integers, got {coords.dtype}")
            if len(coords) != len(features):
                raise ValueError(f"SparseTensor: {len(coords)} coordinates but {len(features)} feature rows")
            if any(s < 1 for s in spatial_shape):
                raise ValueError(f"SparseTensor: spatial_shape must be positive, got {spatial_shape}")
            if len(coords):
                lo, hi = coords.min(0).values, coords.max(0).values
                if lo.min() < 0:
                    raise ValueError(f"SparseTensor: negative coordinates (per-column minima {lo.tolist()})")
                over = [d for d, s in enumerate(spatial_shape) if hi[1 + d] >= s]
                if over:
                    raise ValueError(f"SparseTensor: coordinates outside spatial_shape {spatial_shape} in "
                                     f"dimension(s) {over} (per-column maxima {hi[1:].tolist()})")
        self.features = features
        self.coords = coords.to(torch.int32).contiguous()
        self.spatial_shape = spatial_shape
        if batch_size is None:
            batch_size = int(self.coords[:, 0].max()) + 1 if len(self.coords) else 0
        elif check and len(self.coords) and int(self.coords[:, 0].max()) >= batch_size:
            raise ValueError(f"SparseTensor: batch index {int(self.coords[:, 0].max())} >= batch_size {batch_size}")
        self.batch_size = int(batch_size)
        self.cache = {} if cache is None else cache

    # ------------------------------------------------------------------ basics
    @property
    def ndim(self) -> int:
        """D, the number of spatial(-temporal) dimensions."""
        return len(self.spatial_shape)

    @property
    def num_active(self) -> int:
        return len(self.coords)

    @property
    def num_channels(self) -> int:
        return self.features.shape[1]

    @property
    def device(self) -> torch.device:
        return self.features.device

    def replace(self, features: torch.Tensor) -> "SparseTensor":
        """Same sites (and cached rulebooks), new features (P, C')."""
        if features.shape[0] != self.num_active:
            raise ValueError(f"SparseTensor.replace: {features.shape[0]} feature rows for {self.num_active} sites")
        return SparseTensor(features, self.coords, self.spatial_shape, self.batch_size, self.cache, check=False)

    def to(self, device) -> "SparseTensor":
        return SparseTensor(self.features.to(device), self.coords.to(device), self.spatial_shape,
                            self.batch_size, check=False)

    def keys(self) -> torch.Tensor:
        """(P,) int64 linearised keys (batch-major, then dimension by dimension)."""
        return linearize(self.coords, self.spatial_shape)

    def density(self) -> float:
        """Active sites / (batch size x grid sites)."""
        return self.num_active / max(1, self.batch_size * math.prod(self.spatial_shape))

    def dense(self, fill: float = 0.0) -> torch.Tensor:
        """(B, C, *spatial_shape) grid; inactive sites hold ``fill`` (differentiable in the features)."""
        B, C = self.batch_size, self.num_channels
        out = self.features.new_full((B, *self.spatial_shape, C), fill)
        c = self.coords.long()
        out = out.index_put(tuple(c.T), self.features)
        return out.permute(0, self.ndim + 1, *range(1, self.ndim + 1)).contiguous()

    @classmethod
    def from_dense(cls, x: torch.Tensor, mask: torch.Tensor | None = None) -> "SparseTensor":
        """x (B, C, *shape) -> active where ``mask`` (B, *shape) is true (default: any channel non-zero)."""
        if mask is None:
            mask = (x != 0).any(dim=1)
        idx = mask.nonzero()                                             # (P, 1 + D), sorted by key
        feats = x.permute(0, *range(2, x.ndim), 1)[tuple(idx.T)]
        return cls(feats, idx, x.shape[2:], x.shape[0])

    def validate(self) -> "SparseTensor":
        """Full check (duplicated sites too); returns self."""
        SparseTensor(self.features, self.coords, self.spatial_shape, self.batch_size)
        k = self.keys()
        if len(torch.unique(k)) != len(k):
            raise ValueError(f"SparseTensor: {len(k) - len(torch.unique(k))} duplicated sites")
        return self

    def __repr__(self):
        return (f"SparseTensor(active={self.num_active}, channels={self.num_channels}, "
                f"spatial_shape={self.spatial_shape}, batch_size={self.batch_size}, "
                f"density={self.density():.2e})")


def linearize(coords: torch.Tensor, spatial_shape: Sequence[int]) -> torch.Tensor:
    """(P, 1 + D) integer coordinates -> (P,) int64 keys b*S1*...*SD + ... + x_D (row-major)."""
    c = coords.long()
    key = c[:, 0].clone()
    for d, s in enumerate(spatial_shape):
        key = key * int(s) + c[:, 1 + d]
    return key


def align(a: SparseTensor, b: SparseTensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Features of a and b in one common site order (sorted by key); raises if the site sets differ."""
    ka, kb = a.keys(), b.keys()
    ia, ib = torch.argsort(ka), torch.argsort(kb)
    if len(ka) != len(kb) or not torch.equal(ka[ia], kb[ib]):
        raise ValueError(f"align: different active sites ({len(ka)} vs {len(kb)})")
    return a.features[ia], b.features[ib]


# ============================================================================ rulebooks
def _tuple(v, D: int, name: str) -> tuple[int, ...]:
    t = (int(v),) * D if isinstance(v, int) else tuple(int(x) for x in v)
    if len(t) != D:
        raise ValueError(f"{name} needs {D} values for a {D}-D tensor, got {v}")
    return t


def kernel_offsets(kernel_size: Sequence[int]) -> torch.Tensor:
    """(prod(K), D) kernel positions in row-major order -- the order of ``weight.reshape(C_out, -1, C_in)``."""
    return torch.tensor(list(itertools.product(*(range(k) for k in kernel_size))), dtype=torch.long).reshape(
        -1, len(kernel_size))


def output_shape(shape, kernel_size, stride, padding, dilation) -> tuple[int, ...]:
    """Spatial shape of a regular convolution / pooling (as torch's conv): floor((S + 2p - d(K-1) - 1)/s) + 1."""
    return tuple((S + 2 * p - d * (k - 1) - 1) // s + 1
                 for S, k, s, p, d in zip(shape, kernel_size, stride, padding, dilation))


def same_padding(kernel_size, dilation) -> tuple[int, ...]:
    """Padding before the first site of a submanifold ("same") layer: d (K - 1) // 2 per dimension."""
    return tuple(d * (k - 1) // 2 for k, d in zip(kernel_size, dilation))


@dataclass
class Rulebook:
    """Which input feeds which output through which kernel offset (the pairs of Eq. 9 / 10).

    Pairs are grouped by offset: offset o owns ``in_idx[start_o : start_o + counts[o]]`` and the
    matching ``out_idx``; ``counts`` is a Python list (no device syncs in the conv loop).
    """
    in_idx: torch.Tensor            # (E,) rows of the input
    out_idx: torch.Tensor           # (E,) rows of the output
    counts: list[int]               # pairs per kernel offset, len prod(K)
    out_coords: torch.Tensor        # (P_out, 1 + D) int32
    out_shape: tuple[int, ...]
    kernel_size: tuple[int, ...]

    @property
    def num_pairs(self) -> int:
        return len(self.in_idx)

    def pairs(self, o: int) -> tuple[torch.Tensor, torch.Tensor]:
        start = sum(self.counts[:o])
        return self.in_idx[start:start + self.counts[o]], self.out_idx[start:start + self.counts[o]]


def build_rulebook(coords: torch.Tensor, spatial_shape, kernel_size, stride=1, padding=0, dilation=1,
                   subm: bool = True) -> Rulebook:
    """The rulebook of one layer on the sites ``coords`` (P, 1 + D) of a grid ``spatial_shape``.

    Submanifold: output sites = input sites; input j feeds output i through offset o iff
    R(j) = R(i) - pad + o * dilation, found by looking up the key of that position among the
    sorted input keys (``torch.searchsorted``). Regular: every input j and offset o propose the
    output p = (R(j) + pad - o * dilation) / stride, kept if it is an integer inside the output
    grid; the distinct proposals (``torch.unique`` of their keys) are the output sites.
    """
    D = len(spatial_shape)
    K, dil = _tuple(kernel_size, D, "kernel_size"), _tuple(dilation, D, "dilation")
    offsets = kernel_offsets(K).to(coords.device)
    c = coords.long()
    batch, xyz = c[:, :1], c[:, 1:]
    shape_t = torch.tensor(spatial_shape, device=c.device)
    dil_t = torch.tensor(dil, device=c.device)
    in_list, out_list, counts = [], [], []

    if subm:
        pad = torch.tensor(same_padding(K, dil), device=c.device)
        keys = linearize(c, spatial_shape)
        order = torch.argsort(keys)
        sorted_keys = keys[order]
        rows = torch.arange(len(c), device=c.device)
        P = len(c)
        # offsets in chunks (about a million lookups at a time): one searchsorted per chunk
        for chunk in offsets.split(max(1, (1 << 20) // max(P, 1))):
            q = xyz[None] - pad + chunk[:, None] * dil_t              # (k, P, D): where each neighbour would be
            inside = ((q >= 0) & (q < shape_t)).all(-1)
            qk = linearize(torch.cat([batch.expand(len(chunk), -1, -1), q.clamp(min=0)], -1).reshape(-1, 1 + D),
                           spatial_shape).view(len(chunk), P)
            pos = torch.searchsorted(sorted_keys, qk.reshape(-1)).clamp(max=max(P - 1, 0)).view(len(chunk), P)
            hit = inside & (sorted_keys[pos] == qk) if P else inside
            in_list.append(order[pos[hit]])                          # row-major: grouped by offset
            out_list.append(rows.expand(len(chunk), P)[hit])
            counts += hit.sum(1).tolist()
        out_coords, out_shape = coords, tuple(spatial_shape)
    else:
        st, pd = _tuple(stride, D, "stride"), _tuple(padding, D, "padding")
        out_shape = output_shape(spatial_shape, K, st, pd, dil)
        if any(s < 1 for s in out_shape):
            raise ValueError(f"build_rulebook: kernel {K}, stride {st}, padding {pd}, dilation {dil} leave no "
                             f"output for spatial_shape {tuple(spatial_shape)}")
        st_t, pd_t, out_t = (torch.tensor(v, device=c.device) for v in (st, pd, out_shape))
        cand_in, cand_key = [], []
        rows = torch.arange(len(c), device=c.device)
        for off in offsets:
            num = xyz + pd_t - off * dil_t                           # = p * stride for an output p
            p = torch.div(num, st_t, rounding_mode="floor")
            ok = ((num - p * st_t) == 0).all(1) & ((p >= 0) & (p < out_t)).all(1)
            cand_in.append(rows[ok])
            cand_key.append(linearize(torch.cat([batch[ok], p[ok]], 1), out_shape))
            counts.append(int(ok.sum()))
        all_keys = torch.cat(cand_key)
        uniq, inverse = torch.unique(all_keys, return_inverse=True)  # sorted output sites
        in_list, out_list = cand_in, [inverse]
        out_coords = delinearize(uniq, out_shape).to(torch.int32)
    return Rulebook(torch.cat(in_list), torch.cat(out_list), counts, out_coords, tuple(out_shape), K)


def delinearize(keys: torch.Tensor, spatial_shape) -> torch.Tensor:
    """Inverse of :func:`linearize`: (P,) int64 keys -> (P, 1 + D) coordinates."""
    cols, k = [], keys.clone()
    for s in reversed(spatial_shape):
        cols.append(k % int(s))
        k = torch.div(k, int(s), rounding_mode="floor")
    cols.append(k)
    return torch.stack(cols[::-1], 1)


def rulebook(x: SparseTensor, kernel_size, stride=1, padding=0, dilation=1, subm=True) -> Rulebook:
    """:func:`build_rulebook` for x, cached in ``x.cache`` (shared by every tensor on the same sites)."""
    D = x.ndim
    key = ("ref", bool(subm), _tuple(kernel_size, D, "kernel_size"), _tuple(dilation, D, "dilation"),
           None if subm else (_tuple(stride, D, "stride"), _tuple(padding, D, "padding")))
    rb = x.cache.get(key)
    if rb is None:
        rb = x.cache[key] = build_rulebook(x.coords, x.spatial_shape, kernel_size, stride, padding, dilation, subm)
    return rb


# ============================================================================ reference ops
def sparse_conv(x: SparseTensor, weight: torch.Tensor, bias: torch.Tensor | None = None, stride=1, padding=0,
                dilation=1, subm: bool = True) -> SparseTensor:
    """Eq. 9 in plain PyTorch: for every kernel offset, gather its inputs, multiply by W[o], scatter-add.

    weight: (C_out, *kernel, C_in) (spconv's layout). ``padding`` is ignored when ``subm``.
    """
    D = x.ndim
    if weight.ndim != D + 2:
        raise ValueError(f"sparse_conv: weight must be (C_out, *kernel[{D}], C_in), got {tuple(weight.shape)}")
    if weight.shape[-1] != x.num_channels:
        raise ValueError(f"sparse_conv: weight expects C_in={weight.shape[-1]}, input has {x.num_channels}")
    rb = rulebook(x, weight.shape[1:-1], stride, padding, dilation, subm)
    c_out = weight.shape[0]
    # one (C_in, C_out) matrix per kernel offset; unbind (not W[o] in the loop): its backward is one
    # stack, where 625 separate selections would each add a full-size zero gradient
    W = weight.reshape(c_out, -1, weight.shape[-1]).permute(1, 2, 0).unbind(0)   # prod(K) x (C_in, C_out)
    # the sum over offsets is kept in the inputs' common dtype (float32 under autocast, where each
    # product comes back in float16/bfloat16: low-precision matmuls, full-precision accumulation)
    out = x.features.new_zeros(len(rb.out_coords), c_out, dtype=torch.result_type(x.features, weight))
    start = 0
    for o, n in enumerate(rb.counts):
        if n:
            i, j = rb.in_idx[start:start + n], rb.out_idx[start:start + n]
            out.index_add_(0, j, (x.features[i] @ W[o]).to(out.dtype))   # gather -> matmul -> scatter-add
        start += n
    if bias is not None:
        out = out + bias
    if subm:
        return x.replace(out)
    return SparseTensor(out, rb.out_coords, rb.out_shape, x.batch_size, check=False)


def sparse_max_pool(x: SparseTensor, kernel_size, stride=None, padding=0, dilation=1) -> SparseTensor:
    """Eq. 10 in plain PyTorch: max over the active inputs in each output's window (stride defaults to kernel)."""
    stride = kernel_size if stride is None else stride
    rb = rulebook(x, kernel_size, stride, padding, dilation, subm=False)
    return SparseTensor(max_by_rulebook(x.features, rb), rb.out_coords, rb.out_shape, x.batch_size, check=False)


def max_by_rulebook(features: torch.Tensor, rb: Rulebook) -> torch.Tensor:
    """(P_out, C) max over each output's pairs (Eq. 10), with one tie rule: among equal maxima the
    *first pair in kernel-offset order* wins (per channel) and alone receives the gradient.

    Offsets are row-major over the window, so that is the first active input in the window's
    row-major order -- what dense ``max_pool`` does. Both backends pool through this function
    (with their own rulebooks), so they agree on values and gradients, ties included.
    """
    C, E = features.shape[1], rb.num_pairs
    src = features[rb.in_idx]                                        # (E, C), pairs in offset order
    idx = rb.out_idx[:, None].expand(-1, C)
    with torch.no_grad():
        m = src.new_full((len(rb.out_coords), C), float("-inf"))
        m = m.scatter_reduce(0, idx, src, "amax", include_self=False)   # (P_out, C)
        hit = (src == m[rb.out_idx]) | torch.isnan(src)                 # NaN propagates, as dense max_pool
        e = torch.arange(E, device=src.device)[:, None].expand(-1, C)
        win = torch.full_like(m, E, dtype=torch.long).scatter_reduce(
            0, idx, torch.where(hit, e, E), "amin", include_self=True)  # (P_out, C) winning pair
    return src.gather(0, win)                                          # gradient to the winner only


def global_pool(x: SparseTensor, mode: str = "mean") -> torch.Tensor:
    """(B, C): mean or max of each sample's active sites (a sample with no site gives zeros)."""
    b = x.coords[:, 0].long()
    B, C = x.batch_size, x.num_channels
    if mode == "mean":                                                # summed in float32 at half precision
        f = x.features.float() if x.features.dtype in (torch.float16, torch.bfloat16) else x.features
        s = f.new_zeros(B, C).index_add(0, b, f)
        n = torch.bincount(b, minlength=B).clamp(min=1).to(s.dtype)
        return (s / n[:, None]).to(x.features.dtype)
    if mode == "max":
        m = x.features.new_full((B, C), float("-inf"))
        m = m.scatter_reduce(0, b[:, None].expand(-1, C), x.features, "amax", include_self=False)
        return torch.where(torch.isinf(m), torch.zeros_like(m), m)
    raise ValueError(f"global_pool: mode must be 'mean' or 'max', got {mode!r}")


# ============================================================================ dense equivalents
def dense_conv(x: torch.Tensor, weight: torch.Tensor, bias=None, stride=1, padding=0, dilation=1) -> torch.Tensor:
    """Dense convolution of x (B, C_in, *shape) with a spconv-layout weight (C_out, *K, C_in), D = 1..4.

    D <= 3: ``torch.nn.functional.conv{D}d``. D = 4: conv3d over (x, y, z), summed over the 4th
    kernel dimension (frame t_out * stride + k * dilation - padding for kernel position k).
    ``padding='same'`` pads like a submanifold layer (d (K-1)//2 before, the rest after; stride 1).
    """
    F = torch.nn.functional
    D = x.ndim - 2
    K = tuple(weight.shape[1:-1])
    w = weight.permute(0, D + 1, *range(1, D + 1))                   # (C_out, C_in, *K)
    st, dil = _tuple(stride, D, "stride"), _tuple(dilation, D, "dilation")
    if padding == "same":
        before = same_padding(K, dil)
        after = tuple(d * (k - 1) - b for k, d, b in zip(K, dil, before))
        pads = [v for b, a in zip(reversed(before), reversed(after)) for v in (b, a)]
        x, pd = F.pad(x, pads), (0,) * D
    else:
        pd = _tuple(padding, D, "padding")
    if D <= 3:
        return getattr(F, f"conv{D}d")(x, w, bias, stride=st, padding=pd, dilation=dil)
    if D != 4:
        raise ValueError(f"dense_conv: D = 1..4, got {D}")
    x = F.pad(x, (pd[3], pd[3]))                                     # pad time; conv3d pads space
    T_out = (x.shape[-1] - dil[3] * (K[3] - 1) - 1) // st[3] + 1
    out = 0
    for k in range(K[3]):
        frames = x[..., k * dil[3]: k * dil[3] + st[3] * (T_out - 1) + 1: st[3]]   # (B, C, X, Y, Z, T_out)
        B, C = frames.shape[:2]
        f3 = frames.permute(0, 5, 1, 2, 3, 4).reshape(B * T_out, C, *frames.shape[2:5])
        y = F.conv3d(f3, w[..., k], None, stride=st[:3], padding=pd[:3], dilation=dil[:3])
        out = out + y.reshape(B, T_out, *y.shape[1:]).permute(0, 2, 3, 4, 5, 1)
    return out if bias is None else out + bias.view(1, -1, 1, 1, 1, 1)


def dense_max_pool(x: torch.Tensor, kernel_size, stride=None, padding=0, dilation=1) -> torch.Tensor:
    """Dense max-pooling of x (B, C, *shape), D = 1..4 (4D: max over time of max_pool3d), padding with -inf."""
    F = torch.nn.functional
    D = x.ndim - 2
    K = _tuple(kernel_size, D, "kernel_size")
    st = K if stride is None else _tuple(stride, D, "stride")
    pd, dil = _tuple(padding, D, "padding"), _tuple(dilation, D, "dilation")
    if D <= 3:
        return getattr(F, f"max_pool{D}d")(x, K, st, pd, dil)
    x = F.pad(x, (pd[3], pd[3]), value=float("-inf"))
    T_out = (x.shape[-1] - dil[3] * (K[3] - 1) - 1) // st[3] + 1
    out = None
    for k in range(K[3]):
        frames = x[..., k * dil[3]: k * dil[3] + st[3] * (T_out - 1) + 1: st[3]]
        B, C = frames.shape[:2]
        f3 = frames.permute(0, 5, 1, 2, 3, 4).reshape(B * T_out, C, *frames.shape[2:5])
        y = F.max_pool3d(f3, K[:3], st[:3], pd[:3], dil[:3])
        y = y.reshape(B, T_out, *y.shape[1:]).permute(0, 2, 3, 4, 5, 1)
        out = y if out is None else torch.maximum(out, y)
    return out


# ============================================================================ spconv backend
_SPCONV: dict = {}


def _import_spconv():
    """spconv.pytorch, imported once with its FutureWarnings (torch.cuda.amp.custom_fwd/bwd) silenced."""
    if "mod" not in _SPCONV:
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", category=FutureWarning, message=r".*torch\.cuda\.amp\.custom_")
                warnings.filterwarnings("ignore", category=DeprecationWarning, message=r".*getdefaultlocale")
                import spconv.pytorch as sp
                from spconv.core import ConvAlgo
            _SPCONV.update(mod=sp, algo=ConvAlgo)
            _silence_fx_tracing_note()
        except Exception as e:                                       # not installed / broken wheel
            _SPCONV.update(mod=None, error=f"{type(e).__name__}: {e}")
    return _SPCONV["mod"]


def _silence_fx_tracing_note():
    """spconv's layers call ``torch.fx.is_fx_tracing()``, whose first call logs a one-time note
    (torch >= 2.10) to stderr; emit that once here with its logger muted, so outputs stay clean."""
    import logging
    try:
        from torch.fx import _symbolic_trace as st
        note = st.is_fx_tracing_warning
    except (ImportError, AttributeError):
        return
    logger = logging.getLogger(st.__name__)
    old = logger.disabled
    logger.disabled = True
    try:
        note()
    finally:
        logger.disabled = old


def spconv_available() -> bool:
    """True if spconv imports here (it is then used by ``backend='auto'``)."""
    return _import_spconv() is not None


_warned: set = set()


def _warn_once(msg: str):
    if msg not in _warned:
        _warned.add(msg)
        warnings.warn(msg, RuntimeWarning, stacklevel=3)


def _device_name(device: torch.device) -> str:
    if device.type != "cuda":
        return str(device)
    major, minor = torch.cuda.get_device_capability(device)
    return f"{device} ({torch.cuda.get_device_name(device)}, sm_{major}{minor})"


def spconv_problem(device) -> str | None:
    """Why spconv cannot run on ``device`` (None: it can). The first call per device runs one
    small submanifold convolution (forward and backward, checked against the reference) and one
    max-pool there: an installed spconv may still have no kernels for the GPU (e.g. Blackwell,
    sm_120). Only CPU and CUDA devices are probed."""
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    if device.type not in ("cpu", "cuda"):
        return None
    if not spconv_available():
        return f"spconv is not available ({_SPCONV.get('error')})"
    probes = _SPCONV.setdefault("probe", {})
    if str(device) not in probes:
        try:
            g = torch.Generator().manual_seed(0)
            coords = torch.tensor([[0, 0, 0, 0], [0, 1, 0, 0], [0, 1, 1, 1], [1, 2, 2, 2]], dtype=torch.int32)
            x = SparseTensor(torch.randn(4, 2, generator=g).to(device), coords.to(device), (4, 4, 4), 2)
            conv = SparseConv(3, 2, 3, 3, subm=True, bias=True, backend="spconv").to(device)
            with torch.autocast(device.type, enabled=False), torch.enable_grad():
                y = conv(x)
                y.features.square().sum().backward()
                SparseMaxPool(3, 2, backend="spconv")(y)
                ref = sparse_conv(x, conv.weight, conv.bias, subm=True).features
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            err = float((y.features.detach() - ref.detach()).abs().max())
            probes[str(device)] = (None if err < 1e-3 and bool(torch.isfinite(conv.weight.grad).all())
                                   else f"its test convolution differs from the reference by {err:.2g}")
        except Exception as e:  # noqa: BLE001 -- any failure means: do not use it here
            probes[str(device)] = f"its test convolution failed: {type(e).__name__}: {str(e).strip()[:200]}"
        if probes[str(device)]:
            probes[str(device)] = f"spconv cannot run on {_device_name(device)}: {probes[str(device)]}"
    return probes[str(device)]


def resolve_backend(backend: str, *, subm: bool = False, kernel_size=(1,), ndim: int = 3,
                    device=None) -> str:
    """'auto'|'reference'|'spconv' -> the backend that will run: spconv only where it is installed
    and supports the layer (D <= 4; odd kernels for submanifold layers), and for 'auto' only where
    it passed :func:`spconv_problem`'s test on ``device``; otherwise the reference (with one
    warning per reason)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown sparse backend {backend!r}; use one of {BACKENDS}")
    if backend == "reference":
        return "reference"
    why = None
    if not spconv_available():
        why = f"spconv is not available ({_SPCONV.get('error')})"
    elif ndim > 4:
        why = f"spconv has no {ndim}-D layers"
    elif subm and any(k % 2 == 0 for k in kernel_size):
        why = f"spconv's submanifold convolution needs odd kernels, got {tuple(kernel_size)}"
    elif backend == "auto" and device is not None:
        why = spconv_problem(device)
    if why:
        _warn_once(f"sparse backend {backend!r}: {why}; using the reference implementation")
        return "reference"
    return "spconv"


def _spconv_input(x: SparseTensor):
    sp = _import_spconv()
    ind = x.cache.setdefault("spconv", {})
    return sp.SparseConvTensor(x.features, x.coords, list(x.spatial_shape), x.batch_size, indice_dict=ind), ind


def _spconv_algo(device: torch.device):
    return _SPCONV["algo"].Native if device.type == "cpu" else None


def _spconv_dtype(x: SparseTensor, weight: torch.Tensor | None = None):
    """(features, context) for a spconv call. spconv has no bfloat16 kernels and its autocast
    hooks are CUDA-only, so under CPU autocast (or with bfloat16 features) it runs in the
    weight's dtype (float32) with autocast off there; CUDA autocast is left to spconv's own
    ``custom_fwd`` (casts to float16)."""
    f = x.features
    cpu_amp = f.device.type == "cpu" and torch.is_autocast_enabled("cpu")
    if cpu_amp or f.dtype == torch.bfloat16:
        dt = weight.dtype if weight is not None and weight.dtype != torch.bfloat16 else torch.float32
        ctx = torch.autocast("cpu", enabled=False) if cpu_amp else contextlib.nullcontext()
        return f.to(dt), ctx
    return f, contextlib.nullcontext()


def spconv_rulebook(x: SparseTensor, kernel_size, stride, padding, dilation) -> Rulebook:
    """The pairs of a regular (strided) layer as spconv computes them (its Native indice
    generator, CPU or CUDA), as a :class:`Rulebook`; cached in ``x.cache``."""
    key = ("spconv-pairs", tuple(kernel_size), tuple(stride), tuple(padding), tuple(dilation))
    rb = x.cache.get(key)
    if rb is None:
        _import_spconv()
        from spconv.pytorch import ops
        D = x.ndim
        outids, pairs, num = ops.get_indice_pairs(x.coords, x.batch_size, list(x.spatial_shape),
                                                  _SPCONV["algo"].Native, list(kernel_size), list(stride),
                                                  list(padding), list(dilation), [0] * D, False)
        counts = [int(n) for n in num.tolist()]                       # pairs per offset, (K,)
        in_idx = torch.cat([pairs[0, k, :n] for k, n in enumerate(counts)]).long()
        out_idx = torch.cat([pairs[1, k, :n] for k, n in enumerate(counts)]).long()
        shape = output_shape(x.spatial_shape, kernel_size, stride, padding, dilation)
        rb = x.cache[key] = Rulebook(in_idx, out_idx, counts, outids.to(torch.int32), tuple(shape),
                                     tuple(kernel_size))
    return rb


# ============================================================================ modules
class SparseConv(nn.Module):
    """Sparse convolution (Eq. 9) on a :class:`SparseTensor` with ``ndim`` dimensions.

    ``subm=True``: submanifold (output sites = input sites, padding implied); ``subm=False``:
    regular, with stride/padding/dilation as ``torch.nn.Conv{D}d``. Parameters: ``weight``
    (C_out, *kernel, C_in) -- spconv's layout, initialised like torch's convolutions -- and an
    optional ``bias``. ``backend``: 'auto' (spconv where possible), 'reference' or 'spconv'.
    """

    def __init__(self, ndim: int, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, *, subm: bool = True, bias: bool = False, backend: str = "auto"):
        super().__init__()
        if backend not in BACKENDS:
            raise ValueError(f"unknown sparse backend {backend!r}; use one of {BACKENDS}")
        self.ndim, self.in_channels, self.out_channels, self.subm = ndim, in_channels, out_channels, subm
        self.kernel_size = _tuple(kernel_size, ndim, "kernel_size")
        self.stride = _tuple(stride, ndim, "stride")
        self.padding = _tuple(padding, ndim, "padding")
        self.dilation = _tuple(dilation, ndim, "dilation")
        if subm and (any(s != 1 for s in self.stride) or any(self.padding)):
            raise ValueError("SparseConv: a submanifold layer has stride 1 and implied padding")
        self.backend = backend
        self.weight = nn.Parameter(torch.empty(out_channels, *self.kernel_size, in_channels))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()
        self.__dict__["_sp_layers"] = {}                              # spconv layers by device type (not submodules)

    def reset_parameters(self):
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))        # fan_in = C_in * prod(K), as torch
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_channels * math.prod(self.kernel_size))
            nn.init.uniform_(self.bias, -bound, bound)

    @property
    def indice_key(self) -> str:
        """spconv's cache key for a submanifold rulebook: same sites + kernel + dilation -> same pairs."""
        return f"subm_k{'x'.join(map(str, self.kernel_size))}_d{'x'.join(map(str, self.dilation))}"

    def active_backend(self, device=None) -> str:
        return resolve_backend(self.backend, subm=self.subm, kernel_size=self.kernel_size, ndim=self.ndim,
                               device=device)

    def _spconv_layer(self, device):
        layers = self.__dict__["_sp_layers"]
        if device.type not in layers:
            layers[device.type] = make_spconv(self, algo=_spconv_algo(device), copy=False)
        sp_layer = layers[device.type]
        sp_layer.weight = self.weight                                # the same Parameter objects
        sp_layer.bias = self.bias
        return sp_layer

    def forward(self, x: SparseTensor) -> SparseTensor:
        if x.ndim != self.ndim:
            raise ValueError(f"{type(self).__name__}: expected a {self.ndim}-D sparse tensor, got {x.ndim}-D")
        if x.num_channels != self.in_channels:
            raise ValueError(f"{type(self).__name__}: expected {self.in_channels} channels, got {x.num_channels}")
        if self.active_backend(x.device) == "reference":
            return sparse_conv(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.subm)
        feats, ctx = _spconv_dtype(x, self.weight)
        spx, ind = _spconv_input(x.replace(feats) if feats is not x.features else x)
        with ctx:
            out = self._spconv_layer(x.device)(spx)
        if self.subm:
            ind.update(out.indice_dict)                               # keep the pairs for the next layer
            return x.replace(out.features)
        return SparseTensor(out.features, out.indices, out.spatial_shape, x.batch_size, check=False)

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, subm={self.subm}, "
             f"backend={self.backend!r}")
        if not self.subm:
            s += f", stride={self.stride}, padding={self.padding}"
        if any(d != 1 for d in self.dilation):
            s += f", dilation={self.dilation}"
        return s + (", bias=False" if self.bias is None else "")


class SparseMaxPool(nn.Module):
    """Sparse max-pooling (Eq. 10); stride defaults to the kernel size. Same backends as :class:`SparseConv`."""

    def __init__(self, ndim: int, kernel_size, stride=None, padding=0, dilation=1, *, backend: str = "auto"):
        super().__init__()
        self.ndim = ndim
        self.kernel_size = _tuple(kernel_size, ndim, "kernel_size")
        self.stride = self.kernel_size if stride is None else _tuple(stride, ndim, "stride")
        self.padding = _tuple(padding, ndim, "padding")
        self.dilation = _tuple(dilation, ndim, "dilation")
        self.backend = backend

    def active_backend(self, device=None) -> str:
        return resolve_backend(self.backend, subm=False, kernel_size=self.kernel_size, ndim=self.ndim,
                               device=device)

    def forward(self, x: SparseTensor) -> SparseTensor:
        if x.ndim != self.ndim:
            raise ValueError(f"SparseMaxPool: expected a {self.ndim}-D sparse tensor, got {x.ndim}-D")
        if self.active_backend(x.device) == "reference":
            return sparse_max_pool(x, self.kernel_size, self.stride, self.padding, self.dilation)
        # spconv finds the output sites and pairs; the max itself is the shared max_by_rulebook, so
        # both backends pool with one tie rule (spconv's own kernel gives a tie's full gradient
        # to every tied input, and starts its max from 0)
        rb = spconv_rulebook(x, self.kernel_size, self.stride, self.padding, self.dilation)
        return SparseTensor(max_by_rulebook(x.features, rb), rb.out_coords, rb.out_shape, x.batch_size,
                            check=False)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, backend={self.backend!r}"


# ============================================================================ conversion
def make_spconv(conv: SparseConv, algo="auto", copy: bool = True):
    """A stand-alone spconv layer equivalent to ``conv`` (SubMConvNd or SparseConvNd).

    ``copy=True``: its own Parameters holding copies of conv's weight/bias; ``copy=False``: it
    shares conv's Parameter objects. ``algo='auto'``: Native on CPU, spconv's default on CUDA.
    """
    sp = _import_spconv()
    if sp is None:
        raise RuntimeError(f"spconv is not available: {_SPCONV.get('error')}")
    if algo == "auto":
        algo = _spconv_algo(conv.weight.device)
    D = conv.ndim
    if conv.subm:
        layer = getattr(sp, f"SubMConv{D}d")(conv.in_channels, conv.out_channels, conv.kernel_size,
                                             dilation=conv.dilation, bias=conv.bias is not None,
                                             indice_key=conv.indice_key, algo=algo)
    else:
        layer = getattr(sp, f"SparseConv{D}d")(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                                               conv.padding, conv.dilation, bias=conv.bias is not None, algo=algo)
    if copy:
        load_spconv(layer, conv)
    else:
        layer.weight = conv.weight
        layer.bias = conv.bias
    return layer.to(conv.weight.device) if copy else layer



@torch.no_grad()
def load_spconv(dst, src) -> None:
    """Copy weight (and bias) from ``src`` to ``dst``; either may be a :class:`SparseConv` or a
    spconv layer (both use the (C_out, *kernel, C_in) layout, so this is a plain copy)."""
    if tuple(dst.weight.shape) != tuple(src.weight.shape):
        raise ValueError(f"load_spconv: weight shapes differ, {tuple(dst.weight.shape)} vs {tuple(src.weight.shape)}")
    dst.weight.copy_(src.weight)
    if (dst.bias is None) != (src.bias is None):
        raise ValueError("load_spconv: one layer has a bias and the other does not")
    if dst.bias is not None:
        dst.bias.copy_(src.bias)


def set_backend(module: nn.Module, backend: str) -> nn.Module:
    """Set ``backend`` on every sparse layer inside ``module``; returns the module."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown sparse backend {backend!r}; use one of {BACKENDS}")
    for m in module.modules():
        if isinstance(m, (SparseConv, SparseMaxPool)):
            m.backend = backend
    return module


def sparse_layers(module: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, layer) of every SparseConv / SparseMaxPool inside module."""
    return [(n, m) for n, m in module.named_modules() if isinstance(m, (SparseConv, SparseMaxPool))]

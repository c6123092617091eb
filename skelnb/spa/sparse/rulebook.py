"""Rulebooks: for every kernel offset o, the pairs (input j, output i) it connects -- the sums of Eq. 9 and
the maxima of Eq. 10 run over these pairs.

Which output sites exist:

* **submanifold** layers (``subm=True``): exactly the input's sites, so sparsity never grows however many
  layers are stacked; the window is centred ("same" padding, ``d (K - 1) // 2`` before, as
  ``torch.nn.functional.conv3d(padding='same')``, so even kernels reach one step further forward than back);
* **regular** (strided) convolution and max-pooling: every output position p of the dense layer with the
  same stride/padding/dilation whose window holds at least one active input, i.e.
  p = (R(j) + pad - o d) / stride for some input j and kernel offset o.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Sequence

import torch

from .tensor import SparseTensor, delinearize, linearize


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

    Built in book/10_sparse_conv.ipynb.
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


def rulebook(x: SparseTensor, kernel_size, stride=1, padding=0, dilation=1, subm=True) -> Rulebook:
    """:func:`build_rulebook` for x, cached in ``x.cache`` (shared by every tensor on the same sites)."""
    D = x.ndim
    key = ("ref", bool(subm), _tuple(kernel_size, D, "kernel_size"), _tuple(dilation, D, "dilation"),
           None if subm else (_tuple(stride, D, "stride"), _tuple(padding, D, "padding")))
    rb = x.cache.get(key)
    if rb is None:
        rb = x.cache[key] = build_rulebook(x.coords, x.spatial_shape, kernel_size, stride, padding, dilation, subm)
    return rb

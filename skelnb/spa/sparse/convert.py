"""Stand-alone spconv layers from a :class:`~skelnb.spa.sparse.SparseConv` and back (same weight layout,
``(C_out, *kernel, C_in)``, so both ways are plain copies)."""
from __future__ import annotations

import torch

from .spconv_backend import _SPCONV, _import_spconv, _spconv_algo


def make_spconv(conv, algo="auto", copy: bool = True):
    """A stand-alone spconv layer equivalent to ``conv``, a :class:`~skelnb.spa.sparse.SparseConv`
    (SubMConvNd or SparseConvNd).

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
    """Copy weight (and bias) from ``src`` to ``dst``; either may be a :class:`~skelnb.spa.sparse.SparseConv` or a
    spconv layer (both use the (C_out, *kernel, C_in) layout, so this is a plain copy)."""
    if tuple(dst.weight.shape) != tuple(src.weight.shape):
        raise ValueError(f"load_spconv: weight shapes differ, {tuple(dst.weight.shape)} vs {tuple(src.weight.shape)}")
    dst.weight.copy_(src.weight)
    if (dst.bias is None) != (src.bias is None):
        raise ValueError("load_spconv: one layer has a bias and the other does not")
    if dst.bias is not None:
        dst.bias.copy_(src.bias)

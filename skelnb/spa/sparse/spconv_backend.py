"""The spconv 2.x glue: import it once, hand it a :class:`SparseTensor` in a dtype it has kernels for, and
read a strided layer's pairs back as a :class:`Rulebook`."""
from __future__ import annotations

import contextlib
import warnings

import torch

from .rulebook import Rulebook, output_shape
from .tensor import SparseTensor

# the import (mod, algo, or error) and, per device, the result of modules.spconv_problem (probe)
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


def _spconv_input(x: SparseTensor):
    sp = _import_spconv()
    ind = x.cache.setdefault("spconv", {})
    return sp.SparseConvTensor(x.features, x.coords, list(x.spatial_shape), x.batch_size, indice_dict=ind), ind


def _spconv_algo(device: torch.device):
    """ConvAlgo.Native on CPU (spconv's default algorithm fails there for several 4D shapes and for
    pooling), spconv's default (None) on CUDA."""
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

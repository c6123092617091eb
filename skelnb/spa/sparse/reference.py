"""The reference backend: Eq. 9 and Eq. 10 in plain PyTorch on a rulebook, and the global pooling of the readout.

    F_out(i) = sum_{R(j) in B(R(i))} W[R(j) - R(i)] F_in(j)          (Eq. 9, sparse convolution)
    F_out(i) = max_{R(j) in B(R(i))} F_in(j)                          (Eq. 10, sparse max-pooling)

Weights in spconv's layout, ``(C_out, *kernel, C_in)``; any D, any kernel (odd or even), stride, padding
and dilation; autograd flows through ``index_add``/``gather``.
"""
from __future__ import annotations

import torch

from .rulebook import Rulebook, rulebook
from .tensor import SparseTensor


def sparse_conv(x: SparseTensor, weight: torch.Tensor, bias: torch.Tensor | None = None, stride=1, padding=0,
                dilation=1, subm: bool = True) -> SparseTensor:
    """Eq. 9 in plain PyTorch: for every kernel offset, gather its inputs, multiply by W[o], scatter-add.

    weight: (C_out, *kernel, C_in) (spconv's layout). ``padding`` is ignored when ``subm``.
    Built in book/10_sparse_conv.ipynb.
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
    """Eq. 10 in plain PyTorch: max over the active inputs in each output's window (stride defaults to kernel).

    Built in book/10_sparse_conv.ipynb."""
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
    """(B, C): mean or max of each sample's active sites (a sample with no site gives zeros).

    SPA-Net's readout, book/11_spanet.ipynb."""
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

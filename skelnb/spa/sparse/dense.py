"""Dense equivalents of the sparse layers (D = 1..4, spconv's weight layout), to check them against
(tests/test_spa.py)."""
from __future__ import annotations

import torch

from .rulebook import _tuple, same_padding


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

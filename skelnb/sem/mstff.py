"""Multi-scale temporal feed-forward layer, MS-TFF (Fig. 4), and the Table 2 rows.

A 1x1 convolution maps C_in to C_out channels and splits them into B branches; branch b is a
temporal convolution (kernel k_b x 1, dilation d_b, optional stride) on its C_out/B channels; the
branch outputs are concatenated back to C_out channels and batch-normalised. With one branch
(``kernels=(k,)``) this is the plain temporal feed-forward layer (TFF) of the paper: the
transformer's pointwise feed-forward followed by one full-width k x 1 temporal convolution.

A branch's window is d_b (k_b - 1) + 1 frames (:func:`receptive_field`). The row names are taken
literally: ``d=(1,3,5,7)`` with k=3 spans 3, 7, 11, 15 frames, not the 3, 5, 7, 9 of ``k=(3,5,7,9)``
that the paper calls the same temporal receptive field (book/05_mstff.ipynb measures both).
"""
from __future__ import annotations

import torch
import torch.nn as nn

# Table 2 rows -> (kernels, dilations). "k=3"/"k=9": one full-width branch (no channel split; the
# 1x1 conv is then the plain pointwise feed-forward layer -- the paper's numbers fit a 1x1 in every row).
TABLE2 = {
    "k=3": ((3,), (1,)),
    "k=9": ((9,), (1,)),
    "k=(3,5,7,9)": ((3, 5, 7, 9), (1, 1, 1, 1)),
    "d=(1,3,5,7)": ((3, 3, 3, 3), (1, 3, 5, 7)),
}


def tff_config(row: str) -> dict:
    """Table 2 row name -> ``dict(kernels=..., dilations=...)`` for :class:`MSTFF`."""
    try:
        k, d = TABLE2[row]
    except KeyError:
        raise ValueError(f"unknown feed-forward setting {row!r}; Table 2 rows: {list(TABLE2)}") from None
    return dict(kernels=k, dilations=d)


def receptive_field(kernels, dilations) -> int:
    """Largest temporal window (frames) of one MS-TFF layer: max_b d_b (k_b - 1) + 1."""
    return max(d * (k - 1) + 1 for k, d in zip(kernels, dilations))


class MSTFF(nn.Module):
    """MS-TFF (Fig. 4): 1x1 split -> B temporal convs (k_b, d_b, stride) -> concat -> BN.

    (N, C_in, T, V) -> (N, C_out, ceil(T / stride), V). ``C_out`` must be divisible by B.
    BN + ReLU sit between the 1x1 split and the temporal convs (as in the multi-scale temporal
    convolutions of MS-G3D/CTR-GCN); the final BN has no ReLU so the block can add its residual
    first. Temporal convs are "same"-padded: d (k - 1) / 2 on both sides (k odd).
    Built in book/05_mstff.ipynb.
    """

    def __init__(self, in_channels: int, out_channels: int, kernels=(3, 3, 3, 3), dilations=(1, 3, 5, 7),
                 stride: int = 1):
        super().__init__()
        kernels, dilations = tuple(kernels), tuple(dilations)
        if len(kernels) != len(dilations) or not kernels:
            raise ValueError(f"MSTFF: need one dilation per kernel, got kernels={kernels}, dilations={dilations}")
        if any(k % 2 == 0 for k in kernels):
            raise ValueError(f"MSTFF: temporal kernels must be odd (same padding), got {kernels}")
        B = len(kernels)
        if out_channels % B:
            raise ValueError(f"MSTFF: out_channels={out_channels} not divisible by {B} branches")
        self.kernels, self.dilations, self.stride, self.branch_channels = kernels, dilations, stride, out_channels // B
        Cb = self.branch_channels
        self.split = nn.Sequential(                                   # the 1x1 conv of Fig. 4 (all branches)
            nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))
        self.branches = nn.ModuleList(
            nn.Conv2d(Cb, Cb, (k, 1), stride=(stride, 1), padding=(d * (k - 1) // 2, 0), dilation=(d, 1), bias=False)
            for k, d in zip(kernels, dilations))
        self.bn = nn.BatchNorm2d(out_channels)

    @property
    def receptive_field(self) -> int:
        return receptive_field(self.kernels, self.dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.split(x).split(self.branch_channels, dim=1)         # B x (N, C_out/B, T, V)
        y = torch.cat([conv(hb) for conv, hb in zip(self.branches, h)], dim=1)  # (N, C_out, T', V)
        return self.bn(y)

    def extra_repr(self) -> str:
        return f"kernels={self.kernels}, dilations={self.dilations}, stride={self.stride}"

"""SEM-Net: the semantic-perspective stream (Sec. 3.1, Fig. 2 and Fig. 5).

    x (N, C, T, V, M) --persons to batch--> (N*M, C, T, V)
      -> input embedding: 1x1 conv C -> C_0, BN, ReLU
      -> L x SEMBlock: GR-CFSA (S heads + linear mix), BN, +residual, ReLU
                       MS-TFF (1x1 split, B dilated temporal convs, BN), +residual, ReLU
      -> global average pooling over T and V, mean over the M persons -> FC -> class scores

The paper does not give the exact architecture (its supplement is not public): ``SEMConfig()``'s
widths, strides and embedding sizes are calibrated to the costs of Tables 1 and 2 together, and at
paper size every GR-CFSA adds DSTA-Net's sinusoidal encoding of the joint and frame index to its
queries and keys (``pos_encoding='spatiotemporal'``; ``SEMNet.quick``: none). How it was sized,
and the other choices the paper leaves open: book/06_semnet.ipynb.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn as nn

from ..data.layouts import Layout, get_layout, to_bones
from ..errors import InputError
from .attention import MODES, POS_ENCODINGS, GRCFSA
from .mstff import MSTFF, TABLE2, tff_config


@dataclass(frozen=True)
class SEMConfig:
    """Everything that defines a SEM-Net; ``SEMConfig()`` is the calibrated NTU-60 default
    (sized in book/06_semnet.ipynb)."""
    num_classes: int = 60
    layout: str | Layout = "ntu25"                      # skeleton layout (sets V and the bones)
    in_channels: int = 3                                # x, y, z
    num_frames: int = 128                               # frames the data pipeline feeds (crop size)
    stem_channels: int = 64                             # input embedding width C_0
    channels: tuple[int, ...] = (64, 64, 128, 128, 256, 256, 512, 512)   # C_out per block (L = 8)
    embed_channels: tuple[int, ...] = (32, 32, 64, 64, 128, 128, 256, 256)  # C_e per block (C_out / 2)
    strides: tuple[int, ...] = (1, 1, 2, 1, 2, 1, 2, 1)                  # temporal stride per block
    num_heads: int = 3                                  # S
    attention: str = "cross-frame+GR"                   # Table 1 row
    tff: str = "d=(1,3,5,7)"                            # Table 2 row
    reduce: str = "mean"                                # temporal pooling in Eq. 6 ("mean" or "sum")
    pos_encoding: str = "spatiotemporal"                # "none" | "spatial" | "spatiotemporal" (DSTA-Net)
    dropout: float = 0.0
    stream: str = "joint"                               # "joint" or "bone" (input -> to_bones)

    def __post_init__(self):
        n = len(self.channels)
        if not (len(self.embed_channels) == len(self.strides) == n):
            raise ValueError(f"SEMConfig: channels/embed_channels/strides need one entry per block, got "
                             f"{len(self.channels)}/{len(self.embed_channels)}/{len(self.strides)}")
        if self.attention not in MODES:
            raise ValueError(f"SEMConfig: attention must be one of {MODES}, got {self.attention!r}")
        if self.tff not in TABLE2:
            raise ValueError(f"SEMConfig: tff must be one of {list(TABLE2)}, got {self.tff!r}")
        if self.stream not in ("joint", "bone"):
            raise ValueError(f"SEMConfig: stream must be 'joint' or 'bone', got {self.stream!r}")
        if self.pos_encoding not in POS_ENCODINGS:
            raise ValueError(f"SEMConfig: pos_encoding must be one of {POS_ENCODINGS}, got {self.pos_encoding!r}")
        get_layout(self.layout)

    @property
    def num_joints(self) -> int:
        return get_layout(self.layout).num_joints


class SEMBlock(nn.Module):
    """One SEM-block (Fig. 5): S-head GR-CFSA + linear mix, then MS-TFF; residual around each.

    (N, C_in, T, V) -> (N, C_out, ceil(T / stride), V). BN/ReLU placement as in DSTA-Net /
    2s-AGCN: conv -> BN -> (+ residual) -> ReLU. Residuals are identity where shapes match and a
    1x1 conv + BN (strided in time for the MS-TFF) where they do not.
    Built in book/06_semnet.ipynb.
    """

    def __init__(self, in_channels: int, out_channels: int, embed_channels: int, num_heads: int = 3,
                 mode: str = "cross-frame+GR", num_joints: int | None = None, tff: str = "d=(1,3,5,7)",
                 stride: int = 1, reduce: str = "mean", pos_encoding: str = "none"):
        super().__init__()
        self.att = GRCFSA(in_channels, out_channels, embed_channels, num_heads, mode, num_joints, reduce,
                          pos_encoding)
        self.bn_att = nn.BatchNorm2d(out_channels)
        self.res_att = (nn.Identity() if in_channels == out_channels else
                        nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, bias=False),
                                      nn.BatchNorm2d(out_channels)))
        self.tff = MSTFF(out_channels, out_channels, stride=stride, **tff_config(tff))
        self.res_tff = (nn.Identity() if stride == 1 else
                        nn.Sequential(nn.Conv2d(out_channels, out_channels, 1, stride=(stride, 1), bias=False),
                                      nn.BatchNorm2d(out_channels)))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.bn_att(self.att(x)) + self.res_att(x))    # (N, C_out, T, V)
        return self.relu(self.tff(y) + self.res_tff(y))              # (N, C_out, T/stride, V)


class SEMNet(nn.Module):
    """SEM-Net (Fig. 2, top). Input (N, C, T, V, M) -> class scores (N, num_classes).

    ``SEMNet()`` is the calibrated NTU-60 default (cross-frame+GR, d=(1,3,5,7)); keyword arguments
    override :class:`SEMConfig` fields, e.g. ``SEMNet(attention="unified", tff="k=3")`` for a
    Table 1/2 variant, ``SEMNet(stream="bone")`` for the bone stream. Any T works (the GAP and
    the temporal pooling of Eq. 6 do not depend on it); ``num_frames`` is what the data pipeline
    should crop to and what the costs are quoted at. M persons become extra batch entries and
    their pooled features are averaged (zero-padded persons included, as in ST-GCN and DSTA-Net).
    Built in book/06_semnet.ipynb.
    """

    def __init__(self, config: SEMConfig | None = None, **overrides):
        super().__init__()
        cfg = replace(config or SEMConfig(), **overrides)
        self.config = cfg
        self.layout = get_layout(cfg.layout)
        V = self.layout.num_joints
        self.stem = nn.Sequential(nn.Conv2d(cfg.in_channels, cfg.stem_channels, 1, bias=False),
                                  nn.BatchNorm2d(cfg.stem_channels), nn.ReLU(inplace=True))
        cins = (cfg.stem_channels,) + tuple(cfg.channels[:-1])
        self.blocks = nn.ModuleList(
            SEMBlock(ci, co, ce, cfg.num_heads, cfg.attention, V, cfg.tff, s, cfg.reduce, cfg.pos_encoding)
            for ci, co, ce, s in zip(cins, cfg.channels, cfg.embed_channels, cfg.strides))
        self.drop = nn.Dropout(cfg.dropout) if cfg.dropout > 0 else nn.Identity()
        self.fc = nn.Linear(cfg.channels[-1], cfg.num_classes)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def quick(cls, num_classes: int = 60, layout: str | Layout = "ntu25", width: int = 16, depth: int = 3,
              num_frames: int = 16, **overrides) -> "SEMNet":
        """A small CPU model: ``depth`` blocks of widths width, 2*width, ...; stride 2 in block 2;
        no positional encoding (unless ``pos_encoding=`` is given)."""
        chans = tuple(width * 2 ** (i // 2) for i in range(depth))  # 16, 16, 32, 32, ...
        kw = dict(num_classes=num_classes, layout=layout, num_frames=num_frames, stem_channels=width,
                  channels=chans, embed_channels=tuple(max(4, c // 4) for c in chans),
                  strides=tuple(2 if i == 1 else 1 for i in range(depth)), num_heads=2, pos_encoding="none")
        kw.update(overrides)
        return cls(SEMConfig(**kw))

    @classmethod
    def variant(cls, attention: str = "cross-frame+GR", tff: str = "d=(1,3,5,7)", **overrides) -> "SEMNet":
        """A Table 1 (``attention``) / Table 2 (``tff``) variant of the default."""
        return cls(attention=attention, tff=tff, **overrides)

    @property
    def num_frames(self) -> int:
        return self.config.num_frames

    @property
    def num_joints(self) -> int:
        return self.layout.num_joints

    # ------------------------------------------------------------------ forward
    def check_input(self, x: torch.Tensor) -> None:
        cfg, V = self.config, self.layout.num_joints
        want = f"(N, C={cfg.in_channels}, T, V={V}, M) for layout {self.layout.name!r}"
        if not torch.is_tensor(x) or x.ndim != 5:
            shape = tuple(x.shape) if hasattr(x, "shape") else type(x).__name__
            raise ValueError(f"SEMNet: expected a 5-D input {want}, got {shape}")
        N, C, T, Vx, M = x.shape
        if C != cfg.in_channels:
            raise ValueError(f"SEMNet: expected C={cfg.in_channels} input channels {want}, "
                             f"got C={C} in {tuple(x.shape)}")
        if Vx != V:
            raise ValueError(f"SEMNet: expected V={V} joints {want}, got V={Vx} in {tuple(x.shape)}")
        if min(N, T, M) < 1:
            raise ValueError(f"SEMNet: empty input {tuple(x.shape)}, expected {want}")
        if x.device.type != "meta" and not bool(torch.isfinite(x).all()):      # one pass, once per batch
            raise InputError(f"SEMNet: the input {tuple(x.shape)} holds NaN or inf (first at index "
                             f"{tuple(int(i) for i in (~torch.isfinite(x)).nonzero()[0])})")

    def features(self, x: torch.Tensor, attention_maps: list | None = None) -> torch.Tensor:
        """Pooled features (N, C_L). If ``attention_maps`` is a list, each block's weights are appended."""
        self.check_input(x)
        if self.config.stream == "bone":
            x = to_bones(x, self.layout, joint_axis=-2)
        N, C, T, V, M = x.shape
        x = x.permute(0, 4, 1, 2, 3).reshape(N * M, C, T, V)         # persons -> batch
        x = self.stem(x)                                              # (N*M, C_0, T, V)
        for blk in self.blocks:
            if attention_maps is not None:
                attention_maps.append(blk.att.weights(x).detach())
            x = blk(x)                                                # (N*M, C_l, T_l, V)
        x = x.mean(dim=(2, 3))                                        # GAP over T, V: (N*M, C_L)
        return x.view(N, M, -1).mean(dim=1)                           # mean over persons: (N, C_L)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.drop(self.features(x)))                  # (N, num_classes)

    def extra_repr(self) -> str:  # in the repr, so a run key tells e.g. the joint and bone streams apart
        cfg = self.config
        pe = "" if cfg.pos_encoding == "none" else f", pos_encoding={cfg.pos_encoding!r}"
        return (f"layout={self.layout.name!r}, stream={cfg.stream!r}, num_frames={cfg.num_frames}, "
                f"reduce={cfg.reduce!r}, dropout={cfg.dropout}{pe}")

    @torch.no_grad()
    def attention_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Attention weights of every block for input x (N, C, T, V, M); persons are batch entries
        (index n*M + m). Shapes as :meth:`GRCFSA.weights`, e.g. (N*M, S, V, V) for cross-frame."""
        maps: list = []
        self.features(x, maps)
        return maps


def bone_stream(config: SEMConfig | None = None, **overrides) -> SEMNet:
    """The bone stream: the same SEM-Net, fed bone vectors (``to_bones``) of its input."""
    return SEMNet(config, stream="bone", **overrides)


def fuse_scores(*logits: torch.Tensor, weights=None) -> torch.Tensor:
    """Multi-stream fusion (Table 3): sum of the streams' softmax scores, optionally weighted."""
    if not logits:
        raise ValueError("fuse_scores: need at least one stream's scores")
    weights = [1.0] * len(logits) if weights is None else list(weights)
    if len(weights) != len(logits):
        raise ValueError(f"fuse_scores: {len(logits)} streams but {len(weights)} weights")
    shapes = {tuple(l.shape) for l in logits}
    if len(shapes) != 1:
        raise ValueError(f"fuse_scores: streams' scores must have the same shape, got {sorted(shapes)}")
    return sum(w * l.softmax(dim=-1) for w, l in zip(weights, logits))

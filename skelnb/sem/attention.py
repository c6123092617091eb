"""Self-attention over skeleton joints: every row of Table 1 in one layer, ``GRCFSA``.

The input is a feature map x of shape (N, C, T, V): N samples, C channels, T frames, V joints
(the paper calls the joints N; here N is the batch, as in ST-GCN/DSTA-Net code). Every head s has
two embedding functions f1, f2: C -> Ce (1x1 convolutions, Eq. 3) and aggregates the *input*
features x with softmax weights (Eq. 2/4); the S head outputs are concatenated and mixed by a
linear layer (Fig. 5). The modes differ only in where the weights come from and what they mix:

* ``unified`` (Eq. 2-3): logits f1(x_{t1,n1}) f2(x_{t2,n2})^T / sqrt(Ce) between all T*V
  tokens; each token aggregates all T*V tokens. O(T^2 V^2 Ce).
* ``single-frame`` (Eq. 4-5): logits f1(x_{t,n1}) f2(x_{t,n2})^T / sqrt(Ce), one V x V map per
  frame; aggregation within frame t. O(T V^2 Ce).
* ``cross-frame`` (Eq. 6): logits [sum_tau f1(x_{tau,n1})] [sum_tau f2(x_{tau,n2})]^T / sqrt(Ce),
  one V x V map per sample and head, shared by all frames; aggregation still within frame t
  (Eq. 4). The QK^T product is done once instead of T times.
* ``cross-frame+GR`` (Eq. 7): logits beta * (Eq. 6 logits) + alpha_hat[n1, n2], alpha_hat a
  learned V x V map per head shared by all frames and samples; aggregation as Eq. 4.

Choices the paper leaves open (why: book/03_cross_frame_attention.ipynb, book/04_global_regularization.ipynb):

* **Sum or mean in Eq. 6.** ``reduce="mean"`` (default) pools with temporal means, i.e. Eq. 6
  divided by T^2, so the softmax temperature does not depend on the clip length; ``reduce="sum"``
  is Eq. 6 verbatim. Either way the logits are the product of two pooled embeddings, not the
  DSTA-Net style sum of per-frame products sum_t f1(x_t) f2(x_t)^T.
* **GR and the 1/sqrt(Ce) scaling.** Eq. 7 logits are ``beta * f1 f2^T / sqrt(Ce) + alpha_hat``:
  alpha_hat (S, V, V) is a free logit map per head, initialised to 0 (uniform); beta (S,) is
  learnable, initialised to 1.
* Heads aggregate the *input* channels C (Eq. 2/4 aggregate x^in); the linear layer maps the
  concatenated S*C channels to C_out, as in DSTA-Net / Fig. 5.
* ``unified`` runs through ``torch.nn.functional.scaled_dot_product_attention`` in ``forward``:
  the same Eq. 2-3 arithmetic as ``aggregate(x, weights(x))``, the readable form (a test checks
  values and gradients; ``weights`` still builds the maps for plots).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

MODES = ("unified", "single-frame", "cross-frame", "cross-frame+GR")
POS_ENCODINGS = ("none", "spatial", "spatiotemporal")


def sinusoid(positions: torch.Tensor, channels: int) -> torch.Tensor:
    """(P,) positions -> (channels, P) Transformer sinusoids: sin on even, cos on odd channels."""
    div = torch.exp(torch.arange(0, channels, 2, dtype=torch.float32) * (-math.log(10000.0) / channels))
    ang = positions.float()[:, None] * div[None]                       # (P, ceil(C/2))
    pe = torch.zeros(len(positions), channels)
    pe[:, 0::2] = torch.sin(ang)
    pe[:, 1::2] = torch.cos(ang[:, : channels // 2])
    return pe.T


def positional_encoding(kind: str, channels: int, T: int, V: int) -> torch.Tensor:
    """(channels, T, V) fixed encoding of each token's joint index ('spatial') or of its joint
    and frame indices, summed ('spatiotemporal'), in DSTA-Net's sinusoidal form."""
    if kind not in POS_ENCODINGS[1:]:
        raise ValueError(f"positional_encoding: kind must be one of {POS_ENCODINGS[1:]}, got {kind!r}")
    pe = sinusoid(torch.arange(V), channels)[:, None, :].expand(channels, T, V)
    if kind == "spatiotemporal":
        pe = pe + sinusoid(torch.arange(T), channels)[:, :, None]
    return pe.contiguous()


class GRCFSA(nn.Module):
    """Global-regularised cross-frame self-attention (Fig. 3) with S heads and the Fig. 5 mix.

    ``mode`` selects the Table 1 row (see the module docstring). ``num_joints`` is needed only for
    ``cross-frame+GR`` (the size of the learned V x V global attention).
    Input (N, C_in, T, V) -> output (N, C_out, T, V). No normalisation/activation/residual here:
    those belong to the SEM-block (``skelnb.sem.net.SEMBlock``).
    Built in book/03_cross_frame_attention.ipynb (GR, Eq. 7: book/04_global_regularization.ipynb).
    """

    def __init__(self, in_channels: int, out_channels: int, embed_channels: int, num_heads: int = 3,
                 mode: str = "cross-frame+GR", num_joints: int | None = None, reduce: str = "mean",
                 pos_encoding: str = "none"):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"GRCFSA: unknown mode {mode!r}; expected one of {MODES}")
        if pos_encoding not in POS_ENCODINGS:
            raise ValueError(f"GRCFSA: pos_encoding must be one of {POS_ENCODINGS}, got {pos_encoding!r}")
        self.pos_encoding = pos_encoding
        self._pe: dict = {}                                          # (T, V, device, dtype) -> (C, T, V)
        if reduce not in ("mean", "sum"):
            raise ValueError(f"GRCFSA: reduce must be 'mean' or 'sum', got {reduce!r}")
        if mode == "cross-frame+GR" and num_joints is None:
            raise ValueError("GRCFSA: mode 'cross-frame+GR' needs num_joints (size of the global attention)")
        self.mode, self.reduce = mode, reduce
        self.in_channels, self.out_channels = in_channels, out_channels
        self.embed_channels, self.num_heads, self.num_joints = embed_channels, num_heads, num_joints
        S, Ce = num_heads, embed_channels
        self.f12 = nn.Conv2d(in_channels, 2 * S * Ce, 1)            # f1 and f2 of all S heads (Eq. 3)
        self.mix = nn.Conv2d(S * in_channels, out_channels, 1)       # linear layer over concatenated heads
        if mode == "cross-frame+GR":
            self.alpha_hat = nn.Parameter(torch.zeros(S, num_joints, num_joints))  # (S, V, V) Eq. 7
            self.beta = nn.Parameter(torch.ones(S))                                 # (S,)

    # ------------------------------------------------------------------ embeddings and weights
    def embed(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """f1(x + PE), f2(x + PE), each (N, S, Ce, T, V). The positional encoding (if any) enters
        the queries and keys only; the values are x itself (as DSTA-Net)."""
        N, C, T, V = x.shape
        if self.pos_encoding != "none":
            key = (T, V, x.device, x.dtype)
            if key not in self._pe:
                self._pe[key] = positional_encoding(self.pos_encoding, C, T, V).to(x.device, x.dtype)
            x = x + self._pe[key]                                     # (N, C, T, V)
        f = self.f12(x).view(N, 2, self.num_heads, self.embed_channels, T, V)
        return f[:, 0], f[:, 1]

    def weights(self, x: torch.Tensor) -> torch.Tensor:
        """Softmax attention weights (rows sum to 1 over the aggregated tokens).

        unified: (N, S, T*V, T*V); single-frame: (N, S, T, V, V); cross-frame(+GR): (N, S, V, V),
        shared by all T frames. Row index = the output token (t1, n1), column = the input token.
        """
        f1, f2 = self.embed(x)                                        # (N, S, Ce, T, V) each
        N, S, Ce, T, V = f1.shape
        scale = 1.0 / math.sqrt(Ce)
        if self.mode == "unified":                                    # Eq. 3 over T*V tokens
            q, k = f1.reshape(N, S, Ce, T * V), f2.reshape(N, S, Ce, T * V)
            logits = torch.einsum("nscu,nscv->nsuv", q, k) * scale    # (N, S, TV, TV)
        elif self.mode == "single-frame":                             # Eq. 5, per frame
            logits = torch.einsum("nsctu,nsctv->nstuv", f1, f2) * scale  # (N, S, T, V, V)
        else:                                                         # Eq. 6: pool over tau first
            pool = (lambda f: f.mean(dim=3)) if self.reduce == "mean" else (lambda f: f.sum(dim=3))
            logits = torch.einsum("nscu,nscv->nsuv", pool(f1), pool(f2)) * scale  # (N, S, V, V)
            if self.mode == "cross-frame+GR":                         # Eq. 7
                logits = self.beta.view(1, S, 1, 1) * logits + self.alpha_hat
        return logits.softmax(dim=-1)

    # ------------------------------------------------------------------ aggregation + mix
    def aggregate(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """Apply weights ``w`` (from :meth:`weights`) to the input x: (N, C, T, V) -> (N, S, C, T, V)."""
        N, C, T, V = x.shape
        if self.mode == "single-frame":                               # Eq. 4 with per-frame weights
            return torch.einsum("nstuv,nctv->nsctu", w, x)
        # y[n, s, c, u] = sum_v x[n, c, v] w[n, s, u, v] as one batched matmul; its output is already
        # in (N, S, C, T, V) order, so no permute copy is needed
        wT = w.transpose(-1, -2)
        if self.mode == "unified":                                    # Eq. 2: tokens are all (t, v)
            y = x.reshape(N, 1, C, T * V) @ wT                        # (N, S, C, T*V)
        else:                                                         # Eq. 4, weights shared by frames
            y = x.reshape(N, 1, C * T, V) @ wT                        # (N, S, C*T, V)
        return y.reshape(N, self.num_heads, C, T, V)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        N, C, T, V = x.shape
        if self.mode == "cross-frame+GR" and V != self.num_joints:
            raise ValueError(f"GRCFSA: expected {self.num_joints} joints (global attention is "
                             f"{self.num_joints}x{self.num_joints}), got V={V}")
        if self.mode == "unified":                                    # Eq. 2-3, fused (same values)
            f1, f2 = self.embed(x)                                    # (N, S, Ce, T, V) each
            q, k = (f.flatten(3).transpose(-1, -2) for f in (f1, f2))  # (N, S, T*V, Ce)
            v = x.reshape(N, 1, C, T * V).transpose(-1, -2).expand(N, self.num_heads, T * V, C)
            y = F.scaled_dot_product_attention(q, k, v).transpose(-1, -2)  # (N, S, C, T*V)
        else:
            y = self.aggregate(x, self.weights(x))                    # (N, S, C, T, V)
        return self.mix(y.reshape(N, self.num_heads * C, T, V))       # (N, C_out, T, V)

    def extra_repr(self) -> str:
        pe = "" if self.pos_encoding == "none" else f", pos_encoding={self.pos_encoding!r}"
        return (f"mode={self.mode!r}, heads={self.num_heads}, embed={self.embed_channels}, "
                f"reduce={self.reduce!r}{pe}")

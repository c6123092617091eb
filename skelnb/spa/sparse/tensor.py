"""The sparse tensor of Eq. 8: active sites R (P, 1 + D) -- the batch index, then D spatial(-temporal)
coordinates -- and features F (P, C); every site not listed is empty. Sites are compared by int64 keys
(:func:`linearize`, row-major).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch


class SparseTensor:
    """Active sites of a batch of D-dimensional grids.

    features: (P, C) float; coords: (P, 1 + D) integers (batch index, then one coordinate per
    dimension, each in ``[0, spatial_shape[d])``), stored as contiguous int32 (spconv's format);
    rows are unique sites. ``cache`` holds rulebooks (reference) and spconv's index pairs for
    *these coordinates*; tensors made with :meth:`replace` (same sites, new features) share it, so
    consecutive submanifold layers build each rulebook once.

    Built in book/09_voxels.ipynb (Eq. 8) and book/10_sparse_conv.ipynb.
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
    """Features of a and b in one common site order (sorted by key); raises if the site sets differ.

    Compare the backends through it: spconv returns a strided layer's sites in another order."""
    ka, kb = a.keys(), b.keys()
    ia, ib = torch.argsort(ka), torch.argsort(kb)
    if len(ka) != len(kb) or not torch.equal(ka[ia], kb[ib]):
        raise ValueError(f"align: different active sites ({len(ka)} vs {len(kb)})")
    return a.features[ia], b.features[ib]


def delinearize(keys: torch.Tensor, spatial_shape) -> torch.Tensor:
    """Inverse of :func:`linearize`: (P,) int64 keys -> (P, 1 + D) coordinates."""
    cols, k = [], keys.clone()
    for s in reversed(spatial_shape):
        cols.append(k % int(s))
        k = torch.div(k, int(s), rounding_mode="floor")
    cols.append(k)
    return torch.stack(cols[::-1], 1)

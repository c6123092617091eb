"""The one Dataset every source shares: (C, T, V, M) tensors, augmentations, joint/bone switch."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from . import transforms as tf
from .layouts import Layout, get_layout, to_bones


class Rows:
    """A lazy row subset ``arr[idx]`` of a (memory-mapped) array: indexing reads only the rows
    asked for, so a train/test subset of a memmap is not copied into memory."""

    def __init__(self, arr, idx):
        self.arr, self.idx = arr, np.asarray(idx, dtype=np.int64)

    @property
    def shape(self):
        return (len(self.idx),) + tuple(self.arr.shape[1:])

    @property
    def ndim(self):
        return self.arr.ndim

    @property
    def dtype(self):
        return self.arr.dtype

    def __len__(self):
        return len(self.idx)

    def __getitem__(self, i):
        return self.arr[self.idx[i]]

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.arr[self.idx], dtype=dtype)


@dataclass(frozen=True)
class Augment:
    """Training augmentations (the usual recipe of this model family)."""
    crop: tuple[float, float] = (0.5, 1.0)   # fraction of the valid frames kept, random window
    rotate: float = 0.3                      # max rotation per axis (rad)
    scale: tuple[float, float] = (0.9, 1.1)  # per-axis scale range


class SkeletonDataset(Dataset):
    """Sequences ``data`` (N, C, T, V, M) with ``labels`` (N,), served as float tensors
    (C, num_frames, V, M).

    Every item is centred on the spine (``center='first'``: first frame, the common NTU
    recipe; ``'mean'``: mean over frames, blind to frame order; ``None``: not centred -- use it
    for data that are centred already, e.g. a cache, so they are centred once), cropped and
    resized to ``num_frames`` (with ``augment``: a random window of ``augment.crop`` of the valid
    frames; without: the centred window of ``test_crop`` of them -- the training crop's fraction
    keeps the temporal scale of training, DSTA-Net's centre crop; 1.0, the default, is the whole
    span), optionally rotated and scaled, and turned into bone vectors when ``stream='bone'``.
    Augmentation randomness is a function of (seed, epoch, index) only, so results do not depend
    on worker count or order.
    """

    def __init__(self, data, labels, *, num_frames: int = 64, layout: str | Layout = "ntu25",
                 stream: str = "joint", augment: Augment | None = None, seed: int = 0,
                 center: str | None = "first", lengths=None, test_crop: float = 1.0):
        if data.ndim != 5:
            raise ValueError(f"SkeletonDataset: data must be (N, C, T, V, M), got shape {data.shape}")
        self.layout = get_layout(layout)
        if data.shape[3] != self.layout.num_joints:
            raise ValueError(f"SkeletonDataset: layout {self.layout.name!r} has "
                             f"{self.layout.num_joints} joints, data has V={data.shape[3]}")
        if len(labels) != len(data):
            raise ValueError(f"SkeletonDataset: {len(data)} samples but {len(labels)} labels")
        if center not in ("first", "mean", None):
            raise ValueError(f"SkeletonDataset: center must be 'first', 'mean' or None, got {center!r}")
        if stream not in ("joint", "bone"):
            raise ValueError(f"SkeletonDataset: stream must be 'joint' or 'bone', got {stream!r}")
        if not 0 < float(test_crop) <= 1:
            raise ValueError(f"SkeletonDataset: test_crop is a fraction of the valid frames in (0, 1], "
                             f"got {test_crop!r}")
        self.test_crop = float(test_crop)
        self.data, self.labels = data, np.asarray(labels, dtype=np.int64)
        self.lengths = None if lengths is None else np.asarray(lengths)
        self.num_frames, self.stream, self.augment = num_frames, stream, augment
        self.seed, self.center, self.epoch = seed, center, 0

    def set_epoch(self, epoch: int):
        """Call once per epoch so augmentations differ between epochs (and are reproducible)."""
        self.epoch = epoch

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        x = np.asarray(self.data[i], dtype=np.float32)                        # (C, T, V, M)
        n = int(self.lengths[i]) if self.lengths is not None else tf.valid_length(x)
        a = self.augment
        rng = None if a is None else np.random.default_rng([self.seed, self.epoch, i])
        # resample first, while an all-zero joint still means "missing" (after centering the
        # centre joint is a real zero)
        x = tf.crop_resize(x, n, self.num_frames, self.test_crop if a is None else rng.uniform(*a.crop), rng)
        if self.center:
            x = tf.center_on_joint(x, at=self.center)
        if a is not None:
            if a.rotate:
                x = tf.random_rotation(x, rng, a.rotate)
            if a.scale:
                x = tf.random_scale(x, rng, *a.scale)
        if self.stream == "bone":
            x = to_bones(x, self.layout)
        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), int(self.labels[i])


def make_loader(dataset: SkeletonDataset, batch_size: int, *, shuffle: bool, seed: int = 0,
                num_workers: int = 0, drop_last: bool = False) -> DataLoader:
    """A DataLoader whose shuffling order is fixed by ``seed`` (and the dataset's epoch)."""
    g = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=g,
                      num_workers=num_workers, drop_last=drop_last,
                      persistent_workers=num_workers > 0)


def from_skeleton_set(sset, indices=None, **kwargs) -> SkeletonDataset:
    """A SkeletonDataset over (a subset of) a ``SkeletonSet``-like object."""
    idx = np.arange(len(sset.labels)) if indices is None else np.asarray(indices)
    return SkeletonDataset(sset.data[idx], sset.labels[idx], lengths=sset.lengths[idx], **kwargs)

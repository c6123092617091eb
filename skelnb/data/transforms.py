"""Named, documented steps that turn a raw sequence (C, T, V, M) into a training tensor.

Each function takes and returns numpy arrays in the (C, T, V, M) layout; random steps take a
``numpy.random.Generator`` so a sample's augmentation is a function of its seed alone.
"""
from __future__ import annotations

import numpy as np

SPINE_MIDDLE = 1  # NTU-25 "middle of spine" (0-based); the usual centre joint


def valid_length(x: np.ndarray) -> int:
    """Frames up to the last one in which any joint of any person is non-zero."""
    nz = np.flatnonzero(np.abs(x).sum(axis=(0, 2, 3)) > 0)
    return int(nz[-1] + 1) if len(nz) else 0


def center_on_joint(x: np.ndarray, joint: int = SPINE_MIDDLE, at: str = "first") -> np.ndarray:
    """Translate so the first person's ``joint`` sits at 0: its position in the first frame
    where it is seen (``at='first'``, the common NTU preprocessing) or its mean over the frames
    where it is seen (``at='mean'``, which, unlike 'first', does not depend on frame order).

    Zero (missing) joints stay zero, so padding and dropped joints remain recognisable.
    """
    seen = np.flatnonzero(np.abs(x[:, :, joint, 0]).sum(0) > 0)
    if len(seen) == 0:
        return x.copy()
    if at not in ("first", "mean"):
        raise ValueError(f"center_on_joint: at must be 'first' or 'mean', got {at!r}")
    ref = x[:, seen[0], joint, 0] if at == "first" else x[:, seen, joint, 0].mean(1)
    origin = ref[:, None, None, None]
    mask = np.abs(x).sum(0, keepdims=True) > 0
    return np.where(mask, x - origin, 0.0).astype(x.dtype)


def crop_resize(x: np.ndarray, length: int, out_frames: int, ratio: float = 1.0,
                rng: np.random.Generator | None = None) -> np.ndarray:
    """Take ``ratio`` of the valid frames (a random window if ``rng`` is given, else centred),
    and resample it to ``out_frames`` by linear interpolation along time.

    All-zero joints are missing (dropped by the sensor): an output frame between a seen and a
    missing joint takes the seen one, never a point pulled towards the origin. So apply this
    before centring, which turns the centre joint into a real zero."""
    C, T, V, M = x.shape
    if length <= 0:
        return np.zeros((C, out_frames, V, M), x.dtype)
    n = max(1, min(length, int(round(length * ratio))))
    start = int(rng.integers(0, length - n + 1)) if rng is not None else (length - n) // 2
    seg = x[:, start:start + n]
    if n == 1:
        return np.repeat(seg, out_frames, axis=1)
    pos = np.linspace(0, n - 1, out_frames)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, n - 1)
    w = np.broadcast_to((pos - lo)[None, :, None, None], (1, out_frames, V, M)).copy()
    # a missing (all-zero) joint is not a position: never blend towards it. Take the other end
    # where only one end is seen; both missing stays zero.
    seen = np.abs(seg).sum(0, keepdims=True) > 0                  # (1, n, V, M)
    w[~seen[:, hi]] = 0.0
    w[~seen[:, lo] & seen[:, hi]] = 1.0
    return (seg[:, lo] * (1 - w) + seg[:, hi] * w).astype(x.dtype)


def rotation_matrix(angles) -> np.ndarray:
    """Rotation by angles (ax, ay, az) radians about x, then y, then z."""
    ax, ay, az = angles
    cx, sx, cy, sy, cz, sz = np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay), np.cos(az), np.sin(az)
    Rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    Ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    Rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return Rz @ Ry @ Rx


def random_rotation(x: np.ndarray, rng: np.random.Generator, max_angle: float = 0.3) -> np.ndarray:
    """Rotate every point by one random rotation (angles uniform in +-max_angle rad per axis)."""
    R = rotation_matrix(rng.uniform(-max_angle, max_angle, 3)).astype(x.dtype)
    return np.einsum("ij,jtvm->itvm", R, x)


def random_scale(x: np.ndarray, rng: np.random.Generator, low: float = 0.9, high: float = 1.1) -> np.ndarray:
    """Scale each axis by its own random factor in [low, high]."""
    return x * rng.uniform(low, high, (x.shape[0], 1, 1, 1)).astype(x.dtype)

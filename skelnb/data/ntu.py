"""NTU RGB+D ``.skeleton`` files (Kinect v2 text format).

Format, per the dataset: line 1 the frame count; per frame a body count; per body one line of
10 values (bodyID clipedEdges handLeftConfidence handLeftState handRightConfidence
handRightState isRestricted leanX leanY trackingState), the joint count (25), then one line of
12 values per joint (x y z depthX depthY colorX colorY orientationW orientationX orientationY
orientationZ trackingState). Real files use CRLF line ends.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

# Kinect v2 intrinsics (approximate), to write plausible depth/colour pixel coordinates.
_DEPTH = dict(f=365.5, cx=256.0, cy=212.0)
_COLOR = dict(f=1081.4, cx=960.0, cy=540.0)


def _fmt(v) -> str:
    return f"{v:.7g}"


def write_skeleton(path, seq: np.ndarray, present=None, body_ids=None) -> Path:
    """Write ``seq`` (T, M, V, 3) camera-space metres as an NTU ``.skeleton`` file.

    ``present`` (T, M) says which bodies the sensor reported in each frame (default: bodies with
    any non-zero joint); a frame may hold 0, 1, 2 or more bodies. Joints that are exactly zero
    are written with trackingState 0 (not tracked), others 2 (tracked). The file is written
    to a temporary name and renamed, so a kill never leaves half a file.
    """
    seq = np.asarray(seq, dtype=np.float64)
    if seq.ndim != 4 or seq.shape[-1] != 3:
        raise ValueError(f"write_skeleton({path}): seq must be (T, M, V, 3), got {seq.shape}")
    T, M, V, _ = seq.shape
    if present is None:
        present = np.abs(seq).sum(axis=(2, 3)) > 0
    if body_ids is None:
        body_ids = [72057594037931000 + 101 * m for m in range(M)]
    lines = [str(T)]
    for t in range(T):
        bodies = [m for m in range(M) if present[t, m]]
        lines.append(str(len(bodies)))
        for m in bodies:
            lines.append(f"{body_ids[m]} 0 1 1 1 1 0 {_fmt(0.0)} {_fmt(0.0)} 2")
            lines.append(str(V))
            for v in range(V):
                x, y, z = seq[t, m, v]
                if x == 0 and y == 0 and z == 0:
                    lines.append("0 0 0 0 0 0 0 0 0 0 0 0")
                    continue
                zz = max(z, 1e-3)
                dx, dy = _DEPTH["cx"] + _DEPTH["f"] * x / zz, _DEPTH["cy"] - _DEPTH["f"] * y / zz
                cx, cy = _COLOR["cx"] + _COLOR["f"] * x / zz, _COLOR["cy"] - _COLOR["f"] * y / zz
                vals = [x, y, z, dx, dy, cx, cy, 1.0, 0.0, 0.0, 0.0]
                lines.append(" ".join(_fmt(a) for a in vals) + " 2")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with open(tmp, "w", newline="") as f:
        f.write("\r\n".join(lines) + "\r\n")
    os.replace(tmp, path)
    return path


def write_synthetic_ntu(root, sset, indices=None) -> list[Path]:
    """Write samples of a synthetic ``SkeletonSet`` as ``<root>/<name>.skeleton`` files."""
    idx = range(len(sset)) if indices is None else indices
    out = []
    for i in idx:
        n = int(sset.lengths[i])
        seq = sset.data[i, :, :n].transpose(1, 3, 2, 0)         # (C,T,V,M) -> (T,M,V,C)
        out.append(write_skeleton(Path(root) / f"{sset.names[i]}.skeleton", seq))
    return out

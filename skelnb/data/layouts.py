"""Skeleton layouts: joint names, parents (for bones) and the body-part grouping.

A layout is the *semantic* prior of a skeleton: joint n always means the same body part.
Indices are 0-based in code; the NTU documentation numbers joints from 1 (``joint_id`` below).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Layout:
    name: str
    joints: tuple[str, ...]           # V names
    parents: tuple[int, ...]          # parent of each joint, -1 for the root (its bone is zero)
    parts: dict[str, tuple[int, ...]] = field(default_factory=dict)  # semantic groups (Fig. 1a)

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    @property
    def root(self) -> int:
        return self.parents.index(-1)

    @property
    def bones(self) -> list[tuple[int, int]]:
        """(child, parent) pairs, 0-based: one bone per non-root joint."""
        return [(c, p) for c, p in enumerate(self.parents) if p >= 0]

    def joint_id(self, name: str) -> int:
        return self.joints.index(name)

    def part_of(self) -> np.ndarray:
        """(V,) index of the semantic part each joint belongs to (order of ``self.parts``)."""
        out = np.full(self.num_joints, -1)
        for k, idx in enumerate(self.parts.values()):
            out[list(idx)] = k
        return out


def _from_pairs(name, joints, pairs_1based, root_1based, parts_1based) -> Layout:
    parents = [-1] * len(joints)
    for child, parent in pairs_1based:
        parents[child - 1] = parent - 1
    assert parents[root_1based - 1] == -1 and parents.count(-1) == 1, "one root"
    parts = {k: tuple(i - 1 for i in v) for k, v in parts_1based.items()}
    return Layout(name, tuple(joints), tuple(parents), parts)


# NTU RGB+D (Kinect v2), 25 joints; bone pairs as used by the bone streams of this model family.
NTU25 = _from_pairs(
    "ntu25",
    ["base of spine", "middle of spine", "neck", "head",
     "left shoulder", "left elbow", "left wrist", "left hand",
     "right shoulder", "right elbow", "right wrist", "right hand",
     "left hip", "left knee", "left ankle", "left foot",
     "right hip", "right knee", "right ankle", "right foot",
     "spine at the shoulders", "tip of left hand", "left thumb", "tip of right hand", "right thumb"],
    [(1, 2), (2, 21), (3, 21), (4, 3), (5, 21), (6, 5), (7, 6), (8, 7), (9, 21), (10, 9),
     (11, 10), (12, 11), (13, 1), (14, 13), (15, 14), (16, 15), (17, 1), (18, 17), (19, 18),
     (20, 19), (22, 23), (23, 8), (24, 25), (25, 12)],
    root_1based=21,
    parts_1based={"torso": (1, 2, 21), "head": (3, 4),
                  "left arm": (5, 6, 7, 8, 22, 23), "right arm": (9, 10, 11, 12, 24, 25),
                  "left leg": (13, 14, 15, 16), "right leg": (17, 18, 19, 20)},
)

# SHREC'17 / DHG-14/28: 22 hand joints (wrist, palm, then 4 joints per finger, base to tip).
_FINGERS = ("thumb", "index", "middle", "ring", "pinky")
SHREC22 = _from_pairs(
    "shrec22",
    ["wrist", "palm"] + [f"{f} {j}" for f in _FINGERS for j in ("base", "first joint", "second joint", "tip")],
    [(2, 1), (3, 1)] + [(j + 1, j) for f in range(5) for j in range(3 + 4 * f, 6 + 4 * f)]
    + [(3 + 4 * f, 2) for f in range(1, 5)],
    root_1based=1,
    parts_1based={"wrist+palm": (1, 2), **{f: tuple(range(3 + 4 * i, 7 + 4 * i)) for i, f in enumerate(_FINGERS)}},
)

LAYOUTS = {l.name: l for l in (NTU25, SHREC22)}


def get_layout(layout: str | Layout) -> Layout:
    if isinstance(layout, Layout):
        return layout
    try:
        return LAYOUTS[layout]
    except KeyError:
        raise ValueError(f"unknown skeleton layout {layout!r}; known: {sorted(LAYOUTS)}") from None


def to_bones(x, layout: str | Layout = NTU25, joint_axis: int = -2):
    """Bone vectors: each joint minus its parent; the root's bone is zero (same shape as x).

    Works on numpy arrays and torch tensors; ``joint_axis`` is the axis of the V joints
    (-2 for (..., V, M), i.e. the (C, T, V, M) and (N, C, T, V, M) layouts).
    """
    lay = get_layout(layout)
    if x.shape[joint_axis] != lay.num_joints:
        raise ValueError(f"to_bones: expected {lay.num_joints} joints for layout {lay.name!r} "
                         f"on axis {joint_axis}, got shape {tuple(x.shape)}")
    parent = [p if p >= 0 else c for c, p in enumerate(lay.parents)]  # root minus itself = 0
    idx = [slice(None)] * x.ndim
    idx[joint_axis] = parent
    return x - x[tuple(idx)]

"""The kinematic body of the synthetic benchmark: bone lengths per subject, joint-angle poses,
forward kinematics to the 25 NTU joints, and a small inverse kinematics for reaching a point.

Coordinates: metres in a body-centred world frame, x to the subject's left at yaw 0, y up,
z forward. Angles are radians in arrays of shape (T,) (one value per frame).
"""
from __future__ import annotations

import numpy as np

from .layouts import NTU25

V = NTU25.num_joints
DEG = np.pi / 180

# Rest lengths (m) for a 1.75 m subject; each subject scales them by height and a per-bone jitter.
REST = dict(spine1=0.22, spine2=0.24, neck=0.08, head=0.16, shoulder_w=0.18, shoulder_drop=0.0,
            upper_arm=0.29, forearm=0.26, hand=0.08, tip=0.07, thumb=0.06,
            hip_w=0.10, hip_drop=0.06, thigh=0.44, shank=0.42, foot=0.14, ankle_h=0.08)


def subject_body(subject: int, seed: int = 0) -> dict:
    """Bone lengths of one subject (deterministic in (seed, subject))."""
    rng = np.random.default_rng([seed, 7919, subject])
    height = rng.uniform(1.50, 1.90) / 1.75
    return {k: v * height * rng.uniform(0.93, 1.07) for k, v in REST.items()}


def subject_style(subject: int, seed: int = 0) -> dict:
    rng = np.random.default_rng([seed, 104729, subject])
    return dict(speed=rng.uniform(0.8, 1.25), amplitude=rng.uniform(0.85, 1.1))


# ----------------------------------------------------------------------------- rotations
def _rx(a):
    """(T,3,3) rotation about x taking +y towards +z by angle a."""
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1), np.stack([z, s, c], -1)], -2)


def _ry(a):
    """(T,3,3) rotation about y (yaw) taking +z towards +x by angle a."""
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


def _rz(a):
    """(T,3,3) rotation about z taking +x towards +y by angle a."""
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1), np.stack([z, z, o], -1)], -2)


def _flex(a):
    """Flexion: swings a hanging limb (-y) forwards (+z) by angle a."""
    return _rx(-a)


def _apply(R, v):
    """R (T,3,3) applied to a fixed vector v (3,) or per-frame vectors (T,3)."""
    return np.einsum("tij,tj->ti", R, np.broadcast_to(v, R.shape[:-1]))


DOWN = np.array([0.0, -1.0, 0.0])
POSE_KEYS = ("trunk_pitch", "hip_flex", "knee_flex",
             "l_flex", "l_abd", "l_elbow", "l_elbow_front",
             "r_flex", "r_abd", "r_elbow", "r_elbow_front")


def forward_kinematics(body: dict, pose: dict, root=None, yaw=None) -> np.ndarray:
    """Joint positions (T, 25, 3) in a body-centred world frame (x left of the subject at yaw 0,
    y up, z forward) from joint angles (radians, arrays of shape (T,)).

    The feet stay on the ground at ``root`` (T,3) (x, ground, z); the pelvis follows from the
    leg angles, so sitting lowers it as in real life. ``yaw`` (T,) turns the whole body.
    """
    T = len(pose["hip_flex"])
    yaw = np.zeros(T) if yaw is None else yaw
    root = np.zeros((T, 3)) if root is None else root
    b, J = body, np.zeros((T, V, 3))
    R_yaw = _ry(yaw)
    R_trunk = R_yaw @ _rx(pose["trunk_pitch"])

    # legs, from the feet up: both legs share the angles
    R_thigh = R_yaw @ _flex(pose["hip_flex"])
    R_shank = R_yaw @ _flex(pose["hip_flex"] - pose["knee_flex"])
    thigh, shank = _apply(R_thigh, DOWN) * b["thigh"], _apply(R_shank, DOWN) * b["shank"]
    hip_off = {s: _apply(R_yaw, np.array([s * b["hip_w"], -b["hip_drop"], 0.0])) for s in (1, -1)}
    ankle_mid = root + np.array([0.0, b["ankle_h"], 0.0])
    pelvis = ankle_mid - thigh - shank - 0.5 * (hip_off[1] + hip_off[-1])

    # spine and head (joint ids are 0-based: 0 base, 1 middle, 20 spine-shoulder, 2 neck, 3 head)
    up = lambda L: _apply(R_trunk, np.array([0.0, L, 0.0]))
    J[:, 0] = pelvis
    J[:, 1] = J[:, 0] + up(b["spine1"])
    J[:, 20] = J[:, 1] + up(b["spine2"])
    J[:, 2] = J[:, 20] + up(b["neck"])
    J[:, 3] = J[:, 2] + up(b["head"])

    for s, (hip, knee, ankle, foot) in ((1, (12, 13, 14, 15)), (-1, (16, 17, 18, 19))):
        J[:, hip] = pelvis + hip_off[s]
        J[:, knee] = J[:, hip] + thigh
        J[:, ankle] = J[:, knee] + shank
        J[:, foot] = (J[:, ankle]
                      + _apply(R_yaw @ _flex(pose["hip_flex"] - pose["knee_flex"] + 90 * DEG), DOWN) * b["foot"])

    # arms: upper arm = trunk . abduction . flexion; forearm adds elbow flexion (sagittal) and a
    # frontal elbow bend (used for waving). Hand, tip and thumb are rigid in the forearm frame.
    for s, side, (sh, el, wr, ha, tip, th) in ((1, "l", (4, 5, 6, 7, 21, 22)), (-1, "r", (8, 9, 10, 11, 23, 24))):
        R_ua = R_trunk @ _rz(s * pose[f"{side}_abd"]) @ _flex(pose[f"{side}_flex"])
        R_fa = R_ua @ _rz(s * pose[f"{side}_elbow_front"]) @ _flex(pose[f"{side}_elbow"])
        J[:, sh] = J[:, 20] + _apply(R_trunk, np.array([s * b["shoulder_w"], -b["shoulder_drop"], 0.0]))
        J[:, el] = J[:, sh] + _apply(R_ua, DOWN) * b["upper_arm"]
        J[:, wr] = J[:, el] + _apply(R_fa, DOWN) * b["forearm"]
        J[:, ha] = J[:, wr] + _apply(R_fa, DOWN) * b["hand"]
        J[:, tip] = J[:, ha] + _apply(R_fa, DOWN) * b["tip"]
        thumb_dir = np.array([-s * 0.55, -0.75, 0.35])
        J[:, th] = J[:, ha] + _apply(R_fa, thumb_dir / np.linalg.norm(thumb_dir)) * b["thumb"]
    return J


# ----------------------------------------------------------------------------- poses
def smooth(u, a, b):
    """Smoothstep from 0 (u <= a) to 1 (u >= b)."""
    x = np.clip((u - a) / max(b - a, 1e-6), 0, 1)
    return x * x * (3 - 2 * x)


def bump(u, a, b, c, d):
    """0 -> 1 over [a, b], hold, 1 -> 0 over [c, d]."""
    return smooth(u, a, b) * (1 - smooth(u, c, d))


def rest_pose(T: int, rng) -> dict:
    """Standing, arms hanging slightly bent; small per-sample posture differences."""
    p = {k: np.zeros(T) for k in POSE_KEYS}
    for side in "lr":
        p[f"{side}_flex"] += rng.uniform(0, 12) * DEG
        p[f"{side}_abd"] += rng.uniform(4, 12) * DEG
        p[f"{side}_elbow"] += rng.uniform(8, 25) * DEG
    p["knee_flex"] += rng.uniform(0, 6) * DEG
    p["hip_flex"] += p["knee_flex"] * 0.5
    return p


def blend(p: dict, key: str, target_deg: float, w) -> None:
    """Move angle ``key`` of pose ``p`` towards ``target_deg`` by weight ``w`` (T,) in [0, 1]."""
    p[key] += (target_deg * DEG - p[key]) * w


def reach_angles(body: dict, target, side: str = "r", joint: int | None = None,
                 pose: dict | None = None) -> tuple[float, float, float]:
    """(flexion, abduction, elbow) in degrees that bring the hand joint (or ``joint``) of arm
    ``side`` closest to ``target`` (3,), the rest of the body in ``pose`` (one frame; default:
    upright, arms hanging). A coarse grid then two finer ones: deterministic, ~1 cm accurate."""
    hand = joint if joint is not None else (11 if side == "r" else 7)
    base = {k: np.zeros(1) for k in POSE_KEYS} if pose is None else pose
    lo, hi = np.array([-40.0, -30.0, 0.0]), np.array([180.0, 90.0, 150.0])
    best, step = None, (hi - lo) / 11
    for _ in range(3):
        grids = [np.linspace(max(l, (c - 6 * s) if best is not None else l),
                             min(h, (c + 6 * s) if best is not None else h), 12)
                 for l, h, s, c in zip(lo, hi, step, best if best is not None else lo)]
        f, a, e = (g.ravel() for g in np.meshgrid(*grids, indexing="ij"))
        p = {k: np.repeat(v[:1], len(f)) for k, v in base.items()}
        p[f"{side}_flex"], p[f"{side}_abd"], p[f"{side}_elbow"] = f * DEG, a * DEG, e * DEG
        d = np.linalg.norm(forward_kinematics(body, p)[:, hand] - target, axis=-1)
        k = int(np.argmin(d))
        best, step = np.array([f[k], a[k], e[k]]), step / 5
    return tuple(float(v) for v in best)

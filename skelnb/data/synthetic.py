"""Procedural NTU-25 skeleton sequences: the embedded default data set.

A kinematic body (bone lengths drawn per subject) is driven by joint-angle trajectories, one
recipe per class, then seen by three Kinect-like cameras. The classes are built to probe the
paper's claims (see ``CLASSES``):

* **order** pairs are exact time reversals of each other (sit down / stand up,
  raise / lower a hand): a model that ignores frame order cannot separate them;
* **where** groups move the hand to different places: touch head / chest / knee, point forward /
  up. Head and chest, forward and up, share the same articulation (elbow bend) and differ only
  by the shoulder's sagittal angle: a model that sees only the angles between adjacent bones
  cannot separate them. The knee needs a straight arm and a bend, which angles do see;
* one-hand vs two-hand versions, and two-person interactions (two bodies, M = 2).

Nuisances: subject (bone lengths, speed, amplitude), camera view (three cameras at -45, 0 and
+45 degrees; cross-view split as NTU), facing direction per replication, speed and length,
Kinect-like jitter and dropped joints (zeros, as the sensor gives). Everything is a pure
function of (seed, class, subject, replication, camera): the same call gives the same array.

Coordinates are metres in camera space: x right, y up, z away from the camera (depth).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from .layouts import NTU25

V = NTU25.num_joints
DEG = np.pi / 180

# ----------------------------------------------------------------------------- body
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
        J[:, foot] = J[:, ankle] + _apply(R_yaw @ _flex(pose["hip_flex"] - pose["knee_flex"] + 90 * DEG), DOWN) * b["foot"]

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


# ----------------------------------------------------------------------------- motion recipes
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


@dataclass(frozen=True)
class ActionClass:
    name: str
    probes: str                   # what the class is meant to test
    persons: int                  # 1 or 2 bodies
    motion: Callable              # (u (T,), rng, amp) -> list of (pose, root offset (T,3), yaw (T,)) per person
    reverse_of: str | None = None  # an order class: the exact time reversal of another class


def _one(pose, T):
    return [(pose, np.zeros((T, 3)), np.zeros(T))]


def _sit(u, rng, amp):
    p = rest_pose(len(u), rng)
    s = smooth(u, 0.2, 0.75)
    p["hip_flex"] += (85 * DEG) * s
    p["knee_flex"] += (88 * DEG) * s
    p["trunk_pitch"] += 32 * DEG * bump(u, 0.15, 0.45, 0.5, 0.85) + 8 * DEG * s
    return _one(p, len(u))


def _raise_right(u, rng, amp, both=False):
    p = rest_pose(len(u), rng)
    s = smooth(u, 0.15, 0.7) * amp
    for side in ("lr" if both else "r"):
        p[f"{side}_abd"] += (165 * DEG - p[f"{side}_abd"]) * s
        p[f"{side}_elbow"] *= 1 - 0.7 * s
    return _one(p, len(u))


# where-group: touch head and touch chest share the elbow bend (same random range) and differ
# only by the shoulder's sagittal flexion, which bone-to-bone angles cannot see (a rotation about
# the clavicle's axis). The knee is out of reach of a bent arm: it is touched with a straight
# elbow, a deep trunk bend and bent knees, so an angle-only model can tell it by the elbow.
def _touch(target):
    def motion(u, rng, amp):
        p = rest_pose(len(u), rng)
        reach = bump(u, 0.12, 0.4, 0.65, 0.92)
        if target == "knee":
            flex, elbow, pitch, knee = (rng.uniform(35, 45), rng.uniform(5, 15),
                                        rng.uniform(75, 82), rng.uniform(15, 25))
        else:
            flex = rng.uniform(98, 110) if target == "head" else rng.uniform(-22, -8)
            elbow, pitch, knee = rng.uniform(138, 150), 0.0, 0.0
        blend(p, "r_flex", flex, reach)
        blend(p, "r_abd", rng.uniform(-2, 4), reach)
        blend(p, "r_elbow", elbow, reach)
        p["trunk_pitch"] += pitch * DEG * reach
        p["knee_flex"] += knee * DEG * reach
        p["hip_flex"] += 0.5 * knee * DEG * reach
        return _one(p, len(u))
    return motion


def _point(direction):
    def motion(u, rng, amp):
        p = rest_pose(len(u), rng)
        reach = bump(u, 0.15, 0.4, 0.7, 0.92)
        flex = {"forward": rng.uniform(80, 95), "up": rng.uniform(160, 175)}[direction]
        blend(p, "r_flex", flex, reach)
        blend(p, "r_abd", rng.uniform(-2, 3), reach)
        blend(p, "r_elbow", rng.uniform(2, 10), reach)
        return _one(p, len(u))
    return motion


def _wave(both):
    def motion(u, rng, amp):
        p = rest_pose(len(u), rng)
        up = bump(u, 0.05, 0.25, 0.8, 0.97)
        freq = rng.uniform(2.5, 3.5)
        swing = 30 * DEG * amp * np.sin(2 * np.pi * freq * u + rng.uniform(0, 2 * np.pi))
        for side in ("lr" if both else "r"):
            blend(p, f"{side}_abd", 80, up)
            p[f"{side}_elbow"] *= 1 - up
            p[f"{side}_elbow_front"] += (95 * DEG + swing) * up
        return _one(p, len(u))
    return motion


def _pair(u, rng, gap):
    """Two people facing each other ``gap`` metres apart (person 2 turned by 180 degrees)."""
    T = len(u)
    r1 = np.zeros((T, 3)); r1[:, 2] = -gap / 2
    r2 = np.zeros((T, 3)); r2[:, 2] = gap / 2
    return rest_pose(T, rng), rest_pose(T, rng), r1, r2


def _handshake(u, rng, amp):
    p1, p2, r1, r2 = _pair(u, rng, rng.uniform(0.85, 1.0))
    reach = bump(u, 0.15, 0.4, 0.75, 0.95)
    shake = 8 * DEG * np.sin(2 * np.pi * rng.uniform(2.5, 3.5) * u) * smooth(u, 0.4, 0.45)
    for p in (p1, p2):
        blend(p, "r_flex", 55 + shake / DEG, reach)
        blend(p, "r_elbow", 35, reach)
        blend(p, "r_abd", -8, reach)
    T = len(u)
    return [(p1, r1, np.zeros(T)), (p2, r2, np.full(T, np.pi))]


def _push(u, rng, amp):
    p1, p2, r1, r2 = _pair(u, rng, rng.uniform(0.75, 0.9))
    hit = smooth(u, 0.25, 0.45)
    for side in "lr":
        blend(p1, f"{side}_flex", 80, bump(u, 0.2, 0.45, 0.7, 0.9))
        p1[f"{side}_elbow"] *= 1 - bump(u, 0.2, 0.45, 0.7, 0.9)
        p2[f"{side}_flex"] += 35 * DEG * bump(u, 0.35, 0.5, 0.6, 0.85)
    r2 = r2.copy(); r2[:, 2] += 0.45 * amp * hit          # the pushed person steps back
    p2["trunk_pitch"] += -15 * DEG * bump(u, 0.35, 0.5, 0.6, 0.9)
    T = len(u)
    return [(p1, r1, np.zeros(T)), (p2, r2, np.full(T, np.pi))]


def _reverse(motion):
    return lambda u, rng, amp: motion(1.0 - u, rng, amp)


CLASSES: tuple[ActionClass, ...] = (
    ActionClass("sit down", "order: the exact reversal of 'stand up'", 1, _sit),
    ActionClass("stand up", "order: the exact reversal of 'sit down'", 1, _reverse(_sit), "sit down"),
    ActionClass("raise right hand", "order: reversal of 'lower right hand'", 1, _raise_right),
    ActionClass("lower right hand", "order: reversal of 'raise right hand'", 1, _reverse(_raise_right), "raise right hand"),
    ActionClass("raise both hands", "one hand vs two: two-hand 'raise right hand'", 1,
                lambda u, rng, amp: _raise_right(u, rng, amp, both=True)),
    ActionClass("touch head", "where: same elbow bend as 'touch chest', hand at the head", 1, _touch("head")),
    ActionClass("touch chest", "where: same elbow bend as 'touch head', hand at the chest", 1, _touch("chest")),
    ActionClass("touch knee", "where: hand at the knee, reached by bending (straight elbow)", 1, _touch("knee")),
    ActionClass("point forward", "where: straight arm, only the shoulder's sagittal angle differs", 1, _point("forward")),
    ActionClass("point up", "where: straight arm, only the shoulder's sagittal angle differs", 1, _point("up")),
    ActionClass("wave right hand", "one hand vs two", 1, _wave(False)),
    ActionClass("wave both hands", "one hand vs two: two-hand 'wave right hand'", 1, _wave(True)),
    ActionClass("handshake", "two-person interaction", 2, _handshake),
    ActionClass("push", "two-person interaction", 2, _push),
)
CLASS_NAMES = tuple(c.name for c in CLASSES)

# ----------------------------------------------------------------------------- cameras
CAMERA_YAW = {1: 0.0, 2: -45 * DEG, 3: 45 * DEG}       # NTU: three cameras at 0, -45, +45 degrees
REPLICATION_YAW = {1: 30 * DEG, 2: -30 * DEG}          # NTU: the subject faces the left, then the right camera


def camera_transform(points, camera: int, rng, distance=3.0):
    """World (x, y up, z) -> Kinect camera space (x right, y up, z depth) for camera 1, 2 or 3."""
    yaw = CAMERA_YAW[camera] + rng.uniform(-3, 3) * DEG
    height = rng.uniform(0.8, 1.2)
    d = distance + rng.uniform(-0.3, 0.3)
    cam = np.array([d * np.sin(yaw), height, d * np.cos(yaw)])
    z = np.array([-np.sin(yaw), 0.0, -np.cos(yaw)])               # looks at the origin
    tilt = rng.uniform(-4, 4) * DEG
    z = np.cos(tilt) * z + np.sin(tilt) * np.array([0.0, -1.0, 0.0])
    y0 = np.array([0.0, 1.0, 0.0])
    x = np.cross(y0, z); x /= np.linalg.norm(x)
    y = np.cross(z, x)
    # camera x must point to the camera's right: for a camera looking along z with y up, right = -x
    R = np.stack([-x, y, z])
    return (points - cam) @ R.T


# ----------------------------------------------------------------------------- data set
@dataclass(frozen=True)
class SyntheticConfig:
    subjects: tuple[int, ...] = tuple(range(1, 11))
    cameras: tuple[int, ...] = (1, 2, 3)
    replications: tuple[int, ...] = (1, 2)
    classes: tuple[str, ...] = CLASS_NAMES
    base_frames: int = 48           # frames of a performance at speed 1 (30 fps)
    jitter: float = 0.008           # Kinect-like noise, metres (std)
    drop_prob: float = 0.01         # per joint and frame: joint lost (zeros)
    seed: int = 0


# Cross-subject: training subjects as NTU-60's list (those within range); cross-view: cameras 2, 3.
XSUB_TRAIN = (1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38)
XVIEW_TRAIN = (2, 3)


@dataclass
class SkeletonSet:
    """A set of sequences in the (N, C, T, V, M) layout, zero-padded to the longest."""
    data: np.ndarray                # (N, 3, T, V, M) float32
    labels: np.ndarray              # (N,) int64
    lengths: np.ndarray             # (N,) valid frames
    subject: np.ndarray             # (N,)
    camera: np.ndarray              # (N,)
    replication: np.ndarray         # (N,)
    class_names: tuple[str, ...]
    names: list[str] = field(default_factory=list)   # NTU-style S001C001P001R001A001

    def __len__(self):
        return len(self.labels)

    def split(self, protocol: str) -> tuple[np.ndarray, np.ndarray]:
        """(train indices, test indices) for 'xsub' (cross-subject) or 'xview' (cross-view)."""
        if protocol == "xsub":
            train = np.isin(self.subject, XSUB_TRAIN)
        elif protocol == "xview":
            train = np.isin(self.camera, XVIEW_TRAIN)
        else:
            raise ValueError(f"unknown protocol {protocol!r}: use 'xsub' or 'xview'")
        return np.flatnonzero(train), np.flatnonzero(~train)

    def subset(self, idx) -> "SkeletonSet":
        idx = np.asarray(idx)
        return replace(self, data=self.data[idx], labels=self.labels[idx], lengths=self.lengths[idx],
                       subject=self.subject[idx], camera=self.camera[idx],
                       replication=self.replication[idx], names=[self.names[i] for i in idx])


def perform(action: str, subject: int, replication: int, seed: int = 0, base_frames: int = 48):
    """One performance in the world frame, before cameras and sensor noise: (T, M=2, V, 3)."""
    k = CLASS_NAMES.index(action)
    cls = CLASSES[k]
    base = cls if cls.reverse_of is None else CLASSES[CLASS_NAMES.index(cls.reverse_of)]
    # a reversed class reuses the random draws of its forward class: exact time reversal
    rng = np.random.default_rng([seed, CLASS_NAMES.index(base.name), subject, replication])
    style = subject_style(subject, seed)
    speed = style["speed"] * rng.uniform(0.8, 1.25)
    T = int(round(base_frames / speed))
    u = np.linspace(0.0, 1.0, T)
    people = cls.motion(u, rng, style["amplitude"])
    body_rng = [subject, subject + 1000]      # the partner in an interaction is another body
    out = np.zeros((T, 2, V, 3))
    yaw0 = REPLICATION_YAW[replication] + rng.uniform(-5, 5) * DEG
    for m, (pose, root, yaw) in enumerate(people):
        J = forward_kinematics(subject_body(body_rng[m], seed), pose, root, yaw)
        R = _ry(np.full(T, yaw0))
        out[:, m] = np.einsum("tij,tvj->tvi", R, J)
    return out


def observe(world, camera: int, rng, jitter: float, drop_prob: float):
    """A performance seen by one camera: (T, M, V, 3) in camera space, with noise and drops."""
    present = np.abs(world).sum(axis=(0, 2, 3)) > 0              # (M,)
    x = camera_transform(world, camera, rng)
    x = x + rng.normal(0, jitter, x.shape)
    drop = rng.random(x.shape[:3]) < drop_prob
    x[drop] = 0.0
    x[:, ~present] = 0.0
    return x


def ntu_name(setup, camera, subject, replication, action) -> str:
    return f"S{setup:03d}C{camera:03d}P{subject:03d}R{replication:03d}A{action:03d}"


def generate(config: SyntheticConfig = SyntheticConfig()) -> SkeletonSet:
    """The whole synthetic set (every class x subject x replication x camera)."""
    samples, meta = [], []
    for action in config.classes:
        label = config.classes.index(action)
        for subject in config.subjects:
            for rep in config.replications:
                world = perform(action, subject, rep, config.seed, config.base_frames)
                for cam in config.cameras:
                    rng = np.random.default_rng([config.seed, 31337, label, subject, rep, cam])
                    samples.append(observe(world, cam, rng, config.jitter, config.drop_prob))
                    meta.append((label, subject, cam, rep, CLASS_NAMES.index(action) + 1))
    T = max(len(s) for s in samples)
    data = np.zeros((len(samples), 3, T, V, 2), np.float32)
    for i, s in enumerate(samples):
        data[i, :, : len(s)] = s.transpose(3, 0, 2, 1)
    meta = np.array(meta)
    return SkeletonSet(data=data, labels=meta[:, 0].astype(np.int64),
                       lengths=np.array([len(s) for s in samples]), subject=meta[:, 1],
                       camera=meta[:, 2], replication=meta[:, 3], class_names=tuple(config.classes),
                       names=[ntu_name(1, c, s, r, a) for _, s, c, r, a in meta])

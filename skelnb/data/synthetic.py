"""The What-and-Where benchmark: procedural NTU-25 skeleton sequences, the embedded data set.

A kinematic body (``skelnb.data.body``, bone lengths drawn per subject) performs one of the
classes of ``skelnb.data.actions``, which come in factor families: within a family the classes
differ in one factor (frame order, where, what, the relation between two people, a few
centimetres, tempo, the order of distant events) and every other factor is random. Three
Kinect-like cameras see it (cross-view split as NTU), and the sensor's faults are added:
jitter, dropped joints, short occlusions of a limb, left/right swaps, cropped starts and ends,
and a spurious second body in some one-person clips. One knob, ``difficulty``, scales every
nuisance (0: clean; ``DEFAULT_DIFFICULTY`` is calibrated in the chapter "What and where,
measured"). Everything is a pure function of (seed, class, subject, replication, camera): the
same call gives the same array, bit for bit.

Coordinates are metres in camera space: x right, y up, z away from the camera (depth).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .actions import CLASS_NAMES, CLASSES, FAMILIES, ActionClass, family_of  # noqa: F401 (re-exported)
from .body import (DEG, POSE_KEYS, V, _ry, forward_kinematics, rest_pose,  # noqa: F401
                   subject_body, subject_style)

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
    x = np.cross(y0, z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    # camera x must point to the camera's right: for a camera looking along z with y up, right = -x
    R = np.stack([-x, y, z])
    return (points - cam) @ R.T


# ----------------------------------------------------------------------------- sensor faults
LIMBS = ((4, 5, 6, 7, 21, 22), (8, 9, 10, 11, 23, 24), (12, 13, 14, 15), (16, 17, 18, 19))
MIRROR = np.arange(V)                    # left <-> right joint (what a Kinect swap exchanges)
for _l, _r in zip(LIMBS[0] + LIMBS[2], LIMBS[1] + LIMBS[3]):
    MIRROR[_l], MIRROR[_r] = _r, _l


@dataclass(frozen=True)
class Nuisance:
    """The size of every nuisance at one difficulty (``Nuisance.at``); lengths in metres."""
    jitter: float            # Kinect-like noise (std) on every coordinate
    drop_prob: float         # per joint and frame: lost (zeros, as the sensor gives)
    occlusions: float        # mean number of limb occlusions per clip, 3-10 frames each
    swap_prob: float         # per clip: a left/right swap of arms and legs for 3-8 frames
    spurious_prob: float     # per one-person clip: a jittery false second body for a while
    crop: float              # up to this fraction cut from the start and from the end
    warp: float              # time warp strength: u + w sin(2 pi u) / (2 pi), |w| <= this

    @classmethod
    def at(cls, difficulty: float) -> "Nuisance":
        d = float(difficulty)
        if not np.isfinite(d) or d < 0:
            raise ValueError(f"difficulty must be a finite number >= 0, got {difficulty!r}")
        return cls(jitter=0.004 + 0.006 * d, drop_prob=0.004 + 0.008 * d, occlusions=0.6 * d,
                   swap_prob=min(1.0, 0.2 * d), spurious_prob=min(1.0, 0.12 * d),
                   crop=min(0.3, 0.1 * d), warp=min(0.8, 0.35 * d))


def _runs(rng, T, count, low, high):
    """``count`` random frame windows [a, a + length) with length in [low, high]."""
    out = []
    for _ in range(count):
        n = int(rng.integers(low, high + 1))
        a = int(rng.integers(0, max(1, T - n + 1)))
        out.append(slice(a, a + n))
    return out


def spurious_body(T: int, rng) -> np.ndarray:
    """(T, V, 3) world positions of a false detection: a rest-pose skeleton 1-2 m aside with
    heavy jitter, present in one window of 15-50 % of the frames (zeros elsewhere)."""
    body = subject_body(int(rng.integers(5000, 6000)))
    pose = rest_pose(T, rng)
    root = np.zeros((T, 3))
    root[:, 0], root[:, 2] = rng.choice([-1, 1]) * rng.uniform(1.0, 2.0), rng.uniform(-0.5, 1.0)
    x = forward_kinematics(body, pose, root) + rng.normal(0, 0.04, (T, V, 3))
    keep = np.zeros(T, bool)
    keep[_runs(rng, T, 1, max(1, int(0.15 * T)), max(1, int(0.5 * T)))[0]] = True
    x[~keep] = 0.0
    return x


# ----------------------------------------------------------------------------- data set
DEFAULT_DIFFICULTY = 0.5   # calibrated: the quick SEM-Net (joint) scores 70-90 % (chapter 15)


@dataclass(frozen=True)
class SyntheticConfig:
    subjects: tuple[int, ...] = tuple(range(1, 11))
    cameras: tuple[int, ...] = (1, 2, 3)
    replications: tuple[int, ...] = (1, 2)
    classes: tuple[str, ...] = CLASS_NAMES
    base_frames: int = 48           # frames of a performance at speed 1 (30 fps)
    difficulty: float = DEFAULT_DIFFICULTY   # scales every nuisance (``Nuisance.at``)
    jitter: float | None = None     # overrides the difficulty's jitter (m, std)
    drop_prob: float | None = None  # overrides the difficulty's dropped-joint rate
    seed: int = 0

    def nuisance(self) -> Nuisance:
        n = Nuisance.at(self.difficulty)
        return replace(n, **{k: getattr(self, k) for k in ("jitter", "drop_prob")
                             if getattr(self, k) is not None})


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


def perform(action: str, subject: int, replication: int, seed: int = 0, base_frames: int = 48,
            warp: float = 0.0):
    """One performance in the world frame, before cameras and sensor faults: (T, M=2, V, 3)."""
    cls = CLASSES[CLASS_NAMES.index(action)]
    base = cls if cls.reverse_of is None else CLASSES[CLASS_NAMES.index(cls.reverse_of)]
    # a reversed class reuses the random draws of its forward class: exact time reversal (the
    # warp is odd about u = 1/2, so it keeps that)
    rng = np.random.default_rng([seed, CLASS_NAMES.index(base.name), subject, replication])
    style = subject_style(subject, seed)
    speed = style["speed"] * rng.uniform(0.8, 1.25)
    T = int(round(base_frames * cls.duration / speed))
    u = np.linspace(0.0, 1.0, T)
    u = u + rng.uniform(-warp, warp) * np.sin(2 * np.pi * u) / (2 * np.pi)
    bodies = [subject_body(subject, seed), subject_body(subject + 1000, seed)]  # the partner
    people = cls.motion(u, rng, style["amplitude"], bodies[:cls.persons])
    out = np.zeros((T, 2, V, 3))
    yaw0 = REPLICATION_YAW[replication] + rng.uniform(-5, 5) * DEG
    for m, (pose, root, yaw) in enumerate(people):
        J = forward_kinematics(bodies[m], pose, root, yaw)
        R = _ry(np.full(T, yaw0))
        out[:, m] = np.einsum("tij,tvj->tvi", R, J)
    return out


def observe(world, camera: int, rng, nuisance: Nuisance):
    """A performance seen by one camera with the sensor's faults: (T', M, V, 3), camera space."""
    n = nuisance
    T = len(world)
    a, b = (int(rng.uniform(0, n.crop) * T) for _ in range(2))
    world = world[a: T - b].copy()                                    # cropped start and end
    T = len(world)
    present = np.abs(world).sum(axis=(0, 2, 3)) > 0                   # (M,)
    if not present[1] and rng.random() < n.spurious_prob:
        world[:, 1] = spurious_body(T, rng)
    absent = np.abs(world).sum(axis=(2, 3)) == 0                      # (T, M): nobody there
    x = camera_transform(world, camera, rng)
    x = x + rng.normal(0, n.jitter, x.shape)
    for s in _runs(rng, T, int(rng.random() < n.swap_prob), 3, 8):
        x[s, 0] = x[s, 0][:, MIRROR]                                  # left/right confusion
    drop = rng.random(x.shape[:3]) < n.drop_prob
    for s in _runs(rng, T, rng.poisson(n.occlusions), 3, 10):
        drop[s, 0, list(LIMBS[rng.integers(len(LIMBS))])] = True      # a limb hidden for a while
    x[drop] = 0.0
    x[absent] = 0.0
    return x


def ntu_name(setup, camera, subject, replication, action) -> str:
    return f"S{setup:03d}C{camera:03d}P{subject:03d}R{replication:03d}A{action:03d}"


def generate(config: SyntheticConfig = SyntheticConfig()) -> SkeletonSet:
    """The whole set (every class x subject x replication x camera)."""
    nuisance = config.nuisance()
    samples, meta = [], []
    for action in config.classes:
        label = config.classes.index(action)
        for subject in config.subjects:
            for rep in config.replications:
                world = perform(action, subject, rep, config.seed, config.base_frames, nuisance.warp)
                for cam in config.cameras:
                    rng = np.random.default_rng([config.seed, 31337, label, subject, rep, cam])
                    samples.append(observe(world, cam, rng, nuisance))
                    meta.append((label, subject, cam, rep, CLASS_NAMES.index(action) + 1))
    T = max(len(s) for s in samples)
    data = np.zeros((len(samples), 3, T, V, 2), np.float32)
    for i, s in enumerate(samples):
        data[i, :, : len(s)] = s.transpose(3, 0, 2, 1)
    lengths = np.array([len(s) for s in samples])
    meta = np.array(meta)
    return SkeletonSet(data=data, labels=meta[:, 0].astype(np.int64), lengths=lengths,
                       subject=meta[:, 1], camera=meta[:, 2], replication=meta[:, 3],
                       class_names=tuple(config.classes),
                       names=[ntu_name(1, c, s, r, a) for _, s, c, r, a in meta])

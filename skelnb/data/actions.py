"""The classes of the What-and-Where benchmark, in factor families.

Within a family the classes differ in ONE factor and every other factor is drawn at random, so
a family's accuracy measures one mechanism (``FAMILIES`` says which). A motion recipe maps
``(u (T,) in [0, 1], rng, amplitude, bodies)`` to one ``(pose, root (T, 3), yaw (T,))`` per
person; ``skelnb.data.synthetic`` adds the cameras and the sensor's faults.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .body import DEG, POSE_KEYS, blend, bump, forward_kinematics, reach_angles, rest_pose, smooth

RIGHT_HAND, RIGHT_TIP, LEFT_HAND, HEAD = 11, 23, 7, 3


@dataclass(frozen=True)
class ActionClass:
    name: str
    family: str                    # key of FAMILIES
    factor: str                    # the value of the family's factor this class takes
    persons: int                   # 1 or 2 bodies
    motion: Callable               # (u, rng, amp, bodies) -> [(pose, root (T,3), yaw (T,)), ...]
    reverse_of: str | None = None  # the exact time reversal of this class
    duration: float = 1.0          # clip length relative to the set's base_frames


def _one(p, T, yaw=None):
    return [(p, np.zeros((T, 3)), np.zeros(T) if yaw is None else yaw)]


def _reverse(motion):
    return lambda u, rng, amp, bodies: motion(1.0 - u, rng, amp, bodies)


# ----------------------------------------------------------------------------- order
def _sit(u, rng, amp, bodies):
    p = rest_pose(len(u), rng)
    s = smooth(u, 0.2, 0.75)
    p["hip_flex"] += (85 * DEG) * s
    p["knee_flex"] += (88 * DEG) * s
    p["trunk_pitch"] += 32 * DEG * bump(u, 0.15, 0.45, 0.5, 0.85) + 8 * DEG * s
    return _one(p, len(u))


def _raise(sides):
    def motion(u, rng, amp, bodies):
        p = rest_pose(len(u), rng)
        s = smooth(u, 0.15, 0.7) * amp
        for side in sides:
            p[f"{side}_abd"] += (165 * DEG - p[f"{side}_abd"]) * s
            p[f"{side}_elbow"] *= 1 - 0.7 * s
        return _one(p, len(u))
    return motion


def _turn(u, rng, amp, bodies):
    p = rest_pose(len(u), rng)
    return _one(p, len(u), yaw=rng.uniform(70, 100) * DEG * smooth(u, 0.2, 0.8))


# ----------------------------------------------------------------------------- where and what
def _reach_to(p, reach, rng, target, sides="r"):
    """Move pose ``p`` in place: the hand(s) of ``sides`` towards the head or chest (bent elbow:
    only the shoulder's sagittal angle differs, which bone-to-bone angles cannot see) or the
    knee(s) (straight arm, trunk and knees bent), by weight ``reach`` (T,) in [0, 1]."""
    if target == "knee":
        flex, elbow = rng.uniform(35, 45), rng.uniform(5, 15)
        pitch, knee = rng.uniform(75, 82), rng.uniform(15, 25)
    else:
        flex = rng.uniform(98, 110) if target == "head" else rng.uniform(-22, -8)
        elbow, pitch, knee = rng.uniform(138, 150), 0.0, 0.0
    abd = rng.uniform(-2, 4)
    for side in sides:
        blend(p, f"{side}_flex", flex, reach)
        blend(p, f"{side}_abd", abd, reach)
        blend(p, f"{side}_elbow", elbow, reach)
    p["trunk_pitch"] += pitch * DEG * reach
    p["knee_flex"] += knee * DEG * reach
    p["hip_flex"] += 0.5 * knee * DEG * reach


def _touch(target, sides="r"):
    def motion(u, rng, amp, bodies):
        p = rest_pose(len(u), rng)
        _reach_to(p, bump(u, 0.12, 0.4, 0.65, 0.92), rng, target, sides)
        return _one(p, len(u))
    return motion


def _point(direction):
    def motion(u, rng, amp, bodies):
        p = rest_pose(len(u), rng)
        reach = bump(u, 0.15, 0.4, 0.7, 0.92)
        blend(p, "r_flex", {"forward": rng.uniform(80, 95), "up": rng.uniform(160, 175)}[direction], reach)
        blend(p, "r_abd", rng.uniform(-2, 3), reach)
        blend(p, "r_elbow", rng.uniform(2, 10), reach)
        return _one(p, len(u))
    return motion


# ----------------------------------------------------------------------------- fine geometry
# Targets for the right hand's tip, from the head joint (the centre of the head), body frame.
FACE = {"mouth": (0.0, -0.06, 0.09), "chin": (0.0, -0.12, 0.07), "ear": (-0.08, -0.01, 0.0)}


def _to_face(place):
    def motion(u, rng, amp, bodies):
        p = rest_pose(len(u), rng)
        still = {k: np.zeros(1) for k in POSE_KEYS}
        head = forward_kinematics(bodies[0], still)[0, HEAD]
        target = head + np.array(FACE[place]) + rng.normal(0, 0.006, 3)
        flex, abd, elbow = reach_angles(bodies[0], target, "r", joint=RIGHT_TIP)
        reach = bump(u, 0.15, 0.4, 0.7, 0.9)
        blend(p, "r_flex", flex, reach)
        blend(p, "r_abd", abd, reach)
        blend(p, "r_elbow", elbow, reach)
        return _one(p, len(u))
    return motion


# ----------------------------------------------------------------------------- tempo, long range
def _raise_within(duration):
    """Both hands up over ``duration`` of the clip, held, lowered at the end. The frames are
    resampled to a fixed count downstream (and a random window of them taken in training), so
    only tempo relative to the clip survives: a raise over 8 %, 25 % or 60 % of it."""
    def motion(u, rng, amp, bodies):
        p = rest_pose(len(u), rng)
        start, d = rng.uniform(0.05, 0.15), duration * rng.uniform(0.9, 1.1)
        w = smooth(u, start, start + d) * (1 - smooth(u, 0.88, 0.97)) * amp
        for side in "lr":
            p[f"{side}_abd"] += (160 * DEG - p[f"{side}_abd"]) * w
            p[f"{side}_elbow"] *= 1 - 0.7 * w
        return _one(p, len(u))
    return motion


def _sequence(first, second):
    """Two reaches (head or knee) in the two halves of a long clip, hands down between them: the
    order of two distant events, each alone identical in every class of the family."""
    def motion(u, rng, amp, bodies):
        p = rest_pose(len(u), rng)
        a, b = rng.uniform(0.0, 0.06), rng.uniform(0.52, 0.6)
        for target, start in ((first, a), (second, b)):
            w = np.clip((u - start) / 0.4, 0, 1)                # the event on [start, start + 0.4]
            _reach_to(p, bump(w, 0.12, 0.4, 0.65, 0.92) * (u <= start + 0.4), rng, target)
        return _one(p, len(u))
    return motion


# ----------------------------------------------------------------------------- between persons
def _reach_pair(relation):
    """Two people face each other and both reach out the right hand (the same individual
    motion in every class); only where the partner stands differs: hands meet, stop short of
    each other, or pass side by side."""
    def motion(u, rng, amp, bodies):
        T = len(u)
        reach = bump(u, 0.15, 0.4, 0.75, 0.95)
        shake = 6 * np.sin(2 * np.pi * rng.uniform(2.5, 3.5) * u) * smooth(u, 0.4, 0.45)
        angles, hands = [], []
        shared = dict(r_flex=rng.uniform(40, 70), r_elbow=rng.uniform(25, 55), r_abd=rng.uniform(-22, -12))
        for body in bodies:
            a = {k: v + rng.uniform(-5, 5) for k, v in shared.items()}
            peak = {k: np.full(1, a.get(k, 0.0) * DEG) for k in POSE_KEYS}
            angles.append(a)
            hands.append(forward_kinematics(body, peak)[0, RIGHT_HAND])
        # the partner's hand at the same height as the first person's (IK on its own arm)
        target = np.array([hands[1][0], hands[0][1], hands[1][2]])
        angles[1] = dict(zip(("r_flex", "r_abd", "r_elbow"), reach_angles(bodies[1], target, "r")))
        poses = []
        for a in angles:
            p = rest_pose(T, rng)
            blend(p, "r_flex", a["r_flex"] + shake, reach)
            blend(p, "r_elbow", a["r_elbow"], reach)
            blend(p, "r_abd", a["r_abd"], reach)
            poses.append(p)
        (x1, _, z1), (x2, _, z2) = hands
        X, Z = x1 + x2, z1 + z2 + 0.04                  # person 2 turned by 180 degrees
        if relation == "short":
            Z += rng.uniform(0.18, 0.3)
        elif relation == "past":
            X += rng.choice([-1, 1]) * rng.uniform(0.25, 0.38)
        r1, r2 = np.zeros((T, 3)), np.zeros((T, 3))
        r1[:, [0, 2]], r2[:, [0, 2]] = [-X / 2, -Z / 2], [X / 2, Z / 2]
        return [(poses[0], r1, np.zeros(T)), (poses[1], r2, np.full(T, np.pi))]
    return motion


# ----------------------------------------------------------------------------- the classes
def _c(name, family, factor, motion, persons=1, **kw):
    return ActionClass(name, family, factor, persons, motion, **kw)


CLASSES: tuple[ActionClass, ...] = (
    _c("sit down", "order", "forward", _sit),
    _c("stand up", "order", "reversed", _reverse(_sit), reverse_of="sit down"),
    _c("raise right hand", "order", "forward", _raise("r")),
    _c("lower right hand", "order", "reversed", _reverse(_raise("r")), reverse_of="raise right hand"),
    _c("turn away", "order", "forward", _turn),
    _c("turn back", "order", "reversed", _reverse(_turn), reverse_of="turn away"),
    _c("touch head", "where", "head", _touch("head")),
    _c("touch chest", "where", "chest", _touch("chest")),
    _c("point forward", "where", "forward", _point("forward")),
    _c("point up", "where", "up", _point("up")),
    _c("touch knee", "what", "right hand", _touch("knee", "r")),
    _c("touch knee, left hand", "what", "left hand", _touch("knee", "l")),
    _c("touch both knees", "what", "both hands", _touch("knee", "lr")),
    _c("handshake", "persons", "hands meet", _reach_pair("meet"), persons=2),
    _c("reach, stop short", "persons", "hands stop short", _reach_pair("short"), persons=2),
    _c("reach, pass by", "persons", "hands pass", _reach_pair("past"), persons=2),
    _c("hand to mouth", "fine", "mouth", _to_face("mouth")),
    _c("hand to chin", "fine", "chin (6 cm below)", _to_face("chin")),
    _c("hand to ear", "fine", "ear (12 cm aside)", _to_face("ear")),
    _c("raise both hands quickly", "tempo", "over 8 % of the clip", _raise_within(0.08)),
    _c("raise both hands", "tempo", "over 25 %", _raise_within(0.25)),
    _c("raise both hands slowly", "tempo", "over 60 %", _raise_within(0.6)),
    _c("head, then knee", "long range", "head first", _sequence("head", "knee"), duration=1.8),
    _c("knee, then head", "long range", "knee first", _sequence("knee", "head"), duration=1.8),
    _c("head, then head", "long range", "head twice", _sequence("head", "head"), duration=1.8),
)
CLASS_NAMES = tuple(c.name for c in CLASSES)

# family -> what it isolates (the one factor that differs between its classes)
FAMILIES = {
    "order": "frame order: each class is the exact time reversal of another",
    "where": "where the hand goes: the same articulation aimed at different places on the body "
             "or in space (head/chest differ only by a rotation about the clavicle)",
    "what": "which body part: the same place (the knee) reached by the right, the left or both hands",
    "persons": "the relation between two people: the same two individual motions, the partner "
               "placed so the hands meet, stop 18-30 cm short, or pass 25-38 cm aside",
    "fine": "a few centimetres: the fingertip at the mouth, 6 cm lower at the chin, or at the ear",
    "tempo": "how fast both hands go up, relative to the clip: the same gesture quicker or slower",
    "long range": "the order of two events half a clip apart, each identical on its own",
}


def family_of(names=CLASS_NAMES) -> np.ndarray:
    """(K,) family name of each class in ``names``."""
    by_name = {c.name: c.family for c in CLASSES}
    return np.array([by_name[n] for n in names])

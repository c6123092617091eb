"""From a parsed file to a fixed tensor (C=3, T, V, M): named steps, one function each.

The NTU pipeline (:func:`preprocess_ntu`), in order:

1. :func:`select_bodies` -- keep at most ``max_bodies`` (2) actors, as the common NTU
   preprocessing does: drop *noise* bodies (tracked for few frames, or whose joints spread
   wider than tall in most frames -- a chair or a wall seen as a body), rank the rest by
   motion, make the most moving one actor 1, and append bodies whose frames do not overlap an
   actor to that actor (Kinect gives a person a new body id after losing track of them).
2. :func:`drop_empty_frames` -- remove frames in which no kept actor is present.
3. :func:`center_spine` -- translate so actor 1's middle of spine sits at the origin.
4. :func:`align_view` (optional) -- rotate so that, in the first frame, the spine points
   along +y and the hip axis (right hip -> left hip) along +x: every sample as if the subject
   faced the camera.
5. :func:`fix_length` -- zero-pad to ``num_frames`` (keeping the true length; longer
   sequences are resampled down, never cut) or resample every sequence to ``num_frames``.

Steps 2-5 (:func:`preprocess_sequence`) are shared with other datasets (SHREC'17 hands).
Arrays are (T, M, V, 3) straight out of body selection and (C, T, V, M) from step 2 on, the
layout of :mod:`skelnb.data.transforms`, whose functions are reused here.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from . import transforms as tf
from .formats import EmptySkeletonError, SkeletonFormatError

# NTU-25 joints used below (0-based; the dataset numbers them from 1).
BASE_OF_SPINE, SPINE_MIDDLE, SPINE_SHOULDER = 0, 1, 20
LEFT_HIP, RIGHT_HIP = 12, 16


@dataclass(frozen=True)
class PreprocessConfig:
    """Every setting of the pipeline. A cache stores these; changing one rebuilds the cache."""
    max_bodies: int = 2                 # M: actors kept
    min_body_frames: int = 11           # bodies tracked for <= this many frames are noise
    spread_ratio: float = 0.8           # a frame is noisy when x-spread > ratio * y-spread
    max_noisy_fraction: float = 0.69754  # a body noisy in more than this fraction of frames is dropped
    drop_empty_frames: bool = True
    center: str | None = "first"        # 'first' | 'mean' | None (see transforms.center_on_joint)
    center_joint: int = SPINE_MIDDLE    # NTU middle of spine (also SHREC's palm, joint 1)
    align: bool = False                 # view alignment (NTU layout only)
    num_frames: int = 300               # T of the stored tensor (0: the SHREC builder picks the longest)
    time: str = "pad"                   # 'pad' (keep length, zero-pad) | 'resample' (always T frames)

    def __post_init__(self):
        if self.time not in ("pad", "resample"):
            raise ValueError(f"PreprocessConfig.time must be 'pad' or 'resample', got {self.time!r}")
        if self.center not in ("first", "mean", None):
            raise ValueError(f"PreprocessConfig.center must be 'first', 'mean' or None, got {self.center!r}")
        if self.max_bodies < 1 or self.num_frames < 0:
            raise ValueError("PreprocessConfig: max_bodies must be >= 1 and num_frames >= 0")

    def as_dict(self) -> dict:
        return asdict(self)


# ----------------------------------------------------------------------------- 1. bodies
def body_motion(joints: np.ndarray) -> float:
    """How much a body moves: the summed variance of x, y, z over all its tracked joints and
    frames (joints at exactly (0, 0, 0), i.e. lost by the sensor, are left out)."""
    pts = joints.reshape(-1, 3)
    pts = pts[np.abs(pts).sum(1) > 0]
    return float(pts.var(axis=0).sum()) if len(pts) > 1 else 0.0


def spread_noisy_frames(joints: np.ndarray, ratio: float = 0.8) -> np.ndarray:
    """(n,) True where a body is implausible: its joints spread wider in x than ``ratio`` times
    their spread in y. A person is taller than wide; the sensor's false bodies often are not."""
    x, y = joints[..., 0], joints[..., 1]
    return (x.max(1) - x.min(1)) > ratio * (y.max(1) - y.min(1))


@dataclass
class Selection:
    """What :func:`select_bodies` did: the body ids merged into each actor (actor 1 first), the
    bodies dropped and why, and each body's motion."""
    actors: list[list[int]] = field(default_factory=list)
    dropped: dict[int, str] = field(default_factory=dict)
    motion: dict[int, float] = field(default_factory=dict)


def rank_bodies(bodies, cfg: PreprocessConfig = PreprocessConfig(), sel: Selection | None = None) -> list:
    """Drop noise bodies and sort the rest by motion, most moving first.

    Applied only when the file has several bodies (a lone body is kept as is):

    * *length*: bodies tracked in <= ``min_body_frames`` frames are dropped (if that would drop
      them all, the longest-tracked body is kept);
    * *spread*: while more than one body remains, a body whose fraction of noisy frames
      (:func:`spread_noisy_frames`) exceeds ``max_noisy_fraction`` is dropped; a kept body's
      motion is measured on its non-noisy frames only (the smaller of the two values).
    """
    sel = Selection() if sel is None else sel
    motion = {b.body_id: body_motion(b.joints) for b in bodies}
    sel.motion.update(motion)
    if len(bodies) <= 1:
        return list(bodies)
    kept = [b for b in bodies if b.num_frames > cfg.min_body_frames]
    if not kept:
        kept = [max(bodies, key=lambda b: b.num_frames)]
    for b in bodies:
        if b not in kept:
            sel.dropped[b.body_id] = f"tracked in {b.num_frames} frames (<= {cfg.min_body_frames})"
    for b in list(kept):
        if len(kept) == 1:
            break
        noisy = spread_noisy_frames(b.joints, cfg.spread_ratio)
        frac = float(noisy.mean())
        if frac > cfg.max_noisy_fraction:
            kept.remove(b)
            sel.dropped[b.body_id] = f"wider than tall in {frac:.0%} of its frames"
        elif noisy.any():
            motion[b.body_id] = min(motion[b.body_id], body_motion(b.joints[~noisy]))
    sel.motion.update(motion)
    return sorted(kept, key=lambda b: -motion[b.body_id])


def select_bodies(raw, cfg: PreprocessConfig = PreprocessConfig()) -> tuple[np.ndarray, Selection]:
    """(T, M, V, 3) with M = ``cfg.max_bodies`` actors chosen from a :class:`~skelnb.data.ntu.RawSkeleton`.

    After :func:`rank_bodies`, the most moving body is actor 1; each following body (by
    decreasing motion) joins the first actor whose frame span it does not overlap (a tracked
    person who got a new id), else it is dropped. Absent actors are zeros.
    Raises :class:`EmptySkeletonError` when the file has no body in any frame.
    """
    if not raw.bodies:
        raise EmptySkeletonError(raw.path, 1, f"no body in any of the {raw.num_frames} frames "
                                 "(NTU lists such files as 'samples with missing skeletons')")
    sel = Selection()
    ranked = rank_bodies(raw.bodies, cfg, sel)
    V = ranked[0].joints.shape[1]
    out = np.zeros((raw.num_frames, cfg.max_bodies, V, 3), np.float32)
    spans: list[tuple[int, int] | None] = [None] * cfg.max_bodies
    for b in ranked:
        s, e = b.interval
        for m in range(cfg.max_bodies):
            if spans[m] is None or e < spans[m][0] or s > spans[m][1]:
                out[b.frames, m] = b.joints
                spans[m] = (s, e) if spans[m] is None else (min(s, spans[m][0]), max(e, spans[m][1]))
                if m == len(sel.actors):
                    sel.actors.append([])
                sel.actors[m].append(b.body_id)
                break
        else:
            sel.dropped[b.body_id] = f"frames {s + 1}-{e + 1} overlap all {cfg.max_bodies} actors"
    return out, sel


def to_ctvm(x: np.ndarray) -> np.ndarray:
    """(T, M, V, C) -> (C, T, V, M), the layout of the datasets and transforms."""
    return np.ascontiguousarray(x.transpose(3, 0, 2, 1))


# ----------------------------------------------------------------------------- 2-5. sequence steps
def drop_empty_frames(x: np.ndarray) -> np.ndarray:
    """Remove frames (C, T, V, M) in which every joint of every actor is zero."""
    keep = np.abs(x).sum(axis=(0, 2, 3)) > 0
    return x[:, keep]


def center_spine(x: np.ndarray, at: str = "first", joint: int = SPINE_MIDDLE) -> np.ndarray:
    """Translate so actor 1's ``joint`` (NTU: middle of spine) is at the origin -- in the first
    frame where it is seen (``at='first'``) or on average (``'mean'``); zeros stay zeros.
    This is :func:`skelnb.data.transforms.center_on_joint`."""
    return tf.center_on_joint(x, joint=joint, at=at)


def view_rotation(x: np.ndarray, up=(BASE_OF_SPINE, SPINE_SHOULDER), across=(RIGHT_HIP, LEFT_HIP)) -> np.ndarray | None:
    """The 3x3 rotation that maps, in the first frame where actor 1 has all four joints, the
    spine ``up`` (base -> shoulders) to +y and the hip axis ``across`` (right -> left hip),
    made orthogonal to it, to +x. ``None`` if no frame has them."""
    need = list(up) + list(across)
    ok = np.flatnonzero((np.abs(x[:, :, need, 0]).sum(0) > 0).all(1))
    if not len(ok):
        return None
    p = x[:, ok[0], :, 0].astype(np.float64)                   # (C, V)
    y = p[:, up[1]] - p[:, up[0]]
    h = p[:, across[1]] - p[:, across[0]]
    ny = np.linalg.norm(y)
    xa = h - (h @ y) / max(ny * ny, 1e-12) * y
    nx = np.linalg.norm(xa)
    if ny < 1e-6 or nx < 1e-6:
        return None
    y, xa = y / ny, xa / nx
    return np.stack([xa, y, np.cross(xa, y)])                  # rows: new x, y, z axes


def align_view(x: np.ndarray, up=(BASE_OF_SPINE, SPINE_SHOULDER), across=(RIGHT_HIP, LEFT_HIP)) -> np.ndarray:
    """Rotate a centred sequence (C, T, V, M) by :func:`view_rotation`: spine along +y, hip
    axis along +x in the first frame, for every actor and frame (zeros stay zeros). Returned
    unchanged if the first frames lack the needed joints."""
    R = view_rotation(x, up, across)
    if R is None:
        return x
    mask = np.abs(x).sum(0, keepdims=True) > 0
    return np.where(mask, np.einsum("ij,jtvm->itvm", R, x), 0).astype(x.dtype)


def fix_length(x: np.ndarray, num_frames: int, mode: str = "pad") -> tuple[np.ndarray, int]:
    """(C, T, V, M) with T valid frames -> (C, num_frames, V, M) and the frames that are data.

    ``pad``: zero-pad after the data (the length is kept; sequences longer than
    ``num_frames`` are resampled down to it, never cut). ``resample``: linear resampling of
    the whole sequence to exactly ``num_frames`` (:func:`skelnb.data.transforms.crop_resize`).
    """
    C, T, V, M = x.shape
    if mode == "resample" or T > num_frames:
        return tf.crop_resize(x, T, num_frames), (num_frames if T else 0)
    if mode != "pad":
        raise ValueError(f"fix_length: mode must be 'pad' or 'resample', got {mode!r}")
    out = np.zeros((C, num_frames, V, M), x.dtype)
    out[:, :T] = x
    return out, T


def preprocess_sequence(x: np.ndarray, cfg: PreprocessConfig = PreprocessConfig(),
                        path="<array>") -> tuple[np.ndarray, int]:
    """Steps 2-5 on a (C, T, V, M) sequence: -> ((C, num_frames, V, M) float32, valid length)."""
    if cfg.num_frames < 1:
        raise ValueError("preprocess_sequence: PreprocessConfig.num_frames must be >= 1")
    if cfg.drop_empty_frames:
        x = drop_empty_frames(x)
    if x.shape[1] == 0:
        raise EmptySkeletonError(path, 0, "no frame with a kept body")
    if cfg.center:
        x = center_spine(x, cfg.center, cfg.center_joint)
    if cfg.align:
        if x.shape[2] != 25:
            raise ValueError(f"align_view uses NTU-25 joints; this sequence has V={x.shape[2]}")
        x = align_view(x)
    out, n = fix_length(x, cfg.num_frames, cfg.time)
    return out.astype(np.float32), n


def preprocess_ntu(raw, cfg: PreprocessConfig = PreprocessConfig()) -> tuple[np.ndarray, int, Selection]:
    """A :class:`~skelnb.data.ntu.RawSkeleton` (or a path) -> ((3, T, 25, M) float32, length,
    :class:`Selection`): :func:`select_bodies` then :func:`preprocess_sequence`."""
    if not hasattr(raw, "bodies"):
        from .ntu import read_skeleton
        raw = read_skeleton(raw)
    x, sel = select_bodies(raw, cfg)
    out, n = preprocess_sequence(to_ctvm(x), cfg, raw.path)
    return out, n, sel


# ----------------------------------------------------------------------------- cache workers
def ntu_worker(job):
    """Parse and preprocess one file for the cache (runs in a worker process).
    ``job = (path, cfg_dict, nonfinite)`` -> ``("ok", x[:, :length], length, n_dropped)`` (only
    the valid frames travel back: the rest of the row is zeros), ``("empty", message)`` or
    ``("error", SkeletonFormatError)``."""
    from .ntu import read_skeleton
    path, cfg, nonfinite = job
    try:
        x, n, sel = preprocess_ntu(read_skeleton(path, nonfinite=nonfinite), PreprocessConfig(**cfg))
        return ("ok", np.ascontiguousarray(x[:, :n]), n, len(sel.dropped))
    except EmptySkeletonError as e:
        return ("empty", str(e))
    except SkeletonFormatError as e:
        return ("error", e)


def shrec_worker(job):
    """Read and preprocess one SHREC'17 sequence for the cache: ``job = (path, cfg_dict)``."""
    from .shrec import read_sequence
    path, cfg = job
    try:
        seq = read_sequence(path)                                   # (T, 22, 3)
        x, n = preprocess_sequence(seq.transpose(2, 0, 1)[..., None], PreprocessConfig(**cfg), path)
        return ("ok", np.ascontiguousarray(x[:, :n]), n, 0)
    except EmptySkeletonError as e:
        return ("empty", str(e))
    except SkeletonFormatError as e:
        return ("error", e)

"""NTU RGB+D ``.skeleton`` files (Kinect v2 text format).

Format, per the dataset: line 1 the frame count; per frame a body count; per body one line of
10 values (bodyID clipedEdges handLeftConfidence handLeftState handRightConfidence
handRightState isRestricted leanX leanY trackingState), the joint count (25), then one line of
12 values per joint (x y z depthX depthY colorX colorY orientationW orientationX orientationY
orientationZ trackingState). Real files use CRLF line ends.

This module writes such files (:func:`write_skeleton`, used to make test fixtures from the
synthetic generator), reads them (:func:`read_skeleton`), parses the sample names
``S###C###P###R###A###`` (:func:`parse_name`) and implements the official splits
(:func:`split_indices`). Choosing the two bodies to keep is preprocessing
(:mod:`skelnb.data.preprocess`).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .formats import EmptySkeletonError, SkeletonFormatError

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


# ----------------------------------------------------------------------------- reader
TRACKING_STATES = (0, 1, 2)            # a joint's trackingState: not tracked, inferred, tracked
@dataclass(eq=False)
class Body:
    """One tracked body (one Kinect ``bodyID``) of a file: the frames it appears in and its
    joints there. ``lines[k]`` is the 1-based line of its info line in frame ``frames[k]``."""
    body_id: int
    frames: np.ndarray          # (n,) frame indices, increasing
    joints: np.ndarray          # (n, V, 3) float32, x y z metres in camera space
    tracking: np.ndarray        # (n, V) int8 trackingState: 0 not tracked, 1 inferred, 2 tracked
    lines: np.ndarray           # (n,) 1-based line of the body's info line in each frame

    @property
    def num_frames(self) -> int:
        return len(self.frames)

    @property
    def interval(self) -> tuple[int, int]:
        """(first, last) frame index in which the body appears."""
        return int(self.frames[0]), int(self.frames[-1])


@dataclass
class RawSkeleton:
    """A parsed ``.skeleton`` file: every body, as the sensor reported it (no choice made yet)."""
    path: Path
    num_frames: int
    bodies: list[Body]                 # in order of first appearance
    bodies_per_frame: np.ndarray       # (T,) how many bodies the sensor reported in each frame

    @property
    def name(self) -> str:
        return self.path.name.split(".")[0]

    def dense(self) -> np.ndarray:
        """(T, B, V, 3): all B bodies (order of first appearance), zeros where a body is absent."""
        V = self.bodies[0].joints.shape[1] if self.bodies else 25
        out = np.zeros((self.num_frames, len(self.bodies), V, 3), np.float32)
        for b, body in enumerate(self.bodies):
            out[body.frames, b] = body.joints
        return out


def _int(path, lines, i, what, low=None, high=None) -> int:
    if i >= len(lines):
        raise SkeletonFormatError(path, max(len(lines), 1), f"the file ends after this line, expected {what} "
                                  "(truncated file?)")
    try:
        v = int(lines[i].strip())
    except ValueError:
        raise SkeletonFormatError(path, i + 1, f"expected {what} (one integer), got {lines[i][:60]!r}") from None
    if (low is not None and v < low) or (high is not None and v > high):
        raise SkeletonFormatError(path, i + 1, f"{what} is {v}, expected {low}..{high}")
    return v


def _diagnose_joints(path, lines, starts, nj, ncols=12):
    """Slow path after the vectorised conversion failed: find and report the first bad line."""
    names = "x y z depthX depthY colorX colorY orientationW orientationX orientationY orientationZ trackingState"
    for s in starts:
        for i in range(s, s + nj):
            tok = lines[i].split()
            if len(tok) != ncols:
                raise SkeletonFormatError(path, i + 1, f"expected {ncols} values ({names}) for joint "
                                          f"{i - s + 1} of a body, got {len(tok)}: {lines[i][:80]!r}")
            for k, t in enumerate(tok):
                try:
                    float(t)
                except ValueError:
                    raise SkeletonFormatError(path, i + 1, f"value {k + 1} ({names.split()[k]}) of joint "
                                              f"{i - s + 1} is not a number: {t!r}") from None
    raise SkeletonFormatError(path, 0, "could not convert the joint lines (no single bad line found)")


def read_skeleton(path, *, num_joints: int = 25, nonfinite: str = "error") -> RawSkeleton:
    """Parse an NTU RGB+D ``.skeleton`` file into a :class:`RawSkeleton`.

    Accepts what real files contain: CRLF or LF line ends, frames with no body or with more
    than two, body ids that change mid-file (each id becomes its own :class:`Body`; choosing
    and merging them is :func:`skelnb.data.preprocess.select_bodies`). Everything else is a
    :class:`SkeletonFormatError` whose message starts with ``path:line:``: truncated files,
    joint counts other than ``num_joints``, lines without 12 values, non-numeric values,
    data after the last frame. A file declaring zero frames raises
    :class:`EmptySkeletonError` (a subclass); a frame count larger than the file holds is a
    truncation error (nothing is allocated from it). x, y, z must be finite once stored as
    float32 (so 1e39 counts as inf): NaN/inf is an error, or with ``nonfinite="drop"`` that body
    is treated as absent in that frame. A joint's trackingState must be 0, 1 or 2.

    Speed: the header lines (frame and body counts, body info) are walked in Python; all joint
    lines of the file are converted by one ``numpy.loadtxt`` call, which also checks that each
    has 12 numeric values (about 3 ms for a 400 KB file).
    """
    path = Path(path)
    if nonfinite not in ("error", "drop"):
        raise ValueError(f"read_skeleton: nonfinite must be 'error' or 'drop', got {nonfinite!r}")
    raw = path.read_bytes()
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError as e:
        raise SkeletonFormatError(path, raw[: e.start].count(b"\n") + 1,
                                  f"non-ASCII byte {raw[e.start:e.start + 1]!r}: not a text .skeleton file") from None
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise SkeletonFormatError(path, 1, "empty file: expected the frame count on line 1")
    T = _int(path, lines, 0, "the frame count", 0)
    if T == 0:
        raise EmptySkeletonError(path, 1, "the file declares 0 frames")
    nbody = []          # grown frame by frame: an absurd frame count meets the end of the file, no allocation
    rec_frame, rec_id, rec_line, starts = [], [], [], []
    i = 1
    for t in range(T):
        nb = _int(path, lines, i, f"the body count of frame {t + 1}/{T}", 0, 64)
        nbody.append(nb)
        i += 1
        for b in range(nb):
            if i >= len(lines):
                raise SkeletonFormatError(path, len(lines), f"the file ends after this line, expected the info "
                                          f"line of body {b + 1}/{nb} in frame {t + 1}/{T} (truncated file?)")
            info = lines[i].split()
            if len(info) != 10:
                raise SkeletonFormatError(path, i + 1, f"body info line of body {b + 1}/{nb} in frame {t + 1}/{T} "
                                          f"must have 10 values (bodyID clipedEdges ... trackingState), got "
                                          f"{len(info)}: {lines[i][:80]!r}")
            try:
                bid = int(info[0])
            except ValueError:
                raise SkeletonFormatError(path, i + 1, f"bodyID must be an integer, got {info[0]!r}") from None
            nj = _int(path, lines, i + 1, f"the joint count of body {b + 1}/{nb} in frame {t + 1}/{T}", 0)
            if nj != num_joints:
                raise SkeletonFormatError(path, i + 2, f"joint count is {nj}, expected {num_joints} (Kinect v2)")
            if i + 2 + nj > len(lines):
                raise SkeletonFormatError(path, len(lines), f"the file ends inside the joints of body {b + 1}/{nb} "
                                          f"in frame {t + 1}/{T}: {len(lines) - i - 2} of {nj} joint lines present "
                                          "(truncated file?)")
            if lines[i + 1 + nj].count(" ") != 11 and len(lines[i + 1 + nj].split()) != 12:
                _diagnose_joints(path, lines, [i + 2], nj)      # the block ends early or late
            rec_frame.append(t), rec_id.append(bid), rec_line.append(i + 1), starts.append(i + 2)
            i += 2 + nj
    for k in range(i, len(lines)):
        if lines[k].strip():
            raise SkeletonFormatError(path, k + 1, f"unexpected data after the last of the {T} declared frames "
                                      f"(wrong frame count?): {lines[k][:60]!r}")
    R = len(starts)
    if R:
        block = [l for s in starts for l in lines[s: s + num_joints]]
        try:
            vals = np.loadtxt(block, dtype=np.float64, comments=None, ndmin=2)
        except ValueError:
            _diagnose_joints(path, lines, starts, num_joints)
        if vals.shape != (R * num_joints, 12):
            _diagnose_joints(path, lines, starts, num_joints)
        vals = vals.reshape(R, num_joints, 12)
    else:
        vals = np.zeros((0, num_joints, 12))
    # checked in the dtypes they are stored in: float32 x y z (1e39 is finite in float64, inf in
    # float32) and int8 trackingState (0, 1 or 2; 300 would wrap to 44)
    with np.errstate(over="ignore", invalid="ignore"):
        xyz = vals[..., :3].astype(np.float32)
    finite = np.isfinite(xyz).all(axis=(1, 2))
    if not finite.all():
        r = int(np.flatnonzero(~finite)[0])
        if nonfinite == "error":
            j = int(np.flatnonzero(~np.isfinite(xyz[r]).all(1))[0])
            raise SkeletonFormatError(path, starts[r] + j + 1, f"x y z of joint {j + 1} is not finite as float32 "
                                      f"(|v| < 3.4e38 expected): {lines[starts[r] + j][:60]!r} (pass "
                                      "nonfinite='drop' to skip such bodies frame by frame)")
    ts = vals[..., 11]
    bad_ts = ~np.isin(ts, TRACKING_STATES)
    if bad_ts.any():
        r, j = (int(a[0]) for a in np.nonzero(bad_ts))
        raise SkeletonFormatError(path, starts[r] + j + 1, f"trackingState of joint {j + 1} is {ts[r, j]:g}, "
                                  f"expected one of {TRACKING_STATES} (not tracked, inferred, tracked)")
    rec_frame, rec_line = np.array(rec_frame, np.int64), np.array(rec_line, np.int64)
    bodies, order = [], {}
    for r, bid in enumerate(rec_id):            # Python ints: Kinect ids are unsigned 64-bit
        order.setdefault(bid, []).append(r)
    for bid, rows in order.items():
        rows = np.array(rows)
        fr = rec_frame[rows]
        dup = np.flatnonzero(np.diff(fr) == 0)
        if len(dup):
            raise SkeletonFormatError(path, int(rec_line[rows[dup[0] + 1]]),
                                      f"bodyID {bid} appears twice in frame {int(fr[dup[0]]) + 1}")
        rows = rows[finite[rows]]
        if len(rows):
            bodies.append(Body(bid, rec_frame[rows], xyz[rows], ts[rows].astype(np.int8), rec_line[rows]))
    return RawSkeleton(path, T, bodies, np.array(nbody, np.int64))


# ----------------------------------------------------------------------------- names and splits
NAME_RE = re.compile(r"S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})")

# NTU-60 cross-subject: these 20 of the 40 subjects train; cross-view: cameras 2 and 3 train.
NTU60_XSUB_TRAIN = (1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38)
NTU60_XVIEW_TRAIN = (2, 3)
# NTU-120 cross-subject: these 53 of the 106 subjects train.
NTU120_XSUB_TRAIN = NTU60_XSUB_TRAIN + (
    45, 46, 47, 49, 50, 52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82, 83, 84, 85, 86, 89,
    91, 92, 93, 94, 95, 97, 98, 100, 103)
# NTU-120 cross-setup: the dataset's rule is *even* setup ids (2, 4, ..., 32) train, odd test
# (``ntu120-xset``). The What-and-Where paper's sentence says odd ids train, and so does the
# authors' DSTA-Net code: ``ntu120-xset-paper`` (Table 8 was produced that way).
NTU120_XSET_TRAIN = tuple(range(2, 33, 2))
NTU120_XSET_PAPER_TRAIN = tuple(range(1, 33, 2))

# Which samples belong to which dataset: NTU-60 is setups 1-17 with actions 1-60.
DATASETS = {"ntu60": dict(setups=17, actions=60), "ntu120": dict(setups=32, actions=120)}
BENCHMARKS = ("ntu60-xsub", "ntu60-xview", "ntu120-xsub", "ntu120-xset", "ntu120-xset-paper")


@dataclass(frozen=True)
class NtuName:
    """The five ids encoded in a sample name ``S001C002P003R002A013`` (all 1-based)."""
    setup: int
    camera: int
    performer: int
    replication: int
    action: int

    @property
    def label(self) -> int:
        """0-based class index (action id - 1)."""
        return self.action - 1

    def __str__(self):
        return (f"S{self.setup:03d}C{self.camera:03d}P{self.performer:03d}"
                f"R{self.replication:03d}A{self.action:03d}")


def parse_name(name) -> NtuName:
    """Parse ``S###C###P###R###A###`` (a bare name, a file name ``....skeleton`` or a path)."""
    stem = Path(str(name)).name.split(".")[0]
    m = NAME_RE.fullmatch(stem)
    if not m or 0 in (ids := tuple(int(g) for g in m.groups())):
        raise SkeletonFormatError(name, 0, f"not an NTU RGB+D sample name: {stem!r} "
                                  "(expected S###C###P###R###A###, e.g. S001C002P003R002A013, ids from 1)")
    return NtuName(*ids)


def in_dataset(name: NtuName, dataset: str) -> bool:
    """Whether a sample belongs to ``"ntu60"`` (setups 1-17, actions 1-60) or ``"ntu120"``."""
    if dataset not in DATASETS:
        raise ValueError(f"unknown NTU dataset {dataset!r}; use one of {sorted(DATASETS)}")
    d = DATASETS[dataset]
    return name.setup <= d["setups"] and name.action <= d["actions"]


def is_train(name: NtuName, benchmark: str) -> bool:
    """Whether a sample is in the training half of ``benchmark`` (see :data:`BENCHMARKS`)."""
    if benchmark not in BENCHMARKS:
        raise ValueError(f"unknown NTU benchmark {benchmark!r}; use one of {BENCHMARKS}")
    if benchmark.startswith("ntu60") and not in_dataset(name, "ntu60"):
        raise ValueError(f"{name} is not an NTU-60 sample (setup <= 17, action <= 60): "
                         f"it has no place in {benchmark}")
    if benchmark in ("ntu60-xsub",):
        return name.performer in NTU60_XSUB_TRAIN
    if benchmark == "ntu60-xview":
        return name.camera in NTU60_XVIEW_TRAIN
    if benchmark == "ntu120-xsub":
        return name.performer in NTU120_XSUB_TRAIN
    if benchmark == "ntu120-xset-paper":
        return name.setup in NTU120_XSET_PAPER_TRAIN    # odd setup ids train (paper, authors' code)
    return name.setup in NTU120_XSET_TRAIN          # ntu120-xset: even setup ids train


def split_indices(names, benchmark: str) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, test indices) of sample ``names`` under ``benchmark`` (:data:`BENCHMARKS`)."""
    train = np.array([is_train(n if isinstance(n, NtuName) else parse_name(n), benchmark) for n in names], bool)
    return np.flatnonzero(train), np.flatnonzero(~train)


def read_name_list(path) -> list[str]:
    """Read a text file of sample names, one per line, e.g. the published
    ``NTU_RGBD_samples_with_missing_skeletons.txt`` / ``NTU_RGBD120_samples_with_missing_skeletons.txt``
    (a few lines of prose, a blank line, then one name per line). Blank lines, ``#`` comments
    and prose lines (with spaces or other words) are skipped; a line that looks like a name
    but is not one (``S001C002P005R002``, ``S001C002P005R002A08``) is an error naming the line."""
    path = Path(path)
    if not path.is_file():
        raise SkeletonFormatError(path, 0, "name list not found")
    out = []
    for k, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        s = line.split("#")[0].strip()
        if not s or not re.fullmatch(r"S\d[\dSCPRA]*", s):
            continue
        try:
            out.append(str(parse_name(s)))
        except SkeletonFormatError:
            raise SkeletonFormatError(path, k, f"not an NTU sample name: {s!r} "
                                      "(expected S###C###P###R###A###)") from None
    return out


def list_skeleton_files(root, dataset: str | None = None) -> list[Path]:
    """All ``*.skeleton`` files under ``root`` (sorted by name), optionally only those of
    ``dataset`` (``"ntu60"`` or ``"ntu120"``). A ``.skeleton`` file whose name is not a sample
    name is an error, not silently skipped."""
    root = Path(root)
    if not root.is_dir():
        raise SkeletonFormatError(root, 0, "NTU skeleton folder not found (see data/README.md)")
    files = sorted((Path(e.path) for e in os.scandir(root) if e.name.endswith(".skeleton") and e.is_file()),
                   key=lambda p: p.name)
    if dataset is not None:
        files = [p for p in files if in_dataset(parse_name(p), dataset)]
    else:
        for p in files:
            parse_name(p)
    return files

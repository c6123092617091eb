"""SHREC'17 track (DHG-14/28) hand gestures: 22 hand joints, 14 or 28 classes.

The dataset tree (``HandGestureDataset_SHREC2017/``)::

    gesture_G/finger_F/subject_S/essai_E/skeletons_world.txt   one frame a line: 22 x (x y z)
    train_gestures.txt   one sequence a line:
    test_gestures.txt    id_gesture id_finger id_subject id_essai label_14 label_28 size_sequence

``finger`` is 1 (one finger) or 2 (whole hand); labels are 1-based in the files and 0-based in
code. The 14-class protocol uses ``label_14``, the 28-class one ``label_28``. Joint order is
:data:`skelnb.data.layouts.SHREC22` (wrist, palm, then thumb..pinky, base to tip).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .formats import ArraySet, EmptySkeletonError, SkeletonFormatError

NUM_JOINTS = 22
SPLIT_FILES = {"train": "train_gestures.txt", "test": "test_gestures.txt"}
MAX_FRAMES = 100_000                 # size_sequence above this is a broken line (real ones: < 500)


@dataclass(frozen=True)
class ShrecEntry:
    """One line of a split file (all ids and labels as in the file, 1-based)."""
    gesture: int
    finger: int
    subject: int
    essai: int
    label_14: int
    label_28: int
    size: int                      # frames, as the split file says

    @property
    def relpath(self) -> str:
        return (f"gesture_{self.gesture}/finger_{self.finger}/subject_{self.subject}/"
                f"essai_{self.essai}/skeletons_world.txt")

    @property
    def name(self) -> str:
        return f"g{self.gesture:02d}f{self.finger}s{self.subject:02d}e{self.essai}"

    def label(self, classes: int = 14) -> int:
        """0-based class index under the 14- or 28-class protocol."""
        if classes not in (14, 28):
            raise ValueError(f"SHREC'17 has a 14- and a 28-class protocol, not {classes}")
        return (self.label_14 if classes == 14 else self.label_28) - 1


def read_split_file(path) -> list[ShrecEntry]:
    """Parse ``train_gestures.txt`` / ``test_gestures.txt`` (7 integers a line). Ids and labels in
    range, ``size_sequence`` in 1..:data:`MAX_FRAMES`, no sequence listed twice."""
    path = Path(path)
    if not path.is_file():
        raise SkeletonFormatError(path, 0, "SHREC'17 split file not found (the dataset root holds "
                                  "train_gestures.txt and test_gestures.txt; see data/README.md)")
    out, seen = [], {}
    for k, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        tok = line.split()
        if len(tok) != 7:
            raise SkeletonFormatError(path, k, "expected 7 integers (id_gesture id_finger id_subject id_essai "
                                      f"label_14 label_28 size_sequence), got {len(tok)}: {line[:60]!r}")
        try:
            v = [int(t) for t in tok]
        except ValueError:
            raise SkeletonFormatError(path, k, f"non-integer value in {line[:60]!r}") from None
        e = ShrecEntry(*v)
        for what, val, hi in (("id_gesture", e.gesture, 14), ("id_finger", e.finger, 2), ("label_14", e.label_14, 14),
                              ("label_28", e.label_28, 28)):
            if not 1 <= val <= hi:
                raise SkeletonFormatError(path, k, f"{what} is {val}, expected 1..{hi}")
        if e.subject < 1 or e.essai < 1 or e.size < 1:
            raise SkeletonFormatError(path, k, f"subject, essai and size must be >= 1: {line[:60]!r}")
        if e.size > MAX_FRAMES:
            raise SkeletonFormatError(path, k, f"size_sequence is {e.size}, expected 1..{MAX_FRAMES} frames")
        if e.relpath in seen:
            raise SkeletonFormatError(path, k, f"sequence {e.relpath} is listed twice (first on line "
                                      f"{seen[e.relpath]}): a duplicated line would count it twice")
        seen[e.relpath] = k
        out.append(e)
    if not out:
        raise SkeletonFormatError(path, 0, "split file lists no sequence")
    return out


def read_sequence(path, num_joints: int = NUM_JOINTS) -> np.ndarray:
    """Read one ``skeletons_world.txt``: (T, 22, 3) float32 (one frame a line, 66 floats)."""
    path = Path(path)
    if not path.is_file():
        raise SkeletonFormatError(path, 0, "sequence file not found")
    lines = path.read_text(errors="replace").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise EmptySkeletonError(path, 1, "empty sequence: zero frames")
    D = num_joints * 3
    try:
        x = np.loadtxt(lines, dtype=np.float64, comments=None, ndmin=2)
        ok = x.shape == (len(lines), D)
    except ValueError:
        ok = False
    if not ok:
        for k, line in enumerate(lines, 1):
            tok = line.split()
            if len(tok) != D:
                raise SkeletonFormatError(path, k, f"expected {D} values ({num_joints} joints x 3), got {len(tok)}")
            for t in tok:
                try:
                    float(t)
                except ValueError:
                    raise SkeletonFormatError(path, k, f"not a number: {t!r}") from None
        raise SkeletonFormatError(path, 0, "could not read the sequence")
    with np.errstate(over="ignore", invalid="ignore"):
        x = x.astype(np.float32)                    # checked as stored: 1e39 is inf in float32
    bad = ~np.isfinite(x).all(1)
    if bad.any():
        raise SkeletonFormatError(path, int(np.flatnonzero(bad)[0]) + 1,
                                  "NaN or inf coordinate (as float32: |v| < 3.4e38 expected)")
    return x.reshape(len(x), num_joints, 3)


def check_disjoint(train, test, train_path, test_path) -> None:
    """Raise unless no sequence is listed in both split files (a test sequence seen in training)."""
    first = {e.relpath: k for k, e in enumerate(train)}
    for e in test:
        if e.relpath in first:
            raise SkeletonFormatError(test_path, 0, f"sequence {e.relpath} is listed for testing and also for "
                                      f"training in {Path(train_path).name}: the official splits do not overlap")


def read_splits(root) -> dict[str, list[ShrecEntry]]:
    """Both official split files of ``root``, checked not to overlap."""
    root = Path(root)
    out = {s: read_split_file(root / f) for s, f in SPLIT_FILES.items()}
    check_disjoint(out["train"], out["test"], root / SPLIT_FILES["train"], root / SPLIT_FILES["test"])
    return out


def load_shrec(root, split: str = "train", classes: int = 14, *, num_frames: int | None = None,
               check_length: bool = True) -> ArraySet:
    """Load one official split of SHREC'17 into an :class:`~skelnb.data.formats.ArraySet`:
    ``data`` (N, 3, T, 22, 1) zero-padded to ``num_frames`` (default: the longest sequence),
    0-based ``labels`` of the ``classes`` (14 or 28) protocol, ``lengths``.

    ``check_length``: the frame count of each file must equal the split file's
    ``size_sequence`` (an error naming both otherwise).
    """
    root = Path(root)
    if split not in SPLIT_FILES:
        raise ValueError(f"SHREC'17 splits are {sorted(SPLIT_FILES)}, not {split!r}")
    split_path = root / SPLIT_FILES[split]
    entries = read_split_file(split_path)
    other = "test" if split == "train" else "train"
    if (root / SPLIT_FILES[other]).is_file():      # the two halves must not share a sequence
        pair = {split: entries, other: read_split_file(root / SPLIT_FILES[other])}
        check_disjoint(pair["train"], pair["test"], root / SPLIT_FILES["train"], root / SPLIT_FILES["test"])
    labels = np.array([e.label(classes) for e in entries], np.int64)
    seqs = []
    for k, e in enumerate(entries):
        p = root / e.relpath
        if not p.is_file():
            raise SkeletonFormatError(p, 0, f"sequence file missing (listed in {split_path.name})")
        s = read_sequence(p)
        if check_length and len(s) != e.size:
            raise SkeletonFormatError(p, 0, f"{len(s)} frames, but {split_path.name} says {e.size} "
                                      "(load_shrec(..., check_length=False) to accept)")
        seqs.append(s)
    T = max(len(s) for s in seqs) if num_frames is None else num_frames
    data = np.zeros((len(seqs), 3, T, NUM_JOINTS, 1), np.float32)
    lengths = np.zeros(len(seqs), np.int64)
    for i, s in enumerate(seqs):
        n = min(len(s), T)
        if len(s) > T:
            raise ValueError(f"{root / entries[i].relpath}: {len(s)} frames > num_frames={T}")
        data[i, :, :n, :, 0] = s[:n].transpose(2, 0, 1)
        lengths[i] = n
    return ArraySet(data, labels, lengths, [e.name for e in entries], "shrec22")


# ----------------------------------------------------------------------------- writers (fixtures)
def write_sequence(path, seq: np.ndarray) -> Path:
    """Write (T, 22, 3) as a ``skeletons_world.txt`` (one frame a line, space-separated)."""
    seq = np.asarray(seq, np.float64).reshape(len(seq), -1)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(" ".join(f"{v:.6f}" for v in row) + "\n" for row in seq))
    return path


def write_split_file(path, entries) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{e.gesture} {e.finger} {e.subject} {e.essai} {e.label_14} {e.label_28} {e.size}\n"
                            for e in entries))
    return path


def synthetic_hand(gesture: int, finger: int, subject: int, essai: int, frames: int = 20, seed: int = 0) -> np.ndarray:
    """A toy hand sequence (T, 22, 3) in metres: a rest hand translated along a direction that
    depends on the gesture, fingers curled when ``finger == 1`` (one finger extended). Only
    for exercising the file format; it is not a model of real gestures."""
    rng = np.random.default_rng([seed, gesture, finger, subject, essai])
    hand = np.zeros((NUM_JOINTS, 3))
    hand[1] = (0, 0.04, 0)                                        # palm above the wrist
    for f in range(5):
        base = np.array([(f - 2) * 0.02, 0.08, 0.0])
        for j in range(4):
            curl = 0.5 if (finger == 1 and f != 1) else 0.0
            hand[2 + 4 * f + j] = base + j * 0.025 * np.array([0, np.cos(curl * j), -np.sin(curl * j)])
    angle = 2 * np.pi * gesture / 14
    direction = np.array([np.cos(angle), np.sin(angle), 0.3 * np.cos(3 * angle)]) * 0.15
    u = np.linspace(0, 1, frames)[:, None, None]
    seq = hand[None] + u * direction + rng.normal(0, 0.002, (frames, NUM_JOINTS, 3))
    return seq + np.array([0.1, 0.2, 0.5]) + rng.normal(0, 0.02, 3)


def write_synthetic_shrec(root, gestures=(1, 2), fingers=(1, 2), subjects=(1, 2), essais=(1,),
                          test_subjects=(2,), frames=(16, 24), seed: int = 0) -> dict[str, list[ShrecEntry]]:
    """Write a tiny tree in the exact SHREC'17 layout, with its two split files."""
    root = Path(root)
    split = {"train": [], "test": []}
    for g in gestures:
        for f in fingers:
            for s in subjects:
                for e in essais:
                    T = int(np.random.default_rng([seed, g, f, s, e, 1]).integers(frames[0], frames[1] + 1))
                    entry = ShrecEntry(g, f, s, e, g, 2 * g - 1 + (f - 1), T)
                    write_sequence(root / entry.relpath, synthetic_hand(g, f, s, e, T, seed))
                    split["test" if s in test_subjects else "train"].append(entry)
    for k, v in split.items():
        write_split_file(root / SPLIT_FILES[k], v)
    return split

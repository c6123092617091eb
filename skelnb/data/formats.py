"""The error every reader raises, and the array layouts people already have on disk.

* :class:`SkeletonFormatError` -- one exception class for every malformed input, whose message
  starts with ``path:line:`` (line 0 means "the file as a whole": binary formats, a missing
  file, a key absent from an archive).
* pyskl-style annotation pickles (:func:`load_pyskl`): a dict with ``split``
  ``{name: [sample ids]}`` and ``annotations``, a list of dicts with ``frame_dir``, ``label``,
  ``keypoint`` (M, T, V, C) and ``total_frames``.
* CTR-GCN-style ``NTU60_CS.npz`` (:func:`load_ctrgcn_npz`): ``x_train`` (N, T, 150), i.e. T x
  (2 persons x 25 joints x 3), ``y_train`` one-hot (N, 60), ``x_test``, ``y_test``.

**Pickles run code.** Unpickling a file can execute arbitrary code chosen by whoever wrote the
file. :func:`load_pyskl` therefore refuses to open one unless called with
``allow_pickle=True``, and even then unpickles with a restricted unpickler that only rebuilds
plain containers and numpy arrays (anything else is refused with an error). Protocol-2 pickles
(what pyskl's ``ntu_preproc.py`` writes through ``mmcv.dump``, float16 keypoints) rebuild each
array's bytes with ``_codecs.encode(text, 'latin1')``: that one call is allowed, in a wrapper
that accepts nothing else. Only pass
``allow_pickle=True`` for files from a source you trust. The ``.npz`` loader never unpickles.
"""
from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


class SkeletonFormatError(ValueError):
    """A malformed skeleton file. ``str(e)`` starts with ``path:line:`` (line 0: whole file)."""

    def __init__(self, path, line: int, message: str):
        self.path, self.line, self.message = str(path), int(line), message
        super().__init__(f"{self.path}:{self.line}: {message}")

    def __reduce__(self):                       # survive the trip back from a worker process
        return (type(self), (self.path, self.line, self.message))


class EmptySkeletonError(SkeletonFormatError):
    """A well-formed file with nothing to learn from: zero frames, or no body in any frame.
    NTU publishes lists of such samples ("samples with missing skeletons"); caches skip and
    report them instead of keeping an all-zero sample."""


class UnsafePickleError(ValueError):
    """Refusal to unpickle without ``allow_pickle=True`` (or a pickle holding arbitrary objects)."""


# ----------------------------------------------------------------------------- array sets
@dataclass
class ArraySet:
    """Sequences already in arrays: ``data`` (N, C, T, V, M), zero-padded; ``labels`` (N,)
    0-based; ``lengths`` (N,) valid frames; ``names`` (N,); ``splits`` {name: indices};
    ``centred``: the producer centred the sequences already (CTR-GCN's npz), so
    :meth:`dataset` does not centre them again by default."""
    data: np.ndarray
    labels: np.ndarray
    lengths: np.ndarray
    names: list[str]
    layout: str = "ntu25"
    splits: dict[str, np.ndarray] = field(default_factory=dict)
    centred: bool = False

    def __len__(self):
        return len(self.labels)

    def dataset(self, indices=None, **kwargs):
        """A :class:`~skelnb.data.dataset.SkeletonDataset` over (a subset of) the samples."""
        from .dataset import Rows, SkeletonDataset
        data, labels, lengths = self.data, self.labels, self.lengths
        if indices is not None:
            idx = np.asarray(indices)
            data, labels, lengths = Rows(data, idx), labels[idx], lengths[idx]
        kwargs.setdefault("layout", self.layout)
        kwargs.setdefault("center", None if self.centred else "first")
        return SkeletonDataset(data, labels, lengths=lengths, **kwargs)


def valid_lengths(data: np.ndarray, chunk: int = 256) -> np.ndarray:
    """(N,) frames up to the last one with any non-zero joint, for data (N, C, T, V, M)."""
    out = np.zeros(len(data), np.int64)
    for s in range(0, len(data), chunk):
        nz = np.abs(np.asarray(data[s:s + chunk])).sum(axis=(1, 3, 4)) > 0   # (n, T)
        any_ = nz.any(1)
        last = nz.shape[1] - np.argmax(nz[:, ::-1], axis=1)
        out[s:s + chunk] = np.where(any_, last, 0)
    return out


_LAYOUT_OF_V = {25: "ntu25", 22: "shrec22"}


# ----------------------------------------------------------------------------- pyskl pickles
# What a pyskl annotation pickle legitimately contains: containers, numbers, strings and numpy
# arrays/scalars. The restricted unpickler resolves only these globals.
_SAFE_GLOBALS = {
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("collections", "OrderedDict"), ("builtins", "slice"),
}


_LATIN1 = ("latin1", "latin-1", "iso-8859-1", "iso8859-1", "l1")


def _latin1_encode(text, encoding="utf-8"):
    """What protocol-2 pickles (mmcv's default, hence pyskl's files) call as ``_codecs.encode``
    to rebuild a bytes object (a numpy array's buffer): ``str.encode('latin1')``. Only that."""
    if not isinstance(text, str) or str(encoding).lower() not in _LATIN1:
        raise UnsafePickleError(f"the pickle calls _codecs.encode({type(text).__name__}, {encoding!r}); "
                                "only the latin-1 form a protocol-2 pickle uses for bytes is allowed")
    return text.encode("latin-1")


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _SAFE_GLOBALS:
            return super().find_class(module, name)
        if (module, name) == ("_codecs", "encode"):       # protocol 2: bytes as latin-1 text
            return _latin1_encode
        raise UnsafePickleError(
            f"the pickle asks for {module}.{name}, which an annotation file never needs; "
            "refusing to build it (unpickling arbitrary objects can run code)")


def _unpickle(path: Path):
    with open(path, "rb") as f:
        try:
            return _RestrictedUnpickler(f).load()
        except UnsafePickleError as e:
            raise UnsafePickleError(f"{path}:0: {e}") from None
        except Exception as e:   # truncated / not a pickle
            raise SkeletonFormatError(path, 0, f"not a readable pickle ({type(e).__name__}: {e})") from None


def load_pyskl(path, split: str | None = None, *, allow_pickle: bool = False,
               num_frames: int | None = None, max_bodies: int = 2) -> ArraySet:
    """Load a pyskl-style annotation pickle into an :class:`ArraySet`.

    ``split`` picks one entry of the file's ``split`` dict (e.g. ``"xsub_train"``); ``None``
    keeps every annotation (``.splits`` then maps each split name to its indices).
    ``keypoint`` (M, T, V, C) becomes (C, T, V, max_bodies): extra bodies beyond ``max_bodies``
    are dropped (pyskl orders them already), missing ones are zeros. Sequences are zero-padded
    to ``num_frames`` (default: the longest); longer ones are an error rather than cut.

    ``allow_pickle`` must be True: a pickle can run code when loaded (see the module doc).
    """
    path = Path(path)
    if not allow_pickle:
        raise UnsafePickleError(
            f"{path}:0: refusing to load a pickle: unpickling can execute arbitrary code written "
            "into the file. If you trust where this file came from, call "
            "load_pyskl(..., allow_pickle=True) (skelnb then still only rebuilds plain "
            "containers and numpy arrays).")
    if not path.is_file():
        raise SkeletonFormatError(path, 0, "file not found")
    obj = _unpickle(path)
    err = lambda msg: SkeletonFormatError(path, 0, msg)
    if not isinstance(obj, dict) or not {"split", "annotations"} <= set(obj):
        got = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
        raise err(f"expected a dict with keys 'split' and 'annotations' (pyskl format), got {got}")
    anns, splits = obj["annotations"], obj["split"]
    if not isinstance(anns, (list, tuple)) or not isinstance(splits, dict):
        raise err("'annotations' must be a list of dicts and 'split' a dict {name: [frame_dir, ...]}")
    index = {}
    for i, a in enumerate(anns):
        if not isinstance(a, dict):
            raise err(f"annotation {i} is a {type(a).__name__}, not a dict")
        missing = {"frame_dir", "label", "keypoint", "total_frames"} - set(a)
        if missing:
            raise err(f"annotation {i} lacks key(s) {sorted(missing)}")
        if a["frame_dir"] in index:
            raise err(f"annotation {i}: frame_dir {a['frame_dir']!r} appears twice")
        index[a["frame_dir"]] = i
    split_idx = {}
    for name, ids in splits.items():
        if not isinstance(ids, (list, tuple)):
            raise err(f"split {name!r} must be a list of frame_dir names, got {type(ids).__name__}")
        bad = [s for s in ids if s not in index]
        if bad:
            raise err(f"split {name!r} names {len(bad)} sample(s) without an annotation, e.g. {bad[0]!r}")
        if len(set(ids)) != len(ids):
            dup = next(s for k, s in enumerate(ids) if s in ids[:k])
            raise err(f"split {name!r} lists sample {dup!r} twice")
        split_idx[name] = np.array([index[s] for s in ids], dtype=np.int64)
    for name in split_idx:                     # xsub_train / xsub_val ... must not share a sample
        if name.endswith("_train"):
            for other in (name[:-6] + "_val", name[:-6] + "_test"):
                both = set(splits[name]) & set(splits.get(other, ()))
                if both:
                    raise err(f"splits {name!r} and {other!r} share {len(both)} sample(s), e.g. "
                              f"{sorted(both)[0]!r}: a test sample would be trained on")
    if split is None:
        chosen = np.arange(len(anns))
    elif split in split_idx:
        chosen = split_idx[split]
    else:
        raise err(f"no split {split!r}; the file has {sorted(split_idx)}")

    V = C = None
    for i in chosen:
        a = anns[i]
        kp = a["keypoint"]
        where = f"annotation {i} ({a['frame_dir']})"
        if not isinstance(kp, np.ndarray) or kp.ndim != 4 or kp.dtype.kind not in "fiu":
            raise err(f"{where}: keypoint must be a numeric array (M, T, V, C), got "
                      f"{getattr(kp, 'shape', type(kp).__name__)}")
        if int(a["total_frames"]) != kp.shape[1]:
            raise err(f"{where}: total_frames={a['total_frames']} but keypoint has T={kp.shape[1]}")
        if kp.shape[1] == 0 or kp.shape[0] == 0:
            raise err(f"{where}: keypoint {kp.shape} holds no frame or no body")
        if V is None:
            V, C = kp.shape[2], kp.shape[3]
        if (kp.shape[2], kp.shape[3]) != (V, C):
            raise err(f"{where}: keypoint {kp.shape} differs from the first sample's V={V}, C={C}")
        with np.errstate(over="ignore", invalid="ignore"):
            finite = np.isfinite(kp.astype(np.float32, copy=False)).all()   # as stored: float32
        if not finite:
            raise err(f"{where}: keypoint contains NaN or inf (as float32: |v| < 3.4e38 expected)")
        if isinstance(a["label"], bool) or not isinstance(a["label"], (int, np.integer)) or a["label"] < 0:
            raise err(f"{where}: label must be a non-negative int, got {a['label']!r}")
    if V is not None and V not in _LAYOUT_OF_V:
        raise err(f"V={V} joints: skelnb has layouts for {sorted(_LAYOUT_OF_V)} joints only")
    if C is not None and C != 3:
        raise err(f"C={C} coordinates: skelnb's datasets expect 3D joints (C=3)")
    longest = max((anns[i]["keypoint"].shape[1] for i in chosen), default=0)
    T = longest if num_frames is None else num_frames
    if longest > T:
        raise err(f"a sequence has {longest} frames, more than num_frames={T}")
    data = np.zeros((len(chosen), 3, T, V or 25, max_bodies), np.float32)
    lengths = np.zeros(len(chosen), np.int64)
    for k, i in enumerate(chosen):
        kp = anns[i]["keypoint"][:max_bodies]                                  # (M, T, V, C)
        data[k, :, : kp.shape[1], :, : kp.shape[0]] = kp.transpose(3, 1, 2, 0)
        lengths[k] = kp.shape[1]
    pos = {int(i): k for k, i in enumerate(chosen)}
    sub_splits = {n: np.array([pos[int(i)] for i in ix if int(i) in pos], np.int64)
                  for n, ix in split_idx.items()}
    return ArraySet(data, np.array([int(anns[i]["label"]) for i in chosen], np.int64), lengths,
                    [str(anns[i]["frame_dir"]) for i in chosen], _LAYOUT_OF_V.get(V, "ntu25"), sub_splits)


def write_pyskl(path, data, labels, names, splits: dict, lengths=None) -> Path:
    """Write (N, C, T, V, M) arrays as a pyskl-style annotation pickle (bodies that are all
    zero are left out of ``keypoint``, as pyskl stores only the bodies it saw)."""
    data = np.asarray(data)
    lengths = valid_lengths(data) if lengths is None else np.asarray(lengths)
    anns = []
    for x, y, n, L in zip(data, labels, names, lengths):
        kp = x[:, :L].transpose(3, 1, 2, 0)                                # (M, T, V, C)
        keep = np.abs(kp).sum(axis=(1, 2, 3)) > 0
        keep[0] = True
        anns.append(dict(frame_dir=str(n), label=int(y), keypoint=np.ascontiguousarray(kp[keep], np.float32),
                         total_frames=int(L)))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(dict(split={k: [str(s) for s in v] for k, v in splits.items()}, annotations=anns), f,
                    protocol=4)
    return path


# ----------------------------------------------------------------------------- CTR-GCN npz
def load_ctrgcn_npz(path, split: str = "train", *, num_persons: int = 2, num_joints: int = 25) -> ArraySet:
    """Load one split (``"train"`` or ``"test"``) of a CTR-GCN-style ``NTU60_CS.npz``.

    ``x_<split>`` (N, T, 150) is T x (person, joint, xyz) flattened; it is returned as a
    (N, 3, T, 25, 2) *view* (no copy). ``y_<split>`` is one-hot (N, K) (an (N,) integer vector
    is accepted too); labels become 0-based class indices. Never unpickles.
    """
    path = Path(path)
    if split not in ("train", "test"):
        raise ValueError(f"load_ctrgcn_npz: split must be 'train' or 'test', got {split!r}")
    if not path.is_file():
        raise SkeletonFormatError(path, 0, "file not found")
    err = lambda msg: SkeletonFormatError(path, 0, msg)
    try:
        z = np.load(path, allow_pickle=False)
    except Exception as e:
        raise err(f"not a readable .npz ({type(e).__name__}: {e})") from None
    if not isinstance(z, np.lib.npyio.NpzFile):
        raise err("expected an .npz archive with x_train, y_train, x_test, y_test")
    with z:
        keys = set(z.files)
        need = {f"x_{split}", f"y_{split}"}
        if not need <= keys:
            raise err(f"missing key(s) {sorted(need - keys)}; the archive has {sorted(keys)}")
        try:
            x, y = z[f"x_{split}"], z[f"y_{split}"]
        except ValueError as e:          # object arrays need pickle: refused
            raise err(f"cannot read x_{split}/y_{split} without unpickling ({e})") from None
    D = num_persons * num_joints * 3
    if x.ndim != 3 or x.shape[2] != D or x.dtype.kind != "f":
        raise err(f"x_{split} must be float (N, T, {D}) = T x ({num_persons} persons x "
                  f"{num_joints} joints x 3), got {x.dtype} {x.shape}")
    if len(y) != len(x):
        raise err(f"x_{split} has {len(x)} samples but y_{split} has {len(y)}")
    if y.ndim == 2:
        ok = (np.isin(y, (0, 1)).all(1)) & (y.sum(1) == 1)
        if not ok.all():
            raise err(f"y_{split} row {int(np.flatnonzero(~ok)[0])} is not one-hot")
        labels = y.argmax(1).astype(np.int64)
    elif y.ndim == 1 and y.dtype.kind in "iu":
        labels = y.astype(np.int64)
        if len(labels) and labels.min() < 0:
            raise err(f"y_{split} row {int(np.argmin(labels))} is {labels.min()}: labels must be >= 0")
    else:
        raise err(f"y_{split} must be one-hot (N, K) or integer (N,), got {y.dtype} {y.shape}")
    with np.errstate(over="ignore", invalid="ignore"):     # checked as float32, how the data is used
        bad = ~np.isfinite(x.astype(np.float32, copy=False)).reshape(len(x), -1).all(1)
    if bad.any():
        raise err(f"x_{split} sample {int(np.flatnonzero(bad)[0])} contains NaN or inf (as float32: "
                  "|v| < 3.4e38 expected)")
    N, T, _ = x.shape
    data = x.reshape(N, T, num_persons, num_joints, 3).transpose(0, 4, 1, 3, 2)   # (N, 3, T, V, M)
    names = [f"{split}_{i:06d}" for i in range(N)]
    # CTR-GCN's preprocessing (seq_transformation) centres every sequence on the middle of the
    # spine in its first frame: marked centred, so it is not centred a second time
    return ArraySet(data, labels, valid_lengths(data), names, _LAYOUT_OF_V.get(num_joints, "ntu25"),
                    centred=True)


def write_ctrgcn_npz(path, train: tuple, test: tuple, num_classes: int = 60) -> Path:
    """Write ``train=(data (N, 3, T, 25, 2), labels)`` and ``test`` like CTR-GCN's
    ``NTU60_CS.npz`` (x as (N, T, 150), y one-hot)."""
    out = {}
    for split, (data, labels) in (("train", train), ("test", test)):
        d = np.asarray(data, np.float32)
        N, C, T, V, M = d.shape
        out[f"x_{split}"] = d.transpose(0, 2, 4, 3, 1).reshape(N, T, M * V * C)
        out[f"y_{split}"] = np.eye(num_classes, dtype=np.float32)[np.asarray(labels)]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        np.savez(f, **out)
    return path

"""pyskl annotation pickles, CTR-GCN npz, the error class, and the committed fixtures."""
import importlib.util
import pickle
import re
from pathlib import Path

import numpy as np
import pytest

from skelnb.data import formats
from skelnb.data.formats import SkeletonFormatError, UnsafePickleError, load_ctrgcn_npz, load_pyskl

FIX = Path(__file__).parent / "fixtures"
PKL = FIX / "formats" / "ntu60_3danno_tiny.pkl"
NPZ = FIX / "formats" / "NTU60_CS_tiny.npz"


def _start(p):
    return re.escape(f"{p}:0:")


# ----------------------------------------------------------------------------- pyskl
def test_pickle_refused_without_flag():
    with pytest.raises(UnsafePickleError, match=_start(PKL) + ".*execute arbitrary code.*allow_pickle=True"):
        load_pyskl(PKL)


def test_pyskl_load_and_splits():
    a = load_pyskl(PKL, allow_pickle=True)
    assert a.data.shape[:2] == (8, 3) and a.data.shape[3:] == (25, 2)
    assert set(a.splits) == {"xsub_train", "xsub_val", "xview_train", "xview_val"}
    raw = pickle.load(open(PKL, "rb"))
    for k, ann in enumerate(raw["annotations"]):
        kp = ann["keypoint"]                                              # (M, T, V, C)
        assert a.names[k] == ann["frame_dir"] and a.lengths[k] == ann["total_frames"]
        np.testing.assert_array_equal(a.data[k, :, : kp.shape[1], :, : kp.shape[0]], kp.transpose(3, 1, 2, 0))
        assert not a.data[k, :, kp.shape[1]:].any()
    v = load_pyskl(PKL, "xsub_val", allow_pickle=True)
    assert v.names == raw["split"]["xsub_val"]
    item, label = v.dataset(num_frames=12)[0]
    assert tuple(item.shape) == (3, 12, 25, 2) and label == v.labels[0]


def test_restricted_unpickler_blocks_code(tmp_path):
    target = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(target), "w"))

    p = tmp_path / "evil.pkl"
    p.write_bytes(pickle.dumps({"split": {}, "annotations": [Evil()]}))
    with pytest.raises(UnsafePickleError, match=_start(p) + ".*asks for io.open"):
        load_pyskl(p, allow_pickle=True)
    assert not target.exists()


def _pkl(tmp_path, mutate):
    obj = pickle.load(open(PKL, "rb"))
    mutate(obj)
    p = tmp_path / "bad.pkl"
    p.write_bytes(pickle.dumps(obj))
    return p


def _set(path, value):
    def f(obj):
        d = obj
        for k in path[:-1]:
            d = d[k]
        d[path[-1]] = value
    return f


@pytest.mark.parametrize("mutate, words", [
    (lambda o: o.pop("split"), "expected a dict with keys 'split' and 'annotations'"),
    (lambda o: o["annotations"][1].pop("keypoint"), r"annotation 1 lacks key\(s\) \['keypoint'\]"),
    (_set(["annotations", 2, "keypoint"], np.zeros((20, 25, 3), np.float32)), "annotation 2.*keypoint must be"),
    (_set(["annotations", 0, "total_frames"], 3), "annotation 0.*total_frames=3"),
    (lambda o: o["split"]["xsub_val"].append("S001C001P999R001A001"), "split 'xsub_val' names 1 sample"),
    (lambda o: o["annotations"][0]["keypoint"].__setitem__((0, 0, 0, 0), np.nan), "NaN or inf"),
    (lambda o: o["annotations"][3].__setitem__("keypoint", o["annotations"][3]["keypoint"][..., :2]),
     "differs from the first sample"),
])
def test_pyskl_bad_content(tmp_path, mutate, words):
    p = _pkl(tmp_path, mutate)
    with pytest.raises(SkeletonFormatError, match=_start(p) + ".*" + words):
        load_pyskl(p, allow_pickle=True)


def test_pyskl_unknown_split_and_not_a_pickle(tmp_path):
    with pytest.raises(SkeletonFormatError, match=_start(PKL) + ".*no split 'train'"):
        load_pyskl(PKL, "train", allow_pickle=True)
    p = tmp_path / "x.pkl"
    p.write_bytes(PKL.read_bytes()[:1000])
    with pytest.raises(SkeletonFormatError, match=_start(p) + ".*not a readable pickle"):
        load_pyskl(p, allow_pickle=True)


# ----------------------------------------------------------------------------- CTR-GCN npz
def test_npz_load_matches_pickle():
    tr, te = load_ctrgcn_npz(NPZ, "train"), load_ctrgcn_npz(NPZ, "test")
    z = np.load(NPZ)
    N, T, D = z["x_train"].shape
    assert D == 150 and tr.data.shape == (N, 3, T, 25, 2)
    assert tr.labels.tolist() == z["y_train"].argmax(1).tolist()
    # x[n, t] is (person, joint, xyz) flattened
    assert tr.data[1, 2, 5, 7, 1] == z["x_train"][1, 5, 1 * 75 + 7 * 3 + 2]
    a = load_pyskl(PKL, allow_pickle=True)
    for k in range(len(te)):
        j = a.splits["xsub_val"][k]
        L = a.lengths[j]
        np.testing.assert_array_equal(te.data[k, :, :L], a.data[j, :, :L])
        assert te.lengths[k] == L and te.labels[k] == a.labels[j]


def _npz(tmp_path, **arrays):
    z = dict(np.load(NPZ))
    z.update(arrays)
    for k in [k for k, v in arrays.items() if v is None]:
        del z[k]
    p = tmp_path / "bad.npz"
    np.savez(p, **z)
    return p


def test_npz_bad_content(tmp_path):
    z = np.load(NPZ)
    x, y = z["x_train"], z["y_train"]
    cases = [
        (dict(y_train=None), r"missing key\(s\) \['y_train'\]"),
        (dict(x_train=x[..., :149]), r"x_train must be float \(N, T, 150\)"),
        (dict(y_train=y * 2), "row 0 is not one-hot"),
        (dict(y_train=y[:-1]), "y_train has"),
        (dict(x_train=np.where(np.arange(150) == 3, np.inf, x).astype(np.float32)), "NaN or inf"),
        (dict(x_train=np.array([None] * len(x), dtype=object)), "without unpickling"),
    ]
    for arrays, words in cases:
        p = _npz(tmp_path, **arrays)
        with pytest.raises(SkeletonFormatError, match=_start(p) + ".*" + words):
            load_ctrgcn_npz(p, "train")
    p = _npz(tmp_path, y_train=y.argmax(1))                         # integer labels are accepted
    assert load_ctrgcn_npz(p).labels.tolist() == y.argmax(1).tolist()
    q = tmp_path / "no.npz"
    q.write_bytes(b"not a zip")
    with pytest.raises(SkeletonFormatError, match=_start(q) + ".*not a readable"):
        load_ctrgcn_npz(q)
    with pytest.raises(SkeletonFormatError, match=_start(tmp_path / "gone.npz") + ".*not found"):
        load_ctrgcn_npz(tmp_path / "gone.npz")


# ----------------------------------------------------------------------------- error class, fixtures
def test_error_survives_pickling():
    e = SkeletonFormatError("a/b.skeleton", 7, "bad")
    f = pickle.loads(pickle.dumps(e))
    assert str(f) == "a/b.skeleton:7: bad" and (f.path, f.line) == ("a/b.skeleton", 7)
    assert isinstance(formats.EmptySkeletonError("p", 1, "x"), SkeletonFormatError)


def test_fixtures_are_what_make_fixtures_writes(tmp_path):
    spec = importlib.util.spec_from_file_location("make_fixtures", FIX.parents[1] / "data" / "make_fixtures.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.make_all(tmp_path)
    mine = ("ntu", "shrec", "formats")          # the folders make_fixtures.py owns
    committed = sorted(p.relative_to(FIX) for d in mine for p in (FIX / d).rglob("*") if p.is_file())
    assert committed == sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    for rel in committed:
        if rel.suffix == ".npz":
            a, b = np.load(FIX / rel), np.load(tmp_path / rel)
            assert all(np.array_equal(a[k], b[k]) for k in a.files)
        else:
            assert (FIX / rel).read_bytes() == (tmp_path / rel).read_bytes(), rel
    assert sum((FIX / r).stat().st_size for r in committed) < 1_000_000

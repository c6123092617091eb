"""Bad input and bad luck (issue 15): every broken file, config or run a user can hand skelnb
gives skelnb's own error naming the file (and line) or key -- never a silent wrong answer or a
crash deep inside a library. Broken files are made here from the fixtures in tests/fixtures."""
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from skelnb.data import cache as C
from skelnb.data import formats as F
from skelnb.data import ntu, shrec
from skelnb.data.formats import EmptySkeletonError, SkeletonFormatError

FIX = Path(__file__).parent / "fixtures"
SKEL = FIX / "ntu" / "nturgb+d_skeletons"
ONE = SKEL / "S001C002P003R001A013.skeleton"
SHREC = FIX / "shrec" / "HandGestureDataset_SHREC2017"
PKL = FIX / "formats" / "ntu60_3danno_tiny.pkl"
NPZ = FIX / "formats" / "NTU60_CS_tiny.npz"
REPO = Path(__file__).resolve().parents[1]


# ============================================================================ NTU .skeleton
def _lines():
    return ONE.read_text().splitlines()


def _first_joint():
    """0-based index of the first joint line (the line after the first joint count '25')."""
    ls = _lines()
    return next(i for i, l in enumerate(ls) if l.strip() == "25") + 1


def _set_value(col, value, joint=0):
    """Lines with value ``col`` (0-based) of joint ``joint`` of the first body replaced."""
    def f():
        ls = _lines()
        i = _first_joint() + joint
        tok = ls[i].split()
        tok[col] = value
        ls[i] = " ".join(tok)
        return ls
    return f, lambda: _first_joint() + joint + 1


def _info_line():
    return _first_joint() - 1       # 1-based line of the first body info line


def _replace_line(k0, text):
    def f():
        ls = _lines()
        ls[k0] = text
        return ls
    return f


NTU_CASES = {
    # name: (lines, 1-based line expected in the message (callable or int or None), words in the message)
    "x 1e39 is inf in float32": (*_set_value(0, "1e39"), "float32"),
    "z -1e39": (*_set_value(2, "-1e39", joint=3), "float32"),
    "x NaN": (*_set_value(0, "nan", joint=2), "not finite"),
    "y inf": (*_set_value(1, "inf"), "not finite"),
    "trackingState 300 (int8 wraps)": (*_set_value(11, "300"), "trackingState"),
    "trackingState -1": (*_set_value(11, "-1", joint=5), "trackingState"),
    "trackingState 1.5": (*_set_value(11, "1.5", joint=7), "trackingState"),
    "trackingState 3": (*_set_value(11, "3", joint=24), "trackingState"),
    "frame count 1e20 as an integer": (_replace_line(0, "100000000000000000000"), None, "truncated"),
    "frame count 1e20 as a float": (_replace_line(0, "1e20"), 1, "frame count"),
    "negative frame count": (_replace_line(0, "-3"), 1, "frame count"),
    "body count 65": (_replace_line(1, "65"), 2, "body count"),
    "body count text": (_replace_line(1, "two"), 2, "body count"),
    "truncated mid-file": (lambda: _lines()[:40], None, "truncated"),
    "joint count 24": (lambda: _lines()[:_info_line()] + ["24"] + _lines()[_info_line() + 1:], None,
                       "joint count is 24"),
    "bodyID not an integer": (lambda: [*_lines()[:_info_line() - 1],
                                       "x" + _lines()[_info_line() - 1][1:], *_lines()[_info_line():]],
                              _info_line, "bodyID"),
    "body info 9 values": (lambda: [*_lines()[:_info_line() - 1],
                                    " ".join(_lines()[_info_line() - 1].split()[:9]), *_lines()[_info_line():]],
                           _info_line, "10 values"),
    "joint line 11 values": (*_set_value(11, ""), "12 values"),
    "joint value not a number": (*_set_value(4, "abc"), "not a number"),
    "data after the last frame": (lambda: _lines() + ["1"], None, "after the last"),
}


@pytest.mark.parametrize("case", NTU_CASES)
def test_ntu_bad_file(case, tmp_path):
    make, line, words = NTU_CASES[case]
    p = tmp_path / ONE.name
    p.write_text("\r\n".join(make()) + "\r\n")
    with pytest.raises(SkeletonFormatError) as e:
        ntu.read_skeleton(p)
    msg = str(e.value)
    assert msg.startswith(f"{p}:"), msg
    assert words in msg, msg
    if line is not None:
        line = line() if callable(line) else line
        assert e.value.line == line, msg


def test_ntu_1e39_drop_mode_drops_that_body_frame(tmp_path):
    """nonfinite='drop': a value inf in float32 drops the body in that frame, no inf is kept."""
    make, _ = _set_value(0, "1e39")
    p = tmp_path / ONE.name
    p.write_text("\r\n".join(make()) + "\r\n")
    good, raw = ntu.read_skeleton(ONE), ntu.read_skeleton(p, nonfinite="drop")
    assert sum(b.num_frames for b in raw.bodies) == sum(b.num_frames for b in good.bodies) - 1
    assert all(np.isfinite(b.joints).all() and b.joints.dtype == np.float32 for b in raw.bodies)


def test_ntu_valid_max_float32_is_kept(tmp_path):
    """Accepted: 3e38 is large but finite as float32 (the reader checks, it does not judge)."""
    make, _ = _set_value(0, "3e38")
    p = tmp_path / ONE.name
    p.write_text("\r\n".join(make()) + "\r\n")
    assert np.isfinite(ntu.read_skeleton(p).bodies[0].joints).all()


def test_ntu_tracking_state_stored_exactly():
    raw = ntu.read_skeleton(ONE)
    assert raw.bodies[0].tracking.dtype == np.int8
    assert set(np.unique(np.concatenate([b.tracking.ravel() for b in raw.bodies]))) <= {0, 1, 2}


def test_ntu_binary_file(tmp_path):
    p = tmp_path / ONE.name
    p.write_bytes(b"\x1f\x8b\x08\x00" + os.urandom(64))
    with pytest.raises(SkeletonFormatError, match="non-ASCII") as e:
        ntu.read_skeleton(p)
    assert str(p) in str(e.value)


def test_ntu_empty_and_zero_frames(tmp_path):
    p = tmp_path / ONE.name
    p.write_text("")
    with pytest.raises(SkeletonFormatError, match="empty file") as e:
        ntu.read_skeleton(p)
    assert str(p) in str(e.value)
    p.write_text("0\r\n")
    with pytest.raises(EmptySkeletonError, match="0 frames"):
        ntu.read_skeleton(p)


def test_ntu_folder_with_a_misnamed_file(tmp_path):
    d = tmp_path / "sk"
    shutil.copytree(SKEL, d)
    shutil.copy(ONE, d / "S001C002P003R001.skeleton")
    with pytest.raises(SkeletonFormatError, match="not an NTU RGB\\+D sample name") as e:
        ntu.list_skeleton_files(d)
    assert "S001C002P003R001" in str(e.value)


def test_ntu_missing_list_bad_name(tmp_path):
    p = tmp_path / "missing.txt"
    p.write_text("S001C002P005R002A008\nS001C002P005R002A08\n")
    with pytest.raises(SkeletonFormatError) as e:
        ntu.read_name_list(p)
    assert str(e.value).startswith(f"{p}:2:")


# ============================================================================ SHREC'17
@pytest.fixture
def shrec_root(tmp_path):
    d = tmp_path / "HandGestureDataset_SHREC2017"
    shutil.copytree(SHREC, d)
    return d


def _seq(root):
    e = shrec.read_split_file(root / "train_gestures.txt")[0]
    return root / e.relpath, e


def _edit_seq(root, row, col, value):
    p, _ = _seq(root)
    ls = p.read_text().splitlines()
    tok = ls[row].split()
    if value is None:
        del tok[col]
    else:
        tok[col] = value
    ls[row] = " ".join(tok)
    p.write_text("\n".join(ls) + "\n")
    return p


@pytest.mark.parametrize("value,row,words", [("1e39", 3, "float32"), ("-1e39", 0, "float32"), ("nan", 5, "NaN"),
                                             ("inf", 1, "inf"), ("x1", 2, "not a number"),
                                             (None, 4, "expected 66 values")])
def test_shrec_bad_sequence(shrec_root, value, row, words):
    p = _edit_seq(shrec_root, row, 7, value)
    with pytest.raises(SkeletonFormatError) as e:
        shrec.read_sequence(p)
    assert str(e.value).startswith(f"{p}:{row + 1}:"), str(e.value)
    assert words in str(e.value)


def test_shrec_1e39_never_reaches_the_cache(shrec_root, tmp_path):
    p = _edit_seq(shrec_root, 3, 7, "1e39")
    with pytest.raises(SkeletonFormatError) as e:
        C.build_shrec_cache(shrec_root, tmp_path / "cache", workers=1, progress=False)
    assert str(p) in str(e.value) and "float32" in str(e.value)
    assert not (tmp_path / "cache" / C.CURRENT).exists()


def test_shrec_empty_sequence(shrec_root):
    p, _ = _seq(shrec_root)
    p.write_text("\n\n")
    with pytest.raises(EmptySkeletonError) as e:
        shrec.read_sequence(p)
    assert str(p) in str(e.value)


def _split_lines(root, which="train"):
    return (root / shrec.SPLIT_FILES[which]).read_text().splitlines()


def _write_split(root, lines, which="train"):
    p = root / shrec.SPLIT_FILES[which]
    p.write_text("\n".join(lines) + "\n")
    return p


SPLIT_CASES = {
    "duplicated line": (lambda ls: ls + [ls[0]], "listed twice"),
    "label_14 15": (lambda ls: ["1 1 1 1 15 1 16"] + ls[1:], "label_14 is 15"),
    "label_28 0": (lambda ls: ["1 1 1 1 1 0 16"] + ls[1:], "label_28 is 0"),
    "finger 3": (lambda ls: ["1 3 1 1 1 1 16"] + ls[1:], "id_finger is 3"),
    "gesture 0": (lambda ls: ["0 1 1 1 1 1 16"] + ls[1:], "id_gesture is 0"),
    "size 10^12": (lambda ls: ["1 1 1 1 1 1 1000000000000"] + ls[1:], "size_sequence"),
    "six integers": (lambda ls: ["1 1 1 1 1 16"] + ls[1:], "expected 7 integers"),
    "a float": (lambda ls: ["1 1 1 1 1 1 16.5"] + ls[1:], "non-integer"),
}


@pytest.mark.parametrize("case", SPLIT_CASES)
def test_shrec_bad_split_file(shrec_root, case):
    edit, words = SPLIT_CASES[case]
    ls = _split_lines(shrec_root)
    p = _write_split(shrec_root, edit(ls))
    with pytest.raises(SkeletonFormatError) as e:
        shrec.read_split_file(p)
    assert str(e.value).startswith(f"{p}:"), str(e.value)
    assert e.value.line >= 1 and words in str(e.value), str(e.value)


def test_shrec_empty_split_file(shrec_root):
    p = _write_split(shrec_root, [""])
    with pytest.raises(SkeletonFormatError, match="lists no sequence") as e:
        shrec.read_split_file(p)
    assert str(p) in str(e.value)


def test_shrec_test_sequence_also_in_training(shrec_root, tmp_path):
    """A test sequence listed for training too: load_shrec and the cache refuse both splits."""
    test0 = _split_lines(shrec_root, "test")[0]
    _write_split(shrec_root, _split_lines(shrec_root) + [test0])
    for split in ("train", "test"):
        with pytest.raises(SkeletonFormatError, match="also for training") as e:
            shrec.load_shrec(shrec_root, split)
        assert "test_gestures.txt" in str(e.value)
    with pytest.raises(SkeletonFormatError, match="also for training"):
        C.build_shrec_cache(shrec_root, tmp_path / "cache", workers=1, progress=False)


def test_shrec_length_disagrees_with_split_file(shrec_root):
    p, e = _seq(shrec_root)
    p.write_text("".join(p.read_text().splitlines(keepends=True)[:-2]))
    with pytest.raises(SkeletonFormatError, match=f"{e.size - 2} frames, but train_gestures.txt says {e.size}") as x:
        shrec.load_shrec(shrec_root, "train")
    assert str(p) in str(x.value)


def test_shrec_missing_sequence_file(shrec_root):
    p, _ = _seq(shrec_root)
    p.unlink()
    with pytest.raises(SkeletonFormatError, match="missing") as e:
        shrec.load_shrec(shrec_root, "train")
    assert str(p) in str(e.value)


# ============================================================================ pyskl / CTR-GCN npz
def _pkl(tmp_path, edit):
    with open(PKL, "rb") as f:
        obj = F._RestrictedUnpickler(f).load()
    edit(obj)
    p = tmp_path / "anno.pkl"
    with open(p, "wb") as f:
        pickle.dump(obj, f, protocol=4)
    return p


def _kp0(o, fn):
    a = o["annotations"][0]
    kp = a["keypoint"].astype(np.float64)
    fn(kp)
    a["keypoint"] = kp


PYSKL_CASES = {
    "keypoint 1e39 (finite in float64)": (lambda o: _kp0(o, lambda k: k.__setitem__((0, 0, 0, 0), 1e39)), "NaN or inf"),
    "keypoint NaN": (lambda o: _kp0(o, lambda k: k.__setitem__((0, 1, 2, 1), np.nan)), "NaN or inf"),
    "split lists a sample twice": (lambda o: o["split"]["xsub_train"].append(o["split"]["xsub_train"][0]), "twice"),
    "train and val share a sample": (lambda o: o["split"]["xsub_val"].append(o["split"]["xsub_train"][0]),
                                     "share"),
    "split names an unknown sample": (lambda o: o["split"]["xsub_train"].append("S999C001P001R001A001"),
                                      "without an annotation"),
    "total_frames disagrees": (lambda o: o["annotations"][0].__setitem__("total_frames", 7), "total_frames"),
    "label negative": (lambda o: o["annotations"][0].__setitem__("label", -1), "label"),
    "label a bool": (lambda o: o["annotations"][0].__setitem__("label", True), "label"),
    "frame_dir twice": (lambda o: o["annotations"].append(dict(o["annotations"][0])), "appears twice"),
    "no annotations key": (lambda o: o.pop("annotations"), "'split' and 'annotations'"),
}


@pytest.mark.parametrize("case", PYSKL_CASES)
def test_pyskl_bad_file(tmp_path, case):
    edit, words = PYSKL_CASES[case]
    p = _pkl(tmp_path, edit)
    with pytest.raises(SkeletonFormatError) as e:
        F.load_pyskl(p, allow_pickle=True)
    assert str(e.value).startswith(f"{p}:0:") and words in str(e.value), str(e.value)


def _npz(tmp_path, edit):
    z = dict(np.load(NPZ))
    edit(z)
    p = tmp_path / "NTU60_CS.npz"
    np.savez(p, **z)
    return p


def _x64(z, value, where=(0, 3, 7)):
    x = z["x_train"].astype(np.float64)
    x[where] = value
    z["x_train"] = x


NPZ_CASES = {
    "x 1e39 (finite in float64)": (lambda z: _x64(z, 1e39), "NaN or inf"),
    "x NaN": (lambda z: _x64(z, np.nan), "NaN or inf"),
    "y not one-hot": (lambda z: z["y_train"].__setitem__((0, 0), 2), "not one-hot"),
    "integer labels negative": (lambda z: z.__setitem__("y_train", np.full(len(z["x_train"]), -1)), ">= 0"),
    "x and y counts differ": (lambda z: z.__setitem__("y_train", z["y_train"][:-1]), "samples but"),
    "x wrong width": (lambda z: z.__setitem__("x_train", z["x_train"][..., :-3]), "x_train must be"),
    "missing y_train": (lambda z: z.pop("y_train"), "missing key"),
}


@pytest.mark.parametrize("case", NPZ_CASES)
def test_ctrgcn_npz_bad_file(tmp_path, case):
    edit, words = NPZ_CASES[case]
    p = _npz(tmp_path, edit)
    with pytest.raises(SkeletonFormatError) as e:
        F.load_ctrgcn_npz(p, "train")
    assert str(e.value).startswith(f"{p}:0:") and words in str(e.value), str(e.value)


def test_npz_not_an_archive(tmp_path):
    p = tmp_path / "x.npz"
    p.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(SkeletonFormatError, match="not a readable .npz") as e:
        F.load_ctrgcn_npz(p)
    assert str(p) in str(e.value)


def test_pickle_with_code_refused(tmp_path):
    p = tmp_path / "evil.pkl"
    p.write_bytes(pickle.dumps({"split": {}, "annotations": [os.system]}))
    with pytest.raises(F.UnsafePickleError, match="posix.system|os.system") as e:
        F.load_pyskl(p, allow_pickle=True)
    assert str(p) in str(e.value)


# ============================================================================ the cache
@pytest.fixture
def shrec_cache(tmp_path):
    out = tmp_path / "cache"
    c = C.build_shrec_cache(SHREC, out, workers=1, progress=False)
    return out, c.path


def _damage_meta(vdir, fn):
    m = json.loads((vdir / "meta.json").read_text())
    fn(m)
    (vdir / "meta.json").write_text(json.dumps(m))


CACHE_CASES = {
    "data.f32 truncated": (lambda v: os.truncate(v / "data.f32", (v / "data.f32").stat().st_size - 4), "data.f32"),
    "data.f32 missing": (lambda v: (v / "data.f32").unlink(), "data.f32"),
    "meta.json says T-1 frames": (lambda v: _damage_meta(v, lambda m: m["shape"].__setitem__(2, m["shape"][2] - 1)),
                                  "data.f32"),
    "meta.json not JSON": (lambda v: (v / "meta.json").write_text('{"key": "abc", '), "meta.json"),
    "meta.json without names": (lambda v: _damage_meta(v, lambda m: m.pop("names")), "meta.json"),
    "one name too few": (lambda v: _damage_meta(v, lambda m: m["names"].pop()), "meta.json"),
    "a name twice": (lambda v: _damage_meta(v, lambda m: m["names"].__setitem__(1, m["names"][0])), "meta.json"),
    "split list short": (lambda v: _damage_meta(v, lambda m: m["split"].pop()), "meta.json"),
    "split value unknown": (lambda v: _damage_meta(v, lambda m: m["split"].__setitem__(0, "val")), "meta.json"),
    "labels.npy short": (lambda v: np.save(v / "labels.npy", np.load(v / "labels.npy")[:-1]), "labels.npy"),
    "labels.npy a pickle": (lambda v: np.save(v / "labels.npy", np.array([{}], object), allow_pickle=True),
                            "labels.npy"),
    "lengths beyond T": (lambda v: np.save(v / "lengths.npy", np.load(v / "lengths.npy") + 10_000), "lengths.npy"),
    "lengths.npy missing": (lambda v: (v / "lengths.npy").unlink(), "lengths.npy"),
    "key differs from current.json": (lambda v: _damage_meta(v, lambda m: m.__setitem__("key", "0" * 64)),
                                      "meta.json"),
    "current.json names another folder": (
        lambda v: (v.parent / C.CURRENT).write_text(json.dumps({"key": "x", "dir": "../../etc"})), C.CURRENT),
    "current.json truncated": (lambda v: (v.parent / C.CURRENT).write_text('{"key'), C.CURRENT),
}


@pytest.mark.parametrize("case", CACHE_CASES)
def test_damaged_cache_is_reported_then_rebuilt(shrec_cache, case):
    """Opening a damaged cache says so (naming the file); re-running the build rebuilds it."""
    out, vdir = shrec_cache
    damage, name = CACHE_CASES[case]
    damage(vdir)
    with pytest.raises(C.CacheError) as e:
        C.load_cache(out)
    assert "damaged cache" in str(e.value) and "--force" in str(e.value)
    assert name in str(e.value) and str(out) in str(e.value), str(e.value)
    c = C.build_shrec_cache(SHREC, out, workers=1, progress=False)      # no --force: rebuilt
    assert c.rebuilt and c.data.shape[0] == len(c.names) == len(c.labels)
    assert C.load_cache(out).key == c.key


def test_damaged_cache_cli_one_line(shrec_cache):
    out, vdir = shrec_cache
    os.truncate(vdir / "data.f32", 100)
    r = subprocess.run([sys.executable, "-m", "skelnb.data.cache", "info", str(out)], capture_output=True,
                       text=True, cwd=REPO)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "damaged cache" in r.stderr and "data.f32" in r.stderr


def test_healthy_cache_reused(shrec_cache):
    out, _ = shrec_cache
    c = C.build_shrec_cache(SHREC, out, workers=1, progress=False)
    assert not c.rebuilt


def test_workers_die_with_their_parent(tmp_path):
    """kill -9 of a process whose pool workers run die_with_parent: the workers end too."""
    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent(f"""
        import multiprocessing as mp, os, sys, time
        from concurrent.futures import ProcessPoolExecutor
        sys.path.insert(0, {str(REPO)!r})
        from skelnb.data.cache import die_with_parent
        if __name__ == "__main__":
            pool = ProcessPoolExecutor(2, mp_context=mp.get_context("fork"), initializer=die_with_parent,
                                       initargs=(os.getpid(),))
            futs = [pool.submit(time.sleep, 60) for _ in range(2)]
            time.sleep(1.0)
            print(" ".join(str(p.pid) for p in pool._processes.values()), flush=True)
            time.sleep(60)
    """))
    p = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        kids = [int(v) for v in p.stdout.readline().split()]
        assert len(kids) == 2
        os.kill(p.pid, signal.SIGKILL)
        p.wait(10)
        deadline = time.time() + 10
        alive = kids
        while alive and time.time() < deadline:
            time.sleep(0.2)
            alive = [k for k in kids if _alive(k)]
        assert not alive, f"workers {alive} outlived their parent"
    finally:
        if p.poll() is None:
            p.kill()


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


# ============================================================================ configs
from skelnb import cli                      # noqa: E402
from skelnb import config as CFG            # noqa: E402
from skelnb.build import expected_data       # noqa: E402
from skelnb.evaluate import EvalResult, ScoresError, evaluate   # noqa: E402
from skelnb.errors import InputError        # noqa: E402

QUICK = REPO / "skelnb" / "configs" / "quick_sem-joint.yaml"
TINY = ["data.subjects=3", "data.num_frames=16", "model.width=8", "model.depth=2", "train.epochs=1",
        "train.batch_size=24"]

CONFIG_CASES = [
    ("train.lr=abc", "train.lr", "'abc'"), ("train.lr=-0.1", "train.lr", "-0.1"), ("train.lr=.nan", "train.lr", "nan"),
    ("train.lr=true", "train.lr", "True"), ("train.epochs=2.5", "train.epochs", "2.5"),
    ("train.epochs=two", "train.epochs", "'two'"), ("train.epochs=0", "train.epochs", "0"),
    ("train.batch_size=0", "train.batch_size", "0"), ("train.batch_size=[32]", "train.batch_size", "[32]"),
    ("train.num_workers=-1", "train.num_workers", "-1"), ("train.num_workers=1.5", "train.num_workers", "1.5"),
    ("train.eval_batch_size=0", "train.eval_batch_size", "0"), ("train.eval_every=-1", "train.eval_every", "-1"),
    ("train.momentum=1.5", "train.momentum", "1.5"), ("train.label_smoothing=1", "train.label_smoothing", "1"),
    ("train.milestones=[a]", "train.milestones", "['a']"), ("train.milestones=60", "train.milestones", "60"),
    ("train.nesterov=maybe", "train.nesterov", "'maybe'"), ("train.amp=2", "train.amp", "2"),
    ("train.seed=-1", "train.seed", "-1"), ("train.warmup_epochs=-1", "train.warmup_epochs", "-1"),
    ("train.gamma=0", "train.gamma", "0"), ("train.weight_decay=-1e-4", "train.weight_decay", "-0.0001"),
    ("data.num_frames=0", "data.num_frames", "0"), ("data.num_frames=12.5", "data.num_frames", "12.5"),
    ("data.window=10", "data.window", "10"), ("data.classes=20", "data.classes", "20"),
    ("data.stream=hand", "data.stream", "'hand'"), ("data.allow_pickle=please", "data.allow_pickle", "'please'"),
    ("data.subjects=0", "data.subjects", "0"), ("data.subjects=[]", "data.subjects", "[]"),
]


@pytest.mark.parametrize("item,key,value", CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_bad_config_value(item, key, value):
    """Checked when the config is read (before any data or model is built): key, value, allowed."""
    with pytest.raises(CFG.ConfigError) as e:
        CFG.load_config(QUICK, [item])
    msg = str(e.value)
    assert f"{key}={value}" in msg and "expected" in msg and str(QUICK) in msg, msg


def test_valid_config_values_still_accepted():
    """Accepted: integers where floats are expected (lr: 1), no milestones, and 1e-3 read as the
    float it means (PyYAML alone reads it as the text '1e-3')."""
    cfg = CFG.load_config(QUICK, ["train.lr=1", "train.milestones=[]", "train.momentum=0", "data.window=40"])
    assert cfg.train.lr == 1 and cfg.train.milestones == ()
    cfg = CFG.load_config(QUICK, ["train.lr=1e-3", "train.weight_decay=5E-4"])
    assert cfg.train.lr == 0.001 and cfg.train.weight_decay == 0.0005


# ============================================================================ the command line
def _main(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def _one_line(err):
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("argv,words", [
    (["--device", "gpu"], "--device 'gpu'"),
    (["--device", "cuda:x"], "--device 'cuda:x'"),
    (["--threads", "-1"], "--threads -1"),
    (["--threads", "0"], "--threads 0"),
    (["--set", "train.lr=abc"], "train.lr='abc'"),
    (["--set", "train.epochs=2.5"], "train.epochs=2.5"),
    (["--set", "train.eval_batch_size=0"], "train.eval_batch_size=0"),
    (["--set", "train.num_workers=-1"], "train.num_workers=-1"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else v)
def test_cli_bad_arguments_one_line_exit_2(capsys, tmp_path, argv, words):
    code, out, err = _main(capsys, "train", QUICK, "--quiet", "--out", tmp_path / "run", *argv)
    assert code == 2 and words in _one_line(err), err
    assert not (tmp_path / "run").exists()                 # nothing was built or written


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cli_cuda_without_cuda(capsys, tmp_path):
    code, out, err = _main(capsys, "train", QUICK, "--device", "cuda", "--out", tmp_path / "r")
    assert code == 2 and "CUDA is not available" in _one_line(err)


def test_cli_debug_shows_the_error(capsys):
    with pytest.raises(CFG.ConfigError, match="train.lr"):
        cli.main(["--debug", "train", str(QUICK), "--set", "train.lr=abc"])
    with pytest.raises(CFG.ConfigError, match="train.lr"):
        cli.main(["train", str(QUICK), "--set", "train.lr=abc", "--debug"])


def _shrec_config(tmp_path, cache_dir):
    p = tmp_path / "shrec.yaml"
    p.write_text(yaml_dump(dict(name="shrec-test", data=dict(source="cache", cache=str(cache_dir), benchmark="shrec",
                                                            num_frames=16),
                                model=dict(name="sem", size="quick", width=8, depth=2), train=dict(epochs=1))))
    return p


def yaml_dump(d):
    import yaml
    return yaml.safe_dump(d)


def test_cli_damaged_cache_one_line(capsys, shrec_cache, tmp_path):
    out, vdir = shrec_cache
    os.truncate(vdir / "data.f32", 10)
    code, _, err = _main(capsys, "train", _shrec_config(tmp_path, out), "--quiet", "--out", tmp_path / "run")
    line = _one_line(err)
    assert code == 2 and "damaged cache" in line and "data.f32" in line and "--force" in line


def test_cli_bad_pyskl_file_one_line(capsys, tmp_path):
    p = _pkl(tmp_path, lambda o: _kp0(o, lambda k: k.__setitem__((0, 0, 0, 0), 1e39)))
    cfg = tmp_path / "pyskl.yaml"
    cfg.write_text(yaml_dump(dict(name="p", data=dict(source="pyskl", file=str(p), allow_pickle=True,
                                                      benchmark="ntu60-xsub", num_frames=16),
                                  model=dict(name="sem", size="quick", width=8, depth=2), train=dict(epochs=1))))
    code, _, err = _main(capsys, "train", cfg, "--quiet", "--out", tmp_path / "run")
    line = _one_line(err)
    assert code == 2 and str(p) in line and "NaN or inf" in line


def test_python_dash_m_one_line_no_traceback():
    r = subprocess.run([sys.executable, "-m", "skelnb", "train", str(QUICK), "--set", "train.epochs=two"],
                       capture_output=True, text=True, cwd=REPO, timeout=120)
    assert r.returncode == 2 and "train.epochs='two'" in _one_line(r.stderr)


# ============================================================================ evaluate, fuse, resume
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny finished run (1 epoch on the synthetic set), trained once for this module."""
    d = tmp_path_factory.mktemp("runs") / "a"
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert cli.main(["train", str(QUICK), "--quiet", "--threads", "1", "--out", str(d), "--set", *TINY]) == 0
    finally:
        torch.set_num_threads(old)
    return d


@pytest.fixture
def run(trained, tmp_path):
    d = tmp_path / "a"
    shutil.copytree(trained, d)
    return d


OWN_FILES = ("scores.npz", "scores_last.npz", "result.json", "confusion.csv")


def _snapshot(d):
    return {n: (d / n).read_bytes() for n in OWN_FILES}


@pytest.mark.usefixtures("one_thread")
def test_evaluate_with_other_settings_writes_beside_the_run(run, capsys):
    before = _snapshot(run)
    code, out, err = _main(capsys, "evaluate", run, "--threads", "1", "--set", "data.num_frames=12")
    assert code == 0, err
    assert _snapshot(run) == before                                       # the run's own results kept
    sub = [p for p in run.iterdir() if p.name.startswith("eval-")]
    assert len(sub) == 1 and (sub[0] / "scores.npz").is_file() and (sub[0] / "config.yaml").is_file()
    assert "data.num_frames: 16 -> 12" in out
    assert "num_frames: 12" in (sub[0] / "config.yaml").read_text()


@pytest.mark.usefixtures("one_thread")
def test_evaluate_with_a_loading_setting_only_stays_in_place(run, capsys):
    """Accepted in place: eval_batch_size changes no number, so no sub-folder is made."""
    code, out, err = _main(capsys, "evaluate", run, "--threads", "1", "--set", "train.eval_batch_size=7")
    assert code == 0, err
    assert not [p for p in run.iterdir() if p.name.startswith("eval-")]


@pytest.mark.usefixtures("one_thread")
def test_run_without_config_yaml_uses_the_checkpoint_copy(run, capsys):
    (run / "config.yaml").unlink()
    code, out, err = _main(capsys, "evaluate", run, "--threads", "1")
    assert code == 0, err
    code, out, err = _main(capsys, "train", QUICK, "--resume", "--quiet", "--threads", "1", "--out", run,
                           "--set", *TINY, "train.lr=0.2")
    assert code == 2 and "train.lr: 0.05 -> 0.2" in _one_line(err)


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("extra", [["train.eval_batch_size=5"], ["train.num_workers=1"], ["train.amp=false"]],
                         ids=lambda v: v[0])
def test_resume_ignores_settings_that_change_nothing_learned(run, capsys, extra):
    code, out, err = _main(capsys, "train", QUICK, "--resume", "--quiet", "--threads", "1", "--out", run,
                           "--set", *TINY, *extra)
    assert code == 0, err
    assert "finished run reused" in out


def test_fit_resume_check_names_the_changed_field(run):
    from skelnb.train import CheckpointError, TrainConfig, load_checkpoint
    st = load_checkpoint(run / "checkpoint.pt")
    cfg = CFG.from_dict(st["run_config"]).train
    assert cfg.training_diff(st["config"]) == []
    assert TrainConfig(**{**st["config"], "milestones": tuple(st["config"]["milestones"]),
                          "eval_batch_size": 3, "num_workers": 2}).training_diff(st["config"]) == []
    diff = TrainConfig(**{**st["config"], "milestones": (1,), "seed": 3}).training_diff(st["config"])
    assert any(d.startswith("train.seed") for d in diff) and any(d.startswith("train.milestones") for d in diff)
    assert CheckpointError


def test_checkpoint_carries_the_full_config(run):
    from skelnb.train import load_checkpoint
    import yaml
    st = load_checkpoint(run / "checkpoint.pt")
    assert st["run_config"] == yaml.safe_load((run / "config.yaml").read_text())
    assert st["amp_active"] is False and st["device"] == "cpu"


def test_fuse_out_refuses_an_input(run, capsys, tmp_path):
    b = tmp_path / "b"
    shutil.copytree(run, b)
    before = _snapshot(run)
    for out in (run, b, run / "."):
        code, _, err = _main(capsys, "fuse", run, b, "--out", out)
        assert code == 2 and "an input of this fusion" in _one_line(err)
    assert _snapshot(run) == before


def test_fuse_out_refuses_another_training_run(run, capsys, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(run, other)
    (tmp_path / "x").mkdir()
    shutil.copy(run / "scores.npz", tmp_path / "x" / "scores.npz")
    code, _, err = _main(capsys, "fuse", tmp_path / "x" / "scores.npz", "--out", other)
    assert code == 2 and "holds a training run" in _one_line(err) and str(other) in err


def _scores(tmp_path, name, scores, labels):
    d = tmp_path / name
    d.mkdir()
    np.savez(d / "scores.npz", scores=np.asarray(scores, float), labels=np.asarray(labels))
    return d


SCORE_CASES = {
    "NaN row": ([[np.nan, 0.5], [0.3, 0.7]], [0, 1], "not finite"),
    "inf": ([[np.inf, 0.0], [0.3, 0.7]], [0, 1], "not finite"),
    "logits": ([[2.0, -1.0], [0.3, 1.7]], [0, 1], "not probabilities"),
    "negative": ([[1.2, -0.2], [0.3, 0.7]], [0, 1], "not probabilities"),
    "rows not summing to 1": ([[0.2, 0.2], [0.3, 0.7]], [0, 1], "not probabilities"),
    "label out of range": ([[0.5, 0.5], [0.3, 0.7]], [0, 2], "labels must be class indices"),
    "label negative": ([[0.5, 0.5], [0.3, 0.7]], [-1, 1], "labels must be class indices"),
}


@pytest.mark.parametrize("case", SCORE_CASES)
def test_fuse_bad_scores(tmp_path, capsys, case):
    scores, labels, words = SCORE_CASES[case]
    a = _scores(tmp_path, "a", scores, labels)
    good = _scores(tmp_path, "g", [[0.5, 0.5], [0.5, 0.5]], [0, 1])
    code, _, err = _main(capsys, "fuse", a, good)
    line = _one_line(err)
    assert code == 2 and words in line and str(a / "scores.npz") in line, line
    with pytest.raises(ScoresError, match=words):
        EvalResult.load(a)


def test_fuse_logits_explicitly(tmp_path, capsys):
    logits = np.array([[2.0, -1.0], [0.3, 1.7]])
    a = _scores(tmp_path, "a", logits, [0, 1])
    code, out, err = _main(capsys, "fuse", a, "--logits", "--out", tmp_path / "f")
    assert code == 0, err
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    assert np.allclose(EvalResult.load(tmp_path / "f").scores, p)


def test_not_a_scores_file(tmp_path):
    (tmp_path / "scores.npz").write_bytes(b"garbage")
    with pytest.raises(ScoresError, match="not a scores file") as e:
        EvalResult.load(tmp_path)
    assert str(tmp_path / "scores.npz") in str(e.value)


def test_evaluate_a_diverged_model_is_an_error():
    class Diverged(torch.nn.Module):
        def forward(self, x):
            return torch.full((len(x), 3), float("nan"))
    data = torch.utils.data.TensorDataset(torch.zeros(4, 2), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ScoresError, match="not finite.*class 0"):
        evaluate(Diverged(), data)


# ============================================================================ models
def _x(T=16, V=25, bad=None):
    x = torch.randn(2, 3, T, V, 2, generator=torch.Generator().manual_seed(0)) * 0.3
    if bad is not None:
        x[1, 0, 3, 4, 0] = bad
    return x


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_semnet_non_finite_input(bad):
    from skelnb.sem.net import SEMNet
    m = SEMNet.quick(width=8, depth=2)
    with pytest.raises(InputError, match=r"SEMNet: the input \(2, 3, 16, 25, 2\) holds NaN or inf.*\(1, 0, 3, 4, 0\)"):
        m(_x(bad=bad))
    assert torch.isfinite(m(_x())).all()


def test_spanet_non_finite_input():
    from skelnb.spa.net import SPANet
    m = SPANet.quick(widths=(8, 8), space=8, backend="reference")
    with pytest.raises(InputError, match=r"SPANet: the input .* holds NaN or inf.*\(1, 0, 3, 4, 0\)"):
        m(_x(bad=float("nan")))


def test_spanet_minimum_frames_at_construction():
    from skelnb.spa.net import SPAConfig, SPANet
    assert SPAConfig().min_frames == 8 and SPAConfig(widths=(8, 16, 32), blocks=(1, 1, 1)).min_frames == 4
    with pytest.raises(ValueError, match="num_frames=1 .* must be >= 8"):
        SPANet(num_frames=1, backend="reference")
    with pytest.raises(ValueError, match="num_frames=3 .* must be >= 4"):
        SPANet.quick(num_frames=3, backend="reference")
    with pytest.raises(ValueError, match="space=4 must be >= 8"):
        SPANet(space=4, backend="reference")


@pytest.mark.parametrize("T", [1, 2, 3])
def test_spanet_too_few_frames_at_forward(T):
    from skelnb.spa.net import SPANet
    m = SPANet.quick(widths=(8, 8, 8), space=8, backend="reference")        # 2 pools: at least 4 frames
    with pytest.raises(InputError, match=f"T={T} frames .* at least 4"):
        m(_x(T=T))
    assert m(_x(T=4)).shape == (2, 60)                                      # the true minimum works


def test_spanet_sparse_grid_too_small():
    from skelnb.spa.net import SPANet
    m = SPANet.quick(widths=(8, 8, 8), space=8, backend="reference")
    st = m.voxelize(_x(T=8))
    from skelnb.spa.sparse import SparseTensor
    small = SparseTensor(st.features, st.coords.clone().clamp(max=2), (8, 8, 8, 3), st.batch_size)
    with pytest.raises(InputError, match="sparse grid"):
        m(small)


def test_cache_refuses_rows_that_preprocessing_made_non_finite(tmp_path, monkeypatch):
    """The last check before the store: a row with NaN never reaches data.f32."""
    from skelnb.data import preprocess as pp

    def nan_worker(job):
        status, x, n, d = pp.shrec_worker(job)
        x = x.copy()
        x[0, 0, 0, 0] = np.nan
        return status, x, n, d
    monkeypatch.setattr(C, "shrec_worker", nan_worker)
    with pytest.raises(SkeletonFormatError, match="preprocessing produced NaN") as e:
        C.build_shrec_cache(SHREC, tmp_path / "cache", workers=1, progress=False)
    assert "skeletons_world.txt" in str(e.value)
    assert not (tmp_path / "cache" / C.CURRENT).exists()


def test_predict_run_without_config_yaml(run):
    """predict uses the checkpoint's copy of the config; with neither, a clear PredictError."""
    from skelnb import predict
    from skelnb.train import load_checkpoint, save_checkpoint
    (run / "config.yaml").unlink()
    model, cfg, state = predict.load_run_model(run)
    assert model.fc.out_features == expected_data(cfg)["num_classes"]
    assert cfg.raw == state["run_config"]
    st = load_checkpoint(run / "checkpoint.pt")
    st.pop("run_config")
    save_checkpoint(run / "checkpoint.pt", st)
    with pytest.raises(predict.PredictError, match="no config.yaml") as e:
        predict.load_run_model(run)
    assert str(run) in str(e.value)


@pytest.mark.usefixtures("one_thread")
def test_resume_refuses_to_switch_mixed_precision_mid_run(run, capsys):
    """amp changes nothing on a CPU, but epochs trained with it on a GPU must not be continued
    without it; a finished run is only re-evaluated, so it is reused."""
    from skelnb.train import load_checkpoint, save_checkpoint
    st = load_checkpoint(run / "checkpoint.pt")
    save_checkpoint(run / "checkpoint.pt", dict(st, amp_active=True, device="cuda"))
    args = ["train", QUICK, "--resume", "--quiet", "--threads", "1", "--out", run, "--set", *TINY]
    code, out, err = _main(capsys, *args)
    assert code == 0 and "finished run reused" in out, err
    save_checkpoint(run / "checkpoint.pt", dict(st, amp_active=True, device="cuda", epoch=0, history=[], evals=[],
                                                best=None))                       # as if killed in epoch 1
    code, out, err = _main(capsys, *args)
    line = _one_line(err)
    assert code == 2 and "ran on cuda with mixed precision on" in line and "checkpoint.pt" in line

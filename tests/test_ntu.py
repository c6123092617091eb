"""NTU RGB+D reader, names, splits, body selection and preprocessing steps."""
import re
from pathlib import Path

import numpy as np
import pytest

from skelnb.data import ntu
from skelnb.data import preprocess as pp
from skelnb.data.formats import EmptySkeletonError, SkeletonFormatError
from skelnb.data.ntu import parse_name, read_skeleton, write_skeleton, write_synthetic_ntu
from skelnb.data.synthetic import SyntheticConfig, generate

FIX = Path(__file__).parent / "fixtures" / "ntu"
SKEL = FIX / "nturgb+d_skeletons"
ONE = SKEL / "S001C001P001R001A001.skeleton"
IDCHANGE = SKEL / "S001C002P003R001A013.skeleton"
FLAT = SKEL / "S002C003P002R002A014.skeleton"
EMPTY = SKEL / "S003C001P004R001A002.skeleton"


# ----------------------------------------------------------------------------- round trip
def test_round_trip_synthetic_write_read(tmp_path):
    s = generate(SyntheticConfig(subjects=(1, 3), cameras=(1, 2), replications=(1,),
                                 classes=("sit down", "touch head", "handshake"), difficulty=0.0))
    paths = write_synthetic_ntu(tmp_path, s)
    for i, p in enumerate(paths):
        raw = read_skeleton(p)
        n = int(s.lengths[i])
        ref = s.data[i, :, :n].transpose(1, 3, 2, 0)                    # (T, M, V, 3)
        persons = [m for m in range(2) if np.abs(ref[:, m]).sum() > 0]
        assert raw.num_frames == n and len(raw.bodies) == len(persons)
        got = raw.dense()
        # %.7g in the file: equal to the written precision
        np.testing.assert_allclose(got, ref[:, persons], rtol=1e-6, atol=1e-7)
        # through body selection: the same people, most moving first
        x, sel = pp.select_bodies(raw)
        order = sorted(persons, key=lambda m: -pp.body_motion(ref[:, m]))
        for a, m in enumerate(order):
            np.testing.assert_allclose(x[:, a], ref[:, m], rtol=1e-6, atol=1e-7)
        assert not sel.dropped


def test_crlf_and_lf_parse_the_same(tmp_path):
    raw = ONE.read_bytes()
    assert b"\r\n" in raw
    lf = tmp_path / ONE.name
    lf.write_bytes(raw.replace(b"\r\n", b"\n"))
    a, b = read_skeleton(ONE), read_skeleton(lf)
    assert np.array_equal(a.dense(), b.dense())


# ----------------------------------------------------------------------------- fixtures
def test_frames_without_body():
    raw = read_skeleton(ONE)
    assert raw.bodies_per_frame[0] == 0 and raw.bodies_per_frame[7] == 0
    assert len(raw.bodies) == 1 and raw.bodies[0].num_frames == raw.num_frames - 2
    x, n, sel = pp.preprocess_ntu(raw, pp.PreprocessConfig(num_frames=40))
    assert n == raw.num_frames - 2 and x.shape == (3, 40, 25, 2)
    assert np.abs(x[:, n:]).sum() == 0 and np.abs(x[..., 1]).sum() == 0    # padding, no 2nd actor


def test_three_bodies_and_id_change():
    raw = read_skeleton(IDCHANGE)
    assert raw.bodies_per_frame.max() == 3 and raw.bodies_per_frame.min() == 2
    ids = [b.body_id for b in raw.bodies]
    assert len(ids) == 4 and len(set(ids)) == 4                       # 4 ids, 2 people + 1 noise
    x, sel = pp.select_bodies(raw)
    noise = [b for b in raw.bodies if b.num_frames == 3][0]
    assert noise.body_id in sel.dropped and "3 frames" in sel.dropped[noise.body_id]
    merged = [a for a in sel.actors if len(a) == 2]
    assert len(sel.actors) == 2 and len(merged) == 1                    # person 1's two ids joined
    first, second = (next(b for b in raw.bodies if b.body_id == i) for i in sorted(merged[0], key=lambda i: [
        b.body_id for b in raw.bodies].index(i)))
    assert first.interval[1] < second.interval[0]
    a = sel.actors.index(merged[0])
    assert (np.abs(x[:, a]).sum(axis=(1, 2)) > 0).all()                 # the actor is present throughout
    np.testing.assert_array_equal(x[first.frames, a], first.joints)
    np.testing.assert_array_equal(x[second.frames, a], second.joints)


def test_flat_false_body_dropped_by_spread():
    raw = read_skeleton(FLAT)
    flat = raw.bodies[0]
    assert pp.spread_noisy_frames(flat.joints).mean() == 1.0
    x, sel = pp.select_bodies(raw)
    assert flat.body_id in sel.dropped and "wider than tall" in sel.dropped[flat.body_id]
    assert flat.body_id not in sum(sel.actors, [])
    # without the spread rule it would have been chosen (it moves the most)
    _, sel2 = pp.select_bodies(raw, pp.PreprocessConfig(spread_ratio=100.0))
    assert sel2.actors[0] == [flat.body_id]


def test_file_without_any_body_is_reported():
    raw = read_skeleton(EMPTY)
    assert raw.num_frames == 5 and raw.bodies == []
    with pytest.raises(EmptySkeletonError, match=re.escape(f"{EMPTY}:1:") + ".*no body"):
        pp.preprocess_ntu(raw)


def test_nonfinite_drop_skips_that_body_frame(tmp_path):
    lines = ONE.read_bytes().split(b"\r\n")
    lines[5] = b"nan" + lines[5][lines[5].index(b" "):]                 # frame 2, body 1, joint 1
    p = tmp_path / ONE.name
    p.write_bytes(b"\r\n".join(lines))
    with pytest.raises(SkeletonFormatError, match=re.escape(f"{p}:6:")):
        read_skeleton(p)
    raw = read_skeleton(p, nonfinite="drop")
    assert raw.bodies[0].num_frames == read_skeleton(ONE).bodies[0].num_frames - 1


# ----------------------------------------------------------------------------- bad input
def _lines(path=ONE):
    return path.read_bytes().decode().split("\r\n")


def _bad(tmp_path, lines, name=ONE.name):
    p = tmp_path / name
    p.write_bytes("\r\n".join(lines).encode())
    return p


def _edit(i, fn):
    def f():
        L = _lines()
        L[i] = fn(L[i])
        return L
    return f


# line numbers (1-based) in ONE: 1 frame count, 2 frame-1 body count (0), 3 frame-2 body count,
# 4 body info, 5 joint count, 6..30 joints of frame 2
CASES = {
    "truncated in the joints": (lambda: _lines()[:20], 20, "truncated"),
    "truncated after a frame": (lambda: _lines()[:30], 30, "truncated"),
    "wrong joint count": (_edit(4, lambda s: "24"), 5, "joint count is 24"),
    "missing joint line": (lambda: _lines()[:6] + _lines()[7:], 30, "expected 12 values"),
    "11 values on a line": (_edit(9, lambda s: s.rsplit(" ", 1)[0]), 10, "expected 12 values"),
    "non-numeric value": (_edit(6, lambda s: "abc " + s.split(" ", 1)[1]), 7, "not a number"),
    "NaN coordinate": (_edit(6, lambda s: "nan " + s.split(" ", 1)[1]), 7, "not finite"),
    "inf coordinate": (_edit(7, lambda s: s.split(" ")[0] + " inf " + s.split(" ", 2)[2]), 8, "not finite"),
    "body count not an integer": (_edit(2, lambda s: "x"), 3, "body count"),
    "info line with 9 values": (_edit(3, lambda s: s.rsplit(" ", 1)[0]), 4, "10 values"),
    "bodyID not an integer": (_edit(3, lambda s: "abc" + s[s.index(" "):]), 4, "bodyID"),
    "frame count not an integer": (_edit(0, lambda s: "21.5"), 1, "frame count"),
    "data after the last frame": (lambda: _lines()[:-1] + ["1", ""], len(_lines()), "after the last"),
    "empty file": (lambda: [""], 1, "empty file"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_names_file_and_line(tmp_path, case):
    make, line, words = CASES[case]
    p = _bad(tmp_path, make())
    with pytest.raises(SkeletonFormatError) as e:
        read_skeleton(p)
    assert str(e.value).startswith(f"{p}:{line}:"), str(e.value)
    assert words in str(e.value)


def test_zero_frames_is_an_empty_skeleton(tmp_path):
    p = _bad(tmp_path, ["0", ""])
    with pytest.raises(EmptySkeletonError, match=re.escape(f"{p}:1:") + ".*0 frames"):
        read_skeleton(p)


def test_non_ascii_and_duplicate_body(tmp_path):
    p = tmp_path / "x.skeleton"
    p.write_bytes(ONE.read_bytes().replace(b"\r\n1\r\n", b"\r\n\xff\r\n", 1))
    with pytest.raises(SkeletonFormatError, match=re.escape(f"{p}:3:")):
        read_skeleton(p)
    seq = np.ones((1, 2, 25, 3))
    q = write_skeleton(tmp_path / "y.skeleton", seq, body_ids=[7, 7])
    with pytest.raises(SkeletonFormatError, match=re.escape(f"{q}:") + r"\d+: bodyID 7 appears twice"):
        read_skeleton(q)


# ----------------------------------------------------------------------------- names and splits
def test_parse_name():
    n = parse_name("some/dir/S017C002P040R002A060.skeleton")
    assert (n.setup, n.camera, n.performer, n.replication, n.action, n.label) == (17, 2, 40, 2, 60, 59)
    assert str(n) == "S017C002P040R002A060"
    for bad in ("S01C002P040R002A060", "S017C002P040R002A060x", "X017C002P040R002A060", "S000C001P001R001A001"):
        with pytest.raises(SkeletonFormatError, match=re.escape(f"{bad}:0:") + ".*S###C###P###R###A###"):
            parse_name(bad)


def test_split_constants():
    assert len(ntu.NTU60_XSUB_TRAIN) == 20 and len(set(ntu.NTU60_XSUB_TRAIN)) == 20
    assert len(ntu.NTU120_XSUB_TRAIN) == 53 and max(ntu.NTU120_XSUB_TRAIN) <= 106
    assert ntu.NTU120_XSET_TRAIN == tuple(range(2, 33, 2))


def test_split_indices():
    names = [f"S{s:03d}C{c:03d}P{p:03d}R001A{a:03d}" for s in (1, 2, 17, 18) for c in (1, 2, 3)
             for p in (1, 3, 45, 106) for a in (1, 60, 61)]
    tr, te = ntu.split_indices(names, "ntu120-xset")
    assert all(parse_name(names[i]).setup % 2 == 0 for i in tr) and all(parse_name(names[i]).setup % 2 for i in te)
    tr, te = ntu.split_indices(names, "ntu120-xsub")
    assert {parse_name(names[i]).performer for i in tr} == {1, 45}
    n60 = [n for n in names if ntu.in_dataset(parse_name(n), "ntu60")]
    assert len(n60) == 3 * 3 * 4 * 2
    tr, te = ntu.split_indices(n60, "ntu60-xview")
    assert {parse_name(n60[i]).camera for i in tr} == {2, 3} and {parse_name(n60[i]).camera for i in te} == {1}
    tr, te = ntu.split_indices(n60, "ntu60-xsub")
    assert len(tr) + len(te) == len(n60) and {parse_name(n60[i]).performer for i in te} == {3, 45, 106}
    with pytest.raises(ValueError, match="not an NTU-60 sample"):
        ntu.split_indices(["S018C001P001R001A001"], "ntu60-xsub")
    with pytest.raises(ValueError, match="unknown NTU benchmark"):
        ntu.split_indices(names, "ntu60-cs")


def test_name_list_and_listing(tmp_path):
    assert ntu.read_name_list(FIX / "missing_skeletons.txt") == ["S003C001P004R001A002"]
    bad = tmp_path / "list.txt"
    bad.write_text("2 samples have missing data.\nPlease ignore them.\n\nS001C001P001R001A001\nS001C001P001R001\n")
    with pytest.raises(SkeletonFormatError, match=re.escape(f"{bad}:5:")):
        ntu.read_name_list(bad)
    bad.write_text("2 samples have missing data.\n\nS001C001P001R001A001  \r\nS017C003P020R001A059\n")
    assert ntu.read_name_list(bad) == ["S001C001P001R001A001", "S017C003P020R001A059"]
    with pytest.raises(SkeletonFormatError, match=re.escape(f"{tmp_path / 'nope.txt'}:0:")):
        ntu.read_name_list(tmp_path / "nope.txt")
    assert [p.name for p in ntu.list_skeleton_files(SKEL)] == sorted(p.name for p in SKEL.glob("*.skeleton"))
    (tmp_path / "S001C001P001R001A061.skeleton").write_text("1\r\n0\r\n")
    (tmp_path / "S018C001P001R001A001.skeleton").write_text("1\r\n0\r\n")
    assert ntu.list_skeleton_files(tmp_path, "ntu60") == []
    assert len(ntu.list_skeleton_files(tmp_path, "ntu120")) == 2
    (tmp_path / "notes.skeleton").write_text("")
    with pytest.raises(SkeletonFormatError, match="notes"):
        ntu.list_skeleton_files(tmp_path)


# ----------------------------------------------------------------------------- preprocessing steps
def _seq():
    raw = read_skeleton(FLAT)
    x, _ = pp.select_bodies(raw)
    return pp.to_ctvm(x)


def test_center_and_align():
    x = pp.drop_empty_frames(_seq())
    c = pp.center_spine(x)
    assert np.allclose(c[:, 0, pp.SPINE_MIDDLE, 0], 0)
    a = pp.align_view(c)
    p = a[:, 0, :, 0]
    spine = p[:, pp.SPINE_SHOULDER] - p[:, pp.BASE_OF_SPINE]
    hips = p[:, pp.LEFT_HIP] - p[:, pp.RIGHT_HIP]
    assert spine[0] == pytest.approx(0, abs=1e-5) and spine[2] == pytest.approx(0, abs=1e-5) and spine[1] > 0
    assert hips[2] == pytest.approx(0, abs=1e-5) and hips[0] > 0
    # a rotation: distances between joints unchanged, zeros stay zeros
    d = lambda y: np.linalg.norm(y[:, :, 3] - y[:, :, 7], axis=0)
    assert np.allclose(d(a), d(c), atol=1e-5)
    assert ((a == 0) == (c == 0)).all()


def test_fix_length():
    x = pp.drop_empty_frames(_seq())
    T = x.shape[1]
    y, n = pp.fix_length(x, 40, "pad")
    assert n == T and y.shape[1] == 40 and np.array_equal(y[:, :T], x) and not y[:, T:].any()
    y, n = pp.fix_length(x, 10, "pad")                 # longer: resampled down, not cut
    assert n == 10 and np.allclose(y[:, -1], x[:, -1]) and np.allclose(y[:, 0], x[:, 0])
    y, n = pp.fix_length(x, 64, "resample")
    assert n == 64 and np.allclose(y[:, -1], x[:, -1])
    with pytest.raises(ValueError, match="time must be"):
        pp.PreprocessConfig(time="crop")


def test_preprocess_ntu_fixed_tensor():
    cfg = pp.PreprocessConfig(num_frames=64, align=True)
    x, n, sel = pp.preprocess_ntu(IDCHANGE, cfg)
    assert x.shape == (3, 64, 25, 2) and x.dtype == np.float32 and n == read_skeleton(IDCHANGE).num_frames
    assert np.allclose(x[:, 0, pp.SPINE_MIDDLE, 0], 0, atol=1e-6)
    assert np.isfinite(x).all()

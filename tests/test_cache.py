"""The memory-mapped cache: contents, reuse, invalidation, atomicity (crash and kill), CLI."""
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from skelnb.data import cache as C
from skelnb.data import preprocess as pp
from skelnb.data.formats import SkeletonFormatError
from skelnb.data.ntu import write_synthetic_ntu
from skelnb.data.synthetic import SyntheticConfig, generate

FIX = Path(__file__).parent / "fixtures"
SKEL = FIX / "ntu" / "nturgb+d_skeletons"
MISSING = FIX / "ntu" / "missing_skeletons.txt"
SHREC = FIX / "shrec" / "HandGestureDataset_SHREC2017"
CFG = pp.PreprocessConfig(num_frames=48)
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def src(tmp_path):
    d = tmp_path / "skeletons"
    shutil.copytree(SKEL, d)
    return d


def _versions(out):
    return sorted(p.name for p in out.iterdir() if p.name != C.CURRENT)


def test_build_contents_and_skipped(src, tmp_path):
    c = C.build_ntu_cache(src, tmp_path / "c", "ntu60", CFG, workers=1, progress=False)
    files = sorted(src.glob("*.skeleton"))
    assert c.rebuilt and c.names == [p.stem for p in files if p.stem != "S003C001P004R001A002"]
    assert [s["name"] for s in c.meta["skipped"]] == ["S003C001P004R001A002"]   # no body: reported
    assert "no body" in c.meta["skipped"][0]["reason"]
    assert isinstance(c.data, np.memmap) and c.data.shape == (3, 3, 48, 25, 2)
    for k, name in enumerate(c.names):
        x, n, _ = pp.preprocess_ntu(src / f"{name}.skeleton", CFG)
        np.testing.assert_array_equal(c.data[k], x)
        assert c.lengths[k] == n and c.labels[k] == int(name[-3:]) - 1
    # with NTU's list of missing samples the empty file is left out, not even parsed
    c2 = C.build_ntu_cache(src, tmp_path / "c2", "ntu60", CFG, missing=MISSING, workers=1, progress=False)
    assert c2.names == c.names and c2.meta["skipped"] == [] and c2.key != c.key


def test_reuse_and_invalidation(src, tmp_path):
    out = tmp_path / "c"
    c1 = C.build_ntu_cache(src, out, "ntu60", CFG, workers=1, progress=False)
    c2 = C.build_ntu_cache(src, out, "ntu60", CFG, workers=1, progress=False)
    assert not c2.rebuilt and c2.key == c1.key
    # settings change -> rebuilt
    c3 = C.build_ntu_cache(src, out, "ntu60", pp.PreprocessConfig(num_frames=48, align=True), workers=1, progress=False)
    assert c3.rebuilt and c3.key != c1.key
    # a touched file (new mtime) -> rebuilt
    f = src / "S001C001P001R001A001.skeleton"
    st = f.stat()
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    c4 = C.build_ntu_cache(src, out, "ntu60", CFG, workers=1, progress=False)
    assert c4.rebuilt and c4.key not in (c1.key, c3.key)
    # a changed file -> rebuilt, with the new content
    lines = f.read_bytes().split(b"\r\n")
    lines[5] = b"1.5" + lines[5][lines[5].index(b" "):]
    f.write_bytes(b"\r\n".join(lines))
    c5 = C.build_ntu_cache(src, out, "ntu60", CFG, workers=1, progress=False)
    assert c5.rebuilt and not np.array_equal(c5.data[0], c4.data[0])
    # a removed file -> rebuilt without it
    (src / "S002C003P002R002A014.skeleton").unlink()
    c6 = C.build_ntu_cache(src, out, "ntu60", CFG, workers=1, progress=False)
    assert c6.rebuilt and len(c6) == 2
    assert len(_versions(out)) == 1                       # old versions cleaned up


def test_crash_mid_write_keeps_old_cache(src, tmp_path, monkeypatch):
    out = tmp_path / "c"
    old = C.build_ntu_cache(src, out, "ntu60", CFG, workers=1, progress=False)
    old_data = np.array(old.data)
    calls = []

    def crashing_worker(job):
        calls.append(job)
        if len(calls) == 2:
            raise RuntimeError("simulated crash")
        return pp.ntu_worker(job)

    monkeypatch.setattr(C, "ntu_worker", crashing_worker)
    with pytest.raises(RuntimeError, match="simulated crash"):
        C.build_ntu_cache(src, out, "ntu60", pp.PreprocessConfig(num_frames=32), workers=1, progress=False)
    c = C.load_cache(out)
    assert c.key == old.key and np.array_equal(np.array(c.data), old_data)
    assert _versions(out) == [old.path.name]                 # no half-written version left


def test_kill_mid_write_keeps_old_cache(src, tmp_path):
    out = tmp_path / "c"
    old = C.build_ntu_cache(src, out, "ntu60", CFG, workers=1, progress=False)
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(REPO)!r})
        from skelnb.data import cache as C, preprocess as pp
        n = [0]
        def slow(job):
            n[0] += 1
            if n[0] == 2:
                print("WRITING", flush=True)
                time.sleep(60)
            return pp.ntu_worker(job)
        C.ntu_worker = slow
        C.build_ntu_cache({str(src)!r}, {str(out)!r}, "ntu60", pp.PreprocessConfig(num_frames=32),
                          workers=1, progress=False)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "WRITING"
        assert any(p.name.startswith(".tmp-") for p in out.iterdir())      # a build was under way
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    c = C.load_cache(out)
    assert c.key == old.key and np.array_equal(np.array(c.data), np.array(old.data))
    # the next build removes the dead builder's temporary folder
    C.build_ntu_cache(src, out, "ntu60", CFG, workers=1, progress=False)
    assert _versions(out) == [old.path.name]


def test_parallel_equals_serial(tmp_path):
    s = generate(SyntheticConfig(subjects=(1, 3), cameras=(1, 2), replications=(1,),
                                 classes=("sit down", "handshake", "raise both hands")))
    src = tmp_path / "syn"
    write_synthetic_ntu(src, s)
    a = C.build_ntu_cache(src, tmp_path / "a", "ntu60", CFG, workers=1, progress=False)
    b = C.build_ntu_cache(src, tmp_path / "b", "ntu60", CFG, workers=2, chunksize=2, progress=False)
    assert b.meta["workers"] == 2 and a.names == b.names == sorted(s.names)
    assert np.array_equal(np.array(a.data), np.array(b.data)) and np.array_equal(a.lengths, b.lengths)
    tr, te = b.split("ntu60-xsub")
    assert {b.names[i][8:12] for i in tr} == {"P001"} and {b.names[i][8:12] for i in te} == {"P003"}
    loader = torch.utils.data.DataLoader(b.dataset(tr, num_frames=16), batch_size=4)
    x, y = next(iter(loader))
    assert tuple(x.shape) == (4, 3, 16, 25, 2) and y.tolist() == b.labels[tr[:4]].tolist()


def test_bad_file_raises_or_is_listed(src, tmp_path):
    bad = src / "S001C003P001R001A001.skeleton"
    bad.write_bytes(b"2\r\n1\r\n")
    with pytest.raises(SkeletonFormatError, match=str(bad) + ":2:"):
        C.build_ntu_cache(src, tmp_path / "c", "ntu60", CFG, workers=1, progress=False)
    assert not (tmp_path / "c" / C.CURRENT).exists() and _versions(tmp_path / "c") == []
    c = C.build_ntu_cache(src, tmp_path / "c", "ntu60", CFG, workers=1, progress=False, on_error="skip")
    assert [e["name"] for e in c.meta["errors"]] == [bad.stem] and bad.stem not in c.names


def test_shrec_cache(tmp_path):
    c = C.build_shrec_cache(SHREC, tmp_path / "s", workers=1, progress=False)
    tr, te = c.split("shrec")
    assert len(tr) == 4 and len(te) == 4 and c.layout == "shrec22"
    assert c.data.shape[1:] == (3, max(c.meta["size"]), 22, 1)
    assert (c.labels_for(28) >= c.labels).all() and c.labels_for(28).max() <= 27
    assert not C.build_shrec_cache(SHREC, tmp_path / "s", workers=1, progress=False).rebuilt


def test_command_line(src, tmp_path, capsys):
    args = ["ntu60", "--root", str(src), "--out", str(tmp_path / "c"), "--workers", "1", "--quiet",
            "--frames", "40", "--missing", str(MISSING)]
    assert C.main(args) == 0 and "built: 3 samples" in capsys.readouterr().out
    assert C.main(args) == 0 and "up to date, reused" in capsys.readouterr().out
    assert C.main(["info", str(tmp_path / "c")]) == 0
    assert json.loads(capsys.readouterr().out.split("\nskipped")[0])["shape"] == [3, 3, 40, 25, 2]
    (src / "S001C003P001R001A001.skeleton").write_bytes(b"x\r\n")
    assert C.main(args) == 1 and "S001C003P001R001A001.skeleton:1:" in capsys.readouterr().err

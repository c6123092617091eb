import numpy as np

from skelnb.data.ntu import write_skeleton, write_synthetic_ntu
from skelnb.data.synthetic import CLASS_NAMES, SyntheticConfig, generate


def _parse(path):
    """A minimal independent reading of the NTU text format (the real reader lives in skelnb)."""
    lines = open(path, "rb").read().decode().split("\r\n")
    assert lines[-1] == "" and all("\n" not in l for l in lines)     # CRLF only
    it = iter(lines)
    frames = []
    for _ in range(int(next(it))):
        bodies = []
        for _ in range(int(next(it))):
            assert len(next(it).split()) == 10
            n = int(next(it))
            bodies.append(np.array([[float(v) for v in next(it).split()] for _ in range(n)]))
        frames.append(bodies)
    return frames


def test_synthetic_files_round_trip(tmp_path):
    s = generate(SyntheticConfig(subjects=(1,), replications=(1,), cameras=(1,), classes=("handshake",)))
    (p,) = write_synthetic_ntu(tmp_path, s)
    assert p.name == f"S001C001P001R001A{CLASS_NAMES.index('handshake') + 1:03d}.skeleton"
    frames = _parse(p)
    assert len(frames) == s.lengths[0] and all(len(b) == 2 for b in frames)
    xyz = np.stack([[b[:, :3] for b in f] for f in frames])             # (T, M, V, 3)
    ref = s.data[0, :, : s.lengths[0]].transpose(1, 3, 2, 0)
    assert np.allclose(xyz, ref, atol=1e-5 * np.abs(ref).max())
    assert all(b.shape == (25, 12) for f in frames for b in f)


def test_frames_with_zero_and_three_bodies(tmp_path):
    seq = np.random.default_rng(0).normal(size=(3, 3, 25, 3)) + [0, 0, 3]
    present = np.array([[True, False, False], [False, False, False], [True, True, True]])
    frames = _parse(write_skeleton(tmp_path / "x.skeleton", seq, present))
    assert [len(f) for f in frames] == [1, 0, 3]
    assert not list(tmp_path.glob("*.tmp*"))                            # written atomically

"""Write the small test fixtures in the exact real formats (deterministic; uses the synthetic
generator). Run from the repository root:

    .venv/bin/python data/make_fixtures.py            # writes tests/fixtures/
    .venv/bin/python data/make_fixtures.py --out DIR

What it writes (about 0.5 MB in all):

* ``ntu/nturgb+d_skeletons/*.skeleton`` -- NTU RGB+D text files, CRLF line ends:
  - ``S001C001P001R001A001``: one person ("sit down"), frames 1 and 8 have no body;
  - ``S001C002P003R001A013``: two people ("handshake"); person 1's body id changes at frame 16
    (Kinect lost and re-acquired them) and a noise body appears in frames 6-8, so those frames
    hold 3 bodies;
  - ``S002C003P002R002A014``: two people ("reach, pass by") plus a third, wide and flat, fast-moving
    "body" in every frame (the sensor mistaking furniture for a person);
  - ``S003C001P004R001A002``: 5 frames, none with a body (a "missing skeleton" sample).
* ``ntu/missing_skeletons.txt`` -- a list of names in the format NTU publishes, naming the
  last file.
* ``shrec/HandGestureDataset_SHREC2017/`` -- 8 sequences in the SHREC'17 tree with
  ``train_gestures.txt`` / ``test_gestures.txt``.
* ``formats/ntu60_3danno_tiny.pkl`` (pyskl annotation pickle) and
  ``formats/NTU60_CS_tiny.npz`` (CTR-GCN npz), from 8 synthetic samples.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from skelnb.data.formats import write_ctrgcn_npz, write_pyskl
from skelnb.data.ntu import write_skeleton
from skelnb.data.shrec import write_synthetic_shrec
from skelnb.data.synthetic import SyntheticConfig, generate

ROOT = Path(__file__).resolve().parents[1]

ID1, ID1_NEW, ID2, NOISE = (72057594037927936 + 1001, 72057594037927936 + 1377, 72057594037927936 + 1002,
                            72057594037927936 + 2049)


# the benchmark without its stronger faults (no crops, swaps, occlusions or false bodies): the
# fixtures script their own faults below
CLEAN = dict(difficulty=0.0, jitter=0.008, drop_prob=0.01)


def _sample(action: str, subject: int = 1, camera: int = 1, rep: int = 1, base_frames: int = 20):
    s = generate(SyntheticConfig(subjects=(subject,), cameras=(camera,), replications=(rep,),
                                 classes=(action,), base_frames=base_frames, **CLEAN))
    n = int(s.lengths[0])
    return s.data[0, :, :n].transpose(1, 3, 2, 0).astype(np.float64)      # (T, M, V, 3)


def ntu_files(out: Path) -> dict[str, Path]:
    d = out / "ntu" / "nturgb+d_skeletons"
    files = {}
    # 1. one person, two frames without a body
    x = _sample("sit down")
    present = np.zeros(x.shape[:2], bool)
    present[:, 0] = True
    present[[0, 7], 0] = False
    files["one_body"] = write_skeleton(d / "S001C001P001R001A001.skeleton", x, present, [ID1, ID2])
    # 2. two people; person 1 gets a new id at frame 11; a noise body in frames 6-8
    x = _sample("handshake", subject=3, camera=2, base_frames=32)
    T = len(x)
    rng = np.random.default_rng(1)
    noise = x[:, 1] + rng.normal(0, 0.3, (T, 25, 3))                        # jittery, short-lived
    seq = np.zeros((T, 4, 25, 3))
    seq[:, 0], seq[:, 1], seq[:, 2], seq[:, 3] = x[:, 0], x[:, 1], x[:, 0], noise
    present = np.zeros((T, 4), bool)
    present[:15, 0] = True          # person 1, first id
    present[:, 1] = True            # person 2
    present[15:, 2] = True          # person 1 again, new id
    present[5:8, 3] = True          # noise body: 3 bodies in frames 6-8
    files["id_change"] = write_skeleton(d / "S001C002P003R001A013.skeleton", seq, present,
                                        [ID1, ID2, ID1_NEW, NOISE])
    # 3. two people and a wide, flat, fast-moving false body in every frame
    x = _sample("reach, pass by", subject=2, camera=3, rep=2)
    T = len(x)
    flat = np.zeros((T, 25, 3))
    flat[..., 0] = rng.uniform(-0.9, 0.9, (T, 25))                          # 1.8 m wide ...
    flat[..., 1] = -0.4 + rng.uniform(-0.05, 0.05, (T, 25))                 # ... 10 cm tall
    flat[..., 2] = 2.5 + rng.uniform(-0.5, 0.5, (T, 25))
    seq = np.concatenate([flat[:, None], x], axis=1)                        # the false body first
    files["flat_body"] = write_skeleton(d / "S002C003P002R002A014.skeleton", seq,
                                        np.ones((T, 3), bool), [NOISE, ID1, ID2])
    # 4. a sample with no body at all
    files["empty"] = write_skeleton(d / "S003C001P004R001A002.skeleton", np.zeros((5, 1, 25, 3)),
                                    np.zeros((5, 1), bool))
    (out / "ntu" / "missing_skeletons.txt").write_text(          # laid out like NTU's lists
        "1 of the samples in these fixtures has missing skeleton data.\n"
        "Leave such samples out of training and testing.\n\n"
        "S003C001P004R001A002\n")
    return files


def format_files(out: Path) -> dict[str, Path]:
    s = generate(SyntheticConfig(subjects=(1, 3), cameras=(1, 2), replications=(1,),
                                 classes=("sit down", "handshake"), base_frames=16, **CLEAN))
    # 8 samples x <= 20 frames; subject 1 trains, subject 3 tests (NTU-60 cross-subject)
    T = int(s.lengths.max())
    data = s.data[:, :, :T]
    train = np.flatnonzero(s.subject == 1)
    test = np.flatnonzero(s.subject == 3)
    names = list(s.names)
    view_train = np.flatnonzero(s.camera != 1)
    view_test = np.flatnonzero(s.camera == 1)
    splits = {"xsub_train": [names[i] for i in train], "xsub_val": [names[i] for i in test],
              "xview_train": [names[i] for i in view_train], "xview_val": [names[i] for i in view_test]}
    d = out / "formats"
    pkl = write_pyskl(d / "ntu60_3danno_tiny.pkl", data, s.labels, names, splits, s.lengths)
    npz = write_ctrgcn_npz(d / "NTU60_CS_tiny.npz", (data[train], s.labels[train]), (data[test], s.labels[test]))
    return {"pyskl": pkl, "npz": npz}


def make_all(out: Path) -> dict[str, Path]:
    out = Path(out)
    files = ntu_files(out)
    write_synthetic_shrec(out / "shrec" / "HandGestureDataset_SHREC2017")
    files.update(format_files(out))
    return files


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(ROOT / "tests" / "fixtures"))
    a = ap.parse_args()
    make_all(Path(a.out))
    total = sum(p.stat().st_size for p in Path(a.out).rglob("*") if p.is_file())
    print(f"fixtures written to {a.out}: {total / 1024:.0f} KiB")

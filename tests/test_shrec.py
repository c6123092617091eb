"""SHREC'17 tree, split files, 14/28-class protocols and bad input."""
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from skelnb.data import shrec
from skelnb.data.formats import EmptySkeletonError, SkeletonFormatError
from skelnb.data.layouts import SHREC22

ROOT = Path(__file__).parent / "fixtures" / "shrec" / "HandGestureDataset_SHREC2017"


def _copy(tmp_path):
    dst = tmp_path / "HandGestureDataset_SHREC2017"
    shutil.copytree(ROOT, dst)
    return dst


def test_split_files_and_tree():
    train = shrec.read_split_file(ROOT / "train_gestures.txt")
    test = shrec.read_split_file(ROOT / "test_gestures.txt")
    assert len(train) == 4 and len(test) == 4
    assert {e.subject for e in train}.isdisjoint({e.subject for e in test})
    for e in train + test:
        p = ROOT / e.relpath
        assert p.is_file() and p.parts[-5:] == (f"gesture_{e.gesture}", f"finger_{e.finger}",
                                                 f"subject_{e.subject}", f"essai_{e.essai}", "skeletons_world.txt")
        assert len(shrec.read_sequence(p)) == e.size


@pytest.mark.parametrize("classes", [14, 28])
def test_load_protocols_zero_based(classes):
    s = shrec.load_shrec(ROOT, "train", classes)
    entries = shrec.read_split_file(ROOT / "train_gestures.txt")
    expect = [(e.label_14 if classes == 14 else e.label_28) - 1 for e in entries]
    assert s.labels.tolist() == expect and min(expect) >= 0
    assert s.data.shape == (4, 3, max(e.size for e in entries), SHREC22.num_joints, 1)
    assert s.lengths.tolist() == [e.size for e in entries] and s.layout == "shrec22"
    x = shrec.read_sequence(ROOT / entries[0].relpath)
    np.testing.assert_array_equal(s.data[0, :, : len(x), :, 0], x.transpose(2, 0, 1))
    item, label = s.dataset(num_frames=16)[1]
    assert tuple(item.shape) == (3, 16, 22, 1) and label == expect[1]


def test_write_read_round_trip(tmp_path):
    x = shrec.synthetic_hand(3, 2, 5, 1, frames=7)
    p = shrec.write_sequence(tmp_path / "s.txt", x)
    np.testing.assert_allclose(shrec.read_sequence(p), x, atol=1e-6)
    with pytest.raises(ValueError, match="14- and a 28-class"):
        shrec.ShrecEntry(1, 1, 1, 1, 1, 1, 5).label(20)


def test_missing_split_file(tmp_path):
    root = _copy(tmp_path)
    (root / "test_gestures.txt").unlink()
    with pytest.raises(SkeletonFormatError, match=re.escape(f"{root / 'test_gestures.txt'}:0:") + ".*not found"):
        shrec.load_shrec(root, "test")


@pytest.mark.parametrize("line, words", [("1 1 1 1 1 2", "expected 7 integers"), ("1 1 1 1 1 2 x", "non-integer"),
                                         ("15 1 1 1 15 29 20", "id_gesture is 15"), ("1 3 1 1 1 2 20", "id_finger")])
def test_bad_split_line(tmp_path, line, words):
    root = _copy(tmp_path)
    f = root / "train_gestures.txt"
    lines = f.read_text().splitlines()
    lines[2] = line
    f.write_text("\n".join(lines) + "\n")
    with pytest.raises(SkeletonFormatError, match=re.escape(f"{f}:3:") + ".*" + words):
        shrec.load_shrec(root, "train")


def _seq_file(root):
    e = shrec.read_split_file(root / "train_gestures.txt")[1]
    return root / e.relpath


@pytest.mark.parametrize("edit, line, words", [
    (lambda L: L[:3] + [" ".join(L[3].split()[:-1])] + L[4:], 4, "expected 66 values"),
    (lambda L: L[:5] + ["abc " + L[5].split(" ", 1)[1]] + L[6:], 6, "not a number"),
    (lambda L: L[:2] + ["nan " + L[2].split(" ", 1)[1]] + L[3:], 3, "NaN or inf"),
])
def test_bad_sequence(tmp_path, edit, line, words):
    root = _copy(tmp_path)
    p = _seq_file(root)
    p.write_text("\n".join(edit(p.read_text().splitlines())) + "\n")
    with pytest.raises(SkeletonFormatError, match=re.escape(f"{p}:{line}:") + ".*" + words):
        shrec.load_shrec(root, "train")


def test_empty_missing_and_length_mismatch(tmp_path):
    root = _copy(tmp_path)
    p = _seq_file(root)
    lines = p.read_text().splitlines()
    p.write_text("\n".join(lines[:-2]) + "\n")
    with pytest.raises(SkeletonFormatError,
                       match=re.escape(f"{p}:0:") + f".*{len(lines) - 2} frames.*says {len(lines)}"):
        shrec.load_shrec(root, "train")
    s = shrec.load_shrec(root, "train", check_length=False)
    assert s.lengths[1] == len(lines) - 2
    p.write_text("")
    with pytest.raises(EmptySkeletonError, match=re.escape(f"{p}:1:")):
        shrec.load_shrec(root, "train")
    p.unlink()
    with pytest.raises(SkeletonFormatError, match=re.escape(f"{p}:0:") + ".*missing"):
        shrec.load_shrec(root, "train")

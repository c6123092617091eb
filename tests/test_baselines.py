import numpy as np
import pytest
import torch

from skelnb.baselines import (angle_pairs, features, joint_angles, per_class_accuracy,
                              train_baseline)
from skelnb.data.dataset import from_skeleton_set, make_loader
from skelnb.data.layouts import NTU25
from skelnb.data.synthetic import CLASS_NAMES, SyntheticConfig, generate
from skelnb.data.transforms import rotation_matrix


def test_angle_pairs_share_a_joint():
    for a, b in angle_pairs(NTU25):
        pa, pb = NTU25.parents[a], NTU25.parents[b]
        assert pa == b or pa == pb           # consecutive bones, or siblings
    # 20 bones whose parent bone is not the (zero) root bone + 6 sibling pairs at the
    # spine-shoulder root (4 children) + 1 at the spine base (two hips)
    assert len(angle_pairs(NTU25)) == 27


def test_angles_ignore_where_the_body_is():
    x = torch.randn(2, 3, 6, 25, 2)
    R = torch.tensor(rotation_matrix([0.3, -1.0, 2.0]), dtype=torch.float32)
    moved = torch.einsum("ij,njtvm->nitvm", R, x) + torch.tensor([1.0, 2.0, 3.0])[None, :, None, None, None]
    assert torch.allclose(joint_angles(x), joint_angles(moved), atol=1e-5)
    assert not torch.allclose(features(x, "ordered"), features(moved, "ordered"))


def test_shuffled_features_are_a_per_sample_permutation_of_frames():
    x = torch.randn(3, 3, 8, 25, 2)
    f, s = features(x, "ordered"), features(x, "shuffled", generator=torch.Generator().manual_seed(0))
    assert torch.allclose(f.sort(-1).values, s.sort(-1).values) and not torch.allclose(f, s)
    with pytest.raises(ValueError, match="unknown baseline"):
        features(x, "velocity")


def test_per_class_accuracy():
    acc = per_class_accuracy(np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2]), 4)
    assert acc[:3].tolist() == [1.0, 1.0, 0.5] and np.isnan(acc[3])


def test_order_blind_baseline_cannot_tell_a_class_from_its_reversal():
    # sit down vs stand up: ordered coordinates separate them, shuffled frames cannot
    s = generate(SyntheticConfig(subjects=(1, 2, 3, 4, 5, 6), classes=CLASS_NAMES[:2]))
    tr, te = s.split("xview")
    ld = lambda idx, sh: make_loader(from_skeleton_set(s, idx, num_frames=24, center="mean"), 16, shuffle=sh)
    acc = {}
    for kind in ("ordered", "shuffled"):
        torch.manual_seed(0)
        _, p, y = train_baseline(kind, ld(tr, True), ld(te, False), 2, epochs=6)
        acc[kind] = (p == y).mean()
    assert acc["ordered"] > 0.9 and acc["shuffled"] < 0.8, acc

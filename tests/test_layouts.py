import numpy as np
import pytest
import torch

from skelnb.data.layouts import NTU25, SHREC22, get_layout, to_bones


def test_ntu25_matches_the_reference_bone_pairs():
    # (child, parent), 1-based, as listed in the project's reference facts
    ref = [(1, 2), (2, 21), (3, 21), (4, 3), (5, 21), (6, 5), (7, 6), (8, 7), (9, 21), (10, 9),
           (11, 10), (12, 11), (13, 1), (14, 13), (15, 14), (16, 15), (17, 1), (18, 17), (19, 18),
           (20, 19), (22, 23), (23, 8), (24, 25), (25, 12)]
    assert sorted((c + 1, p + 1) for c, p in NTU25.bones) == sorted(ref)
    assert NTU25.num_joints == 25 and len(NTU25.bones) == 24
    assert NTU25.joints[NTU25.root] == "spine at the shoulders"
    assert NTU25.joints[3] == "head" and NTU25.joints[23] == "tip of right hand"


@pytest.mark.parametrize("lay", [NTU25, SHREC22])
def test_layout_is_a_tree_and_parts_cover_every_joint(lay):
    for j in range(lay.num_joints):          # walking up the parents reaches the root
        seen = set()
        while lay.parents[j] >= 0:
            assert j not in seen
            seen.add(j)
            j = lay.parents[j]
        assert j == lay.root
    parts = lay.part_of()
    assert (parts >= 0).all() and sum(len(v) for v in lay.parts.values()) == lay.num_joints


def test_shrec22_fingers():
    assert SHREC22.num_joints == 22
    assert SHREC22.joints[0] == "wrist" and SHREC22.joints[5] == "thumb tip"
    assert SHREC22.parents[6] == 1 and SHREC22.parents[2] == 0   # index base -> palm, thumb base -> wrist


def test_to_bones_numpy_and_torch():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 4, 25, 2)).astype(np.float32)       # (C, T, V, M)
    b = to_bones(x, "ntu25")
    assert np.allclose(b[:, :, NTU25.root], 0)
    assert np.allclose(b[:, :, 3], x[:, :, 3] - x[:, :, 2])      # head - neck
    bt = to_bones(torch.from_numpy(x)[None], NTU25, joint_axis=3)
    assert torch.allclose(bt[0], torch.from_numpy(b))


def test_bad_layout_input_is_a_clear_error():
    with pytest.raises(ValueError, match="expected 25 joints"):
        to_bones(np.zeros((3, 4, 22, 2)), "ntu25")
    with pytest.raises(ValueError, match="unknown skeleton layout"):
        get_layout("coco")

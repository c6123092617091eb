import numpy as np
import pytest

from skelnb.data.layouts import NTU25, to_bones
from skelnb.data.synthetic import (CLASS_NAMES, CLASSES, SyntheticConfig, generate, perform,
                                   subject_body)

SMALL = SyntheticConfig(subjects=(1, 2, 3), replications=(1,))


@pytest.fixture(scope="module")
def small():
    return generate(SMALL)


def test_deterministic_and_seeded(small):
    again = generate(SMALL)
    assert np.array_equal(small.data, again.data)
    other = generate(SyntheticConfig(subjects=(1, 2, 3), replications=(1,), seed=1))
    assert not np.allclose(small.data[:, :, :10], other.data[:, :, :10])


def test_shapes_and_metadata(small):
    n = len(CLASSES) * 3 * 1 * 3
    assert small.data.shape[0] == n and small.data.shape[1:2] == (3,) and small.data.shape[3:] == (25, 2)
    assert small.data.dtype == np.float32
    assert set(small.labels) == set(range(len(CLASSES)))
    for i in range(n):            # padding after the valid length is zero, the last valid frame is not
        L = small.lengths[i]
        assert not small.data[i, :, L:].any() and small.data[i, :, L - 1].any()
    assert small.names[0].startswith("S001C001P001R001A001")


def test_order_pairs_are_exact_time_reversals():
    for cls in CLASSES:
        if cls.reverse_of:
            fwd = perform(cls.reverse_of, 4, 2)
            rev = perform(cls.name, 4, 2)
            assert np.allclose(rev, fwd[::-1]), cls.name


def test_bone_lengths_are_constant_within_a_performance_and_differ_between_subjects():
    def lengths(subject):
        w = perform("wave both hands", subject, 1)[:, 0]               # (T, V, 3)
        return np.linalg.norm(to_bones(w, NTU25, joint_axis=1), axis=-1)
    a, b = lengths(1), lengths(2)
    assert a.std(0).max() < 1e-9
    assert np.abs(a[0] - b[0]).max() > 0.01
    assert subject_body(1) == subject_body(1) and subject_body(1) != subject_body(2)


def test_feet_stay_on_the_ground_and_sitting_lowers_the_pelvis():
    w = perform("sit down", 5, 1)[:, 0]
    assert abs(w[:, 14, 1] - w[0, 14, 1]).max() < 1e-9            # left ankle height fixed
    assert w[-1, 0, 1] < w[0, 0, 1] - 0.25                          # pelvis drops on sitting


def test_where_classes_put_the_hand_at_the_named_place():
    for name, joint in [("touch head", 3), ("touch knee", 17)]:
        w = perform(name, 6, 1)[:, 0]
        d = np.linalg.norm(w[:, 11] - w[:, joint], axis=-1)          # right hand to target
        assert d.min() < 0.2, (name, d.min())
        other = np.linalg.norm(perform("touch chest", 6, 1)[:, 0, 11] - perform("touch chest", 6, 1)[:, 0, joint], axis=-1)
        assert other.min() > d.min() + 0.1


def test_two_person_classes_have_two_bodies(small):
    for k, cls in enumerate(CLASSES):
        x = small.data[small.labels == k]
        second = np.abs(x[..., 1]).sum() > 0
        assert second == (cls.persons == 2), cls.name


def test_splits_are_disjoint_and_follow_the_protocols():
    s = generate(SyntheticConfig(subjects=(1, 3), replications=(1,), classes=CLASS_NAMES[:2]))
    tr, te = s.split("xsub")
    assert set(s.subject[tr]) == {1} and set(s.subject[te]) == {3}
    tr, te = s.split("xview")
    assert set(s.camera[tr]) == {2, 3} and set(s.camera[te]) == {1}
    with pytest.raises(ValueError, match="unknown protocol"):
        s.split("xset")


def test_views_differ_and_noise_is_kinect_like(small):
    i = [j for j, n in enumerate(small.names) if n.endswith("A001") and "P001" in n]
    cams = [small.data[j, :, :20] for j in i]
    assert not np.allclose(cams[0], cams[1], atol=0.05)
    z = small.data[:, 2][small.data[:, 2] != 0]
    assert 1.5 < np.median(z) < 4.5                                   # metres from the camera
    dropped = (np.abs(small.data[:, :, :, :, 0]).sum(1) == 0)
    frac = np.mean([dropped[j, : small.lengths[j]].mean() for j in range(len(small))])
    assert 0.002 < frac < 0.05

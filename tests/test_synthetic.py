import numpy as np
import pytest

from skelnb.data.layouts import NTU25, to_bones
from skelnb.data.actions import FACE, FAMILIES, RIGHT_TIP, family_of
from skelnb.data.synthetic import (CLASS_NAMES, CLASSES, Nuisance, SyntheticConfig, generate, perform,
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
        w = perform("raise both hands", subject, 1)[:, 0]               # (T, V, 3)
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
        chest = perform("touch chest", 6, 1)
        other = np.linalg.norm(chest[:, 0, 11] - chest[:, 0, joint], axis=-1)
        assert other.min() > d.min() + 0.1


def test_two_person_classes_have_two_bodies_and_some_one_person_clips_a_spurious_one(small):
    spurious = []
    for k, cls in enumerate(CLASSES):
        second = np.abs(small.data[small.labels == k][..., 1]).sum(axis=(1, 3)) > 0      # (n, T)
        if cls.persons == 2:
            assert second.any(1).all(), cls.name
        else:
            spurious += list(second.any(1))
            n = small.lengths[small.labels == k]
            assert all(second[i].sum() <= 0.5 * n[i] + 1 for i in range(len(n))), cls.name
    assert 0.02 < np.mean(spurious) < 0.3                # NTU-like: a few clips with a false body
    clean = generate(SyntheticConfig(subjects=(1, 2), replications=(1,), difficulty=0.0))
    one = [k for k, c in enumerate(CLASSES) if c.persons == 1]
    assert not np.abs(clean.data[np.isin(clean.labels, one)][..., 1]).any()


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


def test_families_have_three_or_more_classes_differing_in_one_named_factor():
    fam = family_of()
    assert set(fam) == set(FAMILIES)
    for f in FAMILIES:
        members = [c for c in CLASSES if c.family == f]
        assert len(members) >= 3, f
        assert len({c.factor for c in members}) >= 2, f
    assert list(family_of(("raise both hands", "sit down"))) == ["tempo", "order"]


def test_nuisances_grow_with_difficulty_and_zero_is_clean():
    lo, hi = Nuisance.at(0.0), Nuisance.at(2.0)
    assert lo.occlusions == lo.swap_prob == lo.spurious_prob == lo.crop == lo.warp == 0
    for f in ("jitter", "drop_prob", "occlusions", "swap_prob", "spurious_prob", "crop", "warp"):
        assert getattr(hi, f) > getattr(Nuisance.at(1.0), f) >= getattr(lo, f), f
    for bad in (-0.1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="difficulty"):
            Nuisance.at(bad)
    assert SyntheticConfig(jitter=0.02).nuisance().jitter == 0.02


def test_same_seed_same_array_bit_for_bit_at_any_difficulty():
    cfg = SyntheticConfig(subjects=(2,), replications=(1,), difficulty=1.7, classes=CLASS_NAMES[::4])
    a, b = generate(cfg), generate(cfg)
    assert a.data.tobytes() == b.data.tobytes() and np.array_equal(a.lengths, b.lengths)


def test_fine_classes_put_the_fingertip_a_few_centimetres_apart():
    tips = {}
    for place in FACE:
        w = perform(f"hand to {place}", 4, 1)[:, 0]                      # (T, V, 3)
        d = np.linalg.norm(w[:, RIGHT_TIP] - w[:, 3], axis=-1)
        t = int(np.argmin(np.abs(d - np.linalg.norm(FACE[place]))))
        assert abs(d[t] - np.linalg.norm(FACE[place])) < 0.02, place
        tips[place] = w[len(w) // 2, RIGHT_TIP] - w[len(w) // 2, 3]       # held at mid-clip
    gap = np.linalg.norm(tips["mouth"] - tips["chin"])
    assert 0.03 < gap < 0.09 and np.linalg.norm(tips["mouth"] - tips["ear"]) > gap


def test_person_classes_differ_in_relation_not_in_the_individual_motion():
    meet, short, gaps = [], [], {}
    for name in ("handshake", "reach, stop short", "reach, pass by"):
        d, g = [], []
        for s in range(1, 9):
            w = perform(name, s, 1)
            d.append(np.linalg.norm(w[:, 0, 11] - w[:, 1, 11], axis=-1).min())
            g.append(np.linalg.norm(w[0, 0, 0] - w[0, 1, 0]))                # pelvis to pelvis
        gaps[name] = g
        (meet if name == "handshake" else short).extend(d)
    assert max(meet) < 0.1 < 0.17 < min(short)
    # the distance between the people alone does not give the class away
    assert min(gaps["reach, stop short"]) < max(gaps["handshake"])


def test_tempo_classes_raise_over_8_25_and_60_percent_of_the_clip():
    shares = []
    for name in ("raise both hands quickly", "raise both hands", "raise both hands slowly"):
        w = perform(name, 2, 1)[:, 0]
        h = w[:, 11, 1] - w[:, 0, 1]                                       # right hand above the pelvis
        lo, hi = h[0], h.max()
        rising = (h > lo + 0.1 * (hi - lo)) & (h < lo + 0.9 * (hi - lo))
        rising[int(0.8 * len(h)):] = False                                 # not the lowering at the end
        shares.append(rising.mean())
    quick, medium, slow = shares                 # smoothstep: 10-90 % takes ~2/3 of its span
    assert quick < 0.08 < medium < 0.25 < slow < 0.6, shares


def test_long_range_classes_put_the_events_in_the_two_halves():
    for name, first, second in (("head, then knee", 3, 17), ("knee, then head", 17, 3)):
        w = perform(name, 5, 2)[:, 0]
        T = len(w)
        near = lambda j, part: np.linalg.norm(w[part, 11] - w[part, j], axis=-1).min()
        assert near(first, slice(0, T // 2)) < 0.2 and near(second, slice(T // 2, T)) < 0.2, name
        assert near(second, slice(0, T // 2)) > 0.3, name

import numpy as np
import pytest
import torch

from skelnb.data import transforms as tf
from skelnb.data.dataset import Augment, SkeletonDataset, from_skeleton_set, make_loader
from skelnb.data.layouts import NTU25, to_bones
from skelnb.data.synthetic import CLASS_NAMES, SyntheticConfig, generate


@pytest.fixture(scope="module")
def sset():
    return generate(SyntheticConfig(subjects=(1, 2), replications=(1,), classes=CLASS_NAMES[:4]))


def test_item_shapes_and_centering(sset):
    ds = from_skeleton_set(sset, num_frames=20)
    x, y = ds[0]
    assert x.shape == (3, 20, 25, 2) and x.dtype == torch.float32 and y == sset.labels[0]
    assert torch.allclose(x[:, 0, 1, 0], torch.zeros(3), atol=1e-6)   # spine of frame 0 at origin
    xm, _ = from_skeleton_set(sset, num_frames=20, center="mean")[0]
    assert xm[:, :, 1, 0].mean(1).abs().max() < 0.05


def test_bone_stream_equals_to_bones(sset):
    j = from_skeleton_set(sset, num_frames=16)[3][0]
    b = from_skeleton_set(sset, num_frames=16, stream="bone")[3][0]
    assert torch.allclose(b, to_bones(j, NTU25))


def test_crop_resize_keeps_endpoints_and_interpolates():
    x = np.arange(1, 11, dtype=np.float32)[None, :, None, None].repeat(3, 0).repeat(25, 2).repeat(2, 3)
    y = tf.crop_resize(x, 10, 19)
    assert y[0, 0, 0, 0] == 1 and y[0, -1, 0, 0] == 10 and np.allclose(np.diff(y[0, :, 0, 0]), 0.5)
    z = tf.crop_resize(x, 10, 5, ratio=0.5, rng=np.random.default_rng(0))
    assert z[0, -1, 0, 0] - z[0, 0, 0, 0] == pytest.approx(4)


def test_rotation_keeps_bone_lengths(sset):
    x = sset.data[0]
    r = tf.random_rotation(x, np.random.default_rng(1))
    lb = lambda a: np.linalg.norm(to_bones(a, NTU25), axis=0)
    assert np.allclose(lb(x), lb(r), atol=1e-5)
    assert not np.allclose(x, r)


def test_augmentation_is_a_function_of_seed_epoch_and_index(sset):
    ds = from_skeleton_set(sset, num_frames=16, augment=Augment(), seed=3)
    a = ds[5][0]
    assert torch.equal(a, ds[5][0])
    ds.set_epoch(1)
    assert not torch.equal(a, ds[5][0])
    ds.set_epoch(0)
    assert torch.equal(a, ds[5][0])


def test_loader_order_is_seeded(sset):
    ds = from_skeleton_set(sset, num_frames=8)
    first = lambda: [y.tolist() for _, y in make_loader(ds, 4, shuffle=True, seed=7)]
    assert first() == first()


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match=r"\(N, C, T, V, M\)"):
        SkeletonDataset(np.zeros((2, 3, 4, 25)), [0, 1])
    with pytest.raises(ValueError, match="22 joints"):
        SkeletonDataset(np.zeros((2, 3, 4, 25, 2)), [0, 1], layout="shrec22")
    with pytest.raises(ValueError, match="labels"):
        SkeletonDataset(np.zeros((2, 3, 4, 25, 2)), [0])
    with pytest.raises(ValueError, match="stream"):
        SkeletonDataset(np.zeros((2, 3, 4, 25, 2)), [0, 1], stream="velocity")


def test_crop_resize_never_blends_towards_a_dropped_joint():
    x = np.ones((3, 4, 25, 1), np.float32) * np.arange(1, 5, dtype=np.float32)[None, :, None, None]
    x[:, 1, 7] = 0.0                                   # joint 7 dropped in frame 1
    y = tf.crop_resize(x, 4, 7)                        # frame positions 0, .5, 1, 1.5, 2, 2.5, 3
    j = y[0, :, 7, 0]
    assert j[1] == 1.0 and j[2] == 3.0 and j[3] == 3.0 # the seen end, not a point pulled to 0
    assert np.allclose(y[0, :, 0, 0], [1, 1.5, 2, 2.5, 3, 3.5, 4])

"""Data sources a config can name (cache, pyskl, CTR-GCN npz), centring once, test-time frames,
and protocol-2 pyskl pickles."""
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from skelnb import cli
from skelnb import config as C
from skelnb.build import build_data, build_model
from skelnb.data import transforms as tf
from skelnb.data.cache import build_ntu_cache
from skelnb.data.dataset import Augment, SkeletonDataset
from skelnb.data.formats import UnsafePickleError, load_pyskl

ROOT = Path(__file__).resolve().parents[1]
FORMATS = ROOT / "tests" / "fixtures" / "formats"
SKEL = ROOT / "tests" / "fixtures" / "ntu" / "nturgb+d_skeletons"

pytestmark = pytest.mark.usefixtures("one_thread")


def _cfg(source: str, root, **data) -> dict:
    """A tiny SEM config on one of the fixture files."""
    return dict(name=f"t/{source}", data={**dict(source=source, root=str(root), benchmark="ntu60-xsub",
                                                 num_frames=12, augment=None), **data},
                model=dict(name="sem", size="quick", width=8, depth=2),
                train=dict(epochs=1, batch_size=4, lr=0.05, warmup_epochs=0, num_workers=0))


# ----------------------------------------------------------------------------- protocol-2 pickles
def _write_like_mmcv(path, arrays: dict) -> Path:
    """A pyskl annotation file as pyskl's ntu_preproc writes it: mmcv.dump -> pickle protocol 2,
    float16 keypoints (M, T, V, C), numpy integer labels."""
    names = list(arrays)
    anns = [dict(frame_dir=n, label=np.int64(k % 2), keypoint=kp.astype(np.float16), total_frames=kp.shape[1],
                 img_shape=(1080, 1920), original_shape=(1080, 1920)) for k, (n, kp) in enumerate(arrays.items())]
    with open(path, "wb") as f:
        pickle.dump(dict(split=dict(xsub_train=names[:2], xsub_val=names[2:]), annotations=anns), f, protocol=2)
    return path


def test_protocol2_float16_pickle_loads(tmp_path):
    g = np.random.default_rng(0)
    arrays = {f"S001C001P00{p}R001A00{a}": g.normal(size=(2 if a == 1 else 1, 7 + p, 25, 3))
              for p, a in ((1, 1), (2, 2), (3, 1))}
    path = _write_like_mmcv(tmp_path / "ntu60_3danno.pkl", arrays)
    assert b"_codecs" in path.read_bytes()                            # the form that was refused before
    s = load_pyskl(path, allow_pickle=True)
    assert s.data.dtype == np.float32 and s.data.shape == (3, 3, 10, 25, 2)
    for k, kp in enumerate(arrays.values()):
        want = kp.astype(np.float16).astype(np.float32).transpose(3, 1, 2, 0)   # (C, T, V, M)
        np.testing.assert_array_equal(s.data[k, :, :kp.shape[1], :, :kp.shape[0]], want)
    assert list(s.labels) == [0, 1, 0] and list(s.splits["xsub_val"]) == [2]


class _Boom:
    def __reduce__(self):
        import os
        return (os.system, ("echo unsafe",))


def test_protocol2_pickles_still_refuse_code(tmp_path):
    bad = tmp_path / "bad.pkl"
    with open(bad, "wb") as f:
        pickle.dump(dict(split={}, annotations=[_Boom()]), f, protocol=2)
    with pytest.raises(UnsafePickleError, match="system"):
        load_pyskl(bad, allow_pickle=True)
    # _codecs.encode with anything but the latin-1 form protocol 2 uses for bytes is refused
    odd = tmp_path / "odd.pkl"
    odd.write_bytes(b"\x80\x02c_codecs\nencode\nq\x00X\x02\x00\x00\x00abX\x06\x00\x00\x00base64\x86R.")
    with pytest.raises(UnsafePickleError, match="latin-1"):
        load_pyskl(odd, allow_pickle=True)
    with pytest.raises(UnsafePickleError, match="allow_pickle"):
        load_pyskl(FORMATS / "ntu60_3danno_tiny.pkl")


# ----------------------------------------------------------------------------- sources in a config
@pytest.mark.parametrize("source, file", [("pyskl", "ntu60_3danno_tiny.pkl"), ("ctrgcn-npz", "NTU60_CS_tiny.npz")])
def test_each_file_source_trains_one_epoch(source, file, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SKELNB_RUNS", str(tmp_path / "runs"))
    extra = dict(allow_pickle=True) if source == "pyskl" else {}
    raw = _cfg(source, FORMATS, file=file, **extra)
    d = build_data(C.from_dict(raw))
    assert d.num_classes == 60 and len(d.train) == 4 and len(d.test) == 4
    x, y = d.train[0]
    assert tuple(x.shape) == (3, 12, 25, 2) and 0 <= y < 60
    if source == "pyskl":                                              # the file's own split
        assert all(n[8:12] == "P003" for n in d.test_ids)
        assert d.train.center == "first"                               # pyskl stores camera coordinates
    else:
        assert d.train.center is None                                  # CTR-GCN's npz is centred already
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(raw))
    code = cli.main(["train", str(path), "--threads", "1", "--quiet"])
    assert code == 0, capsys.readouterr().err
    run = tmp_path / "runs" / "t" / source
    assert (run / "checkpoint.pt").is_file() and (run / "result.json").is_file()


def test_file_source_errors_name_the_key(tmp_path):
    with pytest.raises(C.ConfigError, match="data.file"):
        C.from_dict(_cfg("pyskl", FORMATS))
    with pytest.raises(C.ConfigError, match="data.allow_pickle"):
        build_data(C.from_dict(_cfg("pyskl", FORMATS, file="ntu60_3danno_tiny.pkl")))
    with pytest.raises(C.ConfigError, match="data.source must be one of"):
        C.from_dict(_cfg("csv", FORMATS))
    with pytest.raises(C.ConfigError, match="not found"):
        build_data(C.from_dict(_cfg("ctrgcn-npz", tmp_path, file="none.npz")))
    with pytest.raises(C.ConfigError, match="centred already"):
        build_data(C.from_dict(_cfg("ctrgcn-npz", FORMATS, file="NTU60_CS_tiny.npz", center="first")))
    with pytest.raises(C.ConfigError, match="data.test_frames"):
        C.from_dict(_cfg("ctrgcn-npz", FORMATS, file="NTU60_CS_tiny.npz", test_frames="middle"))


def test_xset_paper_split_is_the_official_one_reversed(tmp_path):
    names = [f"S{s:03d}C001P001R001A001" for s in range(1, 33)]
    from skelnb.data import ntu
    tr, te = ntu.split_indices(names, "ntu120-xset")
    trp, tep = ntu.split_indices(names, "ntu120-xset-paper")
    assert all(int(names[i][1:4]) % 2 == 0 for i in tr)                # official: even setups train
    assert all(int(names[i][1:4]) % 2 == 1 for i in trp)               # paper / authors' code: odd
    assert np.array_equal(trp, te) and np.array_equal(tep, tr)


# ----------------------------------------------------------------------------- centre once
@pytest.fixture(scope="module")
def ntu_cache(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    src = root / "skeletons"
    shutil.copytree(SKEL, src)
    build_ntu_cache(src, root / "cache/ntu60", "ntu60", workers=1, progress=False)
    return root


def test_cache_is_centred_once_and_no_sample_is_shifted(ntu_cache):
    raw = _cfg("cache", ntu_cache, cache="cache/ntu60", test_frames="full")
    d = build_data(C.from_dict(raw))
    cache = d.test.data.arr
    assert d.train.center is None and d.test.center is None            # the cache is centred: not again
    for ds in (d.train, d.test):
        for i in range(len(ds)):
            row = np.asarray(ds.data[i], np.float32)                   # (C, T, V, M) as cached
            # the cache's own centring: actor 1's middle of spine at exactly 0 in its first frame
            assert np.all(row[:, 0, tf.SPINE_MIDDLE, 0] == 0)
            want = tf.crop_resize(row, int(ds.lengths[i]), ds.num_frames)
            x, _ = ds[i]
            np.testing.assert_array_equal(x.numpy(), want)             # nothing moved
    # what centring twice did: the exact-zero centre joint read as dropped, frame 1 taken as the
    # origin, the whole sample moved (this is the bug the default avoids)
    twice = SkeletonDataset(cache, np.zeros(len(cache)), num_frames=12, center="first")
    shifts = []
    for i in range(len(cache)):
        row = np.asarray(cache[i], np.float32)
        head = twice[i][0].numpy()[:, :, 3, 0] - tf.crop_resize(row, tf.valid_length(row), 12)[:, :, 3, 0]
        shifts.append(np.abs(head).max())                             # (3, T): the head moved
    assert min(shifts) > 1e-4
    with pytest.raises(C.ConfigError, match="centred already"):
        build_data(C.from_dict(dict(raw, data=dict(raw["data"], center="first"))))


def test_cache_dataset_defaults_to_centre_once(ntu_cache):
    from skelnb.data.cache import load_cache
    c = load_cache(ntu_cache / "cache/ntu60")
    assert c.centred and c.dataset(num_frames=8).center is None
    assert c.dataset(num_frames=8, center="mean").center == "mean"      # an explicit choice is kept


# ----------------------------------------------------------------------------- test-time frames
def _ramp(T=100, pad=20):
    """One sequence whose x coordinate is the frame index + 1 (then zero padding): a sample's
    x values tell exactly which frames it was resampled from."""
    x = np.zeros((1, 3, T + pad, 25, 2), np.float32)
    x[0, 0, :T] = np.arange(1, T + 1, dtype=np.float32)[:, None, None]
    x[0, 1:, :T] = 1.0
    return x


def test_train_and_test_sample_one_temporal_scale():
    data, r = _ramp(), 64 / 75
    train = SkeletonDataset(data, [0], num_frames=32, center=None, augment=Augment(crop=(r, r), rotate=0, scale=None))
    test = SkeletonDataset(data, [0], num_frames=32, center=None, test_crop=r)
    full = SkeletonDataset(data, [0], num_frames=32, center=None)
    step = lambda ds: np.diff(ds[0][0].numpy()[0, :, 0, 0])             # input frames per output frame
    for e in range(3):
        train.set_epoch(e)
        np.testing.assert_allclose(step(train), step(test), rtol=1e-5)  # the same scale every epoch
    assert step(full).mean() / step(test).mean() == pytest.approx(99 / 84, rel=1e-6)   # the old 1.17x
    t = test[0][0].numpy()[0, :, 0, 0]
    assert (t[0], t[-1]) == (8, 92)                     # centred: 85 of 100 frames, 7 off the start, 8 off the end
    with pytest.raises(ValueError, match="test_crop"):
        SkeletonDataset(data, [0], test_crop=0)


def test_config_test_frames_centre_by_default_full_as_option(ntu_cache):
    raw = _cfg("cache", ntu_cache, cache="cache/ntu60", window=15, augment={})
    d = build_data(C.from_dict(raw))
    assert d.test.test_crop == pytest.approx(12 / 15) and d.train.augment.crop == (12 / 15, 12 / 15)
    d = build_data(C.from_dict(dict(raw, data=dict(raw["data"], augment=None))))
    assert d.train.augment is None and d.train.test_crop == d.test.test_crop   # no augment: the same window
    d = build_data(C.from_dict(dict(raw, data=dict(raw["data"], test_frames="full"))))
    assert d.test.test_crop == 1.0
    d = build_data(C.from_dict(dict(raw, data=dict(raw["data"], window=None))))
    assert d.test.test_crop == 1.0                                       # a random crop range: the whole span


# ----------------------------------------------------------------------------- fidelity keys
def test_fidelity_options_are_config_keys():
    base = dict(name="t/x", data=dict(source="synthetic", benchmark="xsub", num_frames=16), train={})
    build = lambda model: build_model(C.from_dict(dict(base, model=model)), num_classes=5, layout="ntu25",
                                      num_frames=16)
    with torch.device("meta"):
        spa = build(dict(name="spa", kind="4d", persons="shared", collisions="sum", readout="mean+max",
                         blocks=[2, 1, 1, 1], box=[[-1, -1, 2], [1, 1, 5]]))
        paper = build(dict(name="spa", kind="4d"))
        sem = build(dict(name="sem", pos_encoding="spatial"))
        sem_paper = build(dict(name="sem"))
    assert (spa.in_channels, spa.fc.in_features, len(spa.stages[0])) == (25, 256, 2)
    assert spa.config.box == ((-1.0, -1.0, 2.0), (1.0, 1.0, 5.0))
    assert (paper.in_channels, paper.fc.in_features, paper.config.collisions) == (50, 128, "max")
    assert sem.blocks[0].att.pos_encoding == "spatial" and sem_paper.blocks[0].att.pos_encoding == "spatiotemporal"
    with pytest.raises(ValueError, match="readout must be one of"):
        build(dict(name="spa", readout="gap"))
    xset = C.load_config(ROOT / "skelnb/configs/ntu120-xset_sem-joint.yaml")
    assert xset.data["benchmark"] == "ntu120-xset-paper"                 # Table 8 as the authors split it

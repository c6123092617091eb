"""From a checked :class:`~skelnb.config.RunConfig` to what it describes: the (train, test) datasets
(:func:`build_data`) and the model (:func:`build_model`); :func:`expected_data` and :data:`SPLIT_SIZES` say what
the data will hold without opening it. The configs and the runs they make: book/14_reproducing.ipynb.

**What the recipe does with the frames.** DSTA-Net's recipe feeds 128 frames cut from a
150-frame window. Here a training sample is a random window of ``num_frames / window`` of its
valid frames, resampled to ``num_frames`` (the same as resampling the sequence to ``window``
frames and cutting a random ``num_frames`` crop); a test sample is the centred window of the
same fraction, resampled the same way (``test_frames: centre``, the default: DSTA-Net's centre
crop, so training and test see one temporal scale); ``test_frames: full`` resamples the whole
valid span instead (skelnb's earlier behaviour: motion 1.17x faster than in training at
128/150). Without ``window`` the training crop is a random range and the test takes the whole span.

**Centred once.** ``center: auto`` (the default) centres in the Dataset only data that are not
centred already: caches built with a centre step and CTR-GCN's npz are used as they are;
pyskl pickles and the synthetic set are centred by the Dataset. (Centring twice moved whole
samples by up to 7 mm: the centre joint of frame 0 becomes an exact zero, which reads as a
dropped joint, so the second pass took frame 1 as the origin.)
"""
from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import torch

from .config import ConfigError, RunConfig

# pyskl's split names for each benchmark (ntu120-xset-paper is not in its files: split by name)
PYSKL_SPLITS = {"ntu60-xsub": ("xsub_train", "xsub_val"), "ntu60-xview": ("xview_train", "xview_val"),
                "ntu120-xsub": ("xsub_train", "xsub_val"), "ntu120-xset": ("xset_train", "xset_val")}
NTU_CLASSES = {"ntu60": 60, "ntu120": 120}

# Training / test sizes of each benchmark as commonly reported (NTU after removing the samples
# with missing skeletons: 302 for NTU-60, 535 for NTU-120; SHREC'17 from its split files). Only
# for estimates before the data is at hand: a cache reports the exact counts of your copy.
SPLIT_SIZES = {"ntu60-xsub": (40091, 16487), "ntu60-xview": (37646, 18932), "ntu120-xsub": (63026, 50919),
               "ntu120-xset": (54468, 59477), "ntu120-xset-paper": (59477, 54468),
               "shrec14": (1960, 840), "shrec28": (1960, 840)}


# ----------------------------------------------------------------------------- data
@dataclass
class DataBundle:
    """What a config's data section gives: the two datasets and what the model must know."""
    train: object                   # SkeletonDataset (augmented)
    test: object                    # SkeletonDataset (plain)
    num_classes: int
    layout: str
    num_frames: int
    in_channels: int
    num_persons: int
    class_names: list[str]
    test_ids: np.ndarray            # (N_test,) sample names, in test order
    description: str


def data_root(data: dict) -> Path:
    """``data.root``, else ``$SKELNB_DATA``, else ``./data``."""
    return Path(data.get("root") or os.environ.get("SKELNB_DATA") or "data")


def _augment(data: dict):
    from .data.dataset import Augment
    a = data.get("augment", {})
    if a is None:
        return None
    if not isinstance(a, dict):
        raise ConfigError(f"data.augment must be null or a mapping of Augment fields, got {a!r}")
    known = {f.name for f in fields(Augment)}
    if set(a) - known:
        raise ConfigError(f"data.augment: unknown key(s) {sorted(set(a) - known)}; Augment fields are {sorted(known)}")
    a = {k: tuple(v) if isinstance(v, list) else v for k, v in a.items()}
    if data.get("window"):
        r = data["num_frames"] / data["window"]
        if not 0 < r <= 1:
            raise ConfigError(f"data.window={data['window']} must be >= data.num_frames={data['num_frames']}")
        a["crop"] = (r, r)
    return Augment(**a)


def _center(d: dict, centred: bool, what: str):
    """data.center resolved for a source: 'auto' centres only data not centred already."""
    c = d.get("center", "auto")
    if c == "auto":
        return None if centred else "first"
    if c is not None and centred:
        raise ConfigError(f"data.center={c!r}: {what} is centred already; centring again moves samples "
                          f"(the exact-zero centre joint reads as dropped). Use center: auto (or null)")
    return c


def _test_crop(d: dict) -> float:
    """Fraction of the valid frames a test sample takes (a centred window), see the module doc."""
    if d.get("test_frames", "centre") == "full" or not d.get("window"):
        return 1.0
    return float(d["num_frames"]) / float(d["window"])


def _data_file(d: dict) -> Path:
    path = Path(d["file"])
    path = path if path.is_absolute() else data_root(d) / path
    if not path.is_file():
        raise ConfigError(f"data.file: {path} not found (data.root={data_root(d)}; set it with "
                          f"--set data.root=DIR or SKELNB_DATA=DIR)")
    return path


def _ntu_benchmark(d: dict, where: str) -> tuple[str, int]:
    bench = d.get("benchmark")
    from .data.ntu import BENCHMARKS
    if bench not in BENCHMARKS:
        raise ConfigError(f"data.benchmark: {where} needs an NTU benchmark, one of {BENCHMARKS}; got {bench!r}")
    return bench, NTU_CLASSES[bench.split("-")[0]]


def _array_split(aset, bench: str, src: str, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) indices of an ArraySet: the file's own split where it has one, else by name."""
    from .data import ntu
    names = PYSKL_SPLITS.get(bench) if src == "pyskl" else None
    if names and all(n in aset.splits for n in names):
        return aset.splits[names[0]], aset.splits[names[1]]
    try:
        return ntu.split_indices(aset.names, bench)
    except ValueError as e:
        raise ConfigError(f"data.benchmark={bench!r}: {path} has no split for it and its sample names "
                          f"do not give one ({e})") from None


def build_data(cfg: RunConfig) -> DataBundle:
    """The (train, test) datasets a config describes (a cache is opened lazily, memory-mapped;
    pyskl and CTR-GCN files are read into memory)."""
    from .data.dataset import from_skeleton_set
    d = dict(cfg.data)
    d.setdefault("num_frames", 64)
    kw = dict(num_frames=int(d["num_frames"]), stream=d.get("stream", "joint"))
    aug = _augment(d)
    # the centred window without augmentation: the test set's, and the training set's too where
    # data.augment is null (it is unused by an augmented set, which crops at random)
    test_kw = dict(kw, test_crop=_test_crop(d))
    if d["source"] == "synthetic":
        from .data.synthetic import SyntheticConfig, generate
        subj = d.get("subjects", 10)
        subjects = tuple(range(1, int(subj) + 1)) if isinstance(subj, int) else tuple(int(s) for s in subj)
        sset = generate(SyntheticConfig(subjects=subjects))
        bench = d.get("benchmark", "xsub")
        try:
            tr, te = sset.split(bench)
        except ValueError as e:
            raise ConfigError(f"data.benchmark: {e}") from None
        c = _center(d, False, "the synthetic set")
        train = from_skeleton_set(sset, tr, augment=aug, center=c, **test_kw)
        test = from_skeleton_set(sset, te, center=c, **test_kw)
        names = np.asarray(sset.names)[te]
        return DataBundle(train, test, len(sset.class_names), "ntu25", kw["num_frames"], 3, sset.data.shape[-1],
                          list(sset.class_names), names,
                          f"synthetic ({len(subjects)} subjects) {bench}: {len(tr)} train / {len(te)} test")
    if d["source"] in ("pyskl", "ctrgcn-npz"):
        from .data import formats
        src, path = d["source"], _data_file(d)
        bench, num_classes = _ntu_benchmark(d, f"data.source: {src}")
        if src == "pyskl":
            if d.get("allow_pickle") is not True:
                raise ConfigError(f"data.allow_pickle: {path} is a pickle, and unpickling can run code written "
                                  f"into it; set data.allow_pickle: true if you trust its source (skelnb then "
                                  f"rebuilds only containers and numpy arrays)")
            aset = formats.load_pyskl(path, allow_pickle=True)
            tr, te = _array_split(aset, bench, src, path)
            parts = ((aset, tr), (aset, te))
        else:                                            # the file holds one benchmark's two halves
            parts = ((formats.load_ctrgcn_npz(path, "train"), None), (formats.load_ctrgcn_npz(path, "test"), None))
        centred = parts[0][0].centred
        c = _center(d, centred, f"{path} ({src})")
        bad = [int(a.labels.max()) for a, _ in parts if len(a.labels) and a.labels.max() >= num_classes]
        if bad:
            raise ConfigError(f"data.benchmark={bench!r}: {path} has label {bad[0]} >= {num_classes} classes")
        train = parts[0][0].dataset(parts[0][1], augment=aug, center=c, **test_kw)
        test = parts[1][0].dataset(parts[1][1], center=c, **test_kw)
        te_set, te_idx = parts[1]
        te_names = np.asarray(te_set.names) if te_idx is None else np.asarray(te_set.names)[te_idx]
        C_, _, V, M = te_set.data.shape[1:]
        return DataBundle(train, test, num_classes, te_set.layout, kw["num_frames"], C_, M,
                          [f"A{k + 1:03d}" for k in range(num_classes)], te_names,
                          f"{path} ({src}{', centred' if centred else ''}) {bench}: {len(train)} train / "
                          f"{len(test)} test")
    from .data.cache import load_cache
    path = Path(d["cache"])
    if not path.is_absolute():
        path = data_root(d) / path
    try:
        cache = load_cache(path)
    except FileNotFoundError as e:
        raise ConfigError(f"data: {e} (data.root={data_root(d)}; set it with --set data.root=DIR or "
                          f"SKELNB_DATA=DIR)") from None
    bench = d.get("benchmark")
    kind = cache.meta["settings"].get("kind")
    if kind == "shrec":
        if bench != "shrec":
            raise ConfigError(f"data.benchmark: {path} is a SHREC'17 cache; use benchmark: shrec, got {bench!r}")
        classes = int(d.get("classes", 14))
        if classes not in (14, 28):
            raise ConfigError(f"data.classes: SHREC'17 has a 14- and a 28-class protocol, not {classes}")
        labels, names = cache.labels_for(classes), [f"G{k + 1}" for k in range(classes)]
        num_classes = classes
    else:
        ds = cache.meta["settings"].get("dataset")
        if not (isinstance(bench, str) and bench.split("-")[0] == ds):
            raise ConfigError(f"data.benchmark: {path} caches {ds}; use one of {ds}-xsub, "
                              f"{ds}-{'xview' if ds == 'ntu60' else 'xset, ' + ds + '-xset-paper'}, got {bench!r}")
        labels, num_classes = cache.labels, NTU_CLASSES[ds]
        names = [f"A{k + 1:03d}" for k in range(num_classes)]
    tr, te = cache.split(bench)
    c = _center(d, cache.centred, f"{path} (built with center={cache.meta['settings']['config'].get('center')!r})")
    train = cache.dataset(tr, labels=labels, augment=aug, center=c, **test_kw)
    test = cache.dataset(te, labels=labels, center=c, **test_kw)
    C, _, V, M = cache.data.shape[1:]
    return DataBundle(train, test, num_classes, cache.layout, kw["num_frames"], C, M, names,
                      np.asarray(cache.names)[te],
                      f"{path} {bench}: {len(tr)} train / {len(te)} test")


# ----------------------------------------------------------------------------- models
def _sem(spec: dict, size: str, num_classes: int, layout: str, num_frames: int, in_channels: int):
    from .sem.net import SEMNet
    if size == "quick":
        return SEMNet.quick(num_classes, layout, num_frames=num_frames, in_channels=in_channels, **spec)
    return SEMNet(num_classes=num_classes, layout=layout, num_frames=num_frames, in_channels=in_channels, **spec)


def _spa(spec: dict, size: str, num_classes: int, layout: str, num_frames: int, in_channels: int):
    try:
        from .spa.net import SPANet
    except ImportError as e:
        raise ConfigError(f"model.name: spa needs skelnb.spa and spconv ({e})") from None
    if size == "quick":
        return SPANet.quick(num_classes=num_classes, layout=layout, num_frames=num_frames, **spec)
    return SPANet(num_classes=num_classes, layout=layout, num_frames=num_frames, **spec)


MODEL_BUILDERS = {"sem": _sem, "spa": _spa}          # one per config.MODEL_NAMES


def build_model(cfg: RunConfig, data: DataBundle | None = None, *, num_classes: int | None = None,
                layout: str | None = None, num_frames: int | None = None, in_channels: int = 3,
                seed: int | None = None) -> torch.nn.Module:
    """The config's model, initialised from ``train.seed`` (or ``seed``). Without ``data`` the
    class count, layout and frames must be given (e.g. to count parameters on the meta device)."""
    spec = dict(cfg.model)
    name, size = spec.pop("name"), spec.pop("size", "paper")
    if data is not None:
        num_classes, layout, num_frames, in_channels = (data.num_classes, data.layout, data.num_frames,
                                                        data.in_channels)
    torch.manual_seed(cfg.train.seed if seed is None else seed)
    try:
        return MODEL_BUILDERS[name](spec, size, num_classes, layout, num_frames, in_channels)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"model: {e} (model keys other than name/size are the model's own settings)") from None


def expected_data(cfg: RunConfig) -> dict:
    """Classes, layout, frames and persons a config's data will have, without opening any data
    (for building models on the meta device)."""
    d = cfg.data
    if d["source"] == "synthetic":
        from .data.synthetic import CLASS_NAMES
        return dict(num_classes=len(CLASS_NAMES), layout="ntu25", num_frames=d.get("num_frames", 64), persons=2)
    bench = d.get("benchmark", "")
    if bench == "shrec":
        return dict(num_classes=int(d.get("classes", 14)), layout="shrec22", num_frames=d.get("num_frames", 64),
                    persons=1)
    ds = bench.split("-")[0]
    if ds not in NTU_CLASSES:
        raise ConfigError(f"data.benchmark: unknown benchmark {bench!r}")
    return dict(num_classes=NTU_CLASSES[ds], layout="ntu25", num_frames=d.get("num_frames", 64), persons=2)

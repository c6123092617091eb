"""Run configurations: one YAML file, merged, overridden and checked, -> a :class:`RunConfig` (its data sets
and model are built by :mod:`skelnb.build`, which also says what the recipe does with the frames).

A configuration (``skelnb/configs/*.yaml``, shipped with the package; ``book/configs`` in a
clone; ``skelnb train NAME`` finds one by name) has five sections; every key is checked, unknown
ones are errors::

    name: ntu60-xsub/sem-joint      # the run folder, under $SKELNB_RUNS (default ./runs)
    base: _paper_recipe.yaml        # optional: a file merged *under* this one (path relative to it)
    data:                           # see DATA_KEYS
      source: cache                 # 'cache' (python -m skelnb.data.cache) | 'pyskl' | 'ctrgcn-npz' | 'synthetic'
      cache: cache/ntu60            # relative to data.root ($SKELNB_DATA, else ./data)
      benchmark: ntu60-xsub         # ntu60-xsub | ntu60-xview | ntu120-xsub | ntu120-xset(-paper) | shrec
      num_frames: 128
      window: 150                   # training crops num_frames / window of the valid frames
    model: {name: sem, size: paper, stream: joint}     # other keys override the model's config
    train: {epochs: 120, batch_size: 32, lr: 0.1, ...}  # TrainConfig fields
    distributed: {sync_bn: true}    # several GPUs: BatchNorm statistics over the global batch

``--set key=value`` (``python -m skelnb train CONFIG --set train.epochs=5 data.root=/data``)
overrides any key; the value is read as YAML (numbers, booleans, lists ``[60, 90]``).
"""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import yaml

from .train import TrainConfig, runs_root

SECTIONS = ("name", "base", "data", "model", "train", "distributed")
DATA_KEYS = {
    "source": "'cache' | 'pyskl' (annotation pickle) | 'ctrgcn-npz' (NTU60_CS.npz-style) | 'synthetic'",
    "file": "pyskl / ctrgcn-npz: the file (relative to root)",
    "allow_pickle": "pyskl: true to unpickle the file (restricted to containers and numpy arrays; "
                    "only for files you trust)",
    "root": "data root for a relative 'cache' (default $SKELNB_DATA, else ./data)",
    "cache": "cache folder built by python -m skelnb.data.cache (relative to root)",
    "benchmark": "ntu60-xsub | ntu60-xview | ntu120-xsub | ntu120-xset (official: even setups train) | "
                 "ntu120-xset-paper (odd setups train, as the paper and the authors' code) | shrec (cache); "
                 "xsub | xview (synthetic)",
    "classes": "SHREC'17 protocol: 14 or 28",
    "subjects": "synthetic: number of subjects (1..n) or a list of subject ids",
    "num_frames": "frames per sample fed to the model",
    "window": "training crop = num_frames / window of the valid frames (null: the augment's crop range)",
    "test_frames": "'centre' (default: the centred num_frames / window of the valid frames, the "
                   "training scale) or 'full' (the whole valid span)",
    "stream": "'joint' or 'bone' vectors computed by the data pipeline (SEM-Net's bone stream "
              "converts inside the model instead: model.stream)",
    "center": "'auto' (default: centre unless the source is centred already), 'first', 'mean' or null "
              "(see SkeletonDataset)",
    "augment": "null (none) or {crop: [lo, hi], rotate: rad, scale: [lo, hi]} (Augment fields)",
}
MODEL_NAMES = ("sem", "spa")                # model.name: one builder each in skelnb.build.MODEL_BUILDERS
MODEL_SIZES = ("paper", "quick")
SOURCES = ("cache", "pyskl", "ctrgcn-npz", "synthetic")
TEST_FRAMES = ("centre", "full")
CENTERS = ("auto", "first", "mean", None)


# ----------------------------------------------------------------------------- loading
class ConfigError(ValueError):
    """A configuration file or ``--set`` override that is not valid; the message names it."""


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, reading ``1e-3`` / ``5E-4`` as floats (YAML 1.2; PyYAML's YAML 1.1
    rules want a dot, ``1.0e-3``, and return the text '1e-3' otherwise)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    __import__("re").compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789"))


def _yaml(text: str):
    return yaml.load(text, Loader=_Loader)


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def _read_yaml(path: Path, seen=()) -> dict:
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        raw = _yaml(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({e})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a config must be a mapping of sections {SECTIONS}")
    if "base" in raw:
        base = (path.parent / str(raw.pop("base"))).resolve()
        if base in seen:
            raise ConfigError(f"{path}: 'base' includes itself ({base})")
        raw = _merge(_read_yaml(base, seen + (path.resolve(),)), raw)
    return raw


def parse_override(item: str) -> tuple[list[str], object]:
    """``"train.epochs=5"`` -> (["train", "epochs"], 5); the value is parsed as YAML."""
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected key=value, e.g. train.epochs=5")
    key, value = item.split("=", 1)
    parts = key.strip().split(".")
    if not all(parts) or parts[0] not in SECTIONS:
        raise ConfigError(f"--set {item!r}: the key must start with one of {SECTIONS}")
    try:
        return parts, _yaml(value)
    except yaml.YAMLError as e:
        raise ConfigError(f"--set {item!r}: value is not valid YAML ({e})") from None


def apply_overrides(raw: dict, overrides=()) -> dict:
    raw = copy.deepcopy(raw)
    for item in overrides:
        parts, value = parse_override(item)
        d = raw
        for p in parts[:-1]:
            if d.get(p) is None:
                d[p] = {}
            if not isinstance(d[p], dict):
                raise ConfigError(f"--set {item!r}: {p!r} is not a section")
            d = d[p]
        d[parts[-1]] = value
    return raw


@dataclass
class RunConfig:
    """A resolved configuration (base merged, overrides applied, checked)."""
    raw: dict
    path: Path | None = None

    @property
    def name(self) -> str:
        return str(self.raw["name"])

    @property
    def data(self) -> dict:
        return self.raw["data"]

    @property
    def model(self) -> dict:
        return self.raw["model"]

    @property
    def distributed(self) -> dict:
        return self.raw.get("distributed") or {}

    @property
    def train(self) -> TrainConfig:
        t = dict(self.raw.get("train") or {})
        if "milestones" in t:
            t["milestones"] = tuple(t["milestones"])
        return TrainConfig(**t)

    def run_dir(self, out: str | os.PathLike | None = None) -> Path:
        """``out`` if given, else ``$SKELNB_RUNS/<name>``."""
        return Path(out) if out is not None else runs_root() / self.name

    def identity(self) -> dict:
        """What decides the result: everything but where the data lies (data.root)."""
        raw = copy.deepcopy(self.raw)
        raw["data"].pop("root", None)
        return raw

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.raw, sort_keys=False)


def load_config(path: str | os.PathLike, overrides=()) -> RunConfig:
    """Read a YAML config (merging its ``base``), apply ``key=value`` overrides, check it.
    ``path``: a file, or the bare name of a config shipped in ``skelnb/configs``."""
    from .configs import find_config
    path = find_config(path)
    raw = apply_overrides(_read_yaml(path), overrides)
    raw.setdefault("name", path.stem)
    return check(RunConfig(raw, path))


def from_dict(raw: dict, overrides=()) -> RunConfig:
    return check(RunConfig(apply_overrides(raw, overrides)))


# ----------------------------------------------------------------------------- value checks
def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _is_num(v) -> bool:
    return (_is_int(v) or isinstance(v, (float, np.floating))) and bool(np.isfinite(v))


def _milestones(v) -> bool:
    return isinstance(v, (list, tuple)) and all(_is_int(m) and m >= 0 for m in v)


# TrainConfig field -> (test of the value, what is allowed); checked before anything is built
TRAIN_RULES = {
    "epochs": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "batch_size": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "lr": (lambda v: _is_num(v) and v > 0, "a finite number > 0"),
    "momentum": (lambda v: _is_num(v) and 0 <= v <= 1, "a number in [0, 1]"),
    "nesterov": (lambda v: isinstance(v, bool), "true or false"),
    "weight_decay": (lambda v: _is_num(v) and v >= 0, "a finite number >= 0"),
    "warmup_epochs": (lambda v: _is_num(v) and v >= 0, "a finite number >= 0"),
    "milestones": (_milestones, "a list of integer epochs >= 0, e.g. [60, 90]"),
    "gamma": (lambda v: _is_num(v) and v > 0, "a finite number > 0"),
    "label_smoothing": (lambda v: _is_num(v) and 0 <= v < 1, "a number in [0, 1)"),
    "seed": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    "amp": (lambda v: isinstance(v, bool), "true or false"),
    "num_workers": (lambda v: _is_int(v) and v >= 0, "an integer >= 0 (0: load in the training process)"),
    "eval_batch_size": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "eval_every": (lambda v: _is_int(v) and v >= 0, "an integer >= 0 (0: the last epoch only)"),
    "global_lr": (lambda v: _is_num(v) and v > 0, "a finite number > 0"),
}
# data key -> (test, what is allowed), for the keys whose values are plain settings
DATA_RULES = {
    "num_frames": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "window": (lambda v: v is None or (_is_num(v) and v > 0), "null or a number of frames > 0"),
    "classes": (lambda v: _is_int(v) and v in (14, 28), "14 or 28"),
    "stream": (lambda v: v in ("joint", "bone"), "'joint' or 'bone'"),
    "allow_pickle": (lambda v: isinstance(v, bool), "true or false"),
    "benchmark": (lambda v: isinstance(v, str) and v, "a benchmark name (text)"),
    "subjects": (lambda v: (_is_int(v) and v >= 1)
                 or (isinstance(v, list) and v and all(_is_int(s) and s >= 1 for s in v)),
                 "an integer >= 1 or a list of subject ids >= 1"),
    "file": (lambda v: isinstance(v, (str, os.PathLike)) and str(v), "a file path (text)"),
    "cache": (lambda v: isinstance(v, (str, os.PathLike)) and str(v), "a folder path (text)"),
    "root": (lambda v: v is None or (isinstance(v, (str, os.PathLike)) and str(v)), "null or a folder path (text)"),
}


def _check_values(where: str, section: str, values: dict, rules: dict) -> None:
    for k, (ok, allowed) in rules.items():
        if k in values and not ok(values[k]):
            raise ConfigError(f"{where}: {section}.{k}={values[k]!r} is not allowed: expected {allowed}")


def check(cfg: RunConfig) -> RunConfig:
    """Every section and key known, values of the right kind; errors name the file and key."""
    where = str(cfg.path) if cfg.path else "config"
    raw = cfg.raw
    bad = sorted(set(raw) - set(SECTIONS))
    if bad:
        raise ConfigError(f"{where}: unknown section(s) {bad}; sections are {SECTIONS}")
    for sec in ("data", "model"):
        if not isinstance(raw.get(sec), dict):
            raise ConfigError(f"{where}: section {sec!r} is missing or not a mapping")
    bad = sorted(set(raw["data"]) - set(DATA_KEYS))
    if bad:
        raise ConfigError(f"{where}: unknown data key(s) {bad}; known: " +
                          "; ".join(f"{k}: {v}" for k, v in DATA_KEYS.items()))
    src = raw["data"].get("source")
    if src not in SOURCES:
        raise ConfigError(f"{where}: data.source must be one of {SOURCES}, got {src!r}")
    if src == "cache" and not raw["data"].get("cache"):
        raise ConfigError(f"{where}: data.cache (the cache folder) is required for data.source: cache")
    if src in ("pyskl", "ctrgcn-npz") and not raw["data"].get("file"):
        raise ConfigError(f"{where}: data.file (the {src} file) is required for data.source: {src}")
    if raw["data"].get("test_frames", "centre") not in TEST_FRAMES:
        raise ConfigError(f"{where}: data.test_frames must be one of {TEST_FRAMES}, "
                          f"got {raw['data'].get('test_frames')!r}")
    if raw["data"].get("center", "auto") not in CENTERS:
        raise ConfigError(f"{where}: data.center must be one of {CENTERS}, got {raw['data'].get('center')!r}")
    _check_values(where, "data", raw["data"], DATA_RULES)
    d = raw["data"]
    if d.get("window") is not None and d["window"] < d.get("num_frames", 64):
        raise ConfigError(f"{where}: data.window={d['window']!r} is not allowed: expected >= data.num_frames="
                          f"{d.get('num_frames', 64)} (training crops num_frames / window of the frames)")
    if raw["model"].get("name") not in MODEL_NAMES:
        raise ConfigError(f"{where}: model.name must be one of {sorted(MODEL_NAMES)}, "
                          f"got {raw['model'].get('name')!r}")
    if raw["model"].get("size", "paper") not in MODEL_SIZES:
        raise ConfigError(f"{where}: model.size must be one of {MODEL_SIZES}, got {raw['model'].get('size')!r}")
    t = raw.get("train") or {}
    if not isinstance(t, dict):
        raise ConfigError(f"{where}: section 'train' must be a mapping of TrainConfig fields")
    known = {f.name for f in fields(TrainConfig)}
    bad = sorted(set(t) - known)
    if bad:
        raise ConfigError(f"{where}: unknown train key(s) {bad}; TrainConfig fields are {sorted(known)}")
    _check_values(where, "train", t, TRAIN_RULES)
    try:
        cfg.train
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where}: train: {e}") from None
    bad = sorted(set(cfg.distributed) - {"sync_bn"})
    if bad:
        raise ConfigError(f"{where}: unknown distributed key(s) {bad}; known: ['sync_bn']")
    return cfg

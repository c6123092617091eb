"""``skelnb predict CHECKPOINT FILE.skeleton``: the top classes a trained run gives a user's own
NTU ``.skeleton`` file.

The file takes exactly the path of a test sample: it is parsed and preprocessed by the cache
builder (with the training cache's settings where that cache is at hand, else the builder's
defaults) into a one-sample cache in a temporary folder, under a sample name that falls in the
run's test split, and read back through the run's own config (:func:`skelnb.build.build_data`),
so body selection, centring, frame sampling and the bone stream are those of the test set.
"""
from __future__ import annotations

import copy
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch

from . import build
from . import config as C
from .data.ntu_actions import describe_class
from .train import CheckpointError, load_checkpoint


class PredictError(ValueError):
    """A checkpoint, run folder or skeleton file predict cannot use; the message says why."""


def _run_of(target: str | Path) -> tuple[Path, Path]:
    """(run folder, checkpoint file) of a run folder or of a checkpoint file inside one."""
    p = Path(target)
    run, ckpt = (p, p / "checkpoint.pt") if p.is_dir() else (p.parent, p)
    if not ckpt.is_file():
        raise PredictError(f"predict: {ckpt}: no checkpoint (train the run first)")
    return run, ckpt


def _test_name(benchmark: str, dataset: str) -> str:
    """An NTU sample name that ``benchmark`` puts in its test split."""
    from .data import ntu
    for s in range(1, 3):
        for c in range(1, 4):
            for p in range(1, 11):
                name = ntu.parse_name(f"S{s:03d}C{c:03d}P{p:03d}R001A001")
                if ntu.in_dataset(name, dataset) and not ntu.is_train(name, benchmark):
                    return str(name)
    raise PredictError(f"predict: found no test-split sample name for {benchmark}")


def _preprocess_config(cfg: C.RunConfig):
    """The training cache's preprocessing settings (None if that cache is not here)."""
    from .data.cache import load_cache
    from .data.preprocess import PreprocessConfig
    if cfg.data.get("source") != "cache" or not cfg.data.get("cache"):
        return None
    path = Path(cfg.data["cache"])
    if not path.is_absolute():
        path = build.data_root(cfg.data) / path
    try:
        meta = load_cache(path).meta
    except Exception:  # noqa: BLE001 -- not at hand (or unreadable): the builder's defaults
        return None
    return PreprocessConfig(**meta["settings"]["config"])


def load_run_model(target: str | Path, device: str = "cpu"):
    """(model in eval mode, run config, checkpoint state) of a run folder or checkpoint."""
    run, ckpt = _run_of(target)
    state = load_checkpoint(ckpt)
    if (run / "config.yaml").is_file():
        cfg = C.load_config(run / "config.yaml")
    elif isinstance(state.get("run_config"), dict):             # the copy every checkpoint carries
        cfg = C.from_dict(state["run_config"])
    else:
        raise PredictError(f"predict: {run}: no config.yaml next to {ckpt.name} (and the checkpoint, from an "
                           f"older skelnb, carries no config); predict needs the run folder `skelnb train` wrote")
    exp = build.expected_data(cfg)
    model = build.build_model(cfg, num_classes=exp["num_classes"], layout=exp["layout"], num_frames=exp["num_frames"])
    try:
        model.load_state_dict(state["model"])
    except (RuntimeError, KeyError) as e:
        raise CheckpointError(f"{ckpt}: its weights do not fit the model of {run / 'config.yaml'} "
                              f"({str(e).splitlines()[0]})") from None
    return model.to(device).eval(), cfg, state


def sample_of(cfg: C.RunConfig, skeleton: str | Path) -> tuple[torch.Tensor, dict]:
    """The model input (C, T, V, M) of one ``.skeleton`` file under the run's test-time pipeline."""
    from .data.cache import build_ntu_cache
    from .data.preprocess import PreprocessConfig
    src = Path(skeleton)
    if not src.is_file():
        raise PredictError(f"predict: {src}: no such file")
    bench = str(cfg.data.get("benchmark", ""))
    if cfg.data.get("source") == "synthetic" or bench.split("-")[0] not in build.NTU_CLASSES:
        raise PredictError(f"predict reads NTU .skeleton files; this run trained on {cfg.data.get('source')} "
                           f"data ({bench or 'no benchmark'})")
    dataset = bench.split("-")[0]
    pcfg = _preprocess_config(cfg)
    if pcfg:
        note = "the training cache's preprocessing"
    elif cfg.data.get("source") == "cache":
        note = "the cache builder's default preprocessing (the training cache is not here)"
    else:
        note = (f"skelnb's cache-builder preprocessing (the run trained on {cfg.data['source']} files, "
                f"whose own preprocessing may differ)")
    raw = copy.deepcopy(cfg.raw)
    for k in ("file", "allow_pickle"):
        raw["data"].pop(k, None)
    raw["data"]["source"] = "cache"
    tmp = Path(tempfile.mkdtemp(prefix="skelnb-predict-"))
    try:
        name = _test_name(bench, dataset)
        (tmp / "raw").mkdir()
        shutil.copyfile(src, tmp / "raw" / f"{name}.skeleton")
        cache = build_ntu_cache(tmp / "raw", tmp / "cache", dataset, pcfg or PreprocessConfig(), workers=1,
                                progress=False)
        if len(cache) == 0:
            why = "; ".join(str(s) for s in cache.meta.get("skipped", [])) or "no usable body"
            raise PredictError(f"predict: {src}: nothing to classify ({why})")
        run_cfg = C.from_dict(raw, [f"data.cache={tmp / 'cache'}", f"data.root={tmp}"])
        data = build.build_data(run_cfg)
        x, _ = data.test[0]
        info = dict(frames=int(cache.lengths[0]), bodies=int((np.abs(cache.data[0]).sum((0, 1, 2)) > 0).sum()),
                    preprocessing=note)
        return x, info
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@torch.no_grad()
def predict(target: str | Path, skeleton: str | Path, top: int = 5, device: str = "cpu") -> dict:
    """Softmax scores of one file: ``dict(top=[(class name, probability), ...], scores, ...)``."""
    model, cfg, state = load_run_model(target, device)
    x, info = sample_of(cfg, skeleton)
    p = torch.softmax(model(x[None].to(device)).float(), 1)[0].cpu().numpy().astype(np.float64)
    n = len(p)
    names = [f"A{k + 1:03d}" for k in range(n)]
    order = np.argsort(-p)[:max(1, min(top, n))]
    return dict(top=[(describe_class(names[k]), float(p[k])) for k in order], scores=p, epoch=state["epoch"],
                epochs=cfg.train.epochs, run=cfg.name, **info)


def predict_files(target, files, top: int = 5, device: str = "cpu", say=print) -> list[dict]:
    """Print the ``top`` classes of each file; the class named in an NTU file name is marked."""
    from .data import ntu
    out = []
    for f in files:
        r = predict(target, f, top, device)
        say(f"{f}: {r['bodies']} bod{'y' if r['bodies'] == 1 else 'ies'}, {r['frames']} frames, "
            f"{r['preprocessing']}; run {r['run']} after epoch {r['epoch']} of {r['epochs']}")
        try:
            truth = describe_class(f"A{ntu.parse_name(f).action:03d}")
        except Exception:  # noqa: BLE001 -- a user's own file name need not be an NTU name
            truth = None
        width = max(len(n) for n, _ in r["top"])
        for i, (name, prob) in enumerate(r["top"], 1):
            mark = "  <- the file name's class" if name == truth else ""
            say(f"  {i}. {name:<{width}}  {100 * prob:5.1f} %{mark}")
        if truth and truth not in [n for n, _ in r["top"]]:
            say(f"  (the file name's class, {truth}, is not among the top {len(r['top'])})")
        out.append(r)
    return out

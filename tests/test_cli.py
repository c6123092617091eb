"""The command line end to end on tiny synthetic data, config files, and its clear errors."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from skelnb import cli
from skelnb import config as C
from skelnb.build import MODEL_BUILDERS, build_data, build_model, expected_data
from skelnb.evaluate import EvalResult
from skelnb.flops import count_params
from skelnb.paper import PAPER_RESULTS

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted(p for p in (ROOT / "skelnb" / "configs").glob("*.yaml") if not p.name.startswith("_"))
# a tiny version of the quick configs: 3 subjects (168 train / 84 test), 16 frames, 2 blocks
TINY = ["data.subjects=3", "data.num_frames=16", "model.width=8", "model.depth=2", "train.epochs=2",
        "train.batch_size=24"]


# the command line runs in this process with --threads 1 (steady on a shared machine); the
# conftest fixture restores the thread count afterwards
pytestmark = pytest.mark.usefixtures("one_thread")


def _main(capsys, *argv):
    argv = [str(a) for a in argv]
    if argv[0] in ("train", "evaluate"):
        argv[1:1] = ["--threads", "1"]
    code = cli.main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def runs(tmp_path, monkeypatch):
    monkeypatch.setenv("SKELNB_RUNS", str(tmp_path / "runs"))
    return tmp_path / "runs"


# ----------------------------------------------------------------------------- config files
@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_config_parses_and_builds_its_model(path):
    cfg = C.load_config(path)
    assert cfg.train.epochs >= 1 and cfg.name
    if cfg.model["name"] == "spa":
        pytest.importorskip("skelnb.spa.net")
    exp = expected_data(cfg)
    with torch.device("meta"):                 # shapes only: paper-size models cost no memory
        model = build_model(cfg, num_classes=exp["num_classes"], layout=exp["layout"],
                            num_frames=exp["num_frames"])
    n = count_params(model)
    assert n > 0 and model.fc.out_features == exp["num_classes"]
    if cfg.model["name"] == "spa":
        from skelnb.spa.net import SPAConfig
        assert model.config.kind == cfg.model["kind"]
        if cfg.model.get("size", "paper") == "paper":     # the SPA default's frames and crop ratio
            assert cfg.data["num_frames"] == SPAConfig().num_frames
    if path.name.startswith("ntu60-xsub_sem-joint"):
        assert n == pytest.approx(4.95e6, rel=0.01)        # the calibrated paper-size SEM-Net
    if not path.name.startswith("quick"):                 # the paper recipe
        t = cfg.train
        assert (t.lr, t.weight_decay, t.nesterov, t.warmup_epochs, t.milestones, t.epochs, t.batch_size) == \
            (0.1, 5e-4, True, 5, (60, 90), 120, 32)
        assert cfg.name == path.stem.replace("_", "/")
        assert cfg.data["num_frames"] / cfg.data["window"] == pytest.approx(128 / 150)


def test_every_paper_number_has_its_configs():
    stems = {p.stem for p in CONFIGS}
    for r in PAPER_RESULTS:
        for s in r.streams:
            assert f"{r.benchmark}_{s}" in stems, (r, s)


def test_overrides_base_and_errors(tmp_path):
    cfg = C.load_config(ROOT / "skelnb/configs/quick_sem-bone.yaml", ["train.epochs=3", "train.milestones=[1, 2]",
                                                                   "data.root=/x"])
    assert cfg.model["stream"] == "bone" and cfg.data["num_frames"] == 32        # merged from its base
    assert cfg.train.epochs == 3 and cfg.train.milestones == (1, 2) and cfg.data["root"] == "/x"
    assert "root" not in cfg.identity()["data"]
    with pytest.raises(C.ConfigError, match="expected key=value"):
        C.load_config(ROOT / "skelnb/configs/quick_sem-joint.yaml", ["train.epochs"])
    with pytest.raises(C.ConfigError, match=r"unknown train key\(s\) \['epoch'\]"):
        C.load_config(ROOT / "skelnb/configs/quick_sem-joint.yaml", ["train.epoch=3"])
    with pytest.raises(C.ConfigError, match="must start with one of"):
        C.load_config(ROOT / "skelnb/configs/quick_sem-joint.yaml", ["trian.epochs=3"])
    with pytest.raises(C.ConfigError, match=r"unknown data key\(s\) \['frames'\]"):
        C.load_config(ROOT / "skelnb/configs/quick_sem-joint.yaml", ["data.frames=3"])
    with pytest.raises(C.ConfigError, match="schedule must be"):
        C.load_config(ROOT / "skelnb/configs/quick_sem-joint.yaml", ["train.schedule=linear"])
    with pytest.raises(C.ConfigError, match="model.name must be one of"):
        C.load_config(ROOT / "skelnb/configs/quick_sem-joint.yaml", ["model.name=gcn"])
    assert sorted(MODEL_BUILDERS) == sorted(C.MODEL_NAMES)           # every name the check allows can be built
    (tmp_path / "bad.yaml").write_text("data: [1, 2\n")
    with pytest.raises(C.ConfigError, match="bad.yaml: not valid YAML"):
        C.load_config(tmp_path / "bad.yaml")
    with pytest.raises(C.ConfigError, match="config file not found"):
        C.load_config(tmp_path / "none.yaml")
    cfg = C.load_config(ROOT / "skelnb/configs/quick_sem-joint.yaml", ["model.widht=8"])
    with pytest.raises(C.ConfigError, match="widht"):
        build_model(cfg, num_classes=14, layout="ntu25", num_frames=16)


def test_cache_configs_read_the_cache_builder_output(tmp_path):
    from skelnb.data.cache import build_ntu_cache
    build_ntu_cache(ROOT / "tests/fixtures/ntu/nturgb+d_skeletons", tmp_path / "cache/ntu60", "ntu60",
                    workers=1, progress=False)
    cfg = C.load_config(ROOT / "skelnb/configs/ntu60-xsub_sem-joint.yaml", [f"data.root={tmp_path}"])
    d = build_data(cfg)
    assert d.num_classes == 60 and d.layout == "ntu25" and d.num_frames == 128
    assert len(d.train) + len(d.test) == 3                       # 4 fixture files, one without a body
    assert all(n[8:12] == "P003" for n in d.test_ids)           # P003 is not a training subject
    x, y = d.train[0]
    assert tuple(x.shape) == (3, 128, 25, 2)
    with pytest.raises(C.ConfigError, match="caches ntu60; use one of ntu60-xsub"):
        build_data(C.load_config(ROOT / "skelnb/configs/ntu120-xsub_sem-joint.yaml",
                                 [f"data.root={tmp_path}", "data.cache=cache/ntu60"]))
    with pytest.raises(C.ConfigError, match="no cache here.*data.root="):
        build_data(C.load_config(ROOT / "skelnb/configs/ntu60-xview_sem-joint.yaml", [f"data.root={tmp_path}/x"]))


# ----------------------------------------------------------------------------- end to end
def test_train_evaluate_fuse_end_to_end(runs, capsys):
    joint, bone = ROOT / "skelnb/configs/quick_sem-joint.yaml", ROOT / "skelnb/configs/quick_sem-bone.yaml"
    code, out, err = _main(capsys, "train", joint, bone, "--quiet", "--set", *TINY)
    assert code == 0, err
    for s in ("sem-joint", "sem-bone"):
        d = runs / "quick" / s
        assert {"config.yaml", "checkpoint.pt", "scores.npz", "result.json", "run.json", "confusion.csv"} <= \
            {p.name for p in d.iterdir()}
        info = json.loads((d / "run.json").read_text())
        assert info["trained_epochs_this_call"] == 2 and len(info["history"]) == 2
        assert {"samples_per_s", "loader_s_per_step", "step_s"} <= set(info["history"][0])
    assert out.count("epoch   2/2") == 2 and "top-1" in out and "samples/s" in out
    res = EvalResult.load(runs / "quick/sem-joint")
    data = build_data(C.load_config(joint, TINY))
    assert res.ids is not None and list(res.ids) == list(data.test_ids)
    assert res.scores.shape == (len(data.test), data.num_classes)

    code, out, err = _main(capsys, "evaluate", runs / "quick/sem-joint", joint, "--set", *TINY)
    assert code == 0, err
    assert out.count("top-1") == 2 and "per-class accuracy" in out and "stand up" in out
    again = EvalResult.load(runs / "quick/sem-joint")
    assert np.allclose(again.scores, res.scores, atol=1e-6)         # evaluation repeats the final one

    code, out, err = _main(capsys, "fuse", runs / "quick/sem-joint", runs / "quick/sem-bone",
                           "--out", runs / "quick/sem-fuse")
    assert code == 0, err
    a, b = EvalResult.load(runs / "quick/sem-joint"), EvalResult.load(runs / "quick/sem-bone")
    fused = EvalResult.load(runs / "quick/sem-fuse")
    assert np.allclose(fused.scores, (a.scores + b.scores) / 2)
    assert f"{100 * fused.top1:7.2f}" in out.splitlines()[3] and "fused" in out

    # a finished run is reused with --resume (not retrained); without --resume it is an error
    code, out, err = _main(capsys, "train", joint, "--resume", "--quiet", "--set", *TINY)
    assert code == 0 and "finished run reused" in out
    code, out, err = _main(capsys, "train", joint, "--quiet", "--set", *TINY)
    assert code == 2 and "already holds a run" in err and "--resume" in err
    code, out, err = _main(capsys, "train", joint, "--resume", "--quiet", "--set", *TINY, "train.lr=0.2")
    assert code == 2 and "started with another config (train.lr: 0.05 -> 0.2)" in err


def test_bad_checkpoints_and_runs_are_clear_errors_on_the_command_line(runs, capsys, tmp_path):
    joint = ROOT / "skelnb/configs/quick_sem-joint.yaml"
    assert _main(capsys, "train", joint, "--quiet", "--set", *TINY, "train.epochs=1")[0] == 0
    run = runs / "quick/sem-joint"
    ck = run / "checkpoint.pt"
    blob = ck.read_bytes()
    ck.write_bytes(blob[: len(blob) // 2])
    code, out, err = _main(capsys, "evaluate", run)
    assert code == 2 and "checkpoint.pt: not a readable checkpoint" in err and "truncated" in err
    code, out, err = _main(capsys, "train", joint, "--resume", "--quiet", "--set", *TINY, "train.epochs=1")
    assert code == 2 and "not a readable checkpoint" in err
    torch.save({"state_dict": {}}, ck)
    code, out, err = _main(capsys, "evaluate", run)
    assert code == 2 and "not a skelnb checkpoint" in err
    code, out, err = _main(capsys, "evaluate", tmp_path)
    assert code == 2 and "not a run folder" in err
    code, out, err = _main(capsys, "evaluate", joint, "--out", tmp_path / "empty")
    assert code == 2 and "no checkpoint.pt; train first" in err
    # runs of different splits cannot be fused
    EvalResult(np.full((3, 2), 0.5), np.array([0, 1, 1])).save(tmp_path / "x")
    EvalResult(np.full((3, 2), 0.5), np.array([0, 1, 0])).save(tmp_path / "y")
    code, out, err = _main(capsys, "fuse", tmp_path / "x", tmp_path / "y")
    assert code == 2 and "labels disagree at sample 2" in err


def test_python_dash_m_entry_point(tmp_path):
    EvalResult(np.array([[0.9, 0.1], [0.4, 0.6]]), np.array([0, 0])).save(tmp_path / "a")
    EvalResult(np.array([[0.2, 0.8], [0.7, 0.3]]), np.array([0, 0])).save(tmp_path / "b")
    p = subprocess.run([sys.executable, "-m", "skelnb", "fuse", str(tmp_path / "a"), str(tmp_path / "b"),
                        "--weights", "1", "3"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    # sample 0: 0.375 vs 0.625 (wrong), 1: 0.625 vs 0.375
    assert lines[-2].split()[:4] == ["fused", "4.00", "50.00", "100.00"]
    p = subprocess.run([sys.executable, "-m", "skelnb", "train", "nope.yaml"], capture_output=True, text=True,
                       cwd=ROOT, timeout=60)
    assert p.returncode == 2 and "nope.yaml: config file not found" in p.stderr


# ----------------------------------------------------------------------------- evaluation protocol, run tooling
def test_last_and_best_epoch_metrics_log_and_report(runs, capsys, tmp_path):
    from skelnb.train import read_metrics
    joint = ROOT / "skelnb/configs/quick_sem-joint.yaml"
    sets = [*TINY, "train.epochs=3", "train.eval_every=1"]
    code, out, err = _main(capsys, "train", joint, "--quiet", "--set", *sets)
    assert code == 0, err
    run = runs / "quick/sem-joint"
    assert {"scores_last.npz", "scores_best.npz", "checkpoint_best.pt", "metrics.jsonl"} <= {
        p.name for p in run.iterdir()}
    info = json.loads((run / "result.json").read_text())
    rows = read_metrics(run)
    assert [r["epoch"] for r in rows] == [1, 2, 3] and all("test_top1" in r and "test_mean_class" in r for r in rows)
    best_epoch = 1 + int(np.argmax([r["test_top1"] for r in rows]))
    assert info["best"]["epoch"] == best_epoch and info["best"]["selected_on"] == "test set"
    assert info["top1"] == rows[-1]["test_top1"] and info["mean_class"] == rows[-1]["test_mean_class"]
    assert len(info["class_names"]) == len(info["per_class"])
    # last first, then the best, labelled as selected on the test set
    i_test, i_best = out.index("test    top-1"), out.index("best    top-1")
    assert i_test < i_best and "selected on the test set" in out[i_best:] and out.count("test top-1") == 3

    saved_best = EvalResult.load(run / "scores_best.npz")
    (run / "scores_best.npz").unlink()
    code, out, err = _main(capsys, "evaluate", run, "--which", "best")
    assert code == 0, err
    assert "checkpoint_best.pt" in out and "optimistic" in out
    assert np.allclose(EvalResult.load(run / "scores_best.npz").scores, saved_best.scores, atol=1e-6)
    again = json.loads((run / "result.json").read_text())
    assert again["best"]["top1"] == pytest.approx(info["best"]["top1"]) and again["top1"] == info["top1"]
    code, out, err = _main(capsys, "evaluate", run)
    assert code == 0 and json.loads((run / "result.json").read_text())["best"]["epoch"] == best_epoch

    code, out, err = _main(capsys, "fuse", run, run, "--which", "best")
    assert code == 0, err
    assert "optimistic" in out and f"{100 * info['best']['top1']:7.2f}" in out.splitlines()[-2]

    # eval_every decides what is measured, not what is trained: a finished run resumes with another
    code, out, err = _main(capsys, "train", joint, "--resume", "--quiet", "--set", *sets[:-1], "train.eval_every=2")
    assert code == 0 and "finished run reused" in out, err

    # a run without a best checkpoint (from before periodic evaluation) says so
    (run / "checkpoint_best.pt").rename(tmp_path / "kept.pt")
    code, out, err = _main(capsys, "evaluate", run, "--which", "best")
    assert code == 2 and "no checkpoint_best.pt" in err and "--which last" in err
    (tmp_path / "kept.pt").rename(run / "checkpoint_best.pt")

    code, out, err = _main(capsys, "report", run, "--out", tmp_path / "r.html")
    assert code == 0, err
    page = (tmp_path / "r.html").read_text()
    assert page.count("Plotly.newPlot") == 3 and '<script src="http' not in page
    assert "training loss" in page and "per-class test accuracy" in page and "confusion matrix" in page
    assert info["class_names"][0] in page and "selected on the test set" in page
    assert len(page) > 1_000_000                                   # plotly.js inlined: opens offline
    code, out, err = _main(capsys, "report", tmp_path / "nothing")
    assert code == 2 and "no such run folder" in err


def test_tensorboard_is_optional_and_logs_every_epoch(runs, capsys, monkeypatch):
    import importlib.util
    import types
    joint = ROOT / "skelnb/configs/quick_sem-joint.yaml"
    if importlib.util.find_spec("tensorboard") is None:
        code, out, err = _main(capsys, "train", joint, "--quiet", "--tensorboard", "--set", *TINY)
        assert code == 2 and "--tensorboard needs the tensorboard package" in err and "pip install tensorboard" in err
    logged = []

    class Writer:                                    # stands in for torch.utils.tensorboard.SummaryWriter
        def __init__(self, log_dir):
            logged.append(("dir", log_dir))

        def add_scalar(self, tag, value, step):
            logged.append((tag, step))

        def flush(self):
            pass

        def close(self):
            logged.append(("closed", None))

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", types.SimpleNamespace(SummaryWriter=Writer))
    code, out, err = _main(capsys, "train", joint, "--quiet", "--tensorboard", "--set", *TINY, "train.eval_every=1")
    assert code == 0, err
    assert logged[0] == ("dir", str(runs / "quick/sem-joint" / "tensorboard")) and logged[-1][0] == "closed"
    assert {("train/loss", 1), ("train/loss", 2), ("test/top1", 1), ("test/top1", 2),
            ("test/mean_class", 2)} <= set(logged)


def test_skelnb_console_script(tmp_path):
    import tomllib
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]["skelnb"] == "skelnb.cli:main"
    script = Path(sys.executable).with_name("skelnb")
    if not script.exists():
        pytest.skip("skelnb is not pip-installed in this environment (pip install -e . makes the script)")
    EvalResult(np.array([[0.9, 0.1], [0.4, 0.6]]), np.array([0, 0])).save(tmp_path / "a")
    p = subprocess.run([str(script), "fuse", str(tmp_path / "a"), str(tmp_path / "a")], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0 and p.stdout.splitlines()[-2].split()[:3] == ["fused", "2.00", "50.00"], p.stderr
    p = subprocess.run([str(script), "train", str(tmp_path / "nope.yaml")], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "nope.yaml: config file not found" in p.stderr


def test_shipped_configs_by_bare_name_and_as_package_data(tmp_path, monkeypatch):
    import tomllib
    from skelnb.configs import DIR, find_config, names
    assert DIR == ROOT / "skelnb" / "configs" and "ntu60-xsub_sem-joint" in names() and "_paper_recipe" not in names()
    assert {p.stem for p in CONFIGS} == set(names())
    monkeypatch.chdir(tmp_path)                        # no clone around: names resolve inside the package
    for name in ("ntu60-xsub_sem-joint", "ntu60-xsub_sem-joint.yaml"):
        cfg = C.load_config(name)
        assert cfg.path == DIR / "ntu60-xsub_sem-joint.yaml" and cfg.name == "ntu60-xsub/sem-joint"
        assert cfg.train.epochs == 120 and cfg.train.milestones == (60, 90)     # its base merged from the package
    (tmp_path / "ntu60-xsub_sem-joint.yaml").write_text("name: mine\nbase: " + str(DIR / "_quick.yaml") +
                                                       "\nmodel: {name: sem, size: quick}\n")
    assert C.load_config("ntu60-xsub_sem-joint").name == "mine"                   # a file here wins
    assert find_config("_paper_recipe") == Path("_paper_recipe") and find_config("a/b") == Path("a/b")
    with pytest.raises(C.ConfigError, match="nope: config file not found"):
        C.load_config("nope")
    assert (ROOT / "book/configs/quick_sem-joint.yaml").is_file()                  # the clone's old path still works
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "*.yaml" in data["skelnb.configs"] and "*.txt" in data["skelnb.data"]

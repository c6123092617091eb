import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from skelnb.evaluate import EvalResult, evaluate
from skelnb.train import (CheckpointError, TrainConfig, fit, load_checkpoint, lr_at,
                          run_dir_for)


def _toy(n=48, k=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % k
    x = torch.randn(n, 4, generator=g) * 0.3 + nn.functional.one_hot(y, 4).float()
    return TensorDataset(x, y)


def _model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 3))


CFG = TrainConfig(epochs=4, batch_size=8, lr=0.1, warmup_epochs=1, schedule="cosine")


def test_schedule_warms_up_then_decays():
    cfg = TrainConfig(epochs=10, lr=1.0, warmup_epochs=2, schedule="step", milestones=(5, 8), gamma=0.1)
    assert lr_at(cfg, 0.0) < 0.01 and lr_at(cfg, 1.0) == pytest.approx(0.5, rel=1e-2)
    assert lr_at(cfg, 3) == 1.0 and lr_at(cfg, 6) == pytest.approx(0.1) and lr_at(cfg, 9) == pytest.approx(0.01)
    cos = TrainConfig(epochs=10, lr=1.0, warmup_epochs=0, schedule="cosine")
    assert lr_at(cos, 0) == pytest.approx(1.0) and lr_at(cos, 5) == pytest.approx(0.5) and lr_at(cos, 10) < 1e-9
    with pytest.raises(ValueError, match="schedule"):
        TrainConfig(schedule="linear")


def test_fit_learns_and_a_finished_run_is_reused(tmp_path):
    r = fit(_model(), _toy(), _toy(seed=1), CFG, tmp_path / "run", progress=False)
    assert r.trained_epochs == 4 and r.top1 > 0.9 and len(r.history) == 4
    assert (tmp_path / "run" / "checkpoint.pt").exists() and (tmp_path / "run" / "scores.npz").exists()
    again = fit(_model(seed=5), _toy(), _toy(seed=1), CFG, tmp_path / "run", progress=False)
    assert again.trained_epochs == 0 and np.allclose(again.final.scores, r.final.scores)


def test_a_reused_run_loads_its_scores_only_for_the_test_set_they_are_of(tmp_path, monkeypatch):
    import skelnb.train as T
    r = fit(_model(), _toy(), _toy(seed=1), CFG, tmp_path / "run", progress=False)
    calls = []
    monkeypatch.setattr(T, "evaluate", lambda *a, **k: calls.append(1) or evaluate(*a, **k))
    again = fit(_model(seed=5), _toy(), _toy(seed=1), CFG, tmp_path / "run", progress=False)
    assert calls == [] and np.array_equal(again.final.scores, r.final.scores)   # loaded, not evaluated
    other = _toy(seed=2)                        # same size and labels, other samples: evaluated
    o = fit(_model(seed=5), _toy(), other, CFG, tmp_path / "run", progress=False)
    assert calls == [1] and not np.allclose(o.final.scores, r.final.scores)
    m = _model()
    m.load_state_dict(load_checkpoint(tmp_path / "run" / "checkpoint.pt")["model"])
    assert np.allclose(o.final.scores, evaluate(m, other).scores)
    (tmp_path / "run" / "scores_last.npz").write_bytes(b"torn")   # damaged: evaluated again
    fit(_model(seed=5), _toy(), other, CFG, tmp_path / "run", progress=False)
    assert calls == [1, 1]


class _DiesAtEpoch(TensorDataset):
    """Training data whose loading fails when epoch ``die`` starts (a crash between epochs)."""
    def __init__(self, ds, die):
        super().__init__(*ds.tensors)
        self.die = die

    def set_epoch(self, epoch):
        if epoch == self.die:
            raise KeyboardInterrupt("killed")


def test_resume_after_a_crash_gives_the_same_result(tmp_path):
    full = fit(_model(), _toy(), _toy(seed=1), CFG, tmp_path / "a", progress=False)
    with pytest.raises(KeyboardInterrupt):
        fit(_model(), _DiesAtEpoch(_toy(), 2), _toy(seed=1), CFG, tmp_path / "b", progress=False)
    assert load_checkpoint(tmp_path / "b" / "checkpoint.pt")["epoch"] == 2
    resumed = fit(_model(seed=9), _toy(), _toy(seed=1), CFG, tmp_path / "b", progress=False)
    assert resumed.trained_epochs == 2
    assert np.allclose(resumed.final.scores, full.final.scores, atol=1e-6)
    assert [h["loss"] for h in resumed.history] == pytest.approx([h["loss"] for h in full.history])


def test_bad_checkpoints_are_clear_errors(tmp_path):
    fit(_model(), _toy(), None, CFG, tmp_path / "run", progress=False)
    ck = tmp_path / "run" / "checkpoint.pt"
    blob = ck.read_bytes()
    (tmp_path / "trunc.pt").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(CheckpointError, match="trunc.pt: not a readable checkpoint"):
        load_checkpoint(tmp_path / "trunc.pt")
    torch.save({"state_dict": {}}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not a skelnb checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    other = TrainConfig(**{**CFG.__dict__, "lr": 0.2})
    with pytest.raises(CheckpointError, match="another configuration"):
        fit(_model(), _toy(), None, other, tmp_path / "run", progress=False)
    assert not list((tmp_path / "run").glob(".*tmp*"))


def test_evaluate_metrics_and_scores_round_trip(tmp_path):
    scores = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.5, 0.4, 0.1], [0.2, 0.5, 0.3]])
    res = EvalResult(scores, np.array([0, 1, 1, 1]))
    assert res.top1 == 0.5 and res.topk(2) == 1.0
    assert res.confusion().tolist() == [[1, 0, 0], [1, 1, 1], [0, 0, 0]]
    pc = res.per_class()
    assert pc[0] == 1.0 and pc[1] == pytest.approx(1 / 3) and np.isnan(pc[2])
    res.save(tmp_path)
    back = EvalResult.load(tmp_path)
    assert np.array_equal(back.scores, res.scores) and np.array_equal(back.labels, res.labels)
    (tmp_path / "bad.npz").write_bytes(b"nope")
    with pytest.raises(ValueError, match="bad.npz: not a scores file"):
        EvalResult.load(tmp_path / "bad.npz")


def test_run_dir_pins_config_model_and_data(tmp_path, monkeypatch):
    monkeypatch.setenv("SKELNB_RUNS", str(tmp_path))
    a = run_dir_for("x", _model(), CFG, _toy())
    assert a == run_dir_for("x", _model(seed=3), CFG, _toy())         # init seed is not the identity
    assert a != run_dir_for("x", _model(), TrainConfig(epochs=5), _toy())
    assert a != run_dir_for("x", _model(), CFG, _toy(seed=2))
    assert a != run_dir_for("x", nn.Linear(4, 3), CFG, _toy())
    assert a.parent.parent == tmp_path


# ----------------------------------------------------------------------------- evaluation protocol
def test_eval_schedule_every_n_the_last_third_and_the_last_epoch():
    from skelnb.train import eval_epochs
    assert eval_epochs(TrainConfig(epochs=12, eval_every=5)) == [5, 9, 10, 11, 12]
    assert eval_epochs(TrainConfig(epochs=120, eval_every=5)) == list(range(5, 81, 5)) + list(range(81, 121))
    assert eval_epochs(TrainConfig(epochs=4, eval_every=0)) == [4]
    assert eval_epochs(TrainConfig(epochs=1, eval_every=3)) == [1]
    with pytest.raises(ValueError, match="eval_every"):
        TrainConfig(eval_every=-1)
    # evaluating changes nothing in training: the schedule is not part of the checkpoint's key
    assert TrainConfig(eval_every=1).key() == TrainConfig(eval_every=0).key() != TrainConfig(lr=0.2).key()


def test_periodic_evaluation_keeps_last_and_best_and_changes_no_training(tmp_path):
    import json
    from skelnb.train import read_metrics
    cfg1 = TrainConfig(**{**CFG.__dict__, "eval_every": 1})
    once = fit(_model(), _toy(), _toy(seed=1), TrainConfig(**{**CFG.__dict__, "eval_every": 0}),
               tmp_path / "once", progress=False)
    r = fit(_model(), _toy(), _toy(seed=1), cfg1, tmp_path / "run", progress=False, class_names=["a", "b", "c"])
    # same training whatever is evaluated on the way
    assert [h["loss"] for h in r.history] == [h["loss"] for h in once.history]
    assert np.array_equal(r.final.scores, once.final.scores)
    assert [e["epoch"] for e in r.evals] == [1, 2, 3, 4] and [e["epoch"] for e in once.evals] == [4]
    # best = the first epoch of the highest test top-1
    top = [e["top1"] for e in r.evals]
    assert r.best_epoch == 1 + int(np.argmax(top)) and r.best.top1 == max(top) >= r.final.top1
    d = tmp_path / "run"
    last, best, compat = (EvalResult.load(d / f) for f in ("scores_last.npz", "scores_best.npz", "scores.npz"))
    assert np.array_equal(last.scores, r.final.scores) and np.array_equal(compat.scores, last.scores)
    assert np.array_equal(best.scores, r.best.scores)
    ck = load_checkpoint(d / "checkpoint_best.pt")
    assert ck["epoch"] == r.best_epoch and ck["selected_on"] == "test set"
    m = _model()
    m.load_state_dict(ck["model"])
    assert np.allclose(evaluate(m, _toy(seed=1)).scores, best.scores)
    info = json.loads((d / "result.json").read_text())
    assert list(info)[:3] == ["top1", "top5", "mean_class"] and info["top1"] == r.final.top1
    assert info["mean_class"] == pytest.approx(np.nanmean(r.final.per_class()))
    assert info["best"]["epoch"] == r.best_epoch and info["best"]["top1"] == r.best.top1
    assert info["best"]["selected_on"] == "test set" and "optimistic" in info["best"]["note"]
    assert info["class_names"] == ["a", "b", "c"] and info["evaluated_epochs"] == [1, 2, 3, 4]
    rows = read_metrics(d)
    assert [x["epoch"] for x in rows] == [1, 2, 3, 4] and [x["test_top1"] for x in rows] == top
    assert [x["loss"] for x in rows] == [h["loss"] for h in r.history] and all(x["time"] for x in rows)
    assert "test_top1" not in read_metrics(tmp_path / "once")[0] and "test_top1" in read_metrics(tmp_path / "once")[3]
    # a reused finished run reports the same last and best
    again = fit(_model(seed=4), _toy(), _toy(seed=1), cfg1, d, progress=False)
    assert again.trained_epochs == 0 and again.best_epoch == r.best_epoch
    assert np.array_equal(again.best.scores, r.best.scores) and np.allclose(again.final.scores, r.final.scores)


def test_metrics_log_and_best_survive_a_crash_and_resume(tmp_path):
    from skelnb.train import read_metrics
    cfg1 = TrainConfig(**{**CFG.__dict__, "eval_every": 1})
    full = fit(_model(), _toy(), _toy(seed=1), cfg1, tmp_path / "a", progress=False)
    with pytest.raises(KeyboardInterrupt):
        fit(_model(), _DiesAtEpoch(_toy(), 2), _toy(seed=1), cfg1, tmp_path / "b", progress=False)
    b = tmp_path / "b"
    assert [x["epoch"] for x in read_metrics(b)] == [1, 2]           # on disk as the epochs ended
    with open(b / "metrics.jsonl", "a") as f:                          # a line of epoch 3 written just before
        f.write('{"epoch": 3, "loss": 123.0}\n{"epoch": 4, "lo')        # a kill (epoch 3 never checkpointed)
    resumed = fit(_model(seed=9), _toy(), _toy(seed=1), cfg1, b, progress=False)
    assert resumed.trained_epochs == 2 and resumed.best_epoch == full.best_epoch
    assert [e["top1"] for e in resumed.evals] == pytest.approx([e["top1"] for e in full.evals])
    rows = read_metrics(b)
    assert [x["epoch"] for x in rows] == [1, 2, 3, 4] and 123.0 not in [x["loss"] for x in rows]
    assert [x["loss"] for x in rows] == pytest.approx([x["loss"] for x in read_metrics(tmp_path / "a")])
    assert np.allclose(EvalResult.load(b / "scores_best.npz").scores, full.best.scores, atol=1e-6)
    assert not list(b.glob(".*tmp*"))


def test_run_dir_tells_spa_net_inputs_apart(tmp_path, monkeypatch):
    from skelnb.spa import SPANet
    monkeypatch.setenv("SKELNB_RUNS", str(tmp_path))
    key = lambda **kw: run_dir_for("x", SPANet.quick("4d", 3, **kw), CFG, _toy())
    # the space size, the voxel rules and the box add no parameters: the repr must still show them
    box = ((-1, -1, -1), (1, 1, 1))
    assert len({key(), key(space=16), key(collisions="max"), key(box=box)}) == 4

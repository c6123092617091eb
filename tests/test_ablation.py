"""skelnb.experiments.sem_ablation: the Table 1 rows at small scale and the order-pair statistics."""
import dataclasses
import math

import numpy as np
import pytest
import torch

from skelnb import recipes
from skelnb.evaluate import EvalResult
from skelnb.experiments import sem_ablation as ablation
from skelnb.flops import count_macs
from skelnb.paper import PAPER_TABLE1
from skelnb.profile import Profile
from skelnb.sem import MODES

pytestmark = pytest.mark.usefixtures("one_thread")

# a tiny profile: 2 subjects (1: training, 3: test in the cross-subject split), 8 frames, 1 epoch
TINY = Profile("quick", "cpu", (1, 3), 8, 1, 48, 1)


def test_run_names():
    assert ablation.run_name("cross-frame+GR") == "sem-cross-frame+GR"
    assert ablation.run_name("unified", 2) == "sem-unified-seed2"
    assert {ablation.run_name(m) for m in MODES} == {f"sem-{m}" for m in MODES}
    with pytest.raises(ValueError, match="unknown attention mode"):
        ablation.run_name("cross")

def result(scores, labels):
    return EvalResult(scores=np.asarray(scores, float), labels=np.asarray(labels))


def test_order_pair_stats_arithmetic():
    names = ("a", "b", "c")
    r = result([[0.6, 0.2, 0.2],     # a: right, share 0.6 / 0.8 = 0.75
                [0.1, 0.3, 0.6],     # a: wrong (c), b beats a: share 0.25
                [0.1, 0.5, 0.4],     # b: right, share 0.5 / 0.6
                [0.3, 0.3, 0.4]],    # c: not in the pair
               [0, 0, 1, 2])
    s = ablation.order_pair_stats(r, names, pairs=(("a", "b"),))
    assert set(s) == {"a", "b"}
    assert s["a"]["n"] == 2 and s["b"]["n"] == 1
    assert s["a"]["acc"] == 0.5 and s["a"]["pair_acc"] == 0.5
    assert s["a"]["share"] == pytest.approx(0.5)
    assert s["a"]["pair_nll"] == pytest.approx(-(math.log(0.75) + math.log(0.25)) / 2)
    assert s["b"]["share"] == pytest.approx(5 / 6) and s["b"]["pair_acc"] == 1.0
    # a tie is not a win for the right member
    t = ablation.order_pair_stats(result([[0.4, 0.4, 0.2], [0.1, 0.8, 0.1]], [0, 1]), names, (("a", "b"),))
    assert t["a"]["pair_acc"] == 0.0 and t["a"]["share"] == pytest.approx(0.5)


def test_order_pair_stats_errors():
    r = result([[0.6, 0.2, 0.2], [0.1, 0.3, 0.6]], [0, 1])
    with pytest.raises(ValueError, match="3 classes but 2 class names"):
        ablation.order_pair_stats(r, ("a", "b"), (("a", "b"),))
    with pytest.raises(ValueError, match=r"order pair \('a', 'x'\) is not in the class names"):
        ablation.order_pair_stats(r, ("a", "b", "c"), (("a", "x"),))
    with pytest.raises(ValueError, match="no test sample of class 'c'"):
        ablation.order_pair_stats(r, ("a", "b", "c"), (("a", "c"),))


def test_mean_nll():
    r = result([[0.5, 0.25, 0.25], [0.1, 0.1, 0.8]], [0, 2])
    assert ablation.mean_nll(r) == pytest.approx(-(math.log(0.5) + math.log(0.8)) / 2)
    assert ablation.mean_nll(result([[1.0, 0.0]], [1])) == pytest.approx(-math.log(1e-300))  # finite


def test_row_cost_counts_the_profile_and_paper_models():
    c = ablation.row_cost("cross-frame+GR", TINY, iters=1)
    model = recipes.sem_model(TINY)
    assert c["params"] == sum(p.numel() for p in model.parameters())
    assert c["macs"] == count_macs(model, torch.zeros(1, 3, TINY.num_frames, 25, 2))
    paper = PAPER_TABLE1["cross-frame+GR"]["gflops"]
    assert abs(c["paper_macs"] / 1e9 - paper) < 0.1 * paper                              # Table 1, within 10 %
    assert c["step_s"] > 0
    with pytest.raises(ValueError, match="unknown attention mode"):
        ablation.row_cost("global", TINY)


def test_train_row_trains_the_mode_in_the_ablation_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("SKELNB_RUNS", str(tmp_path))
    abl = recipes.ablation_profile(TINY)
    assert (abl.num_frames, abl.epochs) == (TINY.num_frames // 2, 6)
    single = ablation.train_row("single-frame", TINY)
    assert single.run_dir.name.startswith("sem-single-frame-") and single.trained_epochs == abl.epochs
    assert single.final.num_classes == len(recipes.synthetic_data(TINY).class_names)
    default = ablation.train_row("cross-frame+GR", TINY)
    # the same call finds the finished run; another seed is another run
    again = ablation.train_row("cross-frame+GR", TINY)
    assert again.run_dir == default.run_dir and again.trained_epochs == 0
    np.testing.assert_array_equal(again.final.scores, default.final.scores)
    other = ablation.train_row("cross-frame+GR", TINY, seed=1)
    assert other.run_dir.name.startswith("sem-cross-frame+GR-seed1-") and other.run_dir != default.run_dir
    # the rows differ only in the attention layer: different runs, different scores
    assert single.run_dir != default.run_dir
    assert not np.allclose(single.final.scores, default.final.scores)

def test_the_bone_stream_has_its_own_run_key():
    joint, bone = recipes.sem_model(TINY), recipes.sem_model(TINY, stream="bone")
    assert "stream='joint'" in repr(joint) and "stream='bone'" in repr(bone)
    cfg = recipes.train_config(TINY)
    ds = recipes.synthetic_datasets(prof=TINY)[0]
    from skelnb.train import run_dir_for
    assert run_dir_for("x", joint, cfg, ds) != run_dir_for("x", bone, cfg, ds)


def test_table1_rows_over_seeds(tmp_path, monkeypatch):
    monkeypatch.setenv("SKELNB_RUNS", str(tmp_path))
    tiny = dataclasses.replace(TINY, seeds=(0, 1))
    rows = ablation.train_rows(["single-frame", "cross-frame"], tiny)
    assert list(rows) == ["single-frame", "cross-frame"]
    names = [r.run_dir.name.rsplit("-", 1)[0] for rs in rows.values() for r in rs]
    assert names == ["sem-single-frame", "sem-single-frame-seed1", "sem-cross-frame", "sem-cross-frame-seed1"]
    assert all(r.trained_epochs == recipes.ablation_profile(tiny).epochs for rs in rows.values() for r in rs)
    assert ablation.row_run_dir("cross-frame", tiny, 1) == rows["cross-frame"][1].run_dir

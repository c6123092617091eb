"""skelnb.experiments.streams and recipes.in_parallel: the four streams over seeds, their
fusions and per-family correctness; the lr of GR-CFSA's global attention; viz.Table."""
import time

import numpy as np
import pytest
import torch

from skelnb import recipes, viz
from skelnb.data.actions import FAMILIES, family_of
from skelnb.evaluate import EvalResult
from skelnb.experiments import streams
from skelnb.profile import Profile
from skelnb.sem.net import SEMNet
from skelnb.train import TrainConfig, param_groups

pytestmark = pytest.mark.usefixtures("one_thread")

# 2 subjects (1 trains, 3 tests), 8 frames, 1 epoch, seeds 0 and 1
TINY = Profile("quick", "cpu", (1, 3), 8, 1, 48, 1, seeds=(0, 1))


def test_run_names_and_unknown_stream():
    assert streams.run_name("SEM-joint", 0) == "sem-joint"       # the chapters' shared run
    assert streams.run_name("SPA-4D", 2) == "spa-4d-seed2"
    with pytest.raises(ValueError, match="unknown stream"):
        streams.run_name("SEM-hand", 0)


def test_train_all_trains_each_stream_and_seed_once_and_spa_in_parallel(tmp_path, monkeypatch):
    monkeypatch.setenv("SKELNB_RUNS", str(tmp_path))
    runs = streams.train_all(TINY, streams=("SEM-joint", "SPA-4D"))
    assert {k: len(v) for k, v in runs.items()} == {"SEM-joint": 2, "SPA-4D": 2}
    dirs = [r.run_dir for rs in runs.values() for r in rs]
    assert len(set(dirs)) == 4 and all((d / "result.json").exists() for d in dirs)
    # SPA runs were trained by the worker processes: here they are reused (0 epochs trained)
    assert [r.trained_epochs for r in runs["SPA-4D"]] == [0, 0]
    assert [r.trained_epochs for r in runs["SEM-joint"]] == [1, 1]
    assert streams.stream_run_dir("SPA-4D", 1, TINY) == runs["SPA-4D"][1].run_dir
    # seeds differ; a second call trains nothing
    assert not np.allclose(runs["SEM-joint"][0].final.scores, runs["SEM-joint"][1].final.scores)
    again = streams.train_all(TINY, streams=("SEM-joint", "SPA-4D"))
    assert all(r.trained_epochs == 0 for rs in again.values() for r in rs)
    # the same run trained here, in this process, equals the one a worker trained
    monkeypatch.setenv("SKELNB_RUNS", str(tmp_path / "here"))
    here = streams.train_stream("SPA-4D", 1, TINY)
    assert here.trained_epochs == 1
    np.testing.assert_array_equal(here.final.scores, runs["SPA-4D"][1].final.scores)


def _note(name: str, log: str) -> str:
    with open(log, "a") as f:                       # started: the worker takes it now
        f.write(name + "\n")
    time.sleep(0.5)
    return name


def test_in_parallel_returns_jobs_in_order_and_starts_the_costliest_first(tmp_path):
    log = str(tmp_path / "log")
    jobs = [dict(name=n, log=log) for n in "abc"]
    cost = {"a": 1, "b": 3, "c": 2}
    assert recipes.in_parallel(_note, jobs, 2, cost=lambda j: cost[j["name"]]) == ["a", "b", "c"]
    started = open(log).read().split()
    # the workers took b and c first and a last; then this process ran all three in order
    assert set(started[:2]) == {"b", "c"} and started[2:] == ["a", "a", "b", "c"]


def test_recipes_train_fixes_the_thread_count_per_model(monkeypatch, tmp_path):
    from skelnb.spa.net import SPANet
    seen = []
    monkeypatch.setattr(recipes, "fit", lambda *a, **k: seen.append(torch.get_num_threads()))
    monkeypatch.setenv("SKELNB_RUNS", str(tmp_path))
    two = Profile("quick", "cpu", (1, 3), 8, 1, 48, 2)               # the profile's threads: 2
    data = torch.utils.data.TensorDataset(torch.zeros(4, 2), torch.zeros(4, dtype=torch.long))
    torch.set_num_threads(1)
    recipes.train("x", SEMNet.quick(25, width=8, depth=2, num_frames=8), data, None, TrainConfig(), prof=two)
    recipes.train("x", SPANet.quick("4d", 25), data, None, TrainConfig(), prof=two)
    assert seen == [2, 1] and torch.get_num_threads() == 1           # restored afterwards


def _result(pred, labels, K):
    s = np.full((len(pred), K), 0.1 / (K - 1))
    s[np.arange(len(pred)), pred] = 0.9
    return EvalResult(scores=s, labels=np.asarray(labels))


class _Run:
    def __init__(self, final):
        self.final = final


def test_results_fuse_seed_by_seed_and_correct_families():
    K, labels = 25, np.arange(25)
    a = [_Run(_result(labels, labels, K)), _Run(_result((labels + 1) % K, labels, K))]
    b = [_Run(_result((labels + 1) % K, labels, K)), _Run(_result(labels, labels, K))]
    res = streams.results({"SEM-joint": a, "SPA-4D": b})
    assert set(res) == {"SEM-joint", "SPA-4D", "SEM-joint+SPA"}      # fusions whose streams exist
    c = streams.correct(res["SEM-joint"])
    assert c.shape == (2, 25) and c[0].all() and not c[1].any()
    fused = res["SEM-joint+SPA"][0]                                  # seed 0 with seed 0: a tie of 0.9s
    np.testing.assert_allclose(fused.scores, (a[0].final.scores + b[0].final.scores) / 2)
    fam = streams.families(res["SEM-joint"])
    assert list(fam) == list(family_of()) and set(fam) == set(FAMILIES)


def test_global_lr_puts_alpha_hat_and_beta_in_their_own_group():
    net = SEMNet.quick(25, width=8, depth=2, num_frames=8)
    one = param_groups(net, TrainConfig())
    assert len(one) == 1 and len(one[0]["params"]) == len(list(net.parameters()))
    two = param_groups(net, TrainConfig(global_lr=25.0))
    names = {id(p): n for n, p in net.named_parameters()}
    assert {names[id(p)].rsplit(".", 1)[-1] for p in two[1]["params"]} == {"alpha_hat", "beta"}
    assert two[1]["lr_scale"] == 25.0 and len(two[0]["params"]) + len(two[1]["params"]) == len(one[0]["params"])
    # the old key is kept when the option is off, another key when it is on
    assert TrainConfig().key() != TrainConfig(global_lr=25.0).key()


def test_global_lr_scales_the_update_of_alpha_hat(tmp_path):
    from skelnb.train import fit
    tr, te = recipes.synthetic_datasets(prof=TINY)
    moved = []
    for g in (1.0, 30.0):
        torch.manual_seed(0)
        net = SEMNet.quick(25, width=8, depth=2, num_frames=8)
        fit(net, tr, None, TrainConfig(epochs=1, batch_size=48, lr=0.05, warmup_epochs=0, global_lr=g), None)
        moved.append(float(net.blocks[0].att.alpha_hat.detach().abs().max()))
    assert moved[1] > 5 * moved[0] > 0


def test_table_html_and_text():
    t = viz.table([dict(model="SEM", top1=71.234), dict(model="SPA-4D", top1=float("nan"))],
                  title="T", note="n")
    text = str(t).splitlines()
    assert text[0] == "T" and text[1].split() == ["model", "top1"] and text[3].split() == ["SEM", "71.2"]
    assert text[-1] == "n" and text[4].split() == ["SPA-4D"]
    html = t._repr_html_()
    assert html.count("<tr>") == 3 and "<td>71.2</td>" in html and "<caption>T</caption>" in html
    with pytest.raises(ValueError, match="row 0 has 1 cells"):
        viz.table([[1]], columns=["a", "b"])
    with pytest.raises(ValueError, match="columns"):
        viz.table([[1, 2]])


def test_grid_heatmap_writes_every_cell():
    fig = viz.grid_heatmap([[50.0, 60.0], [70.0, 80.0]], ["a", "b"], ["x", "y"], spread=[[1, 2], [3, 4]])
    assert fig.data[0].text[1][0] == "70 ± 3" and list(fig.data[0].y) == ["a", "b"]


def test_table5_rows_over_seeds(tmp_path, monkeypatch):
    from skelnb.experiments import spa_ablation
    monkeypatch.setenv("SKELNB_RUNS", str(tmp_path))
    tiny = Profile("quick", "cpu", (1, 3), 8, 1, 48, 1, seeds=(0, 1))
    rows = spa_ablation.train_rows([(16, 3)], tiny)
    (runs,) = rows.values()
    assert [r.run_dir.name.split("-")[:4] for r in runs] == [["spa", "4d", "s16", "k3"]] * 2
    assert "seed1" in runs[1].run_dir.name and all(r.trained_epochs == 0 for r in runs)
    assert spa_ablation.row_run_dir(16, 3, 1, tiny) == runs[1].run_dir
    assert [e["epoch"] for e in runs[0].evals] == [recipes.ablation_profile(tiny).epochs]   # the last only

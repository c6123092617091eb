"""Late fusion arithmetic, alignment checks, complementarity counts, the paper-row table."""
import json

import numpy as np
import pytest

from skelnb.evaluate import EvalResult
from skelnb.fuse import (FusionError, check_aligned, complementarity, contingency, fuse, fuse_runs,
                         oracle, reproduction_table)
from skelnb.paper import PAPER_RESULTS


def _res(scores, labels, ids=None):
    s = np.asarray(scores, float)
    return EvalResult(s / s.sum(1, keepdims=True), np.asarray(labels), None if ids is None else np.asarray(ids))


# A is right on samples 0, 1; B on 1, 2; sample 3 fools both
A = _res([[0.8, 0.1, 0.1], [0.2, 0.5, 0.3], [0.4, 0.35, 0.25], [0.5, 0.2, 0.3]], [0, 1, 2, 2])
B = _res([[0.3, 0.4, 0.3], [0.1, 0.8, 0.1], [0.1, 0.2, 0.7], [0.5, 0.3, 0.2]], [0, 1, 2, 2])


def test_fusion_is_the_weighted_mean_of_softmax_scores():
    f = fuse([A, B])
    assert np.allclose(f.scores, (A.scores + B.scores) / 2)
    assert np.allclose(f.scores.sum(1), 1)
    w = fuse([A, B], weights=[3, 1])
    assert np.allclose(w.scores, (3 * A.scores + B.scores) / 4)
    # a sum (joint + bone "summed") and a mean predict the same classes
    assert np.array_equal(fuse([A, B, A]).pred, (A.scores + B.scores + A.scores).argmax(1))
    # by hand: the mean is right on 0 (A confident), 1, 2 (B confident), not on 3
    assert A.top1 == 0.5 and B.top1 == 0.5
    assert f.pred.tolist() == [0, 1, 2, 0] and f.top1 == 0.75
    assert fuse([A]).top1 == A.top1


def test_contingency_oracle_and_complementarity():
    c = contingency(A, B)
    # A right: 0, 1 ; B right: 1, 2 -> both 1, only A 1, only B 1, neither 1
    assert c.tolist() == [[1, 1], [1, 1]]
    assert oracle([A, B]) == 0.75
    d = complementarity(A, B)
    assert (d["both_right"], d["only_a"], d["only_b"], d["both_wrong"]) == (1, 1, 1, 1)
    assert d["oracle"] == 0.75 and d["b_fixes_a"] == 0.5 and d["error_jaccard"] == pytest.approx(1 / 3)
    assert d["fused"] == 0.75


def test_misaligned_runs_are_clear_errors():
    other = _res(B.scores, [0, 1, 1, 2])
    with pytest.raises(FusionError, match=r"labels disagree at sample 2: a says 2, b says 1 \(1 of 4"):
        fuse([A, other], names=["a", "b"])
    with pytest.raises(FusionError, match="scored 4 samples but b scored 3"):
        check_aligned([A, _res(B.scores[:3], [0, 1, 2])], ["a", "b"])
    with pytest.raises(FusionError, match="3 classes but b has 2"):
        check_aligned([A, _res(B.scores[:, :2], [0, 1, 0, 1])], ["a", "b"])
    ia = _res(A.scores, A.labels, ["s1", "s2", "s3", "s4"])
    ib = _res(B.scores, B.labels, ["s1", "s2", "s4", "s3"])
    with pytest.raises(FusionError, match="sample 2 is s3 in a but s4 in b"):
        fuse([ia, ib], names=["a", "b"])
    with pytest.raises(FusionError, match="2 runs but 3 weights"):
        fuse([A, B], weights=[1, 1, 1])
    with pytest.raises(FusionError, match="weights must be"):
        fuse([A, B], weights=[1, -1])


def test_fuse_runs_on_disk_and_save(tmp_path):
    A.save(tmp_path / "a")
    B.save(tmp_path / "b")
    rep = fuse_runs([tmp_path / "a", tmp_path / "b"], weights=[1, 1])
    assert rep.fused.top1 == 0.75 and "oracle (a stream is right) 75.00 %" in rep.table()
    rep.save(tmp_path / "ab")
    back = EvalResult.load(tmp_path / "ab")
    assert np.allclose(back.scores, (A.scores + B.scores) / 2)
    info = json.loads((tmp_path / "ab" / "fusion.json").read_text())
    assert info["weights"] == [1.0, 1.0] and info["rows"][-1]["top1"] == 0.75
    with pytest.raises(FusionError, match="no scores file"):
        fuse_runs([tmp_path / "a", tmp_path / "missing"])


def test_reproduction_table_reads_runs_it_finds(tmp_path):
    rows = reproduction_table(tmp_path)
    assert len(rows) == len(PAPER_RESULTS) and all(r["ours_top1"] is None for r in rows)
    A.save(tmp_path / "ntu60-xsub" / "sem-joint")
    B.save(tmp_path / "ntu60-xsub" / "sem-bone")
    rows = {(r["table"], r["setting"], r["benchmark"]): r for r in reproduction_table(tmp_path)}
    assert rows[("3", "SEM-joint", "ntu60-xsub")]["ours_top1"] == 50.0
    assert rows[("3", "SEM-fuse", "ntu60-xsub")]["ours_top1"] == 75.0
    assert rows[("3", "SEM-fuse", "ntu60-xsub")]["paper_top1"] == 91.8
    assert rows[("6", "SEM+SPA", "ntu60-xsub")]["ours_top1"] is None      # SPA not run
    assert rows[("3", "SEM-joint", "ntu60-xview")]["ours_top1"] is None


def test_fuse_last_or_best_scores_of_run_folders(tmp_path):
    from skelnb.fuse import load_run
    for name, last, best in (("a", A, B), ("b", B, A)):
        last.save_scores(tmp_path / name / "scores_last.npz")
        best.save_scores(tmp_path / name / "scores_best.npz")
        EvalResult(np.full_like(A.scores, 0.5), A.labels).save_scores(tmp_path / name / "scores.npz")
    assert np.array_equal(load_run(tmp_path / "a").scores, A.scores)          # scores_last.npz before scores.npz
    assert np.array_equal(load_run(tmp_path / "a", "best").scores, B.scores)
    fused_best = fuse_runs([tmp_path / "a", tmp_path / "b"], which="best")
    assert np.allclose(fused_best.fused.scores, (A.scores + B.scores) / 2)
    A.save(tmp_path / "old")                                                   # a run with scores.npz only
    assert np.array_equal(load_run(tmp_path / "old").scores, A.scores)
    with pytest.raises(FusionError, match="scores_best.npz: no scores file.*--which last"):
        load_run(tmp_path / "old", "best")
    root = tmp_path / "root"
    A.save_scores(root / "ntu60-xsub/sem-joint/scores_last.npz")
    B.save_scores(root / "ntu60-xsub/sem-joint/scores_best.npz")
    rows = {(r["table"], r["setting"], r["benchmark"]): r for r in reproduction_table(root)}
    r = rows[("3", "SEM-joint", "ntu60-xsub")]
    assert (r["ours_top1"], r["ours_best_top1"]) == (100 * A.top1, 100 * B.top1)
    assert list(r).index("ours_top1") < list(r).index("ours_best_top1")

"""skelnb.stats on hand-built correctness arrays with known answers."""
import numpy as np
import pytest

from skelnb import stats
from skelnb.stats import (accuracy_interval, correct_from_scores, error_overlap, format_diff,
                          format_summary, fusion_gain, paired_difference, per_group, seed_summary)


def _row(right, n, seeds=1):
    """(seeds, n) bool with the first `right` clips correct for every seed."""
    r = np.zeros(n, bool)
    r[:right] = True
    return np.repeat(r[None], seeds, 0)


def _sig(x):
    return 1 / (1 + np.exp(-x))


# ----------------------------------------------------------------------------- summaries
def test_seed_summary_values():
    s = seed_summary([0.7, 0.8, 0.9])
    assert (s.mean, s.min, s.max, s.n) == (pytest.approx(0.8), 0.7, 0.9, 3)
    assert s.std == pytest.approx(0.1)  # ddof=1: sqrt((0.01 + 0 + 0.01) / 2)
    one = seed_summary([0.5])
    assert (one.mean, one.std, one.n) == (0.5, 0.0, 1)
    assert format_summary(s) == "80.0 ± 10.0"


def test_correct_from_scores():
    scores = np.array([[[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]],
                       [[0.1, 0.9], [0.3, 0.7], [0.4, 0.6]]])  # (S=2, N=3, K=2)
    c = correct_from_scores(scores, [0, 1, 1])
    assert c.dtype == bool and c.tolist() == [[True, True, False], [False, True, True]]
    assert correct_from_scores(scores[0], [0, 1, 1]).shape == (1, 3)


def test_per_group_per_seed():
    c = np.array([[1, 1, 0, 0, 1], [1, 0, 0, 1, 1]], bool)
    g = np.array(["x", "x", "y", "y", "y"])
    out = per_group(c, g)
    assert list(out) == ["x", "y"] and all(type(k) is str for k in out)
    np.testing.assert_allclose(out["x"], [1.0, 0.5])
    np.testing.assert_allclose(out["y"], [1 / 3, 2 / 3])


# ----------------------------------------------------------------------------- paired differences
def test_identical_rows_give_zero_interval():
    rng = np.random.default_rng(0)
    same = rng.random((1, 500)) < 0.7
    d = paired_difference(np.repeat(same, 3, 0), np.repeat(same, 3, 0), n_boot=300)
    assert (d.diff, d.lo, d.hi) == (0.0, 0.0, 0.0) and not d.survives
    # seeds that differ within the row, same runs in A and B, seeds paired -> still exactly 0
    noisy = rng.random((3, 500)) < 0.7
    d = paired_difference(noisy, noisy.copy(), n_boot=300, paired_seeds=True)
    assert (d.diff, d.lo, d.hi) == (0.0, 0.0, 0.0)
    # ... but unpaired seeds let A and B draw different seeds: the interval opens up around 0
    d = paired_difference(noisy, noisy.copy(), n_boot=300)
    assert d.diff == 0.0 and d.lo < 0 < d.hi


def test_known_difference_of_30_percent():
    n = 1000
    a = np.ones((3, n), bool)
    b = _row(700, n, seeds=3)  # B wrong on 30 % of clips, every seed the same (no training noise)
    d = paired_difference(a, b, n_boot=1000)
    assert d.diff == pytest.approx(0.3, abs=1e-12)
    assert d.lo <= 0.3 <= d.hi and d.hi - d.lo < 0.07  # binomial sd sqrt(.21/1000) = 0.0145
    assert d.survives and d.lo > 0.2
    assert (d.n_clips, d.seeds_a, d.seeds_b, d.level) == (n, 3, 3, 0.95)
    assert format_diff(d).startswith("+30.0 pp [+2")
    neg = paired_difference(b, a, n_boot=1000)
    assert neg.diff == pytest.approx(-0.3, abs=1e-12) and neg.hi < 0 and neg.survives


def test_one_clip_in_a_thousand_does_not_survive():
    rng = np.random.default_rng(1)
    b = rng.random((3, 1000)) < 0.6
    b[:, 0] = False
    a = b.copy()
    a[:, 0] = True
    d = paired_difference(a, b, n_boot=2000)
    assert d.diff == pytest.approx(0.001) and not d.survives and d.lo <= 0 <= d.hi


def test_pairing_over_clips_detects_small_consistent_gain():
    # A and B share a noisy 50 % pattern and differ on 20 of 1000 clips, all in A's favour:
    # paired over clips the 2 pp gain survives; with clips resampled independently it would not.
    rng = np.random.default_rng(2)
    b = np.repeat(rng.random((1, 1000)) < 0.5, 2, 0)
    wrong_b = np.flatnonzero(~b[0])[:20]
    a = b.copy()
    a[:, wrong_b] = True
    d = paired_difference(a, b, n_boot=1000)
    assert d.diff == pytest.approx(0.02) and d.survives and d.hi - d.lo < 0.025
    unpaired = np.std(rng.choice(a[0], (1000, 1000)).mean(1) - rng.choice(b[0], (1000, 1000)).mean(1))
    assert 1.96 * unpaired > 0.02  # an unpaired interval would include 0


def test_seed_disagreement_widens_interval():
    n = 1000
    b = _row(500, n, seeds=3)
    agree = _row(800, n, seeds=3)  # every seed 80 %, on the same clips
    disagree = np.stack([_row(600, n)[0], _row(800, n)[0], _row(1000, n)[0]])  # 60 / 80 / 100 %
    d_agree = paired_difference(agree, b, n_boot=1000)
    d_dis = paired_difference(disagree, b, n_boot=1000)
    assert d_agree.diff == pytest.approx(d_dis.diff) == pytest.approx(0.3)
    assert d_dis.hi - d_dis.lo > 3 * (d_agree.hi - d_agree.lo)


def test_accuracy_interval():
    iv = accuracy_interval(_row(700, 1000, seeds=3), n_boot=1000)
    assert iv.estimate == pytest.approx(0.7) and iv.lo < 0.7 < iv.hi and iv.hi - iv.lo < 0.07
    assert (iv.n_clips, iv.seeds) == (1000, 3)
    full = accuracy_interval(np.ones(50, bool), n_boot=100)
    assert (full.estimate, full.lo, full.hi) == (1.0, 1.0, 1.0)


def test_deterministic_given_seed():
    rng = np.random.default_rng(3)
    a, b = rng.random((3, 400)) < 0.7, rng.random((4, 400)) < 0.65
    assert paired_difference(a, b, n_boot=500, seed=7) == paired_difference(a, b, n_boot=500, seed=7)
    assert paired_difference(a, b, n_boot=500, seed=7) != paired_difference(a, b, n_boot=500, seed=8)
    assert accuracy_interval(a, seed=5) == accuracy_interval(a, seed=5)


def _coverage(sims, n, seeds, tau, churn):
    """Share of simulated datasets whose 95 % interval contains the known true difference."""
    big = np.random.default_rng(100)
    dd, uu, vv = big.normal(size=(3, 400_000))
    true = (_sig(1 + 2 * dd + tau * uu).mean() - _sig(0.7 + 2 * dd + tau * vv).mean()
            if churn else 0.1)
    rng, hits = np.random.default_rng(101), 0
    for i in range(sims):
        if churn:  # clip difficulty d, whole-seed shift u / v, and clip-by-clip seed churn
            d = 2 * rng.normal(size=n)
            u, v = tau * rng.normal(size=(2, seeds, 1))
            a = rng.random((seeds, n)) < _sig(1.0 + d + u)
            b = rng.random((seeds, n)) < _sig(0.7 + d + v)
        else:  # no training noise: only which clips were drawn varies
            x = rng.random(n)
            a, b = (x < 0.8)[None], (x < 0.7)[None]
        r = paired_difference(a, b, n_boot=200, seed=i)
        hits += r.lo <= true <= r.hi
    return hits / sims


def test_coverage_by_simulation():
    # clip sampling only: close to nominal
    assert abs(_coverage(200, 300, 1, 0.0, churn=False) - 0.95) <= 0.04
    # with training noise (3 seeds, churn plus a moderate seed shift): at least nominal, within
    # tolerance (per-clip seed churn enters both bootstrap levels, so it leans conservative)
    assert 0.92 <= _coverage(200, 300, 3, 0.15, churn=True) <= 1.0


# ----------------------------------------------------------------------------- overlap and fusion
def test_error_overlap_counts():
    a = np.array([1, 0, 0, 1, 0, 1], bool)
    b = np.array([1, 0, 1, 0, 0, 1], bool)
    o = error_overlap(a, b)
    assert (o.both_wrong, o.only_a_wrong, o.only_b_wrong, o.both_right, o.n_clips) == (2, 1, 1, 2, 6)
    assert o.shared_share == pytest.approx(2 / 3)
    two = error_overlap(np.stack([a, np.ones(6, bool)]), np.stack([b, b]))  # seed 2: A never wrong
    assert (two.both_wrong, two.only_a_wrong, two.only_b_wrong) == (1.0, 0.5, 2.0)
    assert np.isnan(error_overlap(np.ones(3, bool), np.zeros(3, bool)).shared_share)


def test_fusion_gain_picks_better_stream():
    n = 1000
    weak, strong = _row(600, n, seeds=3), _row(750, n, seeds=3)
    fused = _row(800, n, seeds=3)
    better, d = fusion_gain(fused, weak, strong, n_boot=500)
    assert better == "b" and d.diff == pytest.approx(0.05) and d.survives
    assert d == paired_difference(fused, strong, n_boot=500)
    better, d = fusion_gain(fused, strong, weak, n_boot=500)
    assert better == "a" and d.diff == pytest.approx(0.05)
    better, d = fusion_gain(_row(700, n, 3), strong, weak, n_boot=500)  # fusion hurts
    assert d.diff == pytest.approx(-0.05) and d.hi < 0


def test_format_diff():
    d = stats.PairedDiff(0.012, -0.003, 0.028, 0.95, 100, 3, 3)
    assert format_diff(d) == "+1.2 pp [-0.3, +2.8]"
    assert format_diff(d, unit="", scale=1.0, digits=3) == "+0.012 [-0.003, +0.028]"


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize("call, arg, what", [
    (lambda: paired_difference(np.ones((2, 5), bool), np.ones((2, 6), bool)), "correct_b", "clips"),
    (lambda: paired_difference(np.full((2, 5), 0.5), np.ones((2, 5))), "correct_a", "0/1"),
    (lambda: paired_difference(np.ones(5), np.array([1, 0, np.nan, 1, 1])), "correct_b", "NaN"),
    (lambda: paired_difference(np.ones((0, 5), bool), np.ones(5, bool)), "correct_a", "empty"),
    (lambda: paired_difference(np.ones((2, 2, 2), bool), np.ones(2, bool)), "correct_a", "shape"),
    (lambda: paired_difference(np.ones(5), np.ones(5), level=1.0), "level", "between 0 and 1"),
    (lambda: paired_difference(np.ones(5), np.ones(5), level=0.0), "level", "between 0 and 1"),
    (lambda: paired_difference(np.ones(5), np.ones(5), n_boot=0), "n_boot", "positive"),
    (lambda: paired_difference(np.ones((2, 5)), np.ones((3, 5)), paired_seeds=True),
     "paired_seeds", "as many seeds"),
    (lambda: accuracy_interval(np.array(["a", "b"])), "correct", "bool or 0/1"),
    (lambda: accuracy_interval(np.ones(5), level=float("nan")), "level", "between 0 and 1"),
    (lambda: seed_summary([]), "values", "empty"),
    (lambda: seed_summary([0.5, np.nan]), "values", "NaN"),
    (lambda: seed_summary([[0.5]]), "values", "shape"),
    (lambda: per_group(np.ones((2, 4)), [0, 1, 1]), "groups", "shape"),
    (lambda: error_overlap(np.ones((2, 4)), np.ones((3, 4))), "correct_b", "seeds"),
    (lambda: error_overlap(np.ones(4), np.ones(5)), "correct_b", "clips"),
    (lambda: fusion_gain(np.ones(4), np.ones(5), np.ones(5)), "correct_fused", "clips"),
    (lambda: fusion_gain(np.ones(5), np.ones(5), np.full(5, 2)), "correct_b", "0/1"),
    (lambda: correct_from_scores(np.ones((2, 3, 4)), [0, 1]), "labels", "shape"),
    (lambda: correct_from_scores(np.ones((2, 3, 4)), [0, 1, 4]), "labels", "integers"),
    (lambda: correct_from_scores(np.full((3, 4), np.nan), [0, 1, 2]), "scores", "NaN"),
])
def test_errors_name_the_argument(call, arg, what):
    with pytest.raises(ValueError) as e:
        call()
    msg = str(e.value)
    assert msg.startswith(arg + ":") and what in msg, msg


def test_no_torch_import():
    import ast
    import inspect
    tree = ast.parse(inspect.getsource(stats))
    names = {n.module.split(".")[0] if isinstance(n, ast.ImportFrom) else a.name.split(".")[0]
             for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
    assert names <= {"__future__", "dataclasses", "numpy"}, names

"""``skelnb predict``: a user's own .skeleton file through a trained run's test-time pipeline."""
import numpy as np
import pytest

from skelnb import cli
from skelnb.data.ntu_actions import describe_class, ntu_action_names
from skelnb.evaluate import EvalResult
from skelnb.predict import predict

from test_cli import ROOT, _main

pytestmark = pytest.mark.usefixtures("one_thread")
FIXTURES = ROOT / "tests/fixtures/ntu/nturgb+d_skeletons"


def test_official_ntu_action_names():
    names = ntu_action_names(120)
    assert len(names) == 120 and ntu_action_names(60) == names[:60]
    assert names[0] == "drink water" and names[59] == "walking apart from each other"
    assert names[119] == "finger-guessing game (playing rock-paper-scissors)"
    assert describe_class("A013") == "A013 tear up paper" and describe_class("G3") == "G3"


@pytest.fixture(scope="module")
def ntu_run(tmp_path_factory):
    """A 1-epoch quick SEM-Net on an NTU-60 cache of synthetic .skeleton files (3 subjects)."""
    from skelnb.data.cache import build_ntu_cache
    from skelnb.data.ntu import write_synthetic_ntu
    from skelnb.data.synthetic import SyntheticConfig, generate
    tmp = tmp_path_factory.mktemp("predict")
    sset = generate(SyntheticConfig(subjects=(1, 2, 3)))
    write_synthetic_ntu(tmp / "raw", sset)
    build_ntu_cache(tmp / "raw", tmp / "data/cache/ntu60", "ntu60", workers=1, progress=False)
    sets = [f"data.root={tmp / 'data'}", "data.num_frames=16", "data.window=20", "model.size=quick",
            "model.width=8", "model.depth=2", "train.epochs=1", "train.batch_size=24", "train.num_workers=0"]
    code = cli.main(["train", "ntu60-xsub_sem-bone", "--out", str(tmp / "run"), "--quiet", "--threads", "1",
                     "--set", *sets])
    assert code == 0
    return tmp


def test_predict_gives_the_test_set_scores_of_a_test_file(ntu_run, capsys):
    run = ntu_run / "run"
    last = EvalResult.load(run / "scores_last.npz")
    k = int(np.flatnonzero(np.char.find(last.ids.astype(str), "P003") >= 0)[0])     # a test-split file
    f = ntu_run / "raw" / f"{last.ids[k]}.skeleton"
    r = predict(run, f, top=5)
    np.testing.assert_allclose(r["scores"], last.scores[k], atol=1e-5)               # same pipeline as the test set
    assert r["preprocessing"] == "the training cache's preprocessing"
    code, out, err = _main(capsys, "predict", run / "checkpoint.pt", f)
    assert code == 0, err
    lines = out.splitlines()
    assert "after epoch 1 of 1" in lines[0] and len(lines) >= 6
    top = np.argsort(-last.scores[k])[:5]
    for i, c in enumerate(top):
        assert lines[1 + i].split(".", 1)[1].strip().startswith(describe_class(f"A{c + 1:03d}"))
        assert f"{100 * last.scores[k][c]:5.1f} %" in lines[1 + i]


def test_predict_a_real_ntu_file_and_clear_errors(ntu_run, capsys, tmp_path):
    run = ntu_run / "run"
    code, out, err = _main(capsys, "predict", run, FIXTURES / "S001C001P001R001A001.skeleton", "--top", "3")
    assert code == 0, err
    rows = out.splitlines()[1:4]
    assert [r.split()[0] for r in rows] == ["1.", "2.", "3."]
    assert all(r.split()[1].startswith("A0") for r in rows)
    assert "A001 drink water" in out                      # named in the file: marked or said to be missing
    code, out, err = _main(capsys, "predict", run, FIXTURES / "S003C001P004R001A002.skeleton")   # no body
    assert code == 2 and "S003C001P004R001A002.skeleton: nothing to classify" in err
    code, out, err = _main(capsys, "predict", run, tmp_path / "none.skeleton")
    assert code == 2 and "no such file" in err
    code, out, err = _main(capsys, "predict", tmp_path, FIXTURES / "S001C001P001R001A001.skeleton")
    assert code == 2 and "no checkpoint" in err

"""A training run killed with SIGKILL in the middle of an epoch resumes (``--resume``) and ends
with exactly the numbers of an uninterrupted run on the same machine."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from skelnb.evaluate import EvalResult
from skelnb.train import CheckpointError, load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "skelnb/configs/quick_sem-joint.yaml"
EPOCHS = 4
# 168 training sequences, 7 steps an epoch of about a second on one thread
SETS = ["data.subjects=3", "data.num_frames=24", "model.width=12", "model.depth=3", f"train.epochs={EPOCHS}",
        "train.batch_size=24"]


def _cmd(out, *extra):
    return [sys.executable, "-m", "skelnb", "train", str(CONFIG), "--out", str(out), "--threads", "1", "--quiet",
            *extra, "--set", *SETS]


def _epoch(ckpt: Path) -> int:
    try:
        return load_checkpoint(ckpt)["epoch"]
    except (FileNotFoundError, CheckpointError):
        return 0


def test_sigkill_mid_epoch_then_resume_equals_an_uninterrupted_run(tmp_path):
    env = dict(os.environ, PYTHONHASHSEED="0")
    full = subprocess.run(_cmd(tmp_path / "full"), capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert full.returncode == 0, full.stderr

    for attempt, fraction in enumerate((0.4, 0.2, 0.1)):   # a loaded machine may finish epoch 3 first
        run = tmp_path / f"killed{attempt}"
        proc = subprocess.Popen(_cmd(run), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT, env=env)
        seen, t_deadline = {}, time.time() + 90
        try:
            while time.time() < t_deadline:              # watch the per-epoch checkpoints appear
                e = _epoch(run / "checkpoint.pt")
                if e and e not in seen:
                    seen[e] = time.perf_counter()
                if 2 in seen:
                    break
                assert proc.poll() is None, proc.stderr.read().decode()
                time.sleep(0.02)
            assert 2 in seen, "the run did not reach epoch 2 in time"
            epoch_s = seen[2] - seen.get(1, seen[2] - 1.0)
            time.sleep(fraction * epoch_s)               # inside epoch 3
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.kill()
            proc.wait()
        assert proc.returncode == -signal.SIGKILL
        killed_at = _epoch(run / "checkpoint.pt")
        if killed_at == 2:
            break
    assert killed_at == 2, f"killed after epoch {killed_at}, wanted mid-epoch 3"
    assert not (run / "scores.npz").exists() and not (run / "result.json").exists()

    resumed = subprocess.run(_cmd(run, "--resume"), capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    info = json.loads((run / "run.json").read_text())
    assert info["trained_epochs_this_call"] == EPOCHS - 2
    ref = json.loads((tmp_path / "full" / "run.json").read_text())
    assert [h["loss"] for h in info["history"]] == [h["loss"] for h in ref["history"]]
    assert [h["acc"] for h in info["history"]] == [h["acc"] for h in ref["history"]]
    a, b = EvalResult.load(tmp_path / "full"), EvalResult.load(run)
    assert np.allclose(a.scores, b.scores, atol=1e-6, rtol=0) and a.top1 == b.top1 and a.top5 == b.top5
    assert not list(run.glob(".*tmp*"))                  # no temporary file of the killed process is left

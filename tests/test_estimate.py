"""fit prints an estimated training time, from measured steps, before a long run."""
import torch
from torch.utils.data import TensorDataset

from skelnb import train
from skelnb.train import TrainConfig, estimate_note, fit


def test_estimate_note_only_for_long_runs():
    cpu = torch.device("cpu")
    assert estimate_note("x", cpu, per_step=0.1, steps_left=100, elapsed=1.0, epochs=2) is None
    note = estimate_note("sem-joint", cpu, per_step=0.5, steps_left=600, elapsed=2.0, epochs=10)
    assert note.startswith("sem-joint: about 5.0 min of training for 10 epoch(s) on cpu (")
    assert "0.500 s per step" in note


def test_fit_prints_the_estimate_from_its_first_steps(monkeypatch, capsys, one_thread):
    x, y = torch.randn(64, 5), torch.randint(0, 3, (64,))
    ds = TensorDataset(x, y)
    cfg = TrainConfig(epochs=3, batch_size=4, lr=0.01, warmup_epochs=0, schedule="cosine", num_workers=0)
    calls = []

    def spy(desc, dev, per_step, steps_left, elapsed, epochs):
        calls.append((per_step, steps_left, epochs))
        return estimate_note(desc, dev, per_step, steps_left, elapsed, epochs)

    monkeypatch.setattr(train, "estimate_note", spy)
    fit(torch.nn.Linear(5, 3), ds, None, cfg, None, device="cpu", progress=False, desc="tiny")
    assert len(calls) == 1 and calls[0][1:] == (16 * 3 - 4, 3)      # after step 3 of 16 x 3 epochs
    assert capsys.readouterr().out == ""                             # a short run says nothing
    monkeypatch.setattr(train, "ESTIMATE_ABOVE_S", 0.0)
    monkeypatch.setattr(train, "estimate_note", estimate_note)
    fit(torch.nn.Linear(5, 3), ds, None, cfg, None, device="cpu", progress=False, desc="tiny")
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].startswith("tiny: about ") and "for 3 epoch(s) on cpu" in out[0]
